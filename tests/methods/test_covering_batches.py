"""covering_batches: full batches whose owned indices score every training pair exactly once."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.methods.base import covering_batches


@pytest.mark.parametrize("n, b", [(12, 4), (13, 4), (15, 4), (5, 5), (9, 2)])
def test_every_index_is_owned_once_and_batches_are_full(n: int, b: int) -> None:
    batches = list(covering_batches(n, b, np.random.default_rng(0)))
    assert len(batches) == -(-n // b)
    assert all(len(idx) == b for idx, _ in batches)
    owned = np.concatenate([idx[keep] for idx, keep in batches])
    np.testing.assert_array_equal(np.sort(owned), np.arange(n))
    # the completion of the last batch repeats indices from the first batch
    last, keep = batches[-1]
    filler = last[keep.stop:] if keep.stop is not None else last[:0]
    assert len(filler) == len(batches) * b - n
    np.testing.assert_array_equal(filler, np.concatenate([idx for idx, _ in batches])[: len(filler)])


def test_order_follows_the_generator() -> None:
    one = [idx for idx, _ in covering_batches(10, 3, np.random.default_rng(7))]
    two = [idx for idx, _ in covering_batches(10, 3, np.random.default_rng(7))]
    three = [idx for idx, _ in covering_batches(10, 3, np.random.default_rng(8))]
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(one, three, strict=True))


def test_too_few_pairs_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 pairs is smaller than the batch size 4"):
        next(covering_batches(3, 4, np.random.default_rng(0)))
