"""Brute-force oracles for the evaluation tests, written independently of the library's counting code.

They are exposed as fixtures because ``--import-mode=importlib`` does not put this directory on
``sys.path``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

RankOracle = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def _argsort_ranks(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The SCAN/NCR recipe: full descending sorts; i2t = best position of any GT caption."""
    n_img, n_cap = scores.shape
    i2t = np.empty(n_img, dtype=np.int64)
    for i in range(n_img):
        order = list(np.argsort(-scores[i], kind="stable"))
        i2t[i] = min(order.index(c) for c in range(k * i, k * i + k))
    t2i = np.empty(n_cap, dtype=np.int64)
    for c in range(n_cap):
        order = list(np.argsort(-scores[:, c], kind="stable"))
        t2i[c] = order.index(c // k)
    return i2t, t2i


def _pessimistic_sort_ranks(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort with ties broken against the query: on equal score, non-ground-truth items come first."""
    n_img, n_cap = scores.shape
    i2t = np.empty(n_img, dtype=np.int64)
    for i in range(n_img):
        gts = set(range(k * i, k * i + k))
        order = sorted(range(n_cap), key=lambda c: (-scores[i, c], c in gts))
        i2t[i] = next(pos for pos, c in enumerate(order) if c in gts)
    t2i = np.empty(n_cap, dtype=np.int64)
    for c in range(n_cap):
        owner = c // k
        order = sorted(range(n_img), key=lambda j: (-scores[j, c], j == owner))
        t2i[c] = order.index(owner)
    return i2t, t2i


def _metrics_from_ranks(i2t: np.ndarray, t2i: np.ndarray) -> dict[str, float]:
    """R@K / medr / meanr by their textbook definitions, with 1-based ranks."""
    out: dict[str, float] = {}
    for name, ranks in (("i2t", i2t + 1), ("t2i", t2i + 1)):
        for k in (1, 5, 10):
            out[f"{name}_r{k}"] = 100.0 * sum(1 for r in ranks if r <= k) / len(ranks)
        ordered = sorted(ranks)
        n = len(ordered)
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        out[f"{name}_medr"] = float(int(median))  # the reference floors the 0-based median
        out[f"{name}_meanr"] = sum(ranks) / n
    out["rsum"] = sum(out[f"{m}_r{k}"] for m in ("i2t", "t2i") for k in (1, 5, 10))
    return out


def _brute_average_precision(sim: np.ndarray, relevant: np.ndarray, depth: int | None) -> float:
    """AP of one query from a sort with ties broken non-relevant first, walked item by item."""
    order = sorted(range(len(sim)), key=lambda j: (-sim[j], bool(relevant[j])))
    if depth is not None:
        order = order[:depth]
    hits, precision_sum = 0, 0.0
    for position, j in enumerate(order, start=1):
        if relevant[j]:
            hits += 1
            precision_sum += hits / position
    return precision_sum / hits if hits else 0.0


@pytest.fixture
def argsort_ranks() -> RankOracle:
    return _argsort_ranks


@pytest.fixture
def pessimistic_sort_ranks() -> RankOracle:
    return _pessimistic_sort_ranks


@pytest.fixture
def oracle_metrics() -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    return _metrics_from_ranks


@pytest.fixture
def brute_average_precision() -> Callable[[np.ndarray, np.ndarray, int | None], float]:
    return _brute_average_precision
