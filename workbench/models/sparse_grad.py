"""Backward through the active pairs only: a recomputing autograd function for the SGR head's logits.

The SGR head scores every image against every caption, ``S [n, m]``, and most of a training step is the
backward of that computation. Many losses use few of its entries: the hardest-negative triplet loss (Eq. 2)

.. math::

    \\ell = \\sum_i [m - S_{ii} + \\max_{j \\ne i} S_{ij}]_+ + [m - S_{ii} + \\max_{j \\ne i} S_{ji}]_+

has a non-zero gradient only at the diagonal and at most one hardest negative per row and per column,
``<= 3n`` of the ``n^2`` entries. SGR scores each pair independently once the global vectors are fixed (its
graph reasoning runs within a pair), so

.. math::

    \\frac{\\partial \\ell}{\\partial \\theta} = \\sum_{(i, j):\\, G_{ij} \\ne 0} G_{ij}
    \\frac{\\partial S_{ij}}{\\partial \\theta}, \\qquad G = \\frac{\\partial \\ell}{\\partial S}.

:func:`sparse_grad_logits` therefore computes ``S`` without recording a graph, and its backward receives
``G``, recomputes ``S_ij`` with a graph for the active pairs only (:meth:`SGRAFHead.indexed_logits`) and
back-propagates ``G_ij`` through them. The gradients equal the ordinary ones to rounding (the active pairs
are recomputed by a different batching, ~1e-7 relative in float32); ``tests/models/test_sparse_grad.py``
compares them in float64. When more than :data:`DENSE_FRACTION` of the entries are active (a dense loss
such as InfoNCE) the backward recomputes all pairs with the batched head instead, which costs one extra
forward pass over the ordinary step; callers should ask for ``sparse_grad`` only where the loss is sparse.

The global vectors (``img_glob``, ``txt_glob``) are computed once, outside, with their own graph: their
BatchNorm statistics and dropout masks are then the same for the forward and the recomputation.
Higher-order gradients are not supported (the backward is once-differentiable).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from workbench.models.encoders import Captions

if TYPE_CHECKING:
    from workbench.models.sgraf import SGRAFHead

__all__ = ["sparse_grad_logits", "DENSE_FRACTION"]

#: Above this fraction of non-zero entries of ``dL/dS`` the backward recomputes all pairs in one batched pass.
DENSE_FRACTION = 0.25


def _pair_parameters(head: SGRAFHead) -> list[Tensor]:
    """Parameters used inside a pair's computation (everything but the global-vector attention)."""
    return [p for name, p in head.named_parameters() if not name.startswith(("v_global.", "t_global."))]


class _SparseGradLogits(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, head: SGRAFHead, regions: Tensor, words: Tensor, lengths: Tensor, img_glob: Tensor,
                txt_glob: Tensor, *params: Tensor) -> Tensor:
        ctx.head = head  # the parameters are inputs only so that autograd routes their gradients here
        ctx.save_for_backward(regions, words, lengths, img_glob, txt_glob)
        with torch.no_grad():
            return head.all_pair_logits(regions, Captions(words, lengths), img_glob, txt_glob)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        head: SGRAFHead = ctx.head
        regions, words, lengths, img_glob, txt_glob = ctx.saved_tensors
        params = _pair_parameters(head)
        inputs = [t.detach().requires_grad_(need) for t, need in
                  zip((regions, words, img_glob, txt_glob), (ctx.needs_input_grad[i] for i in (1, 2, 4, 5)),
                      strict=True)]
        wanted = [t for t in (*inputs, *params) if t.requires_grad]  # the module's own parameter objects
        active = grad.nonzero(as_tuple=True)  # ([P], [P])
        with torch.enable_grad():
            r, w, ig, tg = inputs
            captions = Captions(w, lengths)
            if active[0].numel() > DENSE_FRACTION * grad.numel():
                logits, upstream = head.all_pair_logits(r, captions, ig, tg), grad
            else:
                logits, upstream = head.indexed_logits(r, captions, ig, tg, *active), grad[active]
            found = torch.autograd.grad(logits, wanted, upstream, allow_unused=True) if wanted else ()
        by_id = {id(t): g for t, g in zip(wanted, found, strict=True)}
        input_grads = [by_id.get(id(t)) for t in inputs]
        param_grads = [by_id.get(id(p)) for p in params]
        return (None, input_grads[0], input_grads[1], None, input_grads[2], input_grads[3], *param_grads)


def sparse_grad_logits(head: SGRAFHead, regions: Tensor, captions: Captions, img_glob: Tensor,
                       txt_glob: Tensor) -> Tensor:
    """All-pair logits ``[n, m]`` whose backward recomputes only the pairs with a non-zero gradient.

    Args:
        head: an SGR head (pairs must be independent given the global vectors).
        regions: ``[n, R, d]`` region embeddings; captions: ``m`` encoded captions ``[m, L, d]``.
        img_glob, txt_glob: ``[n, d]`` and ``[m, d]`` global vectors from ``head.v_global`` / ``head.t_global``.

    Returns:
        The same values as ``head.all_pair_logits(...)``; gradients reach ``regions``, the words, the global
        vectors and the head's pair parameters.
    """
    if head.kind != "sgr":
        raise ValueError(f"sparse_grad_logits needs an SGR head, got kind={head.kind!r}")
    return _SparseGradLogits.apply(head, regions, captions.words, captions.lengths, img_glob, txt_glob,
                                   *_pair_parameters(head))
