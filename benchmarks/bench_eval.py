"""Throughput of the streaming recall on a COCO-5K-sized problem (5,000 images × 25,000 captions).

The score function is a random-embedding dot product (``[m, d] @ [d, w]`` in float32), i.e. about the
cheapest scorer a model could provide, so the figure measures the evaluation's own bookkeeping rather
than a network. Also timed: the same blocks scored without any ranking, so the ranking overhead can be
read off. Prints one JSON line.

    python benchmarks/bench_eval.py [--images 5000] [--dim 64] [--image-chunk 512] [--caption-chunk 8192]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import numpy as np

from workbench.evaluate import recall_from_similarity
from workbench.evaluate.recall import DEFAULT_CAPTION_CHUNK, DEFAULT_IMAGE_CHUNK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="number of images (captions = 5×)")
    parser.add_argument("--dim", type=int, default=64, help="embedding dimension of the random scorer")
    parser.add_argument("--image-chunk", type=int, default=DEFAULT_IMAGE_CHUNK)
    parser.add_argument("--caption-chunk", type=int, default=DEFAULT_CAPTION_CHUNK)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    k = 5
    n_img, n_cap = args.images, k * args.images
    rng = np.random.default_rng(args.seed)
    images = rng.standard_normal((n_img, args.dim), dtype=np.float32)
    captions = rng.standard_normal((n_cap, args.dim), dtype=np.float32)

    def sim_fn(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        # Contiguous ranges: slice instead of fancy-indexing copies.
        return images[rows[0] : rows[-1] + 1] @ captions[cols[0] : cols[-1] + 1].T

    def pair_fn(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.einsum("pd,pd->p", images[rows], captions[cols])

    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for r0 in range(0, n_img, args.image_chunk):
        for c0 in range(0, n_cap, args.caption_chunk):
            sim_fn(
                np.arange(r0, min(r0 + args.image_chunk, n_img)),
                np.arange(c0, min(c0 + args.caption_chunk, n_cap)),
            )
    scoring_s = time.perf_counter() - start

    results = {}
    for label, extra in (("sim_fn_gt", {}), ("pair_fn_gt", {"pair_fn": pair_fn})):
        start = time.perf_counter()
        metrics = recall_from_similarity(
            sim_fn, n_img, n_cap, k, image_chunk=args.image_chunk, caption_chunk=args.caption_chunk, **extra
        )
        results[label] = time.perf_counter() - start
    pairs = n_img * n_cap + n_cap
    # Peak memory added by scoring and ranking; the full float32 matrix alone would be 4 · n_img · n_cap bytes.
    peak_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib) / 1024
    print(
        json.dumps(
            {
                "benchmark": "streaming_recall",
                "n_images": n_img,
                "n_captions": n_cap,
                "dim": args.dim,
                "image_chunk": args.image_chunk,
                "caption_chunk": args.caption_chunk,
                "pairs": pairs,
                "scoring_only_s": round(scoring_s, 3),
                "recall_s": round(results["pair_fn_gt"], 3),
                "recall_sim_fn_gt_s": round(results["sim_fn_gt"], 3),
                "pairs_per_s": round(pairs / results["pair_fn_gt"]),
                "ranking_overhead_pairs_per_s": round(pairs / max(results["pair_fn_gt"] - scoring_s, 1e-9)),
                "peak_rss_growth_mib": round(peak_growth_mib, 1),
                "full_matrix_mib": round(4 * n_img * n_cap / 2**20, 1),
                "rsum": round(metrics.rsum, 3),  # random scorer: near chance
                "numpy": np.__version__,
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
