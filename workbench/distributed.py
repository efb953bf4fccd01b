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

from workbench.errors import ConfigError

__all__ = [
    "DistInfo",
    "init_distributed",
    "current",
    "gather_with_grad",
    "sync_gradients",
    "sync_buffers",
    "shard_bounds",
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


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); else single process.

    Returns the process's rank information and its device: on CUDA each process takes the GPU of its
    ``LOCAL_RANK`` (``cuda:<local rank>``); on CPU the device is unchanged.
    """
    global _STATE
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _STATE = DistInfo()
        return _STATE, device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    _STATE = DistInfo(rank=dist.get_rank(), world=dist.get_world_size())
    return _STATE, device


def current() -> DistInfo:
    return _STATE


def shard_bounds(n: int, info: DistInfo | None = None) -> tuple[int, int]:
    """``[lo, hi)`` of this rank's contiguous slice of ``n`` items (n divisible by the world size)."""
    info = info or _STATE
    if n % info.world:
        raise ConfigError(f"a batch of {n} does not split evenly over {info.world} processes; "
                          "use a batch size (and l2rm.queue_length) divisible by the number of processes")
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


def sync_buffers(module: torch.nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks.

    SAF's gate BatchNorm sees only a process's own captions, so each process updates its running
    statistics from a different half of the batch; the update is linear, so the average of the processes'
    buffers equals the single-process update (for equal shares of captions).
    """
    if not _STATE.enabled:
        return
    for buf in module.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf /= _STATE.world


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if _STATE.enabled:
        dist.barrier()
