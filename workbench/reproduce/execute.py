"""Execute a target's settings with papermill, resumably, then collect the table.

Every setting runs the target's notebook (``notebooks/<target>.py``, a jupytext percent file) with
papermill into ``<run root>/<target>/<setting id>/notebook.ipynb``; the notebook trains (or resumes, or
reuses) the run in that same directory through :func:`run_setting`. A setting is *complete* when its
notebook executed without error and its run finished; complete settings are skipped, so an interrupted
reproduction resumes where it stopped and re-running a finished one executes nothing. A failing cell marks
that setting failed (its notebook, with the error banner papermill writes, is kept as the report) and the
grid goes on. Finally :func:`workbench.reproduce.collect.collect` writes ``table.csv`` and ``table.md``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.bundled import notebooks_folder
from workbench.configbase import parse_assignment
from workbench.errors import ConfigError, RunDirError
from workbench.reproduce.targets import GRID_KEYS, Setting, Target, get_target
from workbench.runs import read_results, read_run_info

__all__ = ["ReproduceReport", "reproduce", "run_setting", "notebook_dir", "is_complete", "split_sets",
           "DEFAULT_KERNEL"]

log = logging.getLogger(__name__)

DEFAULT_KERNEL = "workbench"


@dataclass
class ReproduceReport:
    target: str
    root: Path
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    table: Path | None = None
    seconds: float = 0.0


def notebook_dir() -> Path:
    """The notebooks folder: the installed package's copy or the checkout's ``notebooks/``
    (:func:`workbench.bundled.notebooks_folder`)."""
    return notebooks_folder()


def split_sets(sets: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """``--set`` items -> (grid axes ``{key: [values]}``, training overrides ``["key=value"]``)."""
    grid: dict[str, list[str]] = {}
    train: list[str] = []
    for item in sets:
        key, value = parse_assignment(item)
        if key in GRID_KEYS:
            grid[key] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            train.append(f"{key}={value}")
    return grid, train


def _notebook_ok(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("exception") is False or (meta.get("exception") is None and "end_time" in meta
                                               and meta.get("end_time") is not None)


def _executed_parameters(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None


def is_complete(run_dir: Path, setting: Setting, *, whole_grid: bool = False,
                parameters: dict[str, Any] | None = None) -> bool:
    """The setting's notebook ran without error and (unless it analyses another run) its run finished.

    A whole-grid notebook is complete when it ran with the same ``parameters`` and wrote its table (with
    other parameters it runs again, and itself skips the runs that are already finished).
    """
    if not _notebook_ok(run_dir / "notebook.ipynb"):
        return False
    if whole_grid:
        return ((run_dir.parent / "table.csv").exists()
                and _executed_parameters(run_dir / "notebook.ipynb") == parameters)
    if setting.source:
        return True
    try:
        info = read_run_info(run_dir)
        return info.get("status") == "done" and read_results(run_dir) is not None
    except RunDirError:  # missing or damaged: not complete (run_setting then says what is wrong)
        return False


def run_setting(preset: str, overrides: Sequence[str], run_dir: str | Path, *, callbacks: Sequence[Any] = ()) -> Any:
    """Train ``preset`` with ``overrides`` into ``run_dir`` — or resume it, or reuse it when finished.

    This is what the target notebooks call; it returns a :class:`workbench.train.RunResult`.
    """
    from workbench.runs import RunResult, read_metrics

    run_dir = Path(run_dir)
    info = read_run_info(run_dir) if (run_dir / "run.json").exists() else {}
    results = read_results(run_dir) if info else None
    if info.get("status") == "done" and results is not None:
        return RunResult(run_dir, results, read_metrics(run_dir))  # reused: no torch import
    from workbench.presets import get_preset
    from workbench.train import run

    if info and (run_dir / "checkpoints" / "last.pt").exists():
        log.info("resuming %s", run_dir)
        from workbench.config import TrainConfig
        from workbench.train import RESUME_OVERRIDABLE

        moves = [o for o in overrides if o.split("=", 1)[0] in RESUME_OVERRIDABLE]  # where it runs, not what
        return run(TrainConfig(), run_dir=run_dir, resume=True, callbacks=callbacks, resume_overrides=moves)
    if info:
        log.warning("%s: an earlier attempt stopped before its first checkpoint; starting it again", run_dir)
    cfg = get_preset(preset).config().override(list(overrides))
    return run(cfg, run_dir=run_dir, preset=preset, callbacks=callbacks, overwrite=bool(info))


def analysed_run(source_run: str | Path, preset: str, overrides: Sequence[str], run_dir: str | Path, *,
                 callbacks: Sequence[Any] = ()) -> Path:
    """The run directory a figure notebook analyses: ``source_run`` if given, else ``run_dir`` trained (or
    resumed, or reused) by :func:`run_setting`. A ``source_run`` without a ``run.json`` is an error."""
    if source_run:
        source = Path(source_run)
        if not (source / "run.json").is_file():
            raise RunDirError(f"source_run {source} is not a run directory (no run.json)")
        return source
    run_setting(preset, overrides, run_dir, callbacks=callbacks)
    return Path(run_dir)


def _parameters(target: Target, setting: Setting, root: Path, kind: str, extra: list[str]) -> dict[str, Any]:
    """The papermill parameters of a setting's notebook."""
    if target.whole_grid:  # the notebook runs the grid into the target folder and writes its tables
        return {"preset": kind, "run_root": str(root.resolve()), "overrides": list(extra), **setting.labels}
    full = Setting(setting.id, setting.preset, (*setting.overrides, *extra), setting.labels,
                   str((root.parent / setting.source).resolve()) if setting.source else None)
    return full.parameters(str((root / setting.id).resolve()), kind)


