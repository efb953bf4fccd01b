"""Projected GPU time of paper runs from the measured costs of one training step.

A run of ``W`` warm-up and ``E`` main epochs on a dataset of ``P`` training pairs at batch ``B`` takes
``S = floor(P / B)`` steps per epoch. Each method's epoch is modelled from four measured phases of one
batch (:class:`PhaseSeconds`, from ``workbench bench gpu``): ``l2rm`` (cost update + rematch half + clean
half), ``triplet`` (a vanilla hardest-negative step), ``warmup`` (a loss with a gradient on every pair:
InfoNCE + RCE) and ``forward`` (eval-mode scores, no gradient). With ``m`` the MRate:

==========  =====================  ==============================================================
method      warm-up epoch          main epoch
==========  =====================  ==============================================================
vanilla     ``S warmup``           ``S triplet``
l2rm        ``S warmup``           ``S forward`` (split pass) ``+ (1 - m) S l2rm`` (clean batches)
ncr, bicro  ``2 S warmup``         ``2 S (2 forward + triplet)`` (two networks: division pass,
                                   label prediction, hinge step)
decl        ``S warmup``           ``S (forward + warmup)`` (evidence pass, dense loss)
rcl         ``S warmup``           ``S warmup`` (complementary loss on every pair)
==========  =====================  ==============================================================

plus one validation per epoch per network (``eval_seconds``: 1000 images x 5000 captions, exhaustive)
and one test at the end (COCO: the 5K test, 25 validations' worth, and its five 1K folds). The step
costs are measured; the per-method composition above is a model of the training loops (how many
forwards and steps a batch costs), not a measurement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workbench.bench.shapes import DATASET_PAIRS
from workbench.config import TrainConfig
from workbench.errors import ConfigError

__all__ = ["PhaseSeconds", "GpuCosts", "epoch_seconds", "run_seconds", "paper_config_seconds"]


@dataclass(frozen=True)
class PhaseSeconds:
    """Measured seconds of one batch of each phase, for one backbone at ``batch``."""

    l2rm: float
    triplet: float
    warmup: float
    forward: float

    def __post_init__(self) -> None:
        for name in ("l2rm", "triplet", "warmup", "forward"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"PhaseSeconds.{name}={value!r}: expected a positive number of seconds")


@dataclass(frozen=True)
class GpuCosts:
    """What a projection needs: phase seconds per backbone (``"saf"``, ``"sgr"``), the batch they were
    measured at, and one exhaustive 1000 x 5000 evaluation of one model in seconds."""

    phases: Mapping[str, PhaseSeconds]
    batch: int
    eval_seconds: float
    source: str = ""  # where the figures come from (a BENCHMARKS.md row, a bench run)


_N_MODELS = {"ncr": 2, "bicro": 2}


def epoch_seconds(method: str, phase: str, mrate: float, steps: int, t: PhaseSeconds) -> float:
    """Training seconds of one epoch (no evaluation); see the module docstring's table."""
    if phase == "warmup":
        return _N_MODELS.get(method, 1) * steps * t.warmup
    per_step = {
        "vanilla": t.triplet,
        "l2rm": t.forward + (1 - mrate) * t.l2rm,
        "ncr": 2 * (2 * t.forward + t.triplet),
        "bicro": 2 * (2 * t.forward + t.triplet),
        "decl": t.forward + t.warmup,
        "rcl": t.warmup,
    }
    if method not in per_step:
        raise ConfigError(f"no GPU cost model for method {method!r}; known: {', '.join(per_step)}")
    return steps * per_step[method]


def run_seconds(method: str, dataset: str, mrate: float, warmup_epochs: int, epochs: int, batch: int,
                t: PhaseSeconds, eval_seconds: float, measured_batch: int) -> float:
    """Seconds of a whole run: its epochs, a validation after each, and the final test.

    Step costs measured at ``measured_batch`` are rescaled to ``batch`` quadratically for the pairwise
    head (``B^2`` pairs per step) over the ``P / B`` steps, i.e. linearly per epoch in ``B``.
    """
    if dataset not in DATASET_PAIRS:
        raise ConfigError(f"no training-set size for dataset {dataset!r}; known: {', '.join(DATASET_PAIRS)}")
    steps = DATASET_PAIRS[dataset] // batch
    scale = (batch / measured_batch) ** 2
    train = (warmup_epochs * epoch_seconds(method, "warmup", mrate, steps, t)
             + epochs * epoch_seconds(method, "train", mrate, steps, t)) * scale
    models = _N_MODELS.get(method, 1)
    tests = 30 if dataset == "coco" else 1
    return train + models * eval_seconds * (warmup_epochs + epochs + tests)


def paper_config_seconds(cfg: TrainConfig, costs: GpuCosts) -> float:
    """Projected seconds of the run ``cfg`` (a paper preset, SAF or SGR backbone) on the measured GPU."""
    backbone = cfg.model.backbone
    if backbone not in costs.phases:
        raise ConfigError(f"no measured step for backbone {backbone!r} (measured: {', '.join(costs.phases)})")
    return run_seconds(cfg.method, cfg.data.dataset, cfg.data.mrate, cfg.optim.warmup_epochs, cfg.optim.epochs,
                       cfg.optim.batch_size, costs.phases[backbone], costs.eval_seconds, costs.batch)
