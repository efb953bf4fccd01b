"""MS-COCO test protocols: the 1K five-fold average and the full 5K set.

COCO ``testall`` has 5,000 images and 25,000 captions (5 per image). Papers report it two ways:

* **1K** (:func:`coco_5fold`): fold ``f`` holds images ``[1000 f, 1000 f + 1000)`` and their captions
  ``[5000 f, 5000 f + 5000)``; each fold is evaluated on its own ``1000 × 5000`` block and the metrics
  are averaged over the five folds. The reported rSum is the mean of the per-fold rSums, i.e. the sum
  of the six mean recalls. (The NCR / L2RM reference code prints ``6 ×`` the mean i2t recall instead.)
* **5K** (:func:`coco_5k`): one evaluation over all ``5000 × 25000`` pairs, streamed.

Both accept either an in-memory score matrix ``[n_images, k · n_images]`` (numpy or torch) or a
similarity function ``sim_fn(image_idx, caption_idx) -> [m, w]`` over global indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import ConfigError, DataFormatError
from workbench.evaluate._arrays import check_positive_int, to_numpy
from workbench.evaluate.metrics import RetrievalMetrics
from workbench.evaluate.recall import (
    DEFAULT_CAPTION_CHUNK,
    DEFAULT_IMAGE_CHUNK,
    PairFn,
    ProgressFn,
    SimilarityFn,
    recall_from_scores,
    recall_from_similarity,
)

__all__ = ["COCO_TEST_IMAGES", "FoldedMetrics", "coco_5fold", "coco_5k"]

#: Images in COCO ``testall`` (captions: 5 per image).
COCO_TEST_IMAGES = 5000


@dataclass(frozen=True)
class FoldedMetrics:
    """Metrics averaged over folds, with the folds themselves.

    Attributes:
        mean: :meth:`RetrievalMetrics.average` of ``folds`` (rSum = sum of the mean recalls).
        folds: per-fold metrics, fold 0 first.
    """

    mean: RetrievalMetrics
    folds: tuple[RetrievalMetrics, ...]


def _check_matrix(scores: Any, n_images: int, k: int) -> np.ndarray:
    matrix = to_numpy(scores)
    if matrix.shape != (n_images, k * n_images):
        raise DataFormatError(
            f"scores must have shape [n_images, captions_per_image · n_images] = [{n_images}, {k * n_images}], "
            f"got {matrix.shape}"
        )
    return matrix


def _shifted(fn: Any, row_offset: int, col_offset: int) -> Any:
    """Wrap ``fn(image_idx, caption_idx)`` so that a fold's local indices map to global ones."""
    if fn is None:
        return None

    def local(image_idx: np.ndarray, caption_idx: np.ndarray) -> Any:
        return fn(image_idx + row_offset, caption_idx + col_offset)

    return local


def _offset_progress(progress: ProgressFn | None, before: int, total: int) -> ProgressFn | None:
    """Report a fold's progress as part of the whole run: ``before`` pairs were done by earlier folds."""
    if progress is None:
        return None

    def report(done: int, _fold_total: int) -> None:
        progress(before + done, total)

    return report


def _check_pair_fn(source: Any, pair_fn: PairFn | None) -> None:
    if pair_fn is not None and not callable(source):
        raise ConfigError(
            "pair_fn is only used with a sim_fn source; the score matrix already holds the pairs"
        )


