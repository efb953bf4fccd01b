"""Cached loaders and shared widgets of the dashboard.

Every read goes through :mod:`workbench.runs` (which confines every file to the runs root, checks each field
against :mod:`workbench.runschema` and never unpickles)
and is cached with ``st.cache_data`` keyed on the path *and* a modification stamp, so a run that is
still being written shows its new epochs on the next rerun while unchanged files are read once. The
run listing is keyed on the modification times of the run directories (every write to a run replaces a
file in its directory, which bumps the directory's mtime) and expires after a short TTL so that a run
whose process died turns from ``running`` to ``failed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import _show
import numpy as np
import pandas as pd
import streamlit as st

from workbench import runs
from workbench.errors import RunDirError
from workbench.runs import RunRecord, RunSummary

__all__ = [
    "RUNS_ENV",
    "EDITABLE_ENV",
    "ROOT_KEY",
    "root_editable",
    "SELECTED_KEY",
    "default_root",
    "current_root",
    "selected_runs",
    "list_runs",
    "read_run",
    "read_runs",
    "read_table",
    "read_alignment",
    "read_arrays",
    "alignment_epochs",
    "has_artifact",
    "choose_run",
    "guard",
]

RUNS_ENV = "WORKBENCH_RUNS_DIR"
EDITABLE_ENV = "WORKBENCH_APP_ROOT_EDITABLE"
ROOT_KEY = "runs_root"
SELECTED_KEY = "selected_runs"
_SKIP = {"artifacts", "checkpoints"}


def default_root() -> str:
    """The runs root the app starts with: ``$WORKBENCH_RUNS_DIR`` or ``runs``."""
    return os.environ.get(RUNS_ENV) or "runs"


def root_editable() -> bool:
    """Whether the page may change the runs root: only when the server was started with the opt-in
    (``workbench app --allow-root-change``, i.e. ``$WORKBENCH_APP_ROOT_EDITABLE=1``). Otherwise anyone
    using the app could browse any directory of the host."""
    return os.environ.get(EDITABLE_ENV) == "1"


def current_root() -> Path:
    """The runs root: fixed when the server starts; the sidebar's value only with :func:`root_editable`."""
    if root_editable():
        return Path(str(st.session_state.get(ROOT_KEY) or default_root())).expanduser()
    return Path(default_root()).expanduser()


def selected_runs() -> list[str]:
    """Run ids picked for comparison on the Runs page (kept across pages)."""
    return list(st.session_state.get(SELECTED_KEY, []))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except (OSError, ValueError):
        return 0


def _tree_stamp(root: Path) -> tuple[tuple[str, int], ...]:
    """(relative dir, mtime) of every directory that may hold runs (3 levels, like ``list_runs``).

    Entries that cannot be examined (permissions, ``/proc``, vanished files) are skipped one by one.
    """
    out: list[tuple[str, int]] = []
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIP:
                continue
            try:
                if not entry.is_dir():
                    continue
                out.append((os.path.relpath(entry.path, root), entry.stat().st_mtime_ns))
            except OSError:
                continue
            if depth < 2:
                stack.append((Path(entry.path), depth + 1))
    return tuple(sorted(out))


@st.cache_data(show_spinner=False, ttl=30, max_entries=8)
def _list_runs(root: str, stamp: tuple[tuple[str, int], ...]) -> list[RunSummary]:
    return runs.list_runs(Path(root))


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under ``root``, newest first (damaged ones included, with their reason)."""
    return _list_runs(str(root), _tree_stamp(root))


def _run_dir(root: Path, run_id: str) -> Path:
    return runs.resolve_run_dir(root, run_id)


@st.cache_data(show_spinner=False, max_entries=2048)
def _read_run(root: str, run_id: str, stamp: tuple[int, ...]) -> RunRecord:
    record = runs.read_run(Path(root), run_id)
    if record.summary.run_id != run_id:  # read_run names nested runs by their last path part only
        record = replace(record, summary=replace(record.summary, run_id=run_id))
    return record


def read_run(root: Path, run_id: str) -> RunRecord:
    """One run's ``run.json``, metrics and results; :class:`RunDirError` if it is damaged."""
    d = _run_dir(root, run_id)
    stamp = tuple(_mtime(p) for p in (d, d / runs.RUN_FILE, d / runs.METRICS_FILE, d / runs.RESULTS_FILE))
    return _read_run(str(root), run_id, stamp)


