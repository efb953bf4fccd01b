"""Retrieval evaluation: R@K / rSum for image–text matching, COCO 1K/5K protocols, label MAP.

Pure numpy (torch tensors are accepted and converted; torch is never imported here).

* :mod:`~workbench.evaluate.metrics` — :class:`RetrievalMetrics` and ranks → R@{1,5,10}, medr, meanr, rSum.
* :mod:`~workbench.evaluate.recall` — ranks from a score matrix or streamed from a similarity function,
  ties counted against the query.
* :mod:`~workbench.evaluate.coco` — COCO 1K five-fold mean (with a correct rSum) and 5K.
* :mod:`~workbench.evaluate.label_map` — label-based MAP@all / MAP@k for the noisy-label track.
"""

from __future__ import annotations

from workbench.evaluate.coco import COCO_TEST_IMAGES, FoldedMetrics, coco_5fold, coco_5k
from workbench.evaluate.label_map import average_precisions, cross_modal_map, mean_average_precision
from workbench.evaluate.metrics import RECALL_KS, RetrievalMetrics, RetrievalRanks, metrics_from_ranks
from workbench.evaluate.recall import (
    PairFn,
    ProgressFn,
    SimilarityFn,
    ranks_from_scores,
    ranks_from_similarity,
    recall_from_scores,
    recall_from_similarity,
)

__all__ = [
    "COCO_TEST_IMAGES",
    "RECALL_KS",
    "FoldedMetrics",
    "PairFn",
    "ProgressFn",
    "RetrievalMetrics",
    "RetrievalRanks",
    "SimilarityFn",
    "average_precisions",
    "coco_5fold",
    "coco_5k",
    "cross_modal_map",
    "mean_average_precision",
    "metrics_from_ranks",
    "ranks_from_scores",
    "ranks_from_similarity",
    "recall_from_scores",
    "recall_from_similarity",
]
