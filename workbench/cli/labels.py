"""``workbench labels``: the noisy-label track (UOT-RCL and its baselines) from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_EPILOG = """examples:
  workbench labels presets --group cpu
  workbench labels train --preset cpu-uot_rcl --set rate=0.8 --run-root runs/labels
  workbench labels train --preset cpu-ce --set noise=asymmetric --set rate=0.4
  workbench labels table runs/labels --write
"""


def register(sub: argparse._SubParsersAction) -> None:
    labels = sub.add_parser(
        "labels", help="noisy-label track: train UOT-RCL / baselines, list presets, build the MAP table",
        description="Cross-modal retrieval with noisy class labels (UOT-RCL, CE, GCE, MRL, CCA): MAP over all "
                    "results on the clean test set, model selection on the noisy validation set.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = labels.add_subparsers(dest="labels_command", metavar="SUBCOMMAND", required=True)

    train = commands.add_parser(
        "train", help="train one preset (prints the run directory)",
        description="Train one label-track preset, optionally overriding settings with --set key=value "
                    "(dotted path or unique leaf name, e.g. rate=0.8, noise=asymmetric, uot_rcl.cost=knn). "
                    "Prints the run directory on stdout.")
    train.add_argument("--preset", help="preset name (see `workbench labels presets`)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting; repeatable")
    train.add_argument("--ablation", help="a named UOT-RCL ablation applied on top of a *-uot_rcl preset "
                                          "(see `workbench labels presets --ablations`)")
    train.add_argument("--run-root", default="runs", help="directory for new runs (default: runs)")
    train.add_argument("--run-dir", help="exact run directory to create")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    presets = commands.add_parser("presets", help="list the label-track presets",
                                  description="List presets ({group}-{method}: cpu = Wikipedia on 2 CPU "
                                              "cores, paper = MRL protocol for the papers' features, tiny = "
                                              "synthetic smoke runs) or the named UOT-RCL ablations.")
    presets.add_argument("--group", choices=("cpu", "paper", "tiny"))
    presets.add_argument("--ablations", action="store_true", help="list the UOT-RCL ablations instead")
    presets.add_argument("--json", action="store_true", help="one JSON object per line with the overrides")
    presets.set_defaults(func=_presets)

    table = commands.add_parser("table", help="print the MAP-vs-noise table of the runs under RUN_ROOT",
                                description="Collect every finished label-track run under RUN_ROOT and print "
                                            "mean ± std over seeds per method and noise setting.")
    table.add_argument("run_root", metavar="RUN_ROOT")
    table.add_argument("--column", default=None,
                       help="one table: best_avg, last_avg, best_i2t, best_t2i, last_i2t, last_t2i or "
                            "correction_accuracy (default: best_avg and last_avg)")
    table.add_argument("--write", action="store_true", help="also write table.csv and table.md into RUN_ROOT")
    table.set_defaults(func=_table)


def _train(args: argparse.Namespace) -> int:
    from workbench.callbacks import TqdmProgress
    from workbench.errors import ConfigError
    from workbench.labels.presets import get_label_preset, preset_config
    from workbench.labels.train import run_labels

    callbacks = [] if args.no_progress else [TqdmProgress()]
    if args.resume:
        result = run_labels(None, run_dir=args.resume, resume=True, callbacks=callbacks)
    else:
        if not args.preset:
            raise ConfigError("--preset is required (or --resume RUN_DIR); `workbench labels presets` lists them")
        preset = get_label_preset(args.preset)
        cfg = preset_config(preset.group, preset.method, ablation=args.ablation, extra=args.overrides)
        variant = f"{preset.method}-{args.ablation}" if args.ablation else None
        result = run_labels(cfg, run_root=args.run_root, run_dir=args.run_dir, preset=preset.name, variant=variant,
                            callbacks=callbacks)
    best, last = result.best, result.last
    print(f"test MAP best-epoch {best['avg']:.4f} (i2t {best['i2t']:.4f}, t2i {best['t2i']:.4f}); "
          f"last-epoch {last['avg']:.4f}", file=sys.stderr)
    print(result.run_dir)
    return 0


def _presets(args: argparse.Namespace) -> int:
    from workbench.labels.presets import ABLATIONS, LABEL_PRESETS

    if args.ablations:
        for name, overrides in ABLATIONS.items():
            print(json.dumps({"name": name, "overrides": overrides}) if args.json else
                  f"{name:<20} {' '.join(f'{k}={v}' for k, v in overrides.items()) or '(the default UOT-RCL)'}")
        return 0
    for name, preset in LABEL_PRESETS.items():
        if args.group and preset.group != args.group:
            continue
        print(json.dumps({"name": name, "group": preset.group, "method": preset.method,
                          "overrides": dict(preset.overrides)}) if args.json else f"{name:<16} {preset.description}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from workbench.errors import ConfigError
    from workbench.labels.table import (
        MAP_COLUMNS,
        collect_label_runs,
        map_table,
        summarise,
        table_markdown,
        write_tables,
    )

    root = Path(args.run_root)
    if not root.is_dir():
        raise ConfigError(f"run root {root} is not a directory")
    frame = collect_label_runs(root)
    if frame.empty:
        raise ConfigError(f"no finished label-track runs under {root}")
    columns = [args.column] if args.column else ["best_avg", "last_avg"]
    for column in columns:
        if column not in (*MAP_COLUMNS, "correction_accuracy"):
            raise ConfigError(f"--column {column!r} is not one of {', '.join((*MAP_COLUMNS, 'correction_accuracy'))}")
    summary = summarise(frame)
    for column in columns:
        print(table_markdown(map_table(summary, column), column))
    if args.write:
        csv_path, md_path = write_tables(frame, root)
        print(f"wrote {csv_path} and {md_path}", file=sys.stderr)
    return 0
