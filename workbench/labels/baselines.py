r"""Baselines on the same features and network as UOT-RCL: cross-entropy, GCE and MRL.

* ``ce``: ``CE(l^v, y^v) + CE(l^t, y^t) + w \|z^v - z^t\|^2`` on the noisy labels (deep-SM in MRL's tables;
  the calibration guide's baseline with ``w = 0.5``).
* ``gce``: the same with generalized cross-entropy, ``q = 0.7`` (Zhang & Sabuncu 2018).
* ``mrl``: MRL (Hu et al. CVPR 2021, ``penghu-cs/MRL``): ``\beta (L_r(l^v, y^v) + L_r(l^t, y^t)) +
  (1 - \beta) L_c(z^v, z^t)`` with the robust clustering loss ``L_r`` (:func:`~workbench.labels.losses.
  mean_clustering_error`) and the multimodal contrastive loss ``L_c``
  (:func:`~workbench.labels.losses.multimodal_contrastive`). MRL's classifier is the prototype one
  (``model.classifier=prototype``; its presets set it).

Each modality is trained on its own noisy label (they coincide for pair-level noise).
"""

from __future__ import annotations

from torch import Tensor

from workbench.labels.losses import (
    cross_entropy,
    generalized_cross_entropy,
    mean_clustering_error,
    multimodal_contrastive,
    pair_alignment,
)
from workbench.labels.method import LabelMethod
from workbench.labels.models import Forward

__all__ = ["CrossEntropy", "GCE", "MRL"]


class CrossEntropy(LabelMethod):
    """Cross-entropy on the noisy labels (module docstring)."""

    name = "ce"

    def batch_loss(self, out: Forward, rows: Tensor, epoch: int) -> dict[str, Tensor]:
        y = self.tensors.noisy[rows]
        ce = cross_entropy(out.logits_img, y[:, 0]) + cross_entropy(out.logits_txt, y[:, 1])
        pair = pair_alignment(out.z_img, out.z_txt)
        return {"ce_loss": ce, "pair_loss": pair, "loss": ce + self.cfg.ce.pair_weight * pair}


class GCE(LabelMethod):
    """Generalized cross-entropy on the noisy labels (module docstring)."""

    name = "gce"

    def batch_loss(self, out: Forward, rows: Tensor, epoch: int) -> dict[str, Tensor]:
        y, q = self.tensors.noisy[rows], self.cfg.gce.q
        gce = generalized_cross_entropy(out.logits_img, y[:, 0], q) + generalized_cross_entropy(
            out.logits_txt, y[:, 1], q)
        pair = pair_alignment(out.z_img, out.z_txt)
        return {"gce_loss": gce, "pair_loss": pair, "loss": gce + self.cfg.gce.pair_weight * pair}


class MRL(LabelMethod):
    """MRL: robust clustering plus multimodal contrastive learning (module docstring)."""

    name = "mrl"

    def batch_loss(self, out: Forward, rows: Tensor, epoch: int) -> dict[str, Tensor]:
        y, cfg = self.tensors.noisy[rows], self.cfg.mrl
        robust = mean_clustering_error(out.logits_img, y[:, 0], cfg.tau) + mean_clustering_error(
            out.logits_txt, y[:, 1], cfg.tau)
        contrastive = multimodal_contrastive(out.z_img, out.z_txt, cfg.tau)
        return {"clustering_loss": robust, "contrastive_loss": contrastive,
                "loss": cfg.beta * robust + (1.0 - cfg.beta) * contrastive}
