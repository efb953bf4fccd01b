"""Helpers of the method tests: build a method, run one epoch as the trainer does, compare models."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.methods import build_method
from workbench.methods.base import EpochContext, EpochStats, Method
from workbench.methods.coteaching import CoTeaching, Division


def new_method(cfg: TrainConfig, data: RetrievalData, seed: int = 0) -> Method:
    torch.manual_seed(seed)
    return build_method(cfg, data, torch.device("cpu"))


def run_epoch(method: Method, epoch: int, *, steps: list[dict[str, float]] | None = None,
              torch_seed: int | None = None) -> EpochStats:
    """One epoch as the trainer runs it (warm-up for ``epoch < warmup_epochs``); step losses go to ``steps``."""
    cfg = method.cfg
    warmup = cfg.optim.warmup_epochs
    if torch_seed is not None:
        torch.manual_seed(torch_seed)
    ctx = EpochContext(epoch=epoch, phase="warmup" if epoch < warmup else "train", main_epoch=epoch - warmup,
                       lr_scale=1.0, data=method.data, device=torch.device("cpu"),
                       on_step=None if steps is None else (lambda i, n, values: steps.append(values)))
    return method.train_epoch(ctx)


@torch.no_grad()
def val_scores(method: Method, n: int = 40) -> list[torch.Tensor]:
    """Eval-mode scores ``[n, 5n]`` of every model on the first validation images and captions."""
    val = method.data.val
    images = val.image_tensor(np.arange(n))
    tokens, lengths = val.captions.batch(np.arange(n * val.captions_per_image))
    out = []
    for model in method.models:
        model.eval()
        out.append(model(images, tokens, lengths))
        model.train()
    return out


def parameters_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def decreased(values: list[float], window: int = 3) -> bool:
    """Mean of the last ``window`` values below the mean of the first ``window``."""
    return float(np.mean(values[-window:])) < float(np.mean(values[:window]))


def snapshot(method: Method) -> bytes:
    """The method's checkpoint state serialised as the trainer writes it."""
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    return buffer.getvalue()


def restore(cfg: TrainConfig, data: RetrievalData, state: bytes) -> Method:
    """A freshly initialised method (a different seed) loaded from ``state`` as the trainer loads it."""
    method = new_method(cfg, data, seed=12345)
    method.load_state_dict(torch.load(io.BytesIO(state), map_location="cpu", weights_only=True))
    return method


def model_states(method: Method) -> list[dict[str, torch.Tensor]]:
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in method.models]


#: One co-step: (epoch, net, labeled pairs, unlabeled pairs or None, the peer's division it trained on).
Call = tuple[int, int, np.ndarray, np.ndarray | None, Division]


@dataclass
class CoTeachingRun:
    """A co-teaching method trained ``warmup + 2`` epochs with everything the tests inspect recorded."""

    method: CoTeaching
    steps: list[list[dict[str, float]]]  # per epoch, in order
    stats: list[EpochStats]
    calls: list[Call]
    divisions: list[Division]  # of the first main epoch
    state: bytes  # checkpoint after the first main epoch
    scores_at_state: list[torch.Tensor]
    final: list[dict[str, torch.Tensor]]  # models after the second main epoch
    final_steps: list[dict[str, float]]


def run_coteaching(cfg: TrainConfig, data: RetrievalData,
                   prepare: Callable[[CoTeaching, list[Call]], None] | None = None) -> CoTeachingRun:
    """Warm-up epochs, one main epoch (labeled only), then one second-half epoch (with unlabeled batches).

    ``prepare(method, calls)`` may install more spies; ``calls[-1]`` is the co-step being run.
    """
    method = new_method(cfg, data)
    assert isinstance(method, CoTeaching)
    calls: list[Call] = []
    co_step = method.co_step

    def spy(ctx: EpochContext, k: int, labeled: np.ndarray, unlabeled: np.ndarray | None,
            division: Division) -> dict[str, torch.Tensor | float]:
        calls.append((ctx.epoch, k, labeled.copy(), None if unlabeled is None else unlabeled.copy(), division))
        return co_step(ctx, k, labeled, unlabeled, division)

    method.co_step = spy  # type: ignore[method-assign]
    if prepare is not None:
        prepare(method, calls)
    warmup = cfg.optim.warmup_epochs
    steps: list[list[dict[str, float]]] = []
    stats = []
    for epoch in range(warmup):
        steps.append([])
        stats.append(run_epoch(method, epoch, steps=steps[-1], torch_seed=epoch))
    steps.append([])
    stats.append(run_epoch(method, warmup, steps=steps[-1], torch_seed=warmup))
    divisions = [d for d in method.divisions if d is not None]
    state, scores = snapshot(method), val_scores(method)
    steps.append([])
    stats.append(run_epoch(method, warmup + 1, steps=steps[-1], torch_seed=warmup + 1))
    return CoTeachingRun(method, steps, stats, calls, divisions, state, scores, model_states(method), steps[-1])
