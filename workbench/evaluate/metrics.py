"""Recall metrics of image–text retrieval: per-query ranks in, R@K / medr / meanr / rSum out.

Conventions (those of every SCAN-derived ``evaluation.py``: VSE++, SCAN, SGRAF, NCR, L2RM):

* ranks are **0-based**: rank 0 means the ground truth is retrieved first;
* ``R@K = 100 · |{q : rank_q < K}| / n_queries`` for K in {1, 5, 10};
* ``medr = floor(median(rank)) + 1`` and ``meanr = mean(rank) + 1`` are 1-based;
* ``rSum`` is the sum of the six R@K values (i2t and t2i), so it lies in [0, 600].
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import DataFormatError

__all__ = ["RECALL_KS", "RetrievalMetrics", "RetrievalRanks", "metrics_from_ranks"]

#: The cut-offs K of the reported recalls R@K.
RECALL_KS: tuple[int, int, int] = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalMetrics:
    """Image-to-text (i2t) and text-to-image (t2i) retrieval metrics of one test set.

    Attributes:
        i2t_r1, i2t_r5, i2t_r10: percentage of images whose best-ranked ground-truth caption is in the
            top 1 / 5 / 10 captions.
        t2i_r1, t2i_r5, t2i_r10: percentage of captions whose image is in the top 1 / 5 / 10 images.
        rsum: sum of the six recalls, in [0, 600].
        i2t_medr, i2t_meanr, t2i_medr, t2i_meanr: median and mean 1-based rank.
    """

    i2t_r1: float
    i2t_r5: float
    i2t_r10: float
    t2i_r1: float
    t2i_r5: float
    t2i_r10: float
    rsum: float
    i2t_medr: float
    i2t_meanr: float
    t2i_medr: float
    t2i_meanr: float

    def as_dict(self) -> dict[str, float]:
        """Return the metrics as a plain ``{field: value}`` dict (field order preserved)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RetrievalMetrics:
        """Rebuild metrics from :meth:`as_dict` output (e.g. a run's ``results.json``).

        Raises:
            DataFormatError: a field is missing or not a finite number. Extra keys are ignored.
        """
        parsed: dict[str, float] = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                raise DataFormatError(f"retrieval metrics: missing field {field.name!r}")
            value = values[field.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DataFormatError(
                    f"retrieval metrics: field {field.name!r} must be a finite number, got {value!r}"
                )
            parsed[field.name] = float(value)
        return cls(**parsed)

    @classmethod
    def average(cls, items: Sequence[RetrievalMetrics]) -> RetrievalMetrics:
        """Field-wise mean of several metric sets, e.g. the five COCO 1K folds.

        ``rsum`` is the mean of the per-fold rSums, which equals the sum of the six mean recalls
        (the mean is linear). The reference code (NCR ``evaluation.py``, copied by L2RM) instead prints
        ``6 ×`` the mean *i2t* recall as the five-fold rSum; that number is not reproduced here. Mean
        medr / meanr are means of the per-fold values, as in the reference code.

        Raises:
            DataFormatError: ``items`` is empty.
        """
        if len(items) == 0:
            raise DataFormatError("cannot average an empty sequence of RetrievalMetrics")
        names = [field.name for field in dataclasses.fields(cls)]
        table = np.array([[getattr(item, name) for name in names] for item in items], dtype=np.float64)
        return cls(**{name: float(value) for name, value in zip(names, table.mean(axis=0), strict=True)})


@dataclass(frozen=True, eq=False)
class RetrievalRanks:
    """Per-query 0-based ranks of the ground truth.

    Attributes:
        i2t: ``[n_images]`` int64; for image ``i``, the number of non-ground-truth captions ranked above
            its best ground-truth caption.
        t2i: ``[n_captions]`` int64; for caption ``c``, the number of other images ranked above image
            ``c // captions_per_image``.
    """

    i2t: np.ndarray
    t2i: np.ndarray

    def metrics(self) -> RetrievalMetrics:
        """Summarise the ranks as :class:`RetrievalMetrics`."""
        return metrics_from_ranks(self.i2t, self.t2i)


def _recall(ranks: np.ndarray, k: int) -> float:
    return float(100.0 * np.count_nonzero(ranks < k) / ranks.size)


def metrics_from_ranks(i2t_ranks: np.ndarray, t2i_ranks: np.ndarray) -> RetrievalMetrics:
    """Compute R@{1,5,10}, rSum, medr and meanr from 0-based ranks.

    Args:
        i2t_ranks: ``[n_images]`` 0-based rank of each image query's ground truth.
        t2i_ranks: ``[n_captions]`` 0-based rank of each caption query's ground truth.

    Raises:
        DataFormatError: either array is empty, not 1-D, or holds a negative rank.
    """
    arrays = {"i2t_ranks": np.asarray(i2t_ranks), "t2i_ranks": np.asarray(t2i_ranks)}
    for name, ranks in arrays.items():
        if ranks.ndim != 1 or ranks.size == 0:
            raise DataFormatError(f"{name} must be a non-empty 1-D array, got shape {ranks.shape}")
        if ranks.min() < 0:
            raise DataFormatError(f"{name} holds a negative rank ({ranks.min()}); ranks are 0-based")
    i2t, t2i = arrays["i2t_ranks"], arrays["t2i_ranks"]
    i2t_r = [_recall(i2t, k) for k in RECALL_KS]
    t2i_r = [_recall(t2i, k) for k in RECALL_KS]
    return RetrievalMetrics(
        i2t_r1=i2t_r[0],
        i2t_r5=i2t_r[1],
        i2t_r10=i2t_r[2],
        t2i_r1=t2i_r[0],
        t2i_r5=t2i_r[1],
        t2i_r10=t2i_r[2],
        rsum=float(sum(i2t_r) + sum(t2i_r)),
        i2t_medr=float(np.floor(np.median(i2t))) + 1.0,
        i2t_meanr=float(i2t.mean()) + 1.0,
        t2i_medr=float(np.floor(np.median(t2i))) + 1.0,
        t2i_meanr=float(t2i.mean()) + 1.0,
    )
