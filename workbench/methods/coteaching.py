"""The two-network co-teaching skeleton shared by NCR (Huang et al. 2021) and BiCro (Yang et al. 2023).

Two identical backbones A and B, each with its own Adam optimiser:

* **warm-up** — each network is trained alone on all (noisy) pairs with the subclass's warm-up loss;
* **each main epoch** — both networks divide the training set (:meth:`CoTeaching.divide`): the per-pair mean
  hinge of every pair (eval mode, the same shuffled batches for both nets, :meth:`Method.per_sample_losses`)
  is fitted with a two-component mixture and a pair is *labeled* (clean) when its clean posterior exceeds
  ``p_threshold``; then **A is trained on B's division and B on A's**, so a network never selects its own
  training data (co-teaching's defence against confirmation bias). Each iteration draws one labeled batch and,
  from the second half of the main epochs on, one unlabeled batch (the unlabeled pairs cycle);
  :meth:`CoTeaching.co_step` takes the optimiser steps;
* **test** — the two networks' scores are averaged (the default :meth:`Method.eval_models`).

Subclasses provide the warm-up loss, the mixture and the per-iteration update.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.losses import per_sample_hinge, total_loss
from workbench.methods.base import EpochContext, EpochStats, LossMeter, Method, batch_order, cycle_batches
from workbench.mixture import split_report

__all__ = ["CoTeaching", "Division", "FORCED_NOISY_FRACTION", "threshold_split", "predict_confidence",
           "hinge_confidence"]

log = logging.getLogger(__name__)

#: When no pair falls below the threshold, this fraction with the lowest clean probability is made unlabeled
#: (both official codes' ``split_prob``), so the unlabeled loader is never empty.
FORCED_NOISY_FRACTION = 0.01

# Random streams of an epoch (ctx.rng): the division pass, and per network k the batch order (+10k) and
# the unlabeled cycle (+10k).
_STREAM_DIVIDE = 1
_STREAM_ORDER = 2
_STREAM_UNLABELED = 3


@dataclass(frozen=True, eq=False)
class Division:
    """One network's split of the training pairs."""

    prob: np.ndarray  # [N] float64, posterior of the clean (low-loss) component
    clean: np.ndarray  # [N] bool, True = labeled
    forced: bool = False  # no pair was below the threshold: the lowest FORCED_NOISY_FRACTION were made noisy

    @property
    def labeled(self) -> np.ndarray:
        return np.flatnonzero(self.clean)

    @property
    def unlabeled(self) -> np.ndarray:
        return np.flatnonzero(~self.clean)


def threshold_split(prob: np.ndarray, threshold: float) -> Division:
    """``clean = prob > threshold``; if that leaves no noisy pair, the threshold is raised to the
    ``floor(N * FORCED_NOISY_FRACTION)``-th smallest probability (the official ``split_prob``)."""
    prob = np.asarray(prob, dtype=np.float64)
    forced = bool(prob.min() > threshold)
    if forced:
        threshold = float(np.sort(prob)[int(len(prob) * FORCED_NOISY_FRACTION)])
    return Division(prob=prob, clean=prob > threshold, forced=forced)


def hinge_confidence(scores: Tensor, margin: float) -> Tensor:
    """``clamp(m - (mean_j c^s_ij + mean_j c^im_ji) / 2, 0, m)`` ``[B]``: high for pairs that beat their
    in-batch negatives by the margin (the per-pair mean hinge of :func:`per_sample_hinge`, reversed)."""
    return (margin - per_sample_hinge(scores, margin) / 2).clamp(min=0.0, max=margin)


