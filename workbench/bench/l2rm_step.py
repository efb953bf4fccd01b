"""One L2RM main-phase training step on random data, batched or through the per-caption loop.

The step is the body of :meth:`workbench.methods.l2rm.L2RM._main_epoch` (paper Sec. 4, Algorithm 1) on a
clean batch of ``B`` pairs, a noisy batch of ``B`` pairs and ``B`` distractor images (the previous noisy
batch), all already on the device:

a. *cost update* (Eq. 6): ``k`` clean pairs planted among the distractors give ``pi_sup [B, B]``; the
   similarity ``S [B, B]`` of those images and the clean captions (eval mode, no gradient) gives the loss
   ``<pi_sup, f_c(S)>`` and one Adam step of the learnable cost ``f_c``;
b. *rematch* (Eq. 7-10): ``S [B, B]`` of the noisy images and captions (with gradient), the cost
   ``f_c(S)``, the masked partial OT plan (mass ``rho``, entropy ``lam``, diagonal masked; float32
   Sinkhorn on the device), its row/column-normalised targets and the symmetric-KL rematch loss;
c. *clean half* (Eq. 11): the hardest-negative triplet loss (summed) of the clean batch's ``S [B, B]``;
   backward of the sum, gradient clipping at 2, Adam.

Scores come from :func:`workbench.methods.base.shared_pair_scores` (the training path, multi-process
aware; SGR's clean half back-propagates through the pairs the triplet loss reads only), or, with
``loop=True``, from :func:`workbench.bench.step.loop_scores`: one caption at a time against all images,
the structure of the official code, with the ordinary backward. Both paths share parameters and inputs.

Other phases, for projecting whole runs: ``"triplet"`` (the clean half alone: a vanilla SAF/SGR step),
``"warmup"`` (InfoNCE + RCE on one batch, gradient on every pair) and ``"forward"`` (eval-mode scores of
one batch, no gradient: the per-epoch split pass).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from workbench import distributed
from workbench.bench.shapes import BenchShape, random_captions, random_images
from workbench.bench.step import loop_scores
from workbench.config import L2RMConfig
from workbench.errors import ConfigError
from workbench.losses import rematch_loss, total_loss, triplet_loss, warmup_loss
from workbench.methods.base import shared_pair_scores
from workbench.models import RetrievalModel
from workbench.ot import (
    LearnableCost,
    build_cost_supervision,
    cost_supervision_loss,
    diagonal_mask,
    partial_ot,
    plan_targets,
)

__all__ = ["PHASES", "PRECISIONS", "StepOutput", "L2RMStep"]

PHASES = ("l2rm", "triplet", "warmup", "forward")
PRECISIONS = ("fp32", "tf32", "bf16")


@dataclass(frozen=True)
class StepOutput:
    """What one step computed: its loss terms (floats) and the tensors the agreement check compares."""

    losses: dict[str, float]
    clean_scores: Tensor | None  # [B, B] clean-batch scores (detached)
    plan: Tensor | None  # [B, B] partial-OT plan of the rematch half


class L2RMStep:
    """A model, a learnable cost, their optimisers and one step's inputs on ``device``.

    Args:
        shape: the sizes (:class:`~workbench.bench.shapes.BenchShape`).
        backbone: ``"sgr"`` or ``"saf"``.
        device: where everything lives; inputs are made on the CPU from ``seed`` and copied once.
        seed: seeds the parameters and the inputs.
        l2rm: rho, lam, tau, the reserve ratio and the OT stopping rule (the paper's F30K defaults).
        chunk_mb: the head's memory budget per chunk of pairs (``model.chunk_mb``; paper presets: 512).
    """

    def __init__(self, shape: BenchShape, backbone: str, device: torch.device, *, seed: int = 0,
                 l2rm: L2RMConfig | None = None, chunk_mb: float = 96.0) -> None:
        if backbone not in ("sgr", "saf"):
            raise ConfigError(f"the L2RM step benchmark needs a pairwise head, 'sgr' or 'saf', not {backbone!r}")
        self.shape, self.device, self.cfg = shape, device, l2rm or L2RMConfig()
        torch.manual_seed(seed)
        self.model = RetrievalModel(shape.model_config(backbone, chunk_mb=chunk_mb), vocab_size=shape.vocab,
                                    img_dim=shape.img_dim,
                                    n_regions=shape.n_regions).to(device)
        self.cost = LearnableCost(shape.batch, init=self.cfg.cost_init).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=2e-4)
        self.cost_optimizer = torch.optim.Adam(self.cost.parameters(), lr=self.cfg.cost_lr)
        g = torch.Generator().manual_seed(seed)
        b = shape.batch
        self.clean = (random_images(b, shape, g), *random_captions(b, shape, g))
        self.noisy = (random_images(b, shape, g), *random_captions(b, shape, g))
        self.distractors = random_images(b, shape, g)
        self.clean = tuple(t.to(device) for t in self.clean)
        self.noisy = tuple(t.to(device) for t in self.noisy)
        self.distractors = self.distractors.to(device)
        self.mask = diagonal_mask(b, device=device)

    # ------------------------------------------------------------------ state (for the agreement check)
    def snapshot(self) -> dict[str, Any]:
        """Parameters, buffers (BatchNorm statistics) and optimiser states, copied."""
        return copy.deepcopy({"model": self.model.state_dict(), "cost": self.cost.state_dict(),
                              "opt": self.optimizer.state_dict(), "cost_opt": self.cost_optimizer.state_dict()})

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.cost.load_state_dict(state["cost"])
        self.optimizer.load_state_dict(state["opt"])
        self.cost_optimizer.load_state_dict(state["cost_opt"])

    def gradients(self) -> dict[str, Tensor]:
        """Every parameter gradient of the model and the cost (``cost.`` prefix), copied."""
        named = [*self.model.named_parameters(), *(("cost." + n, p) for n, p in self.cost.named_parameters())]
        return {name: p.grad.detach().clone() for name, p in named if p.grad is not None}

    # ------------------------------------------------------------------ the step
    def _scores(self, images: Tensor, tokens: Tensor, lengths: Tensor, *, loop: bool, sparse: bool) -> Tensor:
        """Scores ``[n_img, n_cap]`` (sigmoid of the head's logits)."""
        if not loop:
            return shared_pair_scores(self.model, images, tokens, lengths, sparse_loss=sparse)
        head = self.model.head
        assert head is not None
        regions = self.model.encode_images(images)
        return torch.sigmoid(loop_scores(head, regions, self.model.encode_captions(tokens, lengths)).float())

    def _cost_update(self, generator: torch.Generator, loop: bool, update: bool) -> Tensor:
        c, b = self.cfg, self.shape.batch
        sup = build_cost_supervision(b, b, reserve_ratio=c.reserve_ratio, count=c.reserve_count,  # type: ignore[arg-type]
                                     generator=generator, device=self.device)
        images = sup.assemble(self.distractors, self.clean[0])
        self.model.eval()
        with torch.no_grad():
            scores = self._scores(images, self.clean[1], self.clean[2], loop=loop, sparse=False)
        self.model.train()
        loss = cost_supervision_loss(self.cost(scores), sup.pi_sup)["cost_loss"]
        self.cost_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if update:
            self.cost_optimizer.step()
        return loss.detach()

    def _rematch(self, loop: bool) -> tuple[dict[str, Tensor], Tensor]:
        c = self.cfg
        scores = self._scores(*self.noisy, loop=loop, sparse=False)  # [B, B], with gradients
        with torch.no_grad():
            res = partial_ot(self.cost(scores.detach()), mass=c.rho, eps=c.lam, mask=self.mask,
                             formulation=c.ot_formulation, tol=c.ot_tol, max_iter=c.ot_max_iter,  # type: ignore[arg-type]
                             stop_rule=c.ot_stop, accuracy="ignore")  # type: ignore[arg-type]
            target_i2t, target_t2i = plan_targets(res.plan)
        return rematch_loss(scores, target_i2t, target_t2i, tau=c.tau, kind=c.rematch_loss), res.plan

    def _update(self, loss: Tensor, update: bool) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if update:
            params = list(self.model.parameters())
            distributed.sync_gradients(params)
            torch.nn.utils.clip_grad_norm_(params, 2.0)
            self.optimizer.step()
            distributed.sync_buffers(self.model)

    def run(self, phase: str = "l2rm", *, loop: bool = False, precision: str = "fp32", update: bool = True,
            seed: int = 0) -> StepOutput:
        """One step of ``phase`` (see the module docstring) in ``precision``.

        ``precision``: ``"fp32"``; ``"tf32"`` (fp32 tensors, TensorFloat-32 matrix products: CUDA only);
        ``"bf16"`` (the pairwise head under bfloat16 autocast, ``model.head_precision=bf16``). The loop
        reference runs in fp32 only (as the official code). ``update=False`` computes the losses and
        gradients but changes no parameter (the agreement check); ``seed`` draws the planted pairs.
        """
        if phase not in PHASES:
            raise ConfigError(f"unknown step phase {phase!r}; choose from {', '.join(PHASES)}")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        if loop and precision != "fp32":
            raise ConfigError("the per-caption loop reference runs in fp32 only")
        if loop and phase != "l2rm":
            raise ConfigError(f"the per-caption loop reference times the whole L2RM step, not {phase!r}")
        if precision == "tf32" and self.device.type != "cuda":
            raise ConfigError("tf32 is a CUDA matrix-product mode; this device is " + str(self.device))
        head = self.model.head
        assert head is not None
        head.precision = "bf16" if precision == "bf16" else "fp32"
        previous, previous_cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")
        torch.backends.cudnn.allow_tf32 = precision == "tf32"  # the GRU's cuDNN kernels too
        try:
            return self._phase(phase, loop, update, torch.Generator().manual_seed(seed))
        finally:
            torch.set_float32_matmul_precision(previous)
            torch.backends.cudnn.allow_tf32 = previous_cudnn
            head.precision = "fp32"

    def _phase(self, phase: str, loop: bool, update: bool, generator: torch.Generator) -> StepOutput:
        if phase == "forward":
            self.model.eval()
            with torch.no_grad():
                scores = self._scores(*self.clean, loop=False, sparse=False)
            self.model.train()
            return StepOutput({}, scores, None)
        if phase == "warmup":
            scores = self._scores(*self.clean, loop=False, sparse=False)
            terms = warmup_loss(scores, self.cfg.warmup_loss, tau=self.cfg.tau, epsilon=self.cfg.rce_epsilon)
            loss = total_loss(terms)
            self._update(loss, update)
            return StepOutput({k: float(v.detach()) for k, v in terms.items()}, scores.detach(), None)
        terms: dict[str, Tensor] = {}
        plan = None
        if phase == "l2rm":
            cost_loss = self._cost_update(generator, loop, update)
            rematch, plan = self._rematch(loop)
            terms.update(rematch)
        scores = self._scores(*self.clean, loop=loop, sparse=True)
        terms.update(triplet_loss(scores, 0.2, reduction="sum"))
        loss = total_loss(terms)
        self._update(loss, update)
        losses = {k: float(v.detach()) for k, v in terms.items()}
        if phase == "l2rm":
            losses["cost_loss"] = float(cost_loss)
        return StepOutput(losses, scores.detach(), plan)
