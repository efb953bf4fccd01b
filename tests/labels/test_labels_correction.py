"""Partial-OT label correction, the class costs and the rho schedule, on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from workbench.errors import ConfigError
from workbench.labels.correction import (
    class_cost,
    class_marginal,
    correct_labels,
    knn_class_scores,
    prob_class_scores,
    rho_schedule,
)


def _cost(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_partial_transport_selects_the_confident_pairs_and_relabels_them() -> None:
    # pairs 0, 1, 3, 4 sit firmly in a class; 2 and 5 are equidistant from both (their label is unknown)
    cost = _cost([[0, 4], [0, 4], [2, 2], [4, 0], [4, 0], [2, 2]])
    fix = correct_labels(cost, np.array([0.5, 0.5]), rho=4 / 6, eps=0.2)
    np.testing.assert_array_equal(fix.selected, [True, True, False, True, True, False])
    np.testing.assert_array_equal(fix.labels[fix.selected], [0, 0, 1, 1])
    np.testing.assert_allclose(fix.row_mass, [1, 1, 0, 1, 1, 0], atol=0.02)
    assert fix.plan.sum() == pytest.approx(4 / 6, abs=1e-3)
    np.testing.assert_allclose(fix.targets.sum(axis=1), 1.0)


def test_class_capacity_moves_the_least_costly_pairs_to_the_other_class() -> None:
    # every pair prefers class 0, but each class holds half the mass: the two pairs that lose least go to 1
    cost = _cost([[0, 5], [0, 1], [0, 4], [0, 2]])
    fix = correct_labels(cost, np.array([0.5, 0.5]), rho=1.0, eps=0.02)
    np.testing.assert_array_equal(fix.labels, [0, 1, 0, 1])
    assert fix.selected.all()


def test_balanced_correction_is_near_the_assignment_lp(rng: np.random.Generator) -> None:
    # With equal class capacities the exact OT is the optimal assignment of N pairs to N/C slots per class;
    # the entropic plan's cost exceeds it by at most eps * (log N + log C) (entropy bound).
    n, c, eps = 24, 3, 0.01
    cost = rng.uniform(0, 1, (n, c))
    fix = correct_labels(torch.tensor(cost), np.full(c, 1 / c), rho=1.0, eps=eps)
    slots = np.repeat(cost, n // c, axis=1)  # [n, n]: column k is a slot of class k // (n // c)
    rows, cols = linear_sum_assignment(slots)
    optimum = slots[rows, cols].sum() / n
    gap = float((fix.plan * cost).sum()) - optimum
    assert -1e-9 <= gap <= eps * (np.log(n) + np.log(c))
    np.testing.assert_allclose(fix.plan.sum(axis=0), 1 / c, atol=1e-5)
    np.testing.assert_allclose(fix.row_mass, 1.0, atol=1e-4)


def test_peak_rule_selects_concentrated_rows() -> None:
    cost = _cost([[0, 6], [3, 3], [6, 0], [3, 3]])
    fix = correct_labels(cost, np.array([0.5, 0.5]), rho=1.0, eps=0.1, rule="peak", threshold=0.9)
    np.testing.assert_array_equal(fix.selected, [True, False, True, False])
    with pytest.raises(ConfigError, match="selection rule"):
        correct_labels(cost, np.array([0.5, 0.5]), rho=1.0, eps=0.1, rule="top")
    with pytest.raises(ConfigError, match="rho = 0"):
        correct_labels(cost, np.array([0.5, 0.5]), rho=0.0, eps=0.1)


def test_knn_scores_vote_with_cross_modal_consistency() -> None:
    # pair 0 has neighbours 1, 2 in images and 1, 3 in texts; labels 1 -> A, 2 -> B, 3 -> B
    z_img = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0.8, 0.2, 0], [-1, 0, 0]]), dim=1)
    z_txt = torch.nn.functional.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [-1, 0, 0], [0.8, 0.2, 0]]), dim=1)
    labels = torch.eye(2)[torch.tensor([0, 0, 1, 1])]
    q = knn_class_scores(z_img, z_txt, labels, k=2, consistency="hard", gamma=0.5)
    s_img = (z_img[0] @ z_img[[1, 2]].T).numpy()  # neighbour 1 is shared (weight 1), 2 is not (gamma)
    s_txt = (z_txt[0] @ z_txt[[1, 3]].T).numpy()
    w_img, w_txt = np.array([1.0, 0.5]) * s_img, np.array([1.0, 0.5]) * s_txt
    expected_a = 0.5 * (w_img[0] / w_img.sum() + w_txt[0] / w_txt.sum())
    assert q[0, 0].item() == pytest.approx(expected_a, rel=1e-5)
    np.testing.assert_allclose(q.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    plain = knn_class_scores(z_img, z_txt, labels, k=2, consistency="none")
    assert plain[0, 0] < q[0, 0]  # consistency up-weights the neighbour both modalities agree on
    with pytest.raises(ConfigError, match="knn_k = 4"):
        knn_class_scores(z_img, z_txt, labels, k=4)


def test_prob_scores_cost_scaling_and_marginals() -> None:
    p_img, p_txt = torch.tensor([[0.8, 0.2]]), torch.tensor([[0.4, 0.6]])
    np.testing.assert_allclose(prob_class_scores(p_img, p_txt, 0.25).numpy(), [[0.5, 0.5]])
    scores = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    cost = class_cost(scores, floor=1e-3, scale="none")
    np.testing.assert_allclose(cost.numpy(), -np.log(scores.numpy() + 1e-3), rtol=1e-6)
    assert class_cost(scores, scale="std").std().item() == pytest.approx(1.0)
    noisy = np.array([[0, 0], [1, 1], [1, 2], [2, 2]])
    np.testing.assert_allclose(class_marginal(noisy, 4, "noisy"), [2 / 8, 3 / 8, 3 / 8, 0])
    np.testing.assert_allclose(class_marginal(noisy, 4, "uniform"), 0.25)


def test_rho_schedule_ramps_linearly_after_the_warmup() -> None:
    kw = dict(warmup=10, epochs=30, start=0.2, end=1.0)
    # 19 post-warm-up epoch steps; ramp 0.5 reaches the end after 9.5 of them
    assert rho_schedule(3, ramp=0.5, **kw) == 0.2
    assert rho_schedule(10, ramp=0.5, **kw) == pytest.approx(0.2)
    assert rho_schedule(15, ramp=0.5, **kw) == pytest.approx(0.2 + 0.8 * 5 / 9.5)
    assert rho_schedule(29, ramp=0.5, **kw) == 1.0
    assert rho_schedule(11, ramp=0.0, **kw) == 1.0
