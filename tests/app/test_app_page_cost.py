"""The Transport cost page (Fig. 6): histograms by group and epoch, split quality, corrupt tables.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fixture_runs import FixtureRuns
from page_helpers import figures, trace_names, warnings
from plotly_arrays import arr


def _cost_frame(fx: FixtureRuns, role: str) -> pd.DataFrame:
    return pd.read_parquet(fx.root / fx.ids[role] / "artifacts" / "cost_by_epoch.parquet")


def test_cost_page_histograms_follow_the_groups_and_the_epoch(open_page, fixture_runs):
    at = open_page("cost")
    run_id = fixture_runs.ids["syn/l2rm/0.8/0"]
    at = at.selectbox(key="cost_run").select(run_id).run()
    costs = _cost_frame(fixture_runs, "syn/l2rm/0.8/0")
    last = int(costs["epoch"].max())
    hist = figures(at)[0]
    assert [t["type"] for t in hist["data"]] == ["bar", "bar"]
    assert trace_names(hist) == ["matched", "mismatched"]
    at_epoch = costs[costs["epoch"] == last]
    assert arr(hist["data"][0]["customdata"]).sum() == int(at_epoch["true_matched"].sum())
    assert arr(hist["data"][1]["customdata"]).sum() == int((~at_epoch["true_matched"]).sum())
    for trace in hist["data"]:  # each group is a density: area 1
        assert np.dot(arr(trace["y"]), arr(trace["width"])) == pytest.approx(1.0)
    at = at.select_slider(key="cost_epoch").set_value(int(costs["epoch"].min())).run()
    earlier = figures(at)[0]
    assert not np.array_equal(arr(earlier["data"][0]["y"]), arr(hist["data"][0]["y"]))
    assert f"epoch {int(costs['epoch'].min())}" in earlier["layout"]["title"]["text"]
    at = at.radio(key="cost_split").set_value("estimate").run()
    assert trace_names(figures(at)[0]) == ["estimated clean", "estimated noisy"]
    split = figures(at)[2]
    assert trace_names(split)[:3] == ["precision", "recall", "AUC"]
    records = [json.loads(x) for x in (fixture_runs.root / run_id / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(arr(split["data"][2]["y"]), [r["split"]["auc"] for r in records if r["split"]])


def test_cost_page_warns_on_a_corrupt_table(open_page, fixture_runs):
    at = open_page("cost")
    at = at.selectbox(key="cost_run").select(fixture_runs.ids["corrupt"]).run()
    assert not at.exception
    assert any("damaged" in w and "cost_by_epoch.parquet" in w for w in warnings(at))
