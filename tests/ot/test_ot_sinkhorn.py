"""Balanced entropic OT: against POT, against brute-force properties, in float32, with gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.ot import diagonal_mask, partial_ot, sinkhorn

ot = pytest.importorskip("ot")


def _problem(rng: np.random.Generator, n: int, m: int):
    cost = rng.uniform(0.0, 1.0, (n, m))
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(0.5, 1.5, m)
    return cost, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("eps", [1.0, 0.1, 0.02])
@pytest.mark.parametrize("method", ["log", "kernel"])
def test_matches_pot_sinkhorn_log(rng, eps, method):
    cost, a, b = _problem(rng, 9, 6)
    expected = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", stopThr=1e-13, numItermax=100_000)
    result = sinkhorn(
        torch.tensor(cost),
        torch.tensor(a),
        torch.tensor(b),
        eps=eps,
        tol=1e-12,
        max_iter=100_000,
        method=method,
    )
    assert result.converged
    np.testing.assert_allclose(result.plan.numpy(), expected, atol=1e-12)
    # The potentials reproduce the plan: pi = exp((f_i + g_j - C_ij) / eps).
    rebuilt = torch.exp((result.f[:, None] + result.g[None, :] - torch.tensor(cost)) / eps)
    np.testing.assert_allclose(rebuilt.numpy(), expected, atol=1e-12)


def test_mask_matches_pot_with_infinite_cost_and_is_exactly_zero(rng):
    cost, a, b = _problem(rng, 8, 8)
    mask = rng.uniform(size=(8, 8)) > 0.3
    np.fill_diagonal(mask, True)  # keeps the problem feasible
    expected = ot.sinkhorn(
        a, b, np.where(mask, cost, 1e9), 0.05, method="sinkhorn_log", stopThr=1e-13, numItermax=100_000
    )
    cost_with_garbage = np.where(mask, cost, np.nan)  # masked costs are never read
    result = sinkhorn(
        torch.tensor(cost_with_garbage),
        torch.tensor(a),
        torch.tensor(b),
        eps=0.05,
        mask=torch.tensor(mask),
        tol=1e-12,
        max_iter=100_000,
    )
    np.testing.assert_allclose(result.plan.numpy(), expected, atol=1e-12)
    assert (result.plan[~torch.tensor(mask)] == 0).all()


def test_marginals_and_reported_error(rng):
    cost, a, b = _problem(rng, 12, 7)
    result = sinkhorn(torch.tensor(cost), torch.tensor(a), torch.tensor(b), eps=0.05, tol=1e-9)
    plan = result.plan
    assert (plan >= 0).all()
    # Columns are updated last, so they are exact; the reported error is the L1 row error.
    np.testing.assert_allclose(plan.sum(0).numpy(), b, atol=1e-14)
    assert float(result.marginal_error) == pytest.approx(
        float((plan.sum(1) - torch.tensor(a)).abs().sum()), abs=1e-15
    )
    assert float(result.marginal_error) <= 1e-9


def test_batched_equals_loop_and_default_marginals_are_uniform(rng):
    cost = torch.tensor(rng.uniform(0, 1, (2, 3, 10, 8)))
    mask = torch.tensor(rng.uniform(size=(10, 8)) > 0.2)
    batched = sinkhorn(cost, eps=0.1, mask=mask, tol=1e-11)
    assert batched.plan.shape == (2, 3, 10, 8) and batched.marginal_error.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            single = sinkhorn(
                cost[i, j],
                torch.full((10,), 0.1, dtype=torch.float64),
                torch.full((8,), 0.125, dtype=torch.float64),
                eps=0.1,
                mask=mask,
                tol=1e-11,
            )
            np.testing.assert_allclose(batched.plan[i, j].numpy(), single.plan.numpy(), atol=1e-12)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")  # POT's log(0)
def test_zero_mass_rows_and_columns_get_no_mass(rng):
    cost, a, b = _problem(rng, 6, 5)
    a[2], b[0] = 0.0, 0.0
    a, b = a / a.sum(), b / b.sum()
    expected = ot.sinkhorn(a, b, cost, 0.05, method="sinkhorn_log", stopThr=1e-13, numItermax=100_000)
    result = sinkhorn(torch.tensor(cost), torch.tensor(a), torch.tensor(b), eps=0.05, tol=1e-12)
    assert (result.plan[2] == 0).all() and (result.plan[:, 0] == 0).all()
    assert result.f[2] == -np.inf and result.g[0] == -np.inf
    np.testing.assert_allclose(result.plan.numpy(), expected, atol=1e-12)


def test_kernel_method_underflows_where_log_domain_does_not():
    # Every cost >= 5 and eps = 0.05: exp(-C / eps) < e^-100 flushes to 0 in float32, although the
    # problem itself is benign (costs spread over 1 = 20 eps).
    cost = torch.rand(16, 16, generator=torch.Generator().manual_seed(0)) + 5.0
    kernel = sinkhorn(cost, eps=0.05, method="kernel")
    log = sinkhorn(cost, eps=0.05)
    assert not kernel.converged
    assert log.converged and torch.isfinite(log.plan).all()
    # Where the kernel is representable, both agree.
    mild_kernel = sinkhorn(cost, eps=0.5, method="kernel", tol=1e-7)
    mild_log = sinkhorn(cost, eps=0.5, tol=1e-7)
    torch.testing.assert_close(mild_kernel.plan, mild_log.plan, atol=1e-8, rtol=1e-4)


@pytest.mark.parametrize("reg", [0.07, 0.01])
def test_official_stop_rule_reproduces_reference_loop(rng, reg, reference_sinkhorn):
    n = 32
    cost = np.maximum(1.0 - rng.uniform(-0.2, 0.9, (n, n)), 0.0)
    mask = ~np.eye(n, dtype=bool)
    p = np.full(n, 1.0 / n)
    expected, iterations = reference_sinkhorn(p, p, cost, mask, reg)
    result = sinkhorn(torch.tensor(cost), eps=reg, mask=torch.tensor(mask), stop_rule="official")
    assert result.converged and result.n_iter == iterations
    np.testing.assert_allclose(result.plan.numpy(), expected, rtol=1e-7, atol=1e-12)
    # It stops before the marginals are met: the reason the default rule is a real tolerance.
    assert float(result.marginal_error) > 1e-6


def test_tol_zero_runs_max_iter_and_flags_not_converged(rng):
    cost, a, b = _problem(rng, 5, 5)
    result = sinkhorn(torch.tensor(cost), eps=0.1, tol=0.0, max_iter=37, check_every=10)
    assert result.n_iter == 37 and not result.converged


@pytest.mark.parametrize("method", ["log", "kernel"])
def test_autodiff_matches_finite_differences(rng, method):
    cost = torch.tensor(rng.uniform(0, 1, (4, 3)), requires_grad=True)
    # Marginals through a softmax, so that perturbing them keeps sum(a) = sum(b).
    logits_a = torch.tensor(rng.normal(size=4), requires_grad=True)
    logits_b = torch.tensor(rng.normal(size=3), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(4, 3)))

    def objective(c, x, y):
        # Fixed iteration count (tol=0), so the function differentiated is smooth.
        plan = sinkhorn(
            c, x.softmax(0), y.softmax(0), eps=0.3, tol=0.0, max_iter=30, method=method, grad="autodiff"
        ).plan
        return (plan * weights).sum()

    assert torch.autograd.gradcheck(objective, (cost, logits_a, logits_b), eps=1e-6, atol=1e-7)


def test_detach_builds_no_graph(rng):
    cost = torch.tensor(rng.uniform(0, 1, (5, 4)), requires_grad=True)
    result = sinkhorn(cost, eps=0.1)
    assert not result.plan.requires_grad and result.plan.grad_fn is None
    assert sinkhorn(cost, eps=0.1, grad="autodiff").plan.requires_grad


@pytest.mark.parametrize("scale", [1.0, 1e3])
@pytest.mark.parametrize("eps_over_scale", [1e-2, 1e-1, 1.0])
def test_float32_converges_like_float64(scale, eps_over_scale):
    """Contract: float32 reaches tol=1e-6 wherever float64 does, for cost / eps up to 1e3 (eps scaled with cost)."""
    cost = torch.rand(32, 24, generator=torch.Generator().manual_seed(3)) * scale
    result = sinkhorn(cost, eps=eps_over_scale * scale)
    reference = sinkhorn(cost.double(), eps=eps_over_scale * scale)
    assert result.converged and reference.converged
    assert torch.isfinite(result.plan).all() and float(result.marginal_error) <= 1e-6
    torch.testing.assert_close(
        result.plan.double(), reference.plan, atol=1e-6 * float(reference.plan.max()), rtol=0
    )


def test_float32_at_eps_1e_3_tracks_float64_and_extremes_stay_finite():
    cost = torch.rand(32, 32, generator=torch.Generator().manual_seed(1))
    # Sinkhorn itself is slow here (float64 too): float32 must follow it, not stall earlier.
    r32 = sinkhorn(cost, eps=1e-3, tol=0.0, max_iter=2000)
    r64 = sinkhorn(cost.double(), eps=1e-3, tol=0.0, max_iter=2000)
    assert float(r32.marginal_error) <= 1.5 * float(r64.marginal_error) + 1e-7
    # Far outside the contract (cost / eps = 1e6, potentials ~1e6 with a float32 ulp of 0.06) the
    # marginals cannot be resolved, but the plan stays finite and roughly normalised.
    extreme = sinkhorn(cost * 1e3, eps=1e-3, max_iter=50)
    assert torch.isfinite(extreme.plan).all() and torch.isfinite(extreme.f).all()
    assert float(extreme.plan.sum()) == pytest.approx(1.0, abs=1e-2)


def test_l2rm_mask_in_float32_at_small_eps():
    generator = torch.Generator().manual_seed(0)
    cost = (1 - (torch.rand(4, 64, 64, generator=generator) * 1.1 - 0.2)).clamp_min(0)
    result = sinkhorn(cost, eps=0.01, mask=diagonal_mask(64))
    assert result.converged and float(result.marginal_error.max()) <= 1e-6
    assert (torch.diagonal(result.plan, dim1=-2, dim2=-1) == 0).all()


@pytest.mark.parametrize("level", [1e-4, 0.05])
@pytest.mark.parametrize("module", ["_balanced", "_bregman"])
def test_absorption_and_logsumexp_fallback_give_the_same_iterates(rng, monkeypatch, module, level):
    """With a tiny absorption level every block is absorbed (0.05) or redone in logsumexp (1e-4):
    the iterates, and their gradients, must be those of the default path."""
    cost = torch.tensor(rng.uniform(0, 1, (5, 4)), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(5, 4)))
    a = torch.tensor([0.3, 0.2, 0.2, 0.2, 0.1], dtype=torch.float64)

    def objective(c):
        if module == "_balanced":
            plan = sinkhorn(c, eps=0.05, tol=0.0, max_iter=37, grad="autodiff").plan
        else:
            plan = partial_ot(
                c, a, mass=0.7, eps=0.05, formulation="bregman", tol=0.0, max_iter=37, grad="autodiff"
            ).plan
        return (plan * weights).sum()

    default = objective(cost)
    monkeypatch.setattr(f"workbench.ot.{module}.absorb_level", lambda dtype: level)
    torch.testing.assert_close(objective(cost), default, rtol=1e-12, atol=0)
    assert torch.autograd.gradcheck(objective, (cost,), eps=1e-6, atol=1e-7)
