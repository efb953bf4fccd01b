"""``workbench reproduce TARGET``: run a table's or figure's grid through its notebook and collect it."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.reproduce.targets import TARGETS

    lines = "\n".join(f"  {t.name:<8} {t.description} (axes: {', '.join(t.axes)})" for t in TARGETS.values())
    parser = sub.add_parser(
        "reproduce", help="reproduce a table or figure of the paper (papermill)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Expand TARGET into its parameter grid, execute the target's notebook for every setting "
        "with papermill (finished settings are skipped, so an interrupted reproduction resumes), then write "
        "RUN_ROOT/TARGET/table.csv and table.md with our numbers beside the paper's.\n\nTargets:\n" + lines
        + "\n\n--set narrows a grid axis (methods=vanilla,l2rm mrates=0.2,0.6 seeds=0) or overrides a training "
        "setting for every run (epochs=3).")
    parser.add_argument("target", help="table1 ... table9, fig4 ... fig7, uot-table")
    parser.add_argument("--preset", choices=("cpu", "paper"), default="cpu",
                        help="cpu: the synthetic set on this machine; paper: the paper's data (GPU)")
    parser.add_argument("--run-root", default="runs", help="directory for TARGET/ (default: runs)")
    parser.add_argument("--jobs", type=int, default=1, help="settings run concurrently (default 1)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="grid axis (comma list) or training override; repeatable")
    parser.add_argument("--kernel", default="workbench", help="Jupyter kernel name (default: workbench)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the grid, which settings are done and the estimated cost of the rest "
                        "(CPU: measured seconds per epoch; GPU: the `workbench bench gpu` row of "
                        "BENCHMARKS.md), and the missing data; run nothing")
    parser.add_argument("--benchmarks", default=None,
                        help="with --dry-run --preset paper: the BENCHMARKS.md holding the GPU row "
                        "(default: the checkout's benchmarks/BENCHMARKS.md)")
    parser.set_defaults(func=_reproduce)


def _reproduce(args: argparse.Namespace) -> int:
    from workbench.reproduce import reproduce

    if args.dry_run:
        from pathlib import Path

        from workbench.reproduce.dry_run import dry_run

        plan = dry_run(args.target, args.preset, args.run_root, sets=args.sets,
                       benchmarks=Path(args.benchmarks) if args.benchmarks else None)
        print(plan.render())
        return 0

    def event(sid: str, what: str) -> None:
        print(f"[{what:>6}] {sid}", file=sys.stderr, flush=True)

    report = reproduce(args.target, args.preset, args.run_root, jobs=args.jobs, sets=args.sets,
                       kernel=args.kernel, on_event=event)
    print(f"{report.target}: {len(report.executed)} executed, {len(report.skipped)} already complete, "
          f"{len(report.failed)} failed in {report.seconds:.0f} s", file=sys.stderr)
    for sid, error in report.failed.items():
        print(f"  failed {sid}: {error} (see {report.root / sid / 'notebook.ipynb'})", file=sys.stderr)
    if report.table is not None:
        print((report.table.parent / "table.md").read_text(encoding="utf-8"))
        print(f"written: {report.table} and {report.table.parent / 'table.md'}", file=sys.stderr)
    return 1 if report.failed else 0
