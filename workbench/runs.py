"""The run directory: the contract between training and everything that looks at a run.

Layout (DESIGN §5)::

    <runs_root>/<run_id>/
      run.json            config, preset, dataset, method, seed, versions, status, error, timings
      metrics.jsonl       one JSON object per epoch (losses, lr, validation R@K, split quality vs truth)
      results.json        final test metrics, best epoch (and MAP for the label track)
      artifacts/          cost_by_epoch.parquet, alignments/epoch_XXX.npz, rematch_examples.parquet,
                          refined_ranks.parquet, figures/*.json, ...
      checkpoints/        last.pt, best.pt (torch; loaded with weights_only=True)
      notebook.ipynb      the executed papermill notebook, when the run came from one

Writers (:class:`RunWriter`) make every file appear atomically (temporary name, then ``os.replace``);
``metrics.jsonl`` is appended line by line and a torn last line is ignored by the reader. A run being
written has status ``running``; a run whose process died without finishing is reported as ``failed``
(its process is gone) by the reader; a directory that cannot be read is ``damaged``.

This module is torch-free (the dashboard imports it) and never unpickles anything: readers use JSON,
parquet and ``np.load(allow_pickle=False)`` only, and every path is resolved inside the runs root.
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

__all__ = [
    "RUN_FILE",
    "METRICS_FILE",
    "RESULTS_FILE",
    "RunWriter",
    "RunSummary",
    "RunRecord",
    "RunResult",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "new_run_id",
    "list_runs",
    "read_run",
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
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
    """Writes one run directory. Created by the trainer; the only writer of its directory."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self._info: dict[str, Any] = {}

    # -- lifecycle
    @classmethod
    def create(cls, run_dir: Path, *, config: Mapping[str, Any], summary: Mapping[str, Any],
               preset: str | None = None, versions: Mapping[str, str] | None = None,
               overwrite: bool = False) -> RunWriter:
        """Start a new run: writes ``run.json`` with status ``running``.

        ``summary`` holds the fields the dashboard lists (dataset, method, backbone, mrate, rho, lam,
        seed, track, ...); ``config`` the full nested configuration. A directory that already holds a run
        is refused (two runs would mix their records) unless ``overwrite``, which first removes that run's
        records, artefacts and checkpoints (other files, e.g. a notebook being executed, are kept).
        """
        writer = cls(run_dir)
        if (writer.dir / RUN_FILE).exists():
            if not overwrite:
                raise RunDirError(f"{writer.dir} already holds a run ({RUN_FILE}); resume it, or choose a "
                                  "new directory")
            for name in (RUN_FILE, METRICS_FILE, RESULTS_FILE):
                (writer.dir / name).unlink(missing_ok=True)
            for name in (ARTIFACTS, CHECKPOINTS):
                shutil.rmtree(writer.dir / name, ignore_errors=True)
        writer.dir.mkdir(parents=True, exist_ok=True)
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
        return writer

    @classmethod
    def reopen(cls, run_dir: Path) -> RunWriter:
        """Continue an existing run (resume): status back to ``running``, same metadata."""
        writer = cls(run_dir)
        info = _read_json(writer.dir / RUN_FILE)
        info.update(status="running", error=None, pid=os.getpid(), host=socket.gethostname(),
                    updated=_now(), finished=None, resumed=int(info.get("resumed", 0)) + 1)
        writer._info = info
        writer._flush()
        return writer

    def _flush(self) -> None:
        atomic_write_json(self.dir / RUN_FILE, self._info)

    @property
    def info(self) -> dict[str, Any]:
        return self._info

    def update(self, **fields: Any) -> None:
        """Merge top-level fields into ``run.json`` (e.g. timings, best_rsum)."""
        self._info.update(fields)
        self._info["updated"] = _now()
        self._flush()

    def finish(self, status: str = "done", error: BaseException | str | None = None) -> None:
        if status not in ("done", "failed"):
            raise ValueError(f"finish status must be 'done' or 'failed', got {status!r}")
        if isinstance(error, BaseException):
            text = "".join(traceback.format_exception_only(type(error), error)).strip()
        else:
            text = error
        self.update(status=status, error=text, finished=_now())

    # -- records
    def log_epoch(self, record: Mapping[str, Any]) -> None:
        """Append one epoch's record to ``metrics.jsonl`` (one line, flushed and synced)."""
        line = json.dumps(_clean_floats(dict(record)), default=_json_default)
        with open(self.dir / METRICS_FILE, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.update()

    def truncate_metrics(self, keep_epochs: int) -> None:
        """Keep only records of epochs < ``keep_epochs`` (used when resuming from a checkpoint)."""
        records = [r for r in read_metrics(self.dir) if int(r.get("epoch", -1)) < keep_epochs]
        atomic_write_text(self.dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in records))

    def write_results(self, results: Mapping[str, Any]) -> None:
        atomic_write_json(self.dir / RESULTS_FILE, results)

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
            os.replace(tmp, path)
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
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_figure(self, name: str, figure: Any) -> None:
        """Write a plotly figure (or its dict) to ``artifacts/figures/<name>.json``."""
        spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
        atomic_write_text(self.artifact(f"figures/{name}.json"),
                          json.dumps(spec, default=_json_default, cls=_PlotlyAwareEncoder))


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
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise RunDirError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def resolve_run_dir(root: Path, run_id: str) -> Path:
    """``root/run_id``, refusing anything that would leave the runs root (``..``, absolute, symlinks)."""
    root_resolved = Path(root).resolve()
    candidate = (root_resolved / run_id).resolve()
    if candidate == root_resolved or root_resolved not in candidate.parents:
        raise RunDirError(f"run {run_id!r} is outside the runs root {root_resolved}")
    return candidate


