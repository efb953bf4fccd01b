"""Training strategies over the shared backbone, chosen by name (``TrainConfig.method``).

Modules are imported when a method is built, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib

import torch

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.methods.base import EpochContext, EpochStats, Method

__all__ = ["METHOD_CLASSES", "build_method", "method_class", "Method", "EpochContext", "EpochStats"]

#: method name -> "module:Class"
METHOD_CLASSES: dict[str, str] = {
    "vanilla": "workbench.methods.vanilla:Vanilla",
    "l2rm": "workbench.methods.l2rm:L2RM",
    "ncr": "workbench.methods.ncr:NCR",
    "decl": "workbench.methods.decl:DECL",
    "bicro": "workbench.methods.bicro:BiCro",
    "rcl": "workbench.methods.rcl:RCL",
}


def method_class(name: str) -> type[Method]:
    try:
        target = METHOD_CLASSES[name]
    except KeyError:
        raise NotImplementedError(f"method {name!r} is not implemented; "
                                  f"available: {', '.join(sorted(METHOD_CLASSES))}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def build_method(cfg: TrainConfig, data: RetrievalData, device: torch.device) -> Method:
    """Instantiate the configured method (its models, optimisers and state) on ``device``."""
    return method_class(cfg.method)(cfg, data, device)
