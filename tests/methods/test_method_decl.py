"""DECL trains on synthetic tiny: the warm-up learns, the division is the in-batch evidence argmax, the
main epoch uses it, the step counter anneals K and survives a checkpoint."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from method_helpers import decreased, model_states, new_method, restore, run_epoch, snapshot, val_scores

import workbench.methods.decl as decl_module
from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.losses_robust import rdh_negatives
from workbench.methods.base import EpochStats
from workbench.methods.decl import DECL

SETTINGS = {"warmup_epochs": 1, "epochs": 2}


@dataclass
class Run:
    method: DECL
    warmup_steps: list[dict[str, float]]
    stats: list[EpochStats]
    flags_used: list[tuple[np.ndarray, np.ndarray]]  # (pair indices, clean flags given to the losses)
    est_clean: np.ndarray
    state: bytes
    scores: list[torch.Tensor]
    final: list[dict[str, torch.Tensor]]
    final_steps: list[dict[str, float]]


@pytest.fixture(scope="module")
def run(tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> Run:
    method = new_method(tiny_config("decl", **SETTINGS), tiny_data)
    assert isinstance(method, DECL)
    flags: list[tuple[np.ndarray, np.ndarray]] = []
    batch_scores, edl = method.batch_scores, decl_module.edl_loss
    pending: list[np.ndarray] = []

    def spy_scores(model, batch, *, logits=False):  # type: ignore[no-untyped-def]
        if model.training:  # training batches only (the division pass runs in eval mode)
            pending.append(batch.captions.copy())
        return batch_scores(model, batch, logits=logits)

    def spy_edl(e, clean, lambda2):  # type: ignore[no-untyped-def]
        flags.append((pending.pop(), clean.numpy().copy()))
        return edl(e, clean, lambda2)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(method, "batch_scores", spy_scores)
        patch.setattr(decl_module, "edl_loss", spy_edl)
        warmup: list[dict[str, float]] = []
        stats = [run_epoch(method, 0, steps=warmup, torch_seed=0), run_epoch(method, 1, torch_seed=1)]
    assert method.est_clean is not None
    est = method.est_clean.copy()
    state, scores = snapshot(method), val_scores(method)
    final_steps: list[dict[str, float]] = []
    stats.append(run_epoch(method, 2, steps=final_steps, torch_seed=2))
    return Run(method, warmup, stats, flags, est, state, scores, model_states(method), final_steps)


def test_warmup_loss_decreases(run: Run) -> None:
    assert decreased([s["loss"] for s in run.warmup_steps])
    assert {"edl_loss", "rdh_loss"} <= set(run.warmup_steps[0])


def test_warmup_treats_every_pair_as_clean_and_main_uses_the_division(run: Run) -> None:
    n_warmup = len(run.warmup_steps)
    for _, clean in run.flags_used[:n_warmup]:
        assert clean.all()
    main = run.flags_used[n_warmup:]
    assert main
    for idx, clean in main:
        assert np.array_equal(clean, run.est_clean[idx])


def test_step_counter_anneals_k_across_epochs(run: Run) -> None:
    steps_per_epoch = run.stats[0].steps
    assert run.stats[1].extra["global_step"] == 2 * steps_per_epoch
    assert run.method.global_step == 3 * steps_per_epoch
    c = run.method.cfg.decl
    assert run.stats[1].extra["rdh_negatives"] == rdh_negatives(2 * steps_per_epoch, 128, c.eta, c.mu)


@torch.no_grad()
def test_division_is_the_in_batch_argmax_of_the_symmetrised_evidence(run: Run) -> None:
    method = run.method
    train, model, b = method.data.train, method.models[0], 128
    got, _ = method.divide(np.random.default_rng(5))
    perm = np.random.default_rng(5).permutation(train.n_pairs)
    perm = np.concatenate([perm, perm[: math.ceil(len(perm) / b) * b - len(perm)]])
    want = np.zeros(train.n_pairs, dtype=bool)
    model.eval()
    for start in range(0, train.n_pairs, b):  # batches in order; padding pairs never overwrite
        idx = perm[start:start + b]
        batch = train.batch(idx)
        z = model.logits(model.encode_images(batch.images), model.encode_captions(batch.tokens, batch.lengths))
        e = np.exp(np.tanh(z.double().numpy()) / method.cfg.decl.tau)
        sym = e + e.T
        for row, pair in enumerate(idx[: min(b, train.n_pairs - start)]):
            want[pair] = int(np.argmax(sym[row] / sym[row].sum())) == row
    model.train()
    assert np.array_equal(got, want)


def test_split_quality_is_reported(run: Run, tiny_data: RetrievalData) -> None:
    split = run.stats[1].split
    assert split is not None and run.stats[0].split is None
    truth = tiny_data.train.true_matched
    assert split["clean_fraction"] == pytest.approx(run.est_clean.mean())
    if run.est_clean.any():
        assert split["precision"] == pytest.approx((run.est_clean & truth).sum() / run.est_clean.sum())


def test_state_round_trip_gives_identical_scores_and_next_epoch(
        run: Run, tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData) -> None:
    restored = restore(tiny_config("decl", **SETTINGS), tiny_data, run.state)
    assert isinstance(restored, DECL)
    assert restored.global_step == 2 * run.stats[0].steps
    assert restored.est_clean is not None and np.array_equal(restored.est_clean, run.est_clean)
    for got, want in zip(val_scores(restored), run.scores, strict=True):
        assert torch.equal(got, want)
    steps: list[dict[str, float]] = []
    run_epoch(restored, 2, steps=steps, torch_seed=2)
    assert steps == run.final_steps
    for got_state, want_state in zip(model_states(restored), run.final, strict=True):
        assert all(torch.equal(got_state[name], want_state[name]) for name in want_state)
