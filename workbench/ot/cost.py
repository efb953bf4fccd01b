r"""Transport costs for rematching: L2RM's learnable cost (Sec. 4.2, Eq. 6) and a feature cosine cost.

The learnable cost maps the batch similarity matrix ``S`` ``[n_images, n_captions]`` to a cost of the
same shape with one linear layer along the caption axis and a ReLU,

.. math::

    f_c(S) = \mathrm{ReLU}(S W^\top + b), \qquad W \in \mathbb{R}^{B \times B}, \; b \in \mathbb{R}^B,

trained by Eq. 6, :math:`\mathcal{L}_{OT} = \langle \pi^{sup}, f_c(S) \rangle_F`, on reconstructed
batches in which a few clean image-caption pairs are planted among distractor images
(:func:`build_cost_supervision`). The OT solvers never know the cost is learnable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from workbench.errors import ConfigError

__all__ = [
    "LearnableCost",
    "cosine_cost",
    "CostSupervision",
    "build_cost_supervision",
    "cost_supervision_loss",
]

CostInit = Literal["official", "xavier", "default"]


class LearnableCost(nn.Module):
    """L2RM's cost network ``C = ReLU(S W^T + b)`` (``FeedForward_Network`` in the reference code).

    The layer mixes the similarities of one image to every caption of the batch, so its width is the
    number of captions per batch and is fixed at construction: batches must all have exactly
    ``n_captions`` captions (use ``drop_last=True`` in the loaders), while the number of image rows
    is free.

    Args:
        n_captions: ``B``, the batch size (128 in the paper).
        init: ``"official"`` (default): ``W = -I``, ``b = 1``, so the cost starts as ``ReLU(1 - S)``.
            ``"xavier"``: Xavier-uniform ``W`` and ``b = 0``. ``"default"``: PyTorch's ``nn.Linear``
            initialisation. The two alternatives are for ablations; only ``"official"`` starts from a
            cost that decreases with similarity.
    """

    def __init__(self, n_captions: int, init: CostInit = "official") -> None:
        super().__init__()
        if not (isinstance(n_captions, int) and n_captions >= 1):
            raise ConfigError(f"LearnableCost: n_captions={n_captions!r}; expected an int >= 1")
        if init not in ("official", "xavier", "default"):
            raise ConfigError(f"LearnableCost: init={init!r}; expected 'official', 'xavier' or 'default'")
        self.n_captions = n_captions
        self.init = init
        self.linear = nn.Linear(n_captions, n_captions)
        with torch.no_grad():
            if init == "official":
                self.linear.weight.copy_(-torch.eye(n_captions))
                self.linear.bias.fill_(1.0)
            elif init == "xavier":
                nn.init.xavier_uniform_(self.linear.weight)
                self.linear.bias.zero_()

    def forward(self, similarity: Tensor) -> Tensor:
        """Cost ``[..., n_images, n_captions]`` from similarities of the same shape."""
        if similarity.shape[-1] != self.n_captions:
            raise ConfigError(
                f"LearnableCost: similarity has {similarity.shape[-1]} captions (last dim); the layer was "
                f"built for batches of exactly {self.n_captions} (drop the last incomplete batch)"
            )
        return torch.relu(self.linear(similarity))

    def extra_repr(self) -> str:
        return f"n_captions={self.n_captions}, init={self.init!r}"


def cosine_cost(x: Tensor, y: Tensor, eps: float = 1e-8) -> Tensor:
    """``C_ij = 1 - cos(x_i, y_j)`` ``[..., n, m]`` from features ``x`` ``[..., n, d]``, ``y`` ``[..., m, d]``.

    The feature-driven cost of the ablation "w/o cost function" (Table 3). ``eps`` guards zero vectors.
    """
    if x.shape[-1] != y.shape[-1]:
        raise ConfigError(f"cosine_cost: feature dims differ: x has {x.shape[-1]}, y has {y.shape[-1]}")
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(eps)
    return 1.0 - x @ y.transpose(-1, -2)


@dataclass(frozen=True)
class CostSupervision:
    """A reconstructed batch for the cost loss: which distractor slots receive which clean images.

    Attributes:
        slots: ``[k]`` long, distinct distractor slots in ``[0, Q)`` that are overwritten.
        captions: ``[k]`` long, distinct clean captions in ``[0, B)``; slot ``slots[t]`` receives the
            image of clean pair ``captions[t]``.
        pi_sup: ``[Q, B]`` the ideal plan of Eq. 6: 1 at ``(slots[t], captions[t])``, 0 elsewhere.
    """

    slots: Tensor
    captions: Tensor
    pi_sup: Tensor

    @property
    def k(self) -> int:
        """Number of planted clean pairs."""
        return int(self.slots.numel())

    def assemble(self, distractors: Tensor, clean_images: Tensor) -> Tensor:
        """The image batch ``[Q, ...]``: ``distractors`` with ``clean_images[captions]`` at ``slots``.

        ``distractors`` ``[Q, ...]`` is not modified. ``clean_images`` ``[B, ...]`` are the images of
        the clean batch, aligned with its captions.
        """
        images = distractors.clone()
        images[self.slots.to(images.device)] = clean_images[self.captions.to(clean_images.device)].to(images)
        return images


def build_cost_supervision(
    n_slots: int,
    n_captions: int,
    *,
    reserve_ratio: float = 0.1,
    count: Literal["uniform", "fixed"] = "uniform",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> CostSupervision:
    """Plant ``k`` clean pairs among ``n_slots`` distractor images (L2RM Sec. 4.2, reference code).

    Reference code: the distractors are the previous noisy batch's images (``Q`` of them);
    ``k ~ Uniform{1, ..., int(reserve_ratio * B)}`` clean pairs of the current clean batch (``B``
    captions) are chosen, and their images overwrite ``k`` random distinct slots. The paper's Fig. 2
    describes the same construction ("randomly reserve a part of the matching images and substitute
    images from the mismatched subset for the remaining ones").

    Args:
        n_slots: ``Q``, distractor images (the queue length; 128 in the paper).
        n_captions: ``B``, captions of the clean batch.
        reserve_ratio: upper bound of ``k`` as a fraction of ``B`` (0.1, i.e. ``k <= 12`` for ``B = 128``).
        count: ``"uniform"`` (official) draws ``k`` uniformly in ``[1, int(reserve_ratio * B)]``;
            ``"fixed"`` uses ``k = int(reserve_ratio * B)``.
        generator: a CPU ``torch.Generator`` for the draws (they are made on the CPU, so one seed gives
            the same supervision on every device); None uses torch's global generator.
        device, dtype: of ``pi_sup`` (indices are long on the same device).

    Raises:
        ConfigError: if ``int(reserve_ratio * B)`` is not in ``[1, min(Q, B)]``.
    """
    if not (isinstance(n_slots, int) and isinstance(n_captions, int) and n_slots >= 1 and n_captions >= 1):
        raise ConfigError(
            f"build_cost_supervision: n_slots={n_slots!r}, n_captions={n_captions!r}; expected ints >= 1"
        )
    if count not in ("uniform", "fixed"):
        raise ConfigError(f"build_cost_supervision: count={count!r}; expected 'uniform' or 'fixed'")
    if not (isinstance(reserve_ratio, (int, float)) and 0 < reserve_ratio <= 1):
        raise ConfigError(
            f"build_cost_supervision: reserve_ratio={reserve_ratio!r}; expected a float in (0, 1]"
        )
    k_max = int(reserve_ratio * n_captions)
    if not 1 <= k_max <= min(n_slots, n_captions):
        raise ConfigError(
            f"build_cost_supervision: reserve_ratio={reserve_ratio!r} gives int(reserve_ratio * {n_captions}) = "
            f"{k_max} planted pairs; expected between 1 and min(n_slots, n_captions) = {min(n_slots, n_captions)}"
        )
    if count == "uniform":
        k = int(torch.randint(1, k_max + 1, (1,), generator=generator))
    else:
        k = k_max
    captions = torch.randperm(n_captions, generator=generator)[:k]
    slots = torch.randperm(n_slots, generator=generator)[:k]
    pi_sup = torch.zeros(n_slots, n_captions, dtype=dtype)
    pi_sup[slots, captions] = 1.0
    return CostSupervision(slots.to(device), captions.to(device), pi_sup.to(device))


def cost_supervision_loss(
    cost_matrix: Tensor, pi_sup: Tensor, reduction: Literal["sum", "mean"] = "sum"
) -> dict[str, Tensor]:
    """Eq. 6, ``<pi_sup, f_c(S)>_F``, as ``{"cost_loss": scalar}``.

    Args:
        cost_matrix: ``[Q, B]`` the learnable cost on the reconstructed batch.
        pi_sup: ``[Q, B]`` from :func:`build_cost_supervision`.
        reduction: ``"sum"`` (reference code) or ``"mean"``, the sum divided by the number of planted
            pairs ``sum(pi_sup)``, which makes the loss scale independent of the drawn ``k``.
    """
    if cost_matrix.shape != pi_sup.shape:
        raise ConfigError(
            f"cost_supervision_loss: cost_matrix {list(cost_matrix.shape)} and pi_sup {list(pi_sup.shape)} differ"
        )
    if reduction not in ("sum", "mean"):
        raise ConfigError(f"cost_supervision_loss: reduction={reduction!r}; expected 'sum' or 'mean'")
    pi_sup = pi_sup.to(cost_matrix)
    loss = (pi_sup * cost_matrix).sum()
    if reduction == "mean":
        loss = loss / pi_sup.sum().clamp_min(1.0)
    return {"cost_loss": loss}
