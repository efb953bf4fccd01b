"""The step benchmark compares equal computations (the timings themselves live in benchmarks/, not tests)."""

from __future__ import annotations

import pytest

from workbench.bench.step import bench_step


@pytest.mark.parametrize("kind", ["sgr", "saf"])
def test_bench_step_checks_equal_outputs_and_reports_every_mode(kind: str) -> None:
    row = bench_step(3, kind=kind, repeats=1, embed=32, sim=16)
    assert {"batch", "batched_s", "loop_s", "speedup", "bf16_s", "bf16_speedup"} <= row.keys()
    assert row["max_abs_diff"] < 1e-4
    assert row["loop_grad_rel_diff"] < 1e-4  # the timed steps compute the same gradients
    assert 0 < row["bf16_max_abs_diff"] < 0.1  # bf16 is really used, and close
    assert row["loss"] == "triplet"


def test_sgr_reports_the_sparse_backward_against_the_dense_one() -> None:
    row = bench_step(16, kind="sgr", repeats=1, embed=32, sim=16, bf16=False)
    assert row["sparse_grad"] is True
    assert {"dense_s", "dense_speedup", "dense_grad_rel_diff"} <= row.keys()
    assert row["dense_grad_rel_diff"] < 1e-4


def test_saf_has_no_sparse_backward() -> None:
    row = bench_step(3, kind="saf", repeats=1, embed=32, sim=16, bf16=False)
    assert row["sparse_grad"] is False and "dense_s" not in row


def test_l2rm_shaped_step_is_timed_for_both_paths() -> None:
    row = bench_step(16, kind="sgr", repeats=1, embed=32, sim=16, bf16=False, l2rm=True)
    assert row["l2rm_s"] > 0 and row["l2rm_loop_s"] > 0
    assert row["l2rm_speedup"] == pytest.approx(row["l2rm_loop_s"] / row["l2rm_s"], rel=0.05)
