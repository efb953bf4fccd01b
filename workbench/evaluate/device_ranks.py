"""Retrieval ranks streamed over score blocks that stay on the scoring device.

Same ranks as :func:`workbench.evaluate.recall.ranks_from_similarity` (0-based, ties counted against the
query; caption ``c`` belongs to image ``c // k``): with ground-truth scores ``g [n_cap]`` and each image's
best ground truth ``b_i = max_{c in G(i)} g_c``,

* ``i2t[i] = |{c not in G(i) : S[i, c] >= b_i}|`` and ``t2i[c] = |{j != c // k : S[j, c] >= g_c}|``,

accumulated block by block with torch on the device that produced the scores: only the two rank vectors
(``[n_img]`` and ``[n_cap]`` int64) leave it, once, at the end. A block ``[rows, cols]`` costs its scores
(4 bytes per entry) and two boolean comparisons (1 byte each): :func:`block_shape` chooses the largest
block within a memory budget, whole caption rows first (F30K's 1000 x 5000 test matrix is 19 MiB of
scores; COCO 5K's 5000 x 25000 is 477 MiB).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from workbench.errors import ConfigError, DataFormatError
from workbench.evaluate.metrics import RetrievalRanks

__all__ = ["BYTES_PER_ENTRY", "block_shape", "ranks_on_device"]

#: float32 score + two boolean masks per entry of a block
BYTES_PER_ENTRY = 6

#: ``block_fn(r0, r1, c0, c1) -> scores [r1 - r0, c1 - c0]`` on the scoring device
BlockFn = Callable[[int, int, int, int], Tensor]


def block_shape(n_images: int, n_captions: int, memory_mb: float) -> tuple[int, int]:
    """``(rows, cols)`` of the largest block within ``memory_mb``: all captions per row when a row fits,
    else as many captions as fit in one row; at least ``1 x 1``."""
    if not memory_mb > 0:
        raise ConfigError(f"eval memory budget must be > 0 MB, got {memory_mb!r}")
    entries = max(1, int(memory_mb * 2**20) // BYTES_PER_ENTRY)
    if entries >= n_captions:
        return max(1, min(n_images, entries // n_captions)), n_captions
    return 1, entries


def ranks_on_device(block_fn: BlockFn, gt: Tensor, captions_per_image: int, *, memory_mb: float) -> RetrievalRanks:
    """i2t / t2i ranks from ``block_fn`` and the ground-truth scores ``gt [n_cap]`` (see the module docstring).

    Raises:
        DataFormatError: ``gt`` is not 1-D with a multiple of ``k`` entries, a block has the wrong shape,
            or scores hold NaN.
    """
    k = int(captions_per_image)
    if k < 1 or gt.dim() != 1 or gt.numel() == 0 or gt.numel() % k:
        raise DataFormatError(f"ground-truth scores of shape {tuple(gt.shape)} do not form {k} captions per image")
    if torch.isnan(gt).any():
        raise DataFormatError("ground-truth scores hold NaN")
    n_cap = gt.numel()
    n_img = n_cap // k
    device = gt.device
    best = gt.view(n_img, k).max(dim=1).values  # [n_img]
    i2t = torch.zeros(n_img, dtype=torch.int64, device=device)
    t2i = torch.zeros(n_cap, dtype=torch.int64, device=device)
    rows, cols = block_shape(n_img, n_cap, memory_mb)
    for r0 in range(0, n_img, rows):
        r1 = min(r0 + rows, n_img)
        for c0 in range(0, n_cap, cols):
            c1 = min(c0 + cols, n_cap)
            block = block_fn(r0, r1, c0, c1)
            if block.shape != (r1 - r0, c1 - c0):
                raise DataFormatError(f"score block of images {r0}..{r1 - 1}, captions {c0}..{c1 - 1} has shape "
                                      f"{tuple(block.shape)}, expected {(r1 - r0, c1 - c0)}")
            if torch.isnan(block).any():
                raise DataFormatError(f"scores of images {r0}..{r1 - 1}, captions {c0}..{c1 - 1} hold NaN")
            block = block.to(device=device, dtype=gt.dtype)
            above_image = block >= best[r0:r1, None]
            above_caption = block >= gt[None, c0:c1]
            g0, g1 = max(c0, k * r0), min(c1, k * r1)  # ground-truth pairs inside the block
            if g0 < g1:
                gcols = torch.arange(g0, g1, device=device)
                above_image[gcols // k - r0, gcols - c0] = False
                above_caption[gcols // k - r0, gcols - c0] = False
            i2t[r0:r1] += above_image.sum(dim=1)
            t2i[c0:c1] += above_caption.sum(dim=0)
    return RetrievalRanks(i2t=i2t.cpu().numpy(), t2i=t2i.cpu().numpy())
