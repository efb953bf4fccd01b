"""TensorBoard event files: written during training and by ``workbench export tensorboard``, read back.

The reader here is independent of the writer: it parses the TFRecord framing (length, masked CRC-32C of
the length, payload, masked CRC-32C of the payload; the CRC implemented below and checked against the
standard check value) and decodes each payload as TensorFlow's ``Event`` protocol buffer. Values are
compared with the run directory's own records (``metrics.jsonl``, ``cost_by_epoch.parquet``,
``alignments/epoch_XXX.npz``, ``results.json``).
"""

from __future__ import annotations

import io
import json
import struct
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorboardX", reason="needs the tensorboard extra (pip install -e '.[tensorboard]')")
from tensorboardX.proto.event_pb2 import Event  # noqa: E402  (the Event message schema, for decoding)

from workbench import tensorboard_log as tb  # noqa: E402
from workbench.cli import main  # noqa: E402
from workbench.errors import ConfigError, RunDirError  # noqa: E402
from workbench.presets import get_preset  # noqa: E402
from workbench.runs import read_metrics  # noqa: E402
from workbench.train import run  # noqa: E402


# ------------------------------------------------------------------------------------------- reader
def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(folder: Path) -> list[Event]:
    """Every Event of every ``events.out.tfevents.*`` file in ``folder``, CRCs verified."""
    events = []
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            header = data[pos:pos + 8]
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
            assert length_crc == masked(crc32c(header)), f"{path}: bad length CRC at {pos}"
            payload = data[pos + 12:pos + 12 + length]
            (payload_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
            assert payload_crc == masked(crc32c(payload)), f"{path}: bad payload CRC at {pos}"
            events.append(Event.FromString(payload))
            pos += 16 + length
    return events


def by_kind(events: list[Event]) -> dict[str, dict[str, dict[int, object]]]:
    """``{"scalar"|"histo"|"image": {tag: {step: value}}}`` (the last write of a step wins)."""
    out: dict[str, dict[str, dict[int, object]]] = {"scalar": defaultdict(dict), "histo": defaultdict(dict),
                                                     "image": defaultdict(dict)}
    for event in events:
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                out["scalar"][value.tag][event.step] = value.simple_value
            elif kind == "histo":
                out["histo"][value.tag][event.step] = value.histo
            elif kind == "image":
                out["image"][value.tag][event.step] = value.image
    return out


def test_crc32c_matches_the_standard_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C (Castagnoli) check value


# --------------------------------------------------------------------------------------- pure parts
def test_scalar_items_walks_every_numeric_leaf() -> None:
    record = {"epoch": 3, "phase": "train", "lr": 2e-4, "losses": {"loss": 1.5, "rematch_loss": 0.25},
              "split": {"auc": 0.9, "guarded": False, "net0_auc": 0.8}, "rematch": None, "note": "x",
              "val": {"rsum": 300.0, "bad": float("nan")}, "rematch_new": {"a": {"b": np.float32(2.0)}},
              "ids": [1, 2]}
    assert dict(tb.scalar_items(record)) == {
        "lr": 2e-4, "losses/loss": 1.5, "losses/rematch_loss": 0.25, "split/auc": 0.9, "split/guarded": 0.0,
        "split/net0_auc": 0.8, "val/rsum": 300.0, "rematch_new/a/b": 2.0}


def test_heatmap_colours_range_mask_and_size() -> None:
    values = np.array([[0.0, 1.0], [0.5, 7.0]])
    mask = np.array([[True, True], [True, False]])
    image = tb.heatmap(values, mask, min_size=8)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [68, 1, 84]  # the minimum: viridis' first colour
    assert image[0, 4].tolist() == [253, 231, 37]  # the maximum of the allowed cells: its last
    assert image[4, 4].tolist() == [200, 200, 200]  # masked out, although 7 is the largest value
    assert image[4, 0].tolist() == [33, 144, 141]  # the middle stop
    with pytest.raises(ValueError, match="2-D"):
        tb.heatmap(np.zeros(3))


def test_cost_groups_split_by_truth_and_by_estimate() -> None:
    frame = pd.DataFrame({"cost": np.array([0.1, 0.9, 0.2, np.nan], dtype=np.float32),
                          "true_matched": pd.array([True, False, True, False], dtype="boolean"),
                          "est_clean": [True, False, False, True]})
    groups = tb.cost_groups(frame)
    np.testing.assert_allclose(groups["matched"], [0.1, 0.2], rtol=1e-6)
    np.testing.assert_allclose(groups["mismatched"], [0.9], rtol=1e-6)
    np.testing.assert_allclose(groups["est_clean"], [0.1], rtol=1e-6)
    np.testing.assert_allclose(groups["est_noisy"], [0.9, 0.2], rtol=1e-6)
    unknown = frame.assign(true_matched=pd.array([pd.NA] * 4, dtype="boolean"))
    assert set(tb.cost_groups(unknown)) == {"est_clean", "est_noisy"}  # CC152K: truth unknown


def test_missing_writer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ConfigError, match=r"ot-rematch-workbench\[tensorboard\]"):
        tb.TensorBoardLogger()


