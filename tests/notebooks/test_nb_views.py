"""The notebooks' display helpers (``workbench.reproduce.views``) on hand-written run directories.

Paper numbers in the oracles are copied from the L2RM paper (arXiv 2403.05105), not read through the code
under test.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from workbench import reference
from workbench.errors import ConfigError, DataFormatError, RunDirError
from workbench.reproduce import views
from workbench.runs import list_figures, read_figure

RK = list(reference.RK_COLUMNS)
OURS = dict(zip(RK, [50.0, 70.0, 80.0, 40.0, 60.0, 70.0, 370.0], strict=True))


def make_run(path: Path, results: dict[str, Any] | None = None, **info: Any) -> Path:
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"schema": 1, "status": "done", "backbone": "vse",
                                               "dataset": "synthetic", **info}))
    (path / "results.json").write_text(json.dumps(results if results is not None else {"test": OURS}))
    return path


def check_rows(frame: pd.DataFrame, paper: list[float]) -> None:
    """Rows ours / paper / Δ with the given paper recalls + rSum, Δ = ours − paper (to the 0.1 rounding)."""
    assert len(frame) == 3
    ours, theirs, delta = (frame.iloc[i][RK].to_numpy(dtype=float) for i in range(3))
    assert frame.index[0].startswith("ours") and frame.index[1].startswith("paper")
    np.testing.assert_allclose(ours, [OURS[k] for k in RK])
    np.testing.assert_allclose(theirs, paper, atol=1e-9)
    np.testing.assert_allclose(delta, ours - np.asarray(paper), atol=0.051)


# --------------------------------------------------------------------------------- retrieval tables
def test_retrieval_comparison_paper_run_gets_its_own_row(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", backbone="sgr", dataset="f30k", mrate=0.6)
    check_rows(views.retrieval_comparison(run, "paper"), [65.1, 87.8, 93.6, 47.0, 73.5, 81.5, 448.5])


@pytest.mark.parametrize(("kwargs", "paper"), [
    ({}, [73.1, 92.4, 96.3, 52.3, 79.4, 86.3, 479.8]),  # Flickr30K, MRate 0.4, L2RM-SGR (Table 1)
    ({"paper_dataset": "cc152k"}, [39.5, 66.2, 76.0, 41.8, 65.9, 74.9, 364.3]),  # Table 2
    ({"protocol": "5k"}, [53.5, 81.0, 89.5, 38.0, 66.9, 77.7, 406.6]),  # COCO 5K, MRate 0.4 (Table 8)
])
def test_retrieval_comparison_cpu_run_gets_an_orientation_row(tmp_path: Path, kwargs: dict[str, Any],
                                                               paper: list[float]) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.4)
    frame = views.retrieval_comparison(run, "cpu", **kwargs)
    check_rows(frame, paper)
    assert "orientation" in frame.index[1]


def test_retrieval_comparison_reads_the_requested_results_key(tmp_path: Path) -> None:
    five_k = {k: v - 10 for k, v in OURS.items()}
    run = make_run(tmp_path / "r", {"test": OURS, "test_5k": five_k}, method="l2rm", backbone="sgr",
                   dataset="coco", mrate=0.2)
    frame = views.retrieval_comparison(run, "paper", key="test_5k", protocol="5k")
    np.testing.assert_allclose(frame.iloc[0][RK].to_numpy(dtype=float), [five_k[k] for k in RK])
    np.testing.assert_allclose(frame.iloc[1][RK].to_numpy(dtype=float), [56.6, 83.4, 90.6, 40.6, 69.5, 80.0, 420.7])


def test_comparison_without_a_paper_row_has_only_ours(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", backbone="vse", dataset="wikipedia", mrate=0.2)
    frame = views.retrieval_comparison(run, "paper")
    assert len(frame) == 1 and frame.index[0].startswith("ours")


def test_missing_metrics_show_as_nan(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", {"test": {"rsum": 100.0}}, method="l2rm", mrate=0.2)
    frame = views.retrieval_comparison(run, "cpu")
    assert math.isnan(frame.iloc[0]["i2t_r1"]) and math.isnan(frame.iloc[2]["i2t_r1"])
    assert frame.iloc[0]["rsum"] == 100.0


def test_unknown_preset_kind_is_rejected(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.2, batch_size=128)
    for compare in (views.retrieval_comparison, views.batch_comparison):
        with pytest.raises(ConfigError, match="preset kind"):
            compare(run, "gpu")


def test_run_summary_of_a_missing_run_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="run.json"):
        views.retrieval_comparison(tmp_path / "nowhere", "cpu")


# ----------------------------------------------------------------------- Tables 3, 4, 9 and Fig. 4
def test_ablation_comparison_sums_the_recalls(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.6)
    recalls = [61.3, 85.6, 91.4, 44.9, 72.4, 81.0]
    check_rows(views.ablation_comparison(run, "L2RM w/o Cost Function"), [*recalls, sum(recalls)])
    with pytest.raises(ConfigError, match="no ablation"):
        views.ablation_comparison(run, "L2RM w/o everything")
    ours_only = views.ablation_comparison(run, "L2RM w/o Rematch Loss")  # the workbench's own row
    assert len(ours_only) == 1 and not any(str(i).startswith("paper") for i in ours_only.index)


@pytest.mark.parametrize(("warmup", "setting", "recalls"), [
    ("triplet", "mrate0.8", [0.1, 0.7, 1.3, 0.1, 0.7, 1.1]),
    ("infonce", "caption0.2", [39.3, 66.8, 75.0, 40.8, 65.2, 74.2]),
    ("infonce", "flickr30k", [45.9, 71.4, 80.3, 29.2, 52.7, 61.1]),
    ("infonce_rce", "mrate0.8", [50.5, 77.2, 83.9, 34.2, 61.1, 71.6]),  # L2RM-SGR, Table 1, MRate 0.8
    ("infonce_rce", "cc152k", [39.5, 66.2, 76.0, 41.8, 65.9, 74.9]),  # L2RM-SGR, Table 2
])
def test_warmup_comparison(tmp_path: Path, warmup: str, setting: str, recalls: list[float]) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.8)
    check_rows(views.warmup_comparison(run, warmup, setting), [*recalls, sum(recalls)])


def test_warmup_comparison_rejects_unknown_names(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.8)
    with pytest.raises(ConfigError, match="warm-up"):
        views.warmup_comparison(run, "hinge", "mrate0.8")
    with pytest.raises(ConfigError, match="Table 4 setting"):
        views.warmup_comparison(run, "triplet", "coco")


@pytest.mark.parametrize(("info", "kind", "paper"), [
    ({"method": "l2rm", "backbone": "vse", "batch_size": 64, "rho": 0.05}, "cpu",
     [62.9, 87.4, 92.7, 46.1, 72.8, 81.3, 443.2]),  # L2RM-SGR
    ({"method": "l2rm", "backbone": "saf", "batch_size": 128, "rho": 0.1}, "paper",
     [66.1, 88.8, 93.8, 47.8, 74.2, 82.2, 452.9]),  # L2RM-SAF
    ({"method": "rcl", "backbone": "vse", "batch_size": 256, "rho": 0.2}, "cpu",
     [66.4, 88.9, 94.0, 47.0, 73.3, 81.3, 450.9]),  # RCL-SGRAF, the only RCL row
])
def test_batch_comparison(tmp_path: Path, info: dict[str, Any], kind: str, paper: list[float]) -> None:
    run = make_run(tmp_path / "r", mrate=0.6, **info)
    frame = views.batch_comparison(run, kind)
    check_rows(frame, paper)
    assert f"batch {info['batch_size']}" in frame.index[0] and f"ρ {info['rho']:g}" in frame.index[0]


def test_batch_comparison_without_a_paper_row(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="vanilla", batch_size=64, mrate=0.6)
    assert len(views.batch_comparison(run, "cpu")) == 1


def test_sweep_point(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.2, rho=0.4, lam=0.07)
    frame = views.sweep_point(run, "rho")
    check_rows(frame, [76.5, 93.7, 97.3, 55.5, 81.5, 88.0, 492.5])  # Table 1, Flickr30K, MRate 0.2
    assert "ρ 0.4" in frame.index[0]
    assert "λ 0.07" in views.sweep_point(run, "lam").index[0]
    with pytest.raises(ConfigError, match="rho"):
        views.sweep_point(run, "batch_size")


def test_recall_bars_draws_ours_and_paper_not_the_delta(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.4)
    frame = views.retrieval_comparison(run, "cpu")
    fig = views.recall_bars(frame)
    assert [t.name for t in fig.data] == list(frame.index[:2])
    for trace, (_, row) in zip(fig.data, frame.iloc[:2].iterrows(), strict=True):
        np.testing.assert_allclose(trace.y, row[RK[:-1]].to_numpy(dtype=float))
    assert "479.8" in fig.layout.title.text and "370.0" in fig.layout.title.text


# ------------------------------------------------------------------------------------- figure numbers
def test_cost_separation_matches_brute_force(rng: np.random.Generator) -> None:
    rows = []
    for epoch in (1, 2):
        for _ in range(40):
            matched = bool(rng.random() < 0.4)
            rows.append({"epoch": epoch, "cost": float(rng.integers(0, 5)) / 4 + (0 if matched else 0.3),
                         "true_matched": matched})
    rows.append({"epoch": 2, "cost": -5.0, "true_matched": None})  # unknown truth: left out
    costs = pd.DataFrame(rows)
    out = views.cost_separation(costs).set_index("epoch")
    for epoch, group in costs[costs["true_matched"].notna()].groupby("epoch"):
        m = group.loc[group["true_matched"].astype(bool), "cost"].to_numpy()
        mm = group.loc[~group["true_matched"].astype(bool), "cost"].to_numpy()
        wins = sum(1.0 if a < b else 0.5 if a == b else 0.0 for a in m for b in mm)
        assert out.loc[epoch, "auc"] == pytest.approx(wins / (len(m) * len(mm)))
        assert out.loc[epoch, "matched_median"] == pytest.approx(np.median(m))
        assert out.loc[epoch, "mismatched_mean"] == pytest.approx(mm.mean())


def test_cost_separation_with_one_group_is_nan() -> None:
    out = views.cost_separation(pd.DataFrame({"epoch": [1, 1], "cost": [0.1, 0.2], "true_matched": [True, True]}))
    assert math.isnan(out.loc[0, "auc"]) and math.isnan(out.loc[0, "mismatched_median"])


def test_rank_summary_uniform_and_one_hot() -> None:
    size = 8
    uniform = np.full(size, 1 / size)
    one_hot = np.r_[1.0, np.zeros(size - 1)]
    frame = pd.DataFrame([{"epoch": e, "kind": kind, "rank": r + 1, "mean_prob": p[r]}
                          for e in (0, 1) for kind, p in (("untransported", uniform), ("transported", one_hot))
                          for r in range(size)])
    out = views.rank_summary(frame).set_index("kind")
    assert out.loc["untransported", "tv_to_uniform"] == pytest.approx(0.0)
    assert out.loc["transported", "tv_to_uniform"] == pytest.approx(1 - 1 / size)
    assert out.loc["transported", "top1"] == 1.0 and out.loc["untransported", "top5"] == pytest.approx(5 / size)
    assert views.rank_summary(frame.iloc[:0]).empty


def test_rematch_table_takes_the_last_epoch_by_score() -> None:
    frame = pd.DataFrame({"epoch": [0, 1, 1, 1], "image": [9, 1, 2, 3], "text_original": list("abcd"),
                          "text_rematched": list("wxyz"), "score": [0.99, 0.2, 0.9, 0.5]})
    out = views.rematch_table(frame, top=2)
    assert out["image"].tolist() == [2, 3]
    assert views.rematch_table(frame, epoch=0)["image"].tolist() == [9]


# ----------------------------------------------------------------------------------- run directory
def test_save_figure_round_trips_through_the_run_reader(tmp_path: Path) -> None:
    run = make_run(tmp_path / "root" / "fig6" / "l2rm", method="l2rm", mrate=0.8)
    fig = go.Figure(go.Bar(x=["a", "b"], y=[1.0, 2.0], name="bars"))
    path = views.save_figure(run, "cost_trend", fig)
    assert path == run / "artifacts" / "figures" / "cost_trend.json"
    assert list_figures(tmp_path / "root", "fig6/l2rm") == ["cost_trend"]
    spec = read_figure(tmp_path / "root", "fig6/l2rm", "cost_trend")
    assert go.Figure(spec).data[0].name == "bars" and list(go.Figure(spec).data[0].y) == [1.0, 2.0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["cost_trend.json"]  # no temporary left


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "with space"])
def test_save_figure_rejects_names_that_are_not_a_file_stem(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="figure name"):
        views.save_figure(tmp_path, name, go.Figure())
    assert not (tmp_path / "artifacts").exists()


def test_artifact_table_and_alignment_batch(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.6)
    with pytest.raises(DataFormatError, match="cost_by_epoch.parquet: missing"):
        views.artifact_table(run, "cost_by_epoch.parquet")
    with pytest.raises(DataFormatError, match="no saved batch"):
        views.alignment_batch(run)
    (run / "artifacts" / "alignments").mkdir(parents=True)
    for epoch in (1, 3):
        np.savez(run / "artifacts" / "alignments" / f"epoch_{epoch:03d}.npz", plan=np.full((2, 2), epoch),
                 cost=np.ones((2, 2)), mask=np.ones((2, 2), bool), dummy_row=np.zeros(2), dummy_col=np.zeros(2))
    assert views.alignment_batch(run)["plan"][0, 0] == 3
    assert views.alignment_batch(run, 1)["plan"][0, 0] == 1
    with pytest.raises(DataFormatError, match="epoch 2"):
        views.alignment_batch(run, 2)
    costs = pd.DataFrame({"epoch": [1], "caption": [0], "image": [0], "cost": [0.5], "true_matched": [True],
                          "est_clean": [True], "clean_prob": [0.9]})
    costs.to_parquet(run / "artifacts" / "cost_by_epoch.parquet")
    assert views.artifact_table(run, "cost_by_epoch.parquet")["cost"].tolist() == [0.5]
    costs.drop(columns="est_clean").to_parquet(run / "artifacts" / "cost_by_epoch.parquet")
    with pytest.raises(RunDirError, match="field 'est_clean' is a missing column"):
        views.artifact_table(run, "cost_by_epoch.parquet")
    (run / "artifacts" / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataFormatError, match="unreadable"):
        views.artifact_table(run, "broken.parquet")


def test_training_curves_and_epoch_settings(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", method="l2rm", mrate=0.6)
    (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "val": {"rsum": 10.0 * e}}) + "\n"
                                               for e in range(3)))
    fig = views.training_curves(run)
    assert [t.name for t in fig.data] == ["r"] and list(fig.data[0].y) == [0.0, 10.0, 20.0]
    table = views.epoch_settings()
    assert table.loc["flickr30k", "warm-up (paper)"] == 5 and table.loc["coco", "training (paper)"] == 20
    assert table.loc["cc152k", "lr update (paper)"] == 20


def test_views_are_torch_free() -> None:
    code = ("import sys, workbench.reproduce.views as v; v.epoch_settings(); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