def read_runs(root: Path, run_ids: Sequence[str]) -> list[RunRecord]:
    """The records of ``run_ids``, skipping any that became damaged since they were listed (a warning
    names each), so one bad run never hides the others."""
    records, bad = [], []
    for run_id in run_ids:
        try:
            records.append(read_run(root, run_id))
        except RunDirError as exc:
            bad.append(f"- `{run_id}`: {exc}")
    if bad:
        st.warning("Left out, damaged:\n" + "\n".join(bad), icon="⚠️")
    return records


@st.cache_data(show_spinner=False, max_entries=64)
def _read_table(root: str, run_id: str, name: str, stamp: int) -> pd.DataFrame:
    return runs.read_table(Path(root), run_id, name)


def read_table(root: Path, run_id: str, name: str) -> pd.DataFrame:
    """``artifacts/<name>`` (parquet) of a run."""
    return _read_table(str(root), run_id, name, _mtime(_run_dir(root, run_id) / "artifacts" / name))


@st.cache_data(show_spinner=False, max_entries=64)
def _read_alignment(root: str, run_id: str, epoch: int, stamp: int) -> dict[str, np.ndarray]:
    return runs.read_alignment(Path(root), run_id, epoch)


def read_alignment(root: Path, run_id: str, epoch: int) -> dict[str, np.ndarray]:
    """The saved OT batch of one epoch."""
    path = _run_dir(root, run_id) / "artifacts" / "alignments" / f"epoch_{epoch:03d}.npz"
    return _read_alignment(str(root), run_id, epoch, _mtime(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _read_arrays(root: str, run_id: str, name: str, stamp: int) -> dict[str, np.ndarray]:
    return runs.read_arrays(Path(root), run_id, name)


def read_arrays(root: Path, run_id: str, name: str) -> dict[str, np.ndarray]:
    """``artifacts/<name>`` (npz) of a run."""
    return _read_arrays(str(root), run_id, name, _mtime(_run_dir(root, run_id) / "artifacts" / name))


@st.cache_data(show_spinner=False, max_entries=1024)
def _alignment_epochs(root: str, run_id: str, stamp: int) -> list[int]:
    return runs.list_alignments(Path(root), run_id)


def alignment_epochs(root: Path, run_id: str) -> list[int]:
    """Epochs with a saved OT batch."""
    folder = _run_dir(root, run_id) / "artifacts" / "alignments"
    return _alignment_epochs(str(root), run_id, _mtime(folder))


def has_artifact(root: Path, run_id: str, name: str) -> bool:
    """Whether ``artifacts/<name>`` exists (a stat inside the runs root; nothing is read)."""
    try:
        return (_run_dir(root, run_id) / "artifacts" / name).is_file()
    except RunDirError:
        return False


def choose_run(label: str, candidates: Sequence[RunSummary], *, key: str) -> RunSummary | None:
    """A run picker listing runs picked for comparison first; ``None`` (with a note) when empty."""
    if not candidates:
        st.info("No run under the runs root has what this page shows yet.")
        return None
    chosen = set(selected_runs())
    ordered = sorted(candidates, key=lambda s: (s.run_id not in chosen, s.run_id))
    by_id = {s.run_id: s for s in ordered}

    def describe(run_id: str) -> str:
        s = by_id[run_id]
        mrate = "" if s.mrate is None else f", MRate {s.mrate:g}"
        return f"{run_id}  ({s.dataset}, {s.method}-{s.backbone}{mrate}, {s.status})"

    run_id = st.selectbox(label, list(by_id), key=key, format_func=describe)
    return by_id.get(run_id) if run_id else None


def guard(render: Callable[[], Any]) -> None:
    """Run a page body; a damaged run directory (a file that breaks its schema, leads outside the runs
    root or is unreadable) becomes a warning naming the file and field, never a crash."""
    try:
        render()
    except RunDirError as exc:
        st.warning(f"This run directory is damaged and cannot be shown: {_show.escape_markdown(exc)}", icon="⚠️")
