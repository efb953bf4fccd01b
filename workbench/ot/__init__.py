"""Optimal transport for rematching: entropic (partial) OT solvers, L2RM's learnable cost and targets.

Solvers are pure functions of tensors returning frozen results; they are batched over leading
dimensions, log-domain by default, take dtype and device from their inputs and never print.

* :func:`sinkhorn` - balanced entropic OT with an optional mask.
* :func:`partial_ot` - move exactly ``mass`` (L2RM Eq. 7), by the dummy-point extension (Appendix B)
  or by Bregman projections (POT's formulation).
* :class:`LearnableCost`, :func:`cosine_cost`, :func:`build_cost_supervision`,
  :func:`cost_supervision_loss` - the cost side (L2RM Sec. 4.2, Eq. 6).
* :func:`plan_targets`, :func:`diagonal_mask` - rematching targets (Eq. 10) and the mask (Eq. 8).
"""

from __future__ import annotations

from workbench.ot.cost import (
    CostSupervision,
    LearnableCost,
    build_cost_supervision,
    cosine_cost,
    cost_supervision_loss,
)
from workbench.ot.partial import PartialOTResult, partial_ot
from workbench.ot.sinkhorn import SinkhornResult, sinkhorn
from workbench.ot.targets import PlanTargets, diagonal_mask, plan_targets

__all__ = [
    "sinkhorn",
    "SinkhornResult",
    "partial_ot",
    "PartialOTResult",
    "LearnableCost",
    "cosine_cost",
    "CostSupervision",
    "build_cost_supervision",
    "cost_supervision_loss",
    "plan_targets",
    "PlanTargets",
    "diagonal_mask",
]
