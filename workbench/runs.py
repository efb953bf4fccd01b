"""The run directory: the contract between training and everything that looks at a run.

Layout::

    <runs_root>/<run_id>/
      run.json            config, preset, dataset, method, seed, versions, status, error, timings
      metrics.jsonl       one JSON object per epoch (losses, lr, validation R@K, split quality vs truth)
      results.json        final test metrics, best epoch (and MAP for the label track)
      artifacts/          cost_by_epoch.parquet, alignments/epoch_XXX.npz, rematch_examples.parquet,
                          refined_ranks.parquet, figures/*.json, ...
      checkpoints/        last.pt, best.pt (torch; loaded with weights_only=True)
      notebook.ipynb      the executed papermill notebook, when the run came from one
      run.lock            while a process writes the run: its pid and host (workbench.runlock)

Writers (:class:`RunWriter`) hold the directory's lock, make every file appear atomically (temporary
name, then ``os.replace``, mode 0644 under the usual umask) and check what they write against
:mod:`workbench.runschema`; ``metrics.jsonl`` is appended line by line and a torn last line is ignored
by the reader. A run being written has status ``running``; a run whose process died without finishing
is reported as ``failed`` (its process is gone) by the reader; a directory whose files are missing,
unreadable or break their schema is ``damaged`` (:class:`~workbench.runschema.DamagedRunError` names the
file and the field).

This module is torch-free (the dashboard imports it) and never unpickles anything: readers use JSON,
parquet and ``np.load(allow_pickle=False)`` only, and every file they open, whatever its name, must
resolve inside the runs root (or, without one, inside the run directory): symlinks out are refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import RunDirError
from workbench.runlock import RunLock
from workbench.runschema import (
    ARRAY_SCHEMAS,
    DamagedRunError,
    check_arrays,
    check_metrics_record,
    check_results,
    check_run_info,
    check_table,
)

__all__ = [
    "RUN_FILE",
    "METRICS_FILE",
    "RESULTS_FILE",
    "RunWriter",
    "RunSummary",
    "RunRecord",
    "RunResult",
    "DamagedRunError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "new_run_id",
    "list_runs",
    "read_run",
    "read_run_info",
    "metrics_for_resume",
    "resolve_run_dir",
    "read_metrics",
    "read_results",
    "read_table",
    "list_alignments",
    "read_alignment",
    "read_arrays",
    "read_figure",
    "list_figures",
]

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
ARTIFACTS = "artifacts"
CHECKPOINTS = "checkpoints"
SCHEMA_VERSION = 1
_HEARTBEAT_STALE_S = 6 * 3600  # a "running" run on another host with no sign of life for this long


# ----------------------------------------------------------------------------------------------- writing
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _clean_floats(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_floats(v) for v in obj]
    return obj


def file_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the umask (``0o644`` under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _publish(tmp: str, path: Path) -> None:
    """Give the temporary file the ordinary mode (``mkstemp`` makes it 0600), then rename it."""
    os.chmod(tmp, file_mode())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename.

    The file gets the mode an ordinary ``open()`` would give it (0644 under the usual umask 022).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(_clean_floats(obj), indent=2, sort_keys=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(*parts: Any) -> str:
    """A readable, sortable, unique run id: ``YYYYmmdd-HHMMSS-<parts>-<4 hex>``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = "-".join(re.sub(r"[^A-Za-z0-9.]+", "", str(p)) for p in parts if str(p))
    return f"{stamp}-{slug}-{os.urandom(2).hex()}" if slug else f"{stamp}-{os.urandom(2).hex()}"


