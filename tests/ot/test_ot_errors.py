"""Every input error of the OT solvers is a ConfigError (a ValueError) that says what is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.errors import ConfigError
from workbench.ot import diagonal_mask, partial_ot, sinkhorn

COST = torch.rand(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(cost=COST.numpy()), "must be a torch.Tensor"),
        (dict(cost=COST.to(torch.int64)), "dtype"),
        (dict(cost=COST[0]), "expected \\[n, m\\]"),
        (dict(cost=COST[:0]), "n, m >= 1"),
        (dict(a=torch.ones(5) / 5), "a has shape \\[5\\]"),
        (dict(cost=COST.expand(2, 4, 3), b=torch.ones(3, 3) / 3), "b has shape \\[3, 3\\]"),
        (dict(mask=torch.ones(4, 3)), "mask must be a bool tensor"),
        (dict(mask=torch.ones(3, 4, dtype=torch.bool)), "mask has shape"),
        (dict(cost=COST.masked_fill(torch.eye(4, 3, dtype=torch.bool), math.nan)), "non-finite"),
        (dict(cost=COST.masked_fill(torch.eye(4, 3, dtype=torch.bool), math.inf)), "non-finite"),
        (
            dict(a=torch.tensor([0.5, 0.5, 0.5, -0.5], dtype=torch.float64)),
            "a must be finite and non-negative",
        ),
        (dict(a=torch.tensor([0.5, 0.5, math.nan, 0.0], dtype=torch.float64)), "a must be finite"),
        (dict(b=torch.zeros(3, dtype=torch.float64)), "positive total"),
        (dict(a=torch.full((4,), 0.5, dtype=torch.float64)), "sum\\(a\\)=2 != sum\\(b\\)=1"),
        (dict(eps=0.0), "eps=0.0"),
        (dict(eps=-1.0), "eps=-1.0"),
        (dict(eps=math.inf), "eps=inf"),
        (dict(eps="0.1"), "eps='0.1'"),
        (dict(tol=-1e-6), "tol"),
        (dict(max_iter=0), "max_iter"),
        (dict(max_iter=10.0), "max_iter"),
        (dict(check_every=0), "check_every"),
        (dict(method="exact"), "method='exact'"),
        (dict(grad="implicit"), "grad='implicit'"),
        (dict(stop_rule="never"), "stop_rule='never'"),
    ],
)
def test_sinkhorn_rejects(kwargs, message):
    arguments = dict(cost=COST, eps=0.1) | kwargs
    with pytest.raises(ConfigError, match=message):
        sinkhorn(**arguments)


def test_errors_in_a_batch_name_the_problem():
    cost = COST.expand(2, 3, 4, 3).clone()
    cost[1, 2, 0, 0] = math.nan
    with pytest.raises(ConfigError, match="problem \\(1, 2\\) of the batch"):
        sinkhorn(cost, eps=0.1)


def test_balanced_mask_feasibility():
    # A fully masked row with mass cannot go anywhere.
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ConfigError, match="infeasible mask"):
        sinkhorn(COST, eps=0.1, mask=mask)
    # Hall's condition for one row: it may only reach a column too light for it.
    a = torch.tensor([0.7, 0.1, 0.1, 0.1], dtype=torch.float64)
    mask = torch.zeros(4, 3, dtype=torch.bool)
    mask[0, 0] = True
    mask[1:] = True
    with pytest.raises(ConfigError, match="infeasible mask"):
        sinkhorn(COST, a, torch.full((3,), 1 / 3, dtype=torch.float64), eps=0.1, mask=mask)
    # Zero-mass rows may be fully masked.
    a = torch.tensor([0.5, 0.0, 0.25, 0.25], dtype=torch.float64)
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[1] = False
    assert sinkhorn(COST, a, eps=0.1, mask=mask).converged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mass=-0.1), "mass must be finite and >= 0"),
        (dict(mass=math.nan), "mass must be finite"),
        (dict(mass=1.2), "exceeds min\\(sum\\(a\\), sum\\(b\\)\\)=1"),
        (dict(mass=torch.tensor([0.1, 0.2])), "mass has shape \\[2\\]"),
        (dict(formulation="lp"), "formulation='lp'"),
        (dict(formulation="bregman", xi=1.0), "belong to formulation='dummy'"),
        (dict(formulation="bregman", A=1.0), "belong to formulation='dummy'"),
        (dict(formulation="bregman", stop_rule="official"), "belong to formulation='dummy'"),
        (dict(xi=-1.0), "xi=-1.0"),
        (dict(xi=math.nan), "xi=nan"),
        (dict(A=math.nan), "A must be a real number or \\+inf"),
        (dict(A=-math.inf), "A must be a real number or \\+inf"),
        (dict(A=torch.ones(2)), "A has shape \\[2\\]"),
        (dict(eps=0.0), "eps=0.0"),
    ],
)
def test_partial_ot_rejects(kwargs, message):
    arguments = dict(cost=COST, mass=0.5, eps=0.1) | kwargs
    with pytest.raises(ConfigError, match=message):
        partial_ot(**arguments)


def test_partial_mass_up_to_the_smaller_total_is_accepted():
    a = torch.full((4,), 0.25, dtype=torch.float64)
    b = torch.full((3,), 0.2, dtype=torch.float64)
    with pytest.raises(ConfigError, match="exceeds min"):
        partial_ot(COST, a, b, mass=0.61, eps=0.1)
    assert torch.isfinite(partial_ot(COST, a, b, mass=0.6 * (1 - 1e-12), eps=0.1).plan).all()


@pytest.mark.parametrize("formulation", ["dummy", "bregman"])
def test_partial_mask_feasibility(formulation):
    # A fully masked row is fine while the other rows can carry rho (dummy: it goes to the dummy column).
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[1] = False
    result = partial_ot(COST, mass=0.7, eps=0.1, mask=mask, formulation=formulation, max_iter=5000)
    assert result.converged and (result.plan[1] == 0).all()
    with pytest.raises(ConfigError, match="exceeds the 0.75 that the mask lets move"):
        partial_ot(COST, mass=0.8, eps=0.1, mask=mask, formulation=formulation)
    # Diagonal mask with one heavy row and column: the heavy row can only reach light columns, so at
    # most 0.1 + 0.1 can move (a singleton cut), although every row has allowed entries.
    heavy = torch.tensor([0.9, 0.05, 0.05], dtype=torch.float64)
    cost = torch.rand(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with pytest.raises(ConfigError, match="exceeds the 0.2 that the mask lets move"):
        partial_ot(cost, heavy, heavy, mass=0.3, eps=0.1, mask=diagonal_mask(3), formulation=formulation)
    assert partial_ot(
        cost,
        heavy,
        heavy,
        mass=0.15,
        eps=0.1,
        mask=diagonal_mask(3),
        formulation=formulation,
        max_iter=20_000,
    ).converged


def test_max_flow_bound_is_exact_for_diagonal_masks(rng):
    """Brute force: the LP max-flow under a diagonal mask equals the bound the checks use."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    from workbench.ot._checks import flow_bound, prepare

    for _ in range(20):
        n = int(rng.integers(2, 6))
        a = rng.exponential(size=n) ** 3  # heavy-tailed, so single rows often dominate
        b = rng.exponential(size=n) ** 3
        allowed = ~np.eye(n, dtype=bool)
        index = np.argwhere(allowed)
        rows = np.zeros((n, len(index)))
        cols = np.zeros((n, len(index)))
        rows[index[:, 0], np.arange(len(index))] = 1
        cols[index[:, 1], np.arange(len(index))] = 1
        lp = scipy_optimize.linprog(-np.ones(len(index)), A_ub=np.vstack([rows, cols]), b_ub=np.r_[a, b])
        batch = prepare(
            torch.zeros(n, n, dtype=torch.float64),
            torch.tensor(a),
            torch.tensor(b),
            diagonal_mask(n),
            caller="test",
        )
        assert float(flow_bound(batch)) == pytest.approx(-lp.fun, rel=1e-9)
