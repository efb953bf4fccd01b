"""The Runs page: every run with its status and numbers, filters, the comparison selection.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixture_runs import F30K_TEST
from page_helpers import every_run_dir, figures, results, trace_names, warnings
from plotly_arrays import arr


def test_runs_page_lists_every_run_with_status_and_numbers(open_page, fixture_runs):
    at = open_page("runs")
    table = at.dataframe[0].value
    assert sorted(table["run_id"]) == every_run_dir(fixture_runs.root)
    status = table.set_index("run_id")["status"]
    problem = table.set_index("run_id")["problem"]
    ids = fixture_runs.ids
    assert status[ids["running"]] == "running"
    assert status[ids["failed"]] == "failed" and "Sinkhorn plan has NaN" in problem[ids["failed"]]
    assert status[ids["died"]] == "failed" and "exited without finishing" in problem[ids["died"]]
    assert status[ids["damaged"]] == "damaged" and "run.json" in problem[ids["damaged"]]
    f30k = table.set_index("run_id").loc[ids["f30k"]]
    assert f30k["test_rsum"] == pytest.approx(sum(F30K_TEST.values()))
    assert f30k["best_rsum"] == pytest.approx(results(fixture_runs, "f30k")["best_val_rsum"])
    assert (f30k["dataset"], f30k["method"], f30k["backbone"], f30k["mrate"]) == ("f30k", "l2rm", "sgr", 0.2)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["runs"] == str(len(table)) and metrics["damaged"] == "1" and metrics["running"] == "1"


def test_runs_page_reports_the_damaged_directory(open_page, fixture_runs):
    at = open_page("runs")
    assert any(fixture_runs.ids["damaged"] in w and "damaged" in w for w in warnings(at))


def test_runs_filters_narrow_the_table(open_page):
    at = open_page("runs")
    everything = len(at.dataframe[0].value)
    at.multiselect(key="runs_filter_status").select("failed").run()
    failed = at.dataframe[0].value
    assert 0 < len(failed) < everything and set(failed["status"]) == {"failed"}
    at.multiselect(key="runs_filter_status").unselect("failed").run()
    at.multiselect(key="runs_filter_dataset").select("f30k").run()
    at.multiselect(key="runs_filter_mrate").select(0.2).run()
    narrowed = at.dataframe[0].value
    assert list(narrowed["dataset"].unique()) == ["f30k"] and list(narrowed["mrate"]) == [0.2]
    at.multiselect(key="runs_filter_mrate").unselect(0.2).run()
    at.multiselect(key="runs_filter_dataset").unselect("f30k").run()
    at.multiselect(key="runs_filter_method").select("vanilla").run()
    at.multiselect(key="runs_filter_backbone").select("saf").run()
    assert list(at.dataframe[0].value["run_id"]) == ["table7/f30k-vanilla-saf-m0"]


def test_compare_selection_draws_curves_and_is_kept_for_other_pages(open_page, fixture_runs):
    ids = fixture_runs.ids
    at = open_page("runs")
    pick = [ids["f30k"], ids["syn/l2rm/0.2/0"], ids["labels/mrl/symmetric/0.2/0"]]
    widget = at.multiselect(key="runs_compare_widget")
    for run_id in pick:
        widget.select(run_id)
    at = widget.run()
    assert not at.exception
    assert at.session_state["selected_runs"] == pick
    specs = figures(at)
    assert trace_names(specs[0]) == pick[:2] and specs[0]["layout"]["yaxis"]["title"]["text"] == "rSum"
    assert trace_names(specs[1]) == pick[2:] and specs[1]["layout"]["yaxis"]["title"]["text"] == "mean MAP"
    val = [json.loads(line)["val"]["rsum"] for line in
           (fixture_runs.root / ids["f30k"] / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(arr(specs[0]["data"][0]["y"]), val)
    at.switch_page("views/tables.py").run()  # the selection restricts the R@K tables
    shown = set().union(*(set(d.value["run"]) for d in at.dataframe if "run" in d.value)) - {""}
    assert shown == set(pick[:2])
    at.switch_page("views/runs.py").run()
    assert at.multiselect(key="runs_compare_widget").value == pick
