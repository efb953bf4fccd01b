"""The Sweeps page (Fig. 4, Table 9): grouping of runs that differ in one parameter, seed averages.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_helpers import figures, results
from plotly_arrays import arr


def test_sweep_over_rho_groups_runs_and_averages_seeds(open_page, fixture_runs):
    at = open_page("sweeps")
    points = at.dataframe[0].value
    assert list(points["rho"]) == [0.05, 0.1, 0.2, 0.4]
    base = [results(fixture_runs, f"syn/l2rm/0.4/{s}")["test"]["rsum"] for s in (0, 1)]
    row = points[points["rho"] == 0.1].iloc[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(np.mean(base))
    assert row["std"] == pytest.approx(np.std(base, ddof=1))
    sweep = results(fixture_runs, "sweep/rho/0.4")["test"]["rsum"]
    assert points[points["rho"] == 0.4].iloc[0]["mean"] == pytest.approx(sweep)
    spec = figures(at)[0]
    assert len(spec["data"]) == 1
    np.testing.assert_allclose(arr(spec["data"][0]["x"]), [0.05, 0.1, 0.2, 0.4])
    assert any("decrease as ρ increases" in c.value for c in at.caption)


def test_sweep_over_lambda_and_batch_size(open_page):
    at = open_page("sweeps")
    at = at.radio(key="sweep_param").set_value("lam").run()
    assert list(at.dataframe[0].value["lam"]) == [0.01, 0.05, 0.1]
    assert figures(at)[0]["layout"]["xaxis"]["type"] == "log"
    at = at.radio(key="sweep_param").set_value("batch_size").run()
    assert list(at.dataframe[0].value["batch_size"]) == [64, 128, 256]
    # ρ held fixed: B 64 vs 128 at ρ 0.05, and B 128 vs 256 at ρ 0.2
    at = at.checkbox(key="sweep_rho_follows").uncheck().run()
    points = at.dataframe[0].value
    groups = {g: sorted(p["batch_size"]) for g, p in points.groupby("group")}
    assert sorted(groups.values()) == [[64, 128], [128, 256]]
    assert {"ρ=0.05" in g for g in groups} == {True, False} and all("ρ=" in g for g in groups)


def test_sweep_metrics_and_validation_source(open_page, fixture_runs):
    at = open_page("sweeps")
    at = at.multiselect(key="sweep_metrics").select("i2t_r1").run()
    assert sorted(set(at.dataframe[0].value["metric"])) == ["I→T R@1", "rSum"]
    at = at.radio(key="sweep_source").set_value("best validation").run()
    points = at.dataframe[0].value
    records = [json.loads(x) for x in (fixture_runs.root / fixture_runs.ids["sweep/rho/0.4"] /
                                       "metrics.jsonl").read_text().splitlines()]
    best = max(r["val"]["rsum"] for r in records)
    row = points[(points["rho"] == 0.4) & (points["metric"] == "rSum")].iloc[0]
    assert row["mean"] == pytest.approx(best)
