"""The warm-up check: the relative drop of the warm-up loss, recorded at the last warm-up epoch, and a run
that warmed up on its plateau flagged in its summary and on the dashboard's Runs page."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from workbench.callbacks import Callback
from workbench.data.dataset import load_retrieval_data
from workbench.presets import get_preset
from workbench.runs import list_runs, read_metrics
from workbench.train import run
from workbench.warmup_check import MIN_DROP, check_warmup

QUICK = {"train_images": 40, "batch_size": 16, "val_images": 20, "threads": 1, "lr_update": 50,
         "warmup_epochs": 3, "epochs": 1}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    load_retrieval_data(get_preset("tiny-l2rm-vse").config({"root": str(root)}).data)
    return root


def test_the_drop_is_relative_to_the_first_epoch() -> None:
    learned = check_warmup(20.84, 14.5)
    assert learned.drop == pytest.approx(1 - 14.5 / 20.84) and not learned.stalled
    plateau = check_warmup(20.845, 20.497)  # SGR seed that stayed on its plateau: 1.7 %
    assert plateau.drop == pytest.approx(0.01669, abs=1e-4) and plateau.stalled
    assert check_warmup(1.0, 1.0 - MIN_DROP + 1e-9).stalled and not check_warmup(1.0, 1.0 - MIN_DROP).stalled
    assert check_warmup(2.0, 3.0).stalled  # a loss that rose


@pytest.mark.parametrize("first", [0.0, -1.0, math.inf, math.nan])
def test_an_undefined_drop_is_nan_and_not_stalled(first: float) -> None:
    check = check_warmup(first, 1.0)
    assert math.isnan(check.drop) and not check.stalled


def test_min_drop_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="min_drop"):
        check_warmup(1.0, 0.5, min_drop=1.0)


def _losses(run_dir: Path) -> list[float]:
    return [m["losses"]["loss"] for m in read_metrics(run_dir)]


def test_a_warmup_that_does_not_learn_is_recorded_and_flagged(data_root, tmp_path, caplog) -> None:
    cfg = get_preset("tiny-l2rm-vse").config({"root": str(data_root), **QUICK, "lr": 1e-9})
    with caplog.at_level("WARNING"):
        run(cfg, run_dir=tmp_path / "runs" / "stalled")
    records = read_metrics(tmp_path / "runs" / "stalled")
    assert [("warmup_check" in m) for m in records] == [False, False, True, False]
    check = records[2]["warmup_check"]
    losses = _losses(tmp_path / "runs" / "stalled")
    assert check["first_loss"] == pytest.approx(losses[0]) and check["last_loss"] == pytest.approx(losses[2])
    assert check["stalled"] is True and abs(check["drop"]) < MIN_DROP
    assert any("ended on its initial value" in r.message for r in caplog.records)
    (summary,) = list_runs(tmp_path / "runs")
    assert summary.warmup_stalled and summary.warmup_drop == pytest.approx(check["drop"])


def test_a_warmup_that_learns_passes_and_a_resume_reads_the_first_loss_back(data_root, tmp_path) -> None:
    cfg = get_preset("tiny-l2rm-vse").config({"root": str(data_root), **QUICK, "lr": 1e-2})
    whole = tmp_path / "whole"
    run(cfg, run_dir=whole)
    check = read_metrics(whole)[2]["warmup_check"]
    assert check["drop"] >= MIN_DROP and check["stalled"] is False
    # the same run interrupted after epoch 0 and resumed: the check reads epoch 0's loss back from metrics.jsonl
    part = tmp_path / "part"
    with pytest.raises(_Interrupt):
        run(cfg, run_dir=part, callbacks=[_StopAfter(0)])
    run(cfg, run_dir=part, resume=True)
    assert read_metrics(part)[2]["warmup_check"] == pytest.approx(check)


class _Interrupt(Exception):
    pass


class _StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            raise _Interrupt
