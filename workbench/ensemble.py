"""Test-time ensembles of separately trained runs (the paper's "-SGRAF" rows: SAF + SGR averaged).

:func:`~workbench.run_models.load_run_models` rebuilds a finished run's best models from its directory (config
from ``run.json``, weights from ``checkpoints/best.pt``, loaded with ``weights_only=True``); :func:`evaluate_ensemble` averages
the scores of several runs' models on the test split and writes the result as a run directory of its own
(method of the members, backbone ``sgraf``), so tables and the dashboard treat it like any other run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from workbench.data.dataset import load_retrieval_data
from workbench.errors import RunDirError
from workbench.run_models import load_run_models, run_config
from workbench.runs import RunWriter, describe_environment, new_run_id
from workbench.scoring import evaluate
from workbench.train import resolve_device

__all__ = ["run_config", "load_run_models", "evaluate_ensemble"]


def evaluate_ensemble(run_dirs: Sequence[str | Path], *, out_dir: str | Path | None = None,
                      run_root: str | Path = "runs", device: str | None = None,
                      preset: str | None = None) -> dict[str, Any]:
    """Average the members' scores on their (shared) test split; write and return the results.

    ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"``; None (default) uses the first member's configured
    ``device`` (a COCO -SGRAF row scores 5-fold 1K and 5K with two heads: a GPU job).
    """
    if len(run_dirs) < 2:
        raise RunDirError("an ensemble needs at least two runs")
    configs = [run_config(Path(d)) for d in run_dirs]
    data_cfgs = {json.dumps(dataclasses.asdict(c.data), sort_keys=True) for c in configs}
    if len(data_cfgs) != 1:
        raise RunDirError("ensemble members were trained on different data settings: "
                          + ", ".join(str(d) for d in run_dirs))
    cfg = configs[0]
    dev = resolve_device(device if device is not None else cfg.device)
    data = load_retrieval_data(cfg.data)
    models = [m for d in run_dirs for m in load_run_models(d, data, dev)]
    metrics = evaluate(models, data.test, "test", cfg, dev)
    results: dict[str, Any] = {"test": metrics["all"].as_dict(), "members": [str(d) for d in run_dirs]}
    if "5fold" in metrics:
        results["test_5fold"], results["test_5k"] = metrics["5fold"].as_dict(), metrics["5k"].as_dict()
    backbones = "+".join(c.model.backbone for c in configs)
    target = Path(out_dir) if out_dir else Path(run_root) / new_run_id(cfg.method, "sgraf", cfg.data.dataset,
                                                                       f"m{cfg.data.mrate:g}", f"s{cfg.seed}")
    summary = {"track": "retrieval", "dataset": cfg.data.dataset if cfg.data.dataset != "synthetic"
               else f"synthetic-{cfg.data.size}", "method": cfg.method,
               "backbone": "sgraf" if backbones in ("saf+sgr", "sgr+saf") else backbones,
               "mrate": cfg.data.mrate, "rho": cfg.l2rm.rho if cfg.method == "l2rm" else None,
               "lam": cfg.l2rm.lam if cfg.method == "l2rm" else None, "batch_size": cfg.optim.batch_size,
               "seed": cfg.seed, "members": [str(d) for d in run_dirs]}
    writer = RunWriter.create(target, config=cfg.to_dict(), summary=summary, preset=preset,
                              versions={**describe_environment(), "torch": torch.__version__})
    writer.write_results(results)
    writer.finish("done")
    results["run_dir"] = str(target)
    return results
