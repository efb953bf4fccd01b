r"""UOT-RCL's semantic alignment: a cross-modal consistent sample-to-class cost and partial-OT label correction.

**Cost**. A class score ``q_i \in \Delta^C`` per training pair, then ``C_{ij} = -\log(q_{ij} + \delta)``.

* ``knn`` [S, the generated reimplementation; made principled [I]]: neighbour votes in each
  modality, weighted by whether the neighbour is also a neighbour in the other modality,

  .. math::

      q_i = \tfrac12 \Big[\frac{\sum_{k \in N_v(i)} w^v_{ik} s^v_{ik} \tilde y_k}{\sum_{k \in N_v(i)} w^v_{ik} s^v_{ik}}
      + \frac{\sum_{k \in N_t(i)} w^t_{ik} s^t_{ik} \tilde y_k}{\sum_{k \in N_t(i)} w^t_{ik} s^t_{ik}}\Big],

  with ``N_m(i)`` the ``K`` nearest other pairs of ``i`` in modality ``m`` (cosine ``s^m``, clipped at 0),
  ``\tilde y_k`` the neighbour's current label distribution and the cross-modal consistency weight
  ``w^v_{ik} = 1`` if ``k \in N_t(i)`` else ``\gamma`` (``hard``), or ``\exp(-|s^v_{ik} - s^t_{ik}| / \sigma)``
  (``soft``), or 1 (``none``). A neighbour both modalities agree on votes with full weight: the
  "blend of modalities" of the abstract.
* ``prob`` [I]: the classifier, ``q_i = \alpha p^v_i + (1 - \alpha) p^t_i``.
* ``mix`` [I]: the mean of the two scores.

**Correction** ([I]). Entropic partial OT between the ``N`` pairs (mass ``1/N`` each) and the
``C`` classes (mass ``b``: noisy-label frequencies or uniform) moving total mass ``\rho``:

.. math::

    \min_{\pi \ge 0} \langle \pi, C \rangle - \varepsilon H(\pi) \quad
    \text{s.t.}\; \pi 1 \le 1/N,\; \pi^\top 1 \le b,\; 1^\top \pi 1 = \rho,

solved with :func:`workbench.ot.partial_ot` (the dummy-point extension, the author's L2RM formulation);
``\rho = 1`` is balanced OT (:func:`workbench.ot.sinkhorn`). Only the cheapest ``\approx \rho N`` sample-class
assignments are transported, within each class's capacity, so no class can absorb everything. A pair is
**selected** when its row carries at least ``threshold / N``; its corrected label is the row's argmax (or
the row normalised, soft). ``\rho`` grows over training (:func:`rho_schedule`): the progressive part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from workbench.errors import ConfigError
from workbench.ot import partial_ot, sinkhorn

__all__ = [
    "knn_class_scores",
    "prob_class_scores",
    "class_cost",
    "class_marginal",
    "rho_schedule",
    "LabelCorrection",
    "correct_labels",
]


def _neighbours(z: Tensor, k: int, chunk: int) -> tuple[Tensor, Tensor]:
    """Top-``k`` cosine neighbours of each row of unit ``z`` ``[N, d]``, itself excluded: ``(sim, idx)`` ``[N, k]``."""
    sims, idxs = [], []
    for s0 in range(0, z.shape[0], chunk):
        sim = z[s0:s0 + chunk] @ z.T  # [b, N]
        rows = torch.arange(s0, min(s0 + chunk, z.shape[0]), device=z.device)
        sim[torch.arange(len(rows)), rows] = -torch.inf
        top = sim.topk(k, dim=1)
        sims.append(top.values)
        idxs.append(top.indices)
    return torch.cat(sims), torch.cat(idxs)


def knn_class_scores(z_img: Tensor, z_txt: Tensor, label_dist: Tensor, *, k: int = 10, consistency: str = "hard",
                     gamma: float = 0.5, sigma: float = 0.1, chunk: int = 2048) -> Tensor:
    """The ``knn`` class score ``q`` ``[N, C]`` (module docstring); rows sum to 1.

    Args:
        z_img, z_txt: ``[N, d]`` unit embeddings of the training pairs.
        label_dist: ``[N, C]`` each pair's current label distribution ``tilde y``.
        k: neighbours per modality (``1 <= k < N``).
        consistency: ``"hard"``, ``"soft"`` or ``"none"``.
        gamma: ``hard`` weight of a neighbour the other modality does not share.
        sigma: ``soft`` scale.
        chunk: rows per similarity block (memory ``O(chunk N)``).
    """
    n = z_img.shape[0]
    if not 1 <= k < n:
        raise ConfigError(f"knn_k = {k} must lie in [1, {n - 1}] for {n} training pairs")
    if consistency not in ("hard", "soft", "none"):
        raise ConfigError(f"consistency {consistency!r} is not 'hard', 'soft' or 'none'")
    scores = []
    neighbours = {m: _neighbours(z, k, chunk) for m, z in (("img", z_img), ("txt", z_txt))}
    for mine, other, z_other in (("img", "txt", z_txt), ("txt", "img", z_img)):
        sim, idx = neighbours[mine]  # [N, k]
        sim = sim.clamp_min(0.0)
        if consistency == "hard":
            shared = (idx[:, :, None] == neighbours[other][1][:, None, :]).any(dim=2)  # [N, k]
            weight = torch.where(shared, torch.ones_like(sim), torch.full_like(sim, gamma))
        elif consistency == "soft":
            sim_other = (z_other[:, None, :] * z_other[idx]).sum(dim=2).clamp_min(0.0)  # [N, k]
            weight = torch.exp(-(sim - sim_other).abs() / sigma)
        else:
            weight = torch.ones_like(sim)
        vote = weight * sim + 1e-12  # the epsilon keeps an all-zero row a uniform vote
        scores.append((vote[:, :, None] * label_dist[idx]).sum(dim=1) / vote.sum(dim=1, keepdim=True))
    return 0.5 * (scores[0] + scores[1])


def prob_class_scores(p_img: Tensor, p_txt: Tensor, alpha: float = 0.5) -> Tensor:
    """The ``prob`` class score ``alpha p_img + (1 - alpha) p_txt`` ``[N, C]``."""
    return alpha * p_img + (1.0 - alpha) * p_txt


def class_cost(scores: Tensor, *, floor: float = 1e-3, scale: str = "std") -> Tensor:
    """``C = -log(q + floor)`` ``[N, C]``, divided by its standard deviation when ``scale == "std"``.

    The scaling makes ``eps`` a fraction of the cost's spread: at high noise the classifier's scores are
    flat (top probability ~0.11 of 10 classes) and an absolute ``eps`` would give a uniform plan.
    """
    cost = -torch.log(scores + floor)
    if scale == "std":
        return cost / cost.std().clamp_min(1e-12)
    if scale != "none":
        raise ConfigError(f"cost scale {scale!r} is not 'std' or 'none'")
    return cost


def class_marginal(noisy: np.ndarray, n_classes: int, kind: str) -> np.ndarray:
    """Class masses ``b`` ``[C]`` summing to 1: noisy-label frequencies (both columns of ``[N, 2]``) or uniform."""
    if kind == "uniform":
        return np.full(n_classes, 1.0 / n_classes)
    if kind != "noisy":
        raise ConfigError(f"class marginal {kind!r} is not 'noisy' or 'uniform'")
    counts = np.bincount(np.asarray(noisy).reshape(-1), minlength=n_classes).astype(np.float64)
    return counts / counts.sum()


def rho_schedule(epoch: int, *, warmup: int, epochs: int, start: float, end: float, ramp: float) -> float:
    """Transported mass at ``epoch`` (0-based, warm-up included): linear from ``start`` to ``end``.

    The ramp starts at the first post-warm-up epoch and reaches ``end`` after ``ramp`` of the post-warm-up
    epochs (``ramp = 0``: ``end`` at once).
    """
    main = epoch - warmup
    if main < 0:  # warm-up: no correction yet
        return start
    span = ramp * max(epochs - warmup - 1, 0)
    if span <= 0:
        return end
    return start + (end - start) * min(1.0, main / span)


@dataclass(frozen=True)
class LabelCorrection:
    """One correction step.

    Attributes:
        labels: ``[N]`` int64 corrected label (row argmax) of every pair, selected or not.
        targets: ``[N, C]`` the normalised plan rows (soft labels).
        selected: ``[N]`` bool, the pairs passing the selection rule.
        row_mass: ``[N]`` the mass each pair transports, in units of its capacity ``1/N`` (0..1).
        plan: ``[N, C]`` the transport plan (real block).
        rho: the requested transported mass.
        converged: whether Sinkhorn met its tolerance.
    """

    labels: np.ndarray
    targets: np.ndarray
    selected: np.ndarray
    row_mass: np.ndarray
    plan: np.ndarray
    rho: float
    converged: bool


def correct_labels(cost: Tensor, b: np.ndarray, *, rho: float, eps: float, threshold: float = 0.5,
                   rule: str = "mass", max_iter: int = 1000, tol: float = 1e-6) -> LabelCorrection:
    """Partial-OT label correction (module docstring) for a sample-to-class ``cost`` ``[N, C]``.

    Args:
        cost: ``[N, C]`` finite costs.
        b: ``[C]`` class masses summing to 1.
        rho: mass to transport, ``0 < rho <= 1`` (1: balanced OT).
        eps: entropic regularisation, in cost units.
        threshold: selection threshold: on the row mass relative to ``1/N`` (``rule="mass"``, partial OT's
            own selection) or on the largest entry of the normalised row (``rule="peak"``, the calibration
            guide's confidence rule; with ``rho = 1`` every row has full mass and only this rule selects).
        rule: ``"mass"``, ``"peak"`` or ``"both"`` (the two thresholds at once).
        max_iter, tol: Sinkhorn settings (tolerance on the L1 marginal error).
    """
    if not 0.0 < rho <= 1.0:
        raise ConfigError(f"transported mass rho = {rho!r} must lie in (0, 1]")
    if rule not in ("mass", "peak", "both"):
        raise ConfigError(f"selection rule {rule!r} is not 'mass', 'peak' or 'both'")
    n, c = cost.shape
    cost64 = cost.detach().to(torch.float64)
    a = torch.full((n,), 1.0 / n, dtype=torch.float64, device=cost.device)
    b_t = torch.as_tensor(b, dtype=torch.float64, device=cost.device)
    if rho >= 1.0 - 1e-9:
        result = sinkhorn(cost64, a, b_t, eps=eps, tol=tol, max_iter=max_iter)
        plan, converged = result.plan, result.converged
    else:
        part = partial_ot(cost64, a, b_t, mass=rho, eps=eps, tol=tol, max_iter=max_iter)
        plan, converged = part.plan, part.converged
    row = plan.sum(dim=1)
    row_mass = (row * n).clamp(0.0, 1.0)
    targets = plan / row.clamp_min(1e-300)[:, None]
    peak = targets.amax(dim=1)
    selected = {"mass": row_mass >= threshold, "peak": peak >= threshold,
                "both": (row_mass >= threshold) & (peak >= threshold)}[rule]
    return LabelCorrection(
        labels=plan.argmax(dim=1).cpu().numpy().astype(np.int64),
        targets=targets.cpu().numpy(),
        selected=selected.cpu().numpy(),
        row_mass=row_mass.cpu().numpy(),
        plan=plan.cpu().numpy(),
        rho=float(rho),
        converged=bool(converged),
    )
