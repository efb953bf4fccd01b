"""Hooks the trainer calls: progress bars, logging, early stopping live outside the library's loop.

Subclass :class:`Callback` and override what you need. :class:`TqdmProgress` is the terminal progress bar
the command line uses (one bar per epoch, disabled where output is not a terminal); notebooks use
:class:`EpochPrinter`, which prints one summary line per epoch and nothing per batch (per-batch output
bloats executed notebooks).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Callback", "CallbackList", "TqdmProgress", "EpochPrinter"]


class Callback:
    """No-op hooks; override any of them."""

    def on_run_start(self, info: dict[str, Any]) -> None:
        """Before the first epoch: ``{"epochs": total, "run_dir": path | None}``."""

    def on_epoch_start(self, epoch: int, total_epochs: int, phase: str) -> None:
        """Before an epoch."""

    def on_step(self, epoch: int, step: int, n_steps: int, losses: dict[str, float]) -> None:
        """After an optimiser step."""

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """After an epoch, with its ``metrics.jsonl`` record."""

    def on_run_end(self, result: Any) -> None:
        """After the test evaluation, with the :class:`~workbench.train.RunResult`."""


class CallbackList(Callback):
    """Fans every hook out to several callbacks."""

    def __init__(self, callbacks: Sequence[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_run_start(self, info: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_run_start(info)

    def on_epoch_start(self, epoch: int, total_epochs: int, phase: str) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(epoch, total_epochs, phase)

    def on_step(self, epoch: int, step: int, n_steps: int, losses: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_step(epoch, step, n_steps, losses)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(record)

    def on_run_end(self, result: Any) -> None:
        for cb in self.callbacks:
            cb.on_run_end(result)

    def step_hook(self, epoch: int) -> Callable[[int, int, dict[str, float]], None] | None:
        """A per-step function for the method, or None when no callback listens."""
        if not self.callbacks:
            return None
        return lambda step, n, losses: self.on_step(epoch, step, n, losses)


class TqdmProgress(Callback):
    """A terminal progress bar per epoch (``disable=None``: silent when stderr is not a terminal)."""

    def __init__(self, disable: bool | None = None) -> None:
        self.disable = disable
        self._bar: Any = None
        self._desc = ""

    def on_epoch_start(self, epoch: int, total_epochs: int, phase: str) -> None:
        self._desc = f"epoch {epoch + 1}/{total_epochs} {phase}"

    def on_step(self, epoch: int, step: int, n_steps: int, losses: dict[str, float]) -> None:
        from tqdm.auto import tqdm

        if self._bar is None:
            self._bar = tqdm(total=n_steps, desc=self._desc, leave=False, disable=self.disable,
                             file=sys.stderr, dynamic_ncols=True)
        self._bar.update(1)
        if "loss" in losses:
            self._bar.set_postfix(loss=f"{losses['loss']:.4g}", refresh=False)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class EpochPrinter(Callback):
    """Print one line per epoch (notebooks): losses, split quality, validation rSum, time."""

    def __init__(self, file: Any = None) -> None:
        self.file = file

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        parts = [f"epoch {record['epoch']:>3} {record['phase']:<6}"]
        parts += [f"{k}={v:.4g}" for k, v in record.get("losses", {}).items() if k == "loss"]
        if record.get("split"):
            split = record["split"]
            parts.append(f"clean={split['clean_fraction']:.2f}" + (f" auc={split['auc']:.3f}" if "auc" in split else ""))
        val = record.get("val") or {}
        if "rsum" in val:
            parts.append(f"val rSum={val['rsum']:.1f}")
        elif "avg_map" in val:
            parts.append(f"val MAP={val['avg_map']:.3f}")
        parts.append(f"({record['time_s']['total']:.0f}s)")
        print("  ".join(parts), file=self.file or sys.stdout, flush=True)