class RunWriter:
    """Writes one run directory. Created by the trainer; the only writer of its directory.

    :meth:`create` and :meth:`reopen` take the directory's lock (:class:`~workbench.runlock.RunLock`),
    so a second process writing the same run is refused; :meth:`finish` (or :meth:`close`) releases
    it. Everything written is checked against :mod:`workbench.runschema` first, so a writer cannot
    produce a run that its readers would call damaged.
    """

    def __init__(self, run_dir: Path, lock: RunLock | None = None) -> None:
        self.dir = Path(run_dir)
        self._info: dict[str, Any] = {}
        self._lock = lock

    # -- lifecycle
    @classmethod
    def create(cls, run_dir: Path, *, config: Mapping[str, Any], summary: Mapping[str, Any],
               preset: str | None = None, versions: Mapping[str, str] | None = None,
               overwrite: bool = False, lock: RunLock | None = None) -> RunWriter:
        """Start a new run: writes ``run.json`` with status ``running``.

        ``summary`` holds the fields the dashboard lists (dataset, method, backbone, mrate, rho, lam,
        seed, track, ...); ``config`` the full nested configuration. A directory that already holds a run
        is refused (two runs would mix their records) unless ``overwrite``, which first removes that run's
        records, artefacts and checkpoints (other files, e.g. a notebook being executed, are kept). A
        directory locked by another live process is refused either way. ``lock``: a lock the caller
        already holds on ``run_dir`` (taken here otherwise).
        """
        run_dir = Path(run_dir)
        lock = lock or RunLock.acquire(run_dir)
        writer = cls(run_dir, lock)
        try:
            if (writer.dir / RUN_FILE).exists():
                if not overwrite:
                    raise RunDirError(f"{writer.dir} already holds a run ({RUN_FILE}); resume it, restart it "
                                      "(`workbench train --restart`), or choose a new directory")
                # the old run.json stays until the new one replaces it (atomically, below): killed at any
                # point, the directory still holds a run.json to restart from, and no stale checkpoint
                shutil.rmtree(writer.dir / CHECKPOINTS, ignore_errors=True)
                for name in (METRICS_FILE, RESULTS_FILE):
                    (writer.dir / name).unlink(missing_ok=True)
                shutil.rmtree(writer.dir / ARTIFACTS, ignore_errors=True)
            (writer.dir / ARTIFACTS).mkdir(exist_ok=True)
            (writer.dir / CHECKPOINTS).mkdir(exist_ok=True)
            writer._info = {
                "schema": SCHEMA_VERSION,
                "run_id": writer.dir.name,
                "status": "running",
                "error": None,
                "preset": preset,
                **dict(summary),
                "config": dict(config),
                "versions": dict(versions or {}),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "created": _now(),
                "updated": _now(),
                "finished": None,
                "timings": {},
                "resumed": 0,
            }
            writer._flush()
        except BaseException:
            writer.close()
            raise
        return writer

    @classmethod
    def reopen(cls, run_dir: Path, *, lock: RunLock | None = None) -> RunWriter:
        """Continue an existing run (resume): status back to ``running``, same metadata.

        Takes the directory's lock unless the caller passes the one it holds; a damaged ``run.json``
        is a :class:`DamagedRunError`.
        """
        run_dir = Path(run_dir)
        lock = lock or RunLock.acquire(run_dir)
        writer = cls(run_dir, lock)
        try:
            info = read_run_info(writer.dir)
            info.update(status="running", error=None, pid=os.getpid(), host=socket.gethostname(),
                        updated=_now(), finished=None, resumed=int(info.get("resumed") or 0) + 1)
            writer._info = info
            writer._flush()
        except BaseException:
            writer.close()
            raise
        return writer

    def close(self) -> None:
        """Release the directory's lock (idempotent; :meth:`finish` calls it)."""
        if self._lock is not None:
            self._lock.release()

    def _flush(self) -> None:
        clean = json.loads(json.dumps(_clean_floats(self._info), default=_json_default))
        check_run_info(clean, self.dir / RUN_FILE)
        atomic_write_json(self.dir / RUN_FILE, clean)

    @property
    def info(self) -> dict[str, Any]:
        return self._info

    def update(self, **fields: Any) -> None:
        """Merge top-level fields into ``run.json`` (e.g. timings, best_rsum)."""
        self._info.update(fields)
        self._info["updated"] = _now()
        self._flush()

    def finish(self, status: str = "done", error: BaseException | str | None = None) -> None:
        """Record the end of the run (``done``, ``failed`` with its one-line error, or ``imported`` for a model
        converted from another code base, :mod:`workbench.official_import`); release the lock."""
        if status not in ("done", "failed", "imported"):
            raise ValueError(f"finish status must be 'done', 'failed' or 'imported', got {status!r}")
        if isinstance(error, BaseException):
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
        else:
            text = error
        try:
            self.update(status=status, error=text, finished=_now())
        finally:
            self.close()

    # -- records
    def log_epoch(self, record: Mapping[str, Any]) -> None:
        """Append one epoch's record to ``metrics.jsonl`` (one line, flushed and synced)."""
        line = json.dumps(_clean_floats(dict(record)), default=_json_default)
        check_metrics_record(json.loads(line), self.dir / METRICS_FILE, len(read_metrics(self.dir)) + 1)
        path = self.dir / METRICS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, file_mode())
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.update()

    def restore_metrics(self, keep_epochs: int, saved: list[dict[str, Any]] | None = None) -> str | None:
        """Make ``metrics.jsonl`` hold exactly the records of epochs ``< keep_epochs`` (on resume); see
        :func:`metrics_for_resume`, which decides (and refuses) before anything is written. Returns its note."""
        records, note = metrics_for_resume(self.dir, keep_epochs, saved)
        self.replace_metrics(records)
        return note

    def replace_metrics(self, records: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl`` with ``records`` (each checked), atomically."""
        for lineno, record in enumerate(records, 1):
            check_metrics_record(record, self.dir / METRICS_FILE, lineno)
        atomic_write_text(self.dir / METRICS_FILE,
                          "".join(json.dumps(r, default=_json_default) + "\n" for r in records))

    def truncate_metrics(self, keep_epochs: int) -> None:
        """Keep only records of epochs < ``keep_epochs`` (used when resuming from a checkpoint)."""
        self.restore_metrics(keep_epochs, None)

    def write_results(self, results: Mapping[str, Any]) -> None:
        clean = json.loads(json.dumps(_clean_floats(dict(results)), default=_json_default))
        check_results(clean, self.dir / RESULTS_FILE)
        atomic_write_json(self.dir / RESULTS_FILE, clean)

    # -- artefacts
    def artifact(self, name: str) -> Path:
        path = self.dir / ARTIFACTS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoint(self, name: str) -> Path:
        return self.dir / CHECKPOINTS / name

    def write_table(self, name: str, frame: Any) -> None:
        """Write a pandas DataFrame to ``artifacts/<name>`` as parquet, atomically."""
        path = self.artifact(name)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            frame.to_parquet(tmp, index=False)
            _publish(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_arrays(self, name: str, **arrays: Any) -> None:
        """Write numpy arrays to ``artifacts/<name>`` (.npz, no pickled objects), atomically."""
        path = self.artifact(name)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            clean = {k: np.asarray(v) for k, v in arrays.items()}
            for key, value in clean.items():
                if value.dtype == object:
                    raise TypeError(f"array {key!r} has dtype object; store strings as a unicode array")
            np.savez_compressed(tmp, **clean)
            _publish(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_figure(self, name: str, figure: Any) -> None:
        """Write a plotly figure (or its dict) to ``artifacts/figures/<name>.json``."""
        spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
        atomic_write_text(self.artifact(f"figures/{name}.json"),
                          json.dumps(spec, default=_json_default, cls=_PlotlyAwareEncoder))


def metrics_for_resume(run_dir: Path, keep_epochs: int,
                       saved: list[dict[str, Any]] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The records ``metrics.jsonl`` must hold to resume after epoch ``keep_epochs - 1``, and a note.

    Records of later epochs (written after the checkpoint) are dropped. When the file lacks some of the
    kept epochs (deleted, cut short or damaged) they are **rebuilt** from ``saved``, the checkpoint's copy
    of the records, and the note says so; without a usable copy that is a :class:`RunDirError`, raised
    before anything is written (resuming would lose the history).
    """
    path = Path(run_dir) / METRICS_FILE
    try:
        records = [r for r in read_metrics(run_dir) if r["epoch"] < keep_epochs]
    except DamagedRunError:
        if saved is None:
            raise
        records = []
    have = [r["epoch"] for r in records]
    if have == list(range(keep_epochs)):
        return records, None
    if saved is None or [r.get("epoch") for r in saved[:keep_epochs]] != list(range(keep_epochs)):
        state = "is missing" if not path.exists() else f"holds epochs {have}"
        raise RunDirError(f"{path} {state} but the checkpoint continues after epoch {keep_epochs - 1} and holds "
                          "no copy of the records; resuming would lose the history (start the run again with "
                          "`workbench train --restart` instead)")
    records = [dict(r) for r in saved[:keep_epochs]]
    for lineno, record in enumerate(records, 1):
        check_metrics_record(record, f"{path} (checkpoint copy)", lineno)
    state = "was missing" if not path.exists() else f"held epochs {have}"
    return records, f"{path} {state}; rebuilt epochs 0..{keep_epochs - 1} from the checkpoint's copy"


class _PlotlyAwareEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:  # numpy arrays inside plotly dicts
        try:
            return _json_default(o)
        except TypeError:
            return super().default(o)


# ----------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class RunSummary:
    """One line of the run list (what the dashboard's Runs page shows)."""

    run_id: str
    path: Path
    status: str  # running | done | failed | damaged
    error: str | None = None
    track: str = "retrieval"  # retrieval | labels
    preset: str | None = None
    dataset: str | None = None
    method: str | None = None
    backbone: str | None = None
    mrate: float | None = None
    rho: float | None = None
    lam: float | None = None
    batch_size: int | None = None
    seed: int | None = None
    noise: str | None = None  # label track: symmetric | asymmetric
    noise_rate: float | None = None  # label track: fraction of noisy labels
    best_rsum: float | None = None
    test_rsum: float | None = None
    best_epoch: int | None = None
    epochs_done: int = 0
    created: str | None = None
    updated: str | None = None
    ot_off_marginals: int = 0  # L2RM: OT solves whose plan missed its marginals or mass (all epochs)
    ot_unconverged: int = 0  # L2RM: OT solves that hit the iteration cap (all epochs)
    warmup_drop: float | None = None  # relative drop of the warm-up loss, first to last warm-up epoch
    warmup_stalled: bool = False  # the warm-up ended on its initial loss (``warmup_check`` in metrics.jsonl)

    def as_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "path"}


