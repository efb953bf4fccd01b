"""L2RM's rematch path end to end (queue, mask, learned cost at its initialisation, masked partial OT,
refined alignment, statistics) on a similarity that knows the synthetic truth: the plan must pick a fitting
caption on almost every row that has one, and fall to chance when the same scores are shuffled. A broken
mask, plan orientation, normalisation or argmax fails it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from method_helpers import new_method

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.methods.l2rm_record import RematchRecorder
from workbench.ot.targets import diagonal_mask

BATCHES = 4


def _rematch_summary(tiny_config: Callable[..., TrainConfig], data: RetrievalData, *, shuffle: bool) -> dict:
    cfg = tiny_config("l2rm", **{"split_guard": False, "l2rm.lam": 0.01})
    method = new_method(cfg, data)
    b, q = cfg.optim.batch_size, method.queue_length
    train, truth = data.train, data.truth
    rng = np.random.default_rng(0)
    recorder = RematchRecorder(train, truth, epoch=0, rho=cfg.l2rm.rho, lam=cfg.l2rm.lam, max_batches=0,
                               max_examples=q * BATCHES)
    mask = diagonal_mask(q, b) if method.mask_enabled() else None
    for step in range(BATCHES):
        nidx = rng.choice(len(train.pair_image), size=b, replace=False)
        method.queue = np.concatenate([train.pair_image[nidx], rng.choice(train.pair_image, q - b)])
        fits = truth.compatibility(nidx, method.queue).T.astype(np.float32)  # [Q, B]
        if shuffle:
            fits = fits[:, rng.permutation(b)]
        noise = rng.uniform(0.0, 0.05, size=fits.shape).astype(np.float32)
        scores = torch.from_numpy(0.2 + 0.6 * fits + noise).requires_grad_()
        method.pair_scores = lambda *args, _s=scores, **kwargs: _s  # type: ignore[method-assign]
        terms = method._rematch(nidx, mask, recorder, step)
        assert torch.isfinite(terms["rematch_loss"])
    summary = recorder.summary()
    assert summary is not None
    # the rematched caption of each transported row, read from the refined alignment the loss trains towards
    rematched = [e["fit"] for e in recorder.examples if e["transported"]]
    return {**summary, "target_fit_transported": float(np.mean(rematched))}


@pytest.fixture(scope="module")
def oracle(tiny_config, tiny_data) -> dict:
    return _rematch_summary(tiny_config, tiny_data, shuffle=False)


def test_an_oracle_similarity_is_rematched_to_fitting_captions(oracle: dict) -> None:
    assert oracle["available"] > 0.2  # enough rows have a fitting caption for the figure to mean something
    assert oracle["ceiling_available"] > 0.95
    assert oracle["precision_available"] > 0.9
    assert oracle["precision_available"] > 10 * oracle["chance_available"]
    assert oracle["top1_transported"] > 0.8  # a transported row is a rematch, not label smoothing
    assert oracle["target_fit_transported"] > 0.9  # and the loss's target points at the fitting caption


def test_shuffled_scores_rematch_at_chance(tiny_config, tiny_data, oracle: dict) -> None:
    shuffled = _rematch_summary(tiny_config, tiny_data, shuffle=True)
    assert shuffled["precision_available"] < oracle["precision_available"] - 0.5
    assert shuffled["precision_available"] < 3 * shuffled["chance_available"] + 0.05
    assert shuffled["target_fit_transported"] < oracle["target_fit_transported"] - 0.5
