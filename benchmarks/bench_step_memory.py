"""Peak memory of one SGR training step (triplet loss) with the sparse backward and with the ordinary one.

Each mode runs in its own process (the resident-set high-water mark only grows), at paper sizes: 36 x 2048
regions, embed 1024, sim 256, captions of 10-14 words. Two steps are taken; the figure is the growth of
the peak resident set over the model and inputs. Prints one JSON line per mode.

    python benchmarks/bench_step_memory.py [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch

from workbench.bench.step import _inputs
from workbench.config import ModelConfig
from workbench.losses import triplet_loss
from workbench.models import RetrievalModel

MODES = ("sparse", "dense")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(mode: str, batch: int) -> dict[str, object]:
    """Peak resident-set growth (MiB) of two training steps in this process."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = RetrievalModel(ModelConfig(backbone="sgr", dropout=0.0), vocab_size=8481, img_dim=2048,
                           n_regions=36).train()
    images, tokens, lengths = _inputs(batch, g, 8481, (10, 14))
    before = _peak_mib()
    for _ in range(2):
        model.zero_grad(set_to_none=True)
        logits = model.logits(model.encode_images(images), model.encode_captions(tokens, lengths),
                              sparse_loss=mode == "sparse")
        triplet_loss(torch.sigmoid(logits), 0.2)["triplet_loss"].backward()
    peak = _peak_mib()
    return {"mode": mode, "batch": batch, "peak_rss_mib": round(peak), "step_peak_growth_mib": round(peak - before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # the child process's own mode
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.batch)), flush=True)
        return
    for mode in MODES:
        subprocess.run([sys.executable, __file__, "--mode", mode, "--batch", str(args.batch)], check=True)


if __name__ == "__main__":
    main()
