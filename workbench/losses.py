"""Losses on a batch similarity matrix; each returns a dict of named terms (keys end in ``_loss``).

Conventions: ``scores`` is ``[n_img, n_cap]`` with rows = images and columns = captions; in a training batch
the positive of image i is caption i (the diagonal). Callers sum the ``*_loss`` values and log every term.

* :func:`triplet_loss` — hinge with the hardest negative (VSE++, Eq. 2), margin 0.2, summed over the batch by
  default as in the official code (``reduction="mean"`` divides by the batch size).
* :func:`triplet_all_loss` — the sum over all violating negatives (VSE0), a gentler warm-up.
* :func:`per_sample_hinge` — NCR's per-pair mean hinge (the loss the mixture models split on, Eq. 4).
* :func:`infonce_loss`, :func:`rce_loss`, :func:`warmup_loss` — Eq. 3, Eq. 5 and L2RM's warm-up
  ``0.5 (CE_i2t + CE_t2i + RCE_i2t + RCE_t2i)``.
* :func:`rematch_loss` — Eq. 10 (symmetric KL to the refined alignment) and the Table 3 variants ``kl`` and
  ``infonce`` (soft cross-entropy).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "triplet_loss",
    "triplet_all_loss",
    "per_sample_hinge",
    "infonce_loss",
    "rce_loss",
    "warmup_loss",
    "rematch_loss",
    "total_loss",
    "check_square",
]


def check_square(scores: Tensor, name: str) -> int:
    """The batch size ``B`` of a ``[B, B]`` score matrix; ``ValueError`` naming ``name`` otherwise."""
    if scores.dim() != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"{name} needs a square [B, B] score matrix, got {tuple(scores.shape)}")
    return int(scores.shape[0])


def _reduce(per_sample: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'sum', 'mean' or 'none', got {reduction!r}")


def _violations(scores: Tensor, margin: float | Tensor) -> tuple[Tensor, Tensor]:
    """Hinge terms ``[m + S_ij - S_ii]_+`` (caption retrieval, per row i) and ``[m + S_ij - S_jj]_+``
    (image retrieval, per column j), each ``[B, B]`` with the diagonal set to 0.

    ``margin`` may be a scalar or a per-sample ``[B]`` tensor (soft margins, NCR/BiCro): entry
    ``[i, j]`` of the row term uses ``margin[i]``; of the column term ``margin[j]``.
    """
    diag = scores.diagonal()
    m = margin if isinstance(margin, Tensor) else torch.as_tensor(margin, dtype=scores.dtype,
                                                                   device=scores.device)
    m_row = m[:, None] if m.dim() == 1 else m
    m_col = m[None, :] if m.dim() == 1 else m
    cost_caption = (m_row + scores - diag[:, None]).clamp(min=0)
    cost_image = (m_col + scores - diag[None, :]).clamp(min=0)
    eye = torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    return cost_caption.masked_fill(eye, 0.0), cost_image.masked_fill(eye, 0.0)


def triplet_loss(scores: Tensor, margin: float | Tensor = 0.2, reduction: str = "sum") -> dict[str, Tensor]:
    """Hardest-negative triplet loss (Eq. 2): ``max_j [m + S_ij - S_ii]_+ + max_i [m + S_ij - S_jj]_+``."""
    check_square(scores, "triplet_loss")
    cost_caption, cost_image = _violations(scores, margin)
    per_sample = cost_caption.max(dim=1).values + cost_image.max(dim=0).values
    return {"triplet_loss": _reduce(per_sample, reduction)}


def triplet_all_loss(scores: Tensor, margin: float = 0.2, reduction: str = "sum") -> dict[str, Tensor]:
    """Sum of all hinge violations (VSE0); avoids the early collapse of hardest negatives from scratch."""
    check_square(scores, "triplet_all_loss")
    cost_caption, cost_image = _violations(scores, margin)
    per_sample = cost_caption.sum(dim=1) + cost_image.sum(dim=0)
    return {"triplet_all_loss": _reduce(per_sample, reduction)}


def per_sample_hinge(scores: Tensor, margin: float = 0.2) -> Tensor:
    """NCR's per-pair loss ``mean_j [m + S_kj - S_kk]_+ + mean_i [m + S_ik - S_kk]_+`` ``[B]``.

    The mean runs over all B entries (the zeroed diagonal included), as in the reference code; it depends
    on which pairs share the batch.
    """
    check_square(scores, "per_sample_hinge")
    cost_caption, cost_image = _violations(scores, margin)
    return cost_caption.mean(dim=1) + cost_image.mean(dim=0)


def _log_probs(scores: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """Row-softmax log-probabilities ``log p^{v2t}`` ``[n, m]`` and ``log p^{t2v}`` ``[m, n]``."""
    return torch.log_softmax(scores / tau, dim=1), torch.log_softmax(scores.T / tau, dim=1)


def infonce_loss(scores: Tensor, tau: float = 0.05) -> dict[str, Tensor]:
    """Cross-modal InfoNCE (Eq. 3), averaged over the batch: ``0.5 * (CE_i2t + CE_t2i)``."""
    check_square(scores, "infonce_loss")
    log_i2t, log_t2i = _log_probs(scores, tau)
    ce = -(log_i2t.diagonal().mean() + log_t2i.diagonal().mean())
    return {"infonce_loss": 0.5 * ce}


def rce_loss(scores: Tensor, tau: float = 0.05, epsilon: float = 1e-7) -> dict[str, Tensor]:
    """Reverse cross-entropy (Eq. 5): ``H(p, y)`` with the one-hot ``y`` bounded to ``[eps, 1 - eps]``.

    Per row: ``-sum_j p_ij log y_ij = -(1 - p_ii) log(eps) - p_ii log(1 - eps)``; averaged over rows and
    halved over the two directions. (The reference code adds 1e-7 inside the log, which is the same to
    within 1e-7.)
    """
    check_square(scores, "rce_loss")
    log_i2t, log_t2i = _log_probs(scores, tau)
    log_off, log_on = math.log(epsilon), math.log1p(-epsilon)
    total = scores.new_zeros(())
    for log_p in (log_i2t, log_t2i):
        p_diag = log_p.diagonal().exp()
        total = total - ((1 - p_diag) * log_off + p_diag * log_on).mean()
    return {"rce_loss": 0.5 * total}


#: warm-up losses whose gradient reaches few entries of the score matrix (the diagonal and hardest negatives)
SPARSE_WARMUP_LOSSES = frozenset({"triplet"})


def warmup_loss(scores: Tensor, kind: str, *, tau: float = 0.05, margin: float = 0.2,
                epsilon: float = 1e-7) -> dict[str, Tensor]:
    """L2RM's warm-up loss (Table 4): ``infonce_rce`` (paper), ``infonce``, ``triplet`` or ``triplet_all`` (all negatives)."""
    if kind == "infonce_rce":
        return {**infonce_loss(scores, tau), **rce_loss(scores, tau, epsilon)}
    if kind == "infonce":
        return infonce_loss(scores, tau)
    if kind == "triplet":
        return triplet_loss(scores, margin, reduction="sum")
    if kind == "triplet_all":
        return triplet_all_loss(scores, margin, reduction="sum")
    raise ValueError(f"unknown warm-up loss {kind!r}")


