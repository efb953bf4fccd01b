"""What every label-track training method shares: the strategy interface and the noisy-label targets.

The trainer (:mod:`workbench.labels.train`) owns the network, the optimiser, epochs, evaluation and the run
directory; a method owns its per-epoch state (e.g. corrected labels) and implements

* :meth:`LabelMethod.begin_epoch` - work done once per epoch before its steps (UOT-RCL's correction);
* :meth:`LabelMethod.batch_loss` - the named loss terms of one batch, ``"loss"`` being the total;
* :meth:`LabelMethod.train_labels` - the label of every training pair the method currently trains on
  (the corrected labels for UOT-RCL, the noisy ones for the baselines): the "corrected-label" confusion;
* :meth:`LabelMethod.state_dict` / :meth:`LabelMethod.load_state_dict` - tensors only, for resuming.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from torch import Tensor

from workbench.labels.config import LabelTrainConfig
from workbench.labels.data import LabelData
from workbench.labels.models import CrossModalNet, Forward

__all__ = ["LabelMethod", "TrainTensors"]


class TrainTensors:
    """The training pairs as tensors: ``image`` ``[N, d_img]``, ``text`` ``[N, d_txt]``, ``noisy`` ``[N, 2]``.

    ``noisy`` holds the (image, text) labels the method is given: the data's noisy labels, or ``labels``
    when passed (the CE ceilings' clean or corrected labels, :mod:`workbench.labels.ceilings`).
    """

    def __init__(self, data: LabelData, device: torch.device, labels: np.ndarray | None = None) -> None:
        self.image = torch.as_tensor(data.train.image, device=device)
        self.text = torch.as_tensor(data.train.text, device=device)
        given = data.noisy_train if labels is None else labels
        if given.shape != data.noisy_train.shape:
            raise ValueError(f"training labels of shape {given.shape}; expected {data.noisy_train.shape}")
        self.noisy = torch.as_tensor(given, dtype=torch.long, device=device)
        self.n_classes = data.n_classes

    def __len__(self) -> int:
        return self.image.shape[0]

    def noisy_distribution(self) -> Tensor:
        """``[N, C]`` the mean of the one-hot image and text noisy labels (one-hot for pair-level noise)."""
        eye = torch.eye(self.n_classes, device=self.noisy.device)
        return 0.5 * (eye[self.noisy[:, 0]] + eye[self.noisy[:, 1]])


class LabelMethod(ABC):
    """Base class of the label-track methods (see the module docstring)."""

    name = "method"

    def __init__(self, cfg: LabelTrainConfig, tensors: TrainTensors) -> None:
        self.cfg = cfg
        self.tensors = tensors

    def begin_epoch(self, model: CrossModalNet, epoch: int) -> dict[str, Any]:
        """Per-epoch work before the steps; returns label statistics (``selected_fraction``, ``rho``, ...)."""
        return {"selected_fraction": 1.0, "rho": None}

    @abstractmethod
    def batch_loss(self, out: Forward, rows: Tensor, epoch: int) -> dict[str, Tensor]:
        """Loss terms of a batch of training pairs ``rows`` ``[B]`` whose network outputs are ``out``."""

    def train_labels(self) -> np.ndarray:
        """``[N]`` the label each training pair is currently trained on (image column for the baselines)."""
        return self.tensors.noisy[:, 0].cpu().numpy()

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        del state
