r"""Entropic partial optimal transport: move exactly ``rho`` of the mass (L2RM Eq. 7), batched.

.. math::

    \min_{\pi \ge 0} \langle \pi, C \rangle - \varepsilon H(\pi)
    \quad \text{s.t.} \quad \pi 1_m \le a, \; \pi^\top 1_n \le b, \; 1_n^\top \pi 1_m = \rho,
    \; \pi_{ij} = 0 \text{ where } M_{ij} = 0.

Two formulations. They are *different problems* at finite ``eps``, because the dummy-point problem's
entropy also counts the dummy cells: on the L2RM problem their plans differ by about 8 % (eps = 0.07)
and 20 % (eps = 0.01) of the largest entry. Both tend to the exact partial plan (the LP, Chapel et al.
2020) as ``eps -> 0``.

``"dummy"`` (default; L2RM Appendix B, Eq. 12-14, and its code) adds a dummy row and column,

.. math::

    \hat C = \begin{bmatrix} C & \xi 1_n \\ \xi 1_m^\top & 2\xi + A \end{bmatrix}, \quad
    \hat p = [a; \|b\|_1 - \rho], \quad \hat q = [b; \|a\|_1 - \rho], \quad
    \hat M = \begin{bmatrix} M & 1 \\ 1^\top & 1 \end{bmatrix},

and solves balanced entropic OT on it (:func:`~workbench.ot.sinkhorn`). Mass a real row does not
transport goes to the dummy column and vice versa; the real block carries ``rho + corner`` where
``corner = extended_plan[..., n, m]``.

``"bregman"`` is POT's formulation (Benamou et al. 2015): iterated KL projections of
``exp(-C / eps)`` onto the three constraint sets, here in the log domain (POT's multiplicative version
returns nan below eps ~ 0.005, POT issue #723) and batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from workbench.errors import ConfigError
from workbench.ot import _bregman
from workbench.ot._checks import Batch, check_mass, check_numbers, check_options, prepare
from workbench.ot._numerics import NEG
from workbench.ot.accuracy import DEFAULT_RTOL, Accuracy, check_accuracy_args, enforce, relative_error
from workbench.ot.sinkhorn import grad_context, log_kernel, solve_balanced

__all__ = ["PartialOTResult", "partial_ot"]

Formulation = Literal["dummy", "bregman"]


@dataclass(frozen=True)
class PartialOTResult:
    """Output of :func:`partial_ot`. ``...`` is the batch shape of ``cost`` (empty for one problem).

    Attributes:
        plan: ``[..., n, m]`` the real block of the plan, exactly 0 where the mask forbids transport.
        dummy_row: ``[..., m]`` mass each real column leaves untransported (sends to the dummy row):
            ``b - plan.sum(-2)`` up to ``marginal_error``.
        dummy_col: ``[..., n]`` mass each real row leaves untransported: ``a - plan.sum(-1)``.
        transported_mass: ``[...]`` ``plan.sum((-2, -1))``. Equals ``mass`` for ``"bregman"``; for
            ``"dummy"`` it is ``mass + extended_plan[..., n, m]`` (the corner; see :func:`partial_ot`).
        marginal_error: ``[...]`` L1 constraint violation of the returned plan: for ``"dummy"`` the
            row-marginal error of the extended problem, for ``"bregman"`` the KKT residual of the row
            and column constraints (0 exactly at the solution).
        n_iter: iterations run. converged: the stopping rule was met for every problem.
        extended_plan: ``[..., n + 1, m + 1]`` for ``"dummy"`` (the dashboard shows the dummy row and
            column), None for ``"bregman"``.
        formulation: ``"dummy"`` or ``"bregman"``.
        relative_error: ``[...]`` the larger of ``marginal_error`` over the solved problem's total mass
            and ``|transported_mass - mass| / mass`` (:func:`workbench.ot.accuracy.relative_error`).
        inaccurate: ``[...]`` bool, ``relative_error > accuracy_rtol``: the plan is not a solution.
    """

    plan: Tensor
    dummy_row: Tensor
    dummy_col: Tensor
    transported_mass: Tensor
    marginal_error: Tensor
    n_iter: int
    converged: bool
    extended_plan: Tensor | None
    formulation: str
    relative_error: Tensor
    inaccurate: Tensor


def partial_ot(
    cost: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    mass: float | Tensor,
    eps: float,
    mask: Tensor | None = None,
    formulation: Formulation = "dummy",
    xi: float | None = None,
    A: float | Tensor | None = None,  # the paper's name for the corner offset
    tol: float = 1e-6,
    max_iter: int = 1000,
    check_every: int = 10,
    stop_rule: Literal["marginal", "official"] = "marginal",
    grad: Literal["detach", "autodiff"] = "detach",
    accuracy: Accuracy = "warn",
    accuracy_rtol: float = DEFAULT_RTOL,
) -> PartialOTResult:
    """Entropic partial OT plan moving ``mass`` between ``a`` and ``b`` (see the module docstring).

    Args:
        cost: ``[n, m]`` or ``[B, n, m]``, float32/float64, finite where ``mask`` allows transport.
        a, b: masses ``[n]`` / ``[B, n]`` and ``[m]`` / ``[B, m]``; default uniform ``1/n``, ``1/m``.
            Their totals may differ.
        mass: ``rho``, ``0 <= rho <= min(sum(a), sum(b))``; a float or a ``[B]`` tensor.
        eps: entropic regularisation (the paper's lambda), > 0.
        mask: bool, True where transport is ALLOWED (the paper's M, Eq. 8); e.g.
            :func:`~workbench.ot.diagonal_mask`. For ``"dummy"`` the dummy row and column are always
            allowed (Eq. 13).
        formulation: ``"dummy"`` or ``"bregman"``.
        xi: ``"dummy"`` only. None (default) solves with dummy costs 0 and corner ``A``. That is the
            same problem as any ``xi`` (adding a constant to a whole row or column of the cost is
            absorbed by the potentials, exact and entropic alike) but keeps the log-kernel at the scale
            of ``C / eps``. The reference value ``xi = 100 max C`` puts it at ~1e4 (eps = 0.01), and
            float32 rounding of those values perturbs the plan by ~3e-4 of its largest entry (1e-3 at
            eps = 0.001) against ~4e-6 with the default; a plain float32 log-domain loop does not even
            reach the marginals. Given a float, ``xi`` is used literally (fidelity experiments).
        A: ``"dummy"`` only: corner offset; default ``max C`` over the allowed entries of each problem,
            as in the reference code. The exact (LP) dummy problem leaves the corner empty as soon as
            ``A + C_ij > 0`` on the support (moving ``t`` through the corner costs ``t (A + C_ij)``
            more), so the paper's ``A > max C`` is sufficient, not necessary. The entropic solution
            always puts mass in the corner, ``corner * pi_ij / (pi_i,dummy * pi_dummy,j) =
            exp(-(A + C_ij) / eps)``, and the real block carries ``rho + corner``: negligible on L2RM's
            problem (``(A + min C) / eps >= 18``) but visible when ``eps`` is comparable to the costs.
            ``A=math.inf`` forbids the corner, and the real block carries exactly ``rho`` (convergence
            slows down as ``rho`` approaches 0 or the largest movable mass: no interior solution).
        tol, max_iter, check_every: convergence as in :func:`~workbench.ot.sinkhorn`.
        stop_rule: ``"marginal"``, or ``"official"`` (``"dummy"`` only) to reproduce the reference
            code's early stop, ``||f_t - f_{t-1}||_2 < 1e-3``. That rule watches the potentials, which
            depend on ``xi``: for the reference code's iterates, iteration for iteration, pass
            ``xi=100 * C.max()`` and ``A=C.max()`` too (at eps = 0.01 it stops after 16 iterations with
            them, 50 without; the marginals are then off by ~1e-2 either way).
        grad: ``"detach"`` or ``"autodiff"`` (gradients through the unrolled iterations to ``cost``,
            ``a``, ``b`` and a tensor ``mass``).
        accuracy: what to do when a plan misses its marginals or moves a mass off ``mass`` by more
            than ``accuracy_rtol`` (relative; :mod:`workbench.ot.accuracy`): ``"warn"`` (default),
            ``"raise"`` or ``"ignore"`` (read ``inaccurate``). At ``eps = 1e-4`` on costs in [0, 1],
            or with negative costs under ``"dummy"``, the plan moves 0 or all of the mass.

    Returns:
        A :class:`PartialOTResult` with dtype and device of ``cost``.

    Raises:
        ConfigError: bad shapes/dtypes/values; ``mass`` outside ``[0, min(sum(a), sum(b))]``; a mask
            under which ``mass`` cannot be moved (see :func:`workbench.ot._checks.flow_bound`).
        OTAccuracyError: with ``accuracy="raise"``, a plan off its constraints.
    """
    caller = "partial_ot"
    check_options(
        caller,
        formulation=(formulation, ("dummy", "bregman")),
        grad=(grad, ("detach", "autodiff")),
        stop_rule=(stop_rule, ("marginal", "official")),
    )
    check_numbers(caller, eps=eps, tol=tol, max_iter=max_iter, check_every=check_every)
    check_accuracy_args(caller, accuracy, accuracy_rtol)
    if formulation == "bregman" and (xi is not None or A is not None or stop_rule == "official"):
        raise ConfigError(f"{caller}: xi, A and stop_rule='official' belong to formulation='dummy'")
    if xi is not None and not (isinstance(xi, (int, float)) and math.isfinite(xi) and xi >= 0):
        raise ConfigError(f"{caller}: xi={xi!r}; expected None or a finite float >= 0")
    batch = prepare(cost, a, b, mask, caller=caller)
    rho = check_mass(batch, mass, caller=caller)
    with grad_context(grad):
        if formulation == "dummy":
            result = _dummy(
                batch,
                rho,
                eps,
                xi,
                A,
                tol=tol,
                max_iter=max_iter,
                check_every=check_every,
                stop_rule=stop_rule,
                rtol=accuracy_rtol,
            )
        else:
            result = _bregman_result(
                batch, rho, eps, tol=tol, max_iter=max_iter, check_every=check_every, rtol=accuracy_rtol
            )
    enforce(caller, result.inaccurate, result.relative_error, eps=eps, rtol=accuracy_rtol, accuracy=accuracy)
    return result


def _corner(batch: Batch, A: float | Tensor | None) -> Tensor:
    """The corner offset ``A`` per problem ``[B]``."""
    if A is None:
        log_mask = batch.log_mask()
        allowed = batch.cost if log_mask is None else batch.cost + log_mask  # masked entries -> ~NEG
        corner = allowed.amax(dim=(1, 2))
        # A problem with no allowed entry can only move rho = 0; any finite A then does.
        return torch.where(corner > NEG / 2, corner, torch.zeros_like(corner))
    corner = torch.as_tensor(A, dtype=batch.cost.dtype, device=batch.cost.device)
    try:
        corner = corner.expand(batch.batch_shape).reshape(-1)
    except RuntimeError:
        raise ConfigError(
            f"partial_ot: A has shape {list(corner.shape)}; expected a float or {list(batch.batch_shape)}"
        ) from None
    if torch.isnan(corner).any() or (corner == -math.inf).any():
        raise ConfigError("partial_ot: A must be a real number or +inf")
    return corner


def _extended_problem(
    batch: Batch, rho: Tensor, eps: float, xi: float | None, A: float | Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """The dummy-point problem (Eq. 12-14): ``log_k`` ``[B, n+1, m+1]``, ``p`` ``[B, n+1]``, ``q`` ``[B, m+1]``."""
    size, n, m = batch.cost.shape
    shift = 0.0 if xi is None else xi
    corner = _corner(batch, A)
    log_k = batch.cost.new_full((size, n + 1, m + 1), -shift / eps)  # dummy row and column
    log_k[:, :n, :m] = log_kernel(batch, eps)
    log_k[:, n, m] = torch.where(
        torch.isinf(corner), torch.full_like(corner, NEG), -(2.0 * shift + corner) / eps
    )
    p = torch.cat([batch.a, (batch.b.sum(dim=1) - rho).clamp_min(0.0)[:, None]], dim=1)
    q = torch.cat([batch.b, (batch.a.sum(dim=1) - rho).clamp_min(0.0)[:, None]], dim=1)
    return log_k, p, q


def _dummy(
    batch: Batch,
    rho: Tensor,
    eps: float,
    xi: float | None,
    A: float | Tensor | None,
    *,
    tol: float,
    max_iter: int,
    check_every: int,
    stop_rule: str,
    rtol: float,
) -> PartialOTResult:
    n, m = batch.cost.shape[1:]
    log_k, p, q = _extended_problem(batch, rho, eps, xi, A)
    solution = solve_balanced(
        log_k,
        p,
        q,
        eps=eps,
        tol=tol,
        max_iter=max_iter,
        check_every=check_every,
        method="log",
        stop_rule=stop_rule,
    )
    extended = solution.plan  # masked entries are exactly 0 by construction
    plan = extended[:, :n, :m]
    transported = plan.sum(dim=(1, 2))
    error = relative_error(solution.error, p.sum(dim=1), transported, rho)
    return PartialOTResult(
        plan=batch.unflatten(plan),
        dummy_row=batch.unflatten(extended[:, n, :m]),
        dummy_col=batch.unflatten(extended[:, :n, m]),
        transported_mass=batch.unflatten(transported),
        marginal_error=batch.unflatten(solution.error),
        n_iter=solution.n_iter,
        converged=solution.converged,
        extended_plan=batch.unflatten(extended),
        formulation="dummy",
        relative_error=batch.unflatten(error),
        inaccurate=batch.unflatten(error > rtol),
    )


def _solve_bregman(
    batch: Batch, rho: Tensor, eps: float, *, tol: float, max_iter: int, check_every: int
) -> _bregman.BregmanSolution:
    """Run :func:`~workbench.ot._bregman.bregman` on the problems with ``rho > 0``; the others move nothing."""
    busy = rho > 0
    if bool(busy.all()):
        log_k = log_kernel(batch, eps)
        return _bregman.bregman(
            log_k, batch.a, batch.b, rho, tol=tol, max_iter=max_iter, check_every=check_every
        )
    plan, error = torch.zeros_like(batch.cost), torch.zeros_like(rho)
    if not bool(busy.any()):
        return _bregman.BregmanSolution(plan, error, 0, True)
    index = busy.nonzero().squeeze(1)
    sub = Batch(
        batch.cost[busy], batch.a[busy], batch.b[busy], batch.mask_for(busy), torch.Size([len(index)])
    )
    inner = _solve_bregman(sub, rho[busy], eps, tol=tol, max_iter=max_iter, check_every=check_every)
    plan = plan.index_put((index,), inner.plan)
    error = error.index_put((index,), inner.error)
    return _bregman.BregmanSolution(plan, error, inner.n_iter, inner.converged)


def _bregman_result(
    batch: Batch, rho: Tensor, eps: float, *, tol: float, max_iter: int, check_every: int, rtol: float
) -> PartialOTResult:
    solution = _solve_bregman(batch, rho, eps, tol=tol, max_iter=max_iter, check_every=check_every)
    plan = solution.plan  # masked entries are exactly 0 by construction
    transported = plan.sum(dim=(1, 2))
    total = batch.a.sum(dim=1) + batch.b.sum(dim=1)
    error = relative_error(solution.error, total, transported, rho)
    return PartialOTResult(
        plan=batch.unflatten(plan),
        dummy_row=batch.unflatten(batch.b - plan.sum(dim=1)),
        dummy_col=batch.unflatten(batch.a - plan.sum(dim=2)),
        transported_mass=batch.unflatten(transported),
        marginal_error=batch.unflatten(solution.error),
        n_iter=solution.n_iter,
        converged=solution.converged,
        extended_plan=None,
        formulation="bregman",
        relative_error=batch.unflatten(error),
        inaccurate=batch.unflatten(error > rtol),
    )
