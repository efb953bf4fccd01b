"""``workbench reproduce TARGET --dry-run``: the grid, what is done, and what the rest will cost.

For every setting of the target (after ``--set`` narrowing): its run directory, whether it is complete,
its epochs, and an estimated cost:

* **CPU** (``--preset cpu``): ``epochs x seconds per epoch`` of the setting's preset. The seconds per
  epoch are measured: the mean ``time_s.total`` of the epochs already recorded in this target's run
  directories for the same preset when there are any, else :data:`CPU_EPOCH_SECONDS` (measured on the
  project's 2-core machine, two runs sharing it); a preset with neither is reported as unknown.
* **GPU** (``--preset paper``): :func:`workbench.bench.projection.paper_config_seconds` with the costs of
  the newest paper-size row of ``workbench bench gpu`` in ``benchmarks/BENCHMARKS.md``; without such a
  row the GPU cost is unknown and the report says how to measure it.

Nothing is executed. The report also lists the data files the remaining settings need that are missing
(:mod:`workbench.reproduce.data_check`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.bench.shapes import DATASET_PAIRS
from workbench.config import TrainConfig
from workbench.errors import ConfigError, RunDirError
from workbench.reproduce.data_check import NeededFile, missing_files
from workbench.reproduce.execute import is_complete, split_sets
from workbench.reproduce.targets import get_target

__all__ = ["CPU_EPOCH_SECONDS", "SettingPlan", "DryRun", "dry_run", "measured_epoch_seconds"]

#: Seconds per epoch of the CPU presets, measured 2026-11-22 on a 2-core x86_64 machine (synthetic small,
#: 4 warm-up + 6 epochs; two runs sharing the cores, as ``--jobs 2``): whole-run minutes / 10 epochs,
#: mid-points of the measured ranges (vanilla 3-4 min, L2RM 2.5-5, RCL ~5, DECL ~5.5, NCR 11-13, BiCro
#: 12-13); ``cpu-vanilla-sgr`` alone on the cores: 16 min.
CPU_EPOCH_SECONDS: dict[str, float] = {
    "cpu-vanilla-vse": 21.0, "cpu-l2rm-vse": 22.5, "cpu-rcl-vse": 30.0, "cpu-decl-vse": 33.0,
    "cpu-ncr-vse": 72.0, "cpu-bicro-vse": 75.0, "cpu-vanilla-sgr": 96.0,
}


@dataclass(frozen=True)
class SettingPlan:
    """One setting of the grid as the dry run sees it."""

    id: str
    preset: str
    done: bool
    epochs: int
    seconds: float | None  # estimated cost of running it (None: unknown); 0 when done
    basis: str  # where the estimate comes from
    steps: int | None = None  # training steps of the whole run (paper datasets: pairs // batch per epoch)


@dataclass(frozen=True)
class DryRun:
    target: str
    kind: str
    root: Path
    plans: list[SettingPlan]
    missing: list[NeededFile] = field(default_factory=list)
    gpu_source: str | None = None  # the BENCHMARKS.md row used (paper kind)
    note: str = ""

    @property
    def remaining_seconds(self) -> float:
        """Estimated seconds of the settings not done whose cost is known."""
        return sum(p.seconds or 0.0 for p in self.plans if not p.done)

    @property
    def unknown(self) -> list[str]:
        return [p.id for p in self.plans if not p.done and p.seconds is None]

    def render(self) -> str:
        """A plain-text report: one line per setting, then the totals and the missing data."""
        unit = "GPU h" if self.kind == "paper" else "CPU h"
        width = max([len(p.id) for p in self.plans] + [7])
        lines = [f"{self.target} --preset {self.kind}: {len(self.plans)} settings in {self.root}",
                 f"{'setting':<{width}}  {'status':<7} {'epochs':>6} {'steps':>7} {unit:>8}  basis"]
        for p in self.plans:
            cost = "-" if p.done else ("?" if p.seconds is None else f"{p.seconds / 3600:.2f}")
            steps = "-" if p.steps is None else str(p.steps)
            lines.append(f"{p.id:<{width}}  {'done' if p.done else 'to run':<7} {p.epochs:>6} {steps:>7} {cost:>8}  "
                         f"{p.basis}")
        todo = [p for p in self.plans if not p.done]
        total_steps = sum(p.steps or 0 for p in todo)
        if total_steps:
            lines.append(f"training steps to run: {total_steps} (per epoch: training pairs // batch)")
        lines.append(f"done: {len(self.plans) - len(todo)} of {len(self.plans)}; to run: {len(todo)}, estimated "
                     f"{self.remaining_seconds / 3600:.1f} {unit}"
                     + (f" (+ {len(self.unknown)} setting(s) of unknown cost)" if self.unknown else ""))
        if self.kind == "cpu" and todo:
            lines.append("CPU figures are per run with two runs sharing 2 cores: with --jobs 2 the wall time is "
                         "about half the sum")
        if self.gpu_source:
            lines.append(f"GPU costs from {self.gpu_source}")
        if self.note:
            lines.append(self.note)
        if self.missing:
            lines.append(f"missing data ({len(self.missing)} file(s); `reproduce` would stop before any notebook):")
            lines += [f"  - {m.describe()}" for m in self.missing]
        return "\n".join(lines)


def measured_epoch_seconds(root: Path) -> dict[str, float]:
    """Mean ``time_s.total`` per epoch of every run under ``root`` (one level down), by preset."""
    from workbench.runs import read_metrics, read_run_info

    times: dict[str, list[float]] = {}
    if not root.is_dir():
        return {}
    for run_dir in sorted(p for p in root.iterdir() if (p / "run.json").is_file()):
        try:
            preset = read_run_info(run_dir).get("preset")
            records = read_metrics(run_dir)
        except (RunDirError, ValueError, OSError):
            continue  # a damaged run measures nothing
        if not preset:
            continue
        for record in records:
            total = (record.get("time_s") or {}).get("total")
            if isinstance(total, (int, float)) and total > 0:
                times.setdefault(preset, []).append(float(total))
    return {preset: statistics.fmean(values) for preset, values in times.items()}


def _config(preset: str, overrides: Sequence[str]) -> TrainConfig:
    from workbench.presets import get_preset

    return get_preset(preset).config().override(list(overrides))


def dry_run(target_name: str, kind: str, run_root: str | Path, *, sets: Sequence[str] = (),
            benchmarks: Path | None = None) -> DryRun:
    """The report of ``workbench reproduce TARGET --dry-run`` (see the module docstring)."""
    if kind not in ("cpu", "paper"):
        raise ConfigError(f"preset kind must be 'cpu' or 'paper', got {kind!r}")
    target = get_target(target_name)
    grid, extra = split_sets(sets)
    unknown_axes = [k for k in grid if k not in target.axes]
    if unknown_axes:
        raise ConfigError(f"{target.name} has no grid axis {unknown_axes}; its axes are {', '.join(target.axes)}")
    root = Path(run_root) / target.name
    settings = target.settings(kind, grid)
    if target.whole_grid:
        done = [is_complete(root / s.id, s) for s in settings]
        return DryRun(target.name, kind, root, [SettingPlan(s.id, s.preset, d, 0, None, "the notebook runs its own grid")
                                                for s, d in zip(settings, done, strict=True)],
                      note="this target's notebook runs its whole grid itself; no per-setting estimate")
    measured = measured_epoch_seconds(root)
    costs = None
    note = ""
    if kind == "paper":
        from workbench.bench.gpu_table import read_gpu_costs

        if benchmarks is None:
            from workbench.bench.gpu import default_benchmarks_file

            benchmarks = default_benchmarks_file()
        costs = read_gpu_costs(benchmarks)
        if costs is None:
            note = (f"GPU cost unknown: {benchmarks} has no paper-size row of `workbench bench gpu`; run it once "
                    "on the GPU (benchmarks/gpu_check.sh) and dry-run again")
    plans: list[SettingPlan] = []
    todo_configs: list[TrainConfig] = []
    for s in settings:
        cfg = _config(s.preset, (*s.overrides, *extra))
        epochs = cfg.optim.warmup_epochs + cfg.optim.epochs
        done = is_complete(root / s.id, s)
        if not done and not s.source:
            todo_configs.append(cfg)
        seconds: float | None
        if done:
            seconds, basis = 0.0, "complete"
        elif s.source:
            seconds, basis = 0.0, f"analyses {s.source}"
        elif kind == "paper":
            if costs is None:
                seconds, basis = None, "no GPU row in BENCHMARKS.md"
            else:
                from workbench.bench.projection import paper_config_seconds

                seconds, basis = paper_config_seconds(cfg, costs), "projected from the GPU step"
        elif s.preset in measured:
            seconds, basis = epochs * measured[s.preset], f"{measured[s.preset]:.0f} s/epoch measured in {root}"
        elif s.preset in CPU_EPOCH_SECONDS:
            seconds, basis = epochs * CPU_EPOCH_SECONDS[s.preset], f"{CPU_EPOCH_SECONDS[s.preset]:.0f} s/epoch (2-core table)"
        else:
            seconds, basis = None, f"no measured epoch time for {s.preset}"
        steps = DATASET_PAIRS[cfg.data.dataset] // cfg.optim.batch_size * epochs if cfg.data.dataset in DATASET_PAIRS else None
        plans.append(SettingPlan(s.id, s.preset, done, epochs, seconds, basis, steps))
    return DryRun(target.name, kind, root, plans, missing_files(todo_configs),
                  costs.source if costs is not None else None, note)
