"""A run killed with SIGKILL mid-epoch and resumed ends with the same test metrics as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SETTINGS = ["--set", "mrate=0.6", "--set", "epochs=3", "--set", "threads=1", "--set", "l2rm.split_guard=false",
            "--set", "log.rematch_examples=32"]


def _workbench(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    env = {**os.environ, "WORKBENCH_DATA": str(tmp_path / "data"), "TQDM_DISABLE": "1"}
    base = ["train", "--preset", "tiny-l2rm-vse", *SETTINGS, "--no-progress"]

    full = _workbench([*base, "--run-dir", str(tmp_path / "full")], env)
    out, err = full.communicate(timeout=600)
    assert full.returncode == 0, err

    victim_dir = tmp_path / "killed"
    victim = _workbench([*base, "--run-dir", str(victim_dir)], env)
    last = victim_dir / "checkpoints" / "last.pt"
    deadline = time.time() + 600
    # wait until the first main-phase epoch is checkpointed, then kill during the next epoch
    while time.time() < deadline:
        metrics = victim_dir / "metrics.jsonl"
        if last.exists() and metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        assert victim.poll() is None, victim.communicate()[1]
        time.sleep(0.1)
    time.sleep(0.8)
    assert victim.poll() is None, "the run finished before it could be killed; make it longer"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    run_json = json.loads((victim_dir / "run.json").read_text())
    assert run_json["status"] == "running"  # killed: it never finished

    resumed = _workbench(["train", "--resume", str(victim_dir), "--no-progress"], env)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert json.loads((victim_dir / "run.json").read_text())["status"] == "done"

    want, got = _results(tmp_path / "full"), _results(victim_dir)
    assert got["test"] == want["test"]
    assert got["best_epoch"] == want["best_epoch"]
    lines = (victim_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2, 3]
