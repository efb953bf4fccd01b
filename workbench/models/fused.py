"""A fused, recomputing kernel for SGRAF's local similarity: attention context -> normalise -> (c - w)^2 -> W.

For every image ``i`` and caption word ``k`` (all pairs of a batch, flattened to rows ``k``):

.. math::

    c_{ik} = \\sum_r a_{ikr} v_{ir}, \\qquad \\hat c_{ik} = \\frac{c_{ik}}{\\lVert c_{ik} \\rVert + \\epsilon},
    \\qquad P_{ik} = W (\\hat c_{ik} - w_k)^{\\odot 2} + b

with attention ``a [n, M, R]``, regions ``v [n, R, d]``, words ``w [M, d]`` (``M`` = captions x words),
``W [s, d]``. Written with ordinary tensor ops, autograd keeps four ``[n, M, d]`` tensors (context,
normalised context, difference, square) — 0.8 GB each for a batch of 128 at the paper's sizes — and every
elementwise step is a pass over main memory. Here the forward computes ``P`` block by block (one image and
a few thousand word rows at a time, so the block stays in cache) and keeps only the inputs; the backward
recomputes each block's context (one small matrix product) and forms the gradients in cache:

.. math::

    dW = \\sum dP^\\top q,\\quad g = 2 (\\hat c - w) \\odot (dP\\,W),\\quad dw_k = -\\sum_i g_{ik},\\quad
    dc = \\frac{g}{\\lVert c \\rVert + \\epsilon} - \\frac{(g \\cdot \\hat c)}{\\lVert c \\rVert} \\hat c,\\quad
    da = dc\\, v^\\top,\\quad dv = a^\\top dc.

The result equals the unfused computation to rounding (``tests/models/test_fused.py``, float64).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["local_projection", "BLOCK_ELEMENTS"]

#: elements of one ``[rows, d]`` block (~8 MB of float32: a block and its few temporaries stay in cache)
BLOCK_ELEMENTS = 2 * 2**20
_EPS = 1e-8


def _blocks(n_rows: int, dim: int) -> range:
    step = max(1, BLOCK_ELEMENTS // max(dim, 1))
    return range(0, n_rows, step)


def _normalised(attn: Tensor, regions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(c_hat, 1/(|c|+eps), |c|)`` of one block: ``attn [rows, R]``, ``regions [R, d]``."""
    ctx = attn @ regions  # [rows, d]
    norm = ctx.pow(2).sum(dim=-1, keepdim=True).sqrt_()
    inv = (norm + _EPS).reciprocal_()
    return ctx.mul_(inv), inv, norm


class _LocalProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, attn: Tensor, regions: Tensor, words: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        n, rows, _ = attn.shape
        d = regions.shape[-1]
        out = attn.new_empty(n, rows, weight.shape[0])
        step = _blocks(rows, d).step
        for i in range(n):
            for r0 in range(0, rows, step):
                r1 = min(rows, r0 + step)
                c_hat, _, _ = _normalised(attn[i, r0:r1], regions[i])
                q = c_hat.sub_(words[r0:r1]).square_()
                torch.addmm(bias, q, weight.T, out=out[i, r0:r1])
        ctx.save_for_backward(attn, regions, words, weight)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        attn, regions, words, weight = ctx.saved_tensors
        n, rows, _ = attn.shape
        d = regions.shape[-1]
        need_attn, need_regions, need_words, need_weight, need_bias = ctx.needs_input_grad
        d_attn = torch.empty_like(attn) if need_attn else None
        d_regions = torch.zeros_like(regions) if need_regions else None
        d_words = torch.zeros_like(words) if need_words else None
        d_weight = torch.zeros_like(weight) if need_weight else None
        d_bias = grad.sum(dim=(0, 1)) if need_bias else None
        step = _blocks(rows, d).step
        for i in range(n):
            for r0 in range(0, rows, step):
                r1 = min(rows, r0 + step)
                a, g_out = attn[i, r0:r1], grad[i, r0:r1]
                c_hat, inv, norm = _normalised(a, regions[i])
                delta = c_hat - words[r0:r1]
                if d_weight is not None:
                    d_weight.addmm_(g_out.T, delta.square())
                g = (g_out @ weight).mul_(delta).mul_(2.0)  # d loss / d delta (= d c_hat)
                if d_words is not None:
                    d_words[r0:r1] -= g
                if d_attn is None and d_regions is None:
                    continue
                proj = (g * c_hat).sum(dim=-1, keepdim=True).div_(norm.clamp_min(1e-30))
                d_ctx = g.mul_(inv).sub_(c_hat.mul_(proj))
                if d_attn is not None:
                    torch.mm(d_ctx, regions[i].T, out=d_attn[i, r0:r1])
                if d_regions is not None:
                    d_regions[i].addmm_(a.T, d_ctx)
        return d_attn, d_regions, d_words, d_weight, d_bias


def local_projection(attn: Tensor, regions: Tensor, words: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``P [n, M, s] = W (l2norm(a @ v) - w)^2 + b`` without storing the ``[n, M, d]`` intermediates.

    Args:
        attn: ``[n, M, R]`` attention of every word row over each image's regions.
        regions: ``[n, R, d]`` region embeddings.
        words: ``[M, d]`` word embeddings (rows shared by all images).
        weight, bias: the ``Linear(d, s)`` parameters.
    """
    dtype = attn.dtype  # under autocast the activations may be bfloat16 while the parameters stay float32
    return _LocalProjection.apply(attn.contiguous(), regions.to(dtype).contiguous(), words.to(dtype).contiguous(),
                                  weight.to(dtype), bias.to(dtype))
