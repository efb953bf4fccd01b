"""Training labels of the CE ceilings: the clean classes, or the corrected labels of a finished UOT-RCL run.

A ceiling is cross-entropy (:class:`~workbench.labels.baselines.CrossEntropy`, same network, optimiser and
budget) trained on better labels than the noisy ones, so that a table can show how much retrieval quality
each stage leaves on the table:

* ``clean``: the true class of every training pair (perfect correction);
* ``corrected``: the labels a UOT-RCL run ended with (``artifacts/train_labels.npy``: its corrected label
  where selected, the noisy one elsewhere). The run must be finished and must have used the same data
  section and noise seed, so that row ``i`` is the same training pair; anything else is refused.

Validation labels are not touched: model selection sees the same (noisy) validation set as the other rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workbench.errors import ConfigError, DataFormatError
from workbench.labels.config import LabelTrainConfig
from workbench.labels.data import LabelData

__all__ = ["TRAIN_LABELS_ARTIFACT", "ceiling_labels"]

TRAIN_LABELS_ARTIFACT = "train_labels.npy"
# data-section fields that decide which pairs are training rows and which labels they carry
_SAME_DATA = ("dataset", "path", "size", "data_seed", "noise", "rate", "level", "val_fraction", "standardise",
              "image_view", "text_view")


def _corrected(cfg: LabelTrainConfig, n_train: int) -> np.ndarray:
    source = Path(cfg.ce.labels_from).expanduser()
    if not cfg.ce.labels_from:
        raise ConfigError("ce.labels=corrected needs ce.labels_from: the directory of a finished UOT-RCL run")
    run_file, labels_file = source / "run.json", source / "artifacts" / TRAIN_LABELS_ARTIFACT
    if not run_file.is_file():
        raise DataFormatError(f"ce.labels_from = {source}: no run.json there (not a run directory)")
    info = json.loads(run_file.read_text(encoding="utf-8"))
    if info.get("status") != "done":
        raise DataFormatError(f"ce.labels_from = {source}: the run's status is {info.get('status')!r}, not 'done'")
    if info.get("method") != "uot_rcl":
        raise DataFormatError(f"ce.labels_from = {source}: method {info.get('method')!r}; expected a uot_rcl run")
    other = LabelTrainConfig.from_dict(info.get("config") or {})
    differ = [k for k in _SAME_DATA if getattr(other.data, k) != getattr(cfg.data, k)]
    if other.noise_seed != cfg.noise_seed:
        differ.append(f"noise seed ({other.noise_seed} vs {cfg.noise_seed})")
    if differ:
        raise ConfigError(f"ce.labels_from = {source}: that run used other data settings ({', '.join(differ)}); "
                          "its labels would belong to other training pairs")
    if not labels_file.is_file():
        raise DataFormatError(f"{labels_file}: missing (runs older than the ceilings did not save it)")
    labels = np.load(labels_file, allow_pickle=False)
    if labels.shape != (n_train,) or labels.dtype.kind not in "iu":
        raise DataFormatError(f"{labels_file}: shape {labels.shape} dtype {labels.dtype}; expected ({n_train},) "
                              "integers (one label per training pair)")
    return labels.astype(np.int64)


def ceiling_labels(cfg: LabelTrainConfig, data: LabelData) -> np.ndarray | None:
    """``[N, 2]`` training labels (image, text) for a CE ceiling, or ``None`` for the noisy labels."""
    if cfg.method != "ce" or cfg.ce.labels == "noisy":
        return None
    labels = data.train.labels if cfg.ce.labels == "clean" else _corrected(cfg, len(data.train))
    if labels.min() < 0 or labels.max() >= data.n_classes:
        raise DataFormatError(f"ceiling labels span {labels.min()}..{labels.max()}; expected 0..{data.n_classes - 1}")
    return np.stack([labels, labels], axis=1)
