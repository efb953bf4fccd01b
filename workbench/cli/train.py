"""``workbench train``, ``workbench eval`` and ``workbench presets``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import ConfigError, RunDirError
from workbench.runs import read_results, read_run_info

if TYPE_CHECKING:
    from workbench.config import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train one preset (prints the run directory)",
                           description="Train a preset, optionally overriding settings with --set key=value. "
                           "Prints the run directory. Composite '-sgraf' presets train their SAF and SGR "
                           "members and evaluate them together. Use torchrun --nproc_per_node N -m workbench "
                           "train ... for several processes.")
    train.add_argument("--preset", help="preset name (see `workbench presets`)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting, e.g. --set mrate=0.6 --set model.embed_size=256")
    train.add_argument("--run-root", default="runs", help="directory for new runs (default: runs)")
    train.add_argument("--run-dir", help="exact run directory to create")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint, "
                       "on the device and threads it was configured with (--set device=... / threads=... to move it)")
    train.add_argument("--restart", metavar="RUN_DIR",
                       help="start an unfinished run (e.g. killed before its first checkpoint) again from epoch 0 "
                       "with the configuration in its run.json")
    train.add_argument("--overwrite", action="store_true",
                       help="with --run-dir: replace the run already there (a run that a live process is "
                       "writing is refused)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    ev = sub.add_parser("eval", help="print a run's results JSON, or evaluate runs together",
                        description="With one finished run: print its results.json. With --split/--mode or "
                        "several runs: evaluate the best checkpoints (several runs = test-time ensemble, "
                        "e.g. a SAF and an SGR run = SGRAF) and print the metrics as JSON.")
    ev.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    ev.add_argument("--split", choices=("test", "val"), help="re-evaluate on this split")
    ev.add_argument("--mode", choices=("exhaustive", "shortlist"), help="pairwise heads: all pairs or shortlist")
    ev.add_argument("--shortlist-k", type=int, default=50)
    ev.add_argument("--shortlist-from", metavar="RUN_DIR",
                    help="shortlist mode: take candidates from this run's global embeddings (e.g. a VSE run "
                    "on the same data) instead of the evaluated model's own mean-pooled ones")
    ev.add_argument("--out-dir", help="ensemble: where to write its run directory")
    ev.add_argument("--run-root", default="runs", help="ensemble: directory for its run (default: runs)")
    ev.add_argument("--device", choices=("auto", "cpu", "cuda"),
                    help="where to evaluate (default: the run's configured device)")
    ev.set_defaults(func=_eval)

    pr = sub.add_parser("presets", help="list the named presets",
                        description="List presets: the paper's rows (f30k/coco/cc152k x method x backbone x "
                        "MRate) and the CPU/tiny versions on the synthetic set.")
    pr.add_argument("--group", choices=("paper", "cpu", "tiny"))
    pr.add_argument("--method")
    pr.add_argument("--dataset")
    pr.add_argument("--json", action="store_true", help="one JSON object per line with the overrides")
    pr.set_defaults(func=_presets)


def _train(args: argparse.Namespace) -> int:
    from workbench.callbacks import TqdmProgress
    from workbench.config import TrainConfig
    from workbench.ensemble import evaluate_ensemble
    from workbench.presets import get_preset
    from workbench.train import run

    callbacks = [] if args.no_progress else [TqdmProgress()]
    if args.resume and args.restart:
        raise ConfigError("--resume and --restart exclude each other: resume continues from the last checkpoint, "
                          "restart starts again from epoch 0")
    given = args.resume or args.restart
    if given and (args.preset or (args.overrides and args.restart) or args.run_dir or args.overwrite):
        flag = "--resume" if args.resume else "--restart"
        raise ConfigError(f"{flag} continues a run with its own saved configuration; it takes no --preset, "
                          f"{'--set, ' if args.restart else ''}--run-dir or --overwrite")
    if args.resume:  # --set may move it: device=..., threads=... (workbench.train.RESUME_OVERRIDABLE)
        result = run(TrainConfig(), run_dir=args.resume, resume=True, callbacks=callbacks,
                     resume_overrides=args.overrides)
        if result.run_dir is not None:
            print(result.run_dir)
        return 0
    if args.restart:
        cfg, preset_name = restart_config(Path(args.restart))
        result = run(cfg, run_dir=args.restart, preset=preset_name, callbacks=callbacks, overwrite=True)
        if result.run_dir is not None:
            print(result.run_dir)
        return 0
    if args.overwrite and not args.run_dir:
        raise ConfigError("--overwrite replaces the run in --run-dir; give --run-dir (new runs under --run-root "
                          "get fresh directories)")
    if not args.preset:
        raise ConfigError("--preset is required (or --resume RUN_DIR); `workbench presets` lists them")
    preset = get_preset(args.preset)
    if preset.members:
        member_dirs = []
        for name in preset.members:
            cfg = get_preset(name).config().override(args.overrides)
            result = run(cfg, run_root=args.run_root, preset=name, callbacks=callbacks)
            print(f"{name}: {result.run_dir}", file=sys.stderr)
            member_dirs.append(result.run_dir)
        out = evaluate_ensemble(member_dirs, run_root=args.run_root, preset=preset.name, out_dir=args.run_dir)
        print(out["run_dir"])
        return 0
    cfg = preset.config().override(args.overrides)
    result = run(cfg, run_root=args.run_root, run_dir=args.run_dir, preset=preset.name, callbacks=callbacks,
                 overwrite=args.overwrite)
    if result.run_dir is not None:  # only the main process of a distributed run writes (and prints) it
        print(result.run_dir)
    return 0


def _eval(args: argparse.Namespace) -> int:
    if len(args.run_dirs) > 1:
        from workbench.ensemble import evaluate_ensemble

        out = evaluate_ensemble(args.run_dirs, out_dir=args.out_dir, run_root=args.run_root, device=args.device)
        print(json.dumps(out, indent=2))
        return 0
    run_dir = Path(args.run_dirs[0])
    if args.shortlist_from and args.mode != "shortlist":
        raise ConfigError("--shortlist-from needs --mode shortlist")
    if args.split is None and args.mode is None:
        if not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: no run directory there")
        results = read_results(run_dir)  # checked against its schema: a damaged file is an error
        if results is None and (run_dir / "run.json").is_file() and read_run_info(run_dir).get("status") == "imported":
            return _evaluate(args, run_dir)  # an imported model has no results yet: evaluate it on the test split
        if results is None:
            raise RunDirError(f"{run_dir / 'results.json'}: missing (is the run finished? see "
                              f"{run_dir / 'run.json'})")
        print(json.dumps(results, indent=2))
        return 0
    return _evaluate(args, run_dir)


def _evaluate(args: argparse.Namespace, run_dir: Path) -> int:
    """Evaluate a finished or imported run's best models on a split, on the configured device."""
    import dataclasses

    from workbench.data.dataset import load_retrieval_data
    from workbench.run_models import load_run_models, run_config
    from workbench.scoring import evaluate
    from workbench.train import resolve_device

    cfg = run_config(run_dir)
    device = resolve_device(args.device or cfg.device)
    data = load_retrieval_data(cfg.data)
    models = load_run_models(run_dir, data, device)
    name = args.split or "test"
    split = data.val if name == "val" else data.test
    shortlisters = []
    if args.shortlist_from:
        source = run_config(args.shortlist_from).data
        if (source.dataset, source.size) != (cfg.data.dataset, cfg.data.size):
            raise ConfigError(f"--shortlist-from {args.shortlist_from}: trained on {source.dataset} "
                              f"({source.size}), but {run_dir} on {cfg.data.dataset} ({cfg.data.size})")
        shortlisters = load_run_models(args.shortlist_from, data, device)
    metrics = evaluate(models, split, name, cfg, device, mode=args.mode, shortlist_k=args.shortlist_k,
                       shortlist_models=shortlisters)
    print(json.dumps({k: dataclasses.asdict(v) for k, v in metrics.items()}, indent=2))
    return 0


