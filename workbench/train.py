"""``run(cfg) -> RunResult``: the one entry point that trains, validates, checkpoints and tests.

Used by the command line (``workbench train``), the notebooks and the tests. One call:

1. resolves the device, seeds, joins the process group when launched by ``torchrun``;
2. loads the data (:func:`workbench.data.dataset.load_retrieval_data`) and builds the method;
3. runs ``warmup_epochs + epochs`` epochs; the learning rate decays x0.1 every ``lr_update`` epochs after the
   warm-up; after each epoch it validates (rSum on the first ``val_images`` validation images), keeps the
   best checkpoint, writes ``last.pt`` (everything needed to resume) and appends the epoch's record to
   ``metrics.jsonl``;
4. tests the best-on-validation models and writes ``results.json``.

Determinism: the data order and every random draw of epoch ``e`` come from ``(seed, e)``; the global torch
generator (dropout) is re-seeded from ``(seed, e)`` at each epoch start. Resuming from ``last.pt`` at an epoch
boundary therefore replays the remaining epochs exactly (``tests/test_resume.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench import distributed
from workbench.callbacks import Callback, CallbackList
from workbench.checkpoints import load_checkpoint, save_checkpoint
from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData, load_retrieval_data
from workbench.data.fingerprint import absolute_data_paths, compare_fingerprints, data_fingerprint
from workbench.data.noise import save_noise_index
from workbench.errors import ConfigError, RunDirError
from workbench.methods import build_method
from workbench.methods.base import EpochContext, EpochStats, Method
from workbench.precision import check_tf32, matmul_precision
from workbench.runlock import RunLock
from workbench.runs import (
    RunResult,
    RunWriter,
    describe_environment,
    metrics_for_resume,
    new_run_id,
    read_metrics,
    read_run_info,
)
from workbench.scoring import evaluate
from workbench.warmup_check import check_warmup

__all__ = ["RunResult", "run", "resume_config", "RESUME_OVERRIDABLE", "resolve_device", "run_summary", "evaluate_method", "check_new_run_dir",
           "check_fits_data"]

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    return torch.device(name)


def run_summary(cfg: TrainConfig, data: RetrievalData | None = None) -> dict[str, Any]:
    """The run.json fields the dashboard lists (``mrate``: the realised mismatch rate when data is given)."""
    is_l2rm = cfg.method == "l2rm"
    mrate = cfg.data.mrate
    if data is not None and data.train.truth_known:
        mrate = round(float(1 - data.train.true_matched.mean()), 4)
    return {
        "track": "retrieval",
        "dataset": cfg.data.dataset if cfg.data.dataset != "synthetic" else f"synthetic-{cfg.data.size}",
        "method": cfg.method,
        "backbone": cfg.model.backbone,
        "mrate": mrate,
        "rho": cfg.l2rm.rho if is_l2rm else None,
        "lam": cfg.l2rm.lam if is_l2rm else None,
        "batch_size": cfg.optim.batch_size,
        "seed": cfg.seed,
    }


def _versions() -> dict[str, str]:
    return {**describe_environment(), "torch": torch.__version__}


def _lr_scale(cfg: TrainConfig, epoch: int) -> float:
    main = epoch - cfg.optim.warmup_epochs
    return 1.0 if main < 0 else 0.1 ** (main // cfg.optim.lr_update)


def _seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    """Seed the global torch generator (dropout) from (seed, epoch, rank): replayable, distinct per process."""
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, 99, rank]).generate_state(1)[0]))


@torch.no_grad()
def evaluate_method(method: Method, data: RetrievalData, split: str, cfg: TrainConfig,
                    device: torch.device) -> dict[str, Any]:
    """Metrics (as dicts) of the method's evaluation models on ``split`` ("val" or "test")."""
    target = data.val if split == "val" else data.test
    out = evaluate(method.eval_models(), target, split, cfg, device)
    for model in method.models:
        model.train()
    return {key: metrics.as_dict() for key, metrics in out.items()}


def _checkpoint_state(method: Method, epoch: int, best: dict[str, Any], cfg: TrainConfig,
                      records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": CHECKPOINT_VERSION,
        "epoch": epoch,  # last completed epoch
        "method": method.state_dict(),
        "best": best,
        # every epoch re-seeds its generators from (seed, epoch, rank), so these only complete the record
        "torch_rng": torch.get_rng_state(),
        "config": cfg.to_dict(),
        "metrics": records,  # a copy of metrics.jsonl up to `epoch`: a deleted file is rebuilt on resume
    }


def _load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise RunDirError(f"{path}: no checkpoint to resume from: the run stopped before its first epoch "
                          f"ended; start it again with `workbench train --restart {path.parent.parent}`")
    state = load_checkpoint(path, keys=("version", "epoch", "method", "best", "config"))
    if state.get("version") != CHECKPOINT_VERSION:
        raise RunDirError(f"{path}: checkpoint version {state.get('version')} != {CHECKPOINT_VERSION}")
    return state


