"""The rematching statistics of one batch against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.methods.rematch_stats import RematchSums, batch_rematch_stats


def _case() -> dict[str, np.ndarray]:
    """3 images x 4 captions, diagonal masked.

    Row 0: the plan puts its mass on caption 2 (fits) although the similarity prefers caption 1 (does not fit).
    Row 1: uniform over its allowed captions 0, 2, 3 and little mass; caption 3 fits.
    Row 2: nothing fits; the plan chooses caption 0.
    """
    plan = np.array([[0.0, 0.01, 0.08, 0.01],
                     [0.002, 0.0, 0.002, 0.002],
                     [0.05, 0.0, 0.0, 0.0]])
    similarity = np.array([[0.1, 0.9, 0.5, 0.2],
                           [0.3, 0.0, 0.2, 0.8],
                           [0.4, 0.3, 0.1, 0.2]])
    mask = ~np.eye(3, 4, dtype=bool)
    fits = np.array([[False, False, True, False],
                     [False, True, False, True],  # caption 1 fits row 1 but is masked: it does not count
                     [False, False, False, False]])
    return {"plan": plan, "similarity": similarity, "mask": mask, "fits": fits}


def test_hand_computed_batch() -> None:
    c = _case()
    rho = 0.1  # a row is transported when its mass >= 0.1 / 3
    cost = 1.0 - c["similarity"]
    sums = batch_rematch_stats(c["plan"], c["similarity"], cost, rho=rho, mask=c["mask"], fits=c["fits"],
                               learned_cost=True)
    s = sums.summary()
    # rows 0 (mass 0.10) and 2 (0.05) are transported, row 1 (0.006) is not
    assert sums.transported == 2
    t0 = np.array([1e-10, 0.01, 0.08, 0.01]) / (0.10 + 1e-10)
    t2 = np.array([0.05, 1e-10, 1e-10, 1e-10]) / (0.05 + 3e-10)
    t1 = np.array([0.002, 1e-10, 0.002, 0.002]) / (0.006 + 1e-10)
    assert s["top1_transported"] == pytest.approx((t0.max() + t2.max()) / 2)
    assert s["top1_untransported"] == pytest.approx(t1.max())
    entropy = lambda t: float(-(t * np.log(t)).sum())  # noqa: E731
    assert s["entropy_transported"] == pytest.approx((entropy(t0) + entropy(t2)) / 2)
    assert s["entropy_untransported"] == pytest.approx(math.log(3), rel=1e-6)
    assert s["top1_uniform"] == pytest.approx(1 / 3)
    # chosen captions: row 0 -> 2 (fits), row 1 -> 0 (first of a tie; does not fit), row 2 -> 0 (no fit)
    assert s["precision"] == pytest.approx(1 / 2)  # transported rows 0 and 2
    assert s["precision_all"] == pytest.approx(1 / 3)
    # available rows: 0 and 1 (row 1's masked fitting caption does not count, caption 3 does)
    assert s["available"] == pytest.approx(2 / 3)
    assert s["precision_available"] == pytest.approx(1 / 2)
    # the similarity's own argmax: row 0 -> caption 1 (miss), row 1 -> caption 3 (hit)
    assert s["ceiling_available"] == pytest.approx(1 / 2)
    assert s["chance_available"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert s["chance_all"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    allowed_cost = cost[c["mask"]]
    assert s["cost_iqr"] == pytest.approx(np.percentile(allowed_cost, 75) - np.percentile(allowed_cost, 25))
    assert s["cost_drift"] == pytest.approx(0.0, abs=1e-12)  # the cost is exactly its initialisation


def test_drift_measures_distance_from_relu_one_minus_s() -> None:
    c = _case()
    cost = np.maximum(1.0 - c["similarity"], 0.0) + 0.25
    s = batch_rematch_stats(c["plan"], c["similarity"], cost, rho=0.1, mask=c["mask"], learned_cost=True).summary()
    assert s["cost_drift"] == pytest.approx(0.25)
    assert "precision" not in s and "available" not in s  # no truth: only truth-free statistics
    s = batch_rematch_stats(c["plan"], c["similarity"], cost, rho=0.1, mask=c["mask"]).summary()
    assert "cost_drift" not in s  # a fixed cost has no initialisation to drift from


def test_sums_add_over_batches() -> None:
    c = _case()
    one = batch_rematch_stats(c["plan"], c["similarity"], 1 - c["similarity"], rho=0.1, mask=c["mask"], fits=c["fits"])
    # a second batch: one-hot rows on fitting captions, all transported and right
    plan = np.array([[0.0, 0.0, 0.05, 0.0], [0.0, 0.0, 0.0, 0.05], [0.05, 0.0, 0.0, 0.0]])
    fits = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]], dtype=bool)
    two = batch_rematch_stats(plan, c["similarity"], 1 - c["similarity"], rho=0.1, mask=c["mask"], fits=fits)
    assert two.summary()["precision_available"] == 1.0
    total = (RematchSums() + one + two).summary()
    assert total["precision_available"] == pytest.approx((1 + 3) / (2 + 3))
    assert total["available"] == pytest.approx((2 + 3) / 6)
    assert total["precision_all"] == pytest.approx((1 + 3) / 6)


def test_refuses_mismatched_shapes_and_empty_rows() -> None:
    c = _case()
    with pytest.raises(ConfigError, match="fits has shape"):
        batch_rematch_stats(c["plan"], c["similarity"], c["similarity"], rho=0.1, fits=c["fits"][:, :3])
    with pytest.raises(ConfigError, match="no allowed caption"):
        batch_rematch_stats(c["plan"], c["similarity"], c["similarity"], rho=0.1, mask=np.zeros((3, 4), bool))