def _kl_rows(target: Tensor, log_target: Tensor, log_pred: Tensor) -> Tensor:
    """``sum_rows KL(target || pred) / n_rows`` (KLDivLoss with batchmean)."""
    return (target * (log_target - log_pred)).sum() / target.shape[0]


def rematch_loss(scores: Tensor, target_i2t: Tensor, target_t2i: Tensor, *, tau: float = 0.05,
                 kind: str = "sym_kl") -> dict[str, Tensor]:
    """Rematch loss against the refined alignment (Eq. 10) and its Table 3 variants.

    Args:
        scores: ``[n, m]`` trainable similarities of the rematching images (rows) and noisy captions.
        target_i2t: ``[n, m]`` row-normalised refined alignment (each row a distribution, entries > 0).
        target_t2i: ``[m, n]`` column-normalised refined alignment, transposed.
        tau: softmax temperature of the predictions ``p = softmax(S / tau)``.
        kind: ``"sym_kl"`` = ``0.5 [KL(T||p) + KL(p||T)]`` per direction, summed over the two directions and
            averaged over rows (the paper and the official code); ``"kl"`` = ``KL(T||p)`` only;
            ``"infonce"`` = soft cross-entropy ``-sum T log p``. With ``T`` detached, ``"kl"`` and ``"infonce"``
            differ by the constant ``sum T log T``: equal gradients, different logged values.
    """
    if target_i2t.shape != scores.shape or target_t2i.shape != scores.T.shape:
        raise ValueError(f"targets {tuple(target_i2t.shape)} / {tuple(target_t2i.shape)} do not match "
                         f"scores {tuple(scores.shape)}")
    log_i2t, log_t2i = _log_probs(scores, tau)
    total = scores.new_zeros(())
    for target, log_pred in ((target_i2t, log_i2t), (target_t2i, log_t2i)):
        target = target.detach()
        if kind == "infonce":
            total = total - (target * log_pred).sum() / target.shape[0]
            continue
        log_target = target.log()
        forward = _kl_rows(target, log_target, log_pred)
        if kind == "kl":
            total = total + forward
        elif kind == "sym_kl":
            reverse = _kl_rows(log_pred.exp(), log_pred, log_target)
            total = total + 0.5 * (forward + reverse)
        else:
            raise ValueError(f"unknown rematch loss {kind!r} (sym_kl, kl, infonce)")
    return {"rematch_loss": total}


def total_loss(terms: dict[str, Tensor], weights: dict[str, float] | None = None) -> Tensor:
    """``sum_k w_k * terms[k]`` over keys ending in ``_loss`` (weights default to 1)."""
    weights = weights or {}
    parts = [weights.get(k, 1.0) * v for k, v in terms.items() if k.endswith("_loss")]
    if not parts:
        raise ValueError("no '*_loss' terms to sum")
    return torch.stack(parts).sum()
