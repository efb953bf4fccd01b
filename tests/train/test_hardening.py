"""Runs that used to go wrong silently or with a traceback: each case of the hardening issue, on tiny runs.

* degenerate settings rejected when the configuration is built (or, for the batch size, before anything
  is written): no epochs, a batch larger than the training set, inf/nan values, negative seeds;
* the data a run trained on: absolute paths and a fingerprint in run.json, a resume with other data refused;
  captions per image one property of the dataset; a vocabulary without words refused;
* the run directory: a second writer refused, a deleted metrics.jsonl rebuilt from the checkpoint's copy
  (refused without one), a run killed before its first checkpoint restarted (``--restart``, ``--overwrite``);
* sentences, not tracebacks: empty / corrupt / refused checkpoints (without torch's weights_only advice),
  run.json without config, an unreadable results.json, a --run-dir that is a file, an unwritable root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.cli import main
from workbench.config import TrainConfig
from workbench.data.dataset import load_retrieval_data
from workbench.errors import ConfigError, DataFormatError, RunDirError
from workbench.presets import get_preset
from workbench.runlock import RunLockedError
from workbench.runs import list_runs, read_metrics, read_run_info
from workbench.train import run

pytestmark = pytest.mark.slow

QUICK = {"train_images": 40, "batch_size": 16, "warmup_epochs": 0, "epochs": 2, "val_images": 20, "threads": 1,
         "lr_update": 5}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    load_retrieval_data(get_preset("tiny-vanilla-vse").config({"root": str(root)}).data)  # generate it once
    return root


def quick(data_root: Path, preset: str = "tiny-vanilla-vse", **over: object) -> TrainConfig:
    return get_preset(preset).config({"root": str(data_root), **QUICK, **over})


@pytest.fixture(scope="module")
def done_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "done"
    run(quick(data_root), run_dir=out)
    return out


@pytest.fixture
def copy_of(done_run: Path, tmp_path: Path):
    def copy(name: str = "run") -> Path:
        target = tmp_path / name
        shutil.copytree(done_run, target)
        return target
    return copy


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _sentence(err: str) -> str:
    """The one line a user-facing error prints (and no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("workbench: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------ degenerate settings
@pytest.mark.parametrize(("override", "phrase"), [
    (["epochs=0", "warmup_epochs=0"], "the run would train nothing"),
    (["l2rm.tau=inf"], "L2RMConfig.tau = inf must be a finite number"),
    (["lam=inf"], "L2RMConfig.lam = inf must be a finite number"),
    (["lr=inf"], "OptimConfig.lr = inf must be a finite number"),
    (["lr=nan"], "OptimConfig.lr = nan must be a finite number"),
    (["seed=-1"], "TrainConfig.seed = -1 must be >= 0"),
    (["noise_seed=-3"], "DataConfig.noise_seed = -3 must be >= 0"),
])
def test_degenerate_settings_are_refused_when_the_config_is_built(override, phrase, tmp_path, capsys) -> None:
    with pytest.raises(ConfigError, match=phrase):
        get_preset("tiny-l2rm-vse").config().override(override)
    args = [item for o in override for item in ("--set", o)]
    code, err = _cli(["train", "--preset", "tiny-l2rm-vse", *args, "--run-root", str(tmp_path / "runs")], capsys)
    assert code == 2 and phrase in _sentence(err)
    assert not (tmp_path / "runs").exists()  # nothing written


def test_overrides_are_checked_together_not_one_by_one() -> None:
    cfg = get_preset("tiny-l2rm-vse").config().override(["warmup_epochs=0", "epochs=0", "warmup_epochs=1"])
    assert (cfg.optim.warmup_epochs, cfg.optim.epochs) == (1, 0)


def test_a_batch_larger_than_the_training_set_is_refused_before_writing(data_root, tmp_path) -> None:
    cfg = quick(data_root, train_images=2)  # 10 training pairs, batch 16
    with pytest.raises(ConfigError, match="optim.batch_size=16 exceeds the 10 training pairs"):
        run(cfg, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------ the data
def test_captions_per_image_are_one_property_across_splits(data_root, tmp_path) -> None:
    source = next(data_root.glob("synthetic-tiny-*"))
    cut = tmp_path / "cut"
    shutil.copytree(source, cut)
    lines = (cut / "train_caps.txt").read_text().splitlines()
    kept = [line for i, line in enumerate(lines) if i % 5 != 4]  # 4 captions per image instead of 5
    (cut / "train_caps.txt").write_text("\n".join(kept) + "\n")
    cfg = quick(data_root, dataset="precomp", path=str(cut)).data
    with pytest.raises(DataFormatError, match=r"captions per image differ across the splits.*train: "
                                              r"train_caps.txt has 1600 captions for 400 images.*\(k = 4\).*"
                                              r"dev: .*\(k = 5\)"):
        load_retrieval_data(cfg)


def test_a_vocabulary_of_only_the_special_tokens_is_a_sentence(data_root, tmp_path, capsys) -> None:
    source = next(data_root.glob("synthetic-tiny-*"))
    shutil.copytree(source, tmp_path / "p")
    specials = ["<pad>", "<start>", "<end>", "<unk>"]
    (tmp_path / "p" / "vocab.json").write_text(json.dumps(
        {"word2idx": {w: i for i, w in enumerate(specials)}, "idx2word": {str(i): w for i, w in enumerate(specials)}}))
    code, err = _cli(["train", "--preset", "tiny-vanilla-vse", "--set", "dataset=precomp", "--set",
                      f"data.path={tmp_path / 'p'}", "--run-dir", str(tmp_path / "run")], capsys)
    assert code == 2 and "holds only the 4 special tokens and no word" in _sentence(err)


def test_relative_data_paths_are_stored_absolute_and_other_data_refuse_the_resume(
        data_root, tmp_path, monkeypatch) -> None:
    source = next(data_root.glob("synthetic-tiny-*"))
    shutil.copytree(source, tmp_path / "p")
    monkeypatch.chdir(tmp_path)
    cfg = quick(data_root, dataset="precomp", path="p", epochs=1)
    run(cfg, run_dir=tmp_path / "run")
    info = read_run_info(tmp_path / "run")
    assert info["config"]["data"]["path"] == str(tmp_path / "p")
    assert info["config"]["data"]["root"] == str(data_root)
    fingerprint = info["data_fingerprint"]
    assert fingerprint["train_images"]["shape"] == [400, 12, 64]
    assert len(fingerprint["train_captions"]["sha256"]) == 64 and "sha256" in fingerprint["vocab"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another working directory: the same (absolute) data are read
    run(TrainConfig(), run_dir=tmp_path / "run", resume=True)
    text = (tmp_path / "p" / "train_caps.txt").read_text()
    (tmp_path / "p" / "train_caps.txt").write_text(text.replace("a ", "the ", 1))
    before = (tmp_path / "run" / "run.json").read_text()
    with pytest.raises(RunDirError, match=r"resume refused: the data differ.*train_captions .*sha256"):
        run(TrainConfig(), run_dir=tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "run.json").read_text() == before  # untouched
    assert not (tmp_path / "run" / "run.lock").exists()


# ------------------------------------------------------------------------------------- run directory
HOLD_LOCK = "import sys, time; from workbench.runlock import RunLock; RunLock.acquire(sys.argv[1]); " \
            "print('held', flush=True); time.sleep(120)"


def test_a_second_writer_of_a_run_is_refused(copy_of, capsys) -> None:
    run_dir = copy_of()
    before = {p.name: p.read_bytes() for p in run_dir.glob("*.json*")}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"being written by process {holder.pid}"):
            run(TrainConfig(), run_dir=run_dir, resume=True)
        code, err = _cli(["train", "--resume", str(run_dir), "--no-progress"], capsys)
        assert code == 2 and "second writer" in _sentence(err)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert {p.name: p.read_bytes() for p in run_dir.glob("*.json*")} == before


def test_a_deleted_metrics_file_is_rebuilt_from_the_checkpoint(copy_of, caplog) -> None:
    run_dir = copy_of()
    original = read_metrics(run_dir)
    (run_dir / "metrics.jsonl").unlink()
    with caplog.at_level("WARNING"):
        run(TrainConfig(), run_dir=run_dir, resume=True)
    assert any("was missing; rebuilt epochs 0..1 from the checkpoint's copy" in r.message for r in caplog.records)
    assert read_metrics(run_dir) == original


def test_without_a_copy_a_deleted_metrics_file_refuses_the_resume(copy_of) -> None:
    run_dir = copy_of()
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    del state["metrics"]  # a checkpoint of an older version
    torch.save(state, run_dir / "checkpoints" / "last.pt")
    (run_dir / "metrics.jsonl").unlink()
    with pytest.raises(RunDirError, match="is missing but the checkpoint continues after epoch 1 and holds no copy"):
        run(TrainConfig(), run_dir=run_dir, resume=True)
    assert not (run_dir / "metrics.jsonl").exists() and read_run_info(run_dir)["status"] == "done"


def _killed_before_the_first_checkpoint(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "checkpoints")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "metrics.jsonl").unlink()
    (run_dir / "results.json").unlink()
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "status": "running", "finished": None}))


def test_a_run_killed_before_its_first_checkpoint_can_be_restarted(copy_of, capsys) -> None:
    run_dir = copy_of()
    _killed_before_the_first_checkpoint(run_dir)
    code, err = _cli(["train", "--resume", str(run_dir), "--no-progress"], capsys)
    assert code == 2 and f"workbench train --restart {run_dir}" in _sentence(err)
    code, err = _cli(["train", "--restart", str(run_dir), "--no-progress"], capsys)
    assert code == 0, err
    assert read_run_info(run_dir)["status"] == "done" and [m["epoch"] for m in read_metrics(run_dir)] == [0, 1]
    code, err = _cli(["train", "--restart", str(run_dir), "--no-progress"], capsys)  # a finished run is kept
    assert code == 2 and "the run is finished" in _sentence(err)


def test_overwrite_replaces_an_unfinished_run_in_run_dir(copy_of, data_root, capsys) -> None:
    run_dir = copy_of()
    _killed_before_the_first_checkpoint(run_dir)
    base = ["train", "--preset", "tiny-vanilla-vse", "--set", f"root={data_root}", "--set", "epochs=1",
            *[x for k, v in QUICK.items() if k != "epochs" for x in ("--set", f"{k}={v}")],
            "--run-dir", str(run_dir), "--no-progress"]
    code, err = _cli(base, capsys)
    assert code == 2 and "already holds a run" in _sentence(err) and "--restart" in err
    code, err = _cli([*base, "--overwrite"], capsys)
    assert code == 0, err
    assert [m["epoch"] for m in read_metrics(run_dir)] == [0]


