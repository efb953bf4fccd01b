"""Benchmark: the batched L2RM step in two processes (data parallel, :mod:`workbench.distributed`).

Two processes are started the way ``torchrun`` would start them (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), each joins the process group through
:func:`workbench.distributed.init_distributed` (NCCL on CUDA, one GPU each; gloo on the CPU) and times
the same global batch of :class:`~workbench.bench.l2rm_step.L2RMStep`: each process encodes and scores
its half of the captions, the score columns and region embeddings are gathered with gradients, and the
gradients are averaged before the update. Rank 0 reports the median seconds per step.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from workbench import distributed
from workbench.bench.l2rm_step import L2RMStep
from workbench.bench.shapes import BenchShape
from workbench.bench.timing import time_modes

__all__ = ["ddp_available", "bench_ddp_step"]


def ddp_available() -> tuple[bool, str]:
    """Whether two CUDA devices are visible (else the reason the DDP step is not run)."""
    if not torch.cuda.is_available():
        return False, "not run: CUDA is not available"
    count = torch.cuda.device_count()
    if count < 2:
        return False, f"not run: {count} GPU visible, the DDP step needs 2"
    return True, ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, world: int, port: int, shape: BenchShape, backbone: str, precision: str,
            device_type: str, repeats: int, result: str, chunk_mb: float) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        _, device = distributed.init_distributed(torch.device(device_type))
        step = L2RMStep(shape, backbone, device, chunk_mb=chunk_mb)
        figures = time_modes({"ddp": lambda: step.run("l2rm", precision=precision)}, device, repeats=repeats)
        if rank == 0:
            Path(result).write_text(f"{figures['ddp'].seconds} {figures['ddp'].peak_mb}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def bench_ddp_step(shape: BenchShape, *, backbone: str = "sgr", precision: str = "bf16", device_type: str = "cuda",
                   repeats: int = 3, chunk_mb: float = 96.0) -> dict[str, Any]:
    """Median seconds of the 2-process L2RM step at the global batch ``shape.batch`` (and rank 0's peak
    memory in MiB). ``device_type="cpu"`` runs it with gloo (tests)."""
    if shape.batch % 2:
        raise ValueError(f"the 2-process step splits the batch: {shape.batch} is odd")
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "rank0.txt"
        mp.spawn(_worker, args=(2, _free_port(), shape, backbone, precision, device_type, repeats, str(result),
                                        chunk_mb),
                 nprocs=2, join=True)
        seconds, peak = map(float, result.read_text().split())
    return {"ddp_backbone": backbone, "ddp_precision": precision, "ddp_world": 2,
            "ddp_s": round(seconds, 4), "ddp_peak_mb": round(peak, 1)}
