"""From a transport plan to rematching targets (L2RM Eq. 10), and the false-positive mask (Eq. 8)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from workbench.errors import ConfigError

__all__ = ["PlanTargets", "plan_targets", "diagonal_mask"]


class PlanTargets(NamedTuple):
    """Target distributions from a plan; unpack as ``i2t, t2i = plan_targets(plan)``.

    Attributes:
        image_to_text: ``[..., n, m]``, row ``i`` is a distribution over captions for image ``i``.
        text_to_image: ``[..., m, n]``, row ``j`` is a distribution over images for caption ``j``.
    """

    image_to_text: Tensor
    text_to_image: Tensor


def plan_targets(plan: Tensor, clip: float = 1e-10) -> PlanTargets:
    """Row- and column-normalise a plan ``[..., n, m]`` into targets, as the reference code does.

    ``pi <- max(pi, clip)``, then ``image_to_text = pi / pi.sum(-1)`` and
    ``text_to_image = pi^T / pi^T.sum(-1)``. Every row and column becomes a full distribution however
    little mass the (partial) plan gave it, so ``rho`` only shapes the targets' *relative* weights; the
    clip also gives masked entries (exact zeros) a small weight, which keeps the KL terms finite.

    Raises:
        ConfigError: if ``plan`` has rank < 2 or ``clip`` is not > 0.
    """
    if plan.ndim < 2:
        raise ConfigError(f"plan_targets: plan has shape {list(plan.shape)}; expected [..., n, m]")
    if not clip > 0:
        raise ConfigError(f"plan_targets: clip={clip!r}; expected > 0 (it keeps every target row positive)")
    clipped = plan.clamp_min(clip)
    image_to_text = clipped / clipped.sum(dim=-1, keepdim=True)
    transposed = clipped.transpose(-1, -2)
    text_to_image = transposed / transposed.sum(dim=-1, keepdim=True)
    return PlanTargets(image_to_text, text_to_image)


def diagonal_mask(
    n: int,
    m: int | None = None,
    *,
    batch_shape: tuple[int, ...] = (),
    device: torch.device | str | None = None,
) -> Tensor:
    """The mask ``M`` of Eq. 8: bool ``[*batch_shape, n, m]``, False on the diagonal, True elsewhere.

    In a noisy batch the pair ``(image_i, caption_i)`` is the (presumed) mismatched original pairing,
    so the rematching plan may not use it. ``m`` defaults to ``n``; for ``n != m`` the entries
    ``(i, i)``, ``i < min(n, m)``, are masked. With a batch shape the result is an expanded view.
    """
    m = n if m is None else m
    if n < 1 or m < 1:
        raise ConfigError(f"diagonal_mask: n={n}, m={m}; expected >= 1")
    mask = ~torch.eye(n, m, dtype=torch.bool, device=device)
    return mask.expand(*batch_shape, n, m)
