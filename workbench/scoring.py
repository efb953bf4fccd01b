"""Scoring trained models on an evaluation split: encode once, then stream image x caption blocks.

:func:`encode_split` runs the encoders over a split in batches (eval mode, no grad). :func:`similarity_fn`
turns one or more encoded models into the ``sim_fn(image_idx, caption_idx) -> scores`` that
:mod:`workbench.evaluate` streams; with several models the scores are averaged (NCR/BiCro's two networks,
the SGRAF ensemble of a SAF and an SGR model). :func:`evaluate_split` ties it together and implements the two
evaluation modes of the pairwise heads:

* ``exhaustive`` — every pair scored by the head, in memory-bounded blocks;
* ``shortlist`` — candidates from the global (mean-pooled) embeddings, then only the top ``k`` per query
  re-ranked by the head. A query whose ground truth is not in its shortlist counts as a miss beyond rank k,
  so R@K (K <= k) is exact whenever the ground truth is shortlisted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from workbench.data.dataset import EvalSplit
from workbench.evaluate import RetrievalMetrics, coco_5fold, coco_5k, metrics_from_ranks, recall_from_similarity
from workbench.models import Captions, RetrievalModel

__all__ = ["EncodedSplit", "encode_split", "similarity_fn", "pair_fn", "evaluate_split", "shortlist_ranks"]


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """One model's encodings of a split: regions ``[N, R, d]`` and captions ``[M, L, d]``."""

    model: RetrievalModel
    regions: Tensor
    captions: Captions


@torch.no_grad()
def encode_split(model: RetrievalModel, split: EvalSplit, device: torch.device, batch: int = 256) -> EncodedSplit:
    """Encode all images and captions of ``split`` with ``model`` in eval mode."""
    model.eval()
    regions = [model.encode_images(split.image_tensor(np.arange(s, min(s + batch, split.n_images))).to(device))
               for s in range(0, split.n_images, batch)]
    n_cap = len(split.captions)
    longest = int(split.captions.lengths.max())
    words = []
    lengths = []
    for s in range(0, n_cap, batch):
        tokens, lens = split.captions.batch(np.arange(s, min(s + batch, n_cap)))
        enc = model.encode_captions(tokens.to(device), lens.to(device))
        pad = longest - enc.words.shape[1]
        words.append(torch.nn.functional.pad(enc.words, (0, 0, 0, pad)))
        lengths.append(enc.lengths)
    return EncodedSplit(model, torch.cat(regions), Captions(torch.cat(words), torch.cat(lengths)))