def coco_5fold(
    source: Any,
    *,
    n_images: int = COCO_TEST_IMAGES,
    captions_per_image: int = 5,
    n_folds: int = 5,
    image_chunk: int = DEFAULT_IMAGE_CHUNK,
    caption_chunk: int = DEFAULT_CAPTION_CHUNK,
    pair_fn: PairFn | None = None,
    progress: ProgressFn | None = None,
) -> FoldedMetrics:
    """COCO 1K protocol: evaluate ``n_folds`` disjoint image/caption folds and average them.

    Fold ``f`` (with ``n = n_images / n_folds`` images per fold) is the block of images
    ``[n f, n f + n)`` × captions ``[k n f, k n (f + 1))``; pairs across folds are never scored.

    Args:
        source: scores ``[n_images, k · n_images]`` (numpy/torch) or a :data:`SimilarityFn` over global
            indices.
        n_images: total images (5000 for COCO ``testall``); must be divisible by ``n_folds``.
        captions_per_image: ``k``.
        n_folds: number of folds (5).
        image_chunk, caption_chunk: block sizes of the streaming evaluation.
        pair_fn: optional aligned-pair scorer over global indices (only with a ``sim_fn`` source).
        progress: ``progress(done_pairs, total_pairs)`` over all folds together.

    Returns:
        :class:`FoldedMetrics` with the fold mean and the ``n_folds`` per-fold metrics.

    Raises:
        ConfigError: a size is not a positive integer, or ``pair_fn`` is given with a score matrix.
        DataFormatError: ``n_images`` is not divisible by ``n_folds``, or ``scores`` has the wrong shape.
    """
    n_images = check_positive_int(n_images, "n_images")
    k = check_positive_int(captions_per_image, "captions_per_image")
    n_folds = check_positive_int(n_folds, "n_folds")
    if n_images % n_folds:
        raise DataFormatError(f"n_images = {n_images} is not divisible into n_folds = {n_folds} folds")
    fold_images = n_images // n_folds
    fold_captions = k * fold_images
    fold_total = fold_images * fold_captions + fold_captions
    _check_pair_fn(source, pair_fn)
    matrix = None if callable(source) else _check_matrix(source, n_images, k)

    folds: list[RetrievalMetrics] = []
    for f in range(n_folds):
        r0, c0 = f * fold_images, f * fold_captions
        fold_progress = _offset_progress(progress, f * fold_total, n_folds * fold_total)
        if matrix is not None:
            metrics = recall_from_scores(
                matrix[r0 : r0 + fold_images, c0 : c0 + fold_captions],
                k,
                image_chunk=image_chunk,
                caption_chunk=caption_chunk,
                progress=fold_progress,
            )
        else:
            metrics = recall_from_similarity(
                _shifted(source, r0, c0),
                fold_images,
                fold_captions,
                k,
                image_chunk=image_chunk,
                caption_chunk=caption_chunk,
                pair_fn=_shifted(pair_fn, r0, c0),
                progress=fold_progress,
            )
        folds.append(metrics)
    return FoldedMetrics(mean=RetrievalMetrics.average(folds), folds=tuple(folds))


def coco_5k(
    source: Any,
    *,
    n_images: int = COCO_TEST_IMAGES,
    captions_per_image: int = 5,
    image_chunk: int = DEFAULT_IMAGE_CHUNK,
    caption_chunk: int = DEFAULT_CAPTION_CHUNK,
    pair_fn: PairFn | None = None,
    progress: ProgressFn | None = None,
) -> RetrievalMetrics:
    """COCO 5K protocol: one evaluation over all ``n_images × k · n_images`` pairs.

    ``source`` is a score matrix or a :data:`SimilarityFn`; the latter is streamed in
    ``[image_chunk, caption_chunk]`` blocks, so 5000 × 25000 never sits in memory.

    Raises:
        ConfigError: a size is not a positive integer, or ``pair_fn`` is given with a score matrix.
        DataFormatError: ``scores`` has the wrong shape; ``sim_fn`` returned a wrong shape or NaN.
    """
    n_images = check_positive_int(n_images, "n_images")
    k = check_positive_int(captions_per_image, "captions_per_image")
    _check_pair_fn(source, pair_fn)
    if callable(source):
        sim_fn: SimilarityFn = source
        return recall_from_similarity(
            sim_fn,
            n_images,
            k * n_images,
            k,
            image_chunk=image_chunk,
            caption_chunk=caption_chunk,
            pair_fn=pair_fn,
            progress=progress,
        )
    return recall_from_scores(
        _check_matrix(source, n_images, k),
        k,
        image_chunk=image_chunk,
        caption_chunk=caption_chunk,
        progress=progress,
    )
