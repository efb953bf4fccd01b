"""End-to-end runs on synthetic tiny: a run that learns, and the run directory the dashboard reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.methods.vanilla import Vanilla
from workbench.presets import get_preset
from workbench.runs import list_alignments, read_alignment, read_run
from workbench.train import run

CHANCE_RSUM = 32.0  # 100 images x 500 captions: i2t R@1/5/10 ~ 1/5/10, t2i 1/5/10


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def l2rm_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = get_preset("tiny-l2rm-vse").config({"root": str(data_root), "mrate": 0.6, "epochs": 2, "threads": 1,
                                              "split_guard": False})
    out = tmp_path_factory.mktemp("runs") / "l2rm"
    run(cfg, run_dir=out)
    return out


def test_vanilla_learns_on_clean_data(data_root: Path, tmp_path: Path) -> None:
    cfg = get_preset("tiny-vanilla-vse").config({"root": str(data_root), "warmup_epochs": 2, "epochs": 6,
                                                 "lr_update": 10, "threads": 1, "lr": 5e-3,
                                                 "vanilla.warmup_loss": "infonce"})
    result = run(cfg, run_dir=tmp_path / "vanilla")
    assert result.test["rsum"] > 3 * CHANCE_RSUM  # measured 166 with these settings
    assert len(result.metrics) == 8
    assert result.metrics[-1]["val"]["rsum"] > result.metrics[0]["val"]["rsum"]


def test_l2rm_run_directory_follows_the_contract(l2rm_run: Path) -> None:
    record = read_run(l2rm_run.parent, l2rm_run.name)
    assert record.summary.status == "done" and record.summary.method == "l2rm"
    assert record.summary.mrate == 0.6 and record.summary.rho == 0.1
    assert [m["phase"] for m in record.metrics] == ["warmup", "train", "train"]
    for m in record.metrics[1:]:
        assert {"precision", "recall", "auc", "clean_fraction"} <= set(m["split"])
        assert m["rematch"]["batches"] > 0 and m["rematch"]["transported_mass"] == pytest.approx(0.1, abs=1e-3)
        assert {"triplet_loss", "rematch_loss", "cost_loss", "loss"} <= set(m["losses"])
        assert 0 <= m["rematch"]["precision_all"] <= 1 and 0 <= m["rematch"]["chance_all"] <= 1
    results = json.loads((l2rm_run / "results.json").read_text())
    assert set(results["test"]) >= {"i2t_r1", "t2i_r10", "rsum", "i2t_medr"}
    assert (l2rm_run / "checkpoints" / "best.pt").exists() and (l2rm_run / "checkpoints" / "last.pt").exists()
    noise = np.load(l2rm_run / "artifacts" / "noise_index.npy")
    assert noise.shape == (400,) and np.mean(noise != np.arange(400)) == pytest.approx(0.6)


def test_l2rm_artifacts(l2rm_run: Path) -> None:
    art = l2rm_run / "artifacts"
    cost = pd.read_parquet(art / "cost_by_epoch.parquet")
    assert list(cost.columns) == ["epoch", "caption", "image", "cost", "true_matched", "est_clean", "clean_prob"]
    assert sorted(cost["epoch"].unique()) == [1, 2] and len(cost) == 2 * 2000
    assert cost["cost"].notna().all() and (cost["cost"] >= 0).all()
    assert cost["true_matched"].mean() == pytest.approx(0.4)
    epochs = list_alignments(l2rm_run.parent, l2rm_run.name)
    assert epochs == [1, 2]
    batch = read_alignment(l2rm_run.parent, l2rm_run.name, 2)
    q, b = batch["plan"].shape
    assert (q, b) == (128, 128) and batch["cost"].shape == (q, b) and batch["truth"].shape == (q, b)
    assert not batch["mask"].diagonal().any() and batch["mask"].sum() == q * b - b  # positives masked
    assert np.all(batch["plan"][~batch["mask"]] == 0)
    assert batch["plan"].sum() == pytest.approx(0.1, abs=1e-4)
    assert batch["dummy_row"].shape == (b,) and batch["dummy_col"].shape == (q,)
    assert len(batch["captions"]) == b and batch["captions"].dtype.kind == "U"
    examples = pd.read_parquet(art / "rematch_examples.parquet")
    assert {"image", "text_original", "text_rematched", "score", "fit", "original_fit"} <= set(examples.columns)
    assert examples["fit"].notna().all()
    ranks = pd.read_parquet(art / "refined_ranks.parquet")
    for (_, _), group in ranks.groupby(["epoch", "kind"]):
        probs = group.sort_values("rank")["mean_prob"].to_numpy()
        assert np.all(np.diff(probs) <= 1e-7) and probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_crashing_run_is_marked_failed(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self, ctx):  # noqa: ANN001
        raise RuntimeError("synthetic failure in epoch")

    monkeypatch.setattr(Vanilla, "train_epoch", boom)
    cfg = get_preset("tiny-vanilla-vse").config({"root": str(data_root), "threads": 1})
    with pytest.raises(RuntimeError, match="synthetic failure"):
        run(cfg, run_dir=tmp_path / "crash")
    summary = read_run(tmp_path, "crash").summary
    assert summary.status == "failed" and "synthetic failure in epoch" in summary.error