def test_export_refuses_what_is_not_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no run.json"):
        tb.export_run(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(RunDirError, match="no epoch records"):
        tb.export_run(tmp_path)
    assert not list(tmp_path.glob(".tensorboard*")) and not (tmp_path / "tensorboard").exists()


# ------------------------------------------------------------------------------------ a real L2RM run
@pytest.fixture(scope="module")
def l2rm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    cfg = get_preset("tiny-l2rm-vse").config({"root": str(data), "mrate": 0.6, "epochs": 2, "threads": 1,
                                              "split_guard": False, "log.tensorboard": True})
    out = tmp_path_factory.mktemp("runs") / "l2rm"
    run(cfg, run_dir=out)
    return out


def _check_against_run(folder: Path, run_dir: Path) -> dict:
    kinds = by_kind(read_events(folder))
    metrics = read_metrics(run_dir)
    for record in metrics:
        for tag, value in tb.scalar_items(record):
            assert kinds["scalar"][tag][record["epoch"]] == pytest.approx(value, rel=1e-6, abs=1e-7), tag
    assert {"losses/rematch_loss", "val/rsum", "split/auc", "split/precision", "split/recall",
            "rematch/transported_mass", "rematch/precision_all"} <= set(kinds["scalar"])
    results = json.loads((run_dir / "results.json").read_text())
    last = metrics[-1]["epoch"]
    assert kinds["scalar"]["test/rsum"][last] == pytest.approx(results["test"]["rsum"], rel=1e-6)
    costs = pd.read_parquet(run_dir / "artifacts" / "cost_by_epoch.parquet")
    cost_epochs = sorted(int(e) for e in costs["epoch"].unique())
    assert cost_epochs, "the L2RM run recorded no costs"
    for epoch in cost_epochs:
        rows = costs[costs["epoch"] == epoch]
        truth = rows["true_matched"].to_numpy(dtype=bool)
        for tag, part in (("cost/matched", rows[truth]), ("cost/mismatched", rows[~truth])):
            histo = kinds["histo"][tag][epoch]
            assert histo.num == len(part)
            assert histo.min == pytest.approx(float(part["cost"].min()), rel=1e-6)
            assert histo.max == pytest.approx(float(part["cost"].max()), rel=1e-6)
            assert histo.sum == pytest.approx(float(part["cost"].astype(np.float64).sum()), rel=1e-5)
    from PIL import Image

    for epoch in cost_epochs:
        with np.load(run_dir / "artifacts" / "alignments" / f"epoch_{epoch:03d}.npz") as batch:
            n, m = batch["plan"].shape
            expected = tb.heatmap(batch["plan"], batch["mask"])
        image = kinds["image"]["alignment/plan"][epoch]
        assert (image.height, image.width) == expected.shape[:2] and expected.shape[0] % n == 0
        decoded = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("RGB"))
        np.testing.assert_array_equal(decoded, expected)  # PNG is lossless
        assert epoch in kinds["image"]["alignment/cost"]
    return kinds


def test_training_with_the_switch_writes_events_that_read_back(l2rm_run: Path) -> None:
    kinds = _check_against_run(l2rm_run / "tensorboard", l2rm_run)
    assert sorted(kinds["scalar"]["val/rsum"]) == [0, 1, 2]  # every epoch, warm-up included


def test_export_of_a_finished_run_matches_the_run(l2rm_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    assert main(["export", "tensorboard", str(l2rm_run), "--out", str(out)]) == 0
    folder = out / l2rm_run.name
    live = by_kind(read_events(l2rm_run / "tensorboard"))
    exported = _check_against_run(folder, l2rm_run)
    assert {t: dict(v) for t, v in exported["scalar"].items()} == {t: dict(v) for t, v in live["scalar"].items()}
    assert main(["export", "tensorboard", str(l2rm_run), "--out", str(out)]) == 0  # again: replaced, not doubled
    assert len(read_events(folder)) == len(read_events(out / l2rm_run.name))
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1


def test_export_cli_errors_name_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "tensorboard", str(tmp_path / "nope")]) == 2
    assert "nope is not a run directory" in capsys.readouterr().err


def test_label_track_run_writes_map_and_label_scalars(tmp_path: Path) -> None:
    from workbench.labels.presets import preset_config
    from workbench.labels.train import run_labels

    cfg = preset_config("tiny", "uot_rcl", extra=[f"data.root={tmp_path / 'data'}", "epochs=3",
                                                   "log.tensorboard=true"])
    result = run_labels(cfg, run_dir=tmp_path / "labels")
    kinds = by_kind(read_events(tmp_path / "labels" / "tensorboard"))
    assert sorted(kinds["scalar"]["val/avg_map"]) == [0, 1, 2]
    assert "label/correction_accuracy" in kinds["scalar"]
    best = result.results["map"]["best"]["avg"]
    assert kinds["scalar"]["test/map/best/avg"][2] == pytest.approx(best, rel=1e-6)
