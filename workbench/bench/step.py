"""Benchmark: one training step of the batched SGR/SAF head against a per-caption loop, at paper sizes.

The loop is how the reference code computes a batch: for each caption (cut to its own length), score it
against every image, then stack the columns. The batched head (:class:`workbench.models.SGRAFHead`) computes
all pairs with tensor ops. Both use the *same* parameters and inputs; the step is forward + backward of the
summed scores (the loss does not matter for the cost). Outputs are checked equal before timing.

Paper sizes: 36 regions of 2048-d features are encoded to 1024-d; captions of ~12 words; sim 256; 3 SGR
steps. The encoders are shared by both paths and included in the step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from workbench.config import ModelConfig
from workbench.models import Captions, RetrievalModel, l2norm
from workbench.models.sgraf import SGRAFHead

__all__ = ["loop_scores", "bench_step", "main"]


def _loop_caption(head: SGRAFHead, regions: Tensor, img_glob: Tensor, words: Tensor) -> Tensor:
    """Logits ``[n]`` of one caption ``[L, d]`` against all images (the reference code's loop body)."""
    n = regions.shape[0]
    cap = words[None].expand(n, -1, -1)
    attn = F.leaky_relu(torch.bmm(regions, cap.transpose(1, 2)), 0.1)  # [n, R, L]
    attn = torch.softmax(l2norm(attn, dim=2).transpose(1, 2) * head.smooth, dim=2)  # [n, L, R]
    context = l2norm(torch.bmm(attn, regions), dim=-1)
    local = l2norm(head.local_w((context - cap).pow(2)), dim=-1)
    sa = head.t_global
    loc_t = sa.local(words)
    weights = torch.softmax(sa.common(loc_t * sa.glob(words.mean(0))).squeeze(-1), dim=0)
    txt_glob = l2norm((weights[:, None] * words).sum(0))
    glob = l2norm(head.global_w((img_glob - txt_glob).pow(2)), dim=-1)
    nodes = torch.cat([glob[:, None], local], dim=1)
    if head.kind == "sgr":
        for step in head.graph:
            edges = torch.softmax(torch.bmm(step.query(nodes), step.key(nodes).transpose(1, 2)), dim=-1)
            nodes = F.relu(step.update(torch.bmm(edges, nodes)))
        vec = nodes[:, 0]
    else:
        z = head.gate_bn(head.gate(nodes).permute(0, 2, 1))  # BatchNorm1d(1) over this caption's pairs
        beta = torch.sigmoid(z)
        beta = beta / (beta.abs().sum(dim=-1, keepdim=True) + 1e-8)
        vec = l2norm(torch.matmul(beta, nodes).squeeze(1), dim=-1)
    return head.score_w(vec).squeeze(-1)


def loop_scores(head: SGRAFHead, regions: Tensor, captions: Captions) -> Tensor:
    """Logits ``[n, m]`` computed one caption at a time, as the reference implementation does."""
    img_glob = head.v_global(regions)
    cols = [_loop_caption(head, regions, img_glob, captions.words[j, : int(captions.lengths[j])])
            for j in range(len(captions))]
    return torch.stack(cols, dim=1)


def _inputs(batch: int, generator: torch.Generator, vocab: int, words: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
    images = torch.rand(batch, 36, 2048, generator=generator)
    lengths = torch.randint(words[0], words[1] + 1, (batch,), generator=generator)
    tokens = torch.randint(4, vocab, (batch, int(lengths.max())), generator=generator)
    tokens[torch.arange(tokens.shape[1])[None] >= lengths[:, None]] = 0
    return images, tokens, lengths


def _time_interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, the repeats interleaved (a, b, a, b, ...) after one warm-up each.

    Interleaving keeps a slow phase of a shared machine from landing on one mode only, so the ratio of the
    medians is steadier than timing the modes one after the other.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def bench_step(batch: int, *, kind: str = "sgr", repeats: int = 3, seed: int = 0, embed: int = 1024,
               sim: int = 256, bf16: bool = True) -> dict[str, Any]:
    """Seconds per training step (fwd + bwd) of the batched head vs the loop, same model and inputs."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = ModelConfig(backbone=kind, embed_size=embed, sim_dim=sim, dropout=0.0)
    model = RetrievalModel(cfg, vocab_size=8481, img_dim=2048, n_regions=36)
    model.train()
    images, tokens, lengths = _inputs(batch, g, 8481, (10, 14))
    head = model.head
    assert head is not None

    def step(batched: bool, low_precision: bool = False) -> Tensor:
        model.zero_grad(set_to_none=True)
        head.precision = "bf16" if low_precision else "fp32"  # what ``model.head_precision=bf16`` trains with
        regions = model.encode_images(images)
        caps = model.encode_captions(tokens, lengths)
        scores = head(regions, caps) if batched else loop_scores(head, regions, caps)
        scores.float().sum().backward()
        return scores.detach().float()

    batched_out = step(True)
    loop_out = step(False)
    max_dev = float((batched_out - loop_out).abs().max())
    if max_dev > 1e-4:
        raise AssertionError(f"batched and loop scores differ by {max_dev:.3g}")
    modes: dict[str, Callable[[], Any]] = {"batched": lambda: step(True), "loop": lambda: step(False)}
    if bf16:
        bf_out = step(True, low_precision=True)
        modes["bf16"] = lambda: step(True, low_precision=True)
    seconds = _time_interleaved(modes, repeats)
    batched_s, loop_s = seconds["batched"], seconds["loop"]
    out: dict[str, Any] = {"batch": batch, "kind": kind, "batched_s": round(batched_s, 3),
                           "loop_s": round(loop_s, 3), "speedup": round(loop_s / batched_s, 2),
                           "max_abs_diff": max_dev, "threads": torch.get_num_threads()}
    if bf16:
        out["bf16_s"] = round(seconds["bf16"], 3)
        out["bf16_max_abs_diff"] = float((bf_out - batched_out).abs().max())
        out["bf16_speedup"] = round(loop_s / seconds["bf16"], 2)
    return out


def main(batches: tuple[int, ...] = (32, 128), kind: str = "sgr", repeats: int = 3) -> list[dict[str, Any]]:
    rows = []
    for b in batches:
        row = bench_step(b, kind=kind, repeats=repeats)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows
