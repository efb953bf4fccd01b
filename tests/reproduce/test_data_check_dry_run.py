"""``reproduce`` stops once, before any notebook, naming every missing data file; ``--dry-run`` costs a grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.bench.gpu_table import ROW_COLUMNS, record_row
from workbench.bench.projection import paper_config_seconds
from workbench.cli import main
from workbench.presets import get_preset
from workbench.reproduce import execute
from workbench.reproduce.data_check import (
    MissingDataError,
    check_reproduction_data,
    missing_files,
    needed_files,
)
from workbench.reproduce.dry_run import CPU_EPOCH_SECONDS, dry_run
from workbench.runs import RunWriter


def _paper(preset: str, root: Path) -> object:
    return get_preset(preset).config().override([f"data.root={root}"])


def test_needed_files_of_a_paper_f30k_run(tmp_path: Path) -> None:
    cfg = _paper("f30k-l2rm-sgr-0.6", tmp_path)
    needed = needed_files(cfg.data)  # type: ignore[attr-defined]
    paths = [p for n in needed for p in n.paths]
    d = tmp_path / "f30k_precomp"
    for name in ("train_ims.npy", "train_caps.txt", "dev_ims.npy", "dev_caps.txt", "test_ims.npy", "test_caps.txt"):
        assert d / name in paths
    assert tmp_path / "vocab" / "f30k_precomp_vocab.json" in paths
    assert tmp_path / "noise_index" / "f30k_precomp" / "noise_inx_0.6.npy" in paths
    assert needed_files(get_preset("cpu-l2rm-vse").config().data) == []  # the synthetic set is generated
    coco = needed_files(_paper("coco-l2rm-saf-0", tmp_path).data)  # type: ignore[attr-defined]
    assert not any("noise_index" in str(p) for n in coco for p in n.paths)  # MRate 0: no index
    assert any(p.name == "testall_ims.npy" for n in coco for p in n.paths)


def test_present_files_are_not_reported(tmp_path: Path) -> None:
    cfg = _paper("f30k-vanilla-saf-0.2", tmp_path)
    d = tmp_path / "f30k_precomp"
    d.mkdir()
    for name in ("train_ims.npy", "train_caps.txt", "dev_ims.npy", "dev_caps.txt", "test_ims.npy", "vocab.json"):
        (d / name).write_text("x")
    missing = missing_files([cfg, cfg])  # type: ignore[list-item]
    assert [m.paths[0].name for m in missing] == ["test_caps.txt", "noise_inx_0.2.npy"]
    with pytest.raises(MissingDataError) as err:
        check_reproduction_data("table1", [cfg])  # type: ignore[list-item]
    text = str(err.value)
    assert "table1: 2 data file(s)" in text and "no setting was started" in text
    assert str(d / "test_caps.txt") in text and "data_cards/f30k.md" in text and "data_cards/f30k-noise.md" in text


def test_reproduce_paper_stops_before_any_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def no_notebook(*args: object, **kwargs: object) -> None:
        raise AssertionError("a notebook was started")

    monkeypatch.setattr(execute, "_execute", no_notebook)
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "data"))
    code = main(["reproduce", "table1", "--preset", "paper", "--run-root", str(tmp_path / "runs"),
                 "--set", "methods=l2rm", "--set", "mrates=0.2,0.8"])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("workbench: error:") == 1
    for name in ("f30k_precomp/train_ims.npy", "coco_precomp/testall_ims.npy", "f30k_precomp/noise_inx_0.8.npy",
                 "coco_precomp/noise_inx_0.2.npy", "coco_precomp_vocab.json"):
        assert name in err, name
    assert "data_cards/coco.md" in err and "data_cards/vocab-ncr.md" in err
    assert not list((tmp_path / "runs" / "table1").glob("*/notebook.ipynb"))


def test_dry_run_paper_without_and_with_a_gpu_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "data"))
    bench = tmp_path / "BENCHMARKS.md"
    plan = dry_run("table1", "paper", tmp_path / "runs", benchmarks=bench)
    assert len(plan.plans) == 96 and all(p.seconds is None for p in plan.plans)
    f30k_l2rm = next(p for p in plan.plans if p.id == "f30k-l2rm-sgr-0.6-s0")
    assert f30k_l2rm.epochs == 40 and f30k_l2rm.steps == 40 * (145_000 // 128)
    assert "GPU cost unknown" in plan.render() and "missing data" in plan.render()
    summary: dict[str, object] = {key: 1.0 for _, key in ROW_COLUMNS}
    summary.update(date="2026-12-08", device="H200", shape="paper", batch=128, projection_precision="bf16")
    for b in ("sgr", "saf"):
        summary.update({f"{b}_l2rm_s": 0.2, f"{b}_triplet_s": 0.05, f"{b}_warmup_s": 0.08, f"{b}_forward_s": 0.03})
    summary["eval_bf16_s"] = 20.0
    record_row(summary, bench)
    plan = dry_run("table1", "paper", tmp_path / "runs", sets=["datasets=f30k", "methods=l2rm,vanilla"],
                   benchmarks=bench)
    assert len(plan.plans) == 16
    from workbench.bench.gpu_table import read_gpu_costs

    costs = read_gpu_costs(bench)
    assert costs is not None
    for p in plan.plans:
        cfg = get_preset(p.preset).config().override(["seed=0"])
        assert p.seconds == pytest.approx(paper_config_seconds(cfg, costs))
    assert plan.remaining_seconds == pytest.approx(sum(p.seconds or 0 for p in plan.plans))
    text = plan.render()
    assert "GPU h" in text and "H200" in text and f"{plan.remaining_seconds / 3600:.1f} GPU h" in text


def test_dry_run_cpu_uses_measured_epochs_of_the_same_preset(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run_dir = root / "table3" / "l2rm-s0"
    writer = RunWriter.create(run_dir, config={}, summary={"track": "retrieval"}, preset="cpu-l2rm-vse")
    for epoch, total in enumerate((40.0, 60.0)):
        writer.log_epoch({"epoch": epoch, "phase": "warmup", "lr": 1e-3, "losses": {"loss": 1.0}, "steps": 3,
                          "time_s": {"train": total, "eval": 0.0, "total": total}})
    writer.finish("failed", RuntimeError("stopped"))
    plan = dry_run("table3", "cpu", root, sets=["variants=L2RM,L2RM w/o Partial OT"])
    assert [p.epochs for p in plan.plans] == [10, 10]
    assert all(p.seconds == pytest.approx(10 * 50.0) and "50 s/epoch measured" in p.basis for p in plan.plans)
    table = dry_run("table1", "cpu", root, sets=["methods=ncr", "mrates=0.2", "seeds=0", "epochs=3"])
    (only,) = table.plans
    assert only.epochs == 4 + 3 and only.seconds == pytest.approx(7 * CPU_EPOCH_SECONDS["cpu-ncr-vse"])
    unknown = dry_run("table1", "cpu", root, sets=["methods=ncr", "mrates=0.2", "seeds=0", "backbones=saf"])
    assert unknown.plans[0].seconds is None and unknown.unknown == [unknown.plans[0].id]


def test_dry_run_cli_prints_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reproduce", "table4", "--preset", "cpu", "--dry-run", "--run-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "table4 --preset cpu: 6 settings" in out and "mrate0.8-triplet" in out and "CPU h" in out
    assert not (tmp_path / "table4").exists()  # a dry run writes nothing
