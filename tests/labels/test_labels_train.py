"""End to end: a short Wikipedia run learns, writes the contract's files, reloads to its own numbers;
runs are deterministic and resume exactly; CCA ignores the labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.callbacks import Callback
from workbench.evaluate.label_map import cross_modal_map
from workbench.labels.data import load_label_data
from workbench.labels.models import CrossModalNet
from workbench.labels.noise import make_label_noise
from workbench.labels.presets import preset_config
from workbench.labels.train import LabelRunResult, run_labels
from workbench.runs import list_runs, read_metrics


def _chance_map(labels: np.ndarray) -> float:
    """MAP of a random ranking: a query of class c finds relevant items at rate n_c / N."""
    p = np.bincount(labels) / len(labels)
    return float((p * p).sum())


@pytest.fixture(scope="module")
def wiki_run(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> LabelRunResult:
    # 4 epochs (2 of warm-up) of the CPU preset at 20 % noise, with narrower layers to keep it to seconds
    cfg = preset_config("cpu", "uot_rcl", extra={"path": str(mirror / "wikipedia_sift_lda" / "Wiki_fea.mat"),
                                                  "rate": 0.2, "epochs": 4, "uot_rcl.warmup_epochs": 2,
                                                  "hidden": 128, "embed_dim": 64})
    return run_labels(cfg, run_root=tmp_path_factory.mktemp("runs"), preset="cpu-uot_rcl")


def test_short_wikipedia_run_learns(wiki_run: LabelRunResult) -> None:
    test_labels = np.asarray(load_label_data(preset_config("cpu", "ce", extra={
        "path": json.loads((wiki_run.run_dir / "run.json").read_text())["config"]["data"]["path"]}).data, 0).test.labels)
    chance = _chance_map(test_labels)
    for when in ("best", "last"):
        assert wiki_run.results["map"][when]["avg"] > chance + 0.06, (when, chance)


def test_run_directory_follows_the_contract(wiki_run: LabelRunResult) -> None:
    run_dir = wiki_run.run_dir
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["track"], info["status"], info["method"], info["noise"], info["noise_rate"]) == (
        "labels", "done", "uot_rcl", "symmetric", 0.2)
    metrics = read_metrics(run_dir)
    assert [r["epoch"] for r in metrics] == list(range(4))
    assert [r["phase"] for r in metrics] == ["warmup"] * 2 + ["train"] * 2
    for record in metrics:
        assert set(record["val"]) == {"i2t_map", "t2i_map", "avg_map"}
        assert {"correction_accuracy", "noisy_accuracy", "selected_fraction", "rho"} <= set(record["label"])
        terms = {k: v for k, v in record["losses"].items() if k != "loss"}
        total = sum(v * _weight(k, info["config"]) for k, v in terms.items())
        assert record["losses"]["loss"] == pytest.approx(total, rel=1e-4)  # the total is the weighted sum
    results = json.loads((run_dir / "results.json").read_text())
    vals = [r["val"]["avg_map"] for r in metrics]
    # model selection: the best noisy-validation MAP among the post-warm-up epochs (the warm-up is plain CE)
    assert results["best_epoch"] == 2 + int(np.argmax(vals[2:])) and results["last_epoch"] == 3
    for when in ("best", "last"):
        m = results["map"][when]
        assert m["avg"] == pytest.approx((m["i2t"] + m["t2i"]) / 2)
    # the noisy labels are saved and are the seeded draw
    noisy = np.load(run_dir / "artifacts" / "noisy_labels.npy")
    clean = np.load(run_dir / "artifacts" / "label_split.npz")["clean"]
    np.testing.assert_array_equal(noisy, make_label_noise(clean, 10, noise="symmetric", rate=0.2, seed=0).labels)
    with np.load(run_dir / "artifacts" / "label_confusion.npz") as npz:
        confusion, noisy_conf, names = npz["confusion"], npz["noisy_confusion"], npz["class_names"]
    rows = np.load(run_dir / "artifacts" / "label_split.npz")["train_rows"]
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(clean[rows], minlength=10))
    np.testing.assert_array_equal(np.diag(noisy_conf), np.bincount(clean[rows][noisy[rows, 0] == clean[rows]],
                                                                    minlength=10))
    assert names[0] == "art" and results["label"]["correction_accuracy"] == pytest.approx(
        confusion.trace() / confusion.sum())
    summary = next(s for s in list_runs(run_dir.parent) if s.run_id == run_dir.name)
    assert (summary.track, summary.noise, summary.noise_rate, info["variant"]) == ("labels", "symmetric", 0.2,
                                                                                   "uot_rcl")


def _weight(term: str, cfg: dict) -> float:
    u = cfg["uot_rcl"]
    return {"warmup_loss": 1.0, "ce_loss": 1.0, "sa_loss": u["sa_weight"], "ra_loss": u["ra_weight"],
            "pair_loss": u["pair_weight"]}[term]


def test_best_checkpoint_reproduces_the_reported_map_on_clean_labels(wiki_run: LabelRunResult) -> None:
    run_dir = wiki_run.run_dir
    cfg = json.loads((run_dir / "run.json").read_text())["config"]
    data = load_label_data(preset_config("cpu", "uot_rcl", extra={"path": cfg["data"]["path"], "rate": 0.2}).data, 0)
    m = cfg["model"]
    model = CrossModalNet(128, 10, 10, hidden=m["hidden"], embed_dim=m["embed_dim"], layers=m["layers"],
                          batch_norm=m["batch_norm"], dropout=m["dropout"], classifier=m["classifier"])
    model.load_state_dict(torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)["model"])
    out = model.embed(torch.as_tensor(data.test.image), torch.as_tensor(data.test.text))
    expected = cross_modal_map(out.z_img, out.z_txt, data.test.labels, data.test.labels)
    assert wiki_run.best == pytest.approx({k: expected[k] for k in ("i2t", "t2i", "avg")}, abs=1e-6)
    scrambled = np.random.default_rng(0).permutation(data.test.labels)
    assert cross_modal_map(out.z_img, out.z_txt, scrambled, scrambled)["avg"] < expected["avg"] - 0.05


class _Stop(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.at:
            raise KeyboardInterrupt


def test_runs_are_deterministic_and_resume_exactly(tmp_path: Path) -> None:
    cfg = preset_config("tiny", "uot_rcl", extra={"root": str(tmp_path / "data")})
    full = run_labels(cfg, run_dir=tmp_path / "full")
    again = run_labels(cfg, write=False)
    assert again.results["map"] == full.results["map"]
    with pytest.raises(KeyboardInterrupt):
        run_labels(cfg, run_dir=tmp_path / "cut", callbacks=[_Stop(at=2)])
    assert next(s for s in list_runs(tmp_path) if s.run_id == "cut").status == "failed"
    resumed = run_labels(None, run_dir=tmp_path / "cut", resume=True)
    assert resumed.results["map"] == full.results["map"]
    assert resumed.results["best_epoch"] == full.results["best_epoch"]
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in read_metrics(tmp_path / "cut")]
    assert strip == [{k: v for k, v in r.items() if k != "time_s"} for r in read_metrics(tmp_path / "full")]


def test_every_method_runs_on_the_synthetic_set(tmp_path: Path) -> None:
    for method in ("ce", "gce", "mrl"):
        result = run_labels(preset_config("tiny", method, extra={"epochs": 2, "root": str(tmp_path)}), write=False)
        assert 0.0 < result.best["avg"] <= 1.0 and set(result.results["label"]) >= {"noisy_accuracy"}
    # per-modality noise: UOT-RCL corrects one shared label per pair from two disagreeing noisy ones
    records: list[dict] = []

    class Keep(Callback):
        def on_epoch_end(self, record: dict) -> None:
            records.append(record)

    cfg = preset_config("tiny", "uot_rcl", extra={"epochs": 3, "level": "modality", "root": str(tmp_path),
                                                   "uot_rcl.cost": "knn", "uot_rcl.consistency": "soft"})
    run_labels(cfg, write=False, callbacks=[Keep()])
    assert records[-1]["phase"] == "train" and 0.0 < records[-1]["label"]["selected_fraction"] <= 1.0


def test_cca_ignores_the_noisy_labels(mirror: Path) -> None:
    path = str(mirror / "wikipedia_sift_lda" / "Wiki_fea.mat")
    low = run_labels(preset_config("cpu", "cca", extra={"path": path, "rate": 0.2}), write=False)
    high = run_labels(preset_config("cpu", "cca", extra={"path": path, "rate": 0.8, "noise": "asymmetric"}),
                      write=False)
    assert low.results["map"] == high.results["map"]  # the same training rows; no labels used
    assert low.best == low.last and low.best["avg"] > 0.15
