"""``workbench import official CKPT --run-dir DIR``: a checkpoint of the official L2RM code as a run."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="turn another code base's checkpoint into a run directory",
                         description="Import a model trained elsewhere as a run directory with status "
                         "'imported', which `workbench eval`, `workbench score` and the dashboard read.")
    kinds = imp.add_subparsers(dest="kind", metavar="KIND", required=True)
    off = kinds.add_parser("official", help="a checkpoint saved by the official L2RM code (SGRAF layout)",
                           description="Read torch.save({'epoch', 'net', 'cost_function', 'best_rsum', 'opt'}) "
                           "with weights-only loading (argparse.Namespace the one allowed global), map opt onto "
                           "a configuration and the weights onto the workbench's modules (every name and shape "
                           "checked). NCR / DECL / RCL files of the same layout need --method.")
    off.add_argument("checkpoint", metavar="CKPT")
    off.add_argument("--run-dir", required=True, help="the run directory to create")
    off.add_argument("--vocab", metavar="VOCAB.json",
                     help="the vocabulary the model was trained with: checked against opt.vocab_size "
                     "(len(vocab) + 1 with the official <mask> word) and recorded, so evaluation refuses "
                     "data encoded with another vocabulary")
    off.add_argument("--method", help="the method that trained it (default: l2rm when the file has a "
                     "cost_function)")
    off.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir")
    off.set_defaults(func=_official)


def _official(args: argparse.Namespace) -> int:
    from workbench.official_import import import_official

    run_dir = import_official(args.checkpoint, args.run_dir, vocab=args.vocab, method=args.method,
                              overwrite=args.overwrite)
    print(run_dir)
    return 0