def similarity_fn(encoded: Sequence[EncodedSplit]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``sim_fn(image_idx, caption_idx) -> [len(image_idx), len(caption_idx)]``, averaged over models."""

    @torch.no_grad()
    def sim(image_idx: np.ndarray, caption_idx: np.ndarray) -> np.ndarray:
        img = torch.as_tensor(image_idx, dtype=torch.long)
        cap = torch.as_tensor(caption_idx, dtype=torch.long)
        total = None
        for enc in encoded:
            scores = enc.model.scores(enc.regions[img.to(enc.regions.device)],
                                      enc.captions.select(cap.to(enc.regions.device)))
            total = scores if total is None else total + scores
        assert total is not None
        return (total / len(encoded)).float().cpu().numpy()

    return sim


def _global_scores(encoded: Sequence[EncodedSplit]) -> Tensor:
    """Mean-pooled cosine scores ``[N, M]`` (the shortlist stage), averaged over models."""
    total = None
    for enc in encoded:
        img, txt = enc.model.global_embeddings(enc.regions, enc.captions)
        s = img @ txt.T
        total = s if total is None else total + s
    assert total is not None
    return total / len(encoded)


def pair_fn(encoded: Sequence[EncodedSplit], chunk: int = 4096) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``pair_fn(image_idx [P], caption_idx [P]) -> scores [P]`` of aligned pairs, averaged over models."""

    @torch.no_grad()
    def score(image_idx: np.ndarray, caption_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(image_idx), dtype=np.float32)
        for s in range(0, len(image_idx), chunk):
            img = torch.as_tensor(image_idx[s:s + chunk], dtype=torch.long)
            cap = torch.as_tensor(caption_idx[s:s + chunk], dtype=torch.long)
            total = None
            for enc in encoded:
                dev = enc.regions.device
                v = enc.model.aligned_scores(enc.regions[img.to(dev)], enc.captions.select(cap.to(dev)))
                total = v if total is None else total + v
            assert total is not None
            out[s:s + chunk] = (total / len(encoded)).float().cpu().numpy()
        return out

    return score


def _rerank(fine: np.ndarray, is_gt: np.ndarray, coarse: Tensor, gt_mask_rows: Callable[[int], np.ndarray]) -> np.ndarray:
    """Ranks from re-scored shortlists ``fine [Q, k]`` whose ground-truth entries are ``is_gt [Q, k]``."""
    k = fine.shape[1]
    out = np.empty(fine.shape[0], dtype=np.int64)
    for q in range(fine.shape[0]):
        if is_gt[q].any():  # rank among the shortlist, ties against the query
            out[q] = int(np.sum(fine[q, ~is_gt[q]] >= fine[q, is_gt[q]].max()))
        else:  # a miss: beyond the shortlist, ordered by the coarse score
            best = coarse[q, torch.as_tensor(gt_mask_rows(q))].max()
            out[q] = k + int((coarse[q] > best).sum())
    return out


@torch.no_grad()
def shortlist_ranks(encoded: Sequence[EncodedSplit], captions_per_image: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """0-based i2t and t2i ranks when only each query's top-``k`` global candidates are re-scored.

    Candidates come from the mean-pooled cosine; the head scores only those ``k`` pairs per query (batched
    as aligned pairs). A ground truth outside the shortlist gets rank ``k`` plus the number of items above
    it in the coarse ranking (always >= k, so it never counts for R@K with K <= k).
    """
    coarse = _global_scores(encoded)  # [N, M]
    n_img, n_cap = coarse.shape
    score = pair_fn(encoded)
    gt_image = np.arange(n_cap) // captions_per_image
    # image -> text
    k_c = min(k, n_cap)
    cand = coarse.topk(k_c, dim=1).indices.numpy()  # [N, k]
    fine = score(np.repeat(np.arange(n_img), k_c), cand.reshape(-1)).reshape(n_img, k_c)
    is_gt = gt_image[cand] == np.arange(n_img)[:, None]
    own = lambda i: np.arange(i * captions_per_image, (i + 1) * captions_per_image)  # noqa: E731
    i2t = _rerank(fine, is_gt, coarse, own)
    # text -> image
    k_i = min(k, n_img)
    cand_t = coarse.T.topk(k_i, dim=1).indices.numpy()  # [M, k]
    fine_t = score(cand_t.reshape(-1), np.repeat(np.arange(n_cap), k_i)).reshape(n_cap, k_i)
    is_gt_t = cand_t == gt_image[:, None]
    t2i = _rerank(fine_t, is_gt_t, coarse.T, lambda c: np.array([gt_image[c]]))
    return i2t, t2i


def evaluate_split(models: Sequence[RetrievalModel], split: EvalSplit, device: torch.device, *,
                   mode: str = "exhaustive", shortlist_k: int = 50, image_chunk: int = 128,
                   caption_chunk: int = 640, coco: bool = False) -> dict[str, RetrievalMetrics]:
    """Metrics of the (averaged) models on ``split``: ``{"all": ...}`` plus ``"5fold"`` / ``"5k"`` for COCO.

    With ``coco=True`` the split must hold 5000 images: ``"all"`` is then the 5K protocol and ``"5fold"`` the
    mean over five 1K folds.
    """
    encoded = [encode_split(m, split, device) for m in models]
    k = split.captions_per_image
    n_img, n_cap = split.n_images, len(split.captions)
    if mode == "shortlist":
        i2t, t2i = shortlist_ranks(encoded, k, shortlist_k)
        return {"all": metrics_from_ranks(i2t, t2i)}
    if mode != "exhaustive":
        raise ValueError(f"evaluation mode must be 'exhaustive' or 'shortlist', got {mode!r}")
    sim = similarity_fn(encoded)
    if coco:
        pairs = pair_fn(encoded)
        folds = coco_5fold(sim, n_images=n_img, captions_per_image=k, image_chunk=image_chunk,
                           caption_chunk=caption_chunk, pair_fn=pairs)
        full = coco_5k(sim, n_images=n_img, captions_per_image=k, image_chunk=image_chunk,
                       caption_chunk=caption_chunk, pair_fn=pairs)
        return {"all": full, "5fold": folds.mean, "5k": full}
    return {"all": recall_from_similarity(sim, n_img, n_cap, k, image_chunk=image_chunk,
                                          caption_chunk=caption_chunk, pair_fn=pair_fn(encoded))}
