"""The learnable cost, its self-supervision (Eq. 6), the cosine cost, and plan targets / masks."""

from __future__ import annotations

import pytest
import torch

from workbench.errors import ConfigError
from workbench.ot import (
    LearnableCost,
    build_cost_supervision,
    cosine_cost,
    cost_supervision_loss,
    diagonal_mask,
    plan_targets,
)


def test_official_init_is_relu_one_minus_similarity():
    similarity = torch.rand(5, 8, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2  # some S > 1
    cost = LearnableCost(8)(similarity)
    torch.testing.assert_close(cost, torch.relu(1 - similarity))
    assert (cost[similarity > 1] == 0).all()


def test_the_layer_mixes_along_the_caption_axis():
    layer = LearnableCost(4, init="xavier")
    similarity = torch.randn(3, 4)
    expected = torch.relu(similarity @ layer.linear.weight.T + layer.linear.bias)
    torch.testing.assert_close(layer(similarity), expected)
    assert (layer.linear.bias == 0).all()
    # Batched over leading dims; image rows are free, the caption width is fixed.
    assert layer(torch.randn(2, 7, 4)).shape == (2, 7, 4)
    with pytest.raises(ConfigError, match="exactly 4"):
        layer(torch.randn(3, 5))


@pytest.mark.parametrize("bad", [dict(n_captions=0), dict(n_captions=4, init="zeros")])
def test_learnable_cost_rejects(bad):
    with pytest.raises(ConfigError):
        LearnableCost(**bad)


def test_cosine_cost_against_brute_force(rng):
    x, y = torch.tensor(rng.normal(size=(4, 6))), torch.tensor(rng.normal(size=(3, 6)))
    expected = torch.tensor([[1 - float(xi @ yj / (xi.norm() * yj.norm())) for yj in y] for xi in x])
    torch.testing.assert_close(cosine_cost(x, y), expected.double())
    assert torch.isfinite(cosine_cost(torch.zeros(2, 6, dtype=torch.float64), y)).all()
    with pytest.raises(ConfigError, match="feature dims differ"):
        cosine_cost(x, torch.ones(3, 5, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(5))
def test_supervision_invariants(seed):
    generator = torch.Generator().manual_seed(seed)
    sup = build_cost_supervision(20, 30, reserve_ratio=0.2, generator=generator)
    assert 1 <= sup.k <= 6  # int(0.2 * 30)
    assert sup.pi_sup.shape == (20, 30) and sup.pi_sup.sum() == sup.k
    assert set(sup.pi_sup.unique().tolist()) <= {0.0, 1.0}
    assert len(set(sup.slots.tolist())) == sup.k and len(set(sup.captions.tolist())) == sup.k
    # Exactly one 1 per chosen caption and per chosen slot, where the index lists say.
    assert (sup.pi_sup.sum(0)[sup.captions] == 1).all() and (sup.pi_sup.sum(1)[sup.slots] == 1).all()
    assert (sup.pi_sup[sup.slots, sup.captions] == 1).all()
    again = build_cost_supervision(20, 30, reserve_ratio=0.2, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(again.pi_sup, sup.pi_sup) and torch.equal(again.slots, sup.slots)


def test_uniform_count_covers_its_range_and_fixed_count_is_fixed():
    generator = torch.Generator().manual_seed(0)
    counts = {build_cost_supervision(128, 128, generator=generator).k for _ in range(300)}
    assert counts == set(range(1, 13))  # Uniform{1..int(0.1 * 128)}, the reference code's rule
    assert build_cost_supervision(128, 128, count="fixed", generator=generator).k == 12


def test_assemble_plants_clean_images_at_the_slots():
    sup = build_cost_supervision(6, 10, reserve_ratio=0.5, generator=torch.Generator().manual_seed(1))
    distractors = torch.arange(6.0)[:, None].expand(6, 3).clone()
    clean = 100 + torch.arange(10.0)[:, None].expand(10, 3)
    images = sup.assemble(distractors, clean)
    assert torch.equal(images[sup.slots], clean[sup.captions])
    others = torch.ones(6, dtype=torch.bool)
    others[sup.slots] = False
    assert torch.equal(images[others], distractors[others])
    assert torch.equal(distractors, torch.arange(6.0)[:, None].expand(6, 3))  # input untouched


@pytest.mark.parametrize(
    "kwargs", [dict(reserve_ratio=0.01), dict(reserve_ratio=2.0), dict(count="all"), dict(n_slots=0)]
)
def test_supervision_rejects(kwargs):
    arguments = dict(n_slots=8, n_captions=8) | kwargs
    with pytest.raises(ConfigError):
        build_cost_supervision(**arguments)


def test_loss_on_a_hand_computed_case():
    cost = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    pi_sup = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert cost_supervision_loss(cost, pi_sup)["cost_loss"].item() == pytest.approx(0.2 + 0.6)
    assert cost_supervision_loss(cost, pi_sup, reduction="mean")["cost_loss"].item() == pytest.approx(0.4)
    with pytest.raises(ConfigError, match="differ"):
        cost_supervision_loss(cost, pi_sup.T)
    with pytest.raises(ConfigError, match="reduction"):
        cost_supervision_loss(cost, pi_sup, reduction="max")


def test_adam_steps_lower_the_cost_at_supervised_entries():
    torch.manual_seed(0)
    layer = LearnableCost(16)
    similarity = torch.rand(16, 16) * 0.6
    sup = build_cost_supervision(
        16, 16, reserve_ratio=0.25, count="fixed", generator=torch.Generator().manual_seed(2)
    )
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2)

    def supervised_cost() -> torch.Tensor:
        return layer(similarity)[sup.slots, sup.captions]

    before = supervised_cost().detach()
    for _ in range(5):
        optimizer.zero_grad()
        cost_supervision_loss(layer(similarity), sup.pi_sup)["cost_loss"].backward()
        optimizer.step()
    assert (supervised_cost() < before).all()


def test_plan_targets_normalise_rows_and_columns(rng):
    plan = torch.tensor(rng.uniform(size=(2, 4, 5)))
    plan[0, 1] = 0.0  # a row the partial plan left empty still gets a (uniform) target
    i2t, t2i = plan_targets(plan)
    assert i2t.shape == (2, 4, 5) and t2i.shape == (2, 5, 4)
    torch.testing.assert_close(i2t.sum(-1), torch.ones(2, 4, dtype=torch.float64))
    torch.testing.assert_close(t2i.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    torch.testing.assert_close(i2t[0, 1], torch.full((5,), 0.2, dtype=torch.float64))
    clipped = plan.clamp_min(1e-10)
    torch.testing.assert_close(i2t[1, 2], clipped[1, 2] / clipped[1, 2].sum())
    torch.testing.assert_close(t2i[1, 3], clipped[1, :, 3] / clipped[1, :, 3].sum())
    with pytest.raises(ConfigError):
        plan_targets(plan, clip=0.0)
    with pytest.raises(ConfigError):
        plan_targets(torch.ones(3))


def test_diagonal_mask():
    mask = diagonal_mask(3, 4)
    assert mask.dtype == torch.bool and mask.shape == (3, 4)
    assert mask.sum() == 12 - 3 and not mask[0, 0] and not mask[2, 2] and mask[0, 3]
    assert torch.equal(diagonal_mask(4), ~torch.eye(4, dtype=torch.bool))
    assert diagonal_mask(3, batch_shape=(5,)).shape == (5, 3, 3)
    with pytest.raises(ConfigError):
        diagonal_mask(0)