def _save(state: dict[str, Any], path: Path) -> None:
    save_checkpoint(state, path)


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse, before any work, a run directory that is a file or lies where nothing can be written."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} is a file, not a directory")
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirError(f"cannot create the run directory {run_dir}: {existing} is a file, not a directory")
    try:  # a real probe: permissions alone do not tell (root, read-only mounts, /proc)
        os.rmdir(tempfile.mkdtemp(prefix=".workbench-probe-", dir=existing))
    except OSError as exc:
        raise RunDirError(f"cannot create the run directory {run_dir}: {existing} is not writable "
                          f"({exc.strerror or exc})") from None


def check_fits_data(cfg: TrainConfig, data: RetrievalData) -> None:
    """Refuse settings that would train nothing on this data: a batch larger than the training set
    (every epoch drops its only, incomplete batch)."""
    if cfg.optim.batch_size > data.train.n_pairs:
        raise ConfigError(f"optim.batch_size={cfg.optim.batch_size} exceeds the {data.train.n_pairs} training "
                          "pairs: every epoch would drop its only, incomplete batch and train nothing")


def _compare_data(run_dir: Path, saved: Any, current: dict[str, Any]) -> None:
    if not isinstance(saved, dict):
        log.warning("%s: run.json has no data fingerprint (an older run); the data cannot be checked", run_dir)
        return
    differences = compare_fingerprints(saved, current)
    if differences:
        raise RunDirError(f"{run_dir}: resume refused: the data differ from those the run trained on ("
                          + "; ".join(differences) + ")")


#: Settings a resumed run may change: where and how fast it computes, never what it computes.
RESUME_OVERRIDABLE = ("device", "threads")


def resume_config(state: Mapping[str, Any], overrides: Mapping[str, Any] | Sequence[str] = ()) -> TrainConfig:
    """The configuration saved in a checkpoint ``state``, with ``device`` / ``threads`` overridden if asked.

    Raises:
        ConfigError: an override of any other setting (a resumed run continues with its own configuration).
    """
    items = dict(overrides) if isinstance(overrides, Mapping) else dict(o.split("=", 1) if "=" in o else (o, "")
                                                                         for o in overrides)
    other = sorted(k for k in items if k not in RESUME_OVERRIDABLE)
    if other:
        raise ConfigError(f"a resumed run keeps its own configuration; only {', '.join(RESUME_OVERRIDABLE)} may be "
                          f"set on resume, not {', '.join(other)}")
    return TrainConfig.from_dict(state["config"]).override(items)


