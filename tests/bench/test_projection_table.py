"""Projections of run costs from measured step phases, and the BENCHMARKS.md GPU table round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.bench.gpu_table import GPU_HEADING, ROW_COLUMNS, read_gpu_costs, record_row
from workbench.bench.projection import (
    GpuCosts,
    PhaseSeconds,
    epoch_seconds,
    paper_config_seconds,
    run_seconds,
)
from workbench.errors import ConfigError, DataFormatError
from workbench.presets import get_preset

T = PhaseSeconds(l2rm=0.5, triplet=0.2, warmup=0.3, forward=0.1)


def test_epoch_model_per_method() -> None:
    assert epoch_seconds("l2rm", "warmup", 0.6, 100, T) == pytest.approx(100 * 0.3)
    assert epoch_seconds("l2rm", "train", 0.6, 100, T) == pytest.approx(100 * (0.1 + 0.4 * 0.5))
    assert epoch_seconds("vanilla", "train", 0.6, 100, T) == pytest.approx(100 * 0.2)
    assert epoch_seconds("ncr", "warmup", 0.2, 100, T) == pytest.approx(2 * 100 * 0.3)
    assert epoch_seconds("ncr", "train", 0.2, 100, T) == pytest.approx(2 * 100 * (2 * 0.1 + 0.2))
    with pytest.raises(ConfigError, match="no GPU cost model for method 'sgd'"):
        epoch_seconds("sgd", "train", 0.2, 100, T)


def test_run_seconds_counts_steps_epochs_and_evaluations() -> None:
    steps = 145_000 // 128
    expected = 5 * steps * 0.3 + 35 * steps * (0.1 + 0.4 * 0.5) + 7.0 * (5 + 35 + 1)
    assert run_seconds("l2rm", "f30k", 0.6, 5, 35, 128, T, 7.0, 128) == pytest.approx(expected)
    # a batch of 256 measured at 128: 4x the cost per step, half the steps
    doubled = run_seconds("vanilla", "f30k", 0.0, 0, 1, 256, T, 0.0, 128)
    assert doubled == pytest.approx((145_000 // 256) * 0.2 * 4)
    with pytest.raises(ConfigError, match="dataset 'imagenet'"):
        run_seconds("l2rm", "imagenet", 0.6, 5, 35, 128, T, 7.0, 128)


def test_paper_preset_projection_uses_its_schedule() -> None:
    costs = GpuCosts({"sgr": T, "saf": T}, 128, 5.0)
    cfg = get_preset("coco-l2rm-sgr-0.4").config()
    expected = run_seconds("l2rm", "coco", 0.4, 10, 20, 128, T, 5.0, 128)
    assert paper_config_seconds(cfg, costs) == pytest.approx(expected)
    with pytest.raises(ConfigError, match="no measured step for backbone 'vse'"):
        paper_config_seconds(get_preset("cpu-l2rm-vse").config(), costs)


def _summary(shape: str, scale: float = 1.0) -> dict[str, object]:
    row: dict[str, object] = {key: 1.0 for _, key in ROW_COLUMNS}
    row.update(date="2026-12-08", device="NVIDIA H200 139 GiB", shape=shape, batch=128, projection_precision="bf16",
               ddp="not run: 1 GPU visible")
    for b in ("sgr", "saf"):
        row.update({f"{b}_l2rm_s": 0.5 * scale, f"{b}_triplet_s": 0.2 * scale, f"{b}_warmup_s": 0.3 * scale,
                    f"{b}_forward_s": 0.1 * scale})
    row["eval_bf16_s"] = 14.0 * scale
    return row


def test_gpu_row_round_trip_reads_the_newest_paper_row(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Other\n\n| a |\n| --- |\n| 1 |\n")
    assert read_gpu_costs(path) is None
    record_row(_summary("paper"), path)
    record_row(_summary("paper", scale=2.0), path)
    record_row(_summary("smoke", scale=9.0), path)  # smoke rows never feed projections
    text = path.read_text()
    assert text.count(GPU_HEADING) == 1 and "| a |" in text
    costs = read_gpu_costs(path)
    assert costs is not None and costs.batch == 128
    assert costs.phases["sgr"] == PhaseSeconds(1.0, 0.4, 0.6, 0.2)
    assert costs.eval_seconds == pytest.approx(14.0)  # one model: half of the SGRAF pair's 28 s
    assert "2026-12-08" in costs.source and "H200" in costs.source


def test_gpu_row_with_a_broken_cell_is_named(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    summary = _summary("paper")
    summary["saf_warmup_s"] = "n/a"
    record_row(summary, path)
    with pytest.raises(DataFormatError, match="'saf warmup s' = 'n/a'"):
        read_gpu_costs(path)


def test_phase_seconds_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="PhaseSeconds.forward=0"):
        PhaseSeconds(1.0, 1.0, 1.0, 0)
