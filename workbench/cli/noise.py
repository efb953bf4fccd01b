"""``workbench noise``: generate and inspect mismatch (MRate) index files."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from workbench.data.noise import PROTOCOLS, load_noise_index, make_noise_index, save_noise_index
from workbench.data.registry import get_entry, split_images
from workbench.errors import ConfigError

__all__ = ["register"]

log = logging.getLogger(__name__)

_MAKE_DESCRIPTION = """\
Generate a noise index for a training split and save it as int64 .npy (atomically);
print the path written. Exactly round(R * N) images (image protocol) or round(R * N * K)
captions (caption protocol) end up paired with another image.

The image count N comes from the registry (--dataset NAME; the synthetic set also needs
--size) or from --n-images N for your own data."""

_CHECK_DESCRIPTION = """\
Validate a noise index (level detected from its values) and print one JSON object:
  {"n": .., "moved": .., "fraction": .., "level": "image"|"caption", "equal": true|false|null}
n = entries of FILE; moved = entries not paired with their own image; fraction = moved / n;
equal = whether FILE equals the --against file (null without it). When the two files are
of different levels, the image-level one is expanded to caption level before comparing."""

_MAKE_EXAMPLES = """\
examples:
  workbench noise make --dataset f30k --protocol image --mrate 0.6 --seed 0 --out f30k_0.6.npy
  workbench noise make --dataset synthetic --size small --protocol caption --mrate 0.2 --out syn.npy
  workbench noise make --n-images 5000 --captions-per-image 5 --protocol image --mrate 0.4 --out mine.npy"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``noise`` command group."""
    parser = subparsers.add_parser(
        "noise",
        help="generate and check mismatch (MRate) index files",
        description="Mismatch index files pair every training caption with an image. 'image' level "
        "(RCL/DECL/L2RM): one int64 per image, a permutation; 'caption' level (NCR/BiCro): one int64 "
        "per caption, the image it is paired with.",
    )
    sub = parser.add_subparsers(dest="noise_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser(
        "make",
        help="generate a noise index with exactly round(MRate*N) moved entries",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_MAKE_DESCRIPTION,
        epilog=_MAKE_EXAMPLES,
    )
    p.add_argument("--dataset", metavar="NAME", help="registry name: f30k, coco, cc152k, synthetic, ...")
    p.add_argument("--size", metavar="SIZE", help="size preset of the synthetic set: tiny, small, medium")
    p.add_argument("--n-images", metavar="N", type=int, help="training images of your own data")
    p.add_argument(
        "--captions-per-image", metavar="K", type=int, help="k (default: the dataset's, or 5 with --n-images)"
    )
    p.add_argument("--protocol", choices=PROTOCOLS, required=True, help="mismatch protocol")
    p.add_argument("--mrate", metavar="R", type=float, required=True, help="mismatch rate in [0, 1]")
    p.add_argument(
        "--seed", metavar="S", type=int, default=0, help="numpy.random.default_rng seed (default: 0)"
    )
    p.add_argument("--out", metavar="FILE.npy", type=Path, required=True, help="output file")
    p.set_defaults(func=_make)

    p = sub.add_parser(
        "check",
        help="print a JSON summary of a noise index (and compare it with another)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_CHECK_DESCRIPTION,
        epilog="example:\n  workbench noise check noise_inx_0.6.npy --against f30k_precomp_0.6.npy",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="noise index .npy")
    p.add_argument("--against", metavar="FILE2", type=Path, help="second index to compare with")
    p.add_argument("--captions-per-image", metavar="K", type=int, default=5, help="k (default: 5)")
    p.set_defaults(func=_check)


def _make(args: argparse.Namespace) -> int:
    if (args.dataset is None) == (args.n_images is None):
        raise ConfigError("give exactly one of --dataset NAME or --n-images N")
    if args.dataset is not None:
        entry = get_entry(args.dataset)
        splits = split_images(entry.name, args.size)
        if "train" not in splits:
            raise ConfigError(f"dataset {entry.name!r} has no training split to add noise to")
        n_images = splits["train"]
        k = args.captions_per_image or entry.captions_per_image or 5
    else:
        n_images, k = args.n_images, args.captions_per_image or 5
    noise = make_noise_index(args.protocol, n_images, k, args.mrate, args.seed)
    path = save_noise_index(noise, args.out)
    log.info(
        "%s level, %d images x %d captions: moved %d of %d entries (%.6f)",
        noise.level, n_images, k, noise.moved, len(noise.index), noise.fraction,
    )  # fmt: skip
    print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    k = args.captions_per_image
    noise = load_noise_index(args.file, captions_per_image=k)
    equal = None
    if args.against is not None:
        other = load_noise_index(args.against, captions_per_image=k)
        if noise.level == other.level:
            equal = bool(np.array_equal(noise.index, other.index))
        else:
            equal = bool(np.array_equal(noise.caption_index(), other.caption_index()))
    summary = {
        "n": len(noise.index),
        "moved": noise.moved,
        "fraction": noise.fraction,
        "level": noise.level,
        "equal": equal,
    }
    print(json.dumps(summary))
    return 0
