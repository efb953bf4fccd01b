"""Benchmark of the partial-OT solvers on L2RM's rematching problem, side by side with POT.

The problem (L2RM code, spec 4.5): ``n x n`` cost ``C = max(1 - S, 0)`` with ``S ~ U[-0.2, 0.9]``,
uniform marginals, transported mass ``rho = 0.1``, diagonal mask, at ``eps`` 0.07 (COCO, CC152K) and
0.01 (Flickr30K). Every solver runs to an L1 marginal error of at most ``tol``:

* ``ours_single_ms`` / ``ours_batched_ms_per_problem``: :func:`workbench.ot.partial_ot` (dummy point,
  float32) on one problem and on ``batch`` problems at once (time per problem);
* ``pot_ms``: POT's ``ot.sinkhorn(method="sinkhorn_log")`` on the same extended problem (float64
  numpy; masked entries at a huge cost), with ``stopThr = tol / sqrt(m + 1)`` because POT measures
  the L2 norm of its column error (L1 <= sqrt(m + 1) L2);
* ``bregman_batched_ms_per_problem`` and ``pot_partial_ms``: the Bregman formulation, ours batched and
  POT's ``ot.partial.entropic_partial_wasserstein`` (masked entries at ``max C + 40 eps``, since its
  multiplicative updates turn ``exp(-huge)`` into 0/0);
* ``numpy_log_ms``: :func:`numpy_log_partial`, a plain numpy log-domain loop written like the reference
  code (float64, ``xi = 100 max C``) but stopped on the marginal error.

Threads: torch runs with ``threads`` intra-op threads (1 by default). POT's partial solver multiplies
matrices through numpy's BLAS, whose thread count is fixed when numpy loads: on a shared 2-core machine
two BLAS threads made it ~50x slower (40 ms instead of 0.6-0.9 ms), so for a fair comparison start the
process with ``OPENBLAS_NUM_THREADS=1`` (``benchmarks/bench_ot.py`` does). The JSON records the setting.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from workbench.bench import median_ms, require
from workbench.errors import ConfigError
from workbench.ot import diagonal_mask, partial_ot

__all__ = ["l2rm_costs", "numpy_log_partial", "run_ot_benchmark"]


def l2rm_costs(n: int, batch: int, seed: int = 0) -> torch.Tensor:
    """``[batch, n, n]`` float32 costs ``max(1 - S, 0)``, ``S ~ U[-0.2, 0.9]`` (the reference measurements)."""
    generator = torch.Generator().manual_seed(seed)
    similarity = torch.rand(batch, n, n, generator=generator) * 1.1 - 0.2
    return (1.0 - similarity).clamp_min(0.0)


def _extended(
    cost: np.ndarray, rho: float, xi: float, masked_cost: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eq. 12-14 for uniform marginals and a diagonal mask: ``(C_hat, p_hat, q_hat)``."""
    n, m = cost.shape
    extended = np.full((n + 1, m + 1), xi)
    extended[:n, :m] = cost
    np.fill_diagonal(extended[:n, :m], masked_cost)
    extended[n, m] = 2 * xi + cost[~np.eye(n, m, dtype=bool)].max()
    p = np.r_[np.full(n, 1.0 / n), 1.0 - rho]
    q = np.r_[np.full(m, 1.0 / m), 1.0 - rho]
    return extended, p, q


def numpy_log_partial(
    cost: np.ndarray, rho: float, reg: float, *, tol: float = 1e-6, max_iter: int = 1000
) -> tuple[np.ndarray, int, float]:
    """The reference code's log-domain partial solve in plain numpy, stopped on the marginal error.

    Like ``sinkhorn_log_domain`` of the L2RM code: ``xi = 100 max C``, potentials ``u, v`` in cost
    units, ``M = (-C_hat + u + v) / reg`` with masked entries set to -1e6 after the division, a
    max-shifted logsumexp, ``u`` updated before ``v``. Stops when the L1 row error is <= ``tol``
    (checked every 10 iterations). Returns the real block of the plan, iterations and the error.
    """
    n, m = cost.shape
    extended, p, q = _extended(cost, rho, 100.0 * cost.max(), 0.0)
    allowed = np.ones_like(extended, dtype=bool)
    np.fill_diagonal(allowed[:n, :m], False)

    def scaled(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.where(allowed, (-extended + u[:, None] + v[None, :]) / reg, -1e6)

    def lse(x: np.ndarray, axis: int) -> np.ndarray:
        top = x.max(axis=axis, keepdims=True)
        return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)

    u, v = np.zeros(n + 1), np.zeros(m + 1)
    error = math.inf
    for iteration in range(1, max_iter + 1):
        u = reg * (np.log(p) - lse(scaled(u, v), 1)) + u
        v = reg * (np.log(q) - lse(scaled(u, v), 0)) + v
        if iteration % 10 == 0:
            error = float(np.abs(np.exp(scaled(u, v)).sum(1) - p).sum())
            if error <= tol:
                break
    return np.exp(scaled(u, v))[:n, :m], iteration, error


