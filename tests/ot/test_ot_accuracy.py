"""Plans far from their marginals or mass are flagged (warned about by default, raised or only reported on
request): eps too small for the costs, negative costs under the dummy formulation, an early stop rule that
calls a plan that moved nothing "converged". Correct plans are not flagged; the flag's number is checked
against the plan's own marginals."""

from __future__ import annotations

import warnings

import pytest
import torch

from workbench.errors import ConfigError
from workbench.ot import diagonal_mask, partial_ot, sinkhorn
from workbench.ot.accuracy import OTAccuracyError, OTAccuracyWarning


@pytest.fixture
def cost() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.relu(1 - (torch.rand(64, 64) * 0.6 + 0.2))  # L2RM-like costs in [0.2, 0.8]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a correct plan must not warn
        return fn(*args, **kwargs)


@pytest.mark.parametrize("eps", [0.07, 0.01])
@pytest.mark.parametrize("formulation", ["dummy", "bregman"])
def test_correct_plans_are_not_flagged(cost, eps, formulation) -> None:
    res = _quiet(partial_ot, cost, mass=0.1, eps=eps, mask=diagonal_mask(64), formulation=formulation)
    assert not res.inaccurate and float(res.relative_error) < 1e-3
    res = _quiet(sinkhorn, cost, eps=eps)
    assert not res.inaccurate and float(res.relative_error) < 1e-3


def test_eps_far_below_the_costs_moves_nothing_and_is_flagged_even_when_called_converged(cost) -> None:
    with pytest.warns(OTAccuracyWarning, match=r"partial_ot: 1 of 1 plan\(s\) miss .* eps=0.0001"):
        res = partial_ot(cost, mass=0.1, eps=1e-4, mask=diagonal_mask(64), stop_rule="official")
    assert res.converged  # the reference code's rule stops after two iterations ...
    assert float(res.transported_mass) == pytest.approx(0.0, abs=1e-6)  # ... having moved nothing
    assert bool(res.inaccurate)
    gap = abs(float(res.plan.sum()) - 0.1) / 0.1  # brute force: the mass actually moved
    assert float(res.relative_error) == pytest.approx(gap, rel=1e-4) and gap > 0.99


def test_negative_costs_under_the_dummy_formulation_move_all_the_mass_and_are_flagged(cost) -> None:
    with pytest.warns(OTAccuracyWarning):
        res = partial_ot(cost - 5.0, mass=0.1, eps=0.01, mask=diagonal_mask(64))
    assert float(res.plan.sum()) == pytest.approx(1.0, abs=1e-3) and bool(res.inaccurate)
    assert float(res.relative_error) == pytest.approx((float(res.plan.sum()) - 0.1) / 0.1, rel=1e-4)


def test_balanced_plans_off_their_row_marginals_are_flagged(cost) -> None:
    res = sinkhorn(cost * 1e4, eps=1e-2, max_iter=50, accuracy="ignore")
    rows = res.plan.sum(dim=1)
    brute = float((rows - 1 / 64).abs().sum())  # L1 row error over the total mass 1
    assert float(res.relative_error) == pytest.approx(brute, rel=1e-3)
    assert brute > 0.1 and bool(res.inaccurate)


def test_the_policy_warns_raises_or_only_reports(cost) -> None:
    kwargs = dict(mass=0.1, eps=1e-4, mask=diagonal_mask(64))
    with pytest.raises(OTAccuracyError, match="not a solution"):
        partial_ot(cost, accuracy="raise", **kwargs)
    res = _quiet(partial_ot, cost, accuracy="ignore", **kwargs)
    assert bool(res.inaccurate)
    with pytest.warns(OTAccuracyWarning, match="1 of 2 plan"):  # costs scaled to eps: the second is fine
        res = partial_ot(torch.stack([cost, cost * 1e-3]), mass=0.1, eps=1e-4, mask=diagonal_mask(64))
    assert res.inaccurate.tolist() == [True, False]
    with pytest.raises(ConfigError, match="accuracy='loud'"):
        partial_ot(cost, mass=0.1, eps=0.1, accuracy="loud")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="accuracy_rtol=0"):
        sinkhorn(cost, eps=0.1, accuracy_rtol=0)
