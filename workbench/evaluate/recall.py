"""Image–text retrieval ranks and recall, in memory or streamed over a similarity function.

Layout. Rows of the similarity matrix ``S [n_images, n_captions]`` are images and columns captions;
``n_captions = k · n_images`` and caption ``c`` belongs to image ``c // k`` (``k`` captions per image:
5 for Flickr30K, MS-COCO and the synthetic sets, 1 for CC152K).

Ranks (0-based; see :mod:`workbench.evaluate.metrics` for R@K, medr, meanr and rSum):

* i2t: image ``i`` with ground-truth captions ``G(i) = {k·i, …, k·i + k − 1}`` and best ground-truth
  score ``b_i = max_{g ∈ G(i)} S[i, g]`` has rank ``|{c ∉ G(i) : S[i, c] ≥ b_i}|``;
* t2i: caption ``c`` with ground-truth image ``o = c // k`` has rank ``|{j ≠ o : S[j, c] ≥ S[o, c]}|``.

**Ties count against the query** (the ``≥``): an item scoring exactly the ground truth's score is
ranked above it. With continuous scores this changes nothing and the ranks equal those of a descending
sort (the SCAN/NCR/L2RM ``i2t``/``t2i``). With ties, it makes every rank as bad as any tie order
could make it, so a constant or collapsed scorer gets chance-level recall or worse, never a perfect
score (a sort would place the ground truth wherever its tie-breaking happens to put it).

Streaming. :func:`ranks_from_similarity` never holds more than an ``[image_chunk, caption_chunk]``
block of scores. It first scores the ``n_captions`` ground-truth pairs, then visits every
(image chunk × caption chunk) block once, adding to each image the number of non-ground-truth captions
scoring at least its best ground truth and to each caption the number of other images scoring at least
its ground truth. Each pair is scored exactly once, plus the ground-truth pairs once more. Ground-truth
pairs are masked out of the counts rather than compared with themselves, so the result does not depend
on the two scorings of one pair agreeing to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.errors import DataFormatError
from workbench.evaluate._arrays import check_finite, check_positive_int, to_numpy
from workbench.evaluate.metrics import RetrievalMetrics, RetrievalRanks

__all__ = [
    "DEFAULT_CAPTION_CHUNK",
    "DEFAULT_IMAGE_CHUNK",
    "PairFn",
    "ProgressFn",
    "SimilarityFn",
    "ranks_from_scores",
    "ranks_from_similarity",
    "recall_from_scores",
    "recall_from_similarity",
]

#: ``sim_fn(image_idx [m], caption_idx [w]) -> scores [m, w]`` (numpy array or torch tensor). The index
#: arrays are contiguous ascending int64 ranges.
SimilarityFn = Callable[[np.ndarray, np.ndarray], Any]
#: ``pair_fn(image_idx [p], caption_idx [p]) -> scores [p]``: the scores of the ``p`` aligned pairs.
PairFn = Callable[[np.ndarray, np.ndarray], Any]
#: ``progress(done_pairs, total_pairs)``, called after each scored block.
ProgressFn = Callable[[int, int], None]

# 512 × 8192 float32 scores = 16 MiB per block, plus two 4 MiB boolean masks.
DEFAULT_IMAGE_CHUNK = 512
DEFAULT_CAPTION_CHUNK = 8192

# Internal block source: (row_start, row_stop, col_start, col_stop) -> scores [rows, cols].
_BlockFn = Callable[[int, int, int, int], np.ndarray]


def _check_layout(n_images: int, n_captions: int, captions_per_image: int) -> tuple[int, int, int]:
    n_images = check_positive_int(n_images, "n_images")
    n_captions = check_positive_int(n_captions, "n_captions")
    k = check_positive_int(captions_per_image, "captions_per_image")
    if n_captions != k * n_images:
        raise DataFormatError(
            f"n_captions must equal captions_per_image × n_images = {k} × {n_images} = {k * n_images}, "
            f"got {n_captions}"
        )
    return n_images, n_captions, k


def _scored_block(sim_fn: SimilarityFn, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Call ``sim_fn`` and check that it returned a NaN-free ``[len(rows), len(cols)]`` array."""
    block = to_numpy(sim_fn(rows, cols))
    expected = (rows.size, cols.size)
    if block.shape != expected:
        raise DataFormatError(
            f"sim_fn(images {rows[0]}..{rows[-1]}, captions {cols[0]}..{cols[-1]}) returned shape "
            f"{block.shape}, expected {expected}"
        )
    check_finite(block, f"sim_fn scores for images {rows[0]}..{rows[-1]}, captions {cols[0]}..{cols[-1]}")
    return block


