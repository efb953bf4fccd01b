"""An exclusive lock on a run directory: one writer at a time.

The lock is the file ``<run dir>/run.lock`` holding ``{"pid", "host", "start", "created"}`` of the
writing process. It is created atomically with its content (written to a temporary file, then
hard-linked to the lock name, which fails when the name exists), so no reader ever sees an empty lock.

A lock is **stale** when its process is gone: same host and no process with that pid, or a process
with that pid that started at another time than the one recorded (the pid was reused). A stale lock
is taken over; a live one refuses the second writer with :class:`RunLockedError`, naming the holder.
A lock from another host cannot be checked from here and is always respected (the message says how to
remove it). The process that holds a lock may take it again (a run reopened in the same process).

Torch-free; used by :class:`workbench.runs.RunWriter`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import RunDirError

__all__ = ["LOCK_FILE", "LockOwner", "RunLock", "RunLockedError", "read_lock"]

LOCK_FILE = "run.lock"


class RunLockedError(RunDirError):
    """Another live process writes this run directory."""


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock: process id, host name, process start stamp (None where unknown), lock time."""

    pid: int
    host: str
    start: int | None
    created: str

    def describe(self) -> str:
        return f"process {self.pid} on host {self.host} (since {self.created})"


def _process_start(pid: int) -> int | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux ``/proc``); None where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after its closing ")"
        return int(text.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def _me() -> LockOwner:
    pid = os.getpid()
    return LockOwner(pid=pid, host=socket.gethostname(), start=_process_start(pid),
                     created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))


def read_lock(run_dir: Path) -> LockOwner | None:
    """The holder recorded in ``run_dir/run.lock``; None when there is no lock file.

    A lock file that is not the expected JSON is reported as held by pid 0 on an unknown host (it is
    then never taken over silently).
    """
    path = Path(run_dir) / LOCK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockOwner(pid=int(data["pid"]), host=str(data["host"]),
                         start=None if data.get("start") is None else int(data["start"]),
                         created=str(data.get("created", "?")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return LockOwner(pid=0, host="<unreadable lock file>", start=None, created="?")


def is_stale(owner: LockOwner) -> bool:
    """Whether ``owner``'s process is gone (only decidable for this host)."""
    if owner.host != socket.gethostname() or owner.pid <= 0:
        return False
    if not _pid_alive(owner.pid):
        return True
    start = _process_start(owner.pid)
    return owner.start is not None and start is not None and start != owner.start


class RunLock:
    """The held lock of one run directory; release it with :meth:`release` (or use it as a context)."""

    def __init__(self, run_dir: Path, owner: LockOwner) -> None:
        self.run_dir, self.owner = Path(run_dir), owner
        self._held = True

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_FILE

    @classmethod
    def acquire(cls, run_dir: str | os.PathLike[str]) -> RunLock:
        """Take the lock of ``run_dir`` (created if needed).

        Raises:
            RunLockedError: a live process (or one on another host) holds it.
            RunDirError: ``run_dir`` exists and is not a directory, or cannot be written.
        """
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise RunDirError(f"run directory {run_dir} is a file, not a directory")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}") from None
        me = _me()
        for _ in range(3):
            if cls._try_create(run_dir, me):
                return cls(run_dir, me)
            owner = read_lock(run_dir)
            if owner is None:
                continue  # released meanwhile: try again
            if owner.pid == me.pid and owner.host == me.host:
                return cls(run_dir, owner)  # this process holds it already
            if owner.pid <= 0:
                raise RunLockedError(f"{run_dir / LOCK_FILE} is unreadable, so whether another process writes "
                                     "this run cannot be told; if none does, delete that file")
            if not is_stale(owner):
                where = "" if owner.host == me.host else (
                    f"; it cannot be checked from host {me.host}: if that process is gone, delete "
                    f"{run_dir / LOCK_FILE}")
                raise RunLockedError(f"{run_dir} is being written by {owner.describe()}; a second writer "
                                     f"would mix the two runs' records, so this one stops{where}")
            (run_dir / LOCK_FILE).unlink(missing_ok=True)  # stale: its process is gone
        raise RunLockedError(f"{run_dir}: could not take {LOCK_FILE} (other processes keep taking it)")

    @staticmethod
    def _try_create(run_dir: Path, me: LockOwner) -> bool:
        text = json.dumps({"pid": me.pid, "host": me.host, "start": me.start, "created": me.created})
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{LOCK_FILE}.", dir=run_dir)
        except OSError as exc:
            raise RunDirError(f"cannot write in the run directory {run_dir}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            try:
                os.link(tmp, run_dir / LOCK_FILE)
            except FileExistsError:
                return False
            return True
        finally:
            Path(tmp).unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock file if this process still holds it (idempotent)."""
        if not self._held:
            return
        self._held = False
        owner = read_lock(self.run_dir)
        if owner is not None and owner.pid == self.owner.pid and owner.host == self.owner.host:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
