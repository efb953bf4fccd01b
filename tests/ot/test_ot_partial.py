"""Partial OT: each formulation against its own POT oracle, the exact limit, invariants, float32, gradients."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from workbench.ot import diagonal_mask, partial_ot

ot = pytest.importorskip("ot")


def _problem(rng: np.random.Generator, n: int, m: int):
    cost = rng.uniform(0.0, 1.0, (n, m))
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(0.5, 1.5, m)
    return cost, a / a.sum(), 0.8 * b / b.sum()  # unequal totals: 1 and 0.8


def _extended(cost, a, b, rho, mask=None, big=1e9):
    """Eq. 12-14 with xi = 0 and A = max C over allowed entries, masked entries at a huge cost."""
    n, m = cost.shape
    allowed = np.ones_like(cost, dtype=bool) if mask is None else mask
    ext = np.zeros((n + 1, m + 1))
    ext[:n, :m] = np.where(allowed, cost, big)
    ext[n, m] = cost[allowed].max()
    return ext, np.r_[a, b.sum() - rho], np.r_[b, a.sum() - rho]


@pytest.mark.parametrize("eps", [0.5, 0.1, 0.03])
def test_dummy_matches_pot_sinkhorn_on_extended_problem(rng, eps):
    cost, a, b = _problem(rng, 9, 7)
    mask = rng.uniform(size=cost.shape) > 0.25
    rho = 0.5
    ext, p, q = _extended(cost, a, b, rho, mask)
    expected = ot.sinkhorn(p, q, ext, eps, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
    result = partial_ot(
        torch.tensor(cost),
        torch.tensor(a),
        torch.tensor(b),
        mass=rho,
        eps=eps,
        mask=torch.tensor(mask),
        tol=1e-12,
        max_iter=200_000,
    )
    assert result.converged
    np.testing.assert_allclose(result.extended_plan.numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(result.plan.numpy(), expected[:9, :7] * mask, atol=1e-12)
    np.testing.assert_allclose(result.dummy_row.numpy(), expected[9, :7], atol=1e-12)
    np.testing.assert_allclose(result.dummy_col.numpy(), expected[:9, 7], atol=1e-12)


@pytest.mark.parametrize(("eps", "rho"), [(0.5, 0.5), (0.1, 0.5), (0.1, 0.78), (0.05, 0.7)])
def test_bregman_matches_pot_entropic_partial_wasserstein(rng, eps, rho):
    # rho close to sum(b) = 0.8 makes the column constraints active (the interesting case).
    cost, a, b = _problem(rng, 8, 6)
    expected = ot.partial.entropic_partial_wasserstein(
        a, b, cost, eps, m=rho, numItermax=200_000, stopThr=1e-14
    )
    result = partial_ot(
        torch.tensor(cost),
        torch.tensor(a),
        torch.tensor(b),
        mass=rho,
        eps=eps,
        formulation="bregman",
        tol=1e-13,
        max_iter=200_000,
    )
    assert result.converged and result.extended_plan is None
    np.testing.assert_allclose(result.plan.numpy(), expected, atol=1e-11)
    if rho == 0.78:  # the column constraints bind: the dummy row is nearly empty
        assert float(result.dummy_row.sum()) == pytest.approx(0.8 - rho, abs=1e-12)


def test_bregman_with_mask_matches_pot_with_infinite_cost(rng):
    cost, a, b = _problem(rng, 7, 7)
    mask = ~np.eye(7, dtype=bool)
    # POT's multiplicative solver turns exp(-1e9) into 0/0: a cost of 30 (exp(-300) ~ 5e-131) is masked enough.
    expected = ot.partial.entropic_partial_wasserstein(
        a, b, np.where(mask, cost, 30.0), 0.1, m=0.6, numItermax=200_000, stopThr=1e-14
    )
    result = partial_ot(
        torch.tensor(cost),
        torch.tensor(a),
        torch.tensor(b),
        mass=0.6,
        eps=0.1,
        mask=torch.tensor(mask),
        formulation="bregman",
        tol=1e-13,
        max_iter=200_000,
    )
    np.testing.assert_allclose(result.plan.numpy(), expected, atol=1e-11)
    assert (torch.diagonal(result.plan) == 0).all()


def test_both_formulations_approach_the_exact_partial_plan(rng):
    cost, a, b = _problem(rng, 8, 6)
    rho = 0.5
    exact = ot.partial.partial_wasserstein(a, b, cost, m=rho)
    distances = {"dummy": [], "bregman": []}
    for eps in [0.1, 0.03, 0.01, 0.001]:
        for formulation, found in distances.items():
            plan = partial_ot(
                torch.tensor(cost),
                torch.tensor(a),
                torch.tensor(b),
                mass=rho,
                eps=eps,
                formulation=formulation,
                tol=1e-9,
                max_iter=20_000,
            ).plan
            found.append(np.abs(plan.numpy() - exact).sum())
    for found in distances.values():
        assert all(later < earlier for earlier, later in pairwise(found)), found
        assert found[-1] < found[0] / 20
    # At finite eps they are different problems (the dummy cells' entropy counts in one of them).
    assert abs(distances["dummy"][0] - distances["bregman"][0]) > 1e-3


def test_plan_does_not_depend_on_xi_in_float64(rng):
    cost, a, b = _problem(rng, 10, 8)
    kwargs = dict(mass=0.4, eps=0.05, tol=1e-12, max_iter=50_000)
    shifted = partial_ot(torch.tensor(cost), torch.tensor(a), torch.tensor(b), **kwargs)
    for xi in [0.0, 1.0, 100 * cost.max()]:  # 100 max C is the reference code's value
        literal = partial_ot(torch.tensor(cost), torch.tensor(a), torch.tensor(b), xi=xi, **kwargs)
        np.testing.assert_allclose(literal.plan.numpy(), shifted.plan.numpy(), atol=1e-11)


def test_reference_xi_spoils_float32_but_the_default_does_not():
    generator = torch.Generator().manual_seed(0)
    cost = (1 - (torch.rand(48, 48, generator=generator, dtype=torch.float64) * 1.1 - 0.2)).clamp_min(0)
    mask = diagonal_mask(48)
    reference = partial_ot(cost, mass=0.1, eps=0.01, mask=mask, tol=1e-12).plan
    default = partial_ot(cost.float(), mass=0.1, eps=0.01, mask=mask)
    literal = partial_ot(cost.float(), mass=0.1, eps=0.01, mask=mask, xi=100 * float(cost.max()))
    assert default.converged and float(default.marginal_error) <= 1e-6

    def deviation(plan):
        return float((plan.double() - reference).abs().max() / reference.max())

    # Potentials of size xi / eps ~ 1e4: float32 rounding of the kernel perturbs the plan.
    assert deviation(default.plan) < 2e-5 and deviation(literal.plan) > 20 * deviation(default.plan)


def test_corner_offset_A_and_transported_mass(rng):
    cost, a, b = _problem(rng, 8, 6)
    rho, eps = 0.4, 0.2  # eps comparable to the costs: the corner is visibly used
    kwargs = dict(mass=rho, eps=eps, tol=1e-12, max_iter=50_000)
    corners = []
    for A in [None, 2.0, 5.0, math.inf]:
        result = partial_ot(torch.tensor(cost), torch.tensor(a), torch.tensor(b), A=A, **kwargs)
        corner = float(result.extended_plan[8, 6])
        # Identity of the extended marginals: the real block carries rho plus the corner's mass (up to
        # the row error; columns are exact).
        assert abs(float(result.transported_mass) - rho - corner) <= float(result.marginal_error) + 1e-15
        corners.append(corner)
    assert corners[0] > corners[1] > corners[2] > corners[3] == 0.0
    assert corners[0] > 1e-4  # default A = max C: entropic excess mass, as in the reference code
    # The corner's mass relative to the dummy cells is exp(-(A + C_ij) / eps) (shifted costs).
    default = partial_ot(torch.tensor(cost), torch.tensor(a), torch.tensor(b), **kwargs).extended_plan
    ratio = default[8, 6] * default[:8, :6] / (default[:8, 6:7] * default[8:9, :6])
    np.testing.assert_allclose(ratio.numpy(), np.exp(-(cost.max() + cost) / eps), rtol=1e-9)


def test_invariants_and_batched_equals_loop(rng):
    cost = torch.tensor(rng.uniform(0, 1, (3, 10, 12)))
    a = torch.tensor(rng.uniform(0.5, 1.5, (3, 10)))
    b = torch.tensor(rng.uniform(0.5, 1.5, (3, 12)))
    a, b = a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True)
    mask = diagonal_mask(10, 12)
    rho = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    for formulation in ["dummy", "bregman"]:
        batched = partial_ot(
            cost,
            a,
            b,
            mass=rho,
            eps=0.05,
            mask=mask,
            formulation=formulation,
            A=None if formulation == "bregman" else math.inf,
            tol=1e-11,
            max_iter=20_000,
        )
        plan = batched.plan
        assert (plan >= 0).all() and (plan[:, ~mask] == 0).all()
        assert (plan.sum(2) <= a + 1e-10).all() and (plan.sum(1) <= b + 1e-10).all()
        torch.testing.assert_close(batched.transported_mass, rho, atol=1e-10, rtol=0)
        torch.testing.assert_close(batched.dummy_col, a - plan.sum(2), atol=1e-10, rtol=0)
        torch.testing.assert_close(batched.dummy_row, b - plan.sum(1), atol=1e-10, rtol=0)
        for i in range(3):
            single = partial_ot(
                cost[i],
                a[i],
                b[i],
                mass=float(rho[i]),
                eps=0.05,
                mask=mask,
                formulation=formulation,
                A=None if formulation == "bregman" else math.inf,
                tol=1e-11,
                max_iter=20_000,
            )
            torch.testing.assert_close(batched.plan[i], single.plan, atol=1e-12, rtol=0)


def test_masked_out_row_goes_to_the_dummy_column(rng):
    cost, a, b = _problem(rng, 6, 6)
    mask = np.ones((6, 6), dtype=bool)
    mask[2] = False  # row 2 may go nowhere in the real block
    result = partial_ot(
        torch.tensor(cost),
        torch.tensor(a),
        torch.tensor(b),
        mass=0.5,
        eps=0.1,
        mask=torch.tensor(mask),
        tol=1e-12,
    )
    assert (result.plan[2] == 0).all()
    assert float(result.dummy_col[2]) == pytest.approx(a[2], abs=1e-12)


def test_zero_mass_moves_nothing_in_bregman_and_only_the_corner_in_dummy(rng):
    cost, a, b = _problem(rng, 5, 4)
    bregman = partial_ot(
        torch.tensor(cost), torch.tensor(a), torch.tensor(b), mass=0.0, eps=0.1, formulation="bregman"
    )
    assert (bregman.plan == 0).all() and bregman.converged
    dummy = partial_ot(torch.tensor(cost), torch.tensor(a), torch.tensor(b), mass=0.0, eps=0.1)
    excess = float(dummy.transported_mass) - float(dummy.extended_plan[5, 4])
    assert abs(excess) <= float(dummy.marginal_error) + 1e-15  # rho + corner, up to the row error
    # A batch where only some problems move mass.
    costs = torch.tensor(np.stack([cost, cost]))
    mixed = partial_ot(
        costs,
        torch.tensor(a),
        torch.tensor(b),
        mass=torch.tensor([0.0, 0.5], dtype=torch.float64),
        eps=0.1,
        formulation="bregman",
        tol=1e-12,
    )
    alone = partial_ot(
        torch.tensor(cost),
        torch.tensor(a),
        torch.tensor(b),
        mass=0.5,
        eps=0.1,
        formulation="bregman",
        tol=1e-12,
    )
    assert (mixed.plan[0] == 0).all()
    torch.testing.assert_close(mixed.plan[1], alone.plan, atol=1e-14, rtol=0)


@pytest.mark.parametrize("eps", [0.07, 0.01])
@pytest.mark.parametrize("formulation", ["dummy", "bregman"])
def test_l2rm_setting_in_float32(eps, formulation):
    """n = 128, rho = 0.1, diagonal mask, C = max(1 - S, 0), S ~ U[-0.2, 0.9]: float32 against float64."""
    generator = torch.Generator().manual_seed(0)
    cost = (1 - (torch.rand(2, 128, 128, generator=generator) * 1.1 - 0.2)).clamp_min(0)
    mask = diagonal_mask(128)
    result = partial_ot(cost, mass=0.1, eps=eps, mask=mask, formulation=formulation)
    reference = partial_ot(cost.double(), mass=0.1, eps=eps, mask=mask, formulation=formulation, tol=1e-12)
    assert result.converged and float(result.marginal_error.max()) <= 1e-6
    assert torch.isfinite(result.plan).all() and (torch.diagonal(result.plan, dim1=1, dim2=2) == 0).all()
    deviation = (result.plan.double() - reference.plan).abs().amax() / reference.plan.amax()
    assert float(deviation) < 1e-4


@pytest.mark.parametrize("eps_over_scale", [1e-3, 1e-2, 1e-1, 1.0])
@pytest.mark.parametrize("formulation", ["dummy", "bregman"])
def test_float32_contract_eps_1e_3_to_1_costs_up_to_1e3(eps_over_scale, formulation):
    """float32 converges to tol=1e-6 with finite plans for eps / max C in [1e-3, 1]; costs scale with eps."""
    generator = torch.Generator().manual_seed(5)
    cost = (1 - (torch.rand(2, 48, 48, generator=generator) * 1.1 - 0.2)).clamp_min(0)
    kwargs = dict(mass=0.1, mask=diagonal_mask(48), formulation=formulation, max_iter=3000)
    unit = partial_ot(cost, eps=eps_over_scale, **kwargs)
    scaled = partial_ot(cost * 1e3, eps=eps_over_scale * 1e3, **kwargs)
    for result in (unit, scaled):
        assert result.converged and float(result.marginal_error.max()) <= 1e-6
        assert torch.isfinite(result.plan).all()
    # Only C / eps matters: the two plans agree to float32 accuracy.
    torch.testing.assert_close(scaled.plan, unit.plan, rtol=0, atol=1e-5 * float(unit.plan.max()))


@pytest.mark.parametrize("formulation", ["dummy", "bregman"])
def test_autodiff_matches_finite_differences(rng, formulation):
    cost = torch.tensor(rng.uniform(0, 1, (4, 3)), requires_grad=True)
    a = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.3, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    weights = torch.tensor(rng.normal(size=(4, 3)))

    def objective(c, a_, b_):
        plan = partial_ot(
            c, a_, b_, mass=0.5, eps=0.2, formulation=formulation, tol=0.0, max_iter=30, grad="autodiff"
        ).plan
        return (plan * weights).sum()

    assert torch.autograd.gradcheck(objective, (cost, a, b), eps=1e-6, atol=1e-7)
    assert partial_ot(cost, a, b, mass=0.5, eps=0.2, formulation=formulation).plan.grad_fn is None


@pytest.mark.parametrize("eps", [0.07, 0.01])
def test_official_rule_with_literal_xi_reproduces_the_reference_partial_ot(reference_sinkhorn, eps):
    """The reference code's partial_ot (xi = 100 max C, A = max C, p = [1/n, 1 - rho]), iteration for iteration."""
    generator = torch.Generator().manual_seed(1)
    cost = (1 - (torch.rand(40, 40, generator=generator, dtype=torch.float64) * 1.1 - 0.2)).clamp_min(0)
    big_c, rho, xi = float(cost.max()), 0.1, 100 * float(cost.max())
    extended = np.full((41, 41), xi)
    extended[:40, :40] = cost.numpy()
    extended[40, 40] = 2 * xi + big_c
    allowed = np.ones((41, 41), dtype=bool)
    np.fill_diagonal(allowed[:40, :40], False)
    p = np.r_[np.full(40, 1 / 40), 1 - rho]
    expected, iterations = reference_sinkhorn(p, p, extended, allowed, eps)
    ours = partial_ot(cost, mass=rho, eps=eps, mask=diagonal_mask(40), xi=xi, A=big_c, stop_rule="official")
    assert ours.converged and ours.n_iter == iterations
    np.testing.assert_allclose(ours.extended_plan.numpy(), expected, rtol=1e-6, atol=1e-13)


def test_official_stop_rule_stops_early():
    generator = torch.Generator().manual_seed(0)
    cost = (1 - (torch.rand(128, 128, generator=generator, dtype=torch.float64) * 1.1 - 0.2)).clamp_min(0)
    official = partial_ot(cost, mass=0.1, eps=0.07, mask=diagonal_mask(128), stop_rule="official")
    full = partial_ot(cost, mass=0.1, eps=0.07, mask=diagonal_mask(128))
    assert official.converged and official.n_iter < full.n_iter
    assert float(official.marginal_error) > 1e-6 >= float(full.marginal_error)
