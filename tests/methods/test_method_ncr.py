"""NCR trains on synthetic tiny: warm-up learns, each net trains on its peer's division, resume is exact."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from method_helpers import (
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
from workbench.errors import RunDirError
from workbench.methods.ncr import NCR


@pytest.fixture(scope="module")
def run(tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> CoTeachingRun:
    return run_coteaching(tiny_config("ncr", warmup_epochs=2, epochs=2), tiny_data)


def test_warmup_loss_decreases_for_each_net(run: CoTeachingRun) -> None:
    per_epoch = [[s["warmup_loss"] for s in steps] for steps in run.steps[:2]]
    half = len(per_epoch[0]) // 2  # net A's epoch, then net B's
    for net in (0, 1):
        values = [v for epoch in per_epoch for v in (epoch[:half] if net == 0 else epoch[half:])]
        assert decreased(values), (net, values)


def test_each_net_trains_on_its_peers_division(run: CoTeachingRun) -> None:
    first_main = [c for c in run.calls if c[0] == 2]
    assert {c[1] for c in first_main} == {0, 1}
    a, b = run.divisions
    assert not np.array_equal(a.prob, b.prob)  # two different nets, two different divisions
    for _, k, labeled, unlabeled, peer in first_main:
        assert peer is run.divisions[1 - k]
        assert np.all(peer.clean[labeled]) and unlabeled is None  # labeled only in the first half
    trained = {k: np.concatenate([c[2] for c in first_main if c[1] == k]) for k in (0, 1)}
    for k in (0, 1):  # every labeled batch of the epoch, without repeats, from the peer's labeled set
        assert len(np.unique(trained[k])) == len(trained[k])
        assert len(trained[k]) == len(run.divisions[1 - k].labeled) // 128 * 128


def test_unlabeled_batches_from_the_second_half(run: CoTeachingRun) -> None:
    assert "unlabeled_loss" not in run.stats[2].losses
    assert "unlabeled_loss" in run.stats[3].losses
    second = [c for c in run.calls if c[0] == 3]
    for _, _, _, unlabeled, peer in second:
        assert unlabeled is not None and not np.any(peer.clean[unlabeled])


def test_split_report_against_the_truth(run: CoTeachingRun, tiny_data: RetrievalData) -> None:
    split = run.stats[2].split
    assert split is not None
    truth = tiny_data.train.true_matched
    for k, division in enumerate(run.divisions):
        est = division.clean
        assert split[f"net{k}_precision"] == pytest.approx((est & truth).sum() / est.sum())
        assert split[f"net{k}_recall"] == pytest.approx((est & truth).sum() / truth.sum())
    for key in ("precision", "recall", "auc", "clean_fraction"):
        assert split[key] == pytest.approx((split[f"net0_{key}"] + split[f"net1_{key}"]) / 2)


def test_nets_are_distinct_and_both_are_evaluated(run: CoTeachingRun) -> None:
    first, second = run.method.models
    assert any(not torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters(), strict=True))
    assert run.method.eval_models() == run.method.models


def test_state_round_trip_gives_identical_scores_and_next_epoch(
        run: CoTeachingRun, tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> None:
    cfg = tiny_config("ncr", warmup_epochs=2, epochs=2)
    restored = restore(cfg, tiny_data, run.state)
    assert isinstance(restored, NCR)
    for got, want in zip(val_scores(restored), run.scores_at_state, strict=True):
        assert torch.equal(got, want)
    for got_div, want_div in zip(restored.divisions, run.divisions, strict=True):
        assert got_div is not None and np.array_equal(got_div.clean, want_div.clean)
    steps: list[dict[str, float]] = []
    run_epoch(restored, 3, steps=steps, torch_seed=3)
    assert steps == run.final_steps
    for got_state, want_state in zip(model_states(restored), run.final, strict=True):
        assert all(torch.equal(got_state[name], want_state[name]) for name in want_state)


def test_a_checkpoint_with_another_number_of_models_is_a_clear_error(
        tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> None:
    vanilla_state = new_method(tiny_config("vanilla"), tiny_data).state_dict()  # one model, one optimiser
    ncr = new_method(tiny_config("ncr", warmup_epochs=2, epochs=2), tiny_data)
    with pytest.raises(RunDirError, match="checkpoint of a ncr run holds 1 models, this method has 2"):
        ncr.load_state_dict(vanilla_state)
