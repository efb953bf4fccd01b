"""Tests that fail when the method breaks: the split must find the mismatched pairs after the warm-up.

On the reduced synthetic tiny set (MRate 0.4, 1000 pairs) one warm-up epoch already separates matched from
mismatched pairs by their per-sample loss; a split that ignored the losses, inverted the components or
mislabelled the pairs would land near AUC 0.5 or below, and its clean set near the data's 60 % precision.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from method_helpers import new_method, run_epoch

from workbench.config import TrainConfig
from workbench.data.dataset import RetrievalData
from workbench.methods.base import EpochContext

#: Floors measured on this set (see the module docstring for what a broken split gives).
WARMUP = 3
BATCH = 32
AUC_FLOOR = 0.75
PRECISION_FLOOR = 0.75


@pytest.mark.parametrize("em_stop", ["official", "mean"])
def test_split_after_warmup_finds_the_mismatches(tiny_config: Callable[..., TrainConfig], tiny_data: RetrievalData,
                                                 em_stop: str) -> None:
    cfg = tiny_config("l2rm", **{"split_guard": False, "warmup_epochs": WARMUP, "l2rm.em_stop": em_stop,
                                 "batch_size": BATCH, "train_images": 0})
    method = new_method(cfg, tiny_data)
    for epoch in range(WARMUP):
        run_epoch(method, epoch)
    ctx = EpochContext(epoch=WARMUP, phase="train", main_epoch=0, lr_scale=1.0, data=tiny_data,
                       device=torch.device("cpu"), artifacts=None)
    quality, _ = method._split(ctx)
    truth = tiny_data.train.true_matched
    print(em_stop, quality)
    assert quality["auc"] > AUC_FLOOR
    assert quality["precision"] > PRECISION_FLOOR > truth.mean()
    # the flags the method trains with are the ones reported
    assert method.est_clean is not None and np.mean(truth[method.est_clean]) == pytest.approx(quality["precision"])
