"""The teaching helpers (``workbench.teaching``) against oracles: assignment, POT, brute force, the scene truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from workbench import teaching, viz
from workbench.config import TrainConfig
from workbench.data.synthetic_generate import generate
from workbench.errors import ConfigError
from workbench.ot import LearnableCost, partial_ot


@pytest.fixture(scope="module")
def train_split():
    return generate("tiny", 0)["train"]


# ------------------------------------------------------------------------------------------ exact_ot
def test_balanced_uniform_square_is_the_assignment(rng: np.random.Generator) -> None:
    cost = rng.random((7, 7))
    rows, cols = linear_sum_assignment(cost)
    sol = teaching.exact_ot(cost)
    assert sol.value == pytest.approx(cost[rows, cols].sum() / 7)
    np.testing.assert_allclose(sol.plan * 7, np.eye(7)[cols][np.argsort(rows)], atol=1e-9)


def test_general_balanced_and_partial_match_pot(rng: np.random.Generator) -> None:
    ot = pytest.importorskip("ot")
    cost = rng.random((5, 8))
    a, b = rng.random(5) + 0.1, rng.random(8) + 0.1
    b *= a.sum() / b.sum()
    sol = teaching.exact_ot(cost, a, b)
    assert sol.value == pytest.approx(float((ot.emd(a, b, cost) * cost).sum()), abs=1e-10)
    np.testing.assert_allclose(sol.plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(sol.plan.sum(0), b, atol=1e-9)
    mass = 0.6 * min(a.sum(), b.sum())
    part = teaching.exact_ot(cost, a, b, mass=mass)
    oracle = ot.partial.partial_wasserstein(a, b, cost, m=mass)
    assert part.value == pytest.approx(float((oracle * cost).sum()), abs=1e-9)
    assert part.plan.sum() == pytest.approx(mass)
    assert (part.plan.sum(1) <= a + 1e-9).all() and (part.plan.sum(0) <= b + 1e-9).all()


def test_mask_forbids_cells_and_infeasible_masks_are_reported(rng: np.random.Generator) -> None:
    cost = rng.random((4, 4))
    mask = ~np.eye(4, dtype=bool)
    sol = teaching.exact_ot(cost, mask=mask)
    assert np.all(sol.plan[~mask] == 0) and sol.plan.sum() == pytest.approx(1.0)
    blocked = np.ones((4, 4), dtype=bool)
    blocked[0] = False  # row 0 has mass and nowhere to send it
    with pytest.raises(ConfigError, match="no optimal plan"):
        teaching.exact_ot(cost, mask=blocked)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"cost": np.ones(3)}, "non-empty"),
    ({"a": np.array([0.5, 0.5, 0.1])}, "sum"),
    ({"a": np.array([-0.5, 1.5, 0.0])}, "non-negative"),
    ({"mass": 1.5}, "mass"),
    ({"mask": np.ones((2, 2), dtype=bool)}, "mask"),
    ({"cost": np.array([[np.nan, 1, 1]] * 3)}, "finite"),
])
def test_exact_ot_rejects_bad_input(kwargs: dict, match: str) -> None:
    args = {"cost": np.ones((3, 3)), **kwargs}
    with pytest.raises(ConfigError, match=match):
        teaching.exact_ot(**args)


# --------------------------------------------------------------------------------- dummy extension
@pytest.mark.parametrize("xi", [0.0, 0.7, 100.0])
def test_dummy_extension_solves_partial_ot_for_any_xi(rng: np.random.Generator, xi: float) -> None:
    cost, a, b = rng.random((6, 5)), np.full(6, 1 / 6), np.full(5, 1 / 5)
    mask = rng.random((6, 5)) > 0.2
    partial = teaching.exact_ot(cost, a, b, mass=0.4, mask=mask)
    ext = teaching.dummy_extension(cost, a, b, 0.4, xi=xi, mask=mask)
    assert ext.cost.shape == (7, 6) and ext.cost[6, 5] == pytest.approx(2 * xi + cost.max())
    np.testing.assert_allclose(ext.a, [*a, 1 - 0.4])
    np.testing.assert_allclose(ext.b, [*b, 1 - 0.4])
    assert ext.mask[:6, :5].tolist() == mask.tolist() and ext.mask[6].all() and ext.mask[:, 5].all()
    solved = teaching.exact_ot(ext.cost, ext.a, ext.b, mask=ext.mask)
    real = solved.plan[:6, :5]
    assert real.sum() == pytest.approx(0.4) and solved.plan[6, 5] == pytest.approx(0.0, abs=1e-12)
    assert (real * cost).sum() == pytest.approx(partial.value, abs=1e-10)


# ----------------------------------------------------------------------------- scene truth, batches
def _overlap_by_hand(truth, caption: int, image: int) -> float:
    said, true = 0, 0
    for cls, attr in zip(truth.caption_classes[caption], truth.caption_attributes[caption], strict=True):
        if cls < 0:
            continue
        have = truth.attribute_of(image, cls)
        said, true = said + 1, true + int(have >= 0)
        if attr >= 0:
            said, true = said + 1, true + int(have >= 0 and have == attr)
    if truth.caption_places[caption] >= 0:
        said, true = said + 1, true + int(truth.caption_places[caption] == truth.image_places[image])
    return true / said


def test_scene_overlap_is_one_exactly_where_the_caption_fits(train_split, rng: np.random.Generator) -> None:
    truth = train_split.truth
    captions = rng.choice(truth.n_captions, 30, replace=False)
    images = np.r_[truth.source_image(captions[:10]), rng.choice(truth.n_images, 20, replace=False)]
    overlap = teaching.scene_overlap(truth, captions, images)
    assert overlap.shape == (30, 30) and overlap.min() >= 0 and overlap.max() <= 1
    np.testing.assert_array_equal(overlap == 1.0, truth.compatibility(captions, images).T)
    for r, s in zip(rng.integers(0, 30, 40), rng.integers(0, 30, 40), strict=True):
        assert overlap[r, s] == pytest.approx(_overlap_by_hand(truth, captions[s], images[r]))


def test_noisy_batch_holds_mismatched_pairs_and_their_truth(train_split) -> None:
    batch = teaching.noisy_batch(train_split, mrate=0.6, batch_size=32, seed=3)
    truth = train_split.truth
    assert len(set(batch.captions.tolist())) == 32
    assert (batch.images != truth.source_image(batch.captions)).all()
    np.testing.assert_array_equal(batch.fits, truth.compatibility(batch.captions, batch.images).T)
    assert not np.diag(batch.fits).any() and batch.overlap.shape == (32, 32)
    assert batch.texts == tuple(train_split.captions[c] for c in batch.captions)
    again = teaching.noisy_batch(train_split, mrate=0.6, batch_size=32, seed=3)
    np.testing.assert_array_equal(again.captions, batch.captions)
    with pytest.raises(ConfigError, match="fewer than"):
        teaching.noisy_batch(train_split, mrate=0.01, batch_size=128, seed=0)


def test_mass_breakdown() -> None:
    plan = np.zeros((3, 3))
    plan[0, 0], plan[0, 1], plan[2, 1] = 0.1, 0.3, 0.4
    fits = np.zeros((3, 3), dtype=bool)
    fits[0, 1] = True
    out = teaching.mass_breakdown(plan, fits)
    assert (out.total, out.diagonal, out.fitting, out.other) == pytest.approx((0.8, 0.125, 0.375, 0.5))
    with pytest.raises(ConfigError, match="no mass"):
        teaching.mass_breakdown(np.zeros((2, 2)), np.zeros((2, 2), dtype=bool))
    with pytest.raises(ConfigError, match=r"\[B, B\]"):
        teaching.mass_breakdown(np.ones((2, 3)), np.zeros((2, 3), dtype=bool))


def test_alignment_record_draws_as_a_saved_batch(train_split) -> None:
    batch = teaching.noisy_batch(train_split, mrate=0.6, batch_size=16, seed=0)
    cost = np.clip(1 - batch.overlap, 0, None)
    mask = ~np.eye(16, dtype=bool)
    result = partial_ot(torch.as_tensor(cost), mass=0.2, eps=0.1, mask=torch.as_tensor(mask))
    record = teaching.alignment_record(batch, cost, result, mask=mask, rho=0.2)
    assert record["plan"].shape == (16, 16) and record["mask"].tolist() == mask.tolist()
    assert record["dummy_row"].shape == (16,) and record["truth"].tolist() == batch.fits.tolist()
    stats = viz.alignment_stats(record)
    assert stats.transported == pytest.approx(0.2, abs=1e-4) and stats.rho == pytest.approx(0.2)
    assert teaching.alignment_record(batch, cost, result, mask=None, rho=0.2)["mask"].all()


# ------------------------------------------------------------------------------------ learnable cost
def test_reconstructed_batch_plants_true_pairs(train_split, rng: np.random.Generator) -> None:
    gen = torch.Generator().manual_seed(0)
    batch = teaching.reconstructed_batch(train_split.truth, batch_size=40, scale=0.5, noise=0.0, rng=rng,
                                         generator=gen)
    planted = batch.pi_sup.numpy().astype(bool)
    assert 1 <= planted.sum() <= 4 and planted.sum(0).max() == 1 and planted.sum(1).max() == 1
    assert np.all(batch.similarity.numpy()[planted] == pytest.approx(0.5))  # a caption fits its own image
    assert batch.similarity.dtype == torch.float32 and batch.similarity.shape == (40, 40)


def test_fit_cost_moves_only_planted_captions_and_lowers_their_cost(train_split, rng: np.random.Generator) -> None:
    gen = torch.Generator().manual_seed(0)
    batches = [teaching.reconstructed_batch(train_split.truth, batch_size=32, rng=rng, generator=gen)
               for _ in range(30)]
    net = LearnableCost(32)
    first = teaching.fit_cost(net, batches[:1], lr=1e-2)
    planted_captions = set(np.nonzero(batches[0].pi_sup.numpy())[1].tolist())
    moved = set(np.flatnonzero((net.linear.weight.detach() + torch.eye(32)).abs().sum(1).numpy() > 0).tolist())
    assert moved == planted_captions and len(first) == 1
    probe = (batches[-1].similarity, batches[-1].pi_sup.numpy().astype(bool))
    trace = teaching.fit_cost(net, batches[1:], lr=1e-2, probe=probe)
    assert list(trace["step"]) == list(range(29))
    assert {"loss", "planted_cost", "other_cost", "probe_fit_cost", "probe_other_cost"} <= set(trace)
    assert trace["probe_fit_cost"].iloc[-1] < trace["probe_fit_cost"].iloc[0]


# ------------------------------------------------------------------------------------- memorisation
def test_loss_trace_records_every_pair_each_epoch(tmp_path: Path) -> None:
    cfg = TrainConfig().override({
        "method": "vanilla", "backbone": "vse", "size": "tiny", "train_images": 20, "mrate": 0.4,
        "embed_size": 16, "word_dim": 8, "batch_size": 25, "warmup_epochs": 2, "device": "cpu", "threads": 1,
        "vanilla.warmup_loss": "infonce", "root": str(tmp_path),
    })
    seen = []
    trace = teaching.loss_trace(cfg, epochs=2, on_epoch=lambda e, f: seen.append((e, len(f))))
    assert seen == [(0, 100), (1, 100)]
    assert len(trace) == 200 and set(trace["epoch"]) == {0, 1}
    assert (trace["loss"] >= 0).all() and trace["pair"].tolist() == [*range(100), *range(100)]
    assert trace.groupby("epoch")["true_matched"].mean().tolist() == pytest.approx([0.6, 0.6])
