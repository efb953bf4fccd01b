"""UCI Multiple Features: the six views read from the mirror, labels, the fixed split, format errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.data.download import fetch
from workbench.data.mfeat import MFEAT_VIEWS, load_mfeat, load_mfeat_view, mfeat_splits
from workbench.errors import ConfigError, DataFormatError


@pytest.fixture(scope="module")
def mfeat_dir(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six views fetched through the registry from the mirror (checksums verified by fetch)."""
    root = tmp_path_factory.mktemp("data")
    result = fetch("mfeat", root, mirror=mirror)
    assert {f.origin for f in result.files} == {"mirror"}
    return root / "mfeat"


def test_views_have_the_documented_widths_and_agree_on_labels(mfeat_dir: Path) -> None:
    labels = None
    for view, width in MFEAT_VIEWS.items():
        features, y = load_mfeat_view(mfeat_dir, view)
        assert features.shape == (2000, width) and features.dtype == np.float32
        assert np.isfinite(features).all()
        if labels is not None:
            np.testing.assert_array_equal(y, labels)
        labels = y
    # 200 digits of each class, in blocks of 200 (the UCI order)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 200))


def test_pairs_and_fixed_split(mfeat_dir: Path) -> None:
    pairs = load_mfeat(mfeat_dir, "pix", "fou")
    assert (pairs.image.shape, pairs.text.shape) == ((2000, 240), (2000, 76))
    pool, test = mfeat_splits(pairs)
    assert (len(pool), len(test)) == (1500, 500)
    np.testing.assert_array_equal(np.bincount(test.labels), np.full(10, 50))
    # the split is fixed (part of the benchmark) and disjoint: the test rows' features are not in the pool
    again = mfeat_splits(load_mfeat(mfeat_dir, "pix", "fou"))[1]
    np.testing.assert_array_equal(again.image, test.image)
    # together they are the 2,000 digits (compared as sorted rows: the data holds a few duplicate digits)
    joined = np.sort(np.column_stack([np.r_[pool.image, test.image], np.r_[pool.text, test.text]]), axis=0)
    np.testing.assert_array_equal(joined, np.sort(np.column_stack([pairs.image, pairs.text]), axis=0))
    with pytest.raises(ConfigError, match="two different views"):
        load_mfeat(mfeat_dir, "pix", "pix")
    with pytest.raises(ConfigError, match="unknown mfeat view 'abc'"):
        load_mfeat_view(mfeat_dir, "abc")


def test_format_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="mfeat-pix.csv: no such file"):
        load_mfeat_view(tmp_path, "pix")
    bad = tmp_path / "mfeat-mor.csv"
    rows = np.column_stack([np.ones((2000, 6)), np.repeat(np.arange(10), 200)])
    np.savetxt(bad, rows[:1999], delimiter=",", header="h", comments="")
    with pytest.raises(DataFormatError, match=r"mfeat-mor.csv: shape \(1999, 7\)"):
        load_mfeat_view(tmp_path, "mor")
    rows[5, 2] = np.nan
    np.savetxt(bad, rows, delimiter=",", header="h", comments="")
    with pytest.raises(DataFormatError, match="NaN"):
        load_mfeat_view(tmp_path, "mor")
    rows[5, 2] = 0.0
    rows[7, -1] = 12
    np.savetxt(bad, rows, delimiter=",", header="h", comments="")
    with pytest.raises(DataFormatError, match="digits 0..9"):
        load_mfeat_view(tmp_path, "mor")
