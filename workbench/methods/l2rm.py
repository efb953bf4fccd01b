"""L2RM: learning to rematch mismatched pairs (Han et al., CVPR 2024), paper Sec. 4 and Algorithm 1.

Warm-up (Eq. 3 + Eq. 5): ``0.5 (InfoNCE + RCE)`` on all pairs (or the Table 4 alternatives).

Each main epoch:

1. **Split** (Sec. 4.1): the per-pair mean hinge over the training set (eval mode) is min-max normalised and
   clamped to ``[1e-3, 1 - 1e-3]``; a two-component beta mixture is fitted by EM and a pair is *matched*
   (clean) when the posterior of the low-loss component exceeds 0.5. The paper always splits (at MRate 0 it
   only disables the mask). ``split_guard=True`` keeps the whole set clean while the fitted mixture density
   is unimodal — a forced split of a one-mode loss distribution calls clean pairs noisy (measured on
   ``synthetic small`` after 1-4 warm-up epochs: 14-46 % of pairs called noisy at MRate 0, one mode; at
   MRate 0.6 the density becomes bimodal once the split's AUC reaches ~0.88). ``cpu-l2rm-vse`` at MRate 0,
   seed 0: test rSum 383.6 without the guard, 467.6 with it (vanilla 465.2).
2. **Each step**, with a clean batch and a noisy batch (the noisy loader cycles):

   a. *cost update* (Eq. 6): ``k ~ U{1..reserve_ratio B}`` clean pairs are reserved among the rematching
      images (the queue, i.e. the previous noisy batch by default), giving ``pi_sup``; the learnable cost
      ``f_c(S) = ReLU(S W^T + b)`` (init ReLU(1 - S)) takes one Adam step on ``<pi_sup, f_c(S)>``;
   b. *rematch* (Eq. 7-9): the similarity ``S`` of the queue images and the noisy captions gives the cost
      ``f_c(S)``; the masked partial OT (mass ``rho``, entropy ``lam``, the original pairs masked, Eq. 8) is
      solved with the dummy-point Sinkhorn of Appendix B; the plan, clipped at 1e-10 and normalised per row
      and per column, is the refined alignment;
   c. *model update* (Eq. 11): ``clean_weight * triplet(clean) + rematch_weight * L_re(noisy)`` with the
      official reductions (triplet summed over the clean batch, rematch loss averaged over rows), Adam,
      gradient clipping.

OT accuracy: a plan is checked against its marginals and the mass ``rho`` (relative tolerance
``ot_accuracy_rtol``; at ``lam = 1e-4`` the plan moves nothing, and the reference code's early stop still
calls it converged). An epoch's count of such plans is ``rematch.off_marginals``; when more than
``ot_fail_fraction`` of its solves are off, the epoch is recorded and the run stops with
:class:`~workbench.ot.accuracy.OTAccuracyError` (the paper does not discuss this; it guards the run).

Ablations (Table 3): ``partial=False`` (balanced OT), ``mask_positives="off"``, ``cost_fn="cosine"`` (the
cosine distance of the global embeddings, no cost learning), ``rematch_loss="kl"|"infonce"``.

Where paper and official code differ, the paper is followed by default and
the code is an option — ``mask_positives="auto"`` disables the mask only at MRate 0 on the original datasets
(the paper's Appendix D.1), while the code also disables it on CC152K (``"off"``); ``ot_stop="official"`` is
the code's early stop (||delta u|| < 1e-3) instead of a real marginal tolerance; the code's queue of length B is
the default (``queue_length=0``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.config import TrainConfig
from workbench.data.dataset import Batch, RetrievalData
from workbench.errors import ConfigError
from workbench.losses import SPARSE_WARMUP_LOSSES, rematch_loss, total_loss, triplet_loss, warmup_loss
from workbench.methods.base import EpochContext, EpochStats, LossMeter, Method, batch_order, cycle_batches
from workbench.methods.l2rm_record import CostRecorder, RematchRecorder
from workbench.mixture import clean_probability, fit_beta_mixture, normalise_losses, split_report
from workbench.ot import (
    LearnableCost,
    build_cost_supervision,
    cosine_cost,
    cost_supervision_loss,
    diagonal_mask,
    partial_ot,
    plan_targets,
    sinkhorn,
)
from workbench.ot.accuracy import OTAccuracyError

__all__ = ["L2RM"]

log = logging.getLogger(__name__)



class L2RM(Method):
    name = "l2rm"

    def __init__(self, cfg: TrainConfig, data: RetrievalData, device: torch.device) -> None:
        super().__init__(cfg, data, device)
        c, b = cfg.l2rm, cfg.optim.batch_size
        self.queue_length = c.queue_length or b
        if self.queue_length < b:
            raise ConfigError(f"l2rm.queue_length={c.queue_length} must be 0 or at least the batch size {b}")
        self.cost_net: LearnableCost | None = None
        self.cost_optimizer: torch.optim.Optimizer | None = None
        if c.cost_fn == "learned":
            self.cost_net = LearnableCost(b, init=c.cost_init).to(device)
            self.cost_optimizer = torch.optim.Adam(self.cost_net.parameters(), lr=c.cost_lr)
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 7]))
        # distractor images of the first cost update: random training images (as the reference code)
        self.queue = rng.choice(data.train.n_images, self.queue_length, replace=data.train.n_images < self.queue_length)
        self.clean_prob: np.ndarray | None = None
        self.est_clean: np.ndarray | None = None
        self._ot_off = 0

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.cost_net is not None and self.cost_optimizer is not None:
            state["cost_net"] = self.cost_net.state_dict()
            state["cost_optimizer"] = self.cost_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.cost_net is not None and self.cost_optimizer is not None:
            self.cost_net.load_state_dict(state["cost_net"])
            self.cost_optimizer.load_state_dict(state["cost_optimizer"])

    def extra_state(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"queue": torch.as_tensor(self.queue)}
        if self.est_clean is not None and self.clean_prob is not None:
            extra["est_clean"] = torch.as_tensor(self.est_clean)
            extra["clean_prob"] = torch.as_tensor(self.clean_prob)
        return extra

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.queue = state["queue"].numpy()
        if "est_clean" in state:
            self.est_clean = state["est_clean"].numpy()
            self.clean_prob = state["clean_prob"].numpy()

    # ------------------------------------------------------------------ epochs
    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        self._ot_off = 0  # OT plans of this epoch off their constraints (see _solve)
        self.set_lr(ctx.lr_scale)
        if self.cost_optimizer is not None:
            for group in self.cost_optimizer.param_groups:
                group["lr"] = self.cfg.l2rm.cost_lr * ctx.lr_scale
        if ctx.phase == "warmup":
            return self._warmup_epoch(ctx)
        return self._main_epoch(ctx)

    def _warmup_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg, model = self.cfg, self.models[0]
        model.train()
        batches = batch_order(np.arange(self.data.train.n_pairs), cfg.optim.batch_size,
                              ctx.rng(0, cfg.seed), drop_last=True)
        meter = LossMeter()
        for step, batch in enumerate(self.train_batches(batches)):
            scores = self.batch_scores(model, batch, sparse_loss=cfg.l2rm.warmup_loss in SPARSE_WARMUP_LOSSES)
            terms = warmup_loss(scores, cfg.l2rm.warmup_loss, tau=cfg.l2rm.tau, margin=cfg.optim.margin,
                                epsilon=cfg.l2rm.rce_epsilon)
            loss = total_loss(terms)
            self.step(0, loss)
            values = meter.add({**terms, "loss": loss})
            if ctx.on_step:
                ctx.on_step(step, len(batches), values)
        return EpochStats(losses=meter.means(), steps=len(batches))

    def mask_enabled(self) -> bool:
        mode = self.cfg.l2rm.mask_positives
        if mode != "auto":
            return mode == "on"
        original = self.cfg.data.mrate == 0 and not self.cfg.data.noise_file and self.cfg.data.dataset != "cc152k"
        return not original

    def _split(self, ctx: EpochContext) -> tuple[dict[str, Any], CostRecorder]:
        """Per-sample losses -> beta mixture -> clean/noisy flags (and the per-pair learned cost)."""
        train = self.data.train
        recorder = CostRecorder(train.n_pairs)

        def record_cost(scores: Tensor, idx: np.ndarray) -> None:
            cost = self._cost_matrix(scores, self.data.train.batch(idx) if self.cost_net is None else None)
            recorder.add(idx, cost.diagonal())

        losses = self.per_sample_losses(self.models[0], ctx.rng(1, self.cfg.seed), extra=record_cost)
        x = normalise_losses(losses)
        fit = fit_beta_mixture(x, stop=self.cfg.l2rm.em_stop)  # type: ignore[arg-type]
        prob = clean_probability(fit, x)
        est = prob > self.cfg.l2rm.split_threshold
        guarded = bool(self.cfg.l2rm.split_guard and fit.n_modes() < 2)
        if guarded:
            est = np.ones_like(est)
        self.clean_prob, self.est_clean = prob, est
        quality: dict[str, Any] = split_report(prob, est, train.true_matched if train.truth_known else None)
        quality.update(separation=fit.separation(), guarded=guarded, em_iter=fit.n_iter)
        return quality, recorder

    @torch.no_grad()
    def _cost_matrix(self, scores: Tensor, batch: Batch | None = None, *, images: Tensor | None = None,
                     captions: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Transport cost ``[Q, B]`` of a similarity matrix: the learned ``f_c(S)`` or the cosine distance
        of the global embeddings (ablation; needs the raw images and captions)."""
        if self.cost_net is not None:
            return self.cost_net(scores.detach())
        model = self.models[0]
        if batch is not None:
            images, captions = batch.images, (batch.tokens, batch.lengths)
        assert images is not None and captions is not None
        was_training = model.training  # called from the eval-mode split pass and the train-mode steps
        model.eval()
        img, txt = model.global_embeddings(model.encode_images(images.to(self.device)),
                                           model.encode_captions(captions[0].to(self.device),
                                                                 captions[1].to(self.device)))
        model.train(was_training)
        return cosine_cost(img, txt)

    def _cost_step(self, clean: Batch, generator: torch.Generator) -> float:
        """One Adam step of the learnable cost on reconstructed pairs (Eq. 6)."""
        assert self.cost_net is not None and self.cost_optimizer is not None
        c = self.cfg.l2rm
        sup = build_cost_supervision(self.queue_length, len(clean.captions), reserve_ratio=c.reserve_ratio,
                                     count=c.reserve_count, generator=generator)
        key_images = self.queue.copy()
        slots, caption_pos = sup.slots.cpu().numpy(), sup.captions.cpu().numpy()
        key_images[slots] = clean.image_ids[caption_pos]
        model = self.models[0]
        model.eval()
        with torch.no_grad():
            scores = self.pair_scores(model, self.data.train.image_tensor(key_images).to(self.device),
                                      clean.tokens.to(self.device), clean.lengths.to(self.device))
        model.train()
        loss = cost_supervision_loss(self.cost_net(scores), sup.pi_sup.to(scores))["cost_loss"]
        self.cost_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.cost_optimizer.step()
        return float(loss.detach())

    def _solve(self, cost: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None, bool, float]:
        """Refined alignment ``[Q, B]``, the dummy masses (None for balanced OT), convergence and error.

        A plan off its marginals or mass by more than ``l2rm.ot_accuracy_rtol`` is counted (not warned
        about per step); :meth:`_ot_verdict` reports the epoch's count and applies the failure policy.
        """
        c = self.cfg.l2rm
        cost = cost.float()  # the solver's float32 numerics, whatever the scores' dtype (a no-op in fp32)
        if c.partial:
            res = partial_ot(cost, mass=c.rho, eps=c.lam, mask=mask, formulation=c.ot_formulation,
                             tol=c.ot_tol, max_iter=c.ot_max_iter, stop_rule=c.ot_stop, accuracy="ignore",
                             accuracy_rtol=c.ot_accuracy_rtol)
            self._ot_off += int(res.inaccurate.any())
            return res.plan, res.dummy_row, res.dummy_col, bool(res.converged), float(res.marginal_error.max())
        res = sinkhorn(cost, eps=c.lam, mask=mask, tol=c.ot_tol, max_iter=c.ot_max_iter, stop_rule=c.ot_stop,
                       accuracy="ignore", accuracy_rtol=c.ot_accuracy_rtol)
        self._ot_off += int(res.inaccurate.any())
        return res.plan, None, None, bool(res.converged), float(res.marginal_error.max())

    def _ot_verdict(self, epoch: int, summary: dict[str, Any] | None) -> OTAccuracyError | None:
        """Record the epoch's count of OT plans off their constraints in the ``rematch`` summary (as
        ``off_marginals``); warn when there are any, and return the error that stops the run when their
        fraction exceeds ``l2rm.ot_fail_fraction``."""
        if summary is None:
            return None
        c, solves, off = self.cfg.l2rm, int(summary["batches"]), self._ot_off
        summary["off_marginals"] = off
        if not off:
            return None
        text = (f"epoch {epoch}: {off} of {solves} OT solves missed their marginals or the mass rho={c.rho:g} "
                f"by more than {c.ot_accuracy_rtol:g} (lam={c.lam:g}, ot_stop={c.ot_stop}); the rematch targets "
                "of those batches are not transport plans")
        if off > c.ot_fail_fraction * solves:
            return OTAccuracyError(f"{text}: over l2rm.ot_fail_fraction={c.ot_fail_fraction:g} of the solves, so the "
                                   "run stops (raise lam or ot_max_iter, use ot_stop=marginal, or set "
                                   "l2rm.ot_fail_fraction=1 to only count them)")
        log.warning("%s (counted as rematch.off_marginals in metrics.jsonl)", text)
        return None

    def _main_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg, c = self.cfg, self.cfg.l2rm
        b = cfg.optim.batch_size
        model, train = self.models[0], self.data.train
        split, cost_rec = self._split(ctx)
        assert self.est_clean is not None and self.clean_prob is not None
        if ctx.artifacts is not None and cfg.log.cost_by_epoch:
            cost_rec.write(ctx.artifacts, ctx.epoch, train.pair_image,
                           train.true_matched if train.truth_known else None, self.est_clean, self.clean_prob)
        clean_idx = np.flatnonzero(self.est_clean)
        noisy_idx = np.flatnonzero(~self.est_clean)
        clean_batches = batch_order(clean_idx, b, ctx.rng(2, cfg.seed), drop_last=True)
        noisy = cycle_batches(noisy_idx, b, ctx.rng(3, cfg.seed)) if len(noisy_idx) >= b else None
        if noisy is None:
            log.info("epoch %d: %d noisy pairs (< batch %d): no rematching this epoch", ctx.epoch,
                     len(noisy_idx), b)
        generator = torch.Generator().manual_seed(int(ctx.rng(4, cfg.seed).integers(2**62)))
        recorder = RematchRecorder(train, self.data.truth, epoch=ctx.epoch, rho=c.rho, lam=c.lam,
                                   max_batches=cfg.log.alignment_batches, max_examples=cfg.log.rematch_examples,
                                   learned_cost=self.cost_net is not None)
        mask = diagonal_mask(self.queue_length, b, device=self.device) if self.mask_enabled() else None
        weights = {"triplet_loss": c.clean_weight, "rematch_loss": c.rematch_weight}
        meter = LossMeter()
        model.train()
        for step, clean in enumerate(self.train_batches(clean_batches)):
            terms: dict[str, Tensor | float] = {}
            rematch_terms: dict[str, Tensor] = {}
            if noisy is not None:
                nidx = next(noisy)
                if self.cost_net is not None:
                    terms["cost_loss"] = self._cost_step(clean, generator)
                self.queue = np.concatenate([train.pair_image[nidx], self.queue[:-b]])  # FIFO, newest first
                rematch_terms = self._rematch(nidx, mask, recorder, step)
            scores = self.batch_scores(model, clean, sparse_loss=True)
            clean_terms = triplet_loss(scores, cfg.optim.margin, reduction=c.clean_reduction)
            loss = total_loss({**clean_terms, **rematch_terms}, weights)
            self.step(0, loss)
            values = meter.add({**terms, **clean_terms, **rematch_terms, "loss": loss})
            if ctx.on_step:
                ctx.on_step(step, len(clean_batches), values)
        if ctx.artifacts is not None:
            recorder.write(ctx.artifacts)
        summary = recorder.summary()
        if summary is not None and train.truth_known:
            summary.update(cost_rec.medians(train.true_matched))
        if summary and summary["unconverged"]:
            log.warning("epoch %d: %d of %d OT solves stopped at l2rm.ot_max_iter=%d before the marginal "
                        "tolerance (worst error %.2g); raise ot_max_iter or lam", ctx.epoch,
                        summary["unconverged"], summary["batches"], self.cfg.l2rm.ot_max_iter,
                        summary["max_marginal_error"])
        return EpochStats(losses=meter.means(), steps=len(clean_batches), split=split, rematch=summary,
                          failure=self._ot_verdict(ctx.epoch, summary))

    def _rematch(self, nidx: np.ndarray, mask: Tensor | None, recorder: RematchRecorder,
                 step: int) -> dict[str, Tensor]:
        """Rematch loss of one noisy batch against its refined alignment (Eq. 9-10)."""
        c, model, train = self.cfg.l2rm, self.models[0], self.data.train
        noisy = train.batch(nidx)
        images = train.image_tensor(self.queue).to(self.device)
        tokens, lengths = noisy.tokens.to(self.device), noisy.lengths.to(self.device)
        scores = self.pair_scores(model, images, tokens, lengths)  # [Q, B], with gradients
        with torch.no_grad():
            cost = self._cost_matrix(scores, images=images, captions=(tokens, lengths))
            plan, dummy_row, dummy_col, converged, error = self._solve(cost, mask)
            target_i2t, target_t2i = plan_targets(plan)  # [Q, B] rows, [B, Q] columns normalised
        recorder.add(step, queue_images=self.queue, captions=nidx, similarity=scores, cost=cost, mask=mask,
                     plan=plan, target_i2t=target_i2t, dummy_row=dummy_row, dummy_col=dummy_col,
                     converged=converged, marginal_error=error)
        return rematch_loss(scores, target_i2t, target_t2i, tau=c.tau, kind=c.rematch_loss)
