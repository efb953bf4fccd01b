"""L2RM's step mechanics: the queue, the order cost update -> rematch, the planted pairs of Eq. 6, the mask
rules, the split in eval mode, resume state."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from method_helpers import new_method, restore, run_epoch, snapshot, val_scores

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.methods.l2rm import L2RM


@pytest.fixture
def l2rm_cfg(tiny_config: Callable[..., TrainConfig]) -> Callable[..., TrainConfig]:
    return lambda **kw: tiny_config("l2rm", **{"split_guard": False, "warmup_epochs": 1, **kw})


def _spy(method: L2RM, events: list[tuple[str, object]]) -> None:
    cost_step, rematch = method._cost_step, method._rematch

    def spy_cost(clean, generator):  # noqa: ANN001, ANN202
        events.append(("cost", method.queue.copy()))
        return cost_step(clean, generator)

    def spy_rematch(nidx, mask, recorder, step):  # noqa: ANN001, ANN202
        events.append(("rematch", (method.queue.copy(), nidx.copy(), None if mask is None else mask.clone())))
        return rematch(nidx, mask, recorder, step)

    method._cost_step, method._rematch = spy_cost, spy_rematch  # type: ignore[method-assign]


def test_queue_is_fifo_and_the_cost_update_comes_first(l2rm_cfg, tiny_data: RetrievalData) -> None:
    b = 128
    method = new_method(l2rm_cfg(**{"l2rm.queue_length": 2 * b}), tiny_data)
    assert isinstance(method, L2RM)
    events: list[tuple[str, object]] = []
    run_epoch(method, 0)
    _spy(method, events)
    run_epoch(method, 1)
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["cost", "rematch"] and kinds == ["cost", "rematch"] * (len(kinds) // 2)
    for i in range(0, len(events), 2):
        before = events[i][1]
        queue, nidx, mask = events[i + 1][1]
        # the cost update used the queue before this step's noisy batch was pushed ...
        np.testing.assert_array_equal(queue[b:], before[:-b])
        # ... which then holds this batch's images first (their captions are the rematched columns)
        np.testing.assert_array_equal(queue[:b], tiny_data.train.pair_image[nidx])
        # only the current batch's own pairs are masked: rows >= B come from earlier batches
        assert mask is not None and mask.shape == (2 * b, b)
        assert not mask[:b].diagonal().any() and mask[:b].sum() == b * b - b and mask[b:].all()


def test_planted_pairs_match_the_supervision(l2rm_cfg, tiny_data: RetrievalData, monkeypatch) -> None:
    method = new_method(l2rm_cfg(), tiny_data)
    run_epoch(method, 0)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    import workbench.methods.l2rm as l2rm_module

    build = l2rm_module.build_cost_supervision

    def spy_build(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        sup = build(*args, **kwargs)
        seen.append(("sup", sup))
        return sup

    pair_scores = method.pair_scores

    def spy_scores(model, images, tokens, lengths, **kw):  # noqa: ANN001, ANN003, ANN202
        if not model.training:  # the cost update's key pass runs in eval mode
            seen.append(("images", images.clone()))
        return pair_scores(model, images, tokens, lengths, **kw)

    monkeypatch.setattr(l2rm_module, "build_cost_supervision", spy_build)
    method.pair_scores = spy_scores  # type: ignore[method-assign]
    clean = tiny_data.train.batch(np.flatnonzero(tiny_data.train.true_matched)[:128])
    method._cost_step(clean, torch.Generator().manual_seed(0))
    (_, sup), (_, images) = [e for e in seen if e[0] == "sup"][0], [e for e in seen if e[0] == "images"][0]
    assert 1 <= sup.k <= 12 and sup.pi_sup.sum() == sup.k
    for slot, caption in zip(sup.slots.tolist(), sup.captions.tolist(), strict=True):
        assert sup.pi_sup[slot, caption] == 1
        torch.testing.assert_close(images[slot], clean.images[caption])


@pytest.mark.parametrize("dataset_mrate, mode, expected", [
    (("synthetic", 0.6), "auto", True),
    (("synthetic", 0.0), "auto", False),  # the paper disables the mask on the original data (Appendix D.1)
    (("synthetic", 0.0), "on", True),
    (("synthetic", 0.6), "off", False),
])
def test_mask_rules(l2rm_cfg, tiny_data: RetrievalData, dataset_mrate, mode: str, expected: bool) -> None:
    _, mrate = dataset_mrate
    method = L2RM.__new__(L2RM)  # the rule only reads the config
    method.cfg = l2rm_cfg(mrate=mrate, **{"l2rm.mask_positives": mode})
    assert method.mask_enabled() is expected
    method.cfg = method.cfg.override({"dataset": "cc152k", "mrate": 0.0, "l2rm.mask_positives": "auto"})
    assert method.mask_enabled()  # real mismatches keep the mask (the reference code drops it: use "off")


@pytest.mark.parametrize("cost_fn", ["learned", "cosine"])
def test_split_pass_runs_in_eval_mode(l2rm_cfg, tiny_data: RetrievalData, cost_fn: str) -> None:
    method = new_method(l2rm_cfg(**{"l2rm.cost_fn": cost_fn}), tiny_data)
    run_epoch(method, 0)
    modes: list[bool] = []
    batch_scores = method.batch_scores

    def spy(model, batch, **kw):  # noqa: ANN001, ANN003, ANN202
        modes.append(model.training)
        return batch_scores(model, batch, **kw)

    method.batch_scores = spy  # type: ignore[method-assign]

    class _Writer:  # records the per-pair cost, which the cosine ablation computes with extra forwards
        def artifact(self, name):  # noqa: ANN001, ANN202
            raise AssertionError("not written in this test")

    from workbench.methods.base import EpochContext

    ctx = EpochContext(epoch=1, phase="train", main_epoch=0, lr_scale=1.0, data=tiny_data,
                       device=torch.device("cpu"), artifacts=_Writer())
    quality, recorder = method._split(ctx)
    assert modes and not any(modes)  # every per-sample batch in eval mode
    assert method.models[0].training  # and the model is back in training mode afterwards
    assert recorder is not None and not np.isnan(recorder.cost).any()
    assert 0 <= quality["auc"] <= 1


def test_state_round_trip_replays_the_next_epoch(l2rm_cfg, tiny_data: RetrievalData) -> None:
    cfg = l2rm_cfg()
    method = new_method(cfg, tiny_data)
    run_epoch(method, 0)
    run_epoch(method, 1, torch_seed=1)
    state = snapshot(method)
    copy = restore(cfg, tiny_data, state)
    np.testing.assert_array_equal(copy.queue, method.queue)
    steps_a: list[dict[str, float]] = []
    steps_b: list[dict[str, float]] = []
    run_epoch(method, 2, steps=steps_a, torch_seed=2)
    run_epoch(copy, 2, steps=steps_b, torch_seed=2)
    assert steps_a == steps_b
    for a, b in zip(val_scores(method), val_scores(copy), strict=True):
        torch.testing.assert_close(a, b)