@dataclass(frozen=True)
class RunResult:
    """What :func:`workbench.train.run` returns (the same facts are in the run directory)."""

    run_dir: Path | None
    results: dict[str, Any]
    metrics: list[dict[str, Any]]

    @property
    def test(self) -> dict[str, float]:
        return self.results["test"]


@dataclass(frozen=True)
class RunRecord:
    """A whole run as read from disk (no artefacts)."""

    summary: RunSummary
    info: dict[str, Any]
    metrics: list[dict[str, Any]]
    results: dict[str, Any] | None


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file; :class:`DamagedRunError` when missing, unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise DamagedRunError(path, "missing") from None
    except IsADirectoryError:
        raise DamagedRunError(path, "is a directory, not a file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedRunError(path, f"unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise DamagedRunError(path, f"expected a JSON object, got {type(data).__name__}")
    return data


def _resolve(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise RunDirError(f"{path}: cannot be resolved ({exc})") from None


def resolve_run_dir(root: Path, run_id: str) -> Path:
    """``root/run_id``, refusing anything that would leave the runs root (``..``, absolute, symlinks)."""
    root_resolved = _resolve(root)
    candidate = _resolve(root_resolved / run_id)
    if candidate == root_resolved or root_resolved not in candidate.parents:
        raise RunDirError(f"run {run_id!r} is outside the runs root {root_resolved}")
    return candidate


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved (symlinks followed); :class:`RunDirError` when that leaves ``root``."""
    resolved = _resolve(path)
    root_resolved = _resolve(root)
    if root_resolved != resolved and root_resolved not in resolved.parents:
        raise RunDirError(f"{path} resolves outside the runs root {root_resolved}; it is not read")
    return resolved


def _run_file(run_dir: Path, name: str, root: Path | None) -> Path:
    """``run_dir/name`` confined to ``root`` (the run directory itself when no root is given)."""
    return _inside(run_dir if root is None else root, Path(run_dir) / name)


def read_run_info(run_dir: Path, *, root: Path | None = None) -> dict[str, Any]:
    """``run.json``, checked against its schema (:func:`workbench.runschema.check_run_info`).

    The file must resolve inside ``root`` (default: inside ``run_dir``; a symlink out is refused).
    Raises :class:`DamagedRunError` (naming the field) or :class:`RunDirError` (outside the root).
    """
    path = _run_file(Path(run_dir), RUN_FILE, root)
    return check_run_info(_read_json(path), Path(run_dir) / RUN_FILE)


def read_metrics(run_dir: Path, *, root: Path | None = None) -> list[dict[str, Any]]:
    """Epoch records of ``metrics.jsonl``, each checked against its schema; a torn (partially
    written) last line is skipped. Confined like :func:`read_run_info`."""
    shown = Path(run_dir) / METRICS_FILE
    path = _run_file(Path(run_dir), METRICS_FILE, root)
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")
    except OSError as exc:
        raise DamagedRunError(shown, f"unreadable ({exc.strerror or exc})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if lineno >= len(lines) - 1:  # the last line may be torn by a crash mid-write
                break
            raise DamagedRunError(f"{shown}:{lineno}", "not valid JSON") from None
        records.append(check_metrics_record(rec, shown, lineno))
    return records


def read_results(run_dir: Path, *, root: Path | None = None) -> dict[str, Any] | None:
    """``results.json`` checked against its schema, or None when the run has none (yet)."""
    path = _run_file(Path(run_dir), RESULTS_FILE, root)
    if not path.exists():
        return None
    return check_results(_read_json(path), Path(run_dir) / RESULTS_FILE)


def _effective_status(info: Mapping[str, Any], run_json: Path) -> tuple[str, str | None]:
    status = str(info.get("status", "damaged"))
    error = info.get("error")
    if status != "running":
        return status, error
    pid, host = info.get("pid"), info.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        return "failed", f"process {pid} exited without finishing the run (killed or crashed)"
    try:
        age = time.time() - run_json.stat().st_mtime
    except OSError:
        age = 0.0
    if host != socket.gethostname() and age > _HEARTBEAT_STALE_S:
        return "failed", f"no sign of life for over 6 h (host {host})"
    return "running", None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negative ids address process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def _summarise(run_dir: Path, run_id: str, info: Mapping[str, Any], metrics: list[dict[str, Any]],
               results: Mapping[str, Any] | None) -> RunSummary:
    """The run-list line of a run whose files passed their schema checks."""
    status, error = _effective_status(info, run_dir / RUN_FILE)
    val = [m["val"].get("rsum") for m in metrics if m.get("val")]
    val = [v for v in val if v is not None]
    best = max(val) if val else None
    rematch = [m["rematch"] for m in metrics if m.get("rematch")]
    off = sum(int(r.get("off_marginals") or 0) for r in rematch)
    unconverged = sum(int(r.get("unconverged") or 0) for r in rematch)
    checks = [m["warmup_check"] for m in metrics if isinstance(m.get("warmup_check"), Mapping)]
    warmup = checks[-1] if checks else {}
    test_rsum = None
    best_epoch = None
    if results:
        test_rsum = (results.get("test") or {}).get("rsum")
        best = results.get("best_val_rsum", best)
        best_epoch = results.get("best_epoch")
    return RunSummary(
        run_id=run_id, path=run_dir, status=status, error=error,
        track=info.get("track") or "retrieval", preset=info.get("preset"),
        dataset=info.get("dataset"), method=info.get("method"), backbone=info.get("backbone"),
        mrate=info.get("mrate"), rho=info.get("rho"), lam=info.get("lam"),
        batch_size=info.get("batch_size"), seed=info.get("seed"), noise=info.get("noise"),
        noise_rate=info.get("noise_rate"), best_rsum=best, test_rsum=test_rsum,
        best_epoch=best_epoch, epochs_done=len(metrics), created=info.get("created"),
        updated=info.get("updated"), ot_off_marginals=off, ot_unconverged=unconverged,
        warmup_drop=_finite_or_none(warmup.get("drop")), warmup_stalled=warmup.get("stalled") is True,
    )


def _finite_or_none(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def read_run(root: Path, run_id: str) -> RunRecord:
    """Read one run, every file confined to ``root`` and checked against its schema.

    Raises:
        DamagedRunError: a file is missing, unreadable or has a bad field (the message names both).
        RunDirError: the run or one of its files resolves outside ``root``.
    """
    run_dir = resolve_run_dir(root, run_id)
    info = read_run_info(run_dir, root=root)
    metrics = read_metrics(run_dir, root=root)
    results = read_results(run_dir, root=root)
    return RunRecord(summary=_summarise(run_dir, run_id, info, metrics, results), info=info,
                     metrics=metrics, results=results)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # e.g. PermissionError on /proc/1/cwd
        return False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _is_link(path: Path) -> bool:
    try:
        return path.is_symlink()
    except (OSError, ValueError):
        return False


def _candidate_dirs(root: Path) -> Iterator[Path]:
    """Run directories under ``root``: any directory holding ``run.json`` (up to 3 levels deep).

    Entries that cannot be read (permissions, vanished, odd files such as ``/proc``) are skipped.
    """
    root = Path(root)
    if not _is_dir(root):
        return
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            entries = sorted(here.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in (ARTIFACTS, CHECKPOINTS) or not _is_dir(entry):
                continue
            if _is_file(entry / RUN_FILE) or _is_link(entry / RUN_FILE):
                yield entry
            elif depth < 2:
                stack.append((entry, depth + 1))


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under ``root`` (nested up to 3 levels), newest first.

    A run whose files break their schema, or lead outside ``root``, is listed with status ``damaged``
    and the reason (naming the file and field) as its ``error``; the other runs are unaffected.
    """
    out: list[RunSummary] = []
    for run_dir in _candidate_dirs(root):
        rel = run_dir.relative_to(Path(root)).as_posix()
        try:
            out.append(read_run(root, rel).summary)
        except RunDirError as exc:
            out.append(RunSummary(run_id=rel, path=run_dir, status="damaged", error=str(exc)))
    out.sort(key=lambda s: (s.created or "", s.run_id), reverse=True)
    return out


# -------------------------------------------------------------------------------------------- artefacts
def _artifact(root: Path, run_id: str, *parts: str) -> Path:
    path = _inside(root, resolve_run_dir(root, run_id) / ARTIFACTS / Path(*parts))
    if not path.exists():
        raise DamagedRunError(path, "missing")
    return path


def read_table(root: Path, run_id: str, name: str) -> Any:
    """``artifacts/<name>`` (parquet) as a pandas DataFrame, its columns checked against
    :data:`workbench.runschema.TABLE_COLUMNS`; :class:`DamagedRunError` when missing or damaged."""
    import pandas as pd

    path = _artifact(root, run_id, name)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DamagedRunError(path, f"unreadable parquet ({exc})") from None
    return check_table(frame, name, path)


def list_alignments(root: Path, run_id: str) -> list[int]:
    """Epochs for which ``artifacts/alignments/epoch_XXX.npz`` exists, ascending."""
    folder = resolve_run_dir(root, run_id) / ARTIFACTS / "alignments"
    if not _is_dir(folder):
        return []
    epochs = []
    for path in folder.glob("epoch_*.npz"):
        match = re.fullmatch(r"epoch_(\d+)\.npz", path.name)
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise DamagedRunError(path, f"unreadable ({exc})") from None


def read_alignment(root: Path, run_id: str, epoch: int) -> dict[str, np.ndarray]:
    """Arrays of one saved OT batch (cost, plan, mask, ids, ...), loaded without pickle and checked
    against the ``alignment`` schema of :data:`workbench.runschema.ARRAY_SCHEMAS`."""
    path = _artifact(root, run_id, "alignments", f"epoch_{epoch:03d}.npz")
    return check_arrays(_load_npz(path), "alignment", path)


def read_arrays(root: Path, run_id: str, name: str) -> dict[str, np.ndarray]:
    """Arrays of ``artifacts/<name>`` (an ``.npz`` such as ``label_confusion.npz``), loaded without
    pickle; checked against :data:`workbench.runschema.ARRAY_SCHEMAS` when it names the file."""
    path = _artifact(root, run_id, name)
    arrays = _load_npz(path)
    return check_arrays(arrays, name, path) if name in ARRAY_SCHEMAS else arrays


def list_figures(root: Path, run_id: str) -> list[str]:
    folder = resolve_run_dir(root, run_id) / ARTIFACTS / "figures"
    return sorted(p.stem for p in folder.glob("*.json")) if _is_dir(folder) else []


def read_figure(root: Path, run_id: str, name: str) -> dict[str, Any]:
    """A saved plotly figure spec (``artifacts/figures/<name>.json``) as a dict."""
    return _read_json(_artifact(root, run_id, "figures", f"{name}.json"))


def describe_environment() -> dict[str, str]:
    """Versions worth recording with a run (no torch import here: the caller adds it)."""
    from workbench import __version__

    return {"workbench": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}
