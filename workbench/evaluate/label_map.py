"""Label-based mean average precision (MAP) for the noisy-label track (UOT-RCL, MRL protocol).

A query retrieves the whole gallery of the other modality, sorted by similarity (descending); a
gallery item is **relevant** iff it carries the query's class label. For the top ``K`` retrieved items
(``K`` = gallery size for MAP@all, the protocol of MRL and UOT-RCL), with ``rel_j ∈ {0, 1}`` the
relevance of the item at 1-based position ``j`` and ``P@j = (1/j) Σ_{i ≤ j} rel_i``:

    AP = Σ_{j ≤ K} rel_j · P@j / Σ_{j ≤ K} rel_j          (AP = 0 if nothing relevant is retrieved)

and MAP is the mean AP over queries. This matches MRL's ``fx_calc_map_label``, which divides by the
number of relevant items *retrieved* (not by all relevant items in the gallery); the two agree for
MAP@all.

Ties: gallery items with equal similarity are ordered **non-relevant first**, so ties count against
the query exactly as in :mod:`workbench.evaluate.recall`. The result is deterministic and a collapsed
embedding (all similarities equal) scores the minimum AP instead of whatever a sort's tie order gives;
with a class-sorted gallery a stable sort would otherwise reward it with AP 1. MRL breaks ties by
numpy's default (unstable) argsort; with continuous embeddings the two coincide.

Similarity: ``"cosine"`` (MRL uses ``1 − scipy cdist(·, ·, "cosine")``; zero vectors get similarity
0 with everything) or ``"inner"`` (raw dot product).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.errors import ConfigError, DataFormatError
from workbench.evaluate._arrays import check_finite, check_positive_int, to_numpy

__all__ = ["METRICS", "average_precisions", "cross_modal_map", "mean_average_precision"]

#: Supported similarity names.
METRICS: tuple[str, ...] = ("cosine", "inner")

# Queries per chunk: bounds the [chunk, n_gallery] similarity and sort buffers.
_DEFAULT_QUERY_CHUNK = 512


def _embeddings(x: Any, name: str) -> np.ndarray:
    array = to_numpy(x)
    if array.ndim != 2 or array.shape[0] == 0:
        raise DataFormatError(f"{name} must be a non-empty 2-D [n, d] array, got shape {array.shape}")
    array = array.astype(np.float64, copy=False)
    check_finite(array, name)
    return array


def _labels(y: Any, n: int, name: str) -> np.ndarray:
    labels = to_numpy(y)
    if labels.shape != (n,):
        raise DataFormatError(f"{name} must have shape [{n}] (one label per row), got {labels.shape}")
    return labels


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # A zero row stays zero (similarity 0 with everything) instead of becoming NaN.
    return x / np.where(norms > 0, norms, 1.0)


def average_precisions(
    queries: Any,
    gallery: Any,
    query_labels: Any,
    gallery_labels: Any,
    *,
    metric: str = "cosine",
    k: int | None = None,
    query_chunk: int = _DEFAULT_QUERY_CHUNK,
) -> np.ndarray:
    """AP of every query (see the module docstring for the formula and tie rule).

    Args:
        queries: ``[n_q, d]`` query embeddings (numpy or torch).
        gallery: ``[n_g, d]`` gallery embeddings.
        query_labels: ``[n_q]`` class labels (any dtype comparable with ``==``).
        gallery_labels: ``[n_g]`` class labels.
        metric: ``"cosine"`` or ``"inner"``.
        k: evaluate the top ``k`` retrieved items (MAP@k); ``None`` means all (MAP@all). A ``k`` larger
            than the gallery is the whole gallery.
        query_chunk: queries per chunk; memory is ``O(query_chunk · n_g)``.

    Returns:
        ``[n_q]`` float64 APs in [0, 1].

    Raises:
        ConfigError: unknown ``metric``; ``k`` or ``query_chunk`` not a positive integer.
        DataFormatError: wrong shapes, mismatched dimensions ``d``, or NaN embeddings.
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
    query_chunk = check_positive_int(query_chunk, "query_chunk")
    q = _embeddings(queries, "queries")
    g = _embeddings(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise DataFormatError(f"queries have dimension {q.shape[1]} but gallery has {g.shape[1]}")
    q_labels = _labels(query_labels, q.shape[0], "query_labels")
    g_labels = _labels(gallery_labels, g.shape[0], "gallery_labels")
    depth = g.shape[0] if k is None else min(check_positive_int(k, "k"), g.shape[0])
    if metric == "cosine":
        q, g = _unit_rows(q), _unit_rows(g)

    positions = np.arange(1, depth + 1, dtype=np.float64)  # [depth] 1-based ranks
    aps = np.empty(q.shape[0], dtype=np.float64)
    for s0 in range(0, q.shape[0], query_chunk):
        s1 = min(s0 + query_chunk, q.shape[0])
        sim = q[s0:s1] @ g.T  # [b, n_g]
        relevant = q_labels[s0:s1, None] == g_labels[None, :]  # [b, n_g]
        # Last key is primary: descending similarity, then non-relevant (False) before relevant.
        order = np.lexsort((relevant, -sim), axis=1)[:, :depth]
        hits = np.take_along_axis(relevant, order, axis=1)  # [b, depth] relevance by position
        found = np.cumsum(hits, axis=1)  # [b, depth] relevant items within the top j
        precision_sum = np.where(hits, found / positions, 0.0).sum(axis=1)
        n_found = found[:, -1]
        aps[s0:s1] = np.where(n_found > 0, precision_sum / np.maximum(n_found, 1), 0.0)
    return aps


def mean_average_precision(
    queries: Any,
    gallery: Any,
    query_labels: Any,
    gallery_labels: Any,
    *,
    metric: str = "cosine",
    k: int | None = None,
    query_chunk: int = _DEFAULT_QUERY_CHUNK,
) -> float:
    """MAP@k (MAP@all when ``k`` is None): the mean of :func:`average_precisions`, in [0, 1]."""
    aps = average_precisions(
        queries, gallery, query_labels, gallery_labels, metric=metric, k=k, query_chunk=query_chunk
    )
    return float(aps.mean())


def cross_modal_map(
    image_emb: Any,
    text_emb: Any,
    image_labels: Any,
    text_labels: Any,
    *,
    metric: str = "cosine",
    k: int | None = None,
) -> dict[str, float]:
    """Image→text and text→image MAP on a labelled test set, and their average.

    Args:
        image_emb: ``[n_i, d]`` image embeddings in the common space.
        text_emb: ``[n_t, d]`` text embeddings.
        image_labels: ``[n_i]`` clean class labels of the images.
        text_labels: ``[n_t]`` clean class labels of the texts.
        metric: ``"cosine"`` (the protocol) or ``"inner"``.
        k: MAP@k cut-off; ``None`` for MAP@all.

    Returns:
        ``{"i2t": MAP(images → texts), "t2i": MAP(texts → images), "avg": their mean}``, each in [0, 1].
    """
    i2t = mean_average_precision(image_emb, text_emb, image_labels, text_labels, metric=metric, k=k)
    t2i = mean_average_precision(text_emb, image_emb, text_labels, image_labels, metric=metric, k=k)
    return {"i2t": i2t, "t2i": t2i, "avg": (i2t + t2i) / 2.0}
