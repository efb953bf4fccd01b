"""What every training method shares: the strategy interface, batch order, scoring, the per-sample pass.

A method (vanilla, L2RM, NCR, DECL, BiCro, RCL) is a strategy over the shared backbone
(:class:`~workbench.models.RetrievalModel`). The trainer (:mod:`workbench.train`) owns epochs, evaluation,
checkpoints and the run directory; a method owns its models, optimisers and per-epoch state and implements:

* :meth:`Method.train_epoch` — one epoch (warm-up or main phase), returning :class:`EpochStats`;
* :meth:`Method.eval_models` — the models whose averaged scores are evaluated (the ensembling rule);
* :meth:`Method.state_dict` / :meth:`Method.load_state_dict` — everything needed to resume.

Scores of a batch are computed through :meth:`Method.batch_scores`, which makes a multi-process run equal to
the single-process run of the same global batch (:mod:`workbench.distributed`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench import distributed
from workbench.config import TrainConfig
from workbench.data.dataset import Batch, RetrievalData
from workbench.errors import RunDirError
from workbench.losses import per_sample_hinge
from workbench.models import Captions, RetrievalModel, build_model, mean_pool

__all__ = [
    "EpochContext",
    "EpochStats",
    "Method",
    "LossMeter",
    "batch_order",
    "cycle_batches",
    "epoch_rng",
    "shared_pair_scores",
]

StepHook = Callable[[int, int, dict[str, float]], None]


def epoch_rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    """The generator of one (epoch, purpose) pair: resuming at an epoch boundary replays it exactly."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, stream]))


def batch_order(indices: np.ndarray, batch_size: int, rng: np.random.Generator, *,
                drop_last: bool) -> list[np.ndarray]:
    """Shuffle ``indices`` and cut them into batches (the last one dropped if short and ``drop_last``)."""
    perm = rng.permutation(np.asarray(indices, dtype=np.int64))
    stop = len(perm) - len(perm) % batch_size if drop_last else len(perm)
    return [perm[s:s + batch_size] for s in range(0, stop, batch_size)]


