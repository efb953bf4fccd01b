"""A grid of label-track runs (methods x noise settings x seeds) in a fixed, resumable directory layout.

Each cell has its own run directory ``<run_root>/<variant>/<dataset>-<noise>-<rate>-s<seed>``, so a grid can
be interrupted and run again: :func:`run_grid` skips cells whose run is ``done`` or still being written by a
live process (several workers may share a grid), resumes cells that left a ``last.pt`` behind, and restarts
any other leftover directory from scratch. The notebook
``notebooks/uot_table.py`` and ``workbench labels`` are thin layers over it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.callbacks import Callback
from workbench.errors import ConfigError, RunDirError
from workbench.labels.presets import ABLATIONS, CEILINGS, preset_config
from workbench.labels.train import run_labels
from workbench.runs import RUN_FILE, read_run

__all__ = ["GridCell", "label_grid", "cell_dir", "run_grid", "GridReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridCell:
    """One run of the grid. ``variant`` is the method or ``uot_rcl-<ablation>``."""

    method: str
    noise: str
    rate: float
    seed: int
    ablation: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        return self.method if self.ablation in (None, "full") else f"{self.method}-{self.ablation}"


def label_grid(methods: Sequence[str], settings: Iterable[tuple[str, float]], seeds: Sequence[int], *,
               ablations: Sequence[str] = (), ceilings: Sequence[str] = (),
               overrides: Mapping[str, Any] | None = None) -> list[GridCell]:
    """Cells for every method (plus every UOT-RCL ablation, then every CE ceiling) x ``(noise, rate)`` x seed.

    The ``corrected`` ceiling reads the UOT-RCL run of its own setting and seed, so the grid lists the
    ceilings last and ``uot_rcl`` must be among the methods for it.
    """
    for name in ablations:
        if name not in ABLATIONS:
            raise ConfigError(f"unknown ablation {name!r}; expected one of {', '.join(ABLATIONS)}")
    for name in ceilings:
        if name not in CEILINGS:
            raise ConfigError(f"unknown CE ceiling {name!r}; expected one of {', '.join(CEILINGS)}")
    if "corrected" in ceilings and "uot_rcl" not in methods:
        raise ConfigError("the 'corrected' ceiling trains on UOT-RCL's labels: include uot_rcl in the methods")
    kinds = [(m, None) for m in methods] + [("uot_rcl", a) for a in ablations] + [("ce", c) for c in ceilings]
    return [GridCell(m, noise, float(rate), int(seed), a, dict(overrides or {}))
            for m, a in kinds for noise, rate in settings for seed in seeds]


def cell_dir(run_root: str | Path, cell: GridCell, dataset: str) -> Path:
    """``<run_root>/<variant>/<dataset>-<noise>-<rate>-s<seed>``."""
    return Path(run_root) / cell.variant / f"{dataset}-{cell.noise}-{cell.rate:g}-s{cell.seed}"


@dataclass(frozen=True)
class GridReport:
    """What :func:`run_grid` did: run directories by outcome."""

    done: list[Path]
    skipped: list[Path]
    resumed: list[Path]


def _status(path: Path) -> str | None:
    if not (path / RUN_FILE).exists():
        return None
    try:
        return read_run(path.parent, path.name).summary.status
    except RunDirError:
        return "damaged"


def run_grid(cells: Sequence[GridCell], *, preset_group: str, run_root: str | Path, dataset: str = "wikipedia",
             extra: Mapping[str, Any] | None = None, callbacks: Sequence[Callback] = (),
             on_cell: Callable[[int, int, GridCell, str], None] | None = None) -> GridReport:
    """Run every cell not yet done (see the module docstring).

    Args:
        cells: from :func:`label_grid`.
        preset_group: ``cpu``, ``paper`` or ``tiny``.
        run_root: root of the grid's run directories (created).
        dataset: the ``data.dataset`` of every run (part of the directory name).
        extra: overrides applied to every cell after the preset and the cell's own (e.g. ``epochs``).
        callbacks: passed to every run.
        on_cell: ``on_cell(index, total, cell, action)`` before each cell, ``action`` in
            ``run | resume | skip | busy`` (progress display is the caller's business).
    """
    done, skipped, resumed = [], [], []
    root = Path(run_root)
    root.mkdir(parents=True, exist_ok=True)
    for index, cell in enumerate(cells):
        path = cell_dir(root, cell, dataset)
        status = _status(path)
        if status == "done":
            action = "skip"
        elif status == "running":  # a live process (e.g. another worker) owns it
            action = "busy"
        elif status is not None and status != "damaged" and (path / "checkpoints" / "last.pt").exists():
            action = "resume"
        else:
            action = "run"
        if on_cell is not None:
            on_cell(index, len(cells), cell, action)
        if action in ("skip", "busy"):
            skipped.append(path)
            continue
        if action == "resume":
            run_labels(None, run_dir=path, resume=True, callbacks=callbacks)  # type: ignore[arg-type]
            resumed.append(path)
            continue
        if path.exists():  # a leftover without a usable checkpoint: start again
            log.info("%s: removing an unfinished run without checkpoint", path)
            shutil.rmtree(path)
        overrides = {"seed": cell.seed, "noise": cell.noise, "rate": cell.rate, "dataset": dataset,
                     **dict(cell.overrides), **dict(extra or {})}
        if cell.method == "ce" and cell.ablation == "corrected":
            source = cell_dir(root, GridCell("uot_rcl", cell.noise, cell.rate, cell.seed), dataset)
            overrides["ce.labels_from"] = str(source.resolve())
        cfg = preset_config(preset_group, cell.method, ablation=cell.ablation, extra=overrides)
        run_labels(cfg, run_dir=path, preset=f"{preset_group}-{cell.method}", variant=cell.variant,
                   callbacks=callbacks)
        done.append(path)
    return GridReport(done, skipped, resumed)