def run(cfg: TrainConfig, *, run_root: str | Path = "runs", run_dir: str | Path | None = None,
        preset: str | None = None, callbacks: Sequence[Callback] = (), resume: bool = False,
        write: bool = True, overwrite: bool = False,
        resume_overrides: Mapping[str, Any] | Sequence[str] = ()) -> RunResult:
    """Train and test one configuration; see the module docstring.

    A new run records its configuration with absolute data paths and a fingerprint of the data
    (:mod:`workbench.data.fingerprint`); resuming takes the run directory's lock first (a second writer
    is refused), refuses data that differ from the fingerprint, and rebuilds ``metrics.jsonl`` from the
    checkpoint's copy when epochs are missing from it (a warning says so).

    Args:
        cfg: the configuration.
        run_root: directory under which a new run directory is created (ignored if ``run_dir`` is given).
        run_dir: the run directory to write (or to resume, with ``resume=True``).
        preset: the preset name the config came from (recorded in run.json).
        callbacks: progress / logging hooks (:class:`workbench.callbacks.Callback`).
        resume: continue ``run_dir`` from its ``checkpoints/last.pt``.
        write: write a run directory (False: metrics are only returned; used by quick experiments).
        overwrite: replace a run already in ``run_dir`` (otherwise that is an error); a run that another
            live process writes is refused either way.
        resume_overrides: with ``resume``, new ``device`` / ``threads`` (``"device=cuda"`` items or a mapping);
            otherwise a resumed run computes where its checkpoint's configuration says (``cfg`` is ignored).
    """
    if resume:  # the checkpoint's device and threads, not the placeholder cfg's (read again under the lock)
        if run_dir is None:
            raise ConfigError("resume=True needs the run directory to continue")
        if not Path(run_dir).is_dir():
            raise RunDirError(f"{run_dir}: no run directory to resume")
        cfg = resume_config(_load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt"), resume_overrides)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    check_tf32(cfg.tf32, device)  # before a run directory exists
    info, device = distributed.init_distributed(device)
    if resume and run_dir is None:
        raise ConfigError("resume=True needs the run directory to continue")
    writes = write and info.is_main
    start_epoch, best = 0, {"rsum": -np.inf, "epoch": None, "val": None}
    writer: RunWriter | None = None
    ckpt_state: dict[str, Any] | None = None
    lock: RunLock | None = None
    if resume:
        run_dir = Path(run_dir)  # type: ignore[arg-type]
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: no run directory to resume")
        if writes:
            lock = RunLock.acquire(run_dir)  # before reading anything: a second writer stops here
    else:
        cfg = dataclasses.replace(cfg, data=absolute_data_paths(cfg.data))
        if writes:
            run_dir = Path(run_dir) if run_dir else Path(run_root) / new_run_id(
                cfg.method, cfg.model.backbone, run_summary(cfg)["dataset"], f"m{cfg.data.mrate:g}",
                f"s{cfg.seed}")
            check_new_run_dir(run_dir)
    try:
        if resume:
            assert run_dir is not None
            ckpt_state = _load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt")
            cfg = resume_config(ckpt_state, resume_overrides)
            start_epoch, best = ckpt_state["epoch"] + 1, ckpt_state["best"]
        if info.enabled and cfg.optim.batch_size % info.world:
            raise ConfigError(f"optim.batch_size={cfg.optim.batch_size} must be divisible by the {info.world} "
                              "processes")
        if not info.is_main:  # let the main process generate or verify the data first
            distributed.barrier()
        data = load_retrieval_data(cfg.data)
        if info.is_main:
            distributed.barrier()
        check_fits_data(cfg, data)
        fingerprint = data_fingerprint(cfg.data, data.directory) if writes else None
        if resume and writes:
            _compare_data(Path(run_dir), read_run_info(Path(run_dir)).get("data_fingerprint"),  # type: ignore[arg-type]
                          fingerprint)  # type: ignore[arg-type]
        torch.manual_seed(cfg.seed)  # model initialisation
        method = build_method(cfg, data, device)
        if writes:
            assert run_dir is not None
            if resume:
                assert ckpt_state is not None
                # decided (or refused) before run.json is touched
                kept, note = metrics_for_resume(Path(run_dir), start_epoch, ckpt_state.get("metrics"))
                writer = RunWriter.reopen(Path(run_dir), lock=lock)
                writer.replace_metrics(kept)
                if note:
                    log.warning("%s", note)
            else:
                writer = RunWriter.create(Path(run_dir), config=cfg.to_dict(),
                                          summary={**run_summary(cfg, data), "data_fingerprint": fingerprint},
                                          preset=preset, versions=_versions(), overwrite=overwrite)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    if cfg.log.tensorboard and writes:  # after a resume, the checkpoint's config decides
        from workbench.tensorboard_log import TensorBoardLogger

        callbacks = [*callbacks, TensorBoardLogger()]
    hooks = CallbackList(callbacks if info.is_main else ())
    try:
        if writer is not None and ckpt_state is None and data.noise is not None:
            save_noise_index(data.noise, writer.artifact("noise_index.npy"))
        if ckpt_state is not None:
            method.load_state_dict(ckpt_state["method"])
            torch.set_rng_state(ckpt_state["torch_rng"])
        with matmul_precision(cfg.tf32, device):
            result = _train(cfg, data, method, device, writer, hooks, start_epoch, best)
    except BaseException as exc:
        if writer is not None:
            writer.finish("failed", exc)
        raise
    if writer is not None:
        writer.finish("done")
    hooks.on_run_end(result)
    return result


def _train(cfg: TrainConfig, data: RetrievalData, method: Method, device: torch.device,
           writer: RunWriter | None, hooks: CallbackList, start_epoch: int, best: dict[str, Any]) -> RunResult:
    total_epochs = cfg.optim.warmup_epochs + cfg.optim.epochs
    t_run = time.perf_counter()
    hooks.on_run_start({"epochs": total_epochs, "run_dir": writer.dir if writer else None})
    first_warmup_loss: float | None = None  # epoch 0's loss; read back from metrics.jsonl after a resume
    for epoch in range(start_epoch, total_epochs):
        _seed_epoch(cfg.seed, epoch, distributed.current().rank)
        phase = "warmup" if epoch < cfg.optim.warmup_epochs else "train"
        ctx = EpochContext(epoch=epoch, phase=phase, main_epoch=epoch - cfg.optim.warmup_epochs,
                           lr_scale=_lr_scale(cfg, epoch), data=data, device=device,
                           on_step=hooks.step_hook(epoch), artifacts=writer)
        hooks.on_epoch_start(epoch, total_epochs, phase)
        t0 = time.perf_counter()
        stats: EpochStats = method.train_epoch(ctx)
        t_train = time.perf_counter() - t0
        record: dict[str, Any] = {"epoch": epoch, "phase": phase, "lr": cfg.optim.lr * ctx.lr_scale,
                                  "losses": stats.losses, "steps": stats.steps, "split": stats.split,
                                  "rematch": stats.rematch, **stats.extra}
        if phase == "warmup" and epoch == cfg.optim.warmup_epochs - 1 and epoch > 0:
            _record_warmup_check(record, writer, first_warmup_loss)
        elif phase == "warmup" and epoch == 0:
            first_warmup_loss = stats.losses.get("loss")
        if stats.failure is not None:  # record the epoch (its counts say why), then stop the run
            record["time_s"] = {"train": t_train, "eval": 0.0, "total": time.perf_counter() - t0}
            if writer is not None:
                writer.log_epoch(record)
            raise stats.failure
        last = epoch == total_epochs - 1
        if (epoch + 1) % cfg.optim.eval_every == 0 or last:
            t1 = time.perf_counter()
            val = evaluate_method(method, data, "val", cfg, device)["all"]
            record["val"] = {k: val[k] for k in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum")}
            t_eval = time.perf_counter() - t1
            if val["rsum"] > best["rsum"]:
                best = {"rsum": val["rsum"], "epoch": epoch, "val": record["val"]}
                if writer is not None:
                    _save({"version": CHECKPOINT_VERSION, "epoch": epoch, "config": cfg.to_dict(),
                           "models": [m.state_dict() for m in method.eval_models()]},
                          writer.checkpoint("best.pt"))
        else:
            t_eval = 0.0
        record["time_s"] = {"train": t_train, "eval": t_eval, "total": time.perf_counter() - t0}
        if writer is not None:
            writer.log_epoch(record)
            if (epoch + 1) % cfg.log.checkpoint_every == 0 or last:
                _save(_checkpoint_state(method, epoch, best, cfg, read_metrics(writer.dir)),
                      writer.checkpoint("last.pt"))
        log.info(_summary_line(record))
        hooks.on_epoch_end(record)
    results = _test(cfg, data, method, device, writer, best)
    results["wall_time_s"] = time.perf_counter() - t_run
    if writer is not None:
        writer.write_results(results)
        writer.update(timings={"total": results["wall_time_s"]}, best_rsum=best["rsum"])
    metrics = read_metrics(writer.dir) if writer is not None else []
    return RunResult(writer.dir if writer else None, results, metrics)


def _record_warmup_check(record: dict[str, Any], writer: RunWriter | None, first_loss: float | None) -> None:
    """Add ``warmup_check`` to the last warm-up epoch's record and warn when the warm-up stalled."""
    if first_loss is None and writer is not None:
        first = [m for m in read_metrics(writer.dir) if m.get("epoch") == 0]
        first_loss = (first[0].get("losses") or {}).get("loss") if first else None
    last_loss = record["losses"].get("loss")
    if first_loss is None or last_loss is None:
        return
    check = check_warmup(first_loss, last_loss)
    record["warmup_check"] = check.as_record()
    if check.stalled:
        log.warning("the warm-up loss fell by %.1f %% (%.4g -> %.4g) over %d epochs: it ended on its initial "
                    "value, so the split that follows is fit on an untrained model; warm up longer "
                    "(optim.warmup_epochs)", 100 * check.drop, check.first_loss, check.last_loss,
                    record["epoch"] + 1)


def _test(cfg: TrainConfig, data: RetrievalData, method: Method, device: torch.device,
          writer: RunWriter | None, best: dict[str, Any]) -> dict[str, Any]:
    """Test the best-on-validation models (the last ones if no checkpoint was written)."""
    if writer is not None and (writer.checkpoint("best.pt")).exists():
        state = load_checkpoint(writer.checkpoint("best.pt"), keys=("models",))
        for model, sd in zip(method.eval_models(), state["models"], strict=True):
            model.load_state_dict(sd)
    metrics = evaluate_method(method, data, "test", cfg, device)
    results: dict[str, Any] = {"test": metrics["all"], "best_epoch": best["epoch"],
                               "best_val_rsum": best["rsum"], "val_at_best": best["val"],
                               "last_epoch": cfg.optim.warmup_epochs + cfg.optim.epochs - 1}
    if "5fold" in metrics:
        results["test_5fold"], results["test_5k"] = metrics["5fold"], metrics["5k"]
    return results


def _summary_line(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']} ({record['phase']})"]
    parts += [f"{k}={v:.4g}" for k, v in record["losses"].items()]
    if record.get("split"):
        s = record["split"]
        parts.append(f"clean={s['clean_fraction']:.2f}" + (f" auc={s['auc']:.3f}" if "auc" in s else ""))
    if record.get("val"):
        parts.append(f"val_rsum={record['val']['rsum']:.1f}")
    parts.append(f"{record['time_s']['total']:.1f}s")
    return " ".join(parts)
