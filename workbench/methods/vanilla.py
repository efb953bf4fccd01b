"""Vanilla training: the hardest-negative triplet loss on every pair, mismatched or not (VSE++ / SGRAF).

These are the paper's "SAF", "SGR" (and, averaged at test time, "SGRAF") rows: the backbone trained as if
every pair were matched. Optional warm-up epochs use a gentler loss (``vanilla.warmup_loss``), because the
hardest-negative loss from scratch can collapse; the paper's
presets use no warm-up.
"""

from __future__ import annotations

import numpy as np

from workbench.losses import SPARSE_WARMUP_LOSSES, total_loss, triplet_loss, warmup_loss
from workbench.methods.base import EpochContext, EpochStats, LossMeter, Method, batch_order

__all__ = ["Vanilla"]


class Vanilla(Method):
    name = "vanilla"

    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg = self.cfg
        model = self.models[0]
        model.train()
        self.set_lr(ctx.lr_scale)
        batches = batch_order(np.arange(self.data.train.n_pairs), cfg.optim.batch_size,
                              ctx.rng(0, cfg.seed), drop_last=True)
        meter = LossMeter()
        for step, batch in enumerate(self.train_batches(batches)):
            warmup = ctx.phase == "warmup"
            sparse = not warmup or cfg.vanilla.warmup_loss in SPARSE_WARMUP_LOSSES
            scores = self.batch_scores(model, batch, sparse_loss=sparse)
            if warmup:
                terms = warmup_loss(scores, cfg.vanilla.warmup_loss, tau=cfg.vanilla.tau, margin=cfg.optim.margin)
            else:
                terms = triplet_loss(scores, cfg.optim.margin, reduction=cfg.vanilla.reduction)
            loss = total_loss(terms)
            self.step(0, loss)
            values = meter.add({**terms, "loss": loss})
            if ctx.on_step:
                ctx.on_step(step, len(batches), values)
        return EpochStats(losses=meter.means(), steps=len(batches))
