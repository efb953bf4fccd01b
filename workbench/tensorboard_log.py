"""TensorBoard event files of a run: scalars, cost histograms and alignment heatmaps, per epoch.

What is written, at step = the epoch (0-based, warm-up included), under ``<run dir>/tensorboard/``:

* **scalars**: every numeric leaf of the epoch's ``metrics.jsonl`` record, tagged by its path —
  ``losses/<name>_loss`` and ``losses/loss``, ``val/rsum`` (``val/avg_map`` on the label track),
  ``split/precision``, ``split/recall``, ``split/auc``, ``rematch/<key>``, ``label/<key>``, ``lr``,
  ``time_s/total``, method extras; booleans as 0/1. Sections are walked generically, so keys a method adds
  later are written too. At the last epoch, the test metrics of ``results.json`` (``test/<key>``;
  ``test/map/best/avg`` ... on the label track).
* **histograms** (L2RM, from ``artifacts/cost_by_epoch.parquet``): the learned transport cost of each
  training pair, ``cost/matched`` and ``cost/mismatched`` by the truth (when known), ``cost/est_clean`` and
  ``cost/est_noisy`` by the method's own split.
* **images** (L2RM, from ``artifacts/alignments/epoch_XXX.npz``): the saved batch's cost ``[n, m]`` and
  partial plan ``[n, m]`` as heatmaps (rows images, columns captions; viridis, disallowed cells grey),
  ``alignment/cost`` and ``alignment/plan``.

:class:`TensorBoardLogger` writes them during training (``--set log.tensorboard=true``);
:func:`export_run` writes the same from a finished run directory. The writer is ``tensorboardX`` (the
``tensorboard`` extra); TensorBoard itself (``pip install tensorboard``) only views the files.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workbench.callbacks import Callback
from workbench.errors import ConfigError, RunDirError

__all__ = ["TB_DIR", "scalar_items", "cost_groups", "heatmap", "EventLog", "TensorBoardLogger",
           "export_run"]

TB_DIR = "tensorboard"
_SKIP = ("epoch", "phase")
# viridis at 9 evenly spaced stops (matplotlib's table), interpolated linearly in between
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], dtype=np.float64)
_GREY = np.array([200, 200, 200], dtype=np.uint8)


def _require_writer() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ConfigError("log.tensorboard=true needs tensorboardX: pip install "
                          "'ot-rematch-workbench[tensorboard]'") from None
    return SummaryWriter


def scalar_items(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(tag, value)`` for every finite numeric leaf of ``record`` (nested mappings joined with ``/``).

    Top-level ``epoch`` and ``phase`` are skipped (the step is the epoch); strings, lists and ``None`` are
    not scalars; booleans become 0.0 / 1.0.
    """
    for key, value in record.items():
        if not prefix and key in _SKIP:
            continue
        tag = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from scalar_items(value, f"{tag}/")
        elif isinstance(value, (bool, int, float, np.integer, np.floating)) and math.isfinite(float(value)):
            yield tag, float(value)


def cost_groups(costs: Any) -> dict[str, np.ndarray]:
    """The learned costs of one epoch's pairs by group (``cost_by_epoch.parquet`` rows of that epoch).

    Returns ``{"matched", "mismatched"}`` (truth; absent where it is unknown) and ``{"est_clean",
    "est_noisy"}`` (the method's split), each a float array; empty groups are left out.
    """
    cost = costs["cost"].to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(cost)
    out: dict[str, np.ndarray] = {}
    truth = costs["true_matched"]
    if truth.notna().all():
        matched = truth.to_numpy(dtype=bool)
        out["matched"], out["mismatched"] = cost[finite & matched], cost[finite & ~matched]
    est = costs["est_clean"].to_numpy(dtype=bool)
    out["est_clean"], out["est_noisy"] = cost[finite & est], cost[finite & ~est]
    return {k: v for k, v in out.items() if v.size}


