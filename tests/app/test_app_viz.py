"""``workbench.viz`` builders: trace names and counts, axis titles, and the numbers behind each figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plotly_arrays import arr

from workbench import viz


def layout_text(fig, key: str) -> str:
    return fig.to_dict()["layout"][key]["title"]["text"]


@pytest.fixture
def costs(rng: np.random.Generator) -> pd.DataFrame:
    n = 500
    matched = rng.random(n) < 0.7
    return pd.DataFrame({
        "epoch": np.repeat([3, 4], n).astype(np.int32),
        "caption": np.tile(np.arange(n), 2), "image": np.tile(np.arange(n) // 5, 2),
        "cost": np.r_[rng.random(n), rng.random(n) * 2].astype(np.float32),
        "true_matched": np.r_[matched, matched], "est_clean": np.r_[matched, ~matched],
        "clean_prob": rng.random(2 * n).astype(np.float32)})


def test_cost_histogram_is_a_pair_of_unit_area_densities_on_shared_bins(costs):
    fig = viz.cost_histogram(costs, epoch=4, bins=25)
    spec = fig.to_dict()
    assert [t["type"] for t in spec["data"]] == ["bar", "bar"]
    assert [t["name"] for t in spec["data"]] == ["matched", "mismatched"]
    assert layout_text(fig, "xaxis") == "learned transport cost" and layout_text(fig, "yaxis") == "density"
    epoch4 = costs[costs["epoch"] == 4]
    edges = np.linspace(epoch4["cost"].min(), epoch4["cost"].max(), 26)
    for trace, flag in zip(spec["data"], (True, False), strict=True):
        x, y, w = arr(trace["x"]), arr(trace["y"]), arr(trace["width"])
        np.testing.assert_allclose(x, (edges[:-1] + edges[1:]) / 2, rtol=1e-5)
        assert np.dot(y, w) == pytest.approx(1.0)
        group = epoch4.loc[epoch4["true_matched"] == flag, "cost"].to_numpy()
        assert arr(trace["customdata"]).sum() == len(group)
        # brute force: count each value into its bin by hand
        idx = np.clip(np.searchsorted(edges, group, side="right") - 1, 0, 24)
        np.testing.assert_array_equal(arr(trace["customdata"]), np.bincount(idx, minlength=25))


def test_cost_histogram_estimate_split_and_bad_split(costs):
    names = [t.name for t in viz.cost_histogram(costs, split="estimate").data]
    assert names == ["estimated clean", "estimated noisy"]
    with pytest.raises(ValueError, match="split"):
        viz.cost_histogram(costs, split="guess")
    with pytest.raises(ValueError, match="split"):
        viz.cost_trend(costs, split="guess")


def test_cost_trend_medians_per_epoch(costs):
    fig = viz.cost_trend(costs)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["matched (median)", "mismatched (median)"]
    for trace, flag in zip(lines, (True, False), strict=True):
        for epoch, median in zip(trace.x, trace.y, strict=True):
            sub = costs[(costs["epoch"] == epoch) & (costs["true_matched"] == flag)]["cost"]
            assert median == pytest.approx(float(np.median(sub)))


def test_cost_trend_skips_a_group_without_pairs(costs):
    fig = viz.cost_trend(costs.assign(true_matched=True))
    assert [t.name for t in fig.data if t.mode == "lines+markers"] == ["matched (median)"]


RECORDS = [
    {"epoch": 0, "split": None, "rematch": None},
    {"epoch": 1, "split": {"precision": 0.8, "recall": 0.7, "auc": 0.9, "clean_fraction": 0.5},
     "rematch": {"precision": 0.4, "chance": 0.2, "transported_mass": 0.1}},
    {"epoch": 2, "split": {"precision": 0.85, "recall": 0.75, "auc": 0.93, "clean_fraction": 0.55},
     "rematch": {"precision": 0.5, "chance": 0.2, "transported_mass": 0.1}},
]


def test_split_and_rematch_quality_skip_epochs_without_records():
    fig = viz.split_quality(RECORDS)
    assert [t.name for t in fig.data] == ["precision", "recall", "AUC", "estimated clean fraction"]
    assert list(fig.data[2].x) == [1, 2] and list(fig.data[2].y) == [0.9, 0.93]
    fig = viz.rematch_quality(RECORDS)  # records without the available-row keys: transported-row curves only
    assert [t.name for t in fig.data] == ["precision, transported rows", "chance, transported rows"]
    assert list(fig.data[0].y) == [0.4, 0.5]


def test_rematch_quality_and_concentration_show_the_new_statistics():
    records = [{"epoch": 4, "rematch": {"precision_available": 0.3, "ceiling_available": 0.35,
                                        "chance_available": 0.05, "available": 0.6, "precision": 0.25,
                                        "chance": 0.03, "top1_transported": 0.4, "top1_untransported": 0.02,
                                        "top1_uniform": 1 / 128, "cost_iqr": 0.05, "cost_drift": 0.1}},
               {"epoch": 5, "rematch": {"precision_available": 0.5, "ceiling_available": 0.45,
                                        "chance_available": 0.05, "available": 0.62, "precision": 0.45,
                                        "chance": 0.03, "top1_transported": 0.6, "top1_untransported": 0.03,
                                        "top1_uniform": 1 / 128, "cost_iqr": 0.08}}]
    fig = viz.rematch_quality(records)
    names = [t.name for t in fig.data]
    assert names[:3] == ["precision, rows with a fitting caption", "ceiling: argmax of the similarity",
                         "chance, rows with a fitting caption"]
    assert list(fig.data[0].y) == [0.3, 0.5] and list(fig.data[1].y) == [0.35, 0.45]
    fig = viz.rematch_concentration(records, lam=0.01)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["transported rows"].y) == [0.4, 0.6]
    assert list(by_name["untransported rows"].y) == [0.02, 0.03]
    assert list(by_name["λ = 0.01"].y) == [0.01, 0.01]
    drift = by_name["|cost − ReLU(1 − S)|"]
    assert drift.y[0] == 0.1 and np.isnan(drift.y[1])  # the second epoch has no drift record


def _batch(rng: np.random.Generator, n: int = 10, m: int = 12) -> dict[str, np.ndarray]:
    plan = rng.random((n, m)) * 0.01
    return {"cost": rng.random((n, m)), "plan": plan, "mask": rng.random((n, m)) > 0.1,
            "dummy_row": rng.random(m), "dummy_col": rng.random(n), "image_ids": np.arange(100, 100 + n),
            "caption_ids": np.arange(500, 500 + m), "captions": np.array([f"caption {j}" for j in range(m)]),
            "paired_captions": np.array([f"own {i}" for i in range(n)]), "truth": rng.random((n, m)) > 0.7,
            "rho": np.float32(0.1)}


def test_alignment_stats_accounts_for_the_mass(rng):
    batch = _batch(rng)
    stats = viz.alignment_stats(batch)
    assert (stats.n, stats.m) == (10, 12)
    assert stats.transported == pytest.approx(batch["plan"].sum())
    assert stats.dummy_row_mass == pytest.approx(batch["dummy_row"].sum())
    assert stats.dummy_col_mass == pytest.approx(batch["dummy_col"].sum())
    assert stats.allowed_fraction == pytest.approx(batch["mask"].mean())
    assert stats.rho == pytest.approx(0.1)
    batch["plan"][:4] = 0.0
    assert viz.alignment_stats(batch).rows_transporting == 6


def test_alignment_heatmaps_show_dummies_apart_and_crop(rng):
    batch = _batch(rng)
    fig = viz.alignment_heatmaps(batch, rows=6, cols=8)
    heat = {t.name: t for t in fig.data if t.type == "heatmap"}
    assert list(heat) == ["plan", "plan: dummy row", "plan: dummy column", "mask", "mask: dummy row",
                          "mask: dummy column", "cost"]
    np.testing.assert_allclose(np.array(heat["plan"].z), batch["plan"][:6, :8])
    np.testing.assert_array_equal(np.array(heat["mask"].z), batch["mask"][:6, :8])
    np.testing.assert_allclose(np.array(heat["cost"].z), batch["cost"][:6, :8])
    row, col = heat["plan: dummy row"], heat["plan: dummy column"]
    np.testing.assert_allclose(np.array(row.z), batch["dummy_row"][None, :8])
    np.testing.assert_allclose(np.array(col.z), batch["dummy_col"][:6, None])
    assert list(row.y) == [7] and list(col.x) == [9]  # one blank line between the block and the dummies
    assert (np.array(heat["mask: dummy row"].z) == 1).all()
    assert (np.array(heat["mask: dummy column"].z) == 1).all()
    truth = [t for t in fig.data if t.type == "scatter"][0]
    assert len(truth.x) == batch["truth"][:6, :8].sum()
    assert list(heat["cost"].customdata[2][3]) == ["image 102", "own 2", "caption 503", "caption 3"]
    assert row.customdata[0][0][0] == "dummy image" and col.customdata[0][0][2] == "dummy caption"
    assert list(fig.layout.xaxis.ticktext)[-1] == "dummy" and list(fig.layout.yaxis.ticktext)[-1] == "dummy"
    assert "showing 6×8 of 10×12" in fig.layout.title.text
    full = viz.alignment_heatmaps(batch, rows=None, cols=None)
    assert np.array(full.data[0].z).shape == (10, 12) and "showing" not in full.layout.title.text


def test_refined_ranks_two_panels_and_uniform_level():
    frame = pd.DataFrame({"epoch": 2, "kind": np.repeat(["transported", "untransported"], 8),
                          "rank": np.tile(np.arange(1, 9), 2), "mean_prob": np.r_[np.linspace(.5, .01, 8),
                                                                                  np.full(8, 1 / 8)]})
    fig = viz.refined_ranks(frame, top=5)
    assert [t.name for t in fig.data] == ["transported", "untransported"]
    assert list(fig.data[0].x) == [1, 2, 3, 4, 5]
    assert {s.y0 for s in fig.layout.shapes} == {1 / 8}


def test_rematch_scores_counts_each_truth_category():
    frame = pd.DataFrame({"score": [0.1, 0.5, 0.9, 0.95, 0.2],
                          "fit": pd.array([True, False, None, True, None], dtype="boolean")})
    fig = viz.rematch_scores(frame)
    assert [t.name for t in fig.data] == ["fits", "does not fit", "unknown"]
    assert [len(t.x) for t in fig.data] == [2, 1, 2]


def test_val_curves_one_line_per_run():
    fig = viz.val_curves({"a": [{"epoch": 0, "val": {"rsum": 10}}, {"epoch": 1, "val": {"rsum": 20}}],
                          "b": [{"epoch": 0, "val": None}]})
    assert [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[0].y) == [10, 20] and len(fig.data[1].x) == 0
    assert fig.layout.yaxis.title.text == "rSum"


def test_sweep_curves_error_bars_log_axis_and_paper_points():
    points = pd.DataFrame({"group": "g", "value": [0.1, 0.01, 0.05], "metric": "rsum",
                           "mean": [400.0, 380.0, 390.0], "std": [1.0, np.nan, 2.0], "n": [2, 1, 2]})
    paper = pd.DataFrame({"label": "L2RM-SGR", "value": [0.01, 0.1], "metric": "rsum", "paper": [5.0, 6.0]})
    fig = viz.sweep_curves(points, param="lam", paper=paper)
    assert [t.name for t in fig.data] == ["rSum · g", "paper rSum · L2RM-SGR"]
    assert list(fig.data[0].x) == [0.01, 0.05, 0.1] and list(fig.data[0].y) == [380.0, 390.0, 400.0]
    assert list(fig.data[0].error_y.array) == [0.0, 2.0, 1.0]
    assert fig.layout.xaxis.type == "log" and fig.data[1].line.dash == "dash"
    assert viz.sweep_curves(points, param="rho").layout.xaxis.type == "linear"


def test_map_by_rate_lines_per_method_and_noise():
    frame = pd.DataFrame({"method": ["a", "a", "b"], "noise": ["symmetric", "symmetric", "asymmetric"],
                          "rate": [0.4, 0.2, 0.2], "mean": [0.4, 0.5, 0.3], "std": [0.01, 0.02, np.nan],
                          "n": [2, 2, 1]})
    fig = viz.map_by_rate(frame)
    assert [t.name for t in fig.data] == ["a · symmetric", "b · asymmetric"]
    assert list(fig.data[0].x) == [0.2, 0.4] and fig.data[1].line.dash == "dash"


def test_label_confusion_row_normalised_and_counts(rng):
    counts = rng.integers(0, 50, (4, 4))
    counts[2] = 0  # an empty true class must not divide by zero
    names = ["a", "b", "c", "d"]
    fig = viz.label_confusion(counts, names, noisy_confusion=counts.T)
    assert [t.name for t in fig.data] == ["given noisy label", "corrected label"]
    z = np.array(fig.data[1].z)
    np.testing.assert_allclose(z[[0, 1, 3]].sum(axis=1), 1.0)
    assert (z[2] == 0).all()
    raw = viz.label_confusion(counts, names, normalise=False)
    assert len(raw.data) == 1
    np.testing.assert_array_equal(np.array(raw.data[0].z), counts)
    assert list(raw.data[0].x) == names


def test_every_builder_uses_the_one_template(costs, rng):
    figs = [viz.cost_histogram(costs), viz.cost_trend(costs), viz.split_quality(RECORDS),
            viz.alignment_heatmaps(_batch(rng)), viz.label_confusion(np.eye(2), ["x", "y"])]
    for fig in figs:
        assert fig.layout.template.layout.plot_bgcolor == "white"
