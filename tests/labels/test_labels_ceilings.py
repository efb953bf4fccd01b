"""CE ceilings: trained on the clean labels or on exactly the labels a UOT-RCL run ended with; refusals;
the min_steps schedule; the two-dataset table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.errors import ConfigError, DataFormatError
from workbench.labels.data import load_label_data
from workbench.labels.grid import label_grid, run_grid
from workbench.labels.method import TrainTensors
from workbench.labels.presets import preset_config
from workbench.labels.table import collect_label_runs, map_table, summarise
from workbench.labels.train import passes_per_epoch, run_labels, steps_per_pass

_OVERRIDES = {"epochs": 3, "uot_rcl.warmup_epochs": 1}


@pytest.fixture(scope="module")
def grid_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ceilings")
    cells = label_grid(["uot_rcl", "ce"], [("symmetric", 0.6)], [0], ceilings=["corrected", "clean"],
                       overrides=_OVERRIDES)
    assert [c.variant for c in cells] == ["uot_rcl", "ce", "ce-corrected", "ce-clean"]
    run_grid(cells, preset_group="tiny", run_root=root, dataset="synthetic")
    return root


def _labels_seen(run_dir: Path) -> np.ndarray:
    return np.load(run_dir / "artifacts" / "train_labels.npy")


def test_corrected_ceiling_trains_on_the_uot_rcl_runs_final_labels(grid_root: Path) -> None:
    uot = grid_root / "uot_rcl" / "synthetic-symmetric-0.6-s0"
    corrected = grid_root / "ce-corrected" / "synthetic-symmetric-0.6-s0"
    clean = grid_root / "ce-clean" / "synthetic-symmetric-0.6-s0"
    noisy_ce = grid_root / "ce" / "synthetic-symmetric-0.6-s0"
    info = json.loads((corrected / "run.json").read_text())
    assert info["variant"] == "ce-corrected" and info["config"]["ce"]["labels_from"] == str(uot.resolve())
    np.testing.assert_array_equal(_labels_seen(corrected), _labels_seen(uot))
    data = load_label_data(preset_config("tiny", "ce", extra={"rate": 0.6}).data, 0)
    np.testing.assert_array_equal(_labels_seen(clean), data.train.labels)
    np.testing.assert_array_equal(_labels_seen(noisy_ce), data.noisy_train[:, 0])
    # the UOT-RCL labels differ from the noisy ones (a correction happened) and from the clean ones
    assert (_labels_seen(uot) != data.noisy_train[:, 0]).any()
    frame = collect_label_runs(grid_root)
    assert set(frame["variant"]) == {"uot_rcl", "ce", "ce-corrected", "ce-clean"}
    acc = frame.set_index("variant")["correction_accuracy"]
    assert acc["ce-clean"] == 1.0 and acc["ce-corrected"] == pytest.approx(acc["uot_rcl"])


def test_corrected_ceiling_refuses_a_run_of_other_data(grid_root: Path) -> None:
    uot = grid_root / "uot_rcl" / "synthetic-symmetric-0.6-s0"
    base = {**_OVERRIDES, "ce.labels_from": str(uot)}
    with pytest.raises(ConfigError, match=r"other data settings \(rate\)"):
        run_labels(preset_config("tiny", "ce", ablation="corrected", extra={**base, "rate": 0.4}), write=False)
    with pytest.raises(ConfigError, match=r"noise seed \(0 vs 1\)"):
        run_labels(preset_config("tiny", "ce", ablation="corrected", extra={**base, "seed": 1}), write=False)
    with pytest.raises(DataFormatError, match="expected a uot_rcl run"):
        run_labels(preset_config("tiny", "ce", ablation="corrected", extra={
            **base, "ce.labels_from": str(grid_root / "ce" / "synthetic-symmetric-0.6-s0")}), write=False)
    with pytest.raises(ConfigError, match="needs ce.labels_from"):
        run_labels(preset_config("tiny", "ce", ablation="corrected", extra=_OVERRIDES), write=False)
    with pytest.raises(ConfigError, match="include uot_rcl"):
        label_grid(["ce"], [("symmetric", 0.6)], [0], ceilings=["corrected"])


def test_table_separates_datasets(grid_root: Path, tmp_path: Path) -> None:
    frame = collect_label_runs(grid_root)
    other = frame.assign(dataset="other", best_avg=frame["best_avg"] + 1.0)
    table = map_table(summarise(pd.concat([frame, other], ignore_index=True)), "best_avg")
    assert list(table.columns) == ["dataset", "method", "sym 0.6"]
    assert list(table["method"][:4]) == ["uot_rcl", "ce", "ce-corrected", "ce-clean"]
    row = table[(table["dataset"] == "other") & (table["method"] == "ce-clean")]
    assert row["sym 0.6"].iloc[0] == f"{frame.set_index('variant').loc['ce-clean', 'best_avg'] + 1.0:.3f}"
    assert "dataset" not in map_table(summarise(frame), "best_avg").columns


def test_min_steps_turns_an_epoch_into_passes() -> None:
    cfg = preset_config("cpu", "ce", extra={"min_steps": 480})
    assert steps_per_pass(1956, 128) == 16 and steps_per_pass(129, 128) == 1  # a lone last pair is dropped
    assert passes_per_epoch(cfg, 1956) == 1  # 30 x 16 = 480 steps already
    assert passes_per_epoch(cfg, 380) == 6  # 3 steps a pass: 30 x 3 x 6 = 540 >= 480
    assert passes_per_epoch(cfg.override({"min_steps": 0}), 380) == 1
    tiny = preset_config("tiny", "ce", extra={"epochs": 2, "min_steps": 30})
    data = load_label_data(tiny.data, 0)
    per = steps_per_pass(len(data.train), tiny.optim.batch_size)
    result = run_labels(tiny, write=False)
    assert result.run_dir is None and result.metrics == []  # nothing written
    tensors = TrainTensors(data, torch.device("cpu"))
    assert len(tensors) == len(data.train)
    expected = passes_per_epoch(tiny, len(data.train)) * per
    assert expected * 2 >= 30 and result.results["steps_total"] == 2 * expected
