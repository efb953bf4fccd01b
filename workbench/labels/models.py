r"""The label track's network: one MLP per modality into a shared, L2-normalised space and one classifier.

.. math::

    z^v_i = \frac{f_v(x^v_i)}{\|f_v(x^v_i)\|}, \quad z^t_i = \frac{f_t(x^t_i)}{\|f_t(x^t_i)\|}, \quad
    p^m_i = \operatorname{softmax}(h(z^m_i)) \quad (m \in \{v, t\}),

with the same classifier ``h`` for both modalities, so both are pushed towards the same class regions
(DSCMR / MRL practice; [I]). ``h`` is either a linear layer (the calibration guide's prototype
network; default) or MRL's prototypes: ``h(z) = z W / \tau`` with the ``C`` columns of ``W`` kept at unit
norm (MRL re-normalises them before every step; here the normalisation is part of the forward pass, which
gives the same logits without mutating the parameter).

Retrieval uses the common-space embeddings ``z`` only (cosine similarity).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.errors import ConfigError

__all__ = ["ModalityMLP", "Prototypes", "CrossModalNet", "Forward"]


class ModalityMLP(nn.Module):
    """``in -> hidden -> ... -> embed`` (Linear, optional BatchNorm, ReLU, optional dropout between layers).

    Args:
        in_dim: input feature width.
        hidden: width of the hidden layers.
        embed_dim: output (common space) width.
        layers: number of Linear layers (>= 1; 1 is a linear map).
        batch_norm: BatchNorm1d after each hidden Linear.
        dropout: dropout probability after each hidden ReLU.
    """

    def __init__(self, in_dim: int, hidden: int, embed_dim: int, *, layers: int = 2, batch_norm: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if layers < 1:
            raise ConfigError(f"ModalityMLP needs at least one layer, got layers={layers}")
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(layers - 1):
            blocks.append(nn.Linear(width, hidden))
            if batch_norm:
                blocks.append(nn.BatchNorm1d(hidden))
            blocks.append(nn.ReLU())
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            width = hidden
        blocks.append(nn.Linear(width, embed_dim))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_dim] -> [B, embed_dim]`` unit rows."""
        return F.normalize(self.net(x), dim=1)


class Prototypes(nn.Module):
    r"""MRL's classifier: logits ``z W / \tau`` with unit-norm class columns ``W`` ``[d, C]`` (orthogonal init)."""

    def __init__(self, embed_dim: int, n_classes: int, tau: float = 1.0) -> None:
        super().__init__()
        if n_classes > embed_dim:
            raise ConfigError(f"prototype classifier: {n_classes} classes need embed_dim >= {n_classes}, "
                              f"got {embed_dim}")
        weight = torch.empty(embed_dim, embed_dim)
        nn.init.orthogonal_(weight)
        self.weight = nn.Parameter(weight[:, :n_classes].contiguous())
        self.tau = tau

    def forward(self, z: Tensor) -> Tensor:
        """``[B, d] -> [B, C]`` logits."""
        return z @ F.normalize(self.weight, dim=0) / self.tau


@dataclass(frozen=True)
class Forward:
    """Outputs for a batch of pairs: embeddings ``[B, d]`` and logits ``[B, C]`` per modality."""

    z_img: Tensor
    z_txt: Tensor
    logits_img: Tensor
    logits_txt: Tensor


class CrossModalNet(nn.Module):
    """Image MLP, text MLP and the shared classifier (see the module docstring).

    Args:
        image_dim, text_dim: input widths.
        n_classes: ``C``.
        hidden, embed_dim, layers, batch_norm, dropout: :class:`ModalityMLP` settings (both modalities).
        classifier: ``"linear"`` or ``"prototype"``.
        tau: temperature of the prototype classifier.
    """

    def __init__(self, image_dim: int, text_dim: int, n_classes: int, *, hidden: int = 512, embed_dim: int = 256,
                 layers: int = 2, batch_norm: bool = True, dropout: float = 0.0, classifier: str = "linear",
                 tau: float = 1.0) -> None:
        super().__init__()
        self.image = ModalityMLP(image_dim, hidden, embed_dim, layers=layers, batch_norm=batch_norm, dropout=dropout)
        self.text = ModalityMLP(text_dim, hidden, embed_dim, layers=layers, batch_norm=batch_norm, dropout=dropout)
        if classifier == "linear":
            self.classifier: nn.Module = nn.Linear(embed_dim, n_classes)
        elif classifier == "prototype":
            self.classifier = Prototypes(embed_dim, n_classes, tau)
        else:
            raise ConfigError(f"classifier {classifier!r} is not 'linear' or 'prototype'")

    def forward(self, x_img: Tensor, x_txt: Tensor) -> Forward:
        """Embeddings and logits of ``[B, image_dim]`` images and ``[B, text_dim]`` texts."""
        z_img, z_txt = self.image(x_img), self.text(x_txt)
        return Forward(z_img, z_txt, self.classifier(z_img), self.classifier(z_txt))

    @torch.no_grad()
    def embed(self, x_img: Tensor, x_txt: Tensor, chunk: int = 4096) -> Forward:
        """:meth:`forward` in evaluation mode (BatchNorm running statistics), chunked, no graph.

        The module's train/eval mode is restored afterwards.
        """
        was_training = self.training
        self.eval()
        try:
            parts = [self(x_img[s:s + chunk], x_txt[s:s + chunk]) for s in range(0, len(x_img), chunk)]
        finally:
            self.train(was_training)
        return Forward(*(torch.cat([getattr(p, f) for p in parts]) for f in ("z_img", "z_txt", "logits_img",
                                                                              "logits_txt")))
