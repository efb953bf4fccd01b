r"""UOT-RCL's OT relation alignment ([V] concept; [I] details): semantic-level cross-modal matching.

For a batch of ``B`` pairs with unit embeddings ``z^v, z^t`` ``[B, d]`` and label distributions ``q`` ``[B, C]``
(the corrected labels; uniform for pairs whose label is unknown), the cross-modal similarity is
``S_{ij} = z^{v\top}_i z^t_j`` and the image-to-text cost is one of

* ``feature``: ``1 - S_{ij}``;
* ``semantic``: ``1 - S_{ij} + w (1 - q_i^\top q_j)`` (label disagreement; 0/1 for one-hot labels);
* ``relation``: ``1 - S_{ij} + w \|R^v_{i\cdot} - R^t_{j\cdot}\|_2 / \sqrt{B}`` with intra-modal relations
  ``R^v = z^v z^{v\top}``, ``R^t = z^t z^{t\top}``: image ``i`` and text ``j`` match when they relate to the
  rest of the batch alike.

Entropic OT with uniform marginals ``1/B`` gives the plan ``Q`` (:func:`workbench.ot.sinkhorn`, no gradient):
the inferred matching, which spreads each row's mass over the texts of the same semantics instead of only
its own pair. The network's relation is trained towards it in both directions,

.. math::

    L_{ra} = -\frac1B \sum_{ij} B Q_{ij} \log \operatorname{softmax}_j(S_{ij}/\tau)
             -\frac1B \sum_{ij} B Q_{ij} \log \operatorname{softmax}_i(S_{ij}/\tau),

the soft cross-entropy of L2RM's rematching losses (same author) with the plan as target.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from workbench.errors import ConfigError
from workbench.labels.losses import soft_cross_entropy
from workbench.ot import sinkhorn

__all__ = ["RA_COSTS", "relation_cost", "relation_plan", "relation_alignment_loss"]

RA_COSTS = ("semantic", "feature", "relation")


def relation_cost(z_img: Tensor, z_txt: Tensor, labels: Tensor | None, *, kind: str = "semantic",
                  label_weight: float = 1.0) -> Tensor:
    """The image-to-text cost ``[B, B]`` (module docstring); computed without gradient.

    Args:
        z_img, z_txt: ``[B, d]`` unit embeddings.
        labels: ``[B, C]`` label distributions (needed for ``semantic``).
        kind: ``"semantic"``, ``"feature"`` or ``"relation"``.
        label_weight: ``w``.
    """
    if kind not in RA_COSTS:
        raise ConfigError(f"relation-alignment cost {kind!r} is not one of {RA_COSTS}")
    with torch.no_grad():
        cost = 1.0 - z_img @ z_txt.T
        if kind == "semantic":
            if labels is None:
                raise ConfigError("the 'semantic' relation cost needs the batch's label distributions")
            cost = cost + label_weight * (1.0 - labels @ labels.T)
        elif kind == "relation":
            r_img, r_txt = z_img @ z_img.T, z_txt @ z_txt.T
            cost = cost + label_weight * torch.cdist(r_img, r_txt) / math.sqrt(z_img.shape[0])
    return cost


def relation_plan(cost: Tensor, *, eps: float, max_iter: int = 1000, tol: float = 1e-6) -> Tensor:
    """Balanced entropic OT plan ``[B, B]`` with uniform marginals, scaled by ``B`` (rows and columns sum to 1)."""
    n = cost.shape[0]
    plan = sinkhorn(cost.detach().to(torch.float64), eps=eps, max_iter=max_iter, tol=tol).plan
    return (plan * n).to(cost.dtype)


def relation_alignment_loss(z_img: Tensor, z_txt: Tensor, target: Tensor, *, tau: float) -> Tensor:
    """``L_ra`` of the module docstring; ``target`` is ``B Q`` (:func:`relation_plan`)."""
    logits = z_img @ z_txt.T / tau
    return soft_cross_entropy(logits, target, dim=1) + soft_cross_entropy(logits, target, dim=0)
