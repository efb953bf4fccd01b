"""Ranks counted on the scoring device: any block budget gives the host stream's ranks, ties included."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from workbench.bench.sgraf_eval import random_eval_split
from workbench.bench.shapes import BenchShape
from workbench.errors import ConfigError, DataFormatError
from workbench.evaluate.device_ranks import BYTES_PER_ENTRY, block_shape, ranks_on_device
from workbench.evaluate.recall import ranks_from_scores
from workbench.models import RetrievalModel
from workbench.scoring import evaluate_split


def _scores(n_img: int, k: int, seed: int, ties: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n_img, n_img * k, generator=g)
    if ties:  # coarse values: many exact ties with the ground truths
        scores = (scores * 4).round() / 4
    return scores


def _device(scores: torch.Tensor, k: int, memory_mb: float) -> tuple[np.ndarray, np.ndarray]:
    calls: list[tuple[int, int]] = []

    def block(r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        calls.append((r1 - r0, c1 - c0))
        return scores[r0:r1, c0:c1]

    cols = torch.arange(scores.shape[1])
    ranks = ranks_on_device(block, scores[cols // k, cols], k, memory_mb=memory_mb)
    budget = memory_mb * 2**20 / BYTES_PER_ENTRY
    assert all(r * c <= max(budget, 1) for r, c in calls)  # every block within the budget
    return ranks.i2t, ranks.t2i


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("memory_mb", [1e-5, 3e-4, 2e-3, 100.0])  # 1 entry, part of a row, a few rows, everything
def test_chunked_equals_unchunked_equals_host(memory_mb: float, ties: bool) -> None:
    k = 5
    scores = _scores(23, k, seed=3, ties=ties)
    i2t, t2i = _device(scores, k, memory_mb)
    whole_i2t, whole_t2i = _device(scores, k, 100.0)
    host = ranks_from_scores(scores.numpy(), k)
    assert np.array_equal(i2t, whole_i2t) and np.array_equal(t2i, whole_t2i)
    assert np.array_equal(i2t, host.i2t) and np.array_equal(t2i, host.t2i)


def test_block_shape_prefers_whole_rows() -> None:
    assert block_shape(1000, 5000, 256.0) == (1000, 5000)  # F30K test fits at once
    rows, cols = block_shape(5000, 25000, 64.0)
    assert cols == 25000 and rows == (64 * 2**20 // BYTES_PER_ENTRY) // 25000
    assert block_shape(10, 1000, 1e-3) == (1, 174)
    with pytest.raises(ConfigError, match="budget"):
        block_shape(10, 50, 0)


def test_bad_blocks_are_named() -> None:
    gt = torch.rand(10)
    with pytest.raises(DataFormatError, match="expected \\(2, 10\\)"):
        ranks_on_device(lambda r0, r1, c0, c1: torch.zeros(1, 1), gt, 5, memory_mb=1.0)
    with pytest.raises(DataFormatError, match="hold NaN"):
        ranks_on_device(lambda r0, r1, c0, c1: torch.full((r1 - r0, c1 - c0), float("nan")), gt, 5, memory_mb=1.0)
    with pytest.raises(DataFormatError, match="5 captions per image"):
        ranks_on_device(lambda r0, r1, c0, c1: torch.zeros(r1 - r0, c1 - c0), torch.rand(7), 5, memory_mb=1.0)


@pytest.mark.parametrize("kinds", [("sgr",), ("saf", "sgr"), ("vse",)])
def test_evaluate_split_on_device_equals_the_host_stream(kinds: tuple[str, ...]) -> None:
    shape = BenchShape.smoke()
    split = random_eval_split(shape, seed=1)
    torch.manual_seed(0)
    models = [RetrievalModel(shape.model_config(kind), vocab_size=shape.vocab, img_dim=shape.img_dim,
                             n_regions=shape.n_regions) for kind in kinds]
    cpu = torch.device("cpu")
    host = evaluate_split(models, split, cpu, image_chunk=5, caption_chunk=7)["all"]
    device = evaluate_split(models, split, cpu, on_device=True, memory_mb=2e-3)["all"]
    assert device.as_dict() == host.as_dict()


def test_coco_protocol_on_device_equals_the_host_stream() -> None:
    shape = BenchShape.smoke()
    split = random_eval_split(dataclasses.replace(shape, eval_images=20), 2)  # 5 folds of 4 images
    torch.manual_seed(1)
    models = [RetrievalModel(shape.model_config("sgr"), vocab_size=shape.vocab, img_dim=shape.img_dim,
                             n_regions=shape.n_regions)]
    cpu = torch.device("cpu")
    host = evaluate_split(models, split, cpu, coco=True, image_chunk=3, caption_chunk=11)
    device = evaluate_split(models, split, cpu, coco=True, on_device=True, memory_mb=1e-3)
    assert set(device) == {"all", "5fold", "5k"}
    for key in device:
        assert device[key].as_dict() == pytest.approx(host[key].as_dict()), key
