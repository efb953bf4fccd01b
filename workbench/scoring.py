"""Scoring trained models on an evaluation split: encode once, then stream image x caption blocks.

:func:`encode_split` runs the encoders over a split in batches (eval mode, no grad). :func:`similarity_fn`
turns one or more encoded models into the ``sim_fn(image_idx, caption_idx) -> scores`` that
:mod:`workbench.evaluate` streams; with several models their values are averaged (NCR/BiCro's two
networks, the -SGRAF ensemble of a SAF and an SGR model). What is averaged is the *combination rule*
(:func:`combination`): the activated score by default, DECL's evidence ``exp(tanh(z) / tau)`` for DECL
(as its paper's DECL-SGRAF does).

:func:`evaluate` is the one evaluation entry point (training, ensembles, ``workbench eval``); it applies
the protocol of the split (COCO's 5000-image test: the mean of five 1K folds — the paper's Tables 1/6/7 —
and the full 5K — Table 8) and one of two modes for the pairwise heads:

* ``exhaustive`` — every pair scored by the head, in memory-bounded blocks;
* ``shortlist`` — candidates from the global (mean-pooled) embeddings, then only the top ``k`` per query
  re-scored by the head. Items outside a query's shortlist are never scored by the head, so the result
  approximates the exhaustive ranking: a ground truth outside the shortlist is a miss (rank >= k), and a
  shortlisted one is ranked among the shortlist only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from workbench.config import TrainConfig
from workbench.data.dataset import EvalSplit
from workbench.errors import ConfigError
from workbench.evaluate import (
    RetrievalMetrics,
    coco_5fold,
    coco_5k,
    metrics_from_ranks,
    recall_from_similarity,
)
from workbench.models import Captions, RetrievalModel

__all__ = [
    "Combine",
    "EncodedSplit",
    "combination",
    "encode_split",
    "similarity_fn",
    "pair_fn",
    "shortlist_ranks",
    "evaluate_split",
    "evaluate",
    "is_coco_test",
]

#: ``combine(model, logits) -> values`` averaged over models (monotone per model, so a single model ranks
#: the same whatever the rule).
Combine = Callable[[RetrievalModel, Tensor], Tensor]


def _activated(model: RetrievalModel, logits: Tensor) -> Tensor:
    return model.activate(logits)


def combination(cfg: TrainConfig) -> Combine:
    """The method's test-time combination rule: DECL averages evidence, the others activated scores."""
    if cfg.method == "decl":
        tau = cfg.decl.tau
        return lambda model, logits: torch.exp(torch.tanh(logits) / tau)
    return _activated


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """One model's encodings of a split: regions ``[N, R, d]`` and captions ``[M, L, d]``."""

    model: RetrievalModel
    regions: Tensor
    captions: Captions


@torch.no_grad()
def encode_split(model: RetrievalModel, split: EvalSplit, device: torch.device, batch: int = 256) -> EncodedSplit:
    """Encode all images and captions of ``split`` with ``model`` in eval mode.

    Captions are encoded in length-bucketed batches (sorted by length, so each batch pads to nearly its
    own length) and put back in split order; each caption's encoding does not depend on its batch.
    """
    model.eval()
    regions = [model.encode_images(split.image_tensor(np.arange(s, min(s + batch, split.n_images))).to(device))
               for s in range(0, split.n_images, batch)]
    n_cap = len(split.captions)
    longest = int(split.captions.lengths.max())
    order = np.argsort(split.captions.lengths, kind="stable")
    words = torch.zeros(n_cap, longest, model.text_encoder.embed_size, device=device)
    lengths = torch.zeros(n_cap, dtype=torch.long, device=device)
    for s in range(0, n_cap, batch):
        index = order[s:s + batch]
        tokens, lens = split.captions.batch(index)
        enc = model.encode_captions(tokens.to(device), lens.to(device))
        where = torch.as_tensor(index, device=device)
        words[where, : enc.words.shape[1]] = enc.words.to(words.dtype)
        lengths[where] = enc.lengths.to(lengths.dtype)
    return EncodedSplit(model, torch.cat(regions), Captions(words, lengths))


