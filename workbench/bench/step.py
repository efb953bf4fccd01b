"""Benchmark: one training step of the batched SGR/SAF head against a per-caption loop, at paper sizes.

The loop is how the reference code computes a batch: for each caption (cut to its own length), score it
against every image, then stack the columns. The batched head (:class:`workbench.models.SGRAFHead`) computes
all pairs with tensor ops. Both use the *same* parameters and inputs; the step is forward + backward of the
hardest-negative triplet loss, the loss SGR trains with. For SGR the batched head back-propagates through the
pairs that loss reads only; the ``dense`` mode times the ordinary backward through all pairs (the cost of a
loss with a gradient on every entry). Scores and gradients are checked equal before timing.

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
from workbench.losses import rematch_loss, triplet_loss
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


def _grads(model: RetrievalModel) -> dict[str, Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def _max_rel_diff(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    """``max |a - b| / max |b|`` over all parameter gradients; a parameter one side leaves untouched counts as 0.

    (The loop back-propagates into the reasoning steps' key biases, whose gradient is exactly zero in
    theory — they cancel in the row softmax — and which the batched head never uses.)
    """
    scale = max((float(g.abs().max()) for g in b.values()), default=0.0)
    diffs = [float((a[k] - b[k]).abs().max()) if k in a and k in b else float((a.get(k, b.get(k))).abs().max())
             for k in a.keys() | b.keys()]
    return max(diffs, default=0.0) / max(scale, 1e-30)


def bench_step(batch: int, *, kind: str = "sgr", repeats: int = 3, seed: int = 0, embed: int = 1024,
               sim: int = 256, bf16: bool = True, l2rm: bool = False) -> dict[str, Any]:
    """Seconds per training step (fwd + bwd) of the batched head vs the loop, same model and inputs.

    The step is the SGR/SAF training step: the hardest-negative triplet loss (margin 0.2) on the sigmoid
    scores, as vanilla SGRAF training, NCR, BiCro and L2RM's clean batch use it. Modes:

    * ``batched``: the head as training runs it; for SGR with the sparse backward (only the pairs the loss
      reads, :mod:`workbench.models.sparse_grad`), for SAF the ordinary backward;
    * ``dense`` (SGR): the batched head with the ordinary backward through all pairs, i.e. what a loss with a
      gradient on every entry (InfoNCE warm-up, L2RM's rematch loss) costs;
    * ``loop``: the reference code's per-caption loop with the ordinary backward;
    * ``bf16``: ``batched`` under bfloat16 autocast (``model.head_precision=bf16``);
    * ``l2rm`` / ``l2rm_loop`` (``l2rm=True``): the shape of an L2RM step, the triplet loss on this batch plus
      the symmetric-KL rematch loss (Eq. 10, tau 0.05) of a second batch against a fixed random refined
      alignment, batched (sparse + dense backward) vs the loop for both; the OT solve and the cost network,
      both small, are left out.

    Before timing, the batched and loop scores are checked equal (``max_abs_diff``) and the sparse backward's
    gradients equal to the ordinary ones (``dense_grad_rel_diff``: same forward values, so the same hardest
    negatives). ``loop_grad_rel_diff`` reports the batched gradients against the loop's.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = ModelConfig(backbone=kind, embed_size=embed, sim_dim=sim, dropout=0.0)
    model = RetrievalModel(cfg, vocab_size=8481, img_dim=2048, n_regions=36)
    model.train()
    images, tokens, lengths = _inputs(batch, g, 8481, (10, 14))
    head = model.head
    assert head is not None
    noisy = _inputs(batch, g, 8481, (10, 14)) if l2rm else None
    plan = torch.rand(batch, batch, generator=g) if l2rm else torch.ones(batch, batch)  # the l2rm mode's alignment
    target_i2t, target_t2i = plan / plan.sum(1, keepdim=True), (plan / plan.sum(0, keepdim=True)).T

    def step(mode: str) -> Tensor:
        model.zero_grad(set_to_none=True)
        head.precision = "bf16" if mode == "bf16" else "fp32"  # what ``model.head_precision=bf16`` trains with
        regions = model.encode_images(images)
        caps = model.encode_captions(tokens, lengths)
        loop = mode in ("loop", "l2rm_loop")
        if loop:
            logits = loop_scores(head, regions, caps)
        else:
            logits = model.logits(regions, caps, sparse_loss=mode != "dense")
        loss = triplet_loss(torch.sigmoid(logits.float()), 0.2)["triplet_loss"]
        if mode.startswith("l2rm"):
            assert noisy is not None
            regions_n, caps_n = model.encode_images(noisy[0]), model.encode_captions(noisy[1], noisy[2])
            noisy_logits = loop_scores(head, regions_n, caps_n) if loop else model.logits(regions_n, caps_n)
            loss = loss + rematch_loss(torch.sigmoid(noisy_logits.float()), target_i2t, target_t2i,
                                       tau=0.05)["rematch_loss"]
        loss.backward()
        return logits.detach().float()

    batched_out, batched_grads = step("batched"), _grads(model)
    loop_out, loop_grads = step("loop"), _grads(model)
    max_dev = float((batched_out - loop_out).abs().max())
    if max_dev > 1e-4:
        raise AssertionError(f"batched and loop scores differ by {max_dev:.3g}")
    modes: dict[str, Callable[[], Any]] = {"batched": lambda: step("batched"), "loop": lambda: step("loop")}
    out: dict[str, Any] = {"batch": batch, "kind": kind, "loss": "triplet", "sparse_grad": model.sparse_grad}
    if model.sparse_grad:
        step("dense")
        dense_diff = _max_rel_diff(batched_grads, _grads(model))
        if dense_diff > 1e-4:
            raise AssertionError(f"sparse and ordinary backward differ by {dense_diff:.3g} (relative)")
        out["dense_grad_rel_diff"] = dense_diff
        modes["dense"] = lambda: step("dense")
    out["loop_grad_rel_diff"] = _max_rel_diff(batched_grads, loop_grads)
    if bf16:
        bf_out = step("bf16")
        modes["bf16"] = lambda: step("bf16")
    if l2rm:
        modes.update(l2rm=lambda: step("l2rm"), l2rm_loop=lambda: step("l2rm_loop"))
    seconds = _time_interleaved(modes, repeats)
    batched_s, loop_s = seconds["batched"], seconds["loop"]
    out.update({"batched_s": round(batched_s, 3), "loop_s": round(loop_s, 3), "speedup": round(loop_s / batched_s, 2),
                "max_abs_diff": max_dev, "threads": torch.get_num_threads()})
    if "dense" in seconds:
        out["dense_s"] = round(seconds["dense"], 3)
        out["dense_speedup"] = round(loop_s / seconds["dense"], 2)
    if l2rm:
        out["l2rm_s"], out["l2rm_loop_s"] = round(seconds["l2rm"], 3), round(seconds["l2rm_loop"], 3)
        out["l2rm_speedup"] = round(seconds["l2rm_loop"] / seconds["l2rm"], 2)
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
