"""Process-wide arithmetic settings of a run: TensorFloat-32 matrix products on CUDA.

With ``TrainConfig.tf32`` the fp32 matrix products of a CUDA run use TensorFloat-32 (10-bit mantissa
inputs, fp32 accumulation; torch's float32 matmul precision ``"high"``): the encoders, the learnable
cost and, unless it runs under bf16 autocast (``model.head_precision``), the pairwise head. The OT solves
are elementwise and reductions, so they keep full float32. The setting is restored when the run ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from workbench.errors import ConfigError

__all__ = ["check_tf32", "matmul_precision"]


def check_tf32(tf32: bool, device: torch.device) -> None:
    """Refuse ``tf32`` on a device without TensorFloat-32 (anything but CUDA)."""
    if tf32 and device.type != "cuda":
        raise ConfigError(f"tf32=true needs a CUDA device; this run uses {device} (set tf32=false)")


@contextmanager
def matmul_precision(tf32: bool, device: torch.device) -> Iterator[None]:
    """Use TF32 for fp32 matrix products inside the block when ``tf32`` (CUDA only; refused elsewhere)."""
    check_tf32(tf32, device)
    previous = torch.get_float32_matmul_precision()
    if tf32:
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