def _inside(root: Path, path: Path) -> Path:
    resolved = path.resolve()
    root_resolved = Path(root).resolve()
    if root_resolved != resolved and root_resolved not in resolved.parents:
        raise RunDirError(f"{path} resolves outside the runs root {root_resolved}")
    return resolved


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Epoch records of ``metrics.jsonl``; a torn (partially written) last line is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if lineno >= len(lines) - 1:  # the last line may be torn by a crash mid-write
                break
            raise RunDirError(f"{path}:{lineno}: not valid JSON") from None
        if isinstance(rec, dict):
            records.append(rec)
    return records


def read_results(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / RESULTS_FILE
    return _read_json(path) if path.exists() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _effective_status(info: Mapping[str, Any], run_json: Path) -> tuple[str, str | None]:
    status = str(info.get("status", "damaged"))
    error = info.get("error")
    if status != "running":
        return status, error
    pid, host = info.get("pid"), info.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        return "failed", f"process {pid} exited without finishing the run (killed or crashed)"
    if host != socket.gethostname() and time.time() - run_json.stat().st_mtime > _HEARTBEAT_STALE_S:
        return "failed", f"no sign of life for over 6 h (host {host})"
    return "running", None


def _summarise(run_dir: Path, run_id: str, info: Mapping[str, Any], metrics: list[dict[str, Any]],
               results: Mapping[str, Any] | None) -> RunSummary:
    status, error = _effective_status(info, run_dir / RUN_FILE)
    val = [m.get("val", {}).get("rsum") for m in metrics if isinstance(m.get("val"), dict)]
    val = [v for v in val if isinstance(v, (int, float))]
    best = max(val) if val else None
    test_rsum = None
    best_epoch = None
    if results:
        test = results.get("test")
        if isinstance(test, Mapping):
            test_rsum = test.get("rsum")
        best = results.get("best_val_rsum", best)
        best_epoch = results.get("best_epoch")
    return RunSummary(
        run_id=run_id, path=run_dir, status=status, error=error,
        track=str(info.get("track", "retrieval")), preset=info.get("preset"),
        dataset=info.get("dataset"), method=info.get("method"), backbone=info.get("backbone"),
        mrate=info.get("mrate"), rho=info.get("rho"), lam=info.get("lam"),
        batch_size=info.get("batch_size"), seed=info.get("seed"), noise=info.get("noise"),
        noise_rate=info.get("noise_rate"), best_rsum=best, test_rsum=test_rsum,
        best_epoch=best_epoch, epochs_done=len(metrics), created=info.get("created"),
        updated=info.get("updated"),
    )


def read_run(root: Path, run_id: str) -> RunRecord:
    """Read one run; raises :class:`RunDirError` (naming the file) when it is damaged."""
    run_dir = resolve_run_dir(root, run_id)
    info = _read_json(run_dir / RUN_FILE)
    metrics = read_metrics(run_dir)
    results = read_results(run_dir)
    return RunRecord(summary=_summarise(run_dir, run_id, info, metrics, results), info=info,
                     metrics=metrics, results=results)


def _candidate_dirs(root: Path) -> Iterator[Path]:
    """Run directories under ``root``: any directory holding ``run.json`` (up to 3 levels deep)."""
    root = Path(root)
    if not root.is_dir():
        return
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            entries = sorted(here.iterdir())
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir() or entry.name.startswith(".") or entry.name in (ARTIFACTS, CHECKPOINTS):
                continue
            if (entry / RUN_FILE).exists():
                yield entry
            elif depth < 2:
                stack.append((entry, depth + 1))


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under ``root`` (nested up to 3 levels), newest first; damaged ones included as such."""
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
def read_table(root: Path, run_id: str, name: str) -> Any:
    """Read ``artifacts/<name>`` (parquet) as a pandas DataFrame; RunDirError when missing or damaged."""
    import pandas as pd

    path = _inside(root, resolve_run_dir(root, run_id) / ARTIFACTS / name)
    if not path.exists():
        raise RunDirError(f"{path}: missing")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise RunDirError(f"{path}: unreadable parquet ({exc})") from None


def list_alignments(root: Path, run_id: str) -> list[int]:
    """Epochs for which ``artifacts/alignments/epoch_XXX.npz`` exists, ascending."""
    folder = resolve_run_dir(root, run_id) / ARTIFACTS / "alignments"
    if not folder.is_dir():
        return []
    epochs = []
    for path in folder.glob("epoch_*.npz"):
        match = re.fullmatch(r"epoch_(\d+)\.npz", path.name)
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def read_alignment(root: Path, run_id: str, epoch: int) -> dict[str, np.ndarray]:
    """Arrays of one saved OT batch (cost, plan, mask, ids, ...), loaded without pickle."""
    path = _inside(root, resolve_run_dir(root, run_id) / ARTIFACTS / "alignments" / f"epoch_{epoch:03d}.npz")
    if not path.exists():
        raise RunDirError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from None


def read_arrays(root: Path, run_id: str, name: str) -> dict[str, np.ndarray]:
    """Arrays of ``artifacts/<name>`` (an ``.npz`` such as ``label_confusion.npz``), loaded without pickle."""
    path = _inside(root, resolve_run_dir(root, run_id) / ARTIFACTS / name)
    if not path.exists():
        raise RunDirError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from None


def list_figures(root: Path, run_id: str) -> list[str]:
    folder = resolve_run_dir(root, run_id) / ARTIFACTS / "figures"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def read_figure(root: Path, run_id: str, name: str) -> dict[str, Any]:
    """A saved plotly figure spec (``artifacts/figures/<name>.json``) as a dict."""
    path = _inside(root, resolve_run_dir(root, run_id) / ARTIFACTS / "figures" / f"{name}.json")
    return _read_json(path)


def describe_environment() -> dict[str, str]:
    """Versions worth recording with a run (no torch import here: the caller adds it)."""
    from workbench import __version__

    return {"workbench": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}
