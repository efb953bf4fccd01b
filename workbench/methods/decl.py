"""DECL: deep evidential cross-modal learning (Qin et al., ACM MM 2022), on the shared backbone.

One network trained on its pre-activation scores ``z`` (:meth:`Method.batch_scores` with ``logits=True``):

* **evidence** ``E = exp(tanh(z) / tau)``; image i's Dirichlet over the batch's captions is
  ``alpha_i2t = E[i] + 1`` and caption i's over the images ``alpha_t2i = E[:, i] + 1``;
* **loss** ``L = L_EDL + L_RDH`` per batch (:mod:`workbench.losses_robust`): the MSE-form evidential loss with
  ``lambda2 * KL`` (targets ``e_i``, zeroed for pairs predicted noisy) averaged over the batch, plus
  ``lambda1 *`` the robust dynamic hinge on ``tanh(z)`` summed over the pairs predicted clean, over the top
  ``K = max(floor(B - eta * step), mu)`` negatives. ``step`` counts every iteration including the warm-up,
  starting at 1; it is part of the checkpointed state, so a resumed run continues the annealing;
* **warm-up** — the same loss with every pair treated as clean;
* **division** (each main epoch, eval mode, no gradients) — over shuffled batches of the training set,
  ``e = E + E^T`` is row-normalised and pair i is clean iff ``argmax_j e[i, j] = i`` *within its batch*; the
  flags are reused for the epoch's (differently shuffled) training batches. The normalised diagonal
  ``e[i, i]`` serves as the clean score of the split-quality AUC. The last short batch is completed with
  pairs from the start of the permutation (:func:`~workbench.methods.base.covering_batches`).

Ranking uses the backbone's activated score (``sigmoid(z)`` for SAF/SGR, the cosine for VSE).

For the cosine (``vse``) backbone the logit is the cosine itself, in [-1, 1]: ``tanh(z)`` stays within
±0.76, so the evidence spans ``e^{±0.76/tau}`` instead of ``e^{±1/tau}`` — ``tau`` acts as ``tau / 0.76`` of
the SGRAF setting — and the RDH margin is measured on ``tanh(cos)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.losses import total_loss
from workbench.losses_robust import edl_loss, evidence, rdh_loss, rdh_negatives
from workbench.methods.base import EpochContext, EpochStats, LossMeter, Method, batch_order, covering_batches
from workbench.mixture import split_report

__all__ = ["DECL"]

_STREAM_ORDER = 0
_STREAM_DIVIDE = 1


class DECL(Method):
    name = "decl"

    def __init__(self, cfg: TrainConfig, data: RetrievalData, device: torch.device) -> None:
        super().__init__(cfg, data, device)
        self.global_step = 0  # iterations so far, warm-up included (drives K)
        self.est_clean: np.ndarray | None = None  # [N] bool, the last division
        self.clean_score: np.ndarray | None = None  # [N] normalised diagonal evidence

    # ------------------------------------------------------------------ state
    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"global_step": self.global_step}
        if self.est_clean is not None and self.clean_score is not None:
            state["est_clean"] = torch.as_tensor(self.est_clean)
            state["clean_score"] = torch.as_tensor(self.clean_score)
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.global_step = int(state.get("global_step", 0))
        if "est_clean" in state:
            self.est_clean = state["est_clean"].numpy()
            self.clean_score = state["clean_score"].numpy()

    # ------------------------------------------------------------------ division
    @torch.no_grad()
    def divide(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Clean flags ``[N]`` (in-batch argmax of the symmetrised, normalised evidence) and ``e[i, i]``
        ``[N]``."""
        model, train = self.models[0], self.data.train
        b, tau = self.cfg.optim.batch_size, self.cfg.decl.tau
        clean = np.zeros(train.n_pairs, dtype=bool)
        score = np.zeros(train.n_pairs, dtype=np.float64)
        model.eval()
        for idx, keep in covering_batches(train.n_pairs, b, rng):
            e = evidence(self.batch_scores(model, train.batch(idx), logits=True), tau)
            sym = e + e.T
            normed = sym / sym.sum(dim=1, keepdim=True)
            hit = (normed.argmax(dim=1) == torch.arange(b, device=normed.device)).cpu().numpy()
            clean[idx[keep]] = hit[keep]
            score[idx[keep]] = normed.diagonal().double().cpu().numpy()[keep]
        model.train()
        return clean, score

    def _split_report(self) -> dict[str, float]:
        assert self.est_clean is not None and self.clean_score is not None
        train = self.data.train
        return split_report(self.clean_score, self.est_clean, train.true_matched if train.truth_known else None)

    # ------------------------------------------------------------------ epochs
    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        cfg, c = self.cfg, self.cfg.decl
        model, train = self.models[0], self.data.train
        self.set_lr(ctx.lr_scale)
        split = None
        if ctx.phase == "warmup":
            flags = np.ones(train.n_pairs, dtype=bool)
        else:
            self.est_clean, self.clean_score = self.divide(ctx.rng(_STREAM_DIVIDE, cfg.seed))
            flags = self.est_clean
            split = self._split_report()
        batches = batch_order(np.arange(train.n_pairs), cfg.optim.batch_size,
                              ctx.rng(_STREAM_ORDER, cfg.seed), drop_last=True)
        meter = LossMeter()
        k = rdh_negatives(self.global_step + 1, cfg.optim.batch_size, c.eta, c.mu)  # reported if no batch runs
        model.train()
        for step, idx in enumerate(batches):
            self.global_step += 1
            k = rdh_negatives(self.global_step, cfg.optim.batch_size, c.eta, c.mu)
            z = self.batch_scores(model, train.batch(idx), logits=True)
            clean = torch.as_tensor(flags[idx], device=z.device)
            terms = {**edl_loss(evidence(z, c.tau), clean, c.lambda2),
                     **rdh_loss(torch.tanh(z), clean, k, margin=cfg.optim.margin, lambda1=c.lambda1)}
            loss = total_loss(terms)
            self.step(0, loss)
            values = meter.add({**terms, "loss": loss})
            if ctx.on_step:
                ctx.on_step(step, len(batches), values)
        return EpochStats(losses=meter.means(), steps=len(batches), split=split,
                          extra={"rdh_negatives": k, "global_step": self.global_step})
