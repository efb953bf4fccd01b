"""A fused, recomputing kernel for SGRAF's local similarity: attention context -> normalise -> (c - w)^2 -> W.

For every image ``i`` and caption word ``k`` (all pairs of a batch, flattened to rows ``k``):

.. math::

    c_{ik} = \\sum_r a_{ikr} v_{ir}, \\qquad t_{ik} = \\lVert c_{ik} \\rVert, \\qquad
    \\hat c_{ik} = f_{ik} c_{ik},\\; f = \\frac{1}{t + \\epsilon}, \\qquad
    P_{ik} = W (\\hat c_{ik} - w_k)^{\\odot 2} + b

with attention ``a [n, M, R]``, regions ``v [n, R, d]``, words ``w [M, d]`` (``M`` = captions x words),
``W [s, d]``. Written with ordinary tensor ops, autograd keeps four ``[n, M, d]`` tensors (context,
normalised context, difference, square) — 0.8 GB each for a batch of 128 at the paper's sizes — and every
elementwise step is a pass over main memory. Two observations make it cheap:

* the context lies in the span of the image's ``R`` regions, so its norm comes from the small Gram matrix
  ``K_i = v_i v_i^T [R, R]``: ``t^2 = a K a^T`` (row-wise), and ``\\hat c - w`` is one matrix product
  ``(f a) v - w`` that never materialises the raw context;
* in the backward, with ``g = 2 (\\hat c - w) \\odot (dP\\, W)`` (the gradient reaching ``\\hat c``) and
  ``h = g v^T [rows, R]``, the gradient through the normalisation never needs a ``[rows, d]`` tensor either:

.. math::

    \\sigma = \\sum_r a_r h_r = \\frac{g \\cdot \\hat c}{f}, \\qquad \\kappa = \\frac{f^2 \\sigma}{t}, \\qquad
    da = f h - \\kappa\\, (a K), \\qquad dv = (f a)^\\top g - (a^\\top \\operatorname{diag}(\\kappa)\\, a) v,

    dw_k = -\\sum_i g_{ik}, \\qquad dW = \\sum dP^\\top (\\hat c - w)^{\\odot 2}, \\qquad db = \\sum dP.

The forward works block by block (a group of images x word rows of about :data:`BLOCK_ELEMENTS` elements, so
a block stays in cache) and keeps only the inputs, the Gram matrices and the per-row ``t`` and ``f`` (with
``normalise=True`` also its output and the output's row norms, ``[n, M, s]`` and ``[n, M]``); the backward
recomputes ``f a`` and, per block, ``\\hat c - w``. Per block that is two elementwise passes over a ``[rows, d]``
tensor forward and four backward; everything else is matrix products. The result equals the unfused
computation to rounding (``tests/models/test_fused.py``, float64, including ``gradcheck``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["local_projection", "BLOCK_ELEMENTS"]

#: elements of one ``[rows, d]`` block (~8 MB of float32: a block and its few temporaries stay in cache)
BLOCK_ELEMENTS = 2 * 2**20
_EPS = 1e-8  # as ``workbench.models.encoders.l2norm``: x / (|x| + eps)


def _blocks(n_images: int, rows: int, dim: int) -> list[tuple[slice, slice]]:
    """(images, rows) blocks of about :data:`BLOCK_ELEMENTS` ``[images, rows, dim]`` elements.

    Few word rows (a short caption chunk) group several images into one block, so the matrix products stay
    large and the Python loop short; many rows split one image's rows.
    """
    per_image = rows * max(dim, 1)
    if per_image >= BLOCK_ELEMENTS:
        step = max(1, BLOCK_ELEMENTS // max(dim, 1))
        return [(slice(i, i + 1), slice(r0, min(rows, r0 + step))) for i in range(n_images) for r0 in range(0, rows, step)]
    group = max(1, BLOCK_ELEMENTS // per_image)
    return [(slice(i, min(n_images, i + group)), slice(0, rows)) for i in range(0, n_images, group)]


def _norms(attn: Tensor, gram: Tensor) -> tuple[Tensor, Tensor]:
    """``t = |a v| [n, M]`` from the Gram matrices ``gram [n, R, R]`` and ``f = 1 / (t + eps)``.

    Computed in float32 at least (the tensors are ``[n, M, R]``, small), so a bfloat16 forward keeps an
    accurate normalisation.
    """
    work = torch.promote_types(attn.dtype, torch.float32)
    a = attn.to(work)
    t = (torch.bmm(a, gram.to(work)) * a).sum(dim=-1).clamp_min_(0.0).sqrt_()
    return t, (t + _EPS).reciprocal()


def _buffer(like: Tensor, blocks: list[tuple[slice, slice]], dim: int) -> Tensor:
    """One reusable ``[images, rows, dim]`` work buffer large enough for every block."""
    images = max(b[0].stop - b[0].start for b in blocks)
    rows = max(b[1].stop - b[1].start for b in blocks)
    return like.new_empty(images * rows * dim)


def _view(buffer: Tensor, images: int, rows: int, dim: int) -> Tensor:
    return buffer[: images * rows * dim].view(images, rows, dim)


class _LocalProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, attn: Tensor, regions: Tensor, words: Tensor, weight: Tensor, bias: Tensor,  # type: ignore[override]
                normalise: bool) -> Tensor:
        n, rows, _ = attn.shape
        d = regions.shape[-1]
        gram = torch.bmm(regions, regions.transpose(1, 2))  # [n, R, R]
        t, f = _norms(attn, gram)
        scaled = attn * f.to(attn.dtype)[..., None]  # f a: [n, M, R]
        out = attn.new_empty(n, rows, weight.shape[0])
        out_norm = attn.new_empty(n, rows, dtype=t.dtype) if normalise else None  # |P| in float32 at least
        blocks = _blocks(n, rows, d)
        diff_buf = _buffer(attn, blocks, d)  # reused: no allocation per block
        for im, rw in blocks:
            k, size = im.stop - im.start, rw.stop - rw.start
            diff = _view(diff_buf, k, size, d)
            torch.baddbmm(words[rw], scaled[im, rw], regions[im], beta=-1, out=diff)  # c_hat - w
            proj = out[im, rw].view(k * size, -1)
            torch.addmm(bias, diff.view(k * size, d).square_(), weight.T, out=proj)
            if normalise:  # in cache, while the block is fresh: P / (|P| + eps)
                out_norm[im, rw] = torch.linalg.vector_norm(proj, dim=-1, dtype=t.dtype).view(k, size)
                proj.mul_((out_norm[im, rw].reshape(k * size, 1) + _EPS).reciprocal_().to(proj.dtype))
        ctx.save_for_backward(attn, regions, words, weight, gram, t, f, *((out, out_norm) if normalise else ()))
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        attn, regions, words, weight, gram, t, f, *normalised = ctx.saved_tensors
        n, rows, _ = attn.shape
        d = regions.shape[-1]
        need_attn, need_regions, need_words, need_weight, need_bias = ctx.needs_input_grad[:5]
        grad = grad.contiguous()
        f_act = f.to(attn.dtype)
        scaled = attn * f_act[..., None]
        weight2 = 2.0 * weight  # folds the 2 of d(x^2) into dP W
        d_attn = torch.empty_like(attn) if need_attn else None
        d_regions = torch.zeros_like(regions) if need_regions else None
        d_words = torch.zeros_like(words) if need_words else None
        d_weight = torch.zeros_like(weight) if need_weight else None
        blocks = _blocks(n, rows, d)
        if normalised:  # gradient through P_hat = P / (|P| + eps), block-wise below
            out, out_norm = normalised
            out_f = (out_norm + _EPS).reciprocal()
            d_pre_buf = _buffer(grad, blocks, grad.shape[-1])
        # db = sum of dP: summed at once here, or block by block below once dP is known
        d_bias = (weight.new_zeros(weight.shape[0]) if normalised else grad.sum(dim=(0, 1))) if need_bias else None
        diff_buf, sq_buf, g_buf = (_buffer(attn, blocks, d) for _ in range(3))
        for im, rw in blocks:
            k, size = im.stop - im.start, rw.stop - rw.start
            a, a_f, v = attn[im, rw], scaled[im, rw], regions[im]
            g_out = grad[im, rw].reshape(k * size, -1)
            if normalised:  # dP = f dP_hat - (P_hat . dP_hat) / |P| * P_hat
                p_hat = out[im, rw].reshape(k * size, -1)
                along = (p_hat * g_out).sum(dim=-1, keepdim=True).div_(out_norm[im, rw].reshape(-1, 1).clamp_min(1e-30))
                g_out = torch.mul(g_out, out_f[im, rw].reshape(-1, 1),
                                  out=_view(d_pre_buf, k, size, g_out.shape[-1]).view(k * size, -1))
                g_out.sub_(p_hat * along)
                if d_bias is not None:
                    d_bias += g_out.sum(dim=0)
            diff = torch.baddbmm(words[rw], a_f, v, beta=-1, out=_view(diff_buf, k, size, d))  # c_hat - w
            flat = diff.view(k * size, d)
            if d_weight is not None:
                d_weight.addmm_(g_out.T, torch.square(flat, out=_view(sq_buf, k, size, d).view(k * size, d)))
            g = torch.mm(g_out, weight2, out=_view(g_buf, k, size, d).view(k * size, d)).mul_(flat)
            g = g.view(k, size, d)  # d loss / d c_hat
            if d_words is not None:
                d_words[rw].sub_(g.sum(dim=0) if k > 1 else g[0])
            if d_attn is None and d_regions is None:
                continue
            h = torch.bmm(g, v.transpose(1, 2))  # [k, rows, R]
            kappa = (a * h).sum(dim=-1).to(f.dtype).mul_(f[im, rw].square()).div_(t[im, rw].clamp_min(1e-30))
            kappa = kappa.to(a.dtype)[..., None]
            if d_attn is not None:
                torch.sub(h.mul_(f_act[im, rw, None]), torch.bmm(a, gram[im]).mul_(kappa), out=d_attn[im, rw])
            if d_regions is not None:
                d_regions[im].baddbmm_(a_f.transpose(1, 2), g).sub_(torch.bmm(a.transpose(1, 2), a * kappa) @ v)
        return d_attn, d_regions, d_words, d_weight, d_bias, None


def local_projection(attn: Tensor, regions: Tensor, words: Tensor, weight: Tensor, bias: Tensor, *,
                     normalise: bool = False) -> Tensor:
    """``P [n, M, s] = W (l2norm(a @ v) - w)^2 + b`` without storing the ``[n, M, d]`` intermediates.

    With ``normalise=True`` the result is ``l2norm(P)`` (SGRAF's local similarity node), normalised block by
    block while it is in cache; the backward maps the gradient through the normalisation the same way
    (``dP = f dP_hat - (P_hat . dP_hat) / |P| P_hat``, ``f = 1 / (|P| + eps)``).

    Args:
        attn: ``[n, M, R]`` attention of every word row over each image's regions.
        regions: ``[n, R, d]`` region embeddings.
        words: ``[M, d]`` word embeddings (rows shared by all images).
        weight, bias: the ``Linear(d, s)`` parameters.
    """
    dtype = attn.dtype  # under autocast the activations may be bfloat16 while the parameters stay float32
    return _LocalProjection.apply(attn.contiguous(), regions.to(dtype).contiguous(), words.to(dtype).contiguous(),
                                  weight.to(dtype), bias.to(dtype), normalise)
