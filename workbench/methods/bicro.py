"""BiCro: bidirectional cross-modal similarity consistency (Yang et al., CVPR 2023), on the shared backbone.

NCR's co-teaching skeleton (:mod:`workbench.methods.coteaching`) with three changes:

* **warm-up** on the ``warmup_rate`` (30 %) smallest per-pair mean-hinge losses of each batch, summed;
* **division** by a two-component *beta* mixture on the min-max normalised per-pair mean hinge, clipped to
  ``[1e-4, 1 - 1e-4]``; the clean posterior is only used for the split, never in the labels;
* **soft labels from anchors**, computed by the *peer* network (eval mode, no gradients) for each labeled
  batch: the ``B // 10 + 1`` pairs with the highest NCR confidence are the *anchors* (label 1). Every pair x
  picks its nearest anchor in image space, ``a* = argmax_a cos(v_x, v_a)``, and compares that similarity with
  the text-side one, ``r_i2t = min(c/d, d/c)`` with ``c = cos(v_x, v_a*)``, ``d = cos(t_x, t_a*)``; ``r_t2i``
  picks the anchor in text space. A pair whose two modalities sit alike relative to clean anchors is
  probably matched. Labeled label ``y = 1/2 + (r_i2t + r_t2i) / 4``, unlabeled (second half of the main
  epochs) ``y = (r_i2t + r_t2i) / 2``; labels ``<= label_threshold`` are zeroed (``noise_soft``). The
  embeddings are the backbone's mean-pooled *global* embeddings (:meth:`RetrievalModel.global_embeddings`),
  not the self-attention globals.

The loss is NCR's exponential soft-margin hardest-negative hinge; when the unlabeled batch is used its step
comes before the labeled step (the official order), each its own optimiser step.

Options named after the official code:

* ``bicro.margin_broadcast="code"`` — the code's 1-D labels broadcast over columns, so the caption-retrieval
  (row) term of pair i uses the *negative* caption j's margin;
* ``bicro.label_scatter="code"`` — the code writes the labels of the non-anchor pairs with ``scatter_``
  using the labels in batch order rather than each pair's own: non-anchor ``rest[k]`` receives the label
  computed for the k-th pair of the batch (``rest`` = non-anchors by ascending confidence);
* ``bicro.mixture="code"`` — the code's ``BetaMixture1D``: start at ``alpha = (1, 2)``, ``beta = (2, 1)``,
  equal weights, exactly 10 EM iterations, component 0 taken as clean without checking its mean. The default
  is :func:`workbench.mixture.fit_beta_mixture` (k-means start, EM to convergence, low-mean component).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torch.nn import functional as F

from workbench.data.dataset import Batch
from workbench.losses import per_sample_hinge, triplet_loss
from workbench.losses_robust import soft_margin
from workbench.methods.base import EpochContext
from workbench.methods.coteaching import CoTeaching, Division, hinge_confidence
from workbench.mixture import clean_probability, fit_beta_mixture, normalise_losses
from workbench.models import RetrievalModel

__all__ = ["BiCro", "consistency_ratio", "anchor_consistency", "labeled_labels", "unlabeled_labels",
           "code_beta_mixture", "BMM_CLIP"]

#: BiCro clips the normalised losses to [BMM_CLIP, 1 - BMM_CLIP] before the beta mixture.
BMM_CLIP = 1e-4


def consistency_ratio(pick: Tensor, other: Tensor) -> Tensor:
    """Consistency of each row with its nearest anchor ``[n]``.

    Args:
        pick: ``[n, a]`` cosines to the anchors in the modality that chooses the anchor.
        other: ``[n, a]`` cosines to the same anchors in the other modality.

    Returns:
        With ``a* = argmax_a pick[:, a]``, ``c = pick[a*]``, ``d = other[a*]``: ``c / d`` if ``c / d < 1``
        else ``d / c`` (the official rule; ``min(c/d, d/c)`` when both are positive). 0/0 gives 0.
    """
    best, where = pick.max(dim=1)
    paired = other.gather(1, where[:, None]).squeeze(1)
    ratio = best / paired
    r = torch.where(ratio < 1, ratio, paired / best)
    return torch.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)


def anchor_consistency(img: Tensor, txt: Tensor, anchor_img: Tensor, anchor_txt: Tensor) -> Tensor:
    """``r_i2t + r_t2i`` ``[n]`` of pairs ``(img [n, d], txt [n, d])`` relative to anchors ``[a, d]``."""
    sim_img = F.normalize(img, dim=1) @ F.normalize(anchor_img, dim=1).T
    sim_txt = F.normalize(txt, dim=1) @ F.normalize(anchor_txt, dim=1).T
    return consistency_ratio(sim_img, sim_txt) + consistency_ratio(sim_txt, sim_img)


def labeled_labels(confidence: Tensor, img: Tensor, txt: Tensor, *, threshold: float = 0.5,
                   scatter: str = "aligned") -> tuple[Tensor, Tensor]:
    """BiCro's soft labels of a labeled batch and its anchor indices.

    Args:
        confidence: ``[B]`` NCR-style confidence of each pair (higher = more likely matched).
        img, txt: ``[B, d]`` global embeddings of the batch.
        threshold: labels ``<= threshold`` become 0.
        scatter: ``"aligned"`` (each pair its own label) or ``"code"`` (see the module docstring).

    Returns:
        ``(y [B], anchors [B // 10 + 1])``: anchors get 1, the rest ``1/2 + (r_i2t + r_t2i) / 4`` thresholded,
        all clamped to [0, 1].
    """
    b = confidence.shape[0]
    order = torch.argsort(confidence, stable=True)  # ascending
    n_anchor = b // 10 + 1
    anchors, rest = order[b - n_anchor:], order[: b - n_anchor]
    y = 0.5 + anchor_consistency(img, txt, img[anchors], txt[anchors]) / 4
    y = (y * (y > threshold)).clamp(0.0, 1.0)
    out = torch.ones_like(y)
    if scatter == "aligned":
        out[rest] = y[rest]
    elif scatter == "code":
        out[rest] = y[: len(rest)]
    else:
        raise ValueError(f"unknown label scatter {scatter!r} (aligned, code)")
    return out, anchors


def unlabeled_labels(img: Tensor, txt: Tensor, anchor_img: Tensor, anchor_txt: Tensor, *,
                     threshold: float = 0.5) -> Tensor:
    """BiCro's labels of an unlabeled batch ``[B]``: ``(r_i2t + r_t2i) / 2`` against the labeled batch's
    anchors, zeroed when ``<= threshold``, clamped to [0, 1]."""
    y = anchor_consistency(img, txt, anchor_img, anchor_txt) / 2
    return (y * (y > threshold)).clamp(0.0, 1.0)


def code_beta_mixture(x: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Clean posterior ``[N]`` of BiCro's ``BetaMixture1D`` fitted to ``x`` in (0, 1).

    EM from ``alpha = (1, 2)``, ``beta = (2, 1)``, weights (1/2, 1/2): E-step responsibilities floored at
    1e-12; M-step weighted method of moments ``alpha = m (m (1 - m) / v - 1)``, ``beta = alpha (1 - m) / m``.
    Returns the posterior of component 0 (no check that it is the low-loss one).
    """
    x = np.asarray(x, dtype=np.float64)
    alpha, beta, weight = np.array([1.0, 2.0]), np.array([2.0, 1.0]), np.array([0.5, 0.5])
    for _ in range(iterations):
        resp = np.maximum(weight[:, None] * stats.beta.pdf(x[None], alpha[:, None], beta[:, None]), 1e-12)
        resp = resp / resp.sum(axis=0)
        for c in (0, 1):
            w = resp[c] / resp[c].sum()
            mean = float((w * x).sum())
            var = max(float((w * (x - mean) ** 2).sum()), 1e-12)
            alpha[c] = mean * (mean * (1 - mean) / var - 1)
            beta[c] = alpha[c] * (1 - mean) / mean
        weight = resp.sum(axis=1) / resp.sum()
    lik = weight[:, None] * stats.beta.pdf(x[None], alpha[:, None], beta[:, None])
    return lik[0] / (lik.sum(axis=0) + 1e-12)


class BiCro(CoTeaching):
    name = "bicro"

    @property
    def threshold(self) -> float:
        return self.cfg.bicro.p_threshold

    def warmup_terms(self, scores: Tensor) -> dict[str, Tensor]:
        per = per_sample_hinge(scores, self.cfg.optim.margin)
        keep = max(int(per.shape[0] * self.cfg.bicro.warmup_rate), 1)
        return {"warmup_loss": per.topk(keep, largest=False).values.sum()}

    def clean_probability(self, losses: np.ndarray) -> np.ndarray:
        x = normalise_losses(losses, clamp=BMM_CLIP)
        if self.cfg.bicro.mixture == "code":
            return code_beta_mixture(x)
        return clean_probability(fit_beta_mixture(x), x)

    @torch.no_grad()
    def _peer_view(self, peer: RetrievalModel, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """Eval-mode scores ``[B, B]`` and global embeddings ``([B, d], [B, d])`` of a batch by the peer.

        Computed on the whole batch in every process: no gradients are needed, so nothing is gathered.
        """
        b = batch.to(self.device)
        regions = peer.encode_images(b.images)
        captions = peer.encode_captions(b.tokens, b.lengths)
        img, txt = peer.global_embeddings(regions, captions)
        return peer.activate(peer.logits(regions, captions)), img, txt

    def co_step(self, ctx: EpochContext, k: int, labeled: np.ndarray, unlabeled: np.ndarray | None,
                division: Division) -> dict[str, Tensor | float]:
        c, m = self.cfg.bicro, self.cfg.optim.margin
        net, peer = self.models[k], self.models[1 - k]
        train = self.data.train
        lb = train.batch(labeled)
        ub = train.batch(unlabeled) if unlabeled is not None else None
        scores, img, txt = self._peer_view(peer, lb)
        y_l, anchors = labeled_labels(hinge_confidence(scores, m), img, txt, threshold=c.label_threshold,
                                      scatter=c.label_scatter)
        terms: dict[str, Tensor | float] = {}
        total = 0.0
        if ub is not None:  # the official code steps on the unlabeled batch first
            _, img_u, txt_u = self._peer_view(peer, ub)
            y_u = unlabeled_labels(img_u, txt_u, img[anchors], txt[anchors], threshold=c.label_threshold)
            loss_u = triplet_loss(self.batch_scores(net, ub, sparse_loss=True), self._margins(y_u))["triplet_loss"]
            self.step(k, loss_u)
            terms["unlabeled_loss"] = loss_u
            total += float(loss_u.detach())
        loss_l = triplet_loss(self.batch_scores(net, lb, sparse_loss=True), self._margins(y_l))["triplet_loss"]
        self.step(k, loss_l)
        terms["labeled_loss"] = loss_l
        terms["loss"] = total + float(loss_l.detach())
        return terms

    def _margins(self, labels: Tensor) -> Tensor:
        """Exponential soft margins ``[B]`` (paper) or the code's column broadcast ``[B, B]``."""
        margins = soft_margin(labels, "exponential", self.cfg.optim.margin)
        if self.cfg.bicro.margin_broadcast == "code":
            b = labels.shape[0]
            return margins[None, :].expand(b, b)
        return margins
