"""``workbench bench gpu``: the smoke run checks itself; its parts are checked against their definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.bench import l2rm_step as l2rm_step_module
from workbench.bench.agreement import check_agreement
from workbench.bench.gpu import check_result
from workbench.bench.l2rm_step import L2RMStep
from workbench.bench.shapes import F30K_WORD_COUNTS, BenchShape, caption_lengths
from workbench.bench.timing import time_modes
from workbench.cli import main
from workbench.errors import ConfigError

CPU = torch.device("cpu")


def test_smoke_run_passes_its_own_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.jsonl"
    bench_md = tmp_path / "BENCHMARKS.md"
    code = main(["bench", "gpu", "--smoke", "--json", "--no-ddp", "--out", str(out), "--benchmarks", str(bench_md)])
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert code == 0
    sections = [s["section"] for s in printed]
    assert sections == ["sgr", "saf", "eval", "projection", "ddp", "summary"]
    assert [json.loads(line)["section"] for line in out.read_text().splitlines()] == sections
    summary = printed[-1]
    assert summary["checks"] == "passed" and summary["shape"] == "smoke"
    for backbone in ("sgr", "saf"):
        assert summary[f"{backbone}_agree_failures"] == []
        assert summary[f"{backbone}_agree_scores_max_abs_diff"] < 1e-4
        assert summary[f"{backbone}_agree_grad_rel_diff"] < 1e-2
        for mode in ("l2rm_fp32", "l2rm_bf16", "loop", "triplet", "warmup", "forward"):
            assert summary[f"{backbone}_{mode}_s"] > 0 and summary[f"{backbone}_{mode}_peak_mb"] > 0
        assert summary[f"{backbone}_loop_over_fp32"] == pytest.approx(
            summary[f"{backbone}_loop_s"] / summary[f"{backbone}_l2rm_fp32_s"], rel=0.05)
    assert summary["tf32"].startswith("not run") and summary["ddp"] == "not run: --no-ddp"
    assert summary["eval_captions"] == 5 * summary["eval_images"]
    assert not bench_md.exists()  # smoke runs record nothing unless asked


def test_the_agreement_check_catches_a_loop_that_scores_differently(monkeypatch: pytest.MonkeyPatch) -> None:
    step = L2RMStep(BenchShape.smoke(), "sgr", CPU)
    assert check_agreement(step).failures() == []
    original = l2rm_step_module.loop_scores
    monkeypatch.setattr(l2rm_step_module, "loop_scores", lambda head, regions, caps: original(head, regions, caps) * 1.01)
    failures = check_agreement(step).failures()
    assert any(f.startswith("scores_max_abs_diff") for f in failures), failures


def test_agreement_leaves_the_state_unchanged() -> None:
    step = L2RMStep(BenchShape.smoke(), "saf", CPU)
    before = step.snapshot()
    check_agreement(step)
    after = step.snapshot()
    for key in ("model", "cost"):
        for name, value in before[key].items():
            assert torch.equal(value, after[key][name]), name


def test_a_training_step_changes_the_model_and_the_cost() -> None:
    step = L2RMStep(BenchShape.smoke(), "sgr", CPU)
    before = step.snapshot()
    out = step.run("l2rm")
    assert set(out.losses) == {"triplet_loss", "rematch_loss", "cost_loss"}
    after = step.snapshot()
    assert not torch.equal(before["cost"]["linear.weight"], after["cost"]["linear.weight"])
    assert not torch.equal(before["model"]["image_encoder.fc.weight"], after["model"]["image_encoder.fc.weight"])
    plan = out.plan
    assert plan is not None and float(plan.diagonal().abs().max()) == 0.0  # the original pairs are masked
    assert float(plan.sum()) == pytest.approx(step.cfg.rho, rel=0.1)


def test_step_refuses_modes_it_cannot_run() -> None:
    step = L2RMStep(BenchShape.smoke(), "sgr", CPU)
    with pytest.raises(ConfigError, match="CUDA"):
        step.run("l2rm", precision="tf32")
    with pytest.raises(ConfigError, match="fp32 only"):
        step.run("l2rm", loop=True, precision="bf16")
    with pytest.raises(ConfigError, match="unknown step phase"):
        step.run("epoch")
    with pytest.raises(ConfigError, match="pairwise head"):
        L2RMStep(BenchShape.smoke(), "vse", CPU)


def test_caption_lengths_follow_the_f30k_histogram() -> None:
    lengths = caption_lengths(20_000, torch.Generator().manual_seed(0), max_tokens=200)
    words = torch.tensor([w for w, c in F30K_WORD_COUNTS for _ in range(c)], dtype=torch.float64)
    assert float(lengths.double().mean()) == pytest.approx(float(words.mean()) + 2, abs=0.15)
    assert int(lengths.min()) >= 4 and int(lengths.max()) <= 77
    capped = caption_lengths(500, torch.Generator().manual_seed(0), max_tokens=9)
    assert int(capped.max()) == 9


def test_bench_shape_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="BenchShape.embed=0"):
        BenchShape("x", embed=0)
    with pytest.raises(ConfigError, match="batch=1"):
        BenchShape("x", batch=1)


def test_time_modes_reports_time_and_memory() -> None:
    calls = {"a": 0, "b": 0}

    def count(name: str) -> None:
        calls[name] += 1

    figures = time_modes({"a": lambda: count("a"), "b": lambda: count("b")}, CPU, repeats=3, warmup=1)
    assert calls == {"a": 4, "b": 4}
    assert all(f.seconds >= 0 and f.peak_mb > 0 and f.memory_kind == "process_rss" for f in figures.values())
    with pytest.raises(ValueError, match="repeats=0"):
        time_modes({"a": lambda: None}, CPU, repeats=0)


def test_check_result_names_what_is_missing() -> None:
    summary = {"precisions": ["fp32"], "sgr_agree_failures": ["grad_rel_diff = 0.5 exceeds 0.01"],
               "sgr_l2rm_fp32_s": 0.1, "sgr_l2rm_fp32_peak_mb": None}
    problems = check_result(summary)
    assert "sgr: batched and loop steps differ: grad_rel_diff = 0.5 exceeds 0.01" in problems
    assert "sgr_l2rm_fp32_peak_mb is None, expected a positive number" in problems
    assert "saf: batched and loop steps differ: no agreement check ran" in problems
    assert "the DDP section is missing" in problems
    assert "section eval failed: OutOfMemoryError: CUDA out of memory" in check_result(
        {"eval_error": "OutOfMemoryError: CUDA out of memory"})


def test_a_failing_section_is_reported_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.bench import gpu

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("no memory left")

    monkeypatch.setattr(gpu, "bench_sgraf_eval", broken)
    sections: list[dict[str, object]] = []
    summary = gpu.run_gpu_bench(smoke=True, device=CPU, ddp=False, emit=sections.append)
    assert [s["section"] for s in sections] == ["sgr", "saf", "eval", "projection", "ddp"]
    assert summary["eval_error"] == "RuntimeError: no memory left"
    problems = check_result(summary)
    assert "section eval failed: RuntimeError: no memory left" in problems
    assert any(p.startswith("section projection failed: KeyError") for p in problems)  # it needs the eval
    assert summary["sgr_l2rm_fp32_s"] > 0 and summary["ddp"] == "not run: --no-ddp"


def test_two_process_step_on_cpu() -> None:
    from workbench.bench.ddp_step import bench_ddp_step

    figures = bench_ddp_step(BenchShape.smoke(), precision="fp32", device_type="cpu", repeats=1)
    assert figures["ddp_world"] == 2 and figures["ddp_s"] > 0 and figures["ddp_peak_mb"] > 0