def heatmap(values: np.ndarray, mask: np.ndarray | None = None, *, min_size: int = 256) -> np.ndarray:
    """A ``[n, m]`` matrix as an RGB image ``[H, W, 3]`` uint8: viridis over the finite values' range,
    cells where ``mask`` is False grey, each cell enlarged to ``k x k`` pixels so the image is at least
    ``min_size`` on its long side."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or not values.size:
        raise ValueError(f"heatmap needs a non-empty 2-D matrix, got shape {values.shape}")
    allowed = np.isfinite(values) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(values))
    shown = values[allowed]
    lo, hi = (float(shown.min()), float(shown.max())) if shown.size else (0.0, 1.0)
    t = np.clip((values - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(values)
    t = np.where(allowed, t, 0.0) * (len(_VIRIDIS) - 1)
    low = np.floor(t).astype(int).clip(0, len(_VIRIDIS) - 2)
    frac = (t - low)[..., None]
    rgb = (_VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac).round().astype(np.uint8)
    rgb[~allowed] = _GREY
    k = max(1, math.ceil(min_size / max(values.shape)))
    return np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)


class EventLog:
    """One run's event files: writes an epoch's scalars, histograms and heatmaps from its run directory."""

    def __init__(self, logdir: Path, *, purge_step: int | None = None) -> None:
        writer_cls = _require_writer()
        self.logdir = Path(logdir)
        self._writer = writer_cls(logdir=str(self.logdir), purge_step=purge_step, flush_secs=30)

    def epoch(self, record: Mapping[str, Any], run_dir: Path | None) -> None:
        """Everything of epoch ``record["epoch"]``; artefacts are read from ``run_dir`` when given."""
        step = int(record["epoch"])
        for tag, value in scalar_items(record):
            self._writer.add_scalar(tag, value, step)
        if run_dir is not None:
            self._artefacts(Path(run_dir), step)
        self._writer.flush()

    def results(self, results: Mapping[str, Any], step: int) -> None:
        """The test metrics of ``results.json`` at ``step`` (the last epoch)."""
        for section in ("test", "map"):
            if isinstance(results.get(section), Mapping):
                prefix = "test/" if section == "test" else "test/map/"
                for tag, value in scalar_items(results[section], prefix):
                    self._writer.add_scalar(tag, value, step)
        self._writer.flush()

    def _artefacts(self, run_dir: Path, step: int) -> None:
        costs_path = run_dir / "artifacts" / "cost_by_epoch.parquet"
        if costs_path.is_file():
            import pandas as pd

            try:
                costs = pd.read_parquet(costs_path, filters=[("epoch", "==", step)])
            except Exception as exc:  # pyarrow raises several types for damaged files
                raise RunDirError(f"{costs_path}: unreadable parquet ({exc})") from None
            for group, values in cost_groups(costs).items():
                self._writer.add_histogram(f"cost/{group}", values, step, bins="auto")
        batch_path = run_dir / "artifacts" / "alignments" / f"epoch_{step:03d}.npz"
        if batch_path.is_file():
            try:
                with np.load(batch_path, allow_pickle=False) as batch:
                    cost, plan = batch["cost"], batch["plan"]
                    mask = batch["mask"] if "mask" in batch.files else None
            except Exception as exc:
                raise RunDirError(f"{batch_path}: unreadable ({exc})") from None
            self._writer.add_image("alignment/cost", heatmap(cost, mask), step, dataformats="HWC")
            self._writer.add_image("alignment/plan", heatmap(plan, mask), step, dataformats="HWC")

    def close(self) -> None:
        self._writer.close()


class TensorBoardLogger(Callback):
    """Writes ``<run dir>/tensorboard/`` while a run trains (enabled by ``log.tensorboard=true``).

    A resumed run continues the same files; events after the resumed epoch are purged (TensorBoard hides
    the replaced steps).
    """

    def __init__(self) -> None:
        _require_writer()  # fail before training, not after the first epoch
        self._log: EventLog | None = None
        self._run_dir: Path | None = None

    def on_run_start(self, info: dict[str, Any]) -> None:
        run_dir = info.get("run_dir")
        if run_dir is None:
            return
        from workbench.runs import read_metrics

        self._run_dir = Path(run_dir)
        done = len(read_metrics(self._run_dir))  # epochs kept from before a resume
        self._log = EventLog(self._run_dir / TB_DIR, purge_step=done or None)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.epoch(record, self._run_dir)

    def on_run_end(self, result: Any) -> None:
        if self._log is None:
            return
        results = getattr(result, "results", None) or {}
        metrics = getattr(result, "metrics", None) or []
        if metrics:
            self._log.results(results, int(metrics[-1]["epoch"]))
        self._log.close()
        self._log = None


def export_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the event files of a finished run from its directory; returns the folder written.

    Args:
        run_dir: a run directory (``run.json``, ``metrics.jsonl``; artefacts when present).
        out: the folder to write (replaced as a whole); default ``<run_dir>/tensorboard``.

    Raises:
        RunDirError: not a run directory, or it has no epoch records.
    """
    from workbench.runs import read_metrics, read_results

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise RunDirError(f"{run_dir} is not a run directory (no run.json)")
    records = read_metrics(run_dir)
    if not records:
        raise RunDirError(f"{run_dir / 'metrics.jsonl'}: no epoch records to export")
    target = Path(out) if out is not None else run_dir / TB_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        log = EventLog(staging)
        try:
            for record in records:
                log.epoch(record, run_dir)
            results = read_results(run_dir)
            if results:
                log.results(results, int(records[-1]["epoch"]))
        finally:
            log.close()
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
