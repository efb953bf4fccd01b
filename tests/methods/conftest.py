"""Fixtures of the method tests: the synthetic tiny set (generated once) and a tiny-preset factory.

Everything runs on one thread (the machine is shared) with a reduced training split so each method's
epochs take about a second.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData, load_retrieval_data
from workbench.presets import get_preset

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the test modules import method_helpers by plain name (importlib mode)
    sys.path.insert(0, str(HERE))

#: Training images kept for the method tests (5 captions each): 1000 pairs, 7 batches of 128 per epoch.
TRAIN_IMAGES = 200
MRATE = 0.4


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("methods-data")


@pytest.fixture(scope="session")
def tiny_config(data_root: Path) -> Callable[..., TrainConfig]:
    """``tiny_config(method, **overrides)``: the ``tiny-<method>-vse`` preset on the reduced tiny set."""

    def make(method: str, **overrides: Any) -> TrainConfig:
        base = {"root": str(data_root), "threads": 1, "mrate": MRATE, "train_images": TRAIN_IMAGES, "device": "cpu"}
        return get_preset(f"tiny-{method}-vse").config({**base, **overrides})

    return make


@pytest.fixture(scope="session")
def tiny_data(tiny_config: Callable[..., TrainConfig]) -> RetrievalData:
    torch.set_num_threads(1)
    return load_retrieval_data(tiny_config("vanilla").data)
