"""NCR: noisy correspondence rectifier (Huang et al., NeurIPS 2021), as a strategy on the shared backbone.

Co-teaching skeleton (:mod:`workbench.methods.coteaching`) with:

* **warm-up** — the per-pair *mean* hinge summed over the batch,
  ``sum_i mean_j c^s_ij + sum_j mean_i c^im_ij`` (``ncr.warmup_loss="mean_hinge"``), each net on all pairs;
* **division** — a two-component Gaussian mixture (10 EM iterations, tol 1e-2, reg_covar 5e-4) on the
  min-max normalised per-pair mean hinge; ``w`` = posterior of the low-mean component, labeled iff
  ``w > p_threshold``;
* **co-rectified labels** (training net A; ``p`` is NCR's eval-mode prediction,
  :func:`~workbench.methods.coteaching.predict_confidence`): labeled ``y = w_B + (1 - w_B) p_A`` with
  ``w_B`` the peer's posterior; unlabeled ``y = (p_A + p_B) / 2``;
* **loss** — the hardest-negative hinge with a per-pair soft margin ``alpha * (10^y - 1) / 9``
  (``ncr.soft_margin``), summed over the batch; the labeled loss every iteration, the unlabeled loss from
  the second half of the main epochs on, each its own optimiser step.

``ncr.margin_broadcast="code"`` reproduces how the official code's tensor shapes broadcast the margins:
labeled ``y[i, j] = w_i + (1 - w_i) p_j`` used at entry ``[i, j]`` of
both directions; unlabeled: row i's margin at every entry ``[i, j]`` of both directions. The default
``"per_sample"`` is the paper's formula (pair i's margin in its own row and column).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from workbench.losses import per_sample_hinge, triplet_loss
from workbench.losses_robust import soft_margin
from workbench.methods.base import EpochContext
from workbench.methods.coteaching import CoTeaching, Division, predict_confidence
from workbench.mixture import clean_probability, fit_gaussian_mixture, normalise_losses

__all__ = ["NCR", "corrected_margins"]


def corrected_margins(labels: Tensor, *, kind: str, margin: float, broadcast: str,
                      weights: Tensor | None = None) -> Tensor:
    """Soft margins of a batch from its rectified labels.

    Args:
        labels: ``[B]`` NCR prediction ``p`` (labeled batch, with ``weights``) or the rectified labels
            ``y`` (unlabeled batch, ``weights=None``).
        kind: soft-margin function (:func:`~workbench.losses_robust.soft_margin`).
        margin: the full margin ``alpha``.
        broadcast: ``"per_sample"`` -> ``[B]`` margins (pair i's in its row and column); ``"code"`` ->
            ``[B, B]`` margins as the official code's broadcasting produces them.
        weights: ``[B]`` the peer's clean posteriors ``w`` for a labeled batch.

    Returns:
        ``[B]`` or ``[B, B]`` margins for :func:`workbench.losses.triplet_loss`.
    """
    if broadcast == "per_sample":
        y = labels if weights is None else weights + (1 - weights) * labels
        return soft_margin(y, kind, margin)
    if broadcast != "code":
        raise ValueError(f"unknown margin broadcast {broadcast!r} (per_sample, code)")
    b = labels.shape[0]
    if weights is None:  # y reshaped to [B, 1]: row i's margin along the whole row
        return soft_margin(labels, kind, margin)[:, None].expand(b, b)
    return soft_margin(weights[:, None] + (1 - weights[:, None]) * labels[None, :], kind, margin)


class NCR(CoTeaching):
    name = "ncr"

    @property
    def threshold(self) -> float:
        return self.cfg.ncr.p_threshold

    def warmup_terms(self, scores: Tensor) -> dict[str, Tensor]:
        m = self.cfg.optim.margin
        if self.cfg.ncr.warmup_loss == "mean_hinge":
            return {"warmup_loss": per_sample_hinge(scores, m).sum()}
        return triplet_loss(scores, m, reduction="sum")

    def clean_probability(self, losses: np.ndarray) -> np.ndarray:
        x = normalise_losses(losses, clamp=0.0)  # plain min-max, as the official code
        return clean_probability(fit_gaussian_mixture(x), x)

    def co_step(self, ctx: EpochContext, k: int, labeled: np.ndarray, unlabeled: np.ndarray | None,
                division: Division) -> dict[str, Tensor | float]:
        c, m = self.cfg.ncr, self.cfg.optim.margin
        net, peer = self.models[k], self.models[1 - k]
        train = self.data.train
        lb = train.batch(labeled)
        ub = train.batch(unlabeled) if unlabeled is not None else None
        with torch.no_grad():
            net.eval()
            p_l = predict_confidence(self.batch_scores(net, lb), m)
            p_u = None
            if ub is not None:
                p_u = (predict_confidence(self.batch_scores(net, ub), m)
                       + predict_confidence(self.batch_scores(peer, ub), m)) / 2
        net.train()
        w = self.device_tensor(division.prob[labeled], p_l)
        margins = corrected_margins(p_l, kind=c.soft_margin, margin=m, broadcast=c.margin_broadcast,
                                    weights=w)
        loss_l = triplet_loss(self.batch_scores(net, lb, sparse_loss=True), margins)["triplet_loss"]
        self.step(k, loss_l)
        terms: dict[str, Tensor | float] = {"labeled_loss": loss_l, "loss": float(loss_l.detach())}
        if ub is not None and p_u is not None:
            margins_u = corrected_margins(p_u, kind=c.soft_margin, margin=m, broadcast=c.margin_broadcast)
            loss_u = triplet_loss(self.batch_scores(net, ub, sparse_loss=True), margins_u)["triplet_loss"]
            self.step(k, loss_u)
            terms["unlabeled_loss"] = loss_u
            terms["loss"] = float(loss_l.detach() + loss_u.detach())
        return terms
