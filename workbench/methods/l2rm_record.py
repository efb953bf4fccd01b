"""What an L2RM epoch records about its rematching, for the dashboard and the figures.

* the learned transport cost of every training pair (Fig. 6) with its true and estimated matched flag;
* a few OT batches (cost, plan, mask, dummy mass, similarity, ids, captions, truth) for heatmaps;
* rematched examples (Fig. 5): each image's argmax caption under the refined alignment, its score, whether it
  truly fits (synthetic data only), the image URL when the dataset has one;
* the averaged ranked refined alignment of transported and untransported rows (Fig. 7);
* the epoch's rematching statistics (:mod:`workbench.methods.rematch_stats`): how concentrated the refined
  rows are (top-1, entropy; transported vs untransported rows), rematch precision against the truth (over
  transported rows, all rows, and the rows that have a fitting caption, beside the similarity's own
  ceiling and the chance level), the cost's spread and its distance from its initialisation.

A row (image) counts as *transported* when the partial plan gives it at least the average real mass ``rho/Q``
(the entropic plan spreads mass, so rows are graded rather than all-or-nothing); the others send more of
their mass to the dummy point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from workbench.data.dataset import PairedSplit
from workbench.data.synthetic_truth import SceneTruth
from workbench.methods.rematch_stats import RematchSums, batch_rematch_stats
from workbench.runs import RunWriter

__all__ = ["RematchRecorder", "CostRecorder"]


@dataclass
class CostRecorder:
    """Collects the per-pair transport cost during the per-sample pass of one epoch."""

    n_pairs: int
    cost: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.cost = np.full(self.n_pairs, np.nan, dtype=np.float32)

    def add(self, pair_index: np.ndarray, diag_cost: Tensor) -> None:
        values = diag_cost.detach().float().cpu().numpy()
        fresh = np.isnan(self.cost[pair_index])  # the padding of the last batch repeats early pairs
        self.cost[pair_index[fresh]] = values[fresh]

    def medians(self, true_matched: np.ndarray) -> dict[str, float]:
        """Median cost of truly matched and mismatched pairs (Fig. 6's two distributions), where recorded."""
        seen = ~np.isnan(self.cost)
        out = {}
        for key, flag in (("cost_median_matched", True), ("cost_median_mismatched", False)):
            values = self.cost[seen & (true_matched == flag)]
            if values.size:
                out[key] = float(np.median(values))
        return out

    def write(self, writer: RunWriter, epoch: int, pair_image: np.ndarray, true_matched: np.ndarray | None,
              est_clean: np.ndarray, clean_prob: np.ndarray) -> None:
        """Append this epoch's rows; ``true_matched=None`` when the truth is unknown (real mismatches)."""
        truth = (pd.array(true_matched.astype(bool), dtype="boolean") if true_matched is not None
                 else pd.array([pd.NA] * self.n_pairs, dtype="boolean"))
        frame = pd.DataFrame({
            "epoch": np.full(self.n_pairs, epoch, dtype=np.int32),
            "caption": np.arange(self.n_pairs, dtype=np.int64),
            "image": pair_image.astype(np.int64),
            "cost": self.cost,
            "true_matched": truth,
            "est_clean": est_clean.astype(bool),
            "clean_prob": clean_prob.astype(np.float32),
        })
        _append_table(writer, "cost_by_epoch.parquet", frame, epoch)


def _append_table(writer: RunWriter, name: str, frame: pd.DataFrame, epoch: int) -> None:
    """Replace this epoch's rows of an artefact table (idempotent when an epoch is re-run on resume)."""
    path = writer.artifact(name)
    if path.exists():
        old = pd.read_parquet(path)
        frame = pd.concat([old[old["epoch"] != epoch], frame], ignore_index=True)
    writer.write_table(name, frame)


class RematchRecorder:
    """Accumulates the rematching statistics and examples of one epoch."""

    def __init__(self, train: PairedSplit, truth: SceneTruth | None, *, epoch: int, rho: float, lam: float,
                 max_batches: int, max_examples: int, learned_cost: bool = True) -> None:
        self.train, self.truth, self.epoch = train, truth, epoch
        self.learned_cost = learned_cost
        self.rho, self.lam = rho, lam
        self.max_batches, self.max_examples = max_batches, max_examples
        self.alignments: list[dict[str, np.ndarray]] = []
        self.examples: list[dict[str, Any]] = []
        self.rank_sum = {"transported": None, "untransported": None}
        self.rank_count = {"transported": 0, "untransported": 0}
        self.stats = RematchSums()
        self.mass_sum = 0.0
        self.unconverged = 0
        self.max_error = 0.0

    @torch.no_grad()
    def add(self, step: int, *, queue_images: np.ndarray, captions: np.ndarray, similarity: Tensor,
            cost: Tensor, mask: Tensor | None, plan: Tensor, target_i2t: Tensor, dummy_row: Tensor | None,
            dummy_col: Tensor | None, converged: bool = True, marginal_error: float = 0.0) -> None:
        """One rematching batch: rows are the ``Q`` queue images, columns the ``B`` noisy captions."""
        q, b = plan.shape
        plan_np = plan.float().cpu().numpy()
        target = target_i2t.float().cpu().numpy()
        row_mass = plan_np.sum(axis=1)
        transported = row_mass >= self.rho / q
        best = target.argmax(axis=1)
        self.unconverged += int(not converged)
        self.max_error = max(self.max_error, marginal_error)
        self.mass_sum += float(plan_np.sum())
        ranked = -np.sort(-target, axis=1)
        for kind, rows in (("transported", transported), ("untransported", ~transported)):
            if rows.any():
                total = ranked[rows].sum(axis=0)
                prev = self.rank_sum[kind]
                self.rank_sum[kind] = total if prev is None else prev + total
                self.rank_count[kind] += int(rows.sum())
        fits = None
        if self.truth is not None:
            fits = self.truth.compatibility(captions, queue_images).T  # [Q, B]
        self.stats = self.stats + batch_rematch_stats(
            plan_np, similarity.detach().float().cpu().numpy(), cost.float().cpu().numpy(), rho=self.rho,
            mask=None if mask is None else mask.cpu().numpy(), fits=fits, learned_cost=self.learned_cost)
        if len(self.alignments) < self.max_batches:
            self.alignments.append(self._alignment(step, queue_images, captions, similarity, cost, mask,
                                                   plan_np, dummy_row, dummy_col, fits))
        if len(self.examples) < self.max_examples:
            self._examples(step, queue_images, captions, best, target, row_mass, transported, fits)

    def _alignment(self, step: int, queue_images: np.ndarray, captions: np.ndarray, similarity: Tensor,
                   cost: Tensor, mask: Tensor | None, plan: np.ndarray, dummy_row: Tensor | None,
                   dummy_col: Tensor | None, fits: np.ndarray | None) -> dict[str, np.ndarray]:
        q, b = plan.shape
        texts = self.train.captions.texts
        paired = [texts[int(captions[i])] if i < b else "" for i in range(q)]
        arrays = {
            "cost": cost.float().cpu().numpy(),
            "plan": plan,
            "mask": (mask.cpu().numpy() if mask is not None else np.ones((q, b), dtype=bool)),
            "dummy_row": (dummy_row.float().cpu().numpy() if dummy_row is not None else np.zeros(b, np.float32)),
            "dummy_col": (dummy_col.float().cpu().numpy() if dummy_col is not None else np.zeros(q, np.float32)),
            "similarity": similarity.detach().float().cpu().numpy(),
            "image_ids": queue_images.astype(np.int64),
            "caption_ids": captions.astype(np.int64),
            "captions": np.array([texts[int(c)] for c in captions], dtype=str),
            "paired_captions": np.array(paired, dtype=str),
            "rho": np.float32(self.rho),
            "lam": np.float32(self.lam),
            "epoch": np.int64(self.epoch),
            "step": np.int64(step),
        }
        if fits is not None:
            arrays["truth"] = fits.astype(bool)
        return arrays

    def _examples(self, step: int, queue_images: np.ndarray, captions: np.ndarray, best: np.ndarray,
                  target: np.ndarray, row_mass: np.ndarray, transported: np.ndarray,
                  fits: np.ndarray | None) -> None:
        texts = self.train.captions.texts
        urls = self.train.urls
        b = len(captions)
        for i in range(len(queue_images)):
            if len(self.examples) >= self.max_examples:
                break
            original = int(captions[i]) if i < b else -1
            rematched = int(captions[best[i]])
            image = int(queue_images[i])
            original_fit = None
            if self.truth is not None and original >= 0:
                original_fit = bool(self.truth.fits(original, image))
            self.examples.append({
                "epoch": self.epoch, "step": step, "image": image,
                "caption_original": original, "text_original": texts[original] if original >= 0 else "",
                "caption_rematched": rematched, "text_rematched": texts[rematched],
                "score": float(target[i, best[i]]), "row_mass": float(row_mass[i]),
                "transported": bool(transported[i]),
                "fit": None if fits is None else bool(fits[i, best[i]]),
                "original_fit": original_fit,
                "image_url": urls[image * self.train.captions_per_image] if urls else None,
            })

    def summary(self) -> dict[str, float] | None:
        """The epoch's ``rematch`` record (None when no batch was rematched)."""
        batches = self.stats.batches
        if not batches:
            return None
        out: dict[str, float] = {"batches": batches, "transported_mass": self.mass_sum / batches,
                                 "transported_rows": self.stats.transported / batches,
                                 "unconverged": self.unconverged, "max_marginal_error": self.max_error}
        out.update(self.stats.summary())
        return out

    def write(self, writer: RunWriter) -> None:
        for i, arrays in enumerate(self.alignments):
            suffix = "" if i == 0 else f"_{i}"
            writer.write_arrays(f"alignments/epoch_{self.epoch:03d}{suffix}.npz", **arrays)
        if self.examples:
            frame = pd.DataFrame(self.examples)
            for col in ("fit", "original_fit"):
                frame[col] = frame[col].astype("boolean")
            _append_table(writer, "rematch_examples.parquet", frame, self.epoch)
        rows = []
        for kind, total in self.rank_sum.items():
            if total is None:
                continue
            mean = total / self.rank_count[kind]
            rows.extend({"epoch": self.epoch, "kind": kind, "rank": r + 1, "mean_prob": float(p)}
                        for r, p in enumerate(mean))
        if rows:
            _append_table(writer, "refined_ranks.parquet", pd.DataFrame(rows), self.epoch)
