"""Timing and peak memory of several modes measured side by side on one device.

:func:`time_modes` runs each mode once untimed (warm-up: kernels, caches, allocator), then ``repeats``
rounds in which every mode runs once (interleaved, so a slow phase of a shared machine does not land on
one mode only), and reports each mode's median seconds and peak memory:

* CUDA: ``peak_mb`` is the largest ``torch.cuda.max_memory_allocated`` of the mode's calls, the counter
  reset before each call (memory held between calls, e.g. parameters and inputs, is included);
* CPU: there is no per-call allocator counter, so ``peak_mb`` is the process's peak resident set size
  (``getrusage``) after the mode's calls: monotone over the run, an upper bound for every mode.

Every call is followed by a device synchronisation, so a CUDA time covers the kernels it queued.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["ModeFigures", "synchronize", "peak_rss_mb", "time_modes"]


@dataclass(frozen=True)
class ModeFigures:
    """Median seconds per call and peak memory (MiB; see the module docstring) of one mode."""

    seconds: float
    peak_mb: float
    memory_kind: str  # "cuda_allocated" | "process_rss"


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_rss_mb() -> float:
    """The process's peak resident set size in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _call(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mb()
    return seconds, peak


def time_modes(fns: dict[str, Callable[[], object]], device: torch.device, *, repeats: int = 3,
               warmup: int = 1) -> dict[str, ModeFigures]:
    """Median seconds and peak memory of every mode (see the module docstring); ``repeats >= 1``."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats={repeats} must be >= 1 and warmup={warmup} >= 0")
    peaks = {name: 0.0 for name in fns}
    for _ in range(warmup):
        for name, fn in fns.items():
            peaks[name] = max(peaks[name], _call(fn, device)[1])
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            seconds, peak = _call(fn, device)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    kind = "cuda_allocated" if device.type == "cuda" else "process_rss"
    return {name: ModeFigures(sorted(ts)[len(ts) // 2], peaks[name], kind) for name, ts in times.items()}
