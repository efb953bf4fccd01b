r"""Entropic optimal transport (balanced), batched, log domain by default.

Solves, for each problem of the batch,

.. math::

    \min_{\pi \ge 0} \; \langle \pi, C \rangle - \varepsilon H(\pi)
    \quad \text{s.t.} \quad \pi 1_m = a, \; \pi^\top 1_n = b, \; \pi_{ij} = 0 \text{ where } M_{ij} = 0,

with :math:`H(\pi) = -\sum_{ij} \pi_{ij} (\log \pi_{ij} - 1)` (the ``- 1`` only shifts the objective by
``eps * sum(a)``). The solution is :math:`\pi_{ij} = \exp((f_i + g_j - C_{ij}) / \varepsilon)` on
allowed entries, found by Sinkhorn's alternate projections on the two marginals (Cuturi 2013).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from workbench.ot import _balanced
from workbench.ot._checks import Batch, check_balanced, check_numbers, check_options, prepare
from workbench.ot._numerics import NEG, needs_graph
from workbench.ot.accuracy import DEFAULT_RTOL, Accuracy, check_accuracy_args, enforce, relative_error

__all__ = ["SinkhornResult", "sinkhorn"]

Method = Literal["log", "kernel"]
Grad = Literal["detach", "autodiff"]
StopRule = Literal["marginal", "official"]


@dataclass(frozen=True)
class SinkhornResult:
    """Output of :func:`sinkhorn`. ``...`` is the batch shape of ``cost`` (empty for one problem).

    Attributes:
        plan: ``[..., n, m]`` the transport plan; exactly 0 where the mask forbids transport.
        f: ``[..., n]`` row dual potential in cost units (``-inf`` for rows of zero mass).
        g: ``[..., m]`` column dual potential in cost units.
        marginal_error: ``[...]`` ``sum_i |sum_j plan_ij - a_i|`` of the returned plan. Its column
            marginals are exact up to rounding, because the last update of an iteration is the column
            update, so this L1 row error is the whole violation.
        n_iter: iterations run (one iteration = a row update and a column update).
        converged: whether the stopping rule was met for every problem of the batch within
            ``max_iter`` (for ``stop_rule="official"`` that rule, not the marginal tolerance).
        relative_error: ``[...]`` ``marginal_error / sum(a)`` (:func:`workbench.ot.accuracy.relative_error`).
        inaccurate: ``[...]`` bool, ``relative_error > accuracy_rtol``: the plan is not a solution.
    """

    plan: Tensor
    f: Tensor
    g: Tensor
    marginal_error: Tensor
    n_iter: int
    converged: bool
    relative_error: Tensor
    inaccurate: Tensor


def grad_context(grad: str) -> contextlib.AbstractContextManager[None]:
    """``torch.no_grad()`` for ``grad="detach"``, nothing for ``"autodiff"``."""
    return torch.no_grad() if grad == "detach" else contextlib.nullcontext()


def log_kernel(batch: Batch, eps: float) -> Tensor:
    """``-cost / eps`` ``[B, n, m]``, plus :data:`~workbench.ot._numerics.NEG` where the mask forbids transport.

    ``exp`` of a masked entry is then flushed to exactly 0 (:func:`~workbench.ot._numerics.safe_exp`).
    """
    log_k = batch.cost / -eps
    log_mask = batch.log_mask()
    if log_mask is None:
        return log_k
    return log_k + log_mask if needs_graph(log_k) else log_k.add_(log_mask)


def solve_balanced(
    log_k: Tensor,
    a: Tensor,
    b: Tensor,
    *,
    eps: float,
    tol: float,
    max_iter: int,
    check_every: int,
    method: str,
    stop_rule: str,
) -> _balanced.BalancedSolution:
    """Dispatch to the log-domain or kernel iterations on a flat, validated batch."""
    solver = _balanced.log_domain if method == "log" else _balanced.kernel_domain
    return solver(
        log_k,
        a,
        b,
        eps=eps,
        tol=tol,
        max_iter=max_iter,
        check_every=check_every,
        official_stop=stop_rule == "official",
    )


def sinkhorn(
    cost: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    eps: float,
    mask: Tensor | None = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    check_every: int = 10,
    method: Method = "log",
    grad: Grad = "detach",
    stop_rule: StopRule = "marginal",
    accuracy: Accuracy = "warn",
    accuracy_rtol: float = DEFAULT_RTOL,
) -> SinkhornResult:
    """Entropic OT plan between ``a`` and ``b`` for ``cost`` (see the module docstring for the maths).

    Args:
        cost: ``[n, m]`` or ``[B, n, m]`` (any leading batch dims), float32 or float64. Must be finite
            where ``mask`` allows transport; masked entries are ignored (may be inf or nan).
        a: row masses ``[n]`` or ``[B, n]``; default uniform ``1/n``. ``b``: column masses, likewise
            (default ``1/m``). Each problem needs ``sum(a) == sum(b)``.
        eps: entropic regularisation (the paper's lambda), in cost units, > 0.
        mask: bool ``[n, m]`` or ``[B, n, m]``, True where transport is ALLOWED (the paper's M, Eq. 8);
            the plan is exactly 0 where it is False.
        tol: stop when the L1 row-marginal error (see :class:`SinkhornResult`) is <= ``tol`` for every
            problem. Absolute, in mass units. ``tol=0`` runs exactly ``max_iter`` iterations.
        max_iter: iteration cap. check_every: iterations between convergence checks (the first check
            is after iteration 1).
        method: ``"log"`` (default) iterates the potentials in the log domain: stable for any
            ``cost / eps``. ``"kernel"`` is the classical ``u, v`` scaling of ``K = exp(-C / eps)``:
            fine while ``C / eps`` stays below ~65 in float32 (~530 in float64); beyond that entries of
            ``K`` underflow (are flushed to 0), the plan loses them, and once a whole row or column is
            gone the result is nan with ``converged=False`` (e.g. costs >= 5 at eps = 0.05).
        grad: ``"detach"`` builds no graph (iterations run under ``torch.no_grad``; the result is
            detached). ``"autodiff"`` backpropagates through the unrolled iterations to ``cost``, ``a``
            and ``b`` (memory grows with the iteration count).
        stop_rule: ``"marginal"`` (default) as above. ``"official"`` reproduces the L2RM reference
            code: stop once ``||f_t - f_{t-1}||_2 < 1e-3`` (absolute, cost units), checked after every
            iteration; ``tol`` and ``check_every`` are then unused. That rule stops early (14-23
            iterations on the L2RM problem, before the marginals are met): read ``marginal_error``.
        accuracy: what to do when a plan's row marginals are off by more than ``accuracy_rtol`` of the
            total mass (:mod:`workbench.ot.accuracy`): ``"warn"`` (default,
            :class:`~workbench.ot.accuracy.OTAccuracyWarning`), ``"raise"``
            (:class:`~workbench.ot.accuracy.OTAccuracyError`) or ``"ignore"`` (read ``inaccurate``).

    Returns:
        A :class:`SinkhornResult`; dtype and device are those of ``cost``.

    Raises:
        ConfigError: bad shapes or dtypes, non-finite allowed costs, negative marginals, unequal totals,
            a mask that leaves some mass nowhere to go, or out-of-range parameters.
        OTAccuracyError: with ``accuracy="raise"``, a plan off its marginals.

    Notes:
        float32 is the intended dtype. Plans are finite for any ``cost / eps``, and the marginals
        converge to float32 precision (errors ~1e-7, below the default ``tol``) wherever Sinkhorn
        converges in float64, in as many iterations. What float32 costs is the accuracy of the plan
        itself: ``-C / eps`` is rounded to ~6e-8 relative, so an entry is off by about
        ``6e-8 * |C_ij| / eps`` relative (1e-5 at ``C / eps = 100``). Keep ``max C / eps <= 1e3``,
        i.e. scale ``eps`` with the costs (costs up to 1e3 want ``eps >= 1``). Sinkhorn needs more
        iterations as ``eps`` shrinks in any dtype: raise ``max_iter`` at ``eps / max C ~ 1e-3``.
    """
    check_options(
        "sinkhorn",
        method=(method, ("log", "kernel")),
        grad=(grad, ("detach", "autodiff")),
        stop_rule=(stop_rule, ("marginal", "official")),
    )
    check_numbers("sinkhorn", eps=eps, tol=tol, max_iter=max_iter, check_every=check_every)
    check_accuracy_args("sinkhorn", accuracy, accuracy_rtol)
    batch = prepare(cost, a, b, mask, caller="sinkhorn")
    check_balanced(batch, caller="sinkhorn")
    with grad_context(grad):
        solution = solve_balanced(
            log_kernel(batch, eps),
            batch.a,
            batch.b,
            eps=eps,
            tol=tol,
            max_iter=max_iter,
            check_every=check_every,
            method=method,
            stop_rule=stop_rule,
        )
    result = _result(batch, solution, eps, accuracy_rtol)
    enforce("sinkhorn", result.inaccurate, result.relative_error, eps=eps, rtol=accuracy_rtol, accuracy=accuracy)
    return result


def potentials(alpha: Tensor, eps: float) -> Tensor:
    """Scaled log-potential to cost units, with the ``log 0`` stand-in shown as ``-inf``."""
    return torch.where(alpha <= NEG / 2, torch.full_like(alpha, -torch.inf), alpha * eps)


def _result(batch: Batch, solution: _balanced.BalancedSolution, eps: float, rtol: float) -> SinkhornResult:
    error = relative_error(solution.error, batch.a.sum(dim=1))
    return SinkhornResult(
        plan=batch.unflatten(solution.plan),  # masked entries are exactly 0 by construction
        f=batch.unflatten(potentials(solution.alpha, eps)),
        g=batch.unflatten(potentials(solution.beta, eps)),
        marginal_error=batch.unflatten(solution.error),
        n_iter=solution.n_iter,
        converged=solution.converged,
        relative_error=batch.unflatten(error),
        inaccurate=batch.unflatten(error > rtol),
    )
