"""Floating-point helpers shared by the OT solvers.

Two facts drive everything here (both measured with torch 2.13 on CPU):

* ``torch.exp`` takes a slow scalar path, 20-100x slower, whenever an input is below the log of the
  smallest normal number (about -87.3 in float32, -708.4 in float64), and that includes ``-inf``; and
  matrix products whose terms are denormal are as slow. A Sinkhorn kernel at small ``eps`` is mostly
  such entries. So every kernel goes through :func:`safe_exp`, which clamps its argument and flushes
  everything below :func:`flush_level` to exactly 0, and scalings applied to a kernel stay within
  ``exp(+-``:func:`absorb_level```)`` (see :mod:`workbench.ot._balanced`), so that no product of a
  kernel entry and two scalings is denormal.
* ``-inf`` in log-potentials makes ``-inf - (-inf) = nan`` appear in gradients and max-shifts. So the
  solvers store "log of zero" as the finite :data:`NEG` (``-1e30``), far below any real log-value (the
  largest ``|cost / eps|`` the solvers are meant for is about 1e9) yet far from float32 overflow.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "NEG",
    "exp_floor",
    "flush_level",
    "absorb_level",
    "needs_graph",
    "add",
    "safe_exp",
    "safe_log",
    "logsumexp",
]

#: Stand-in for ``log(0)`` in log-kernels and log-potentials: finite, so no ``inf - inf``.
NEG: float = -1e30


def exp_floor(dtype: torch.dtype) -> float:
    """Smallest exponent :func:`logsumexp` evaluates: ``log(tiny) + 2`` for the dtype.

    ``exp`` of it is a normal number (about 1.3e-37 in float32, 2.2e-307 in float64), inside the fast
    vectorised range of ``torch.exp``.
    """
    return math.log(torch.finfo(dtype).tiny) + 2.0


def flush_level(dtype: torch.dtype) -> float:
    """Kernel entries below this are flushed to 0: ``tiny ** 0.75``, ~2.5e-29 (float32), ~1e-231 (float64).

    Plan entries that small are far below anything a float marginal resolves; keeping them would only
    put denormals into the matrix products.
    """
    return torch.finfo(dtype).tiny ** 0.75


def absorb_level(dtype: torch.dtype) -> float:
    """Largest ``|log scaling|`` kept outside the kernel: ``-log(tiny) / 8``, ~10.9 (float32), ~88 (float64).

    With kernel entries >= :func:`flush_level` and two scalings within ``exp(+-absorb_level)`` every
    product stays a normal number (``tiny ** 0.75 * tiny ** 0.25 >= tiny``).
    """
    return -math.log(torch.finfo(dtype).tiny) / 8.0


def needs_graph(*tensors: Tensor) -> bool:
    """Whether autograd records operations on these tensors (then no in-place updates on their results)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def add(base: Tensor, *terms: Tensor) -> Tensor:
    """``base + sum(terms)`` with broadcasting, accumulating in place into one new tensor when no graph
    is recorded: the ``[B, n, m]`` temporaries, not the arithmetic, dominate at the sizes of L2RM."""
    total = base + terms[0]
    for term in terms[1:]:
        total = total + term if needs_graph(total, term) else total.add_(term)
    return total


def safe_exp(x: Tensor, *, overwrite: bool = False) -> Tensor:
    """``exp(x)`` with every entry below :func:`flush_level` set to exactly 0.

    Masked entries (log-kernel :data:`NEG`) come out exactly 0, ``exp`` stays on its fast path and
    the matrix products that follow see no denormals. Differentiable; flushed entries have gradient 0.
    ``overwrite=True`` lets it reuse ``x``'s memory (a temporary of the caller) when no graph is recorded.
    """
    level = flush_level(x.dtype)
    floor = math.log(level) - 1.0
    if needs_graph(x):
        return torch.nn.functional.threshold(torch.exp(x.clamp_min(floor)), level, 0.0)
    y = x.clamp_min_(floor) if overwrite else x.clamp_min(floor)
    return torch.nn.functional.threshold_(y.exp_(), level, 0.0)


def safe_log(x: Tensor) -> Tensor:
    """``log(x)`` for ``x >= 0``, with ``log(0) = NEG`` and a gradient that is finite everywhere."""
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > 0, torch.log(x.clamp_min(tiny)), torch.full_like(x, NEG))


def logsumexp(x: Tensor, dim: int | tuple[int, ...]) -> Tensor:
    """``log(sum(exp(x), dim))`` for finite ``x``, on the fast path of ``torch.exp``.

    Max-shifted like :func:`torch.logsumexp`, but the shifted exponents are clamped at
    :func:`exp_floor` before ``exp``: each term below ``exp(floor)`` is counted as ``exp(floor)``, a
    relative error of at most ``n * 1e-37`` in float32, because the largest term is 1.
    """
    # The shift cancels analytically, so it needs no gradient.
    top = x.detach().amax(dim=dim, keepdim=True)
    shifted = x - top
    if needs_graph(x):
        terms = torch.exp(shifted.clamp_min(exp_floor(x.dtype)))
    else:
        terms = shifted.clamp_min_(exp_floor(x.dtype)).exp_()
    return (top + torch.log(terms.sum(dim=dim, keepdim=True))).squeeze(dim)
