r"""Losses of the label track. Each returns a scalar (a mean over the batch) unless stated.

``B`` is the batch size, ``C`` the number of classes, ``d`` the embedding width. Targets are class ids
``[B]`` or class distributions ``[B, C]``; optional ``weights`` ``[B]`` multiply the per-sample terms
(the mean is then ``\sum_i w_i \ell_i / B``, so a weight of 0 drops a sample without renormalising).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.errors import ConfigError

__all__ = [
    "cross_entropy",
    "generalized_cross_entropy",
    "mean_clustering_error",
    "multimodal_contrastive",
    "pair_alignment",
    "soft_cross_entropy",
]


def _weighted_mean(per_sample: Tensor, weights: Tensor | None) -> Tensor:
    return per_sample.mean() if weights is None else (per_sample * weights).mean()


def cross_entropy(logits: Tensor, targets: Tensor, weights: Tensor | None = None) -> Tensor:
    r"""``-\sum_c y_{ic} \log \operatorname{softmax}(l_i)_c`` with hard (``[B]``) or soft (``[B, C]``) targets."""
    log_p = F.log_softmax(logits, dim=1)
    if targets.dim() == 1:
        per_sample = -log_p.gather(1, targets[:, None]).squeeze(1)
    else:
        per_sample = -(targets * log_p).sum(dim=1)
    return _weighted_mean(per_sample, weights)


def generalized_cross_entropy(logits: Tensor, targets: Tensor, q: float = 0.7,
                              weights: Tensor | None = None) -> Tensor:
    r"""GCE (Zhang & Sabuncu, NeurIPS 2018): ``(1 - p_{i y_i}^q) / q`` for hard targets ``[B]``.

    ``q -> 0`` recovers cross-entropy, ``q = 1`` the (noise-robust, slow-to-fit) MAE; 0.7 is the paper's
    default.
    """
    if not 0.0 < q <= 1.0:
        raise ConfigError(f"GCE q = {q!r} must lie in (0, 1]")
    p_true = F.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    per_sample = (1.0 - p_true.clamp_min(1e-12) ** q) / q
    return _weighted_mean(per_sample, weights)


def mean_clustering_error(logits: Tensor, targets: Tensor, tau: float = 1.0) -> Tensor:
    r"""MRL's robust clustering loss ``L_r``: ``\frac1B \sum_i \log(1 - p_{i y_i})``, ``p = softmax(l / \tau)``.

    Minimising it drives ``p_{i y_i}`` to 1 like cross-entropy, but its gradient with respect to the logits
    vanishes as ``p_{i y_i} \to 0``: a sample whose label the network firmly disagrees with (typically a
    mislabelled one) pulls weakly, which is where its robustness comes from. Computed stably as
    ``logsumexp_{c \ne y_i} - logsumexp_c`` of the scaled logits; its values are negative.
    """
    scaled = logits / tau
    others = scaled.scatter(1, targets[:, None], -math.inf)
    return (torch.logsumexp(others, dim=1) - torch.logsumexp(scaled, dim=1)).mean()


def multimodal_contrastive(z_img: Tensor, z_txt: Tensor, tau: float = 1.0) -> Tensor:
    r"""MRL's multimodal contrastive loss ``L_c`` on unit embeddings ``[B, d]`` of ``B`` pairs.

    Over the ``2B`` embeddings ``u = [z^v; z^t]``, each one's positive is the other modality of its own pair
    and every other embedding (both modalities, itself excluded) is in the denominator:

    .. math::

        \ell_a = -\log \frac{\exp(u_a^\top u_{a'} / \tau)}{\sum_{b \ne a} \exp(u_a^\top u_b / \tau)}, \qquad
        L_c = \frac{2}{2B} \sum_a \ell_a.

    MRL adds the same quantity computed over the columns of the similarity matrix; the matrix is
    symmetric, so that term equals the row term, hence the factor 2.
    """
    n = z_img.shape[0]
    u = torch.cat([z_img, z_txt], dim=0)  # [2B, d]
    logits = (u @ u.T) / tau
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=u.device), -math.inf)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(u.device)
    return 2.0 * F.cross_entropy(logits, partner)


def pair_alignment(z_img: Tensor, z_txt: Tensor) -> Tensor:
    r"""Instance-level modality gap ``\frac1B \sum_i \|z^v_i - z^t_i\|^2`` (the calibration guide's term)."""
    return (z_img - z_txt).pow(2).sum(dim=1).mean()


def soft_cross_entropy(logits: Tensor, targets: Tensor, dim: int = 1) -> Tensor:
    r"""``-\sum_j Q_{ij} \log \operatorname{softmax}(S_i)_j`` averaged over the other axis.

    Args:
        logits: ``[B, B']`` scores.
        targets: ``[B, B']`` rows (``dim=1``) or columns (``dim=0``) that are distributions.
        dim: the axis the softmax and the target distributions run along.
    """
    return -(targets * F.log_softmax(logits, dim=dim)).sum(dim=dim).mean()
