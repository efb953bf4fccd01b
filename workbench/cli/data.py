"""``workbench data``: list, fetch, generate, convert and check datasets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.data.bottomup import convert_bottomup
from workbench.data.download import fetch, local_status
from workbench.data.precomp import load_precomp_split
from workbench.data.registry import default_data_root, get_entry, registry

__all__ = ["register"]

_ROOT_HELP = "data root (default: $WORKBENCH_DATA, else ./data)"
_SIZES = ("tiny", "small", "medium")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group."""
    parser = subparsers.add_parser(
        "data",
        help="list, fetch, generate, convert and check datasets",
        description="Datasets of the registry: where they come from, fetching them (data mirror first, "
        "sha256-verified), generating the synthetic set, and reading users' own precomp data.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser(
        "list",
        help="table of registry datasets and whether they are under the data root",
        description="Print one row per registry dataset: name, kind (generated | download | user), "
        "source, and whether it is present under the data root.",
    )
    p.add_argument("--root", metavar="DIR", type=Path, default=None, help=_ROOT_HELP)
    p.set_defaults(func=_list)

    p = sub.add_parser(
        "fetch",
        help="fetch a dataset's files into the data root (mirror first, then the original URL)",
        description="Fetch every file of a 'download' dataset into the data root: files already present "
        "with the right sha256 are kept; others are copied from $WORKBENCH_DATA_MIRROR when set, else "
        "downloaded from their original URL; each is verified before it is renamed into place. Prints "
        "the path of every file, one per line.",
        epilog="example: workbench data fetch f30k-noise --root data",
    )
    p.add_argument("name", metavar="NAME", help="registry name (see `workbench data list`)")
    p.add_argument("--root", metavar="DIR", type=Path, default=None, help=_ROOT_HELP)
    p.set_defaults(func=_fetch)

    p = sub.add_parser(
        "synth",
        help="generate the synthetic scene-grammar dataset",
        description="Generate the synthetic image-caption set (precomp layout plus ground truth) under "
        "the data root, in ROOT/synthetic-SIZE-sSEED/, and print that directory. An existing "
        "directory of the same recipe is verified and reused.",
    )
    p.add_argument("--size", choices=_SIZES, default="small", help="size preset (default: small)")
    p.add_argument("--seed", metavar="S", type=int, default=0, help="dataset seed (default: 0)")
    p.add_argument("--root", metavar="DIR", type=Path, default=None, help=_ROOT_HELP)
    p.set_defaults(func=_synth)

    p = sub.add_parser(
        "convert-bottomup",
        help="convert a bottom-up-attention TSV (or zip) to precomp features",
        description="Convert a bottom-up-attention TSV (image_id, image_w, image_h, num_boxes, boxes, "
        "features; base64 float32), bare or zipped, into OUT/SPLIT_ims.npy (N x R x D float32) plus "
        "SPLIT_boxes.npy, SPLIT_image_sizes.npy and SPLIT_ids.txt. Streams row by row; writes are atomic.",
        epilog="example: workbench data convert-bottomup trainval_36.zip --out data/mine_precomp --split train",
    )
    p.add_argument("source", metavar="TSV_OR_ZIP", type=Path, help="the .tsv file or a .zip holding one")
    p.add_argument("--out", metavar="DIR", type=Path, required=True, help="output directory")
    p.add_argument("--split", metavar="NAME", required=True, help="split name used in the output file names")
    p.set_defaults(func=_convert_bottomup)

    p = sub.add_parser(
        "check",
        help="validate one split of a precomp directory and print a JSON summary",
        description="Open DIR/SPLIT_ims.npy and DIR/SPLIT_caps.txt (or .tsv) as the trainer would, run "
        "every check (shapes, dtype, counts, NaN/inf scan, caption lines) and print a JSON summary.",
    )
    p.add_argument("directory", metavar="DIR", type=Path, help="precomp directory, e.g. data/f30k_precomp")
    p.add_argument("--split", required=True, help="split name, e.g. train, dev, test, testall")
    p.add_argument(
        "--captions-per-image", metavar="K", type=int, default=None, help="k (default: inferred from counts)"
    )
    p.add_argument("--skip-finite-check", action="store_true", help="do not scan features for NaN/inf")
    p.set_defaults(func=_check)


def _root(args: argparse.Namespace) -> Path:
    return args.root if args.root is not None else default_data_root()


def _list(args: argparse.Namespace) -> int:
    root = _root(args)
    rows = [("dataset", "kind", "source", "present")]
    rows += [(e.name, e.kind, e.source, local_status(e, root)) for e in registry().values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # the CLI's progress bar; the library only takes a callback

    entry = get_entry(args.name)
    with tqdm(total=entry.total_bytes, unit="B", unit_scale=True, desc=entry.name, disable=None) as bar:
        result = fetch(entry.name, _root(args), progress=lambda done, _total: bar.update(done - bar.n))
    for item in result.files:
        print(item.path)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from workbench.data.synthetic import write_synthetic  # deferred: the generator is only needed here

    print(write_synthetic(_root(args), args.size, args.seed))
    return 0


def _convert_bottomup(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with tqdm(unit="img", desc=args.source.name, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = convert_bottomup(args.source, args.out, args.split, progress=progress)
    for path in (result.images, result.boxes, result.image_sizes, result.ids):
        print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    split = load_precomp_split(
        args.directory,
        args.split,
        captions_per_image=args.captions_per_image,
        check_finite=not args.skip_finite_check,
    )
    summary = {
        "split": split.name,
        "images": split.n_images,
        "captions": split.n_captions,
        "captions_per_image": split.captions_per_image,
        "regions": int(split.images.shape[1]),
        "feature_dim": int(split.images.shape[2]),
        "rows_per_caption": split.rows_per_caption,
        "has_urls": split.urls is not None,
        "finite_checked": not args.skip_finite_check,
    }
    print(json.dumps(summary))
    return 0
