"""The balanced Sinkhorn iterations behind :func:`workbench.ot.sinkhorn` (flat batch ``[B, n, m]``).

Notation: ``log_k = -C / eps`` (:data:`~workbench.ot._numerics.NEG` where masked), scaled potentials
``alpha = f / eps`` ``[B, n]`` and ``beta = g / eps`` ``[B, m]``, plan
``P = exp(log_k + alpha[:, :, None] + beta[:, None, :])``. One iteration is a row update then a
column update:

    alpha <- log a - LSE_j(log_k + beta),    beta <- log b - LSE_i(log_k + alpha).

``log_domain`` computes exactly these iterates, but as scalings of an *absorbed* kernel (Schmitzer
2019, *Stabilized sparse scaling algorithms*, Alg. 2): the potentials are split as
``alpha = alpha0 + log u``, ``beta = beta0 + log v`` with ``K0 = exp(log_k + alpha0 + beta0)`` stored,
so an iteration is two batched matrix-vector products, ``u <- a / (K0 v)``, ``v <- b / (K0^T u)``,
instead of ``exp`` over the whole matrix. ``(u, v)`` are folded into ``(alpha0, beta0)`` ("absorbed")
only when one of them leaves ``exp(+-absorb_level)`` (~5e4 in float32): near convergence the scalings
stay close to 1, so the plan ``u K0 v`` is accurate to the float's relative precision instead of being
limited by the resolution of potentials of size ``C / eps``. A block whose scalings run far out of range
(a kernel row flushed to zero, only possible far from convergence) is recomputed with logsumexp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.ot._numerics import NEG, absorb_level, add, logsumexp, safe_exp, safe_log

__all__ = ["BalancedSolution", "OFFICIAL_TOL", "log_domain", "kernel_domain", "divide", "drift"]

#: Threshold of the reference code's stopping rule: ||f_t - f_{t-1}||_2 < 1e-3, in cost units.
OFFICIAL_TOL: float = 1e-3


@dataclass(frozen=True)
class BalancedSolution:
    """Raw solver output on the flat batch (see :class:`workbench.ot.SinkhornResult`)."""

    alpha: Tensor  # [B, n] f / eps
    beta: Tensor  # [B, m] g / eps
    plan: Tensor  # [B, n, m]
    error: Tensor  # [B] sum_i |P 1 - a|_i
    n_iter: int
    converged: bool


def divide(num: Tensor, den: Tensor, zero_mass: bool) -> Tensor:
    """``num / den``; with ``zero_mass``, ``0 / 0 = 0`` (rows of zero mass have all-zero kernel rows)."""
    return num / (den.clamp_min(torch.finfo(den.dtype).tiny) if zero_mass else den)


def drift(*pairs: tuple[Tensor, Tensor], zero_mass: bool) -> float:
    """``max |log s|`` over scalings ``s`` of positive mass, for ``(s, mass)`` pairs; inf if any is 0/inf/nan.

    Scalings of zero mass are exactly 0 (see :func:`divide`) and are skipped when ``zero_mass``.
    """
    with torch.no_grad():
        if zero_mass:
            logs = [torch.where(mass > 0, s.log().abs(), 0.0) for s, mass in pairs]
        else:
            logs = [s.log().abs() for s, _ in pairs]
        value = float(torch.cat([x.flatten() for x in logs]).amax())
    return math.inf if math.isnan(value) else value


def _lse_iterations(log_k: Tensor, alpha: Tensor, beta: Tensor, log_a: Tensor, log_b: Tensor, steps: int):
    for _ in range(steps):
        alpha = log_a - logsumexp(log_k + beta[:, None, :], dim=2)
        beta = log_b - logsumexp(log_k + alpha[:, :, None], dim=1)
    return alpha, beta


def _absorb(log_k: Tensor, alpha: Tensor, beta: Tensor):
    """Kernel ``K0`` for potentials ``(alpha, beta)``, unit scalings ``(u, v)`` and ``K0 v`` (row vectors)."""
    kernel = safe_exp(add(log_k, alpha[:, :, None], beta[:, None, :]), overwrite=True)
    u = torch.ones_like(alpha[:, None, :])
    v = torch.ones_like(beta[:, None, :])
    return kernel, u, v, kernel.sum(dim=2)[:, None, :]


def log_domain(
    log_k: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    eps: float,
    tol: float,
    max_iter: int,
    check_every: int,
    official_stop: bool,
) -> BalancedSolution:
    """Log-domain Sinkhorn on ``log_k`` ``[B, n, m]`` with marginals ``a`` ``[B, n]``, ``b`` ``[B, m]``.

    The first iteration is evaluated with logsumexp, so that the first absorbed kernel is already
    column-normalised. Checks run after the first iteration, then after every ``check_every``-th
    (every iteration with ``official_stop``) and at ``max_iter``; a check costs O(n) because ``K0 v``
    is at hand. Vectors are row vectors ``[B, 1, n]``: ``bmm`` of a row vector by a matrix is several
    times faster on CPU than of a matrix by a column vector.
    """
    log_a, log_b = safe_log(a), safe_log(b)
    zero_mass = bool((a == 0).any() or (b == 0).any())
    a_row, b_row = a[:, None, :], b[:, None, :]
    level = absorb_level(log_k.dtype)
    alpha, beta = _lse_iterations(log_k, torch.zeros_like(a), torch.zeros_like(b), log_a, log_b, 1)
    delta = alpha  # change of the row potential over the last iteration (it started at 0)
    kernel, u, v, kv = _absorb(log_k, alpha, beta)
    n_iter, every = 1, 1 if official_stop else check_every
    converged = False
    while True:
        if n_iter % every == 0 or n_iter == 1 or n_iter >= max_iter:
            with torch.no_grad():
                if official_stop:
                    stop = float((eps * delta).norm(dim=1).max()) < OFFICIAL_TOL
                else:
                    stop = float((u * kv - a_row).abs().sum(dim=2).max()) <= tol
            if stop or n_iter >= max_iter:
                converged = stop
                break
        steps = min(every - n_iter % every, max_iter - n_iter)
        start = (u, v)
        kernel_t = kernel.transpose(1, 2)
        for _ in range(steps):
            u_prev = u
            u = divide(a_row, kv, zero_mass)
            v = divide(b_row, torch.bmm(u, kernel), zero_mass)
            kv = torch.bmm(v, kernel_t)
        n_iter += steps
        if official_stop:
            delta = safe_log(u.squeeze(1)) - safe_log(u_prev.squeeze(1))
        far = drift((u, a_row), (v, b_row), zero_mass=zero_mass)
        if far > 2 * level:  # the kernel could not represent this block: redo it in the log domain
            alpha = alpha + safe_log(start[0].squeeze(1))
            alpha, beta = _lse_iterations(
                log_k, alpha, beta + safe_log(start[1].squeeze(1)), log_a, log_b, steps - 1
            )
            previous = alpha
            alpha, beta = _lse_iterations(log_k, alpha, beta, log_a, log_b, 1)
            delta = alpha - previous
            kernel, u, v, kv = _absorb(log_k, alpha, beta)
        elif far > level:
            alpha = (alpha + safe_log(u.squeeze(1))).clamp_min(NEG)
            beta = (beta + safe_log(v.squeeze(1))).clamp_min(NEG)
            kernel, u, v, kv = _absorb(log_k, alpha, beta)
    plan = u.transpose(1, 2) * kernel * v
    with torch.no_grad():
        error = (u * kv - a_row).abs().sum(dim=2).squeeze(1)
    alpha = (alpha + safe_log(u.squeeze(1))).clamp_min(NEG)
    beta = (beta + safe_log(v.squeeze(1))).clamp_min(NEG)
    return BalancedSolution(alpha, beta, plan, error, n_iter, converged)


def kernel_domain(
    log_k: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    eps: float,
    tol: float,
    max_iter: int,
    check_every: int,
    official_stop: bool,
) -> BalancedSolution:
    """Classical Sinkhorn-Knopp scaling ``u <- a / (K v)``, ``v <- b / (K^T u)`` on ``K = exp(log_k)``.

    ``K`` holds ``exp(-C_ij / eps)`` itself, so entries with ``C_ij / eps`` above ~65 (float32; ~530
    in float64, see :func:`~workbench.ot._numerics.flush_level`) are flushed to 0: the plan is wrong
    wherever they matter, and once a whole row or column is flushed the scalings become inf/nan and
    the result reports ``converged=False``. Stops early once the scalings are not finite.
    """
    kernel = safe_exp(log_k)
    kernel_t = kernel.transpose(1, 2)
    zero_mass = bool((a == 0).any() or (b == 0).any())
    a_row, b_row = a[:, None, :], b[:, None, :]
    u, v = torch.ones_like(a_row), torch.ones_like(b_row)
    n_iter, every = 0, 1 if official_stop else check_every
    converged = False
    while n_iter < max_iter:
        steps = min(every, max_iter - n_iter)
        for _ in range(steps):
            u_last = u
            u = divide(a_row, torch.bmm(v, kernel_t), zero_mass)
            v = divide(b_row, torch.bmm(u, kernel), zero_mass)
        n_iter += steps
        with torch.no_grad():
            if not (torch.isfinite(u).all() and torch.isfinite(v).all()):
                break
            if official_stop:
                delta = safe_log(u) - safe_log(u_last)
                stop = float((eps * delta).norm(dim=2).max()) < OFFICIAL_TOL
            else:
                rows = u * torch.bmm(v, kernel_t)
                stop = float((rows - a_row).abs().sum(dim=2).max()) <= tol
        if stop:
            converged = True
            break
    plan = u.transpose(1, 2) * kernel * v
    with torch.no_grad():
        error = (plan.sum(dim=2) - a).abs().sum(dim=1)
    return BalancedSolution(safe_log(u.squeeze(1)), safe_log(v.squeeze(1)), plan, error, n_iter, converged)
