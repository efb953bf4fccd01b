"""Fault injection: training killed with SIGKILL at random moments, N times, and continued each time
(``--resume`` from the last checkpoint, or ``--restart`` when it died before its first one), ends with
results, metrics, artefacts and best weights identical to an uninterrupted run's.

Kill moments are drawn from a seeded generator over the uninterrupted run's duration, so they fall in
data loading, inside epochs, between an epoch's record and its checkpoint, or in the final test; which
of those a draw hits depends on the machine's speed, and every outcome must converge to the same bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytestmark = pytest.mark.slow

KILLS = 3
SETTINGS = ["--set", "mrate=0.6", "--set", "epochs=2", "--set", "threads=1", "--set", "l2rm.split_guard=false",
            "--set", "log.rematch_examples=32", "--set", "train_images=200"]
TABLES = ("cost_by_epoch.parquet", "rematch_examples.parquet", "refined_ranks.parquet")


def _workbench(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench", *args, "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _fingerprint(run_dir: Path) -> dict[str, bytes]:
    """Everything a run computes, as bytes; times (``wall_time_s``, ``time_s``) left out."""
    results = json.loads((run_dir / "results.json").read_text())
    results.pop("wall_time_s")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("time_s")
    out = {"results": json.dumps(results, sort_keys=True).encode(),
           "metrics": json.dumps(records, sort_keys=True).encode()}
    for name in TABLES:
        frame = pd.read_parquet(run_dir / "artifacts" / name)
        frame = frame.sort_values(list(frame.columns[:3]), kind="stable").reset_index(drop=True)
        out[name] = frame.to_csv(index=False).encode()
    for path in sorted((run_dir / "artifacts" / "alignments").glob("*.npz")):
        with np.load(path) as data:
            out[path.name] = b"".join(data[k].tobytes() for k in sorted(data.files))
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    out["best.pt"] = b"".join(t.numpy().tobytes() for sd in best["models"] for t in sd.values())
    out["noise"] = (run_dir / "artifacts" / "noise_index.npy").read_bytes()
    return out


def test_random_kills_then_resume_end_byte_identical(tmp_path: Path) -> None:
    env = {**os.environ, "WORKBENCH_DATA": str(tmp_path / "data"), "TQDM_DISABLE": "1"}
    base = ["train", "--preset", "tiny-l2rm-vse", *SETTINGS]
    t0 = time.monotonic()
    full = _workbench([*base, "--run-dir", str(tmp_path / "full")], env)
    _, err = full.communicate(timeout=900)
    assert full.returncode == 0, err
    duration = time.monotonic() - t0

    victim = tmp_path / "victim"
    rng = np.random.default_rng(17)
    command = [*base, "--run-dir", str(victim)]
    kills, log = 0, []
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        proc = _workbench(command, env)
        delay = float(rng.uniform(0.1, 0.6) * duration) if kills < KILLS else None
        try:
            _, err = proc.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            kills += 1
            last = victim / "checkpoints" / "last.pt"
            log.append(f"kill {kills} at {delay:.1f}s ({'after' if last.exists() else 'before'} a checkpoint)")
            command = ["train", "--resume" if last.exists() else "--restart", str(victim)]
            if not (victim / "run.json").exists():  # killed before the run directory existed: start anew
                command = [*base, "--run-dir", str(victim)]
            continue
        assert proc.returncode == 0, f"{log}: {err}"
        if kills >= KILLS:
            break
        log.append("finished before the kill")  # a draw past the end: start over to kill it again
        command = [*base, "--run-dir", str(victim), "--overwrite"]
    assert kills == KILLS, log
    info = json.loads((victim / "run.json").read_text())
    assert info["status"] == "done" and not (victim / "run.lock").exists()
    want, got = _fingerprint(tmp_path / "full"), _fingerprint(victim)
    assert list(got) == list(want)
    for key in want:
        assert got[key] == want[key], f"{key} differs after {log}"
    epochs = [json.loads(line)["epoch"] for line in (victim / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2], log
    print(f"uninterrupted run {duration:.0f}s; " + "; ".join(log))  # shown with pytest -rP
