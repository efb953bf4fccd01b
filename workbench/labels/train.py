"""``run_labels(cfg) -> LabelRunResult``: train, select and test one label-track configuration.

One call:

1. loads the data (:func:`~workbench.labels.data.load_label_data`): noisy training and validation labels,
   clean test labels, standardised features; saves the noisy labels with the run;
2. builds the network (:class:`~workbench.labels.models.CrossModalNet`) and the method, or fits CCA;
3. runs ``optim.epochs`` epochs: the method's per-epoch step (UOT-RCL's label correction), shuffled batches,
   validation MAP on the noisy validation labels; the best-on-validation weights are kept (``best.pt``),
   ``last.pt`` holds everything needed to resume, one ``metrics.jsonl`` record per epoch;
4. tests the best-on-validation and the last weights on the clean test set (MAP over all results,
   image->text, text->image and their mean) and writes ``results.json`` and ``label_confusion.npz``.

Determinism: the network's initialisation comes from ``seed``; the batch order of epoch ``e`` from
``(seed, e)``; the torch generator is re-seeded from ``(seed, e)`` at each epoch start. A resumed run replays
the remaining epochs exactly.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.callbacks import Callback, CallbackList
from workbench.checkpoints import load_checkpoint, save_checkpoint
from workbench.data._io import save_npy_atomic
from workbench.errors import ConfigError, RunDirError
from workbench.evaluate.label_map import cross_modal_map
from workbench.labels.baselines import GCE, MRL, CrossEntropy
from workbench.labels.cca import fit_cca
from workbench.labels.ceilings import TRAIN_LABELS_ARTIFACT, ceiling_labels
from workbench.labels.config import LabelTrainConfig
from workbench.labels.data import LabelData, load_label_data
from workbench.labels.method import LabelMethod, TrainTensors
from workbench.labels.models import CrossModalNet
from workbench.labels.uot_rcl import UOTRCL
from workbench.runs import RunWriter, describe_environment, metrics_for_resume, new_run_id, read_metrics

__all__ = ["LabelRunResult", "run_labels", "build_label_method", "label_run_summary", "confusion_matrix",
           "steps_per_pass", "passes_per_epoch"]

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
_METHODS: dict[str, type[LabelMethod]] = {"ce": CrossEntropy, "gce": GCE, "mrl": MRL, "uot_rcl": UOTRCL}


@dataclass(frozen=True)
class LabelRunResult:
    """What :func:`run_labels` returns (the same facts are in the run directory)."""

    run_dir: Path | None
    results: dict[str, Any]
    metrics: list[dict[str, Any]]

    @property
    def best(self) -> dict[str, float]:
        """Test MAP ``{i2t, t2i, avg}`` of the best-on-validation weights."""
        return self.results["map"]["best"]

    @property
    def last(self) -> dict[str, float]:
        """Test MAP of the last epoch's weights."""
        return self.results["map"]["last"]


def build_label_method(cfg: LabelTrainConfig, tensors: TrainTensors) -> LabelMethod:
    """The method object of ``cfg.method`` (not ``cca``, which has no training loop)."""
    if cfg.method not in _METHODS:
        raise ConfigError(f"method {cfg.method!r} has no training loop; expected one of {', '.join(_METHODS)}")
    return _METHODS[cfg.method](cfg, tensors)


def label_run_summary(cfg: LabelTrainConfig) -> dict[str, Any]:
    """The run.json fields the dashboard lists."""
    uot = cfg.method == "uot_rcl"
    dataset = cfg.data.dataset if cfg.data.dataset != "synthetic" else f"synthetic-{cfg.data.size}"
    return {"track": "labels", "dataset": dataset, "method": cfg.method,
            "backbone": "cca" if cfg.method == "cca" else "mlp", "mrate": None,
            "rho": cfg.uot_rcl.rho_end if uot else None, "lam": cfg.uot_rcl.eps if uot else None,
            "batch_size": cfg.optim.batch_size, "seed": cfg.seed, "noise": cfg.data.noise,
            "noise_rate": cfg.data.rate, "noise_level": cfg.data.level}


