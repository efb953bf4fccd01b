"""Two CPU processes (torchrun, gloo) train the same model as one process, within float tolerance."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# dropout off: the two launches would otherwise draw different dropout masks
SETTINGS = ["--set", "mrate=0.6", "--set", "epochs=2", "--set", "threads=1", "--set", "model.dropout=0",
            "--set", "l2rm.split_guard=false", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("backbone", ["vse", "sgr"])
def test_two_processes_equal_one(tmp_path: Path, backbone: str) -> None:
    env = {**os.environ, "WORKBENCH_DATA": str(tmp_path / "data"), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    preset = ["train", "--preset", f"tiny-l2rm-{backbone}", *SETTINGS]
    if backbone == "sgr":
        preset += ["--set", "epochs=1"]
    single = subprocess.run([sys.executable, "-m", "workbench", *preset, "--run-dir", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=900)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), "-m", "workbench", *preset, "--run-dir", str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=900)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert len(one) == len(two)
    for a, b in zip(one, two):
        for name, value in a["losses"].items():
            assert b["losses"][name] == pytest.approx(value, rel=1e-3, abs=1e-4), (a["epoch"], name)
        if a.get("split"):
            assert b["split"]["n_clean"] == pytest.approx(a["split"]["n_clean"], abs=3)
    r1 = json.loads((tmp_path / "one" / "results.json").read_text())["test"]
    r2 = json.loads((tmp_path / "two" / "results.json").read_text())["test"]
    assert r2["rsum"] == pytest.approx(r1["rsum"], abs=2.0)
