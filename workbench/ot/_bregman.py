"""Entropic partial OT by iterated Bregman projections (Benamou et al. 2015), log domain, batched.

Problem (POT's ``ot.partial.entropic_partial_wasserstein``): the KL projection of the Gibbs kernel
``K = exp(-C / eps)`` onto ``{pi 1 <= a} ∩ {pi^T 1 <= b} ∩ {1^T pi 1 = rho}``, i.e.

    min <pi, C> + eps * sum pi (log pi - 1)   s.t.   pi 1 <= a,  pi^T 1 <= b,  sum(pi) = rho.

The solution is ``pi = exp(log_k + alpha[:, None] + beta[None, :] + eta)`` with ``alpha, beta <= 0``
(multipliers of the inequality constraints, divided by eps) and a scalar ``eta`` for the mass.
Dykstra's algorithm on these three sets, which POT runs multiplicatively, is block-coordinate ascent on
the dual; each block has a closed form (the dual is separable per row, so clipping at 0 is exact):

    alpha <- min(0, log a - eta - LSE_j(log_k + beta))
    beta  <- min(0, log b - eta - LSE_i(log_k + alpha))
    eta   <- log rho - LSE_ij(log_k + alpha + beta).

As in :mod:`workbench.ot._balanced`, the iterations run as scalings ``(u, v, w)`` of an absorbed kernel
``K0 = exp(log_k + alpha0 + beta0 + eta0)``, absorbed only when they drift out of range; the clip at 0
becomes a cap, ``u <= exp(-alpha0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.ot._balanced import divide, drift
from workbench.ot._numerics import NEG, absorb_level, add, logsumexp, needs_graph, safe_exp, safe_log

__all__ = ["BregmanSolution", "bregman"]


@dataclass(frozen=True)
class BregmanSolution:
    """Raw output on the flat batch (see :class:`workbench.ot.PartialOTResult`)."""

    plan: Tensor  # [B, n, m]
    error: Tensor  # [B]
    n_iter: int
    converged: bool


def _lse_iterations(log_k, alpha, beta, eta, log_a, log_b, log_mass, steps: int, rows=None):
    """``steps`` dual-ascent iterations with logsumexp; ``rows = LSE_j(log_k + beta)`` if already known."""
    for _ in range(steps):
        if rows is None:
            rows = logsumexp(log_k + beta[:, None, :], dim=2)  # [B, n] LSE_j(log_k + beta)
        alpha = (log_a - eta[:, None] - rows).clamp_max(0.0)
        cols = logsumexp(log_k + alpha[:, :, None], dim=1)  # [B, m] LSE_i(log_k + alpha)
        beta = (log_b - eta[:, None] - cols).clamp_max(0.0)
        eta = log_mass - logsumexp(beta + cols, dim=1)
        rows = None
    return alpha, beta, eta


def _absorb(log_k: Tensor, alpha: Tensor, beta: Tensor, eta: Tensor):
    """Kernel for ``(alpha, beta, eta)``, unit scalings ``u, v, w`` and the marginals ``K0 v``, ``K0^T u``."""
    kernel = safe_exp(add(log_k, alpha[:, :, None], beta[:, None, :], eta[:, None, None]), overwrite=True)
    u, v = torch.ones_like(alpha[:, None, :]), torch.ones_like(beta[:, None, :])
    w = torch.ones_like(eta[:, None, None])
    return kernel, u, v, w, kernel.sum(dim=2)[:, None, :], kernel.sum(dim=1)[:, None, :]


def _residual(rows: Tensor, cols: Tensor, cap_u: Tensor, cap_v: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """KKT residual ``[B]``: how far the next row and column steps would move the marginals.

    The next row step maps the row sums ``r`` to ``min(a, r * exp(-alpha))`` (``alpha`` the full row
    potential, ``exp(-alpha) = cap_u``), which equals ``r`` exactly at the optimum: ``r <= a``, and
    ``r = a`` wherever the multiplier ``alpha < 0``. Likewise for columns; the mass constraint holds
    exactly after the last (mass) update. Inputs are row vectors ``[B, 1, n]``.
    """
    next_rows = torch.minimum(a, torch.where(rows > 0, rows * cap_u, 0.0))
    next_cols = torch.minimum(b, torch.where(cols > 0, cols * cap_v, 0.0))
    return ((next_rows - rows).abs().sum(dim=2) + (next_cols - cols).abs().sum(dim=2)).squeeze(1)


def bregman(
    log_k: Tensor, a: Tensor, b: Tensor, mass: Tensor, *, tol: float, max_iter: int, check_every: int
) -> BregmanSolution:
    """Solve the Bregman-projection partial OT on ``log_k`` ``[B, n, m]``; ``mass`` ``[B]`` > 0.

    ``marginal_error`` is the KKT residual of :func:`_residual`, checked before the first iteration
    (``n_iter = 0`` when ``rho K / sum(K)`` already satisfies the inequality constraints), after it,
    and then every ``check_every`` iterations; it is 0 exactly at the solution.
    """
    log_a, log_b, log_mass = safe_log(a), safe_log(b), torch.log(mass)
    zero_mass = bool((a == 0).any() or (b == 0).any())
    a_row, b_row, mass_ = a[:, None, :], b[:, None, :], mass[:, None, None]
    level = absorb_level(log_k.dtype)
    # Start on the mass constraint, pi = rho K / sum(K), as POT does. When the inequality constraints
    # are inactive there, as for L2RM's small rho, that is the solution: return it after one exp.
    top = log_k.detach().amax(dim=(1, 2), keepdim=True)
    initial = safe_exp(log_k - top, overwrite=True)  # entries flushed here are < 1e-28 of the total
    scale = mass_ / initial.sum(dim=(1, 2), keepdim=True)
    with torch.no_grad():
        rows, cols = initial.sum(dim=2)[:, None, :] * scale, initial.sum(dim=1)[:, None, :] * scale
        error = _residual(rows, cols, torch.ones_like(a_row), torch.ones_like(b_row), a_row, b_row)
    if float(error.max()) <= tol:
        plan = initial * scale if needs_graph(initial, scale) else initial.mul_(scale)
        return BregmanSolution(plan, error, 0, True)
    alpha, beta = torch.zeros_like(a), torch.zeros_like(b)
    rows = logsumexp(log_k, dim=2)
    eta = log_mass - logsumexp(rows, dim=1)
    alpha, beta, eta = _lse_iterations(log_k, alpha, beta, eta, log_a, log_b, log_mass, 1, rows=rows)
    kernel, u, v, w, kv, ktu = _absorb(log_k, alpha, beta, eta)
    cap_u, cap_v = torch.exp(-alpha)[:, None, :], torch.exp(-beta)[:, None, :]  # may be inf: no cap
    n_iter, converged = 1, False
    while True:
        if n_iter % check_every == 0 or n_iter == 1 or n_iter >= max_iter:
            with torch.no_grad():
                error = _residual(w * u * kv, w * v * ktu, cap_u / u, cap_v / v, a_row, b_row)
            if float(error.max()) <= tol or n_iter >= max_iter:
                converged = float(error.max()) <= tol
                break
        steps = min(check_every - n_iter % check_every, max_iter - n_iter)
        start = (u, v, w)
        kernel_t = kernel.transpose(1, 2)
        for _ in range(steps):
            u = torch.minimum(cap_u, divide(a_row, w * kv, zero_mass))
            ktu = torch.bmm(u, kernel)
            v = torch.minimum(cap_v, divide(b_row, w * ktu, zero_mass))
            w = mass_ / (v * ktu).sum(dim=2, keepdim=True)
            kv = torch.bmm(v, kernel_t)
        n_iter += steps
        far = drift((u, a_row), (v, b_row), (w, mass_), zero_mass=zero_mass)
        if far > 2 * level:  # the kernel could not represent this block: redo it in the log domain
            alpha, beta, eta = _lse_iterations(
                log_k,
                alpha + safe_log(start[0].squeeze(1)),
                beta + safe_log(start[1].squeeze(1)),
                eta + torch.log(start[2].reshape(-1)),
                log_a,
                log_b,
                log_mass,
                steps,
            )
        elif far > level:
            alpha = (alpha + safe_log(u.squeeze(1))).clamp(NEG, 0.0)
            beta = (beta + safe_log(v.squeeze(1))).clamp(NEG, 0.0)
            eta = eta + torch.log(w.reshape(-1))
        else:
            continue
        kernel, u, v, w, kv, ktu = _absorb(log_k, alpha, beta, eta)
        cap_u, cap_v = torch.exp(-alpha)[:, None, :], torch.exp(-beta)[:, None, :]
    plan = w * u.transpose(1, 2) * kernel * v
    return BregmanSolution(plan, error, n_iter, converged)
