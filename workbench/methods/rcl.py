"""RCL: robust contrastive learning with complementary contrastive learning (Hu et al., TPAMI 2023).

A pure loss replacement on one network: no warm-up, no division. Each batch's similarity matrix ``S``
(the activated score: sigmoid for SAF/SGR, cosine for VSE) is turned into in-batch retrieval probabilities
``softmax(S / tau)`` in both directions, and every non-matching probability is pushed down through a bounded
function ``h`` (:func:`workbench.losses_robust.ccl_loss`; ``rcl.h``, default ``-log(1 - p)``). The loss never
uses the (possibly mismatched) positive directly, which bounds the harm a wrong pair can do.

``rcl.neg_ratio`` in (0, 1) uses ``int(ratio * B)`` random negatives per row instead of all ``B - 1`` (the
code's ``--ratio``); the masks come from a generator seeded by ``(seed, epoch)``, identical in every process.

The temperature is tied to the score's range: ``tau = 0.05`` on sigmoid scores in (0, 1) spans logits of 20;
on cosines in [-1, 1] it spans 40.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from workbench.losses import total_loss
from workbench.losses_robust import ccl_loss
from workbench.methods.base import EpochContext, EpochStats, LossMeter, Method, batch_order

__all__ = ["RCL", "random_negatives"]


def random_negatives(b: int, ratio: float, generator: torch.Generator | None = None) -> Tensor:
    """``[b, b]`` 0/1 mask with ``max(int(ratio * b), 1)`` random off-diagonal ones per row (all ``b - 1``
    when ``ratio`` is 0 or outside (0, 1)), on the CPU."""
    eye = torch.eye(b, dtype=torch.bool)
    if ratio <= 0 or ratio >= 1:
        return (~eye).float()
    count = min(max(int(ratio * b), 1), b - 1)
    noise = torch.rand(b, b, generator=generator).masked_fill(eye, -1.0)  # the diagonal is never drawn
    mask = torch.zeros(b, b)
    mask.scatter_(1, noise.topk(count, dim=1).indices, 1.0)
    return mask


class RCL(Method):
    name = "rcl"

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg, c = self.cfg, self.cfg.rcl
        model = self.models[0]
        model.train()
        self.set_lr(ctx.lr_scale)
        batches = batch_order(np.arange(self.data.train.n_pairs), cfg.optim.batch_size, ctx.rng(0, cfg.seed),
                              drop_last=True)
        generator = torch.Generator().manual_seed(int(ctx.rng(1, cfg.seed).integers(2**62)))
        meter = LossMeter()
        for step, idx in enumerate(batches):
            scores = self.batch_scores(model, self.data.train.batch(idx))
            negatives = None
            if c.neg_ratio > 0:
                negatives = random_negatives(scores.shape[0], c.neg_ratio, generator).to(scores)
            terms = ccl_loss(scores, tau=c.tau, h=c.h, q=c.gce_q, margin=cfg.optim.margin,
                             negatives=negatives)
            loss = total_loss(terms)
            self.step(0, loss)
            values = meter.add({**terms, "loss": loss})
            if ctx.on_step:
                ctx.on_step(step, len(batches), values)
        return EpochStats(losses=meter.means(), steps=len(batches))