def _fold(enc: EncodedSplit, i0: int, i1: int, k: int) -> EncodedSplit:
    """Images ``[i0, i1)`` of an encoded split and their ``k`` captions each."""
    return EncodedSplit(enc.model, enc.regions[i0:i1],
                        Captions(enc.captions.words[k * i0:k * i1], enc.captions.lengths[k * i0:k * i1]))


@torch.no_grad()
def device_ranks(encoded: Sequence[EncodedSplit], captions_per_image: int, combine: Combine = _activated, *,
                 memory_mb: float = 256.0, pair_chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """0-based i2t / t2i ranks of the combined models, every score block kept on the scoring device.

    The ground-truth pairs are scored as aligned pairs, then :func:`workbench.evaluate.device_ranks.ranks_on_device`
    visits blocks of at most ``memory_mb`` (same ranks as the host-side stream of :func:`evaluate_split`).
    """
    from workbench.evaluate.device_ranks import ranks_on_device

    device = encoded[0].regions.device
    n_cap = len(encoded[0].captions)
    k = captions_per_image

    def combined(fn: Callable[[EncodedSplit], Tensor]) -> Tensor:
        total = None
        for enc in encoded:
            values = fn(enc).float()
            total = values if total is None else total + values
        assert total is not None
        return total / len(encoded)

    parts = []
    for s in range(0, n_cap, pair_chunk):
        cap = torch.arange(s, min(s + pair_chunk, n_cap), device=device)
        parts.append(combined(lambda e, cap=cap: combine(e.model, e.model.aligned_logits(
            e.regions[cap // k], e.captions.select(cap)))))
    gt = torch.cat(parts)

    def block(r0: int, r1: int, c0: int, c1: int) -> Tensor:
        return combined(lambda e: combine(e.model, e.model.logits(e.regions[r0:r1], e.captions.select(slice(c0, c1)))))

    ranks = ranks_on_device(block, gt, k, memory_mb=memory_mb)
    return ranks.i2t, ranks.t2i


def similarity_fn(encoded: Sequence[EncodedSplit], combine: Combine = _activated
                  ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``sim_fn(image_idx, caption_idx) -> [len(image_idx), len(caption_idx)]``, averaged over models."""

    @torch.no_grad()
    def sim(image_idx: np.ndarray, caption_idx: np.ndarray) -> np.ndarray:
        img = torch.as_tensor(image_idx, dtype=torch.long)
        cap = torch.as_tensor(caption_idx, dtype=torch.long)
        total = None
        for enc in encoded:
            dev = enc.regions.device
            values = combine(enc.model, enc.model.logits(enc.regions[img.to(dev)], enc.captions.select(cap.to(dev))))
            total = values if total is None else total + values
        assert total is not None
        return (total / len(encoded)).float().cpu().numpy()

    return sim


def pair_fn(encoded: Sequence[EncodedSplit], combine: Combine = _activated, chunk: int = 4096
            ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``pair_fn(image_idx [P], caption_idx [P]) -> values [P]`` of aligned pairs, averaged over models."""

    @torch.no_grad()
    def score(image_idx: np.ndarray, caption_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(image_idx), dtype=np.float32)
        for s in range(0, len(image_idx), chunk):
            img = torch.as_tensor(image_idx[s:s + chunk], dtype=torch.long)
            cap = torch.as_tensor(caption_idx[s:s + chunk], dtype=torch.long)
            total = None
            for enc in encoded:
                dev = enc.regions.device
                logits = enc.model.aligned_logits(enc.regions[img.to(dev)], enc.captions.select(cap.to(dev)))
                values = combine(enc.model, logits)
                total = values if total is None else total + values
            assert total is not None
            out[s:s + chunk] = (total / len(encoded)).float().cpu().numpy()
        return out

    return score


def _global_scores(encoded: Sequence[EncodedSplit]) -> Tensor:
    """Mean-pooled cosine scores ``[N, M]`` (the shortlist stage), averaged over models."""
    total = None
    for enc in encoded:
        img, txt = enc.model.global_embeddings(enc.regions, enc.captions)
        s = img @ txt.T
        total = s if total is None else total + s
    assert total is not None
    return total / len(encoded)


def _rerank(fine: np.ndarray, is_gt: np.ndarray, coarse: Tensor, gt_rows: Callable[[int], np.ndarray]) -> np.ndarray:
    """Ranks from re-scored shortlists ``fine [Q, k]`` whose ground-truth entries are ``is_gt [Q, k]``."""
    k = fine.shape[1]
    out = np.empty(fine.shape[0], dtype=np.int64)
    for q in range(fine.shape[0]):
        if is_gt[q].any():  # rank among the shortlist, ties against the query
            out[q] = int(np.sum(fine[q, ~is_gt[q]] >= fine[q, is_gt[q]].max()))
        else:  # a miss: beyond the shortlist, ordered by the coarse score
            best = coarse[q, torch.as_tensor(gt_rows(q))].max()
            out[q] = k + int((coarse[q] > best).sum())
    return out


@torch.no_grad()
def shortlist_ranks(encoded: Sequence[EncodedSplit], captions_per_image: int, k: int,
                    combine: Combine = _activated, candidates: Sequence[EncodedSplit] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """0-based i2t and t2i ranks when only each query's top-``k`` global candidates are re-scored.

    Candidates come from the mean-pooled cosine of ``candidates`` (default: the scored models themselves);
    the head scores only those ``k`` pairs per query (batched as aligned pairs). A ground truth outside the
    shortlist gets rank ``k`` plus the number of items above it in the coarse ranking (always >= k, so it
    never counts for R@K with K <= k). A SAF/SGR model never trains its mean-pooled embeddings to align,
    so its own shortlist misses most ground truths; a VSE model of the same data is the usual source.
    """
    coarse = _global_scores(candidates or encoded)  # [N, M]
    n_img, n_cap = coarse.shape
    score = pair_fn(encoded, combine)
    gt_image = np.arange(n_cap) // captions_per_image
    # image -> text
    k_c = min(k, n_cap)
    cand = coarse.topk(k_c, dim=1).indices.numpy()  # [N, k]
    fine = score(np.repeat(np.arange(n_img), k_c), cand.reshape(-1)).reshape(n_img, k_c)
    is_gt = gt_image[cand] == np.arange(n_img)[:, None]
    i2t = _rerank(fine, is_gt, coarse,
                  lambda i: np.arange(i * captions_per_image, (i + 1) * captions_per_image))
    # text -> image
    k_i = min(k, n_img)
    cand_t = coarse.T.topk(k_i, dim=1).indices.numpy()  # [M, k]
    fine_t = score(cand_t.reshape(-1), np.repeat(np.arange(n_cap), k_i)).reshape(n_cap, k_i)
    is_gt_t = cand_t == gt_image[:, None]
    t2i = _rerank(fine_t, is_gt_t, coarse.T, lambda c: np.array([gt_image[c]]))
    return i2t, t2i


def evaluate_split(models: Sequence[RetrievalModel], split: EvalSplit, device: torch.device, *,
                   mode: str = "exhaustive", shortlist_k: int = 50, image_chunk: int = 128,
                   caption_chunk: int = 640, coco: bool = False, combine: Combine = _activated,
                   shortlist_models: Sequence[RetrievalModel] = (), on_device: bool = False,
                   memory_mb: float = 256.0) -> dict[str, RetrievalMetrics]:
    """Metrics of the combined models on ``split``: ``{"all": ...}``, plus ``"5fold"`` / ``"5k"`` for COCO.

    ``on_device`` (exhaustive): ranks are counted on the scoring device in blocks of at most ``memory_mb``
    (:func:`device_ranks`; COCO: the 5K matrix and each 1K fold); otherwise ``image_chunk x caption_chunk``
    blocks are streamed to the host. Both give the same ranks.

    ``shortlist_models`` (shortlist mode): the models whose global embeddings pick the candidates, e.g. a
    VSE run on the same data; by default the evaluated models' own mean-pooled embeddings.

    With ``coco=True`` the split must hold 5000 images: ``"all"`` and ``"5fold"`` are then the mean over
    five 1K folds (the paper's main COCO protocol) and ``"5k"`` the full 5K test.
    """
    if mode not in ("exhaustive", "shortlist"):
        raise ConfigError(f"evaluation mode must be 'exhaustive' or 'shortlist', got {mode!r}")
    if mode == "shortlist" and coco:
        raise ConfigError("the shortlist mode does not implement COCO's 5-fold protocol; use eval.mode=exhaustive")
    encoded = [encode_split(m, split, device) for m in models]
    k = split.captions_per_image
    n_img, n_cap = split.n_images, len(split.captions)
    if mode == "shortlist":
        candidates = [encode_split(m, split, device) for m in shortlist_models] or None
        i2t, t2i = shortlist_ranks(encoded, k, shortlist_k, combine, candidates)
        return {"all": metrics_from_ranks(i2t, t2i)}
    if on_device:
        full = metrics_from_ranks(*device_ranks(encoded, k, combine, memory_mb=memory_mb))
        if not coco:
            return {"all": full}
        if n_img % 5:
            raise ConfigError(f"COCO's 5-fold protocol needs a multiple of 5 images, got {n_img}")
        size = n_img // 5
        folds = [metrics_from_ranks(*device_ranks([_fold(e, f * size, (f + 1) * size, k) for e in encoded], k,
                                                  combine, memory_mb=memory_mb)) for f in range(5)]
        mean = RetrievalMetrics.average(folds)
        return {"all": mean, "5fold": mean, "5k": full}
    sim, pairs = similarity_fn(encoded, combine), pair_fn(encoded, combine)
    if coco:
        folds = coco_5fold(sim, n_images=n_img, captions_per_image=k, image_chunk=image_chunk,
                           caption_chunk=caption_chunk, pair_fn=pairs)
        full = coco_5k(sim, n_images=n_img, captions_per_image=k, image_chunk=image_chunk,
                       caption_chunk=caption_chunk, pair_fn=pairs)
        return {"all": folds.mean, "5fold": folds.mean, "5k": full}
    return {"all": recall_from_similarity(sim, n_img, n_cap, k, image_chunk=image_chunk,
                                          caption_chunk=caption_chunk, pair_fn=pairs)}


def is_coco_test(cfg: TrainConfig, split: EvalSplit, split_name: str) -> bool:
    """Whether ``split`` is COCO's 5000-image test, evaluated as five 1K folds and as 5K."""
    return (split_name == "test" and cfg.data.dataset == "coco" and split.n_images == 5000
            and cfg.eval.coco_5fold)


def evaluate(models: Sequence[RetrievalModel], split: EvalSplit, split_name: str, cfg: TrainConfig,
             device: torch.device, *, mode: str | None = None, shortlist_k: int | None = None,
             shortlist_models: Sequence[RetrievalModel] = ()) -> dict[str, RetrievalMetrics]:
    """Evaluate a method's (or an ensemble's) models on a split with the config's protocol and rule."""
    return evaluate_split(models, split, device, mode=mode or cfg.eval.mode,
                          shortlist_k=shortlist_k or cfg.eval.shortlist_k, image_chunk=cfg.eval.image_chunk,
                          caption_chunk=cfg.eval.caption_chunk, coco=is_coco_test(cfg, split, split_name),
                          combine=combination(cfg), shortlist_models=shortlist_models,
                          on_device=cfg.eval.on_device == "on" or (cfg.eval.on_device == "auto" and device.type == "cuda"),
                          memory_mb=cfg.eval.memory_mb)
