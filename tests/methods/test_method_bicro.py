"""BiCro trains on synthetic tiny: selective warm-up, peer labels from the peer net, exact resume."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from method_helpers import (
    Call,
    CoTeachingRun,
    decreased,
    model_states,
    new_method,
    restore,
    run_coteaching,
    run_epoch,
    val_scores,
)

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.losses import per_sample_hinge
from workbench.methods.bicro import BMM_CLIP, BiCro, code_beta_mixture
from workbench.methods.coteaching import CoTeaching
from workbench.mixture import clean_probability, fit_beta_mixture, normalise_losses

SETTINGS = {"warmup_epochs": 2, "epochs": 2}


@dataclass
class BiCroRun:
    run: CoTeachingRun
    peer_views: list[tuple[int, int, bool]]  # (net being trained, model asked for labels, its training flag)


@pytest.fixture(scope="module")
def bicro(tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> BiCroRun:
    views: list[tuple[int, int, bool]] = []

    def spy_peer_view(method: CoTeaching, calls: list[Call]) -> None:
        assert isinstance(method, BiCro)
        peer_view = method._peer_view

        def spy(model, batch):  # type: ignore[no-untyped-def]
            views.append((calls[-1][1], method.models.index(model), model.training))
            return peer_view(model, batch)

        method._peer_view = spy  # type: ignore[method-assign]

    return BiCroRun(run_coteaching(tiny_config("bicro", **SETTINGS), tiny_data, spy_peer_view), views)


@pytest.fixture(scope="module")
def run(bicro: BiCroRun) -> CoTeachingRun:
    return bicro.run


def test_warmup_loss_decreases_for_each_net(run: CoTeachingRun) -> None:
    per_epoch = [[s["warmup_loss"] for s in steps] for steps in run.steps[:2]]
    half = len(per_epoch[0]) // 2
    for net in (0, 1):
        values = [v for epoch in per_epoch for v in (epoch[:half] if net == 0 else epoch[half:])]
        assert decreased(values), (net, values)


def test_warmup_keeps_the_smallest_thirty_percent(run: CoTeachingRun, rng: np.random.Generator) -> None:
    scores = torch.as_tensor(rng.uniform(size=(128, 128)))
    per = sorted(per_sample_hinge(scores, 0.2).tolist())
    got = run.method.warmup_terms(scores)["warmup_loss"].item()
    assert got == pytest.approx(sum(per[: int(128 * 0.3)]))


def test_each_net_trains_on_its_peers_division_with_the_peers_labels(bicro: BiCroRun) -> None:
    for _, _, labeled, unlabeled, peer in bicro.run.calls:
        assert np.all(peer.clean[labeled])
        assert unlabeled is None or not np.any(peer.clean[unlabeled])
    # the soft labels of net k's batches come from net 1 - k, in eval mode (the official predict)
    assert {k for k, _, _ in bicro.peer_views} == {0, 1}
    assert all(peer == 1 - k and not training for k, peer, training in bicro.peer_views)
    # one view per labeled batch, one more per unlabeled batch
    assert len(bicro.peer_views) == sum(1 + (c[3] is not None) for c in bicro.run.calls)

def test_unlabeled_batches_from_the_second_half(run: CoTeachingRun) -> None:
    assert "unlabeled_loss" not in run.stats[2].losses
    assert "unlabeled_loss" in run.stats[3].losses
    assert all(c[3] is not None for c in run.calls if c[0] == 3)


def test_nets_are_distinct(run: CoTeachingRun) -> None:
    first, second = run.method.models
    assert any(not torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters(), strict=True))
    assert not np.array_equal(run.divisions[0].prob, run.divisions[1].prob)


def test_mixture_option_selects_the_code_bmm(tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData,
                                             rng: np.random.Generator) -> None:
    losses = np.concatenate([rng.normal(1.0, 0.2, 300), rng.normal(3.0, 0.5, 200)])
    x = normalise_losses(losses, clamp=BMM_CLIP)
    code = new_method(tiny_config("bicro", **{"bicro.mixture": "code"}), tiny_data)
    default = new_method(tiny_config("bicro"), tiny_data)
    assert isinstance(code, BiCro) and isinstance(default, BiCro)
    assert np.allclose(code.clean_probability(losses), code_beta_mixture(x))
    assert np.allclose(default.clean_probability(losses), clean_probability(fit_beta_mixture(x), x))


def test_state_round_trip_gives_identical_scores_and_next_epoch(
        run: CoTeachingRun, tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> None:
    restored = restore(tiny_config("bicro", **SETTINGS), tiny_data, run.state)
    for got, want in zip(val_scores(restored), run.scores_at_state, strict=True):
        assert torch.equal(got, want)
    steps: list[dict[str, float]] = []
    run_epoch(restored, 3, steps=steps, torch_seed=3)
    assert steps == run.final_steps
    for got_state, want_state in zip(model_states(restored), run.final, strict=True):
        assert all(torch.equal(got_state[name], want_state[name]) for name in want_state)
