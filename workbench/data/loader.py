"""Feeding training batches to a device: background reads, pinned memory, non-blocking copies.

A training epoch visits a fixed list of index batches (the method's shuffled order). Each batch reads
``B`` rows of the memory-mapped ``*_ims.npy`` (``[B, 36, 2048]`` float32, 37 MiB at B = 128) and pads
``B`` token lists. :func:`iterate_batches` yields exactly ``split.batch(idx)`` for each ``idx`` in order,
on ``device``, and can move the reading off the training process:

* ``workers > 0``: a :class:`torch.utils.data.DataLoader` with that many worker processes reads the
  upcoming batches while the device computes (``prefetch`` batches per worker ahead);
* ``pin_memory`` (CUDA only): batches are copied into page-locked memory, so the host-to-device copy can
  run asynchronously (``non_blocking=True``) and overlap the previous step's kernels. On the CPU there is
  no device copy and pinning is off whatever is asked.

The order and contents of the batches never depend on these settings (tested on the CPU).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from workbench.data.dataset import Batch, PairedSplit
from workbench.errors import ConfigError

__all__ = ["LoaderSettings", "batch_to_device", "iterate_batches", "loader_settings"]


@dataclass(frozen=True)
class LoaderSettings:
    """Resolved loader settings for a device: workers, whether to pin, batches prefetched per worker."""

    workers: int = 0
    pin_memory: bool = False
    prefetch: int = 2

    def __post_init__(self) -> None:
        if not (isinstance(self.workers, int) and self.workers >= 0):
            raise ConfigError(f"data.loader_workers must be an int >= 0, got {self.workers!r}")
        if not (isinstance(self.prefetch, int) and self.prefetch >= 1):
            raise ConfigError(f"data loader prefetch must be an int >= 1, got {self.prefetch!r}")


def loader_settings(workers: int, pin_memory: bool, device: torch.device, prefetch: int = 2) -> LoaderSettings:
    """Settings for ``device``: pinning only where there is a host-to-device copy to speed up (CUDA)."""
    return LoaderSettings(workers, pin_memory and device.type == "cuda", prefetch)


def batch_to_device(batch: Batch, device: torch.device, *, pinned: bool = False) -> Batch:
    """``batch`` on ``device``; copies from pinned memory are issued non-blocking (ordered on the stream)."""
    if device.type == "cpu":
        return batch
    return Batch(batch.images.to(device, non_blocking=pinned), batch.tokens.to(device, non_blocking=pinned),
                 batch.lengths.to(device, non_blocking=pinned), batch.captions, batch.image_ids)


class _Batches(torch.utils.data.Dataset):
    """Item ``i`` is ``split.batch(order[i])`` (read in whichever process asks)."""

    def __init__(self, split: PairedSplit, order: Sequence[np.ndarray]) -> None:
        self.split, self.order = split, list(order)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> Batch:
        return self.split.batch(self.order[i])


def _identity(batch: Batch) -> Batch:
    return batch


def iterate_batches(split: PairedSplit, order: Sequence[np.ndarray], device: torch.device,
                    settings: LoaderSettings) -> Iterator[Batch]:
    """``split.batch(idx)`` for every ``idx`` of ``order``, in order, on ``device`` (module docstring)."""
    if settings.workers == 0:
        for idx in order:
            batch = split.batch(idx)
            yield batch_to_device(batch.pin_memory() if settings.pin_memory else batch, device,
                                  pinned=settings.pin_memory)
        return
    loader = torch.utils.data.DataLoader(_Batches(split, order), batch_size=None, shuffle=False,
                                         num_workers=settings.workers, collate_fn=_identity,
                                         pin_memory=settings.pin_memory, prefetch_factor=settings.prefetch)
    for batch in loader:  # pinned by the loader's pinning thread (Batch.pin_memory)
        yield batch_to_device(batch, device, pinned=settings.pin_memory)