def predict_confidence(scores: Tensor, margin: float) -> Tensor:
    """NCR's prediction ``p`` ``[B]`` of how well each pair of a batch matches (``mode="predict"``).

    :func:`hinge_confidence`, divided by the mean of its ``B // 10 + 1`` largest values and clamped to
    [0, 1], so the most confident tenth of the batch is called matched. All-zero confidence stays 0.
    """
    p = hinge_confidence(scores, margin)
    top = p.topk(p.shape[0] // 10 + 1).values.mean()
    return (p / top).clamp(0.0, 1.0) if float(top) > 0 else torch.zeros_like(p)


class CoTeaching(Method):
    """Base of the two-network methods; see the module docstring."""

    n_models = 2

    def __init__(self, cfg: TrainConfig, data: RetrievalData, device: torch.device) -> None:
        super().__init__(cfg, data, device)
        self.divisions: list[Division | None] = [None, None]

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def warmup_terms(self, scores: Tensor) -> dict[str, Tensor]:
        """Warm-up loss terms of one batch ``[B, B]`` of training-mode scores."""

    @abstractmethod
    def clean_probability(self, losses: np.ndarray) -> np.ndarray:
        """Clean posterior ``[N]`` of the per-pair losses ``[N]`` (the method's mixture)."""

    @abstractmethod
    def co_step(self, ctx: EpochContext, k: int, labeled: np.ndarray, unlabeled: np.ndarray | None,
                division: Division) -> dict[str, Tensor | float]:
        """Train network ``k`` on one labeled batch (and an unlabeled batch, or None); ``division`` is the
        peer's. Takes the optimiser step(s) and returns the named loss terms."""

    @property
    @abstractmethod
    def threshold(self) -> float:
        """The clean-probability threshold of the division (``p_threshold``)."""

    # ------------------------------------------------------------------ state
    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for k, division in enumerate(self.divisions):
            if division is not None:
                state[f"division{k}"] = {"prob": torch.as_tensor(division.prob),
                                         "clean": torch.as_tensor(division.clean), "forced": division.forced}
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        for k in range(self.n_models):
            saved = state.get(f"division{k}")
            self.divisions[k] = None if saved is None else Division(
                prob=saved["prob"].numpy(), clean=saved["clean"].numpy(), forced=bool(saved["forced"]))

    # ------------------------------------------------------------------ epochs
    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self.set_lr(ctx.lr_scale)
        if ctx.phase == "warmup":
            return self._warmup_epoch(ctx)
        return self._main_epoch(ctx)

    def _warmup_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg = self.cfg
        orders = [batch_order(np.arange(self.data.train.n_pairs), cfg.optim.batch_size,
                              ctx.rng(_STREAM_ORDER + 10 * k, cfg.seed), drop_last=True)
                  for k in range(self.n_models)]
        total = sum(len(o) for o in orders)
        meter, step = LossMeter(), 0
        for k, order in enumerate(orders):  # A for a whole epoch, then B (the official order)
            model = self.models[k]
            model.train()
            for idx in order:
                terms = self.warmup_terms(self.batch_scores(model, self.data.train.batch(idx)))
                loss = total_loss(terms)
                self.step(k, loss)
                values = meter.add({**terms, "loss": loss})
                if ctx.on_step:
                    ctx.on_step(step, total, values)
                step += 1
        return EpochStats(losses=meter.means(), steps=total)

    def divide(self, ctx: EpochContext) -> list[Division]:
        """Both networks' divisions of the training set (the same shuffled batches for both)."""
        out = []
        for model in self.models:
            losses = self.per_sample_losses(model, ctx.rng(_STREAM_DIVIDE, self.cfg.seed))
            out.append(threshold_split(self.clean_probability(losses), self.threshold))
        return out

    def split_summary(self) -> dict[str, float]:
        """Split quality of both divisions: the mean over the networks under the common keys (precision,
        recall, auc, clean_fraction, ... against the truth when it is known) and ``net{k}_<key>`` each."""
        train = self.data.train
        per_net = []
        for division in self.divisions:
            assert division is not None
            quality = split_report(division.prob, division.clean,
                                   train.true_matched if train.truth_known else None)
            quality["forced"] = float(division.forced)
            per_net.append(quality)
        report: dict[str, float] = {key: float(np.mean([q[key] for q in per_net])) for key in per_net[0]}
        for k, quality in enumerate(per_net):
            report.update({f"net{k}_{key}": float(value) for key, value in quality.items()})
        return report

    def _main_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg, b = self.cfg, self.cfg.optim.batch_size
        self.divisions = self.divide(ctx)
        use_unlabeled = ctx.main_epoch >= cfg.optim.epochs // 2
        plans = []
        for k in range(self.n_models):
            peer = self.divisions[1 - k]
            assert peer is not None
            labeled = batch_order(peer.labeled, b, ctx.rng(_STREAM_ORDER + 10 * k, cfg.seed), drop_last=True)
            if not labeled:
                log.info("epoch %d, net %d: %d labeled pairs (< batch %d): the net is not trained this epoch",
                         ctx.epoch, k, len(peer.labeled), b)
            unlabeled = None
            if use_unlabeled and len(peer.unlabeled) >= b:
                unlabeled = cycle_batches(peer.unlabeled, b, ctx.rng(_STREAM_UNLABELED + 10 * k, cfg.seed))
            elif use_unlabeled:
                log.info("epoch %d, net %d: %d unlabeled pairs (< batch %d): labeled loss only", ctx.epoch, k,
                         len(peer.unlabeled), b)
            plans.append((labeled, unlabeled, peer))
        total = sum(len(p[0]) for p in plans)
        meter, step = LossMeter(), 0
        for k, (labeled, unlabeled, peer) in enumerate(plans):
            self.models[1 - k].eval()  # the peer only predicts while k trains
            self.models[k].train()
            for lidx in labeled:
                terms = self.co_step(ctx, k, lidx, next(unlabeled) if unlabeled is not None else None, peer)
                values = meter.add(terms)
                if ctx.on_step:
                    ctx.on_step(step, total, values)
                step += 1
            self.models[1 - k].train()
        return EpochStats(losses=meter.means(), steps=total, split=self.split_summary())

    # ------------------------------------------------------------------ helpers for subclasses
    def device_tensor(self, values: np.ndarray, like: Tensor) -> Tensor:
        """``values`` as a tensor with the dtype and device of ``like``."""
        return torch.as_tensor(values, dtype=like.dtype, device=like.device)