def _stream_counts(
    block_fn: _BlockFn,
    gt: np.ndarray,
    k: int,
    image_chunk: int,
    caption_chunk: int,
    progress: ProgressFn | None,
    done: int,
    total: int,
) -> RetrievalRanks:
    """Accumulate the i2t / t2i ranks block by block, given the ground-truth scores ``gt [n_cap]``."""
    n_captions = gt.size
    n_images = n_captions // k
    best = gt.reshape(n_images, k).max(axis=1)  # [n_img] best ground-truth score of each image
    i2t = np.zeros(n_images, dtype=np.int64)
    t2i = np.zeros(n_captions, dtype=np.int64)
    for r0 in range(0, n_images, image_chunk):
        r1 = min(r0 + image_chunk, n_images)
        for c0 in range(0, n_captions, caption_chunk):
            c1 = min(c0 + caption_chunk, n_captions)
            block = block_fn(r0, r1, c0, c1)
            beats_image_gt = block >= best[r0:r1, None]  # [m, w]: caption ranks above image's GT
            beats_caption_gt = block >= gt[None, c0:c1]  # [m, w]: image ranks above caption's GT
            # Ground-truth pairs inside this block: captions of images r0..r1-1 that fall in c0..c1-1.
            g0, g1 = max(c0, k * r0), min(c1, k * r1)
            if g0 < g1:
                gt_cols = np.arange(g0, g1)
                beats_image_gt[gt_cols // k - r0, gt_cols - c0] = False
                beats_caption_gt[gt_cols // k - r0, gt_cols - c0] = False
            i2t[r0:r1] += np.count_nonzero(beats_image_gt, axis=1)
            t2i[c0:c1] += np.count_nonzero(beats_caption_gt, axis=0)
            done += block.size
            if progress is not None:
                progress(done, total)
    return RetrievalRanks(i2t=i2t, t2i=t2i)


def _ground_truth_scores(
    sim_fn: SimilarityFn, pair_fn: PairFn | None, n_images: int, k: int, chunk: int
) -> np.ndarray:
    """Score the ``n_images · k`` ground-truth pairs exactly once each; returns ``[n_captions]``."""
    n_captions = n_images * k
    parts: list[np.ndarray] = []
    if pair_fn is not None:
        for c0 in range(0, n_captions, chunk):
            cols = np.arange(c0, min(c0 + chunk, n_captions))
            values = to_numpy(pair_fn(cols // k, cols))
            if values.shape != cols.shape:
                raise DataFormatError(
                    f"pair_fn(captions {cols[0]}..{cols[-1]}) returned shape {values.shape}, "
                    f"expected {cols.shape}"
                )
            parts.append(values)
    else:
        # One [1, k] block per image: more calls, but no pair is scored that is not a ground truth.
        for i in range(n_images):
            parts.append(_scored_block(sim_fn, np.arange(i, i + 1), np.arange(k * i, k * i + k))[0])
    gt = np.concatenate(parts)
    check_finite(gt, "ground-truth scores")
    return gt


def ranks_from_similarity(
    sim_fn: SimilarityFn,
    n_images: int,
    n_captions: int,
    captions_per_image: int,
    *,
    image_chunk: int = DEFAULT_IMAGE_CHUNK,
    caption_chunk: int = DEFAULT_CAPTION_CHUNK,
    pair_fn: PairFn | None = None,
    progress: ProgressFn | None = None,
) -> RetrievalRanks:
    """Per-query ranks, streaming ``sim_fn`` over bounded blocks (the full matrix is never built).

    Args:
        sim_fn: ``sim_fn(image_idx [m], caption_idx [w]) -> [m, w]`` scores (higher = more similar),
            numpy or torch; ``m <= image_chunk`` and ``w <= caption_chunk``.
        n_images: number of images (rows).
        n_captions: number of captions (columns); must equal ``captions_per_image · n_images``.
        captions_per_image: ``k``; caption ``c`` belongs to image ``c // k``.
        image_chunk: rows per block.
        caption_chunk: columns per block.
        pair_fn: optional ``pair_fn(image_idx [p], caption_idx [p]) -> [p]`` scoring aligned pairs, used
            for the ground-truth pass in ``caption_chunk``-sized batches. Without it that pass calls
            ``sim_fn`` once per image on its ``[1, k]`` block.
        progress: optional ``progress(done_pairs, total_pairs)`` callback;
            ``total_pairs = n_images · n_captions + n_captions``.

    Returns:
        :class:`RetrievalRanks` with ``i2t [n_images]`` and ``t2i [n_captions]`` (ties pessimistic).

    Raises:
        ConfigError: a size or chunk is not a positive integer.
        DataFormatError: ``n_captions != k · n_images``; ``sim_fn``/``pair_fn`` returned a wrong shape
            or NaN.
    """
    n_images, n_captions, k = _check_layout(n_images, n_captions, captions_per_image)
    image_chunk = check_positive_int(image_chunk, "image_chunk")
    caption_chunk = check_positive_int(caption_chunk, "caption_chunk")
    total = n_images * n_captions + n_captions
    gt = _ground_truth_scores(sim_fn, pair_fn, n_images, k, caption_chunk)
    if progress is not None:
        progress(n_captions, total)

    def block_fn(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return _scored_block(sim_fn, np.arange(r0, r1), np.arange(c0, c1))

    return _stream_counts(block_fn, gt, k, image_chunk, caption_chunk, progress, n_captions, total)


def ranks_from_scores(
    scores: Any,
    captions_per_image: int,
    *,
    image_chunk: int = DEFAULT_IMAGE_CHUNK,
    caption_chunk: int = DEFAULT_CAPTION_CHUNK,
    progress: ProgressFn | None = None,
) -> RetrievalRanks:
    """Per-query ranks of an in-memory score matrix ``scores [n_images, k · n_images]``.

    Same ranks as :func:`ranks_from_similarity`; blocks are views of ``scores``, so the only extra
    memory is two ``[image_chunk, caption_chunk]`` boolean masks. ``progress`` counts pairs as in
    :func:`ranks_from_similarity`.

    Raises:
        ConfigError: ``captions_per_image`` or a chunk is not a positive integer.
        DataFormatError: ``scores`` is not a non-empty 2-D array with ``k ×`` as many columns as rows,
            or holds NaN.
    """
    matrix = to_numpy(scores)
    if matrix.ndim != 2 or matrix.size == 0:
        raise DataFormatError(
            f"scores must be a non-empty 2-D [n_images, n_captions] array, got shape {matrix.shape}"
        )
    n_images, n_captions = matrix.shape
    _, _, k = _check_layout(n_images, n_captions, captions_per_image)
    image_chunk = check_positive_int(image_chunk, "image_chunk")
    caption_chunk = check_positive_int(caption_chunk, "caption_chunk")
    check_finite(matrix, "scores")
    cols = np.arange(n_captions)
    gt = matrix[cols // k, cols]
    total = n_images * n_captions + n_captions
    if progress is not None:
        progress(n_captions, total)

    def block_fn(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return matrix[r0:r1, c0:c1]

    return _stream_counts(block_fn, gt, k, image_chunk, caption_chunk, progress, n_captions, total)


def recall_from_similarity(
    sim_fn: SimilarityFn,
    n_images: int,
    n_captions: int,
    captions_per_image: int,
    *,
    image_chunk: int = DEFAULT_IMAGE_CHUNK,
    caption_chunk: int = DEFAULT_CAPTION_CHUNK,
    pair_fn: PairFn | None = None,
    progress: ProgressFn | None = None,
) -> RetrievalMetrics:
    """R@{1,5,10}, rSum, medr and meanr, streaming ``sim_fn``; see :func:`ranks_from_similarity`."""
    return ranks_from_similarity(
        sim_fn,
        n_images,
        n_captions,
        captions_per_image,
        image_chunk=image_chunk,
        caption_chunk=caption_chunk,
        pair_fn=pair_fn,
        progress=progress,
    ).metrics()


def recall_from_scores(
    scores: Any,
    captions_per_image: int,
    *,
    image_chunk: int = DEFAULT_IMAGE_CHUNK,
    caption_chunk: int = DEFAULT_CAPTION_CHUNK,
    progress: ProgressFn | None = None,
) -> RetrievalMetrics:
    """R@{1,5,10}, rSum, medr and meanr of ``scores [n_images, n_captions]`` (numpy or torch).

    See :func:`ranks_from_scores`; ties count against the query.
    """
    return ranks_from_scores(
        scores,
        captions_per_image,
        image_chunk=image_chunk,
        caption_chunk=caption_chunk,
        progress=progress,
    ).metrics()