# ------------------------------------------------------------------------- sentences, not tracebacks
class NotAllowed:
    """A class the weights-only unpickler refuses."""


@pytest.mark.parametrize(("damage", "phrase"), [
    ("empty", "the checkpoint is empty (0 bytes"),
    ("garbage", "not a readable checkpoint (truncated or corrupt"),
    ("truncated", "not a readable checkpoint (truncated or corrupt"),
    ("pickled object", "refused: the checkpoint holds an object that weights-only loading does not allow"),
])
def test_damaged_checkpoints_are_sentences_on_resume_and_eval(copy_of, damage, phrase, capsys) -> None:
    run_dir = copy_of()
    for name in ("last.pt", "best.pt"):
        path = run_dir / "checkpoints" / name
        if damage == "empty":
            path.write_bytes(b"")
        elif damage == "garbage":
            path.write_bytes(b"\x00not a zip archive" * 10)
        elif damage == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        else:
            torch.save({"version": 1, "models": [NotAllowed()]}, path)
    for argv in (["train", "--resume", str(run_dir), "--no-progress"], ["eval", str(run_dir), "--split", "test"]):
        code, err = _cli(argv, capsys)
        line = _sentence(err)
        assert code == 2 and phrase in line and ".pt" in line
        assert "weights_only" not in err and "arbitrary code" not in err


