"""The fixture runs follow ``docs/run-directory.md`` to the column and dtype, and their OT batches are
genuine partial transport plans (so the dashboard is tested on what the trainer will write)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fixture_runs import build_many_runs

COST_COLUMNS = {"epoch": "int32", "caption": "int64", "image": "int64", "cost": "float32",
                "true_matched": "bool", "est_clean": "bool", "clean_prob": "float32"}
REMATCH_COLUMNS = ["epoch", "step", "image", "caption_original", "text_original", "caption_rematched",
                   "text_rematched", "score", "row_mass", "transported", "fit", "original_fit", "image_url"]
RUN_KEYS = {"schema", "run_id", "status", "error", "track", "preset", "dataset", "method", "backbone",
            "mrate", "rho", "lam", "batch_size", "seed", "noise", "config", "versions", "host", "pid",
            "created", "updated", "finished", "timings", "resumed"}


def test_run_json_metrics_and_results_keys(fixture_runs):
    run_dir = fixture_runs.root / fixture_runs.ids["syn/l2rm/0.2/0"]
    info = json.loads((run_dir / "run.json").read_text())
    assert RUN_KEYS <= set(info) and info["status"] == "done" and info["schema"] == 1
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert {"epoch", "phase", "lr", "losses", "val", "split", "rematch", "label", "time_s",
                "steps"} <= set(rec)
        assert set(rec["val"]) == {"i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum"}
        assert all(k == "loss" or k.endswith("_loss") for k in rec["losses"])
    results = json.loads((run_dir / "results.json").read_text())
    assert {"test", "best_epoch", "best_val_rsum", "last_epoch", "wall_time_s"} <= set(results)
    test = results["test"]
    assert test["rsum"] == pytest.approx(sum(test[k] for k in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1",
                                                                "t2i_r5", "t2i_r10")))


def test_cost_rematch_and_rank_tables(fixture_runs):
    art = fixture_runs.root / fixture_runs.ids["syn/l2rm/0.4/1"] / "artifacts"
    costs = pd.read_parquet(art / "cost_by_epoch.parquet")
    assert {c: str(t) for c, t in costs.dtypes.items()} == COST_COLUMNS
    rematch = pd.read_parquet(art / "rematch_examples.parquet")
    assert list(rematch.columns) == REMATCH_COLUMNS
    assert str(rematch["fit"].dtype) == "boolean" and rematch["score"].between(0, 1).all()
    ranks = pd.read_parquet(art / "refined_ranks.parquet")
    assert set(ranks["kind"]) <= {"transported", "untransported"}
    for _, group in ranks.groupby(["epoch", "kind"]):
        probs = group.sort_values("rank")["mean_prob"].to_numpy()
        assert probs.sum() == pytest.approx(1.0, abs=1e-5) and (np.diff(probs) <= 1e-9).all()


def test_alignment_batches_are_masked_partial_plans_of_mass_rho(fixture_runs):
    folder = fixture_runs.root / fixture_runs.ids["syn/l2rm/0.8/0"] / "artifacts" / "alignments"
    paths = sorted(folder.glob("epoch_*.npz"))
    assert paths
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            b = {k: npz[k] for k in npz.files}
        n, m = b["cost"].shape
        assert b["plan"].dtype == np.float32 and b["mask"].dtype == bool and b["captions"].dtype.kind == "U"
        assert b["dummy_row"].shape == (m,) and b["dummy_col"].shape == (n,) and b["truth"].shape == (n, m)
        plan = b["plan"].astype(np.float64)
        assert plan.sum() == pytest.approx(float(b["rho"]), rel=1e-4)
        np.testing.assert_allclose(plan.sum(axis=1) + b["dummy_col"], 1 / n, rtol=1e-4)
        np.testing.assert_allclose(plan.sum(axis=0) + b["dummy_row"], 1 / m, rtol=1e-4)
        assert (plan[~b["mask"]] == 0).all()  # masked positives carry no mass
        assert int(b["epoch"]) == int(path.stem.split("_")[1])


def test_label_confusion_arrays(fixture_runs):
    run_dir = fixture_runs.root / fixture_runs.ids["labels/mrl/asymmetric/0.8/0"]
    path = run_dir / "artifacts" / "label_confusion.npz"
    with np.load(path, allow_pickle=False) as npz:
        assert npz["confusion"].dtype == np.int64 and npz["confusion"].shape == (10, 10)
        assert npz["confusion"].sum() == npz["noisy_confusion"].sum()
        assert npz["class_names"].dtype.kind == "U"


def test_many_runs_are_quick_and_complete(tmp_path):
    ids = build_many_runs(tmp_path, 12)
    assert sorted(p.parent.name for p in tmp_path.glob("*/results.json")) == sorted(ids)
