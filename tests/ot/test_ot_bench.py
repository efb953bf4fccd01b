"""The OT benchmark: its reference numpy loop, its JSON contract, the CLI and the markdown table."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest
import torch

from workbench.bench import MissingDependencyError, append_table_row, require
from workbench.bench.ot import l2rm_costs, numpy_log_partial, run_ot_benchmark
from workbench.cli import bench as bench_cli
from workbench.errors import WorkbenchError
from workbench.ot import diagonal_mask, partial_ot

KEYS = {
    "ours_single_ms",
    "ours_batched_ms_per_problem",
    "pot_ms",
    "bregman_batched_ms_per_problem",
    "pot_partial_ms",
    "numpy_log_ms",
    "max_marginal_error",
}
SMALL = dict(n=16, batch=2, eps_values=(0.1,), warmup=0, repeats=1)


def test_numpy_reference_loop_agrees_with_partial_ot():
    # The loop uses the reference code's xi = 100 max C; ours shifts it away: same plan in float64.
    cost = l2rm_costs(24, 1, seed=3)[0].double()
    plan, iterations, error = numpy_log_partial(cost.numpy(), 0.1, 0.07, tol=1e-11)
    ours = partial_ot(cost, mass=0.1, eps=0.07, mask=diagonal_mask(24), tol=1e-11)
    assert error <= 1e-11 and iterations % 10 == 0
    np.testing.assert_allclose(plan, ours.plan.numpy(), atol=1e-12)


def test_l2rm_costs_follow_the_reference_distribution():
    cost = l2rm_costs(64, 3, seed=1)
    assert cost.shape == (3, 64, 64) and cost.dtype == torch.float32
    assert float(cost.min()) >= 0.1 - 1e-6 and float(cost.max()) <= 1.2 + 1e-6
    assert torch.equal(cost, l2rm_costs(64, 3, seed=1))


def test_benchmark_reports_the_contracted_keys():
    pytest.importorskip("ot")
    threads = torch.get_num_threads()
    figures = run_ot_benchmark(**SMALL, threads=threads + 1)
    assert KEYS <= figures.keys() and figures["eps"] == 0.1
    assert all(figures[key] > 0 for key in KEYS - {"max_marginal_error"})
    assert figures["max_marginal_error"] <= 1e-5 and figures["per_eps"]["0.1"]["converged"]
    ratio = figures["ours_batched_ms_per_problem"] / figures["pot_ms"]
    assert figures["worst_batched_vs_pot"] == pytest.approx(ratio)  # one eps: the worst is that one
    assert figures["threads"] == threads + 1 and torch.get_num_threads() == threads  # restored
    json.dumps(figures)  # one JSON line


def test_missing_pot_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ot", None)  # makes `import ot` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'workbench\[oracle\]'"):
        run_ot_benchmark(**SMALL)
    assert issubclass(MissingDependencyError, WorkbenchError)  # the CLI prints it in one line, exit 2
    assert require("math", "oracle").sqrt(4.0) == 2.0


@pytest.mark.parametrize("bad", [dict(n=1), dict(batch=0), dict(repeats=0), dict(threads=0)])
def test_benchmark_rejects_bad_sizes(bad):
    with pytest.raises(WorkbenchError, match=next(iter(bad))):
        run_ot_benchmark(**(SMALL | bad))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workbench")
    bench_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_prints_one_json_line(capsys):
    pytest.importorskip("ot")
    args = _parse(["bench", "ot", "--json", "--n", "16", "--batch", "2", "--repeats", "1", "--eps", "0.1"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and KEYS <= json.loads(lines[0]).keys()


def test_cli_help_and_table(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parse(["bench", "ot", "--help"])
    assert exit_info.value.code == 0 and "workbench[oracle]" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _parse(["bench"])  # a benchmark must be named


def test_append_table_row_keeps_other_sections(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Other\n\nSome text.\n\n| x |\n| --- |\n| 1 |\n")
    append_table_row(path, "## OT", ["date", "ms"], ["2026-01-01", "1.5"])
    append_table_row(path, "## OT", ["date", "ms"], ["2026-01-02", "1|2"])
    append_table_row(path, "## Other", ["x"], ["2"])
    lines = path.read_text().splitlines()
    other = lines.index("## Other")
    assert lines[other + 4 : other + 8] == ["| x |", "| --- |", "| 1 |", "| 2 |"]
    ot_table = lines[lines.index("## OT") + 2 :]
    assert ot_table == ["| date | ms |", "| --- | --- |", "| 2026-01-01 | 1.5 |", "| 2026-01-02 | 1\\|2 |"]
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no temporary left behind