def restart_config(run_dir: Path) -> tuple[TrainConfig, str | None]:
    """The configuration and preset of an unfinished run, to start it again from epoch 0.

    Raises:
        RunDirError: no run there, a damaged ``run.json`` or one without ``config``, or a finished run
            (restarting would discard its results: use a new directory, or ``--overwrite``).
    """
    from workbench.config import TrainConfig

    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no run directory to restart")
    info = read_run_info(run_dir)
    if info.get("status") == "done":
        raise RunDirError(f"{run_dir}: the run is finished (status 'done'); restarting would discard its "
                          "results; train into a new directory, or pass --run-dir with --overwrite")
    if not isinstance(info.get("config"), dict):
        raise RunDirError(f"{run_dir / 'run.json'}: no 'config' recorded; the run cannot be restarted")
    return TrainConfig.from_dict(info["config"]), info.get("preset")


def _presets(args: argparse.Namespace) -> int:
    from workbench.presets import PRESETS

    rows = [p for p in PRESETS.values()
            if (args.group is None or p.group == args.group)
            and (args.method is None or p.overrides.get("method") == args.method
                 or (p.members and f"-{args.method}-" in p.name))
            and (args.dataset is None or p.name.startswith(args.dataset + "-")
                 or p.overrides.get("dataset") == args.dataset)]
    rows.sort(key=lambda p: p.name)
    if args.json:
        for p in rows:
            print(json.dumps({"name": p.name, "group": p.group, "table": p.table, "members": list(p.members),
                              "description": p.description, "overrides": dict(p.overrides)}))
        return 0
    width = max((len(p.name) for p in rows), default=10)
    for p in rows:
        table = f"[Table {p.table}] " if p.table else ""
        print(f"{p.name:<{width}}  {table}{p.description}")
    print(f"{len(rows)} presets", file=sys.stderr)
    return 0
