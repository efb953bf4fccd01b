"""Realistic run directories for the dashboard's tests and benchmark, written through ``RunWriter``.

:func:`build_fixture_runs` makes one of everything the dashboard must show (see ``docs/run-directory.md``):

* done synthetic runs, L2RM and vanilla (VSE) at MRates 0.2 / 0.4 / 0.8, two seeds each, L2RM ones with
  every artefact (cost of every pair per epoch, partial-OT batches solved here by a small log-domain
  Sinkhorn on the dummy-point extension, rematch examples, refined ranks);
* sweeps of L2RM-VSE at MRate 0.4 over ρ (0.05 / 0.1 / 0.2 / 0.4), λ (0.01 / 0.05 / 0.1) and batch size
  (64 / 128 / 256 with ρ 0.05 / 0.1 / 0.2, the Table 9 protocol);
* runs named like the paper's settings: F30K L2RM-SGR MRate 0.2 (nested id, Tables 1/6), F30K SAF MRate 0
  (Table 7), COCO L2RM-SGRAF MRate 0.4 with 5-fold 1K and 5K results (Tables 6 and 8), CC152K L2RM-SGR
  (Table 2) whose rematch examples carry image URLs;
* a running run (this process's pid), a failed run with its error, a run whose process died, a directory
  with invalid ``run.json``, and a done run whose artefacts are corrupt;
* label-track runs: methods × noise × rates × seeds, with MAP results and ``label_confusion.npz``.

:func:`build_many_runs` writes ``n`` light runs (no artefacts) for the 300-run benchmark.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import workbench.runs as runs_module
from workbench.runs import RunWriter

__all__ = ["FixtureRuns", "F30K_TEST", "CLASS_NAMES", "build_fixture_runs", "build_many_runs",
           "recalls_from_score"]

RK = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")
F30K_TEST = {"i2t_r1": 74.1, "i2t_r5": 92.0, "i2t_r10": 96.3, "t2i_r1": 54.0, "t2i_r5": 80.2,
             "t2i_r10": 87.1}  # the F30K L2RM-SGR run's test recalls (the paper row is 76.5 93.7 97.3 ...)
CLASS_NAMES = ("art", "biology", "geography", "history", "literature", "media", "music", "royalty",
               "sport", "warfare")
_OBJECTS = ("dog", "bicycle", "guitar", "boat", "horse", "kite")
_COLOURS = ("red", "small", "old", "white", "striped", "wooden")
_PLACES = ("on a beach", "in a park", "on a street", "near a lake", "in a field", "at a market")


@dataclass(frozen=True)
class FixtureRuns:
    """Where the fixtures are and which run id plays which role (e.g. ``ids["f30k"]``)."""

    root: Path
    ids: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _fast_writes() -> Iterator[None]:
    """Skip fsync while building throwaway fixtures (durability is irrelevant in a tmp dir)."""
    original = runs_module.os.fsync
    runs_module.os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        yield
    finally:
        runs_module.os.fsync = original  # type: ignore[assignment]


def recalls_from_score(score: float, lift: float = 0.0) -> dict[str, float]:
    """Six recalls (percent) increasing in ``score`` ∈ [0, 1], plus their exact sum ``rsum``."""
    s = min(max(score, 0.0), 0.999)
    out = {}
    for direction, scale in (("i2t", 1.0), ("t2i", 0.85)):
        for k, power in ((1, 1.0), (5, 2.4), (10, 3.4)):
            out[f"{direction}_r{k}"] = round(100.0 * (1.0 - (1.0 - s * scale) ** power) + lift, 2)
    out["rsum"] = round(sum(out[k] for k in RK), 2)
    return out


def _quality(method: str, mrate: float, rho: float | None, lam: float | None, batch: int) -> float:
    """A plausible test score: mismatch hurts, L2RM hurts less; Fig. 4's ρ trend; mild batch gain."""
    if method == "vanilla":
        return 0.62 - 0.45 * mrate
    rho_term = -0.25 * max((rho or 0.1) - 0.1, 0.0)
    lam_term = -0.4 * abs(math.log10((lam or 0.05) / 0.05)) * 0.1
    return 0.64 - 0.22 * mrate + rho_term + lam_term + 0.01 * math.log2(batch / 128)


