"""The Wikipedia SIFT/LDA set: the real file, the standard split, stratified validation, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from workbench.data.wikipedia import (
    WIKIPEDIA_CLASSES,
    LabelledPairs,
    load_wikipedia,
    stratified_indices,
    stratified_split,
)
from workbench.errors import ConfigError, DataFormatError


@pytest.fixture(scope="module")
def wiki_path(mirror: Path) -> Path:
    return mirror / "wikipedia_sift_lda" / "Wiki_fea.mat"


def test_real_file_standard_split(wiki_path: Path) -> None:
    train, test = load_wikipedia(wiki_path, "train"), load_wikipedia(wiki_path, "test")
    assert (len(train), len(test)) == (2173, 693)
    assert train.image.shape == (2173, 128) and train.text.shape == (2173, 10)
    assert train.image.dtype == np.float32 and train.labels.dtype == np.int64
    assert train.class_names == WIKIPEDIA_CLASSES == test.class_names
    assert set(np.unique(train.labels)) == set(range(10)) == set(np.unique(test.labels))
    # both views are normalised histograms (bag of visual words, LDA topic proportions)
    np.testing.assert_allclose(train.text.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(train.image.sum(axis=1), 1.0, atol=1e-4)


def test_test_split_equals_the_separate_test_file(mirror: Path, wiki_path: Path) -> None:
    test = load_wikipedia(wiki_path, "test")
    other = scipy.io.loadmat(mirror / "wikipedia_sift_lda" / "WikipediaArticles.mat")
    views = {v.shape[1]: v for v in other["X"].reshape(-1)}
    np.testing.assert_allclose(test.image, views[128], rtol=1e-6)
    np.testing.assert_allclose(test.text, views[10], rtol=1e-6)
    np.testing.assert_array_equal(test.labels, other["Y"].reshape(-1) - 1)


def test_stratified_split(wiki_path: Path) -> None:
    train = load_wikipedia(wiki_path, "train")
    fit, val = stratified_split(train, fraction=0.1, seed=0)
    assert (len(fit), len(val), fit.split, val.split) == (1956, 217, "train", "val")
    counts = np.bincount(train.labels, minlength=10)
    np.testing.assert_array_equal(np.bincount(val.labels, minlength=10), np.floor(0.1 * counts + 0.5))
    keep, held = stratified_indices(train.labels, fraction=0.1, seed=0)
    assert not set(keep) & set(held) and len(keep) + len(held) == 2173
    np.testing.assert_array_equal(val.image, train.image[held])
    np.testing.assert_array_equal(fit.labels, train.labels[keep])
    np.testing.assert_array_equal(stratified_indices(train.labels, 0.1, seed=0)[1], held)
    assert not np.array_equal(stratified_indices(train.labels, 0.1, seed=1)[1], held)
    with pytest.raises(ConfigError, match="fraction 1.0 must lie strictly between 0 and 1"):
        stratified_split(train, fraction=1.0)


def test_subset_keeps_rows_aligned() -> None:
    pairs = LabelledPairs(np.arange(6.0)[:, None], -np.arange(6.0)[:, None], np.arange(6), ("a",) * 6, "all")
    sub = pairs.subset(np.array([4, 1]), "x")
    np.testing.assert_array_equal(sub.image[:, 0], -sub.text[:, 0])
    np.testing.assert_array_equal(sub.labels, [4, 1])


def _save(tmp_path: Path, **variables: np.ndarray) -> Path:
    path = tmp_path / "wiki.mat"
    scipy.io.savemat(path, variables)
    return path


def _cell(*views: np.ndarray) -> np.ndarray:
    cell = np.empty((len(views), 1), dtype=object)
    for i, view in enumerate(views):
        cell[i, 0] = view
    return cell


def test_views_of_wrong_width(tmp_path: Path) -> None:
    path = _save(tmp_path, X=_cell(np.zeros((2866, 128)), np.zeros((2866, 12))), Y=np.ones((2866, 1)))
    with pytest.raises(
        DataFormatError, match=r"wiki\.mat: X holds views of shapes .*\(2866, 12\).*widths 128"
    ):
        load_wikipedia(path)


def test_row_counts_and_labels(tmp_path: Path) -> None:
    path = _save(tmp_path, X=_cell(np.zeros((10, 128)), np.zeros((10, 10))), Y=np.ones((10, 1)))
    with pytest.raises(
        DataFormatError, match=r"wiki\.mat: 10 image rows, 10 text rows and 10 labels; expected 2866"
    ):
        load_wikipedia(path)
    labels = np.ones((2866, 1))
    labels[5] = 11
    path = _save(tmp_path, X=_cell(np.zeros((2866, 10)), np.zeros((2866, 128))), Y=labels)
    with pytest.raises(
        DataFormatError, match=r"wiki\.mat: labels Y must be integers 1\.\.10, found range \[1\.0, 11\.0\]"
    ):
        load_wikipedia(path)


def test_missing_variables_and_unknown_split(tmp_path: Path, wiki_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"wiki\.mat: missing variable\(s\) \['Y'\]"):
        load_wikipedia(_save(tmp_path, X=_cell(np.zeros((3, 128)), np.zeros((3, 10)))))
    with pytest.raises(ConfigError, match="unknown Wikipedia split 'val'"):
        load_wikipedia(wiki_path, "val")  # type: ignore[arg-type]


def test_matlab_v73_and_garbage_files(tmp_path: Path) -> None:
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    )
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(header + b"\0" * 512)
    with pytest.raises(DataFormatError, match=r"v73\.mat is a MATLAB v7\.3 \(HDF5\) file"):
        load_wikipedia(v73)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"\x01\x02" * 10)
    with pytest.raises(DataFormatError, match=r"cannot read .*junk\.mat as a MATLAB v5 file"):
        load_wikipedia(junk)
