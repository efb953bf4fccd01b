"""Data-parallel training across processes (``torchrun``), with a no-op single-process default.

The scheme keeps a distributed run mathematically equal to the single-process run of the same global
batch. Every rank draws the same global batch (the data order comes from the run's seed), encodes its
slice, and gathers what the in-batch losses need *with gradients*: region embeddings and, for the pairwise
heads, the score columns of its own captions (so the expensive SAF/SGR pairs are split across ranks, not
repeated). Every rank then evaluates the same global loss; the backward of the gather sums the gradient of
each rank's slice over ranks (a factor ``world``), and :func:`sync_gradients` averages parameter gradients
over ranks, which cancels it. The result is the gradient of the global batch loss, as with one process.

Launch: ``torchrun --nproc_per_node N -m workbench train ...`` (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "DistInfo",
    "init_distributed",
    "current",
    "gather_with_grad",
    "all_gather",
    "sync_gradients",
    "shard_bounds",
    "broadcast_tensor",
    "barrier",
]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_STATE = DistInfo()


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); else single process."""
    global _STATE
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _STATE = DistInfo()
        return _STATE
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    _STATE = DistInfo(rank=dist.get_rank(), world=dist.get_world_size())
    return _STATE


def current() -> DistInfo:
    return _STATE


def shard_bounds(n: int, info: DistInfo | None = None) -> tuple[int, int]:
    """``[lo, hi)`` of this rank's contiguous slice of ``n`` items (n divisible by the world size)."""
    info = info or _STATE
    if n % info.world:
        raise ValueError(f"batch of {n} does not split evenly over {info.world} processes")
    size = n // info.world
    return info.rank * size, (info.rank + 1) * size


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        ctx.dim = dim
        ctx.size = tensor.shape[dim]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # every rank computed the same loss
        rank = dist.get_rank()
        return grad.narrow(ctx.dim, rank * ctx.size, ctx.size), None


def gather_with_grad(tensor: Tensor, dim: int = 0) -> Tensor:
    """Concatenate every rank's ``tensor`` along ``dim``; gradients flow back to each rank's slice."""
    if not _STATE.enabled:
        return tensor
    return _GatherWithGrad.apply(tensor, dim)


@torch.no_grad()
def all_gather(tensor: Tensor, dim: int = 0) -> Tensor:
    """Concatenate every rank's ``tensor`` along ``dim`` (no gradient); shapes must match across ranks."""
    if not _STATE.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(_STATE.world)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=dim)


def sync_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Average parameter gradients over ranks with one flat all-reduce."""
    if not _STATE.enabled:
        return
    params = [p for p in parameters if p.requires_grad]
    for p in params:  # keep the flat buffer's layout identical on every rank
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= _STATE.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if _STATE.enabled:
        dist.barrier()


def broadcast_tensor(tensor: Tensor, src: int = 0) -> Tensor:
    """Make every rank hold rank ``src``'s ``tensor`` (in place; returned for convenience)."""
    if _STATE.enabled:
        dist.broadcast(tensor, src=src)
    return tensor