def cycle_batches(indices: np.ndarray, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless full batches: reshuffle ``indices`` whenever they run out (the noisy loader of L2RM/NCR)."""
    if len(indices) < batch_size:
        raise ValueError(f"cannot draw batches of {batch_size} from {len(indices)} samples")
    while True:
        yield from batch_order(indices, batch_size, rng, drop_last=True)


def covering_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, slice]]:
    """Shuffled batches of exactly ``batch_size`` indices that score every one of ``range(n)`` once.

    Yields ``(idx, keep)``: the last batch is completed with indices from the start of the permutation, and
    ``idx[keep]`` are the indices whose values the batch owns (the completion's second values are discarded).
    Full batches keep per-batch statistics comparable (NCR's losses, DECL's in-batch argmax, the learned
    cost's fixed width).
    """
    if n < batch_size:
        raise ValueError(f"training set of {n} pairs is smaller than the batch size {batch_size}")
    perm = rng.permutation(n)
    n_batches = math.ceil(n / batch_size)
    filler = n_batches * batch_size - n
    padded = np.concatenate([perm, perm[:filler]])
    for i in range(n_batches):
        keep = slice(0, batch_size - filler) if i == n_batches - 1 else slice(None)
        yield padded[i * batch_size:(i + 1) * batch_size], keep


def shared_pair_scores(model: RetrievalModel, images: Tensor, tokens: Tensor, lengths: Tensor, *,
                       logits: bool = False, sparse_loss: bool = False) -> Tensor:
    """Scores ``[n_img, n_cap]`` of raw images and captions, shared over processes when distributed.

    Each process encodes its slice of the images and of the captions; region embeddings (and for VSE the
    pooled caption embeddings) are gathered with gradients; the pairwise heads score all images against the
    local captions and the columns are gathered. Every process then holds the full matrix, and the gradients
    that :func:`workbench.distributed.sync_gradients` averages equal those of one process (tested in
    ``tests/train/test_ddp_gradients.py``). Single process: a plain forward. ``sparse_loss``: see
    :meth:`RetrievalModel.logits`.
    """
    info = distributed.current()
    if not info.enabled:
        out = model.logits(model.encode_images(images), model.encode_captions(tokens, lengths), sparse_loss=sparse_loss)
        return out if logits else model.activate(out)
    i0, i1 = distributed.shard_bounds(images.shape[0], info)
    c0, c1 = distributed.shard_bounds(tokens.shape[0], info)
    regions = distributed.gather_with_grad(model.encode_images(images[i0:i1]))
    local = model.encode_captions(tokens[c0:c1], lengths[c0:c1])
    if model.head is None:
        img, txt = mean_pool(regions, local)
        out = img @ distributed.gather_with_grad(txt).T
    else:
        out = distributed.gather_with_grad(model.logits(regions, local, sparse_loss=sparse_loss), dim=1)
    return out if logits else model.activate(out)


class LossMeter:
    """Running means of named loss terms over an epoch."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, terms: dict[str, Tensor | float]) -> dict[str, float]:
        values = {k: float(v.detach()) if isinstance(v, Tensor) else float(v) for k, v in terms.items()}
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        return values

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


@dataclass
class EpochContext:
    """What the trainer hands a method for one epoch."""

    epoch: int  # global index, warm-up included
    phase: str  # "warmup" | "train"
    main_epoch: int  # epoch - warmup_epochs (negative in warm-up)
    lr_scale: float  # multiply base learning rates by this
    data: RetrievalData
    device: torch.device
    on_step: StepHook | None = None
    artifacts: Any = None  # the run's artefact writer (RunWriter) or None

    def rng(self, stream: int, seed: int) -> np.random.Generator:
        return epoch_rng(seed, self.epoch, stream)


@dataclass
class EpochStats:
    """A method's report of one epoch (becomes part of a ``metrics.jsonl`` record)."""

    losses: dict[str, float]
    steps: int
    split: dict[str, float] | None = None
    rematch: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    failure: Exception | None = None  # raised by the trainer once this epoch is recorded: the run stops


class Method(ABC):
    """Base class of the training strategies."""

    name: str = "method"
    n_models: int = 1

    def __init__(self, cfg: TrainConfig, data: RetrievalData, device: torch.device) -> None:
        self.cfg = cfg
        self.device = device
        self.data = data
        self.models = [self._new_model() for _ in range(self.n_models)]
        self.optimizers = [torch.optim.Adam(m.parameters(), lr=cfg.optim.lr) for m in self.models]

    # ------------------------------------------------------------------ construction
    def _new_model(self) -> RetrievalModel:
        model = build_model(self.cfg.model, vocab_size=len(self.data.vocab), img_dim=self.data.img_dim,
                            n_regions=self.data.n_regions)
        return model.to(self.device)

    # ------------------------------------------------------------------ interface
    @abstractmethod
    def train_epoch(self, ctx: EpochContext) -> EpochStats:
        """Train one epoch of ``ctx.phase``."""

    def eval_models(self) -> list[RetrievalModel]:
        """Models whose scores are averaged at evaluation (default: all of them)."""
        return list(self.models)

    def state_dict(self) -> dict[str, Any]:
        return {"models": [m.state_dict() for m in self.models],
                "optimizers": [o.state_dict() for o in self.optimizers],
                "extra": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, ours in (("models", self.models), ("optimizers", self.optimizers)):
            if len(state[key]) != len(ours):
                raise RunDirError(f"checkpoint of a {self.name} run holds {len(state[key])} {key}, this method has "
                                  f"{len(ours)} (a checkpoint of another method or version?)")
        for model, sd in zip(self.models, state["models"], strict=True):
            model.load_state_dict(sd)
        for opt, sd in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(sd)
        self.load_extra_state(state.get("extra", {}))

    def extra_state(self) -> dict[str, Any]:
        """Method-specific state to checkpoint (tensors and plain Python values only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        del state

    # ------------------------------------------------------------------ helpers
    def set_lr(self, scale: float) -> None:
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = self.cfg.optim.lr * scale

    def step(self, model_index: int, loss: Tensor) -> None:
        """Backward, average gradients over processes, clip, update."""
        model, opt = self.models[model_index], self.optimizers[model_index]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = list(model.parameters())
        distributed.sync_gradients(params)
        if self.cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        opt.step()
        distributed.sync_buffers(model)

    def pair_scores(self, model: RetrievalModel, images: Tensor, tokens: Tensor, lengths: Tensor, *,
                    logits: bool = False, sparse_loss: bool = False) -> Tensor:
        """Scores ``[n_img, n_cap]`` of raw images and captions (see :func:`shared_pair_scores`)."""
        return shared_pair_scores(model, images, tokens, lengths, logits=logits, sparse_loss=sparse_loss)

    def train_batches(self, order: list[np.ndarray]) -> Iterator[Batch]:
        """The training batches of ``order`` on the device, read as ``data.loader_workers`` /
        ``data.pin_memory`` say (:func:`workbench.data.loader.iterate_batches`; same batches either way)."""
        from workbench.data.loader import iterate_batches, loader_settings

        settings = loader_settings(self.cfg.data.loader_workers, self.cfg.data.pin_memory, self.device)
        return iterate_batches(self.data.train, order, self.device, settings)

    def batch_scores(self, model: RetrievalModel, batch: Batch, *, logits: bool = False,
                     sparse_loss: bool = False) -> Tensor:
        """Scores ``[B, B]`` of a training batch (image i paired with caption i).

        ``sparse_loss=True`` where the scores feed a hardest-negative triplet loss (few entries get a
        gradient): the SGR head then back-propagates through those pairs only (:meth:`RetrievalModel.logits`).
        """
        b = batch.to(self.device)
        return self.pair_scores(model, b.images, b.tokens, b.lengths, logits=logits, sparse_loss=sparse_loss)

    @torch.no_grad()
    def per_sample_losses(self, model: RetrievalModel, rng: np.random.Generator, *,
                          extra: Callable[[Tensor, np.ndarray], None] | None = None) -> np.ndarray:
        """NCR's per-pair mean hinge over the whole training set (eval mode, shuffled full batches).

        The last batch is completed with pairs from the start of the permutation (their second value is
        discarded) so every batch has the configured size (the learned cost's width). ``extra(scores,
        pair_index)`` sees every batch's score matrix (e.g. to record the learned cost of each pair).
        """
        train = self.data.train
        losses = np.empty(train.n_pairs, dtype=np.float64)
        model.eval()
        for idx, keep in covering_batches(train.n_pairs, self.cfg.optim.batch_size, rng):
            scores = self.batch_scores(model, train.batch(idx))
            per = per_sample_hinge(scores, self.cfg.optim.margin).double().cpu().numpy()
            losses[idx[keep]] = per[keep]
            if extra is not None:
                extra(scores, idx)
        model.train()
        return losses

    def global_embeddings(self, model: RetrievalModel, images: Tensor, captions: Captions) -> tuple[Tensor, Tensor]:
        return model.global_embeddings(model.encode_images(images), captions)
