"""Regression tests: evaluation, the SGRAF ensemble and resuming compute where the run is configured to.

Two bugs: ``workbench eval`` and the ensemble always ran on the CPU (a COCO -SGRAF row is a GPU job), and a
resume read ``device`` / ``threads`` from the placeholder configuration instead of the checkpoint's.
The device resolver is replaced by one that records what it was asked for and stops there, so the tests
run without a GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workbench import ensemble, train
from workbench.checkpoints import save_checkpoint
from workbench.cli import main
from workbench.config import TrainConfig
from workbench.errors import ConfigError
from workbench.runs import RunWriter


class _Stop(Exception):
    pass


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def record(name: str) -> torch.device:
        calls.append(name)
        raise _Stop(name)

    monkeypatch.setattr(train, "resolve_device", record)
    monkeypatch.setattr(ensemble, "resolve_device", record)
    return calls


def _finished_run(path: Path, cfg: TrainConfig) -> Path:
    writer = RunWriter.create(path, config=cfg.to_dict(), summary={"track": "retrieval", "method": cfg.method})
    writer.finish("done")
    return path


def test_ensemble_uses_the_configured_device(tmp_path: Path, asked: list[str]) -> None:
    cfg = TrainConfig(device="cuda")
    runs = [_finished_run(tmp_path / name, cfg.override({"backbone": name})) for name in ("saf", "sgr")]
    with pytest.raises(_Stop):
        ensemble.evaluate_ensemble(runs, out_dir=tmp_path / "sgraf")
    with pytest.raises(_Stop):
        ensemble.evaluate_ensemble(runs, out_dir=tmp_path / "sgraf", device="cpu")  # an explicit choice wins
    assert asked == ["cuda", "cpu"]


def test_eval_uses_the_configured_device(tmp_path: Path, asked: list[str]) -> None:
    run = _finished_run(tmp_path / "run", TrainConfig(device="cuda"))
    with pytest.raises(_Stop):
        main(["eval", str(run), "--split", "test"])
    with pytest.raises(_Stop):
        main(["eval", str(run), "--split", "test", "--device", "cpu"])
    assert asked == ["cuda", "cpu"]


def _interrupted_run(path: Path, cfg: TrainConfig) -> Path:
    (path / "checkpoints").mkdir(parents=True)
    save_checkpoint({"version": train.CHECKPOINT_VERSION, "epoch": 0, "method": {}, "best": {},
                     "config": cfg.to_dict()}, path / "checkpoints" / "last.pt")
    return path


def test_resume_uses_the_checkpoints_device_and_threads(tmp_path: Path, asked: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    run = _interrupted_run(tmp_path / "run", TrainConfig(device="cuda", threads=3))
    with pytest.raises(_Stop):  # the placeholder says device auto, threads 0
        train.run(TrainConfig(), run_dir=run, resume=True)
    with pytest.raises(_Stop):  # an explicit move
        train.run(TrainConfig(), run_dir=run, resume=True, resume_overrides=["device=cpu", "threads=1"])
    with pytest.raises(_Stop):
        main(["train", "--resume", str(run), "--set", "device=cpu"])
    assert asked == ["cuda", "cpu", "cpu"]
    assert threads == [3, 1, 3]
    with pytest.raises(ConfigError, match="only device, threads may be set on resume, not mrate"):
        train.run(TrainConfig(), run_dir=run, resume=True, resume_overrides=["mrate=0.5"])
