"""RCL trains on synthetic tiny with the complementary loss; random negatives are well formed; resume is exact."""

from __future__ import annotations

from collections.abc import Callable

import torch
from method_helpers import decreased, model_states, new_method, restore, run_epoch, snapshot, val_scores

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.methods.rcl import random_negatives


def test_ccl_loss_decreases_and_no_split(tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> None:
    method = new_method(tiny_config("rcl", warmup_epochs=0, epochs=3), tiny_data)
    steps: list[dict[str, float]] = []
    for epoch in range(3):
        stats = run_epoch(method, epoch, steps=steps, torch_seed=epoch)
        assert stats.split is None and set(stats.losses) == {"ccl_loss", "loss"}
    assert decreased([s["ccl_loss"] for s in steps])


def test_random_negatives_mask() -> None:
    gen = torch.Generator().manual_seed(0)
    mask = random_negatives(10, 0.5, gen)
    assert torch.equal(mask.sum(dim=1), torch.full((10,), 5.0))
    assert torch.all(mask.diagonal() == 0)
    assert not torch.equal(mask, random_negatives(10, 0.5, gen))  # a fresh draw per batch
    full = random_negatives(4, 0.0)
    assert torch.equal(full, 1 - torch.eye(4))


def test_state_round_trip_gives_identical_scores_and_next_epoch(
        tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> None:
    cfg = tiny_config("rcl", **{"warmup_epochs": 0, "epochs": 2, "rcl.neg_ratio": 0.5})
    method = new_method(cfg, tiny_data)
    run_epoch(method, 0, torch_seed=0)
    state, scores = snapshot(method), val_scores(method)
    restored = restore(cfg, tiny_data, state)
    for got, want in zip(val_scores(restored), scores, strict=True):
        assert torch.equal(got, want)
    want_steps: list[dict[str, float]] = []
    got_steps: list[dict[str, float]] = []
    run_epoch(method, 1, steps=want_steps, torch_seed=1)
    run_epoch(restored, 1, steps=got_steps, torch_seed=1)
    assert got_steps == want_steps
    for got_state, want_state in zip(model_states(restored), model_states(method), strict=True):
        assert all(torch.equal(got_state[name], want_state[name]) for name in want_state)
