"""Losses of the robust baselines: NCR/BiCro soft margins, DECL's evidential terms, RCL's complementary loss.

Same conventions as :mod:`workbench.losses`: ``scores`` is ``[B, B]`` with rows = images and columns =
captions, the positive of image i is caption i, and every loss returns a dict of named terms ending in
``_loss`` (callers sum them with :func:`workbench.losses.total_loss`).

* :func:`soft_margin` — NCR's label-dependent margins ``alpha * s(y)`` (exponential, linear, sin); the
  hardest-negative hinge with per-sample or per-entry margins is :func:`workbench.losses.triplet_loss`.
* :func:`evidence`, :func:`edl_loss`, :func:`rdh_loss`, :func:`rdh_negatives` — DECL (Qin et al. 2022):
  Dirichlet evidence of the in-batch logits, the MSE-form evidential loss with its KL regulariser, and the
  robust dynamic hinge over the top-K negatives with K annealed by the global step.
* :func:`ccl_loss` — RCL's complementary contrastive loss (Hu et al. 2023) with every ``h`` of the
  official code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from workbench.losses import check_square, triplet_loss

__all__ = [
    "SOFT_MARGINS",
    "CCL_VARIANTS",
    "soft_margin",
    "evidence",
    "dirichlet_kl_uniform",
    "edl_terms",
    "edl_loss",
    "rdh_negatives",
    "rdh_loss",
    "ccl_loss",
]

SOFT_MARGINS = ("exponential", "linear", "sin")
CCL_VARIANTS = ("log", "tan", "abs", "exp", "gce", "infonce", "max_margin")


# ---------------------------------------------------------------------------------------------- NCR / BiCro
def soft_margin(labels: Tensor, kind: str = "exponential", margin: float = 0.2) -> Tensor:
    """NCR's soft margin ``alpha * s(y)`` for correspondence labels ``y`` in [0, 1] (any shape).

    ``s(y) = (10^y - 1) / 9`` (``exponential``, the paper's choice), ``y`` (``linear``) or
    ``sin(pi y - pi / 2) / 2 + 1 / 2`` (``sin``). All three map 0 -> 0 and 1 -> 1, so a pair believed clean
    keeps the full margin and a pair believed mismatched gets none.
    """
    if kind == "exponential":
        s = (torch.pow(10.0, labels) - 1.0) / 9.0
    elif kind == "linear":
        s = labels
    elif kind == "sin":
        s = torch.sin(math.pi * labels - math.pi / 2) / 2 + 0.5
    else:
        raise ValueError(f"unknown soft margin {kind!r} (expected one of {', '.join(SOFT_MARGINS)})")
    return margin * s


# ---------------------------------------------------------------------------------------------- DECL
def evidence(logits: Tensor, tau: float = 0.1) -> Tensor:
    """DECL's evidence ``E = exp(tanh(z) / tau)`` of pre-activation scores ``z`` (any shape).

    ``tanh`` bounds the evidence to ``[e^{-1/tau}, e^{1/tau}]``. For the cosine (VSE) backbone the logit is
    the cosine itself, so ``tanh(z)`` only reaches ``tanh(1) = 0.76`` and the evidence spans
    ``e^{±0.76/tau}`` — equivalent to the SGRAF range with ``tau / 0.76``.
    """
    return torch.exp(torch.tanh(logits) / tau)


def dirichlet_kl_uniform(alpha: Tensor) -> Tensor:
    """``KL(Dir(alpha) || Dir(1))`` per row ``[n]`` of concentrations ``alpha`` ``[n, K]`` (all > 0).

    ``= lnG(S) - lnG(K) - sum_j lnG(a_j) + sum_j (a_j - 1)(psi(a_j) - psi(S))`` with ``S = sum_j a_j``.
    """
    k = alpha.shape[1]
    total = alpha.sum(dim=1)
    return (torch.lgamma(total) - math.lgamma(k) - torch.lgamma(alpha).sum(dim=1)
            + ((alpha - 1) * (torch.digamma(alpha) - torch.digamma(total)[:, None])).sum(dim=1))


def edl_terms(alpha: Tensor, targets: Tensor, lambda2: float = 0.1) -> Tensor:
    """Sensoy's MSE-form evidential loss per row ``[n]`` of Dirichlet concentrations ``alpha`` ``[n, K]``.

    With ``S = sum_j a_j`` and ``m = alpha / S``: ``sum_j (y_j - m_j)^2 + sum_j a_j (S - a_j) / (S^2 (S + 1))
    + lambda2 * KL(Dir(a~) || Dir(1))`` where ``a~ = (alpha - 1)(1 - y) + 1`` drops the target's evidence.
    ``targets`` ``[n, K]`` are one-hot rows, or all-zero rows for samples treated as noisy.
    """
    total = alpha.sum(dim=1, keepdim=True)
    mean = alpha / total
    squared = ((targets - mean) ** 2).sum(dim=1)
    variance = (alpha * (total - alpha) / (total ** 2 * (total + 1))).sum(dim=1)
    stripped = (alpha - 1) * (1 - targets) + 1
    return squared + variance + lambda2 * dirichlet_kl_uniform(stripped)


def edl_loss(evidence_matrix: Tensor, clean: Tensor, lambda2: float = 0.1) -> dict[str, Tensor]:
    """DECL's evidential loss of one batch: ``mean_i [EDL_i2t(i) + EDL_t2i(i)]``.

    Args:
        evidence_matrix: ``[B, B]`` evidence ``E`` (rows = images); ``alpha_i2t = E + 1`` (image i over the
            captions) and ``alpha_t2i = E^T + 1`` (caption i over the images).
        clean: ``[B]`` bool; row i's target is ``e_i`` when clean and all zeros otherwise (the evidence of a
            pair predicted mismatched is pushed towards zero).
        lambda2: weight of the KL regulariser (constant, no annealing, as in the official code).
    """
    b = check_square(evidence_matrix, "edl_loss")
    if clean.shape != (b,):
        raise ValueError(f"clean flags {tuple(clean.shape)} do not match the batch of {b}")
    targets = torch.diag(clean.to(evidence_matrix.dtype))
    per_row = (edl_terms(evidence_matrix + 1, targets, lambda2)
               + edl_terms(evidence_matrix.T + 1, targets, lambda2))
    return {"edl_loss": per_row.mean()}


def rdh_negatives(step: int, batch_size: int, eta: float = 0.025, mu: int = 5) -> int:
    """The annealed number of negatives ``K = max(floor(B - eta * step), mu)`` (``step`` counts from 1)."""
    return max(int(math.floor(batch_size - eta * step)), mu)


def rdh_loss(scores: Tensor, clean: Tensor, k: int, *, margin: float = 0.2,
             lambda1: float = 0.8) -> dict[str, Tensor]:
    """DECL's robust dynamic hinge: ``lambda1 * sum_{i clean} (topK_j c^s_ij + topK_j c^im_ji) / K``.

    ``c^s_ij = [m + S_ij - S_ii]_+`` and ``c^im_ji = [m + S_ji - S_ii]_+`` (diagonals zeroed), so each
    clean pair pays the mean of its K largest violations in each direction. DECL applies it to
    ``tanh(z)``. A batch shorter than ``K`` uses ``K = B - 1`` (as the official code does). The result is a
    sum over clean pairs, not a mean, and is 0 when no pair is clean.
    """
    b = check_square(scores, "rdh_loss")
    if clean.shape != (b,):
        raise ValueError(f"clean flags {tuple(clean.shape)} do not match the batch of {b}")
    if k < 1:
        raise ValueError(f"the number of negatives must be >= 1, got {k}")
    if k > b:
        k = max(b - 1, 1)
    diag = scores.diagonal()
    eye = torch.eye(b, dtype=torch.bool, device=scores.device)
    row = (margin + scores - diag[:, None]).clamp(min=0).masked_fill(eye, 0.0)  # image i vs captions j
    col = (margin + scores - diag[None, :]).clamp(min=0).masked_fill(eye, 0.0)  # caption j vs images i
    per_sample = (row.topk(k, dim=1).values.sum(dim=1) + col.topk(k, dim=0).values.sum(dim=0)) / k
    return {"rdh_loss": lambda1 * (per_sample * clean.to(per_sample.dtype)).sum()}


# ---------------------------------------------------------------------------------------------- RCL
def _complementary(p: Tensor, h: str, q: float, eps: float) -> Tensor:
    if h == "log":
        return -torch.log(1 - p + eps)
    if h == "tan":
        return torch.tan(p)
    if h == "abs":
        return p
    if h == "exp":
        return torch.exp(-(1 - p))
    if h == "gce":
        return (1 - (1 - p + eps) ** q) / q
    raise ValueError(f"unknown complementary loss h={h!r} (expected one of {', '.join(CCL_VARIANTS)})")


def ccl_loss(scores: Tensor, *, tau: float = 0.05, h: str = "log", q: float = 0.2, margin: float = 0.2,
             negatives: Tensor | None = None, eps: float = 1e-10) -> dict[str, Tensor]:
    """RCL's complementary contrastive loss ``mean_i sum_{j != i} h(p^{i2t}_ij) + (same for t2i)``.

    ``p^{i2t} = softmax_j(S_ij / tau)`` (rows of ``scores``), ``p^{t2i}`` the same on ``S^T``. Every
    off-diagonal j is a complementary label ("i does not match j"), so the loss only pushes the non-matching
    probabilities down and never trusts a (possibly wrong) positive:

    * ``log`` (default): ``-log(1 - p + eps)``; ``tan``: ``tan p``; ``abs``: ``p``; ``exp``: ``e^{-(1-p)}``;
      ``gce``: ``(1 - (1 - p + eps)^q) / q``;
    * reference losses of the same code: ``infonce`` = ``-mean_i log p_ii`` per direction (summed over the
      two directions), ``max_margin`` = the hardest-negative triplet loss with ``margin`` (summed).

    Args:
        scores: ``[B, B]`` similarities.
        negatives: optional ``[B, B]`` 0/1 mask of the negatives used per row (RCL's ``--ratio``); default all
            off-diagonal entries. The same mask is applied to both directions, as in the official code.
    """
    b = check_square(scores, "ccl_loss")
    if h == "max_margin":
        return {"ccl_loss": triplet_loss(scores, margin, reduction="sum")["triplet_loss"]}
    log_i2t = torch.log_softmax(scores / tau, dim=1)
    log_t2i = torch.log_softmax(scores.T / tau, dim=1)
    if h == "infonce":
        return {"ccl_loss": -(log_i2t.diagonal().mean() + log_t2i.diagonal().mean())}
    if negatives is None:
        negatives = 1.0 - torch.eye(b, dtype=scores.dtype, device=scores.device)
    elif negatives.shape != scores.shape:
        raise ValueError(f"negatives mask {tuple(negatives.shape)} does not match scores "
                         f"{tuple(scores.shape)}")
    total = scores.new_zeros(())
    for log_p in (log_i2t, log_t2i):
        total = total + (_complementary(log_p.exp(), h, q, eps) * negatives).sum(dim=1).mean()
    return {"ccl_loss": total}
