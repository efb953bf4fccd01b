"""RetrievalMetrics: ranks → metrics by hand, averaging, dict round trips and their errors."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest

from workbench.errors import DataFormatError
from workbench.evaluate import RetrievalMetrics, metrics_from_ranks

FIELDS = [
    "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10",
    "rsum", "i2t_medr", "i2t_meanr", "t2i_medr", "t2i_meanr",
]  # fmt: skip


def _random_metrics(rng: np.random.Generator) -> RetrievalMetrics:
    recalls = np.sort(rng.uniform(0, 100, size=(2, 3)), axis=1)
    return RetrievalMetrics(*recalls[0], *recalls[1], float(recalls.sum()), *rng.uniform(1, 50, size=4))


def test_hand_computed_ranks():
    # 0-based ranks 0, 1, 2, 3, 20: R@1 = 1/5, R@5 = R@10 = 4/5; median 2 -> medr 3; mean 5.2 -> meanr 6.2.
    # t2i ranks 0, 1, 2, 5: even count, median 1.5 is floored -> medr 2; mean 2 -> meanr 3.
    m = metrics_from_ranks(np.array([0, 1, 2, 3, 20]), np.array([0, 1, 2, 5]))
    assert (m.i2t_r1, m.i2t_r5, m.i2t_r10) == (20.0, 80.0, 80.0)
    assert (m.t2i_r1, m.t2i_r5, m.t2i_r10) == (25.0, 75.0, 100.0)
    assert m.rsum == pytest.approx(380.0)
    assert (m.i2t_medr, m.i2t_meanr) == (3.0, pytest.approx(6.2))
    assert (m.t2i_medr, m.t2i_meanr) == (2.0, 3.0)
    assert all(type(v) is float for v in m.as_dict().values())


def test_as_dict_keeps_field_order_and_round_trips(rng):
    m = _random_metrics(rng)
    d = m.as_dict()
    assert list(d) == FIELDS
    assert RetrievalMetrics.from_dict({**d, "extra": "ignored"}) == m


def test_metrics_are_frozen(rng):
    with pytest.raises(dataclasses.FrozenInstanceError):
        _random_metrics(rng).rsum = 0.0  # type: ignore[misc]


def test_average_is_fieldwise_mean(rng):
    items = [_random_metrics(rng) for _ in range(4)]
    mean = RetrievalMetrics.average(items)
    for name in FIELDS:
        assert getattr(mean, name) == pytest.approx(sum(getattr(m, name) for m in items) / 4)
    # rSum of the mean is the sum of the six mean recalls.
    six = [mean.i2t_r1, mean.i2t_r5, mean.i2t_r10, mean.t2i_r1, mean.t2i_r5, mean.t2i_r10]
    assert mean.rsum == pytest.approx(sum(six))
    assert RetrievalMetrics.average(items[:1]) == items[0]


def test_average_of_nothing_is_an_error():
    with pytest.raises(DataFormatError, match="empty"):
        RetrievalMetrics.average([])


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"rsum": None}, "missing field 'rsum'"),
        ({"i2t_r1": "12"}, "'i2t_r1' must be a finite number"),
        ({"t2i_medr": math.nan}, "'t2i_medr' must be a finite number"),
        ({"t2i_meanr": True}, "'t2i_meanr' must be a finite number"),
    ],
)
def test_from_dict_errors(rng, patch, match):
    d = _random_metrics(rng).as_dict()
    for key, value in patch.items():
        if value is None:
            del d[key]
        else:
            d[key] = value
    with pytest.raises(DataFormatError, match=match):
        RetrievalMetrics.from_dict(d)


@pytest.mark.parametrize(
    ("i2t", "t2i", "match"),
    [
        (np.array([]), np.array([0]), "i2t_ranks must be a non-empty 1-D"),
        (np.array([0]), np.zeros((2, 2)), "t2i_ranks must be a non-empty 1-D"),
        (np.array([0, -1]), np.array([0]), "negative rank"),
    ],
)
def test_bad_ranks(i2t, t2i, match):
    with pytest.raises(DataFormatError, match=match):
        metrics_from_ranks(i2t, t2i)


def test_package_imports_without_torch():
    # Block torch, then import the evaluation package in a fresh interpreter.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, workbench.evaluate as ev\n"
        "assert ev.recall_from_scores(np.eye(3), 1).rsum == 600.0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
