"""The Label track page: MAP mean ± std over seeds, and the corrected-label confusion.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

import numpy as np
from page_helpers import figures, results, trace_names
from plotly_arrays import arr


def test_label_track_table_mean_and_std_over_seeds(open_page, fixture_runs):
    at = open_page("labels")
    pivot = at.dataframe[0].value
    vals = [results(fixture_runs, f"labels/mrl/symmetric/0.2/{s}")["map"]["best"]["avg"] for s in (0, 1)]
    cell = pivot[(pivot["method"] == "mrl") & (pivot["noise"] == "symmetric")].iloc[0]["rate 0.2"]
    assert cell == f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}"
    assert len(pivot) == 4 and [c for c in pivot.columns if c.startswith("rate")] == [
        "rate 0.2", "rate 0.5", "rate 0.8"]
    at = at.radio(key="labels_when").set_value("last").run()
    at = at.radio(key="labels_dir").set_value("t2i").run()
    vals = [results(fixture_runs, f"labels/uot_rcl/asymmetric/0.8/{s}")["map"]["last"]["t2i"] for s in (0, 1)]
    pivot = at.dataframe[0].value
    cell = pivot[(pivot["method"] == "uot_rcl") & (pivot["noise"] == "asymmetric")].iloc[0]["rate 0.8"]
    assert cell == f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}"
    curves = figures(at)[0]
    assert sorted(trace_names(curves)) == ["mrl · asymmetric", "mrl · symmetric", "uot_rcl · asymmetric",
                                           "uot_rcl · symmetric"]


def test_label_confusion_of_a_chosen_run(open_page, fixture_runs):
    at = open_page("labels")
    role = "labels/uot_rcl/symmetric/0.5/1"
    at = at.selectbox(key="labels_run").select(fixture_runs.ids[role]).run()
    with np.load(fixture_runs.root / fixture_runs.ids[role] / "artifacts" / "label_confusion.npz") as npz:
        confusion, noisy = npz["confusion"], npz["noisy_confusion"]
    spec = figures(at)[1]
    assert trace_names(spec) == ["given noisy label", "corrected label"]
    z = arr(spec["data"][1]["z"])
    np.testing.assert_allclose(z, confusion / confusion.sum(axis=1, keepdims=True))
    at = at.toggle(key="labels_norm").set_value(False).run()
    spec = figures(at)[1]
    np.testing.assert_array_equal(arr(spec["data"][0]["z"]), noisy)
    assert spec["data"][1]["x"][0] == "art"
