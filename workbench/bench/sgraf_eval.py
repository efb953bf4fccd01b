"""Benchmark: the SGRAF evaluation (a SAF and an SGR model averaged) of one F30K-sized test split.

Random features ``[N, 36, 2048]`` and ``5 N`` random captions (Flickr30K's length distribution) form an
:class:`~workbench.data.dataset.EvalSplit`; two untrained models at the paper's sizes are evaluated on it
through :func:`workbench.scoring.evaluate_split` in the exhaustive mode, the path training and
``workbench eval SAF_RUN SGR_RUN`` use: encode the split once per model, then score every image x caption
pair with both heads in blocks and stream the ranks. The timing covers encoding, scoring and ranking.
The recall of untrained models is chance level; it is returned only to show the pass completed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from workbench.bench.shapes import BenchShape, random_captions
from workbench.bench.timing import synchronize
from workbench.data.dataset import EvalSplit, TokenizedCaptions
from workbench.models import RetrievalModel
from workbench.scoring import evaluate_split

__all__ = ["random_eval_split", "bench_sgraf_eval"]


def random_eval_split(shape: BenchShape, seed: int = 0) -> EvalSplit:
    """``shape.eval_images`` random images and ``captions_per_image`` random captions each."""
    g = torch.Generator().manual_seed(seed)
    n, k = shape.eval_images, shape.captions_per_image
    rng = np.random.default_rng(seed)
    images = np.maximum(rng.standard_normal((n, shape.n_regions, shape.img_dim), dtype=np.float32), 0)
    tokens, lengths = random_captions(n * k, shape, g)
    offsets = np.zeros(n * k + 1, dtype=np.int64)
    np.cumsum(lengths.numpy(), out=offsets[1:])
    flat = np.concatenate([row[:length] for row, length in zip(tokens.numpy(), lengths.numpy(), strict=True)])
    captions = TokenizedCaptions(flat=flat.astype(np.int32), offsets=offsets, texts=("",) * (n * k))
    return EvalSplit("bench", images, captions, k)


def bench_sgraf_eval(shape: BenchShape, device: torch.device, *, seed: int = 0, precision: str = "fp32",
                     image_chunk: int = 128, caption_chunk: int = 640, chunk_mb: float = 96.0,
                     memory_mb: float = 256.0) -> dict[str, Any]:
    """Seconds of one exhaustive SGRAF evaluation of ``eval_images x 5 eval_images`` pairs.

    ``precision`` is the heads' arithmetic (``"fp32"`` or ``"bf16"`` autocast); ``image_chunk`` /
    ``caption_chunk`` the host-streamed blocks of the score matrix (``eval.image_chunk`` /
    ``eval.caption_chunk``, used on the CPU), ``memory_mb`` the on-device block budget (``eval.memory_mb``,
    used on CUDA, where ranks are counted on the device) and ``chunk_mb`` the head's memory budget per
    chunk (``model.chunk_mb``).
    """
    split = random_eval_split(shape, seed)
    torch.manual_seed(seed)
    models = [RetrievalModel(shape.model_config(kind, chunk_mb=chunk_mb, head_precision=precision),
                             vocab_size=shape.vocab, img_dim=shape.img_dim, n_regions=shape.n_regions).to(device)
              for kind in ("saf", "sgr")]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronize(device)
    start = time.perf_counter()
    on_device = device.type == "cuda"  # as training evaluates (eval.on_device=auto)
    metrics = evaluate_split(models, split, device, mode="exhaustive", image_chunk=image_chunk,
                             caption_chunk=caption_chunk, on_device=on_device, memory_mb=memory_mb)["all"]
    synchronize(device)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"eval_images": split.n_images, "eval_captions": len(split.captions),
                           "eval_precision": precision, "eval_s": round(seconds, 3), "eval_rsum": metrics.rsum,
                           "eval_ranks": "device" if on_device else "host"}
    if device.type == "cuda":
        out["eval_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out