def _execute(target: Target, setting: Setting, root: Path, kind: str, extra: list[str], kernel: str) -> None:
    import jupytext
    import papermill as pm

    run_dir = root / setting.id
    run_dir.mkdir(parents=True, exist_ok=True)  # papermill does not create output folders
    nb = jupytext.read(notebook_dir() / target.notebook)
    nb.metadata.get("jupytext", {}).pop("formats", None)  # the executed copy is no jupytext pair
    parameters = _parameters(target, setting, root, kind, extra)
    pm.execute_notebook(nb, str(run_dir / "notebook.ipynb"), parameters=parameters, kernel_name=kernel,
                        cwd=str(run_dir), progress_bar=False, log_output=False)


def reproduce(target_name: str, kind: str, run_root: str | Path, *, jobs: int = 1, sets: Sequence[str] = (),
              kernel: str = DEFAULT_KERNEL, on_event: Callable[[str, str], None] | None = None) -> ReproduceReport:
    """Run (or resume) every setting of a target, then write ``table.csv`` and ``table.md``.

    Args:
        target_name: ``table1`` ... ``fig7``, ``uot-table`` (:data:`workbench.reproduce.targets.TARGETS`).
        kind: ``"cpu"`` (synthetic set) or ``"paper"`` (the paper's datasets; a GPU job).
        run_root: the directory under which ``<target>/`` is written.
        jobs: settings executed concurrently (each notebook is its own process; torch threads are split).
        sets: ``key=value`` items: grid axes (comma-separated lists) or training overrides.
        kernel: the Jupyter kernel name (installed by ``scripts/bootstrap.sh``).
        on_event: ``on_event(setting_id, "start"|"done"|"skip"|"failed")`` for progress display.

    Raises:
        MissingDataError: a data file the unfinished settings need is missing (all of them are named,
            with their data cards); raised before any notebook starts.
    """
    from workbench.reproduce.collect import collect

    if kind not in ("cpu", "paper"):
        raise ConfigError(f"preset kind must be 'cpu' or 'paper', got {kind!r}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    target = get_target(target_name)
    grid, extra = split_sets(sets)
    unknown = [k for k in grid if k not in target.axes]
    if unknown:
        raise ConfigError(f"{target.name} has no grid axis {unknown}; its axes are {', '.join(target.axes)}")
    settings = target.settings(kind, grid)
    if jobs > 1 and not any(o.startswith("threads=") for o in extra):
        extra.append(f"threads={max(1, (os.cpu_count() or 1) // jobs)}")
    root = Path(run_root) / target.name
    root.mkdir(parents=True, exist_ok=True)
    report = ReproduceReport(target.name, root)
    t0 = time.perf_counter()
    todo = []
    for s in settings:
        if is_complete(root / s.id, s, whole_grid=target.whole_grid,
                       parameters=_parameters(target, s, root, kind, extra) if target.whole_grid else None):
            report.skipped.append(s.id)
            if on_event:
                on_event(s.id, "skip")
        else:
            todo.append(s)

    if todo and not target.whole_grid:  # stop once, before any notebook, when data files are missing
        from workbench.presets import get_preset
        from workbench.reproduce.data_check import check_reproduction_data

        check_reproduction_data(target.name, [get_preset(s.preset).config().override([*s.overrides, *extra])
                                              for s in todo if not s.source])
    if todo:
        from workbench.kernel import ensure_kernel

        ensure_kernel(kernel)  # an installed package has no kernel until the first reproduction

    def one(setting: Setting) -> tuple[str, str | None]:
        if on_event:
            on_event(setting.id, "start")
        try:
            _execute(target, setting, root, kind, extra, kernel)
        except Exception as exc:  # a failed cell (or kernel) fails this setting only
            return setting.id, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        return setting.id, None

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(one, s) for s in todo]):
            sid, error = future.result()
            if error is None:
                report.executed.append(sid)
            else:
                report.failed[sid] = error
            if on_event:
                on_event(sid, "done" if error is None else "failed")
    if target.whole_grid:
        table = root / "table.csv"
        report.table = table if table.exists() else None
    else:
        report.table = collect(target, settings, root, kind)
    report.seconds = time.perf_counter() - t0
    return report
