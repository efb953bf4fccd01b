r"""What one rematching batch says about the OT mechanism, measured against the synthetic truth.

L2RM rematches a batch of ``Q`` images (rows: the queue) against ``B`` noisy captions (columns) with a
masked partial transport plan ``pi`` ``[Q, B]``. :func:`batch_rematch_stats` condenses one such batch into
sums (so that an epoch's batches add up) of the quantities that tell whether the mechanism works:

* **Concentration (paper Fig. 7).** The refined alignment of row ``i`` is ``t_i = pi_i / sum(pi_i)``
  (:func:`workbench.ot.plan_targets`). Its *top-1* ``max_j t_ij`` is ``1/B`` for a uniform row and 1 for a
  one-hot row; its entropy ``-sum_j t_ij log t_ij`` is ``log B`` and 0. A row is *transported* when the
  plan gives it at least the average real mass, ``sum_j pi_ij >= rho / Q``; the paper's Fig. 7 contrasts
  transported rows (concentrated on one dominant caption) with untransported ones (near uniform).
* **Correctness against the truth** (``fits[i, j]``: caption ``j`` truly describes image ``i``; only the
  allowed cells ``mask[i, j]`` count, since the plan is zero elsewhere). The *chosen* caption of a row is
  the argmax of its real-column plan. A row is *available* when at least one allowed caption fits it:
  only there can a rematch be right. Over available rows:

  - ``precision_available``: the chosen caption fits;
  - ``ceiling_available``: the argmax of the similarity ``S`` itself fits (what the model's own ranking
    gives, before any transport);
  - ``chance_available``: the fraction of the row's allowed captions that fit (a random choice).

  ``precision`` / ``chance`` are the same over transported rows, ``precision_all`` / ``chance_all`` over
  all rows (rows without a fitting caption count as misses).
* **The cost** (over allowed cells): the inter-quartile range of ``C`` (to compare with the entropic
  scale ``lam``: a plan is near uniform when the cost varies by much less than ``lam``) and, for the
  learnable cost, its mean absolute distance from its initialisation ``ReLU(1 - S)``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from workbench.errors import ConfigError

__all__ = ["RematchSums", "batch_rematch_stats"]


@dataclass
class RematchSums:
    """Additive statistics of one or more rematching batches (``+`` adds two of them)."""

    batches: int = 0
    rows: int = 0
    transported: int = 0  # rows with at least the average real mass rho / Q
    top1_transported: float = 0.0  # sums over rows of the refined row's largest entry
    top1_untransported: float = 0.0
    entropy_transported: float = 0.0  # sums over rows of the refined row's entropy (nats)
    entropy_untransported: float = 0.0
    top1_uniform: float = 0.0  # sum over rows of 1 / (allowed captions): the top-1 of a uniform row
    truth_rows: int = 0  # rows scored against the truth
    hits_transported: int = 0
    chance_transported: float = 0.0
    hits_all: int = 0
    chance_all: float = 0.0
    available: int = 0  # rows with at least one allowed fitting caption
    hits_available: int = 0
    ceiling_available: int = 0
    chance_available: float = 0.0
    cost_iqr: float = 0.0  # sums over batches
    cost_drift: float = 0.0
    drift_batches: int = 0  # batches with a learnable cost (drift defined)

    def __add__(self, other: RematchSums) -> RematchSums:
        return RematchSums(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def summary(self) -> dict[str, float]:
        """Means for the epoch record (keys absent when undefined, e.g. no truth or no transported row)."""
        out: dict[str, float] = {}
        if not self.batches:
            return out
        untransported = self.rows - self.transported
        out["cost_iqr"] = self.cost_iqr / self.batches
        if self.drift_batches:
            out["cost_drift"] = self.cost_drift / self.drift_batches
        out["top1_uniform"] = self.top1_uniform / self.rows
        if self.transported:
            out["top1_transported"] = self.top1_transported / self.transported
            out["entropy_transported"] = self.entropy_transported / self.transported
        if untransported:
            out["top1_untransported"] = self.top1_untransported / untransported
            out["entropy_untransported"] = self.entropy_untransported / untransported
        if self.truth_rows:
            if self.transported:
                out["precision"] = self.hits_transported / self.transported
                out["chance"] = self.chance_transported / self.transported
            out["precision_all"] = self.hits_all / self.truth_rows
            out["chance_all"] = self.chance_all / self.truth_rows
            out["available"] = self.available / self.truth_rows
            if self.available:
                out["precision_available"] = self.hits_available / self.available
                out["ceiling_available"] = self.ceiling_available / self.available
                out["chance_available"] = self.chance_available / self.available
        return out


def batch_rematch_stats(
    plan: NDArray[np.floating],
    similarity: NDArray[np.floating],
    cost: NDArray[np.floating],
    *,
    rho: float,
    mask: NDArray[np.bool_] | None = None,
    fits: NDArray[np.bool_] | None = None,
    learned_cost: bool = False,
    clip: float = 1e-10,
) -> RematchSums:
    """The statistics of one batch (see the module docstring).

    Args:
        plan: ``[Q, B]`` the real block of the transport plan (non-negative).
        similarity: ``[Q, B]`` the model's scores ``S`` the cost was computed from.
        cost: ``[Q, B]`` the transport cost ``C``.
        rho: the transported mass (a row is transported when its mass is at least ``rho / Q``; for
            balanced OT pass the total mass, 1).
        mask: ``[Q, B]`` bool, True where transport is allowed (None: everywhere).
        fits: ``[Q, B]`` bool truth, or None when unknown (then only the truth-free statistics are filled).
        learned_cost: whether ``cost`` is L2RM's learnable cost (then its distance from ``ReLU(1 - S)`` is
            recorded).
        clip: the floor applied to the plan before row normalisation, as in the training targets.

    Raises:
        ConfigError: if the shapes differ, or a row has no allowed caption.
    """
    q, b = plan.shape
    for name, arr in (("similarity", similarity), ("cost", cost), ("mask", mask), ("fits", fits)):
        if arr is not None and arr.shape != (q, b):
            raise ConfigError(f"batch_rematch_stats: {name} has shape {list(arr.shape)}, plan {[q, b]}")
    allowed = np.ones((q, b), dtype=bool) if mask is None else mask.astype(bool)
    n_allowed = allowed.sum(axis=1)
    if (n_allowed == 0).any():
        raise ConfigError("batch_rematch_stats: a row has no allowed caption (mask all False)")
    plan = plan.astype(np.float64)
    transported = plan.sum(axis=1) >= rho / q

    target = np.maximum(plan, clip)
    target /= target.sum(axis=1, keepdims=True)
    top1 = target.max(axis=1)
    entropy = -(target * np.log(target)).sum(axis=1)

    chosen = np.where(allowed, plan, -np.inf).argmax(axis=1)
    rows = np.arange(q)
    sums = RematchSums(
        batches=1, rows=q, transported=int(transported.sum()),
        top1_transported=float(top1[transported].sum()), top1_untransported=float(top1[~transported].sum()),
        entropy_transported=float(entropy[transported].sum()),
        entropy_untransported=float(entropy[~transported].sum()),
        top1_uniform=float((1.0 / n_allowed).sum()),
    )
    cost_allowed = cost[allowed].astype(np.float64)
    q25, q75 = np.percentile(cost_allowed, [25, 75])
    sums.cost_iqr = float(q75 - q25)
    if learned_cost:
        initial = np.maximum(1.0 - similarity[allowed].astype(np.float64), 0.0)
        sums.cost_drift = float(np.abs(cost_allowed - initial).mean())
        sums.drift_batches = 1
    if fits is None:
        return sums

    fit = fits.astype(bool) & allowed
    fit_fraction = fit.sum(axis=1) / n_allowed
    hit = fit[rows, chosen]
    available = fit.any(axis=1)
    best_similarity = np.where(allowed, similarity, -np.inf).argmax(axis=1)
    sums.truth_rows = q
    sums.hits_transported = int(hit[transported].sum())
    sums.chance_transported = float(fit_fraction[transported].sum())
    sums.hits_all = int(hit.sum())
    sums.chance_all = float(fit_fraction.sum())
    sums.available = int(available.sum())
    sums.hits_available = int(hit[available].sum())
    sums.ceiling_available = int(fit[rows, best_similarity][available].sum())
    sums.chance_available = float(fit_fraction[available].sum())
    return sums
