r"""Small, tested pieces the teaching notebooks (``notebooks/teach_*.py``) build their lessons on.

* :func:`exact_ot` — the optimal-transport *linear programme*, balanced (Eq. 1 of L2RM) or partial (Eq. 7),
  with an optional mask, solved exactly by HiGHS: the ``eps -> 0`` limit every entropic plan is compared with.
* :func:`dummy_extension` — Appendix B's construction (Eq. 12-13) of a balanced problem whose solution
  holds the partial plan in its real block.
* :func:`scene_overlap`, :func:`noisy_batch`, :func:`mass_breakdown` — a batch of mismatched pairs from the
  synthetic set with its ground truth, and where a plan puts its mass (diagonal / truly fitting / elsewhere).
* :func:`reconstructed_batch`, :func:`fit_cost` — the self-supervised signal of the learnable cost (Eq. 6).
* :func:`loss_trace` — per-pair losses of matched and mismatched pairs over a short training run.

Everything is deterministic given its seeds. None of it is used by training; it exists to be read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from scipy import optimize, sparse

from workbench.data.noise import make_noise_index
from workbench.data.synthetic_generate import SyntheticSplit
from workbench.data.synthetic_truth import SceneTruth
from workbench.errors import ConfigError
from workbench.ot import LearnableCost, PartialOTResult, build_cost_supervision, cost_supervision_loss

if TYPE_CHECKING:
    from workbench.config import TrainConfig

__all__ = [
    "ExactOT",
    "exact_ot",
    "DummyProblem",
    "dummy_extension",
    "scene_overlap",
    "NoisyBatch",
    "noisy_batch",
    "MassBreakdown",
    "mass_breakdown",
    "alignment_record",
    "ReconstructedBatch",
    "reconstructed_batch",
    "fit_cost",
    "loss_trace",
]


# ------------------------------------------------------------------------------------ the exact problem
@dataclass(frozen=True)
class ExactOT:
    """Solution of :func:`exact_ot`: ``plan`` ``[n, m]`` (0 where masked) and ``value = <plan, C>``."""

    plan: np.ndarray
    value: float


def _marginal(x: np.ndarray | None, size: int, name: str) -> np.ndarray:
    out = np.full(size, 1.0 / size) if x is None else np.asarray(x, dtype=np.float64)
    if out.shape != (size,) or not np.all(np.isfinite(out)) or (out < 0).any():
        raise ConfigError(f"exact_ot: {name} must be {size} finite non-negative masses, got {out!r}")
    return out


def exact_ot(cost: np.ndarray, a: np.ndarray | None = None, b: np.ndarray | None = None, *,
             mass: float | None = None, mask: np.ndarray | None = None) -> ExactOT:
    r"""Solve the OT linear programme exactly.

    Balanced (``mass=None``, Eq. 1): :math:`\min_\pi \langle \pi, C\rangle` s.t. :math:`\pi 1_m = a`,
    :math:`\pi^\top 1_n = b`, :math:`\pi \ge 0`. Partial (Eq. 7): the marginals become upper bounds,
    :math:`\pi 1_m \le a`, :math:`\pi^\top 1_n \le b`, and :math:`1_n^\top \pi 1_m = \rho` (``mass``).
    Where ``mask`` is False, :math:`\pi_{ij} = 0` (Eq. 8).

    Args:
        cost: ``[n, m]`` finite where the mask allows transport.
        a, b: ``[n]`` and ``[m]`` masses (default uniform ``1/n``, ``1/m``).
        mass: ``rho`` for partial OT, ``0 <= rho <= min(sum a, sum b)``.
        mask: bool ``[n, m]``, True where transport is allowed.

    Raises:
        ConfigError: bad shapes or masses, unequal totals (balanced), ``mass`` out of range, or no feasible
            plan (e.g. a mask leaving some row's mass nowhere to go).
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ConfigError(f"exact_ot: cost must be a non-empty [n, m] matrix, got shape {cost.shape}")
    n, m = cost.shape
    a, b = _marginal(a, n, "a"), _marginal(b, m, "b")
    allowed = np.ones((n, m), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if allowed.shape != (n, m):
        raise ConfigError(f"exact_ot: mask has shape {allowed.shape}, expected {(n, m)}")
    if not np.all(np.isfinite(cost[allowed])):
        raise ConfigError("exact_ot: cost must be finite where the mask allows transport")
    rows, cols = np.nonzero(allowed)  # one LP variable per allowed cell
    k = len(rows)
    marg = sparse.vstack([sparse.coo_matrix((np.ones(k), (rows, np.arange(k))), shape=(n, k)),
                          sparse.coo_matrix((np.ones(k), (cols, np.arange(k))), shape=(m, k))]).tocsr()
    if mass is None:
        if not np.isclose(a.sum(), b.sum(), rtol=1e-9, atol=1e-12):
            raise ConfigError(f"exact_ot: balanced OT needs sum(a) == sum(b), got {a.sum()} and {b.sum()}")
        constraints = dict(A_eq=marg, b_eq=np.concatenate([a, b]))
    else:
        if not 0.0 <= mass <= min(a.sum(), b.sum()) + 1e-12:
            raise ConfigError(f"exact_ot: mass={mass!r}; expected 0 <= mass <= min(sum a, sum b) = "
                              f"{min(a.sum(), b.sum()):.6g}")
        constraints = dict(A_ub=marg, b_ub=np.concatenate([a, b]), A_eq=np.ones((1, k)), b_eq=[mass])
    res = optimize.linprog(cost[rows, cols], bounds=(0, None), method="highs", **constraints)
    if res.status != 0:
        raise ConfigError(f"exact_ot: no optimal plan ({res.message})")
    plan = np.zeros((n, m))
    plan[rows, cols] = np.maximum(res.x, 0.0)  # HiGHS may return -0.0 or tiny negative round-off
    return ExactOT(plan, float(res.fun))


@dataclass(frozen=True)
class DummyProblem:
    """The extended balanced problem of Appendix B: ``cost`` ``[n+1, m+1]``, ``a`` ``[n+1]``, ``b`` ``[m+1]``,
    ``mask`` ``[n+1, m+1]`` (the real block's mask, dummy row and column always allowed, Eq. 13)."""

    cost: np.ndarray
    a: np.ndarray
    b: np.ndarray
    mask: np.ndarray


def dummy_extension(cost: np.ndarray, a: np.ndarray, b: np.ndarray, mass: float, *, xi: float = 0.0,
                    A: float | None = None, mask: np.ndarray | None = None) -> DummyProblem:
    r"""Eq. 12-13: add a dummy row and column so that partial OT becomes balanced OT.

    .. math::

        \hat C = \begin{bmatrix} C & \xi 1_n \\ \xi 1_m^\top & 2\xi + A \end{bmatrix},\quad
        \hat a = [a; \|b\|_1 - \rho],\quad \hat b = [b; \|a\|_1 - \rho].

    Every unit of a real row's mass that is not transported goes to the dummy column, and vice versa.

    Args:
        cost: ``[n, m]``; a, b: ``[n]``, ``[m]`` masses; mass: ``rho``.
        xi: the dummy cost (any value gives the same real block: adding a constant to a whole row or column
            changes every feasible plan's cost by the same amount).
        A: the corner's extra cost; default ``max C`` (the reference code). The paper asks ``A > max C``;
            the exact problem leaves the corner empty as soon as ``A + C_ij > 0`` on the plan's support.
        mask: bool ``[n, m]``, True where transport is allowed.
    """
    cost = np.asarray(cost, dtype=np.float64)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n, m = cost.shape
    corner = float(cost.max()) if A is None else float(A)
    hat = np.full((n + 1, m + 1), float(xi))
    hat[:n, :m] = cost
    hat[n, m] = 2.0 * xi + corner
    allowed = np.ones((n + 1, m + 1), dtype=bool)
    if mask is not None:
        allowed[:n, :m] = np.asarray(mask, dtype=bool)
    return DummyProblem(hat, np.append(a, b.sum() - mass), np.append(b, a.sum() - mass), allowed)


# ------------------------------------------------------------------------------------ a noisy batch
def scene_overlap(truth: SceneTruth, caption_idx: np.ndarray, image_idx: np.ndarray) -> np.ndarray:
    """``[n_img, n_cap]``: the fraction of a caption's statements that are true of an image.

    A caption states each object it names, each attribute it gives one, and the place when it names one;
    entry ``[r, s]`` is the fraction of caption ``caption_idx[s]``'s statements that hold in image
    ``image_idx[r]``. It is 1 exactly when the caption fits the image (:meth:`SceneTruth.fits`).
    """
    caps, ims = np.asarray(caption_idx, dtype=np.int64), np.asarray(image_idx, dtype=np.int64)
    cls, attr, place = truth.caption_classes[caps], truth.caption_attributes[caps], truth.caption_places[caps]
    named = cls >= 0  # [n_cap, K]
    have = truth.attribute_of(ims[:, None, None], np.maximum(cls, 0)[None])  # [n_img, n_cap, K]
    has_object = (have >= 0) & named[None]
    has_attr = has_object & (attr >= 0)[None] & (have == attr[None])
    has_place = (place >= 0)[None] & (truth.image_places[ims][:, None] == place[None])
    statements = named.sum(1) + (named & (attr >= 0)).sum(1) + (place >= 0)  # [n_cap], >= 1
    return (has_object.sum(-1) + has_attr.sum(-1) + has_place) / statements[None]


@dataclass(frozen=True)
class NoisyBatch:
    """A batch of mismatched training pairs: row ``i`` is the image paired with caption (column) ``i``.

    Attributes:
        images: ``[B]`` image indices (the images the captions are wrongly paired with).
        captions: ``[B]`` caption indices.
        texts: ``B`` caption texts.
        fits: ``[B, B]`` bool, caption ``j`` truly describes image ``i`` (False on the diagonal).
        overlap: ``[B, B]`` :func:`scene_overlap` of every image and caption.
    """

    images: np.ndarray
    captions: np.ndarray
    texts: tuple[str, ...]
    fits: np.ndarray
    overlap: np.ndarray


def noisy_batch(split: SyntheticSplit, *, mrate: float, batch_size: int, seed: int = 0) -> NoisyBatch:
    """Draw ``batch_size`` mismatched pairs of ``split`` after the image-level mismatch at ``mrate``.

    The mismatch is the paper's protocol (a fraction ``mrate`` of images has its captions permuted among
    them, :func:`workbench.data.noise.make_noise_index`, seed ``seed``); the pairs are drawn uniformly from
    the mismatched ones.

    Raises:
        ConfigError: fewer than ``batch_size`` mismatched pairs.
    """
    truth = split.truth
    k = truth.captions_per_image
    paired = make_noise_index("image", truth.n_images, k, mrate, seed).caption_index()
    mismatched = np.flatnonzero(paired != np.arange(len(paired)) // k)
    if len(mismatched) < batch_size:
        raise ConfigError(f"noisy_batch: MRate {mrate} leaves {len(mismatched)} mismatched pairs, fewer than "
                          f"batch_size={batch_size}")
    captions = np.sort(np.random.default_rng(seed).choice(mismatched, batch_size, replace=False))
    images = paired[captions]
    return NoisyBatch(images, captions, tuple(split.captions[c] for c in captions),
                      truth.compatibility(captions, images).T, scene_overlap(truth, captions, images))


@dataclass(frozen=True)
class MassBreakdown:
    """Where a plan's transported mass goes, as fractions of ``total`` (they sum to 1).

    Attributes:
        total: ``sum(plan)``.
        diagonal: on the batch's own pairs ``(i, i)`` — for a noisy batch, the presumed-false pairing.
        fitting: on off-diagonal cells whose caption truly fits the image — good rematches.
        other: everywhere else — wrong rematches.
    """

    total: float
    diagonal: float
    fitting: float
    other: float


def mass_breakdown(plan: np.ndarray, fits: np.ndarray) -> MassBreakdown:
    """Split the mass of a square plan ``[B, B]`` by the truth ``fits`` ``[B, B]`` (:class:`MassBreakdown`)."""
    plan = np.asarray(plan, dtype=np.float64)
    if plan.ndim != 2 or plan.shape[0] != plan.shape[1] or np.shape(fits) != plan.shape:
        raise ConfigError(f"mass_breakdown: plan {plan.shape} and fits {np.shape(fits)} must both be [B, B]")
    total = float(plan.sum())
    if total <= 0:
        raise ConfigError("mass_breakdown: the plan transports no mass")
    off = ~np.eye(len(plan), dtype=bool)
    diagonal = float(np.trace(plan)) / total
    fitting = float(plan[off & np.asarray(fits, dtype=bool)].sum()) / total
    return MassBreakdown(total, diagonal, fitting, 1.0 - diagonal - fitting)


def alignment_record(batch: NoisyBatch, cost: np.ndarray, result: PartialOTResult, *,
                     mask: np.ndarray | None, rho: float) -> dict[str, np.ndarray]:
    """The arrays of a saved rematching batch (the ``alignments/epoch_XXX.npz`` layout of a run) for a noisy
    batch and its partial plan, so :func:`workbench.viz.alignment_heatmaps` can draw it.

    Args:
        batch: the noisy batch; cost: its cost ``[B, B]``; result: :func:`workbench.ot.partial_ot` on it.
        mask: bool ``[B, B]`` used for the plan (None: nothing masked); rho: the transported mass.
    """
    size = len(batch.captions)
    return {"cost": np.asarray(cost, dtype=np.float32), "plan": result.plan.numpy().astype(np.float32),
            "mask": np.ones((size, size), dtype=bool) if mask is None else np.asarray(mask, dtype=bool),
            "dummy_row": result.dummy_row.numpy(), "dummy_col": result.dummy_col.numpy(),
            "image_ids": batch.images, "caption_ids": batch.captions, "captions": np.asarray(batch.texts),
            "paired_captions": np.asarray(batch.texts), "truth": batch.fits, "rho": np.asarray(rho)}


# ---------------------------------------------------------------------------------- the learnable cost
@dataclass(frozen=True)
class ReconstructedBatch:
    """One batch of Eq. 6 (paper Fig. 2): ``similarity`` ``[Q, B]`` float32 and the ideal plan ``pi_sup``
    ``[Q, B]`` (1 where a clean image was planted at a slot, with its caption's column)."""

    similarity: torch.Tensor
    pi_sup: torch.Tensor


def reconstructed_batch(truth: SceneTruth, *, batch_size: int, scale: float = 0.5, noise: float = 0.05,
                        reserve_ratio: float = 0.1, rng: np.random.Generator,
                        generator: torch.Generator | None = None) -> ReconstructedBatch:
    """A reconstructed batch with a stand-in for a model's similarity: ``S = scale * overlap + noise``.

    ``batch_size`` random captions form the clean batch (paired with their own images); ``batch_size`` random
    images are the distractors, and :func:`workbench.ot.build_cost_supervision` plants ``k`` clean images
    among them (``k ~ U{1..reserve_ratio * B}``). ``S`` is ``scale`` times :func:`scene_overlap` plus
    Gaussian noise of std ``noise``: the planted pairs score about ``scale``, unrelated pairs near 0.
    """
    captions = rng.choice(truth.n_captions, batch_size, replace=False)
    sup = build_cost_supervision(batch_size, batch_size, reserve_ratio=reserve_ratio, generator=generator)
    images = sup.assemble(torch.as_tensor(rng.choice(truth.n_images, batch_size)),
                          torch.as_tensor(truth.source_image(captions))).numpy()
    jitter = noise * rng.standard_normal((batch_size, batch_size))
    sim = scale * scene_overlap(truth, captions, images) + jitter
    return ReconstructedBatch(torch.as_tensor(sim, dtype=torch.float32), sup.pi_sup)


def fit_cost(net: LearnableCost, batches: Iterable[ReconstructedBatch], *, lr: float,
             probe: tuple[torch.Tensor, np.ndarray] | None = None) -> pd.DataFrame:
    """Train ``net`` on Eq. 6, ``<pi_sup, f_c(S)>``, one Adam step per batch (in place); return the trace.

    Args:
        net: the cost network (modified in place).
        batches: reconstructed batches (:func:`reconstructed_batch`).
        lr: Adam's learning rate (the paper: 2e-6).
        probe: optional ``(S, fits)``: a similarity ``[Q, B]`` and a bool ``[Q, B]`` truth whose mean cost on
            fitting and non-fitting cells is recorded after every step.

    Returns:
        One row per step: ``step``, ``loss``, ``planted_cost`` and ``other_cost`` (mean cost of the batch's
        planted / other cells, before the step) and, with a probe, ``probe_fit_cost``, ``probe_other_cost``.
    """
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    rows = []
    for step, batch in enumerate(batches):
        cost = net(batch.similarity)
        loss = cost_supervision_loss(cost, batch.pi_sup)["cost_loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        planted, cost = batch.pi_sup.bool(), cost.detach()
        row = {"step": step, "loss": float(loss.detach()), "planted_cost": float(cost[planted].mean()),
               "other_cost": float(cost[~planted].mean())}
        if probe is not None:
            with torch.no_grad():
                probe_cost = net(probe[0]).numpy()
            fits = np.asarray(probe[1], dtype=bool)
            row.update(probe_fit_cost=float(probe_cost[fits].mean()),
                       probe_other_cost=float(probe_cost[~fits].mean()))
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- memorisation
def loss_trace(cfg: TrainConfig, *, epochs: int,
               on_epoch: Callable[[int, pd.DataFrame], None] | None = None) -> pd.DataFrame:
    """Train ``cfg`` for ``epochs`` epochs and record every training pair's loss after each.

    The loss is the per-pair mean hinge L2RM splits on (Eq. 4; evaluation mode, see
    :meth:`workbench.methods.Method.per_sample_losses`). Epoch ``e`` is a warm-up epoch while
    ``e < cfg.optim.warmup_epochs``; the learning rate stays at its base value and training runs on the CPU.
    Nothing is written to disk except the synthetic set (generated on first use under the data root, as for
    any run).

    Args:
        cfg: a training configuration (data, model, method).
        epochs: epochs to train.
        on_epoch: called as ``on_epoch(epoch, frame)`` with that epoch's rows (e.g. to print one line).

    Returns:
        ``epoch``, ``pair`` (training pair index), ``loss``, ``true_matched`` — one row per pair and epoch.
    """
    from workbench.data.dataset import load_retrieval_data
    from workbench.methods import EpochContext, build_method

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = load_retrieval_data(cfg.data)
    torch.manual_seed(cfg.seed)  # the model initialisation
    device = torch.device("cpu")
    method = build_method(cfg, data, device)
    frames = []
    for epoch in range(epochs):
        phase = "warmup" if epoch < cfg.optim.warmup_epochs else "train"
        method.train_epoch(EpochContext(epoch=epoch, phase=phase, main_epoch=epoch - cfg.optim.warmup_epochs,
                                        lr_scale=1.0, data=data, device=device))
        losses = method.per_sample_losses(method.models[0], np.random.default_rng([cfg.seed, epoch]))
        frame = pd.DataFrame({"epoch": epoch, "pair": np.arange(len(losses)), "loss": losses,
                              "true_matched": data.train.true_matched})
        if on_epoch is not None:
            on_epoch(epoch, frame)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