def confusion_matrix(truth: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``[C, C]`` int64 counts, rows the true class, columns the given label."""
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (np.asarray(truth), np.asarray(labels)), 1)
    return out


def _map(z_img: Any, z_txt: Any, y_img: np.ndarray, y_txt: np.ndarray) -> dict[str, float]:
    m = cross_modal_map(z_img, z_txt, y_img, y_txt)
    return {"i2t_map": m["i2t"], "t2i_map": m["t2i"], "avg_map": m["avg"]}


def _test_map(model: CrossModalNet, data: LabelData, device: torch.device) -> dict[str, float]:
    out = model.embed(torch.as_tensor(data.test.image, device=device), torch.as_tensor(data.test.text, device=device))
    m = _map(out.z_img, out.z_txt, data.test.labels, data.test.labels)
    return {"i2t": m["i2t_map"], "t2i": m["t2i_map"], "avg": m["avg_map"]}


def _candidate(cfg: LabelTrainConfig, epoch: int) -> bool:
    """Whether ``epoch``'s weights may be selected: UOT-RCL's warm-up epochs (plain CE) are not, by default."""
    if cfg.method != "uot_rcl" or not cfg.uot_rcl.select_after_warmup:
        return True
    return epoch >= min(cfg.uot_rcl.warmup_epochs, cfg.optim.epochs - 1)


def _seed_epoch(seed: int, epoch: int) -> None:
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, 99]).generate_state(1)[0]))


def _lr(cfg: LabelTrainConfig, epoch: int) -> float:
    if cfg.optim.schedule == "cosine":
        return cfg.optim.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.optim.epochs))
    return cfg.optim.lr


def _save(state: dict[str, Any], path: Path) -> None:
    save_checkpoint(state, path)


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise RunDirError(f"{path}: no checkpoint to resume from")
    state = load_checkpoint(path, keys=("version", "epoch", "config"))
    if state.get("version") != CHECKPOINT_VERSION:
        raise RunDirError(f"{path}: checkpoint version {state.get('version')} != {CHECKPOINT_VERSION}")
    return state


def _write_data_artifacts(writer: RunWriter, data: LabelData) -> None:
    save_npy_atomic(data.noise.labels, writer.artifact("noisy_labels.npy"))
    rows = data.train_rows if data.train_rows is not None else np.arange(len(data.train))
    writer.write_arrays("label_split.npz", train_rows=rows, clean=data.noise.clean,
                        mapping=data.noise.mapping)


def _finish_labels(writer: RunWriter | None, data: LabelData, train_labels: np.ndarray | None) -> dict[str, Any]:
    """Confusions of the final training labels; writes ``label_confusion.npz``; returns summary figures."""
    truth, noisy = data.train.labels, data.noisy_train[:, 0]
    noisy_conf = confusion_matrix(truth, noisy, data.n_classes)
    out: dict[str, Any] = {"noisy_accuracy": float((noisy == truth).mean())}
    arrays: dict[str, Any] = {"noisy_confusion": noisy_conf, "class_names": np.array(data.class_names)}
    if train_labels is not None:
        arrays["confusion"] = confusion_matrix(truth, train_labels, data.n_classes)
        out["correction_accuracy"] = float((train_labels == truth).mean())
    if writer is not None and "confusion" in arrays:
        writer.write_arrays("label_confusion.npz", **arrays)
        save_npy_atomic(np.asarray(train_labels, dtype=np.int64), writer.artifact(TRAIN_LABELS_ARTIFACT))
    return out


def run_labels(cfg: LabelTrainConfig | None, *, run_root: str | Path = "runs", run_dir: str | Path | None = None,
               preset: str | None = None, variant: str | None = None, callbacks: Sequence[Callback] = (),
               resume: bool = False, write: bool = True) -> LabelRunResult:
    """Train and test one configuration; see the module docstring.

    Args:
        cfg: the configuration (None when resuming: the checkpoint's is used).
        run_root: directory under which a new run directory is created (ignored if ``run_dir`` is given).
        run_dir: the run directory to create (or to resume, with ``resume=True``).
        preset: the preset name the config came from (recorded in run.json).
        variant: a name for the table and the dashboard (e.g. ``uot_rcl-no_ra``); default the method.
        callbacks: progress / logging hooks.
        resume: continue ``run_dir`` from its ``checkpoints/last.pt`` (the checkpoint's config is used).
        write: write a run directory (False: results are only returned).
    """
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run directory to continue")
        ckpt = _load(Path(run_dir) / "checkpoints" / "last.pt")
        cfg = LabelTrainConfig.from_dict(ckpt["config"])
    elif cfg is None:
        raise ConfigError("run_labels needs a configuration (or resume=True with a run directory)")
    else:
        ckpt = None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.log.tensorboard and write:
        from workbench.tensorboard_log import TensorBoardLogger

        callbacks = [*callbacks, TensorBoardLogger()]
    hooks = CallbackList(callbacks)
    data = load_label_data(cfg.data, cfg.noise_seed)
    writer: RunWriter | None = None
    if write:
        if resume:
            kept, _ = metrics_for_resume(Path(run_dir), int(ckpt["epoch"]) + 1)  # type: ignore[arg-type,index]
            writer = RunWriter.reopen(Path(run_dir))  # type: ignore[arg-type]
            writer.replace_metrics(kept)
        else:
            target = Path(run_dir) if run_dir else Path(run_root) / new_run_id(
                cfg.method, label_run_summary(cfg)["dataset"], cfg.data.noise, f"r{cfg.data.rate:g}", f"s{cfg.seed}")
            summary = {**label_run_summary(cfg), "variant": variant or cfg.method}
            writer = RunWriter.create(target, config=cfg.to_dict(), summary=summary, preset=preset,
                                      versions={**describe_environment(), "torch": torch.__version__})
            _write_data_artifacts(writer, data)
    try:
        t0 = time.perf_counter()
        if cfg.method == "cca":
            results = _run_cca(cfg, data, writer, hooks)
        else:
            results = _train(cfg, data, writer, hooks, ckpt)
        results["wall_time_s"] = time.perf_counter() - t0
        if writer is not None:
            writer.write_results(results)
            writer.update(timings={"total": results["wall_time_s"]}, best_val_map=results.get("best_val_map"))
    except BaseException as exc:
        if writer is not None:
            writer.finish("failed", exc)
        raise
    if writer is not None:
        writer.finish("done")
    result = LabelRunResult(writer.dir if writer else None, results, read_metrics(writer.dir) if writer else [])
    hooks.on_run_end(result)
    return result


def _run_cca(cfg: LabelTrainConfig, data: LabelData, writer: RunWriter | None, hooks: CallbackList) -> dict[str, Any]:
    hooks.on_run_start({"epochs": 1, "run_dir": writer.dir if writer else None})
    t0 = time.perf_counter()
    fit = fit_cca(data.train.image, data.train.text, cfg.cca.components, cfg.cca.reg)
    val = _map(*fit.transform(data.val.image, data.val.text), data.noisy_val[:, 0], data.noisy_val[:, 1])
    m = _map(*fit.transform(data.test.image, data.test.text), data.test.labels, data.test.labels)
    test = {"i2t": m["i2t_map"], "t2i": m["t2i_map"], "avg": m["avg_map"]}
    label = _finish_labels(writer, data, None)
    record = {"epoch": 0, "phase": "fit", "lr": None, "losses": {}, "steps": 0, "val": val, "split": None,
              "rematch": None, "label": None, "time_s": {"train": time.perf_counter() - t0, "eval": 0.0,
                                                          "total": time.perf_counter() - t0}}
    if writer is not None:
        writer.log_epoch(record)
    hooks.on_epoch_end(record)
    return {"map": {"best": test, "last": test}, "best_epoch": 0, "best_val_map": val["avg_map"], "last_epoch": 0,
            "val_at_best": val, "label": label, "canonical_correlations": fit.correlations.tolist()}


def _train(cfg: LabelTrainConfig, data: LabelData, writer: RunWriter | None, hooks: CallbackList,
           ckpt: dict[str, Any] | None) -> dict[str, Any]:
    device = torch.device("cpu")
    torch.manual_seed(cfg.seed)
    m = cfg.model
    model = CrossModalNet(data.train.image.shape[1], data.train.text.shape[1], data.n_classes, hidden=m.hidden,
                          embed_dim=m.embed_dim, layers=m.layers, batch_norm=m.batch_norm, dropout=m.dropout,
                          classifier=m.classifier, tau=m.tau).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, 0.999),
                                 weight_decay=cfg.optim.weight_decay)
    tensors = TrainTensors(data, device, labels=ceiling_labels(cfg, data))
    method = build_label_method(cfg, tensors)
    val_x = (torch.as_tensor(data.val.image), torch.as_tensor(data.val.text))
    best: dict[str, Any] = {"map": -math.inf, "epoch": None, "val": None}
    best_state: dict[str, Any] | None = None
    start = 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        method.load_state_dict(ckpt["method"])
        best, start = ckpt["best"], int(ckpt["epoch"]) + 1
        if writer is not None and writer.checkpoint("best.pt").exists():
            best_state = load_checkpoint(writer.checkpoint("best.pt"), keys=("model",))["model"]
    truth = data.train.labels
    noisy_accuracy = float((data.noisy_train[:, 0] == truth).mean())
    epochs = cfg.optim.epochs
    hooks.on_run_start({"epochs": epochs, "run_dir": writer.dir if writer else None})
    for epoch in range(start, epochs):
        _seed_epoch(cfg.seed, epoch)
        lr = _lr(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        warm = cfg.method == "uot_rcl" and epoch < cfg.uot_rcl.warmup_epochs
        phase = "warmup" if warm else "train"
        hooks.on_epoch_start(epoch, epochs, phase)
        t0 = time.perf_counter()
        label = method.begin_epoch(model, epoch)
        t_correct = time.perf_counter() - t0
        current = method.train_labels()
        label.update(correction_accuracy=float((current == truth).mean()), noisy_accuracy=noisy_accuracy)
        if cfg.method == "uot_rcl" and not warm and cfg.uot_rcl.correction:
            selected, fixed = method.selected_labels()  # type: ignore[attr-defined]
            label["selected_accuracy"] = float((fixed[selected] == truth[selected]).mean()) if selected.any() else None
        losses, steps = _epoch_steps(cfg, model, optimizer, method, tensors, epoch, hooks)
        t_train = time.perf_counter() - t0 - t_correct
        t1 = time.perf_counter()
        out = model.embed(*val_x)
        val = _map(out.z_img, out.z_txt, data.noisy_val[:, 0], data.noisy_val[:, 1])
        train_out = model.embed(tensors.image, tensors.text)
        probs = 0.5 * (train_out.logits_img.softmax(1) + train_out.logits_txt.softmax(1))  # [N, C]
        predicted = probs.argmax(1).numpy()
        label["predicted_accuracy"] = float((predicted == truth).mean())
        # how far the classifier is from uniform (1 / C): a head whose logits cannot grow in the step
        # budget stays near 1 / C, and then its cross-entropy moves the embedding only weakly
        label["confidence"] = float(probs.max(dim=1).values.mean())
        record: dict[str, Any] = {"epoch": epoch, "phase": phase, "lr": lr, "losses": losses, "steps": steps,
                                  "val": val, "split": None, "rematch": None, "label": label}
        if cfg.log.test_every and ((epoch + 1) % cfg.log.test_every == 0 or epoch == epochs - 1):
            record["test"] = _test_map(model, data, device)
        if _candidate(cfg, epoch) and val["avg_map"] > best["map"]:
            best = {"map": val["avg_map"], "epoch": epoch, "val": val}
            best_state = copy.deepcopy(model.state_dict())
            if writer is not None:
                _save({"version": CHECKPOINT_VERSION, "epoch": epoch, "model": best_state}, writer.checkpoint("best.pt"))
        t_eval = time.perf_counter() - t1
        record["time_s"] = {"correct": t_correct, "train": t_train, "eval": t_eval,
                            "total": time.perf_counter() - t0}
        if writer is not None:
            writer.log_epoch(record)
            every = cfg.log.checkpoint_every
            if every and ((epoch + 1) % every == 0 or epoch == epochs - 1):
                _save({"version": CHECKPOINT_VERSION, "epoch": epoch, "config": cfg.to_dict(),
                       "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "method": method.state_dict(), "best": best}, writer.checkpoint("last.pt"))
        log.info("epoch %d (%s) loss=%.4g val_map=%.4f label_acc=%.3f %.1fs", epoch, phase, losses.get("loss", math.nan),
                 val["avg_map"], label["correction_accuracy"], record["time_s"]["total"])
        hooks.on_epoch_end(record)
    last = _test_map(model, data, device)
    labels = method.train_labels()
    if best_state is not None:
        model.load_state_dict(best_state)
    best_map = _test_map(model, data, device)
    passes = passes_per_epoch(cfg, len(tensors))
    return {"map": {"best": best_map, "last": last}, "best_epoch": best["epoch"], "best_val_map": best["map"],
            "val_at_best": best["val"], "last_epoch": epochs - 1, "label": _finish_labels(writer, data, labels),
            "passes_per_epoch": passes,
            "steps_total": epochs * passes * steps_per_pass(len(tensors), cfg.optim.batch_size)}


def steps_per_pass(n_pairs: int, batch_size: int) -> int:
    """Batches in one pass over ``n_pairs`` (a last batch of a single pair is dropped: BatchNorm needs two)."""
    return sum(1 for s in range(0, n_pairs, batch_size) if n_pairs - s >= 2)


def passes_per_epoch(cfg: LabelTrainConfig, n_pairs: int) -> int:
    r"""Passes over the data in one schedule epoch: ``\max(1, \lceil S_{min} / (E \cdot s) \rceil)``.

    ``S_min`` is ``optim.min_steps``, ``E`` the schedule epochs and ``s`` the steps of one pass, so the run
    takes at least ``S_min`` steps whatever the dataset's size, and a dataset large enough to reach
    ``S_min`` in ``E`` passes keeps one pass per epoch.
    """
    per_pass = max(steps_per_pass(n_pairs, cfg.optim.batch_size), 1)
    return max(1, math.ceil(cfg.optim.min_steps / (cfg.optim.epochs * per_pass)))


def _epoch_steps(cfg: LabelTrainConfig, model: CrossModalNet, optimizer: torch.optim.Optimizer,
                 method: LabelMethod, tensors: TrainTensors, epoch: int,
                 hooks: CallbackList) -> tuple[dict[str, float], int]:
    """The passes of one schedule epoch (:func:`passes_per_epoch`) over the training pairs, each in a seeded
    order; returns the mean of each loss term and the steps."""
    size, n = cfg.optim.batch_size, len(tensors)
    batches = []
    for p in range(passes_per_epoch(cfg, n)):
        key = [cfg.seed, epoch, 1] if p == 0 else [cfg.seed, epoch, 1, p]
        order = np.random.default_rng(np.random.SeedSequence(key)).permutation(n)
        batches += [order[s:s + size] for s in range(0, n, size) if n - s >= 2]
    sums: dict[str, float] = {}
    model.train()
    step_hook = hooks.step_hook(epoch)
    for step, rows_np in enumerate(batches):
        rows = torch.as_tensor(rows_np)
        out = model(tensors.image[rows], tensors.text[rows])
        terms = method.batch_loss(out, rows, epoch)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        values = {k: float(v.detach()) for k, v in terms.items()}
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        if step_hook is not None:
            step_hook(step, len(batches), values)
    return {k: v / max(len(batches), 1) for k, v in sums.items()}, len(batches)
