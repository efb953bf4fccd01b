"""The app's pure DataFrame transforms (``app/_frames.py``): grouping, seed statistics, result routing."""

from __future__ import annotations

from pathlib import Path

import _frames
import numpy as np
import pandas as pd
import pytest

from workbench.runs import RunRecord, RunSummary


def summary(run_id: str, **fields) -> RunSummary:
    base = dict(status="done", dataset="synthetic", method="l2rm", backbone="vse", mrate=0.4, rho=0.1,
                lam=0.05, batch_size=128, seed=0)
    return RunSummary(run_id=run_id, path=Path(run_id), **{**base, **fields})


def record(s: RunSummary, results=None, metrics=(), **info) -> RunRecord:
    return RunRecord(summary=s, info=dict(info), metrics=list(metrics), results=results)


def scores(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"run_id": list(values), "rsum": list(values.values())})


def test_sweep_points_group_only_runs_that_differ_in_the_parameter():
    runs = [summary("a0", rho=0.05), summary("a1", rho=0.05, seed=1), summary("b", rho=0.2),
            summary("other-lam", rho=0.4, lam=0.01),  # differs in λ too: its own group, dropped
            summary("other-method", method="vanilla", rho=0.3)]
    values = {"a0": 400.0, "a1": 404.0, "b": 390.0, "other-lam": 1.0, "other-method": 2.0}
    points = _frames.sweep_points(runs, scores(values), param="rho", metrics=["rsum"])
    assert list(points["value"]) == [0.05, 0.2]
    first = points.iloc[0]
    assert first["n"] == 2 and first["mean"] == pytest.approx(402.0)
    assert first["std"] == pytest.approx(np.std([400.0, 404.0], ddof=1))
    assert first["runs"] == "a0, a1" and np.isnan(points.iloc[1]["std"])
    assert first["group"] == "synthetic l2rm vse MRate=0.4 λ=0.05 B=128"


def test_batch_sweep_lets_rho_follow_the_batch_size_when_asked():
    runs = [summary("b64", batch_size=64, rho=0.05), summary("b128", batch_size=128, rho=0.1)]
    values = {"b64": 1.0, "b128": 2.0}
    follows = _frames.sweep_points(runs, scores(values), param="batch_size", metrics=["rsum"])
    assert list(follows["value"]) == [64, 128] and "ρ" not in follows.iloc[0]["group"]
    held = _frames.sweep_points(runs, scores(values), param="batch_size", metrics=["rsum"],
                                rho_follows_batch=False)
    assert held.empty
    with pytest.raises(ValueError, match="param"):
        _frames.sweep_points(runs, scores(values), param="epochs", metrics=["rsum"])


def test_results_frame_routes_coco_protocols():
    coco = summary("coco", dataset="coco")
    f30k = summary("f30k", dataset="f30k")
    recs = [record(coco, {"test": {"rsum": 1.0}, "test_5fold": {"rsum": 2.0}, "test_5k": {"rsum": 3.0}}),
            record(f30k, {"test": {"rsum": 4.0}}), record(summary("unfinished"))]
    frame = _frames.results_frame(recs)
    assert list(zip(frame["run_id"], frame["protocol"], frame["rsum"], strict=True)) == [
        ("coco", "1k", 2.0), ("coco", "5k", 3.0), ("f30k", "1k", 4.0)]


def test_best_val_frame_takes_the_best_epoch():
    recs = [record(summary("r"), metrics=[{"val": {"rsum": 5.0, "i2t_r1": 1.0}}, {"val": {"rsum": 7.0,
                                                                                          "i2t_r1": 2.0}},
                                          {"val": {"rsum": 6.0, "i2t_r1": 3.0}}, {"val": None}])]
    frame = _frames.best_val_frame(recs)
    assert frame.loc[0, "rsum"] == 7.0 and frame.loc[0, "i2t_r1"] == 2.0


def test_label_tables_mean_std_and_pivot():
    recs = []
    for seed, best in enumerate((0.50, 0.54)):
        s = summary(f"m{seed}", method="uot_rcl", mrate=0.2, seed=seed, track="labels")
        maps = {"map": {"best": {"avg": best}, "last": {"avg": best - 0.1}}}
        recs.append(record(s, maps, noise="symmetric"))
    s = summary("single", method="mrl", mrate=0.4, track="labels")
    recs.append(record(s, {"map": {"best": {"avg": 0.3}}}, noise="asymmetric", noise_rate=0.8))
    frame = _frames.label_frame(recs)
    assert list(frame["rate"]) == [0.2, 0.2, 0.8]  # noise_rate in run.json wins over mrate
    summary_ = _frames.map_summary(frame, "best_avg")
    pivot = _frames.map_pivot(summary_)
    assert list(pivot.columns) == ["method", "noise", "rate 0.2", "rate 0.8"]
    row = pivot.set_index("method").loc["uot_rcl"]
    assert row["rate 0.2"] == f"{0.52:.3f} ± {np.std([0.5, 0.54], ddof=1):.3f}" and row["rate 0.8"] == ""
    assert pivot.set_index("method").loc["mrl", "rate 0.8"] == "0.300"


def test_runs_frame_columns_and_problem():
    frame = _frames.runs_frame([summary("ok"), RunSummary(run_id="bad", path=Path("bad"), status="damaged",
                                                          error="run.json: unreadable")])
    assert list(frame.columns[: len(_frames.RUN_COLUMNS)]) == list(_frames.RUN_COLUMNS)
    assert frame.set_index("run_id").loc["bad", "problem"] == "run.json: unreadable"
    assert str(frame["batch_size"].dtype) == "Int64"
    assert _frames.format_mrate(None) == "—" and _frames.format_mrate(0.20) == "0.2"
