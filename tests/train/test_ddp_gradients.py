"""One training step in two gloo processes gives the same averaged gradients as one process."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from workbench import distributed
from workbench.config import ModelConfig
from workbench.losses import triplet_loss
from workbench.methods.base import shared_pair_scores
from workbench.models import build_model

B, R, D, V = 24, 5, 12, 40  # 24: the triplet loss touches few enough pairs for the sparse backward


def _model(backbone: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=backbone, word_dim=8, embed_size=16, sim_dim=8, dropout=0.0)
    return build_model(cfg, vocab_size=V, img_dim=D, n_regions=R).double().train()


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    images = torch.randn(B, R, D, generator=g, dtype=torch.float64)
    lengths = torch.randint(2, 7, (B,), generator=g)
    tokens = torch.randint(4, V, (B, int(lengths.max())), generator=g)
    return images, tokens, lengths


def _grads(model: torch.nn.Module, sparse: bool) -> dict[str, torch.Tensor]:
    images, tokens, lengths = _batch()
    loss = triplet_loss(shared_pair_scores(model, images, tokens, lengths, sparse_loss=sparse))["triplet_loss"]
    model.zero_grad()
    loss.backward()
    distributed.sync_gradients(list(model.parameters()))
    return {n: (p.grad if p.grad is not None else torch.zeros_like(p)).clone() for n, p in model.named_parameters()}


def _worker(rank: int, port: int, backbone: str, sparse: bool, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    distributed.init_distributed(torch.device("cpu"))
    try:
        grads = _grads(_model(backbone), sparse)
        if rank == 0:
            torch.save(grads, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("backbone, sparse", [("vse", False), ("sgr", False), ("sgr", True), ("saf", False)])
def test_two_process_gradients_equal_one_process(backbone: str, sparse: bool, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "grads.pt"
    mp.spawn(_worker, args=(port, backbone, sparse, str(out)), nprocs=2, join=True)
    two = torch.load(out, weights_only=True)
    one = _grads(_model(backbone), sparse)
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-10, rtol=1e-8, msg=name)
