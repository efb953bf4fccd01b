"""The noisy-label track: cross-modal retrieval with noisy class labels (UOT-RCL and its baselines).

Curated entry points (the modules hold the details and the maths):

* :func:`run_labels` / :class:`LabelRunResult` (:mod:`.train`): one run, following the run-directory
  contract with ``track="labels"``.
* :class:`LabelTrainConfig` (:mod:`.config`), :func:`get_label_preset`, :func:`preset_config`,
  :data:`ABLATIONS` (:mod:`.presets`).
* :func:`load_label_data` (:mod:`.data`), :func:`make_label_noise` (:mod:`.noise`),
  :func:`load_paper_dataset` (:mod:`.loaders`).
* UOT-RCL's parts: :func:`correct_labels` and the class costs (:mod:`.correction`), the relation alignment
  (:mod:`.relation`), the method (:mod:`.uot_rcl`); baselines (:mod:`.baselines`), :func:`fit_cca` (:mod:`.cca`).
* :func:`label_grid` / :func:`run_grid` (:mod:`.grid`) and the MAP table (:mod:`.table`).

Names are loaded on first use, so ``import workbench.labels`` (and the torch-free :mod:`.table`,
:mod:`.config`, :mod:`.noise`, :mod:`.presets`) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ABLATIONS",
    "LabelRunResult",
    "LabelTrainConfig",
    "collect_label_runs",
    "correct_labels",
    "fit_cca",
    "get_label_preset",
    "label_grid",
    "load_label_data",
    "load_paper_dataset",
    "make_label_noise",
    "preset_config",
    "run_grid",
    "run_labels",
    "write_tables",
]

_HOME = {
    "ABLATIONS": "presets", "get_label_preset": "presets", "preset_config": "presets",
    "LabelTrainConfig": "config", "LabelRunResult": "train", "run_labels": "train",
    "collect_label_runs": "table", "write_tables": "table", "correct_labels": "correction", "fit_cca": "cca",
    "label_grid": "grid", "run_grid": "grid", "load_label_data": "data", "load_paper_dataset": "loaders",
    "make_label_noise": "noise",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
