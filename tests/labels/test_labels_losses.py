"""Every label-track loss against a value computed by hand (numpy, from the defining formula)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.errors import ConfigError
from workbench.labels.losses import (
    cross_entropy,
    generalized_cross_entropy,
    mean_clustering_error,
    multimodal_contrastive,
    pair_alignment,
    soft_cross_entropy,
)
from workbench.labels.relation import relation_alignment_loss, relation_cost, relation_plan

LOGITS = [[2.0, 0.0, -1.0], [0.5, 0.5, 1.5]]


def _softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_cross_entropy_hard_soft_and_weighted() -> None:
    logits = torch.tensor(LOGITS)
    p = _softmax(np.array(LOGITS))
    hard = -(math.log(p[0, 0]) + math.log(p[1, 2])) / 2
    assert cross_entropy(logits, torch.tensor([0, 2])).item() == pytest.approx(hard, rel=1e-6)
    soft_target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    soft = -(0.5 * math.log(p[0, 0]) + 0.5 * math.log(p[0, 1]) + math.log(p[1, 2])) / 2
    assert cross_entropy(logits, soft_target).item() == pytest.approx(soft, rel=1e-6)
    weighted = cross_entropy(logits, torch.tensor([0, 2]), torch.tensor([0.0, 1.0])).item()
    assert weighted == pytest.approx(-math.log(p[1, 2]) / 2, rel=1e-6)  # mean over B, not renormalised


def test_gce_interpolates_between_ce_and_mae() -> None:
    logits = torch.tensor(LOGITS)
    p = _softmax(np.array(LOGITS))
    q = 0.7
    expected = ((1 - p[0, 1] ** q) / q + (1 - p[1, 0] ** q) / q) / 2
    assert generalized_cross_entropy(logits, torch.tensor([1, 0]), q).item() == pytest.approx(expected, rel=1e-6)
    mae = ((1 - p[0, 1]) + (1 - p[1, 0])) / 2
    assert generalized_cross_entropy(logits, torch.tensor([1, 0]), 1.0).item() == pytest.approx(mae, rel=1e-6)
    ce = cross_entropy(logits, torch.tensor([1, 0])).item()
    assert generalized_cross_entropy(logits, torch.tensor([1, 0]), 1e-4).item() == pytest.approx(ce, rel=1e-3)
    with pytest.raises(ConfigError, match="q = 0"):
        generalized_cross_entropy(logits, torch.tensor([1, 0]), 0.0)


def test_mean_clustering_error_is_mean_log_of_one_minus_p_true() -> None:
    logits = torch.tensor(LOGITS)
    tau = 0.5
    p = _softmax(np.array(LOGITS) / tau)
    expected = (math.log(1 - p[0, 0]) + math.log(1 - p[1, 1])) / 2
    assert mean_clustering_error(logits, torch.tensor([0, 1]), tau).item() == pytest.approx(expected, rel=1e-6)


def test_multimodal_contrastive_matches_mrl_definition(rng: np.random.Generator) -> None:
    b, tau = 5, 0.7
    z = rng.normal(size=(2 * b, 4))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    # MRL: over the 2B embeddings, exp(sim / tau) with the diagonal removed; positives are the same pair in
    # the other view; a row term and a column term, each a mean of -log(positive / row sum)
    sim = np.exp(z @ z.T / tau)
    np.fill_diagonal(sim, 0.0)
    partner = np.r_[np.arange(b, 2 * b), np.arange(b)]
    rows = -np.mean([math.log(sim[a, partner[a]] / sim[a].sum()) for a in range(2 * b)])
    cols = -np.mean([math.log(sim[partner[a], a] / sim[:, a].sum()) for a in range(2 * b)])
    value = multimodal_contrastive(torch.tensor(z[:b]), torch.tensor(z[b:]), tau).item()
    assert value == pytest.approx(rows + cols, rel=1e-9)


def test_pair_alignment_and_soft_cross_entropy() -> None:
    a, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert pair_alignment(a, b).item() == pytest.approx((2.0 + 0.0) / 2)
    logits = torch.tensor(LOGITS)
    target = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    p = _softmax(np.array(LOGITS))
    expected = -(np.sum(target.numpy() * np.log(p), axis=1)).mean()
    assert soft_cross_entropy(logits, target).item() == pytest.approx(expected, rel=1e-6)
    p0 = _softmax(np.array(LOGITS), axis=0)
    expected0 = -(np.sum(target.T.numpy().T * np.log(p0), axis=0)).mean()
    assert soft_cross_entropy(logits, target, dim=0).item() == pytest.approx(expected0, rel=1e-6)


def test_relation_alignment_with_the_identity_plan_is_symmetric_infonce(rng: np.random.Generator) -> None:
    z = torch.nn.functional.normalize(torch.tensor(rng.normal(size=(6, 3))), dim=1)
    t = torch.nn.functional.normalize(torch.tensor(rng.normal(size=(6, 3))), dim=1)
    tau = 0.2
    s = (z @ t.T).numpy() / tau
    infonce = -np.mean(np.diag(np.log(_softmax(s, 1)))) - np.mean(np.diag(np.log(_softmax(s, 0))))
    loss = relation_alignment_loss(z, t, torch.eye(6, dtype=z.dtype), tau=tau).item()
    assert loss == pytest.approx(infonce, rel=1e-9)


def test_relation_cost_and_plan() -> None:
    z = torch.eye(4)
    labels = torch.eye(2)[torch.tensor([0, 0, 1, 1])]
    cost = relation_cost(z, z, labels, kind="semantic", label_weight=2.0)
    expected = (1 - np.eye(4)) + 2.0 * (1 - labels.numpy() @ labels.numpy().T)
    np.testing.assert_allclose(cost.numpy(), expected)
    np.testing.assert_allclose(relation_cost(z, z, None, kind="feature").numpy(), 1 - np.eye(4))
    plan = relation_plan(cost, eps=0.05, tol=1e-9)
    np.testing.assert_allclose(plan.sum(dim=0).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(plan.sum(dim=1).numpy(), 1.0, atol=1e-6)
    assert (plan.diagonal() > 0.99).all()  # the diagonal is the cheapest perfect matching by far
    # relation cost: 1 - S plus the distance between intra-modal relation rows, here equal for matching rows
    rel = relation_cost(z, z, None, kind="relation", label_weight=1.0)
    np.testing.assert_allclose(np.diag(rel.numpy()), 0.0, atol=1e-7)
    with pytest.raises(ConfigError, match="needs the batch's label"):
        relation_cost(z, z, None, kind="semantic")
    with pytest.raises(ConfigError, match="not one of"):
        relation_cost(z, z, None, kind="labels")