def _pot_marginal_error(plan: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    return float(np.abs(plan.sum(1) - p).sum() + np.abs(plan.sum(0) - q).sum())


def _one_eps(
    ot: Any,
    costs: torch.Tensor,
    mask: torch.Tensor,
    eps: float,
    *,
    rho: float,
    tol: float,
    warmup: int,
    repeats: int,
) -> dict[str, Any]:
    batch, n, m = costs.shape
    single = costs[0]
    figures: dict[str, Any] = {}

    def ours_single():
        return partial_ot(single, mass=rho, eps=eps, mask=mask, tol=tol)

    def ours_batched():
        return partial_ot(costs, mass=rho, eps=eps, mask=mask, tol=tol)

    def bregman_batched():
        return partial_ot(costs, mass=rho, eps=eps, mask=mask, tol=tol, formulation="bregman")

    figures["ours_single_ms"] = median_ms(ours_single, warmup=warmup, repeats=repeats)
    figures["ours_batched_ms_per_problem"] = median_ms(ours_batched, warmup=warmup, repeats=repeats) / batch
    figures["bregman_batched_ms_per_problem"] = (
        median_ms(bregman_batched, warmup=warmup, repeats=repeats) / batch
    )
    results = [ours_single(), ours_batched()]
    figures["max_marginal_error"] = max(float(r.marginal_error.max()) for r in results)
    figures["converged"] = all(r.converged for r in results)
    figures["ours_iterations"] = results[1].n_iter
    bregman = bregman_batched()
    figures["bregman_marginal_error"] = float(bregman.marginal_error.max())

    cost64 = single.double().numpy()
    extended, p, q = _extended(cost64, rho, 0.0, 1e9)
    stop = tol / math.sqrt(m + 1)

    def pot():
        return ot.sinkhorn(p, q, extended, eps, method="sinkhorn_log", stopThr=stop, numItermax=100_000)

    figures["pot_ms"] = median_ms(pot, warmup=warmup, repeats=repeats)
    figures["pot_marginal_error"] = _pot_marginal_error(pot(), p, q)

    masked = cost64.copy()
    np.fill_diagonal(masked, cost64.max() + 40 * eps)
    uniform_a, uniform_b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)

    def pot_partial():
        return ot.partial.entropic_partial_wasserstein(
            uniform_a, uniform_b, masked, eps, m=rho, numItermax=10_000, stopThr=1e-9
        )

    figures["pot_partial_ms"] = median_ms(pot_partial, warmup=warmup, repeats=repeats)
    pot_plan = pot_partial()
    excess = (
        np.maximum(pot_plan.sum(1) - uniform_a, 0).sum() + np.maximum(pot_plan.sum(0) - uniform_b, 0).sum()
    )
    figures["pot_partial_violation"] = float(excess + abs(pot_plan.sum() - rho))

    figures["numpy_log_ms"] = median_ms(
        lambda: numpy_log_partial(cost64, rho, eps, tol=tol), warmup=warmup, repeats=repeats
    )
    _, figures["numpy_log_iterations"], figures["numpy_log_marginal_error"] = numpy_log_partial(
        cost64, rho, eps, tol=tol
    )
    return figures


def run_ot_benchmark(
    *,
    n: int = 128,
    batch: int = 16,
    rho: float = 0.1,
    eps_values: tuple[float, ...] = (0.07, 0.01),
    tol: float = 1e-6,
    warmup: int = 1,
    repeats: int = 5,
    threads: int | None = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the partial-OT benchmark; return one flat dict (the JSON line).

    The top-level timing keys are those of the ``eps`` with the worse ``ours_batched / pot`` ratio
    (named in ``"eps"``), the ``worst_*`` ratios the worst over every ``eps``, and ``"per_eps"`` holds
    all figures for every ``eps``. ``threads`` sets torch's intra-op
    threads for the duration (None keeps the current setting): these tensors are small, and on a
    shared machine extra threads only add contention.

    Raises:
        ConfigError: a size, count or thread number below its minimum (solver parameters are checked by
            the solvers themselves).
        MissingDependencyError: POT is not installed (``pip install 'workbench[oracle]'``).
    """
    for name, value, least in (
        ("n", n, 2),
        ("batch", batch, 1),
        ("repeats", repeats, 1),
        ("warmup", warmup, 0),
    ):
        if not (isinstance(value, int) and value >= least):
            raise ConfigError(f"bench ot: {name}={value!r}; expected an int >= {least}")
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise ConfigError(f"bench ot: threads={threads!r}; expected an int >= 1 or None")
    ot = require("ot", "oracle")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        costs = l2rm_costs(n, batch, seed)
        mask = diagonal_mask(n)
        per_eps = {
            str(eps): _one_eps(ot, costs, mask, eps, rho=rho, tol=tol, warmup=warmup, repeats=repeats)
            for eps in eps_values
        }
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
    worst = max(per_eps, key=lambda e: per_eps[e]["ours_batched_ms_per_problem"] / per_eps[e]["pot_ms"])
    top = per_eps[worst]

    def worst_ratio(ours: str, theirs: str) -> float:
        return max(figures[ours] / figures[theirs] for figures in per_eps.values())

    timing_keys = (
        "ours_single_ms",
        "ours_batched_ms_per_problem",
        "pot_ms",
        "bregman_batched_ms_per_problem",
        "pot_partial_ms",
        "numpy_log_ms",
    )
    return {
        **{key: top[key] for key in timing_keys},
        "max_marginal_error": max(figures["max_marginal_error"] for figures in per_eps.values()),
        "eps": float(worst),
        "worst_batched_vs_pot": worst_ratio("ours_batched_ms_per_problem", "pot_ms"),
        "worst_single_vs_pot": worst_ratio("ours_single_ms", "pot_ms"),
        "worst_bregman_vs_pot_partial": worst_ratio("bregman_batched_ms_per_problem", "pot_partial_ms"),
        "n": n,
        "batch": batch,
        "rho": rho,
        "tol": tol,
        "dtype": "float32",
        "threads": used_threads,
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"),
        "repeats": repeats,
        "per_eps": per_eps,
    }
