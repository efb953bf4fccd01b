"""``workbench bench``: performance benchmarks, one subcommand each (``ot``, ``step``, ``gpu``).

Each subcommand prints one JSON line with ``--json`` (for scripts and CI) or a short table otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command group; each benchmark registers its own subcommand below."""
    parser = subparsers.add_parser(
        "bench",
        help="run performance benchmarks",
        description="Performance benchmarks. Timings are medians after warm-up, measured side by side in "
        "one process: compare ratios, not absolute times, on a shared machine.",
    )
    group = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    _register_ot(group)
    _register_step(group)
    _register_gpu(group)


def _emit(figures: dict[str, Any], as_json: bool, keys: list[str]) -> None:
    if as_json:
        print(json.dumps(figures))
        return
    width = max(map(len, keys))
    for key in keys:
        value = figures[key]
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")


def _register_ot(group: argparse._SubParsersAction) -> None:
    parser = group.add_parser(
        "ot",
        help="partial-OT solvers vs POT on L2RM's rematching problem",
        description="Time workbench.ot.partial_ot (dummy-point, single and batched; Bregman, batched) against "
        "POT's sinkhorn_log on the same extended problem, POT's entropic_partial_wasserstein and a plain numpy "
        "log-domain loop, on the L2RM problem (n x n cost max(1 - S, 0), rho = 0.1, diagonal mask), all run "
        "to the same marginal error. Needs POT: pip install 'workbench[oracle]'. POT's partial solver uses numpy's "
        "BLAS: run with OPENBLAS_NUM_THREADS=1 for a single-threaded comparison (benchmarks/bench_ot.py does).",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    parser.add_argument("--n", type=int, default=128, help="problem size n (default 128, the paper's batch)")
    parser.add_argument(
        "--batch", type=int, default=16, help="problems solved at once in the batched runs (default 16)"
    )
    parser.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[0.07, 0.01],
        help="entropic regularisations to run (default 0.07 0.01); the worse is reported on top",
    )
    parser.add_argument(
        "--tol", type=float, default=1e-6, help="marginal error every solver runs to (default 1e-6)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per solver; the median is reported (default 5)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads during the run (default 1)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random similarity matrices (default 0)"
    )
    parser.set_defaults(func=_run_ot)


def _run_ot(args: argparse.Namespace) -> int:
    from workbench.bench.ot import run_ot_benchmark  # imported here: the CLI starts without torch work

    figures = run_ot_benchmark(
        n=args.n,
        batch=args.batch,
        eps_values=tuple(args.eps),
        tol=args.tol,
        repeats=args.repeats,
        threads=args.threads,
        seed=args.seed,
    )
    keys = [
        "ours_single_ms",
        "ours_batched_ms_per_problem",
        "pot_ms",
        "bregman_batched_ms_per_problem",
        "pot_partial_ms",
        "numpy_log_ms",
        "max_marginal_error",
        "eps",
        "threads",
    ]
    _emit(figures, args.json, keys)
    return 0


def _register_step(group: argparse._SubParsersAction) -> None:
    parser = group.add_parser(
        "step",
        help="one training step of the batched SAF/SGR head vs a per-caption loop, at paper sizes",
        description="Time one training step (the hardest-negative triplet loss, forward + backward) of the "
        "pairwise similarity head (36 x 2048 regions, embed 1024, sim 256, ~12-word captions) computed for all "
        "pairs at once against the reference code's per-caption loop, same parameters and inputs (scores and "
        "gradients checked equal first). For SGR 'batched' back-propagates through the pairs the loss reads "
        "only (model.sparse_grad) and 'dense' through all pairs; also the head under bf16 autocast "
        "(model.head_precision=bf16). One JSON line per batch size.",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines (the default output is also JSON)")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128], help="batch sizes (default 32 128)")
    parser.add_argument("--kind", choices=("sgr", "saf"), default="sgr")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per mode (median)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 autocast timing")
    parser.add_argument("--l2rm", action="store_true",
                        help="also time an L2RM-shaped step: triplet loss on one batch + rematch loss on a second "
                        "(keys l2rm_s, l2rm_loop_s, l2rm_speedup)")
    parser.set_defaults(func=_run_step)


def _run_step(args: argparse.Namespace) -> int:
    from workbench.bench.step import bench_step

    for batch in args.batch:
        row = bench_step(batch, kind=args.kind, repeats=args.repeats, bf16=not args.no_bf16, l2rm=args.l2rm)
        print(json.dumps(row), flush=True)
    return 0


def _register_gpu(group: argparse._SubParsersAction) -> None:
    parser = group.add_parser(
        "gpu",
        help="the L2RM/SAF training step, SGRAF evaluation and paper-grid projections on this GPU",
        description="On F30K-shaped random data at the paper's sizes: the L2RM training step at batch 128 "
        "(cost update + rematch half with its OT solve + clean triplet half) for SGR and SAF, batched in "
        "fp32 / tf32 / bf16 and through the per-caption loop reference (checked to agree first): seconds per "
        "step, peak memory, ratios; the exhaustive SGRAF evaluation of 1000 x 5000; projected GPU hours of an "
        "F30K epoch, a Table 1 row and the whole Table 1 grid; a 2-process step when 2 GPUs are visible. "
        "Appends a row to benchmarks/BENCHMARKS.md. --smoke runs tiny sizes (CPU seconds) and checks its "
        "own output; it exits 1 when a check fails.",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines, one per section, then the summary")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, checked outputs, no row recorded")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    parser.add_argument("--no-ddp", action="store_true", help="skip the 2-process step")
    record = parser.add_mutually_exclusive_group()
    record.add_argument("--record", action="store_true", help="append the row also in --smoke mode")
    record.add_argument("--no-record", action="store_true", help="do not append a row to BENCHMARKS.md")
    parser.add_argument("--benchmarks", default=None,
                        help="the markdown file to append to (default: the checkout's benchmarks/BENCHMARKS.md)")
    parser.add_argument("--out", default=None, help="also write the JSON lines to this file")
    parser.set_defaults(func=_run_gpu)


def _run_gpu(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import torch

    from workbench.bench.gpu import check_result, default_benchmarks_file, run_gpu_bench
    from workbench.bench.gpu_table import record_row

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    lines: list[str] = []

    def emit(section: dict[str, Any]) -> None:
        lines.append(json.dumps(section))
        if args.json:
            print(lines[-1], flush=True)

    summary = run_gpu_bench(smoke=args.smoke, device=device, ddp=not args.no_ddp, emit=emit)
    problems = check_result(summary)
    summary["checks"] = problems or "passed"
    emit({"section": "summary", **summary})
    if not args.json:
        _emit(summary, False, [k for k in summary if not isinstance(summary[k], (list, dict))])
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    if (args.record or not args.smoke) and not args.no_record:
        path = Path(args.benchmarks) if args.benchmarks else default_benchmarks_file()
        record_row(summary, path)
        print(f"row appended to {path}", file=sys.stderr)
    for problem in problems:
        print(f"check failed: {problem}", file=sys.stderr)
    return 1 if problems else 0
