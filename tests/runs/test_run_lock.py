"""One writer per run directory: a live holder refuses a second writer (another process, another host),
a dead one's lock is taken over (including a reused pid), and finishing releases it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.errors import RunDirError
from workbench.runlock import LOCK_FILE, RunLock, RunLockedError, read_lock
from workbench.runs import RunWriter

HOLD = """
import sys, time
from workbench.runs import RunWriter
w = RunWriter.reopen(sys.argv[1]) if sys.argv[2] == "reopen" else RunWriter.create(
    sys.argv[1], config={}, summary={"method": "l2rm"})
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path):
    """A separate live process holding the lock of ``tmp_path / "run"`` (killed afterwards)."""
    procs = []

    def start(run_dir: Path, mode: str = "create") -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), mode], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held", proc.stderr.read()
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=30)


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path: Path, holder) -> None:
    run_dir = tmp_path / "run"
    proc = holder(run_dir)
    owner = read_lock(run_dir)
    assert owner is not None and owner.pid == proc.pid and owner.host == socket.gethostname()
    with pytest.raises(RunLockedError, match=f"being written by process {proc.pid} on host"):
        RunWriter.reopen(run_dir)
    with pytest.raises(RunLockedError, match="second writer"):
        RunWriter.create(run_dir, config={}, summary={}, overwrite=True)
    assert json.loads((run_dir / "run.json").read_text())["pid"] == proc.pid  # untouched
    proc.kill()
    proc.wait(timeout=30)
    writer = RunWriter.reopen(run_dir)  # the holder died: its lock is stale and taken over
    assert read_lock(run_dir).pid == writer.info["pid"]
    writer.finish("done")
    assert not (run_dir / LOCK_FILE).exists()  # finishing releases it


def test_a_reused_pid_does_not_keep_a_dead_lock(tmp_path: Path, holder) -> None:
    run_dir = tmp_path / "run"
    proc = holder(run_dir)
    lock = json.loads((run_dir / LOCK_FILE).read_text())
    proc.kill()
    proc.wait(timeout=30)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # the lock names a live process, but one that started at another time than the writer did
        (run_dir / LOCK_FILE).write_text(json.dumps({**lock, "pid": live.pid}))
        RunLock.acquire(run_dir).release()
        (run_dir / LOCK_FILE).write_text(json.dumps({**lock, "pid": live.pid, "start": None}))
        with pytest.raises(RunLockedError):  # no start time to compare: a live pid is respected
            RunLock.acquire(run_dir)
    finally:
        live.kill()
        live.wait(timeout=30)


def test_a_lock_from_another_host_is_respected_and_explained(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "start": 5, "created": "t"}))
    with pytest.raises(RunLockedError, match=r"host elsewhere .*if that process is gone, delete .*run.lock"):
        RunLock.acquire(run_dir)
    (run_dir / LOCK_FILE).write_text("not json")
    with pytest.raises(RunLockedError, match="run.lock is unreadable.*if none does, delete that file"):
        RunLock.acquire(run_dir)


def test_the_holding_process_may_reopen_its_run(tmp_path: Path) -> None:
    writer = RunWriter.create(tmp_path / "run", config={}, summary={})
    again = RunWriter.reopen(tmp_path / "run")
    again.finish("failed", "stopped")
    assert not (tmp_path / "run" / LOCK_FILE).exists()
    writer.close()  # idempotent when the lock is gone


def test_a_run_dir_that_is_a_file_or_unwritable_is_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a directory"):
        RunLock.acquire(tmp_path / "file")
    with pytest.raises(RunDirError, match="cannot create the run directory"):
        RunLock.acquire(tmp_path / "file" / "run")


def test_the_lock_appears_with_its_content(tmp_path: Path) -> None:
    """Created by a hard link of a complete temporary file: never empty, no temporary left behind."""
    t0 = time.time()
    lock = RunLock.acquire(tmp_path / "run")
    data = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
    assert set(data) == {"pid", "host", "start", "created"} and data["host"] == socket.gethostname()
    assert [p.name for p in (tmp_path / "run").iterdir()] == [LOCK_FILE]
    lock.release()
    assert time.time() - t0 < 5 and not (tmp_path / "run" / LOCK_FILE).exists()