# -------------------------------------------------------------------------------- partial OT batch
def _partial_sinkhorn(cost: np.ndarray, mask: np.ndarray, rho: float, lam: float,
                      iters: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entropic partial OT of mass ``rho`` via the dummy-point extension (Chapel et al., 2020).

    Uniform marginals ``1/n``, ``1/m``; a dummy row and column (cost 0) absorb ``1 - rho`` each and the
    dummy-dummy corner is forbidden, so the real block carries exactly ``rho`` at convergence. Plain
    Sinkhorn scaling suffices here: costs lie in [0, 2] and λ >= 0.01, so ``exp(-C/λ)`` stays normal.
    Returns ``(plan [n, m], dummy_row [m], dummy_col [n])``.
    """
    n, m = cost.shape
    kernel = np.ones((n + 1, m + 1))
    kernel[:n, :m] = np.where(mask, np.exp(-cost / lam), 0.0)
    kernel[n, m] = 0.0
    a = np.r_[np.full(n, 1.0 / n), 1.0 - rho]
    b = np.r_[np.full(m, 1.0 / m), 1.0 - rho]
    u, v = np.ones(n + 1), np.ones(m + 1)
    for _ in range(iters):
        u = a / (kernel @ v)
        v = b / (kernel.T @ u)
    plan = u[:, None] * kernel * v[None, :]
    return plan[:n, :m], plan[n, :m], plan[:n, m]


def _caption(rng: np.random.Generator, cls: int) -> str:
    return (f"a {_COLOURS[rng.integers(len(_COLOURS))]} {_OBJECTS[cls]} "
            f"{_PLACES[rng.integers(len(_PLACES))]} .")


def _write_ot_artefacts(writer: RunWriter, rng: np.random.Generator, *, mrate: float, rho: float,
                        lam: float, epochs: range, batch: int, url: bool, with_truth: bool) -> None:
    """cost_by_epoch, alignments, rematch_examples and refined_ranks of one L2RM run."""
    n_images = 60
    pair_noisy = np.repeat(rng.permutation(n_images) < round(mrate * n_images), 5)  # [300] per caption
    cost_rows, rematch_rows, rank_rows = [], [], []
    for e, epoch in enumerate(epochs):
        t = (e + 1) / len(epochs)
        matched = np.clip(rng.normal(0.55 * (1 - 0.8 * t), 0.18 * (1 - 0.5 * t), pair_noisy.size), 0, 2)
        mismatched = np.clip(rng.normal(0.75 + 0.35 * t, 0.15, pair_noisy.size), 0, 2)
        cost = np.where(pair_noisy, mismatched, matched).astype(np.float32)
        prob = 1 / (1 + np.exp((cost - 0.6) * 12))
        cost_rows.append(pd.DataFrame({
            "epoch": np.full(cost.size, epoch, dtype=np.int32), "caption": np.arange(cost.size),
            "image": np.arange(cost.size) // 5, "cost": cost, "true_matched": ~pair_noisy,
            "est_clean": prob > 0.5, "clean_prob": prob.astype(np.float32)}))

        # one noisy batch: rows images, columns captions; caption j is image j's (mismatched) caption
        img_cls, cap_cls = rng.integers(0, len(_OBJECTS), batch), rng.integers(0, len(_OBJECTS), batch)
        truth = img_cls[:, None] == cap_cls[None, :]
        similarity = (0.25 + 0.5 * t) * truth + rng.normal(0, 0.15, truth.shape)
        cost_b = np.clip(1 - similarity, 0, 2)
        mask = ~np.eye(batch, dtype=bool)  # positives (the given pairs) masked
        plan, dummy_row, dummy_col = _partial_sinkhorn(cost_b, mask, rho, lam)
        captions = np.array([_caption(rng, c) for c in cap_cls])
        image_ids, caption_ids = rng.choice(10_000, batch, replace=False), rng.choice(50_000, batch, False)
        arrays: dict[str, Any] = dict(
            cost=cost_b.astype(np.float32), plan=plan.astype(np.float32), mask=mask,
            dummy_row=dummy_row.astype(np.float32), dummy_col=dummy_col.astype(np.float32),
            similarity=similarity.astype(np.float32), image_ids=image_ids.astype(np.int64),
            caption_ids=caption_ids.astype(np.int64), captions=captions, paired_captions=captions.copy(),
            rho=np.float32(rho), lam=np.float32(lam), epoch=np.int64(epoch), step=np.int64(100 * epoch))
        if with_truth:
            arrays["truth"] = truth
        writer.write_arrays(f"alignments/epoch_{epoch:03d}.npz", **arrays)

        row_mass = plan.sum(axis=1)
        target = plan / row_mass[:, None]
        best = target.argmax(axis=1)
        transported = row_mass > 0.5 * rho / batch
        rematch_rows.append(pd.DataFrame({
            "epoch": epoch, "step": 100 * epoch, "image": image_ids, "caption_original": caption_ids,
            "text_original": captions, "caption_rematched": caption_ids[best],
            "text_rematched": captions[best],
            "score": target.max(axis=1).astype(np.float32), "row_mass": row_mass.astype(np.float32),
            "transported": transported,
            "fit": pd.array(truth[np.arange(batch), best] if with_truth else [None] * batch, dtype="boolean"),
            "original_fit": pd.array(np.diag(truth) if with_truth else [None] * batch, dtype="boolean"),
            "image_url": [f"https://example.org/cc152k/{i}.jpg" if url else None for i in image_ids]}))
        ranked = -np.sort(-target, axis=1)
        for kind, rows in (("transported", transported), ("untransported", ~transported)):
            if rows.any():
                rank_rows.append(pd.DataFrame({"epoch": epoch, "kind": kind, "rank": np.arange(1, batch + 1),
                                               "mean_prob": ranked[rows].mean(axis=0)}))
    writer.write_table("cost_by_epoch.parquet", pd.concat(cost_rows, ignore_index=True))
    writer.write_table("rematch_examples.parquet", pd.concat(rematch_rows, ignore_index=True))
    writer.write_table("refined_ranks.parquet", pd.concat(rank_rows, ignore_index=True))


# ------------------------------------------------------------------------------------ retrieval run
def _retrieval_run(root: Path, run_id: str, *, dataset: str = "synthetic", method: str = "l2rm",
                   backbone: str = "vse", mrate: float | None = 0.4, rho: float | None = 0.1,
                   lam: float | None = 0.05, batch_size: int = 128, seed: int = 0, epochs: int = 5,
                   warmup: int = 1, finish: bool = True, test: dict[str, float] | None = None,
                   coco: bool = False, artefacts: bool = True, align_batch: int = 24,
                   url: bool = False) -> str:
    rng = np.random.default_rng([seed, int(1000 * (mrate or 0)), int(1000 * (rho or 0)), batch_size,
                                 len(run_id)])
    if method == "vanilla":
        rho = lam = None
    summary = dict(track="retrieval", dataset=dataset, method=method, backbone=backbone, mrate=mrate,
                   rho=rho, lam=lam, batch_size=batch_size, seed=seed, noise=None)
    config = {"data": {"dataset": dataset, "mrate": mrate, "batch_size": batch_size},
              "method": {"name": method, "rho": rho, "lam": lam}, "model": {"backbone": backbone},
              "train": {"epochs": epochs, "warmup_epochs": warmup, "seed": seed}}
    writer = RunWriter.create(root / run_id, config=config, summary=summary, preset=f"cpu-{dataset}")
    score = _quality(method, mrate or 0.0, rho, lam, batch_size) + rng.normal(0, 0.004)
    val_rsums = []
    for epoch in range(epochs):
        progress = 1 - 0.45 * math.exp(-epoch / 1.5)
        val = recalls_from_score(score * progress + rng.normal(0, 0.003))
        val_rsums.append(val["rsum"])
        train = epoch >= warmup
        noisy = round((mrate or 0) * 300)
        writer.log_epoch({
            "epoch": epoch, "phase": "train" if train else "warmup", "lr": 2e-4,
            "losses": ({"clean_loss": 0.4 / (1 + epoch), "rematch_loss": 0.2 / (1 + epoch),
                        "cost_loss": 0.05, "loss": 0.65 / (1 + epoch)} if train else
                       {"warmup_loss": 1.2, "loss": 1.2}),
            "val": val,
            "split": ({"precision": min(0.99, 0.8 + 0.04 * epoch), "recall": min(0.99, 0.7 + 0.06 * epoch),
                       "auc": min(0.995, 0.85 + 0.03 * epoch), "clean_fraction": 1 - (mrate or 0) * 0.9,
                       "n_clean": 300 - noisy, "n_noisy": noisy} if train and method != "vanilla" else None),
            "rematch": ({"precision": min(0.9, 0.3 + 0.12 * epoch), "chance": 1 / 6,
                         "transported_mass": rho, "n": align_batch,
                         "available": 0.6, "precision_available": min(0.9, 0.2 + 0.1 * epoch),
                         "ceiling_available": min(0.8, 0.25 + 0.08 * epoch), "chance_available": 0.05,
                         "top1_transported": min(0.9, 0.1 + 0.1 * epoch), "top1_untransported": 0.02,
                         "top1_uniform": 1 / align_batch, "cost_iqr": 0.02 * (1 + epoch),
                         "cost_drift": 0.01 * epoch} if train and method == "l2rm" else None),
            "label": None, "time_s": {"train": 1.5, "split": 0.2, "eval": 0.4, "total": 2.1},
            "steps": 20})
    if artefacts and method == "l2rm":
        _write_ot_artefacts(writer, rng, mrate=mrate or 0.0, rho=rho or 0.1, lam=lam or 0.05,
                            epochs=range(warmup, epochs), batch=align_batch, url=url,
                            with_truth=dataset == "synthetic")
    if not finish:
        return run_id
    test_metrics = dict(test) if test else recalls_from_score(score)
    test_metrics["rsum"] = round(sum(test_metrics[k] for k in RK), 2)
    results: dict[str, Any] = {
        "test": {**test_metrics, "i2t_medr": 1.0, "i2t_meanr": 4.2, "t2i_medr": 2.0, "t2i_meanr": 9.8},
        "best_epoch": int(np.argmax(val_rsums)), "best_val_rsum": max(val_rsums),
        "last_epoch": epochs - 1, "wall_time_s": 2.1 * epochs}
    if coco:
        results["test_5fold"] = dict(test_metrics)
        results["test_5k"] = recalls_from_score(score - 0.12)
    writer.write_results(results)
    writer.update(timings={"total": 2.1 * epochs, "train": 1.5 * epochs, "eval": 0.4 * epochs})
    writer.finish("done")
    return run_id


# ------------------------------------------------------------------------------------ label track
def _label_run(root: Path, run_id: str, *, method: str, noise: str, rate: float, seed: int,
               epochs: int = 4) -> str:
    rng = np.random.default_rng([seed, int(rate * 100), len(method), len(noise)])
    summary = dict(track="labels", dataset="wikipedia", method=method, backbone="mlp", mrate=rate,
                   rho=0.3 if method == "uot_rcl" else None, lam=0.05 if method == "uot_rcl" else None,
                   batch_size=100, seed=seed, noise=noise)
    writer = RunWriter.create(root / run_id, config={"labels": {"noise": noise, "rate": rate},
                                                     "method": method, "seed": seed}, summary=summary)
    base = (0.50 - 0.12 * rate if method == "uot_rcl" else 0.47 - 0.18 * rate) \
        - (0.02 if noise == "asymmetric" else 0.0) + rng.normal(0, 0.008)
    curve = [base - 0.08 * math.exp(-epoch) - (0.01 if epoch == epochs - 1 else 0.0)
             for epoch in range(epochs)]
    for epoch, avg in enumerate(curve):
        writer.log_epoch({"epoch": epoch, "phase": "train", "lr": 1e-4, "losses": {"loss": 1 / (1 + epoch)},
                          "val": {"i2t_map": avg + 0.02, "t2i_map": avg - 0.02, "avg_map": avg},
                          "split": None, "rematch": None,
                          "label": {"correction_accuracy": 0.6 + 0.08 * epoch, "noisy_accuracy": 1 - rate,
                                    "selected_fraction": min(1.0, 0.3 + 0.2 * epoch), "rho": 0.3},
                          "time_s": {"train": 0.3, "eval": 0.1, "total": 0.4}, "steps": 22})

    def maps(avg: float) -> dict[str, float]:
        return {"i2t": round(avg + 0.02, 4), "t2i": round(avg - 0.02, 4), "avg": round(avg, 4)}

    best = int(np.argmax(curve))
    writer.write_results({"map": {"best": maps(curve[best]), "last": maps(curve[-1])},
                          "best_epoch": best, "last_epoch": epochs - 1, "wall_time_s": 0.4 * epochs})
    classes = len(CLASS_NAMES)
    truth = rng.integers(0, classes, 2173)
    flip = rng.random(truth.size) < rate
    noisy = np.where(flip, rng.integers(0, classes, truth.size) if noise == "symmetric"
                     else (truth + 1) % classes, truth)
    fixed = np.where(rng.random(truth.size) < 0.7, truth, noisy)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    noisy_confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (truth, fixed), 1)
    np.add.at(noisy_confusion, (truth, noisy), 1)
    writer.write_arrays("label_confusion.npz", confusion=confusion, noisy_confusion=noisy_confusion,
                        class_names=np.array(CLASS_NAMES))
    writer.finish("done")
    return run_id


# ----------------------------------------------------------------------------------------- builders
def build_fixture_runs(root: Path) -> FixtureRuns:
    """Write the full fixture set under ``root`` (about 60 runs, well under a second)."""
    root = Path(root)
    ids: dict[str, str] = {}
    with _fast_writes():
        for method in ("l2rm", "vanilla"):
            for mrate in (0.2, 0.4, 0.8):
                for seed in (0, 1):
                    rid = f"synthetic-{method}-vse-m{mrate}-s{seed}"
                    ids[f"syn/{method}/{mrate}/{seed}"] = _retrieval_run(
                        root, rid, method=method, mrate=mrate, seed=seed,
                        align_batch=96 if (method, mrate, seed) == ("l2rm", 0.4, 0) else 24)
        for rho in (0.05, 0.2, 0.4):
            ids[f"sweep/rho/{rho}"] = _retrieval_run(root, f"sweep-rho{rho}", rho=rho, artefacts=False)
        for lam in (0.01, 0.1):
            ids[f"sweep/lam/{lam}"] = _retrieval_run(root, f"sweep-lam{lam}", lam=lam, artefacts=False)
        for batch, rho in ((64, 0.05), (256, 0.2)):
            ids[f"sweep/batch/{batch}"] = _retrieval_run(root, f"sweep-bs{batch}", batch_size=batch, rho=rho,
                                                         artefacts=False)
        ids["f30k"] = _retrieval_run(root, "table1/f30k-l2rm-sgr-m0.2", dataset="f30k", backbone="sgr",
                                     mrate=0.2, lam=0.01, test=F30K_TEST, artefacts=False)
        ids["f30k_m0"] = _retrieval_run(root, "table7/f30k-vanilla-saf-m0", dataset="f30k",
                                        method="vanilla", backbone="saf", mrate=0.0)
        ids["coco"] = _retrieval_run(root, "coco-l2rm-sgraf-m0.4", dataset="coco", backbone="sgraf",
                                     mrate=0.4, lam=0.07, coco=True, artefacts=False)
        ids["cc152k"] = _retrieval_run(root, "cc152k-l2rm-sgr", dataset="cc152k", backbone="sgr",
                                       mrate=None, lam=0.07, url=True)
        ids["running"] = _retrieval_run(root, "synthetic-l2rm-vse-running", mrate=0.6, finish=False,
                                        artefacts=False)
        ids["failed"] = _failed_run(root, "synthetic-l2rm-vse-failed")
        ids["died"] = _died_run(root, "synthetic-l2rm-vse-died")
        ids["corrupt"] = _retrieval_run(root, "synthetic-l2rm-vse-corrupt-artefacts", mrate=0.2, seed=7)
        for name in ("cost_by_epoch.parquet", "alignments/epoch_001.npz", "rematch_examples.parquet"):
            (root / ids["corrupt"] / "artifacts" / name).write_bytes(b"\x00 not what it claims to be")
        broken = root / "broken-run-json"
        broken.mkdir(parents=True)
        (broken / "run.json").write_text('{"schema": 1, "status": "done", ', encoding="utf-8")
        ids["damaged"] = broken.name
        for method in ("mrl", "uot_rcl"):
            for noise in ("symmetric", "asymmetric"):
                for rate in (0.2, 0.5, 0.8):
                    for seed in (0, 1):
                        rid = f"labels-{method}-{noise}-r{rate}-s{seed}"
                        ids[f"labels/{method}/{noise}/{rate}/{seed}"] = _label_run(
                            root, rid, method=method, noise=noise, rate=rate, seed=seed)
    return FixtureRuns(root=root, ids=ids)


def _failed_run(root: Path, run_id: str) -> str:
    _retrieval_run(root, run_id, mrate=0.8, epochs=3, finish=False, artefacts=False)
    writer = RunWriter.reopen(root / run_id)
    writer.finish("failed", FloatingPointError("Sinkhorn plan has NaN entries at epoch 2 (lam=0.001)"))
    return run_id


def _died_run(root: Path, run_id: str) -> str:
    """A run left ``running`` by a process that no longer exists (the reader reports it failed)."""
    _retrieval_run(root, run_id, mrate=0.2, epochs=2, finish=False, artefacts=False)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    path = root / run_id / "run.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info["pid"] = child.pid
    path.write_text(json.dumps(info), encoding="utf-8")
    return run_id


def build_many_runs(root: Path, n: int) -> list[str]:
    """``n`` done synthetic runs without artefacts (run.json, 8 epochs of metrics, results)."""
    out = []
    methods, mrates, rhos = ("l2rm", "vanilla"), (0.0, 0.2, 0.4, 0.6, 0.8), (0.05, 0.1, 0.2)
    with _fast_writes():
        for i in range(n):
            method = methods[i % 2]
            out.append(_retrieval_run(Path(root), f"bulk-{i:04d}", method=method, mrate=mrates[i % 5],
                                      rho=rhos[i % 3], seed=i // 30, epochs=8, artefacts=False))
    return out


# ------------------------------------------------------------------------------------ damaged runs
#: a value of the wrong type for each kind of schema field (workbench.runschema.Field.kind)
WRONG_VALUES: dict[str, Any] = {
    "str": {"name": "a dict where a string belongs"}, "int": "abc", "number": "abc", "bool": "yes",
    "timestamp": 5, "object": "abc", "list": 3, "numbers": {"x": "abc"}, "scalars": {"x": [1, 2]},
    "strings": [1], "nested_numbers": {"best": {"avg": "abc"}},
}
#: the cases the hardening issue reported, by name
REPORTED = {"created": 5, "mrate": "abc", "dataset": {"name": "f30k", "split": "train"}}


def _wrong(spec: Any) -> Any:
    if spec.choices is not None:
        return "bogus" if spec.kind == "str" else 99
    return WRONG_VALUES[spec.kind]


def build_damaged_runs(root: Path) -> dict[str, str]:
    """One run per schema field of run.json, a metrics record and results.json, each with that field of
    the wrong type (the reported ``created: 5``, ``mrate: "abc"``, ``dataset: {...}`` among them), next to
    nothing else. Returns ``{run id: the field its damage names}``."""
    from workbench.runschema import METRICS_FIELDS, RESULTS_FIELDS, RUN_FIELDS

    root = Path(root)
    expected: dict[str, str] = {}
    with _fast_writes():
        for name, spec in RUN_FIELDS.items():
            rid = f"bad-run-json-{name}"
            _retrieval_run(root, rid, epochs=2, artefacts=False)
            path = root / rid / "run.json"
            info = json.loads(path.read_text(encoding="utf-8"))
            info[name] = REPORTED.get(name, _wrong(spec))
            path.write_text(json.dumps(info), encoding="utf-8")
            expected[rid] = name
        for name, spec in METRICS_FIELDS.items():
            rid = f"bad-metrics-{name}"
            _retrieval_run(root, rid, epochs=2, artefacts=False)
            path = root / rid / "metrics.jsonl"
            lines = path.read_text(encoding="utf-8").splitlines()
            record = json.loads(lines[0])
            record[name] = _wrong(spec)
            path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
            expected[rid] = name
        for name, spec in RESULTS_FIELDS.items():
            rid = f"bad-results-{name}"
            _retrieval_run(root, rid, epochs=2, artefacts=False)
            path = root / rid / "results.json"
            results = json.loads(path.read_text(encoding="utf-8"))
            results[name] = _wrong(spec)
            path.write_text(json.dumps(results), encoding="utf-8")
            expected[rid] = name
    return expected


def build_damaged_artefacts(root: Path) -> dict[str, str]:
    """Done runs whose artefacts miss what a page reads: ``{role: run id}`` for ``rematch`` (examples
    without ``score``), ``alignment`` (npz without ``plan``), ``cost`` (table without ``est_clean``),
    ``ranks`` (refined ranks without ``mean_prob``) and ``labels`` (confusion npz without ``confusion``)."""
    root = Path(root)
    ids = {}
    with _fast_writes():
        for role in ("rematch", "alignment", "cost", "ranks"):
            ids[role] = _retrieval_run(root, f"artefact-{role}", mrate=0.4, seed=3, epochs=3)
        art = {role: root / rid / "artifacts" for role, rid in ids.items()}
        frame = pd.read_parquet(art["rematch"] / "rematch_examples.parquet")
        frame.drop(columns="score").to_parquet(art["rematch"] / "rematch_examples.parquet")
        for path in (art["alignment"] / "alignments").glob("*.npz"):
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files if k != "plan"}
            np.savez(path, **arrays)
        frame = pd.read_parquet(art["cost"] / "cost_by_epoch.parquet")
        frame.drop(columns="est_clean").to_parquet(art["cost"] / "cost_by_epoch.parquet")
        frame = pd.read_parquet(art["ranks"] / "refined_ranks.parquet")
        frame.drop(columns="mean_prob").to_parquet(art["ranks"] / "refined_ranks.parquet")
        ids["labels"] = _label_run(root, "artefact-labels", method="uot_rcl", noise="symmetric", rate=0.2, seed=0)
        path = root / ids["labels"] / "artifacts" / "label_confusion.npz"
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != "confusion"}
        np.savez(path, **arrays)
    return ids