def test_eval_of_a_run_json_without_config_is_a_sentence(copy_of, capsys) -> None:
    run_dir = copy_of()
    info = json.loads((run_dir / "run.json").read_text())
    del info["config"]
    (run_dir / "run.json").write_text(json.dumps(info))
    code, err = _cli(["eval", str(run_dir), "--split", "test"], capsys)
    assert code == 2 and "no 'config' recorded" in _sentence(err)


@pytest.mark.parametrize(("content", "phrase"), [
    ("{ not json", "results.json: unreadable"),
    ("", "results.json: unreadable"),
    ('{"test": {"rsum": "high"}}', "results.json: field 'test.rsum' must be a number"),
    ("[1, 2]", "results.json: expected a JSON object"),
])
def test_eval_of_an_unreadable_results_file_exits_non_zero(copy_of, content, phrase, capsys) -> None:
    run_dir = copy_of()
    (run_dir / "results.json").write_text(content)
    code, err = _cli(["eval", str(run_dir)], capsys)
    assert code == 2 and phrase in _sentence(err)
    assert capsys.readouterr().out == ""


def test_eval_prints_a_readable_results_file(copy_of, capsys) -> None:
    run_dir = copy_of()
    assert main(["eval", str(run_dir)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((run_dir / "results.json").read_text())


def test_a_run_dir_that_is_a_file_and_an_unwritable_root_are_sentences(tmp_path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    code, err = _cli(["train", "--preset", "tiny-vanilla-vse", "--run-dir", str(tmp_path / "afile")], capsys)
    assert code == 2 and "is a file, not a directory" in _sentence(err)
    code, err = _cli(["train", "--preset", "tiny-vanilla-vse", "--run-root", "/proc/workbench-runs"], capsys)
    assert code == 2 and "cannot create the run directory" in _sentence(err) and "not writable" in err
    if os.geteuid() != 0:  # permissions bind ordinary users only
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, err = _cli(["train", "--preset", "tiny-vanilla-vse", "--run-root", str(locked)], capsys)
        assert code == 2 and "not writable" in _sentence(err)


# --------------------------------------------------------------------------------- OT that fails
def test_ot_solves_far_from_their_marginals_fail_the_run(data_root, tmp_path) -> None:
    cfg = quick(data_root, "tiny-l2rm-vse", mrate=0.6, epochs=1, lam=1e-4, **{"l2rm.split_guard": False})
    with pytest.raises(Exception, match=r"OT solves missed their marginals or the mass rho=0.1") as caught:
        run(cfg, run_dir=tmp_path / "fail")
    assert type(caught.value).__name__ == "OTAccuracyError"
    info = read_run_info(tmp_path / "fail")
    assert info["status"] == "failed" and "ot_fail_fraction" in info["error"]
    (record,) = read_metrics(tmp_path / "fail")  # the failing epoch is recorded, with its counts
    assert record["rematch"]["off_marginals"] == record["rematch"]["batches"] > 0
    assert record["rematch"]["transported_mass"] == pytest.approx(0.0, abs=1e-6)


def test_with_the_threshold_at_one_they_are_counted_and_reported(data_root, tmp_path, caplog) -> None:
    cfg = quick(data_root, "tiny-l2rm-vse", mrate=0.6, epochs=1, lam=1e-4,
                **{"l2rm.split_guard": False, "l2rm.ot_fail_fraction": 1.0})
    with caplog.at_level("WARNING"):
        run(cfg, run_dir=tmp_path / "runs" / "warn")
    assert any("counted as rematch.off_marginals" in r.message for r in caplog.records)
    (summary,) = list_runs(tmp_path / "runs")
    assert summary.status == "done" and summary.ot_off_marginals > 0
