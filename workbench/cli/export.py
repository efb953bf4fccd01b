"""``workbench export``: write run directories in other tools' formats (TensorBoard event files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.errors import RunDirError

__all__ = ["register"]


def _targets(paths: list[str]) -> list[tuple[Path, str]]:
    """(run directory, name) for each argument: a run directory itself, or every done run under a folder."""
    from workbench.runs import RUN_FILE, list_runs

    out: list[tuple[Path, str]] = []
    for item in paths:
        path = Path(item)
        if (path / RUN_FILE).is_file():
            out.append((path, path.name))
        elif path.is_dir() and (done := [s for s in list_runs(path) if s.status == "done"]):
            out += [(s.path, s.run_id) for s in done]
        else:
            raise RunDirError(f"{path} is not a run directory (no {RUN_FILE}) nor a folder holding finished runs")
    names = [name for _, name in out]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise RunDirError(f"several runs are named {', '.join(clashes)}; export them in separate calls or "
                          "pass the folder that holds them")
    return out


def _tensorboard(args: argparse.Namespace) -> int:
    from workbench.tensorboard_log import TB_DIR, export_run

    for run_dir, name in _targets(args.runs):
        written = export_run(run_dir, None if args.out is None else Path(args.out) / name)
        print(written)
    where = args.out or "each run's tensorboard/ folder"
    print(f"view them with: tensorboard --logdir {args.out or ' '.join(args.runs)}  (written to {where}; "
          f"runs trained with log.tensorboard=true have {TB_DIR}/ already)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export", help="write runs in other tools' formats (TensorBoard)",
                            description="Convert finished run directories for other tools.")
    formats = export.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    tensorboard = formats.add_parser(
        "tensorboard", help="TensorBoard event files from run directories",
        description="Write TensorBoard event files from run directories: scalars (losses, validation R@K "
                    "or MAP, split precision/recall/AUC, rematch statistics, test metrics), histograms of "
                    "the learned cost of matched and mismatched pairs, and alignment heatmaps, per epoch. "
                    "Each RUN is a run directory or a folder of runs (its finished runs are exported).",
        epilog="examples:\n  workbench export tensorboard runs/table1/l2rm-vse-m0.6-s0\n"
               "  workbench export tensorboard runs --out tb && tensorboard --logdir tb",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tensorboard.add_argument("runs", nargs="+", metavar="RUN", help="run directory, or a folder of runs")
    tensorboard.add_argument("--out", metavar="DIR",
                             help="write DIR/<run id>/ instead of each run's own tensorboard/ folder")
    tensorboard.set_defaults(func=_tensorboard)
