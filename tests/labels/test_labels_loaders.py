"""Readers of the papers' feature files, on small files written here in each layout.

HDF5: with h5py installed the files are real HDF5; without it (the default environment) the layout logic is
exercised through a stand-in ``h5py`` module that serves ``.npz`` contents, and the missing-h5py error is
checked on its own.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from workbench.errors import ConfigError, DataFormatError
from workbench.labels.loaders import load_paper_dataset


class _NpzAsH5:
    """The slice of ``h5py.File`` the loaders use: ``in``, ``[key][()]``, context manager."""

    def __init__(self, path: Path, mode: str) -> None:
        assert mode == "r"
        with np.load(path) as npz:
            self.data = {k: npz[k] for k in npz.files}

    def __enter__(self) -> _NpzAsH5:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def __getitem__(self, key: str) -> np.ndarray:
        return self.data[key]


@pytest.fixture
def h5(monkeypatch: pytest.MonkeyPatch):
    """``write(path, arrays)`` writing an HDF5 file (real h5py when installed, else the stand-in)."""
    try:
        import h5py
    except ImportError:
        monkeypatch.setitem(sys.modules, "h5py", types.SimpleNamespace(File=_NpzAsH5))

        def write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
            with open(path, "wb") as fh:
                np.savez(fh, **arrays)
            return path
    else:
        def write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
            with h5py.File(path, "w") as f:
                for key, value in arrays.items():
                    f[key] = value
            return path
    return write


def _split(rng: np.random.Generator, prefix: str, n: int, *, text_key: str = "text", base: int = 1,
           label_shape: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    labels = rng.integers(0, 5, n) + base
    return {f"{prefix}_imgs_deep": rng.normal(size=(n, 6)), f"{prefix}_{text_key}": rng.normal(size=(n, 3)),
            f"{prefix}_imgs_labels": labels.reshape((n, *label_shape)),
            f"{prefix}_texts_labels": labels.reshape((n, *label_shape))}


def test_wikipedia_vgg_takes_validation_from_the_head_of_test(tmp_path: Path, h5, rng: np.random.Generator) -> None:
    arrays = {**_split(rng, "train", 20, text_key="texts"), **_split(rng, "test", 240, label_shape=(1,))}
    arrays["train_imgs_labels"][0] = arrays["train_texts_labels"][0] = 1  # the training minimum is 1
    path = h5(tmp_path / "wiki_deep_doc2vec_data_corr_ae.h5py", arrays)
    splits = load_paper_dataset("wikipedia-vgg", tmp_path)  # a directory: the usual file name is used
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 231, 9)
    np.testing.assert_allclose(splits.val.image, arrays["test_imgs_deep"][:231].astype(np.float32))
    np.testing.assert_allclose(splits.test.text, arrays["test_text"][231:].astype(np.float32))
    np.testing.assert_array_equal(splits.train.labels, arrays["train_imgs_labels"] - 1)  # shifted to start at 0
    np.testing.assert_array_equal(splits.test.labels, arrays["test_imgs_labels"].reshape(-1)[231:] - 1)
    assert splits.train.image.dtype == np.float32
    assert load_paper_dataset("wikipedia-vgg", path).train.labels.min() == 0


def test_xmedianet_reads_its_valid_split(tmp_path: Path, h5, rng: np.random.Generator) -> None:
    arrays = {**_split(rng, "train", 15, base=0), **_split(rng, "valid", 7, base=0), **_split(rng, "test", 9, base=0)}
    arrays["train_imgs_labels"][0] = arrays["train_texts_labels"][0] = 0
    splits = load_paper_dataset("xmedianet", h5(tmp_path / "x.h5py", arrays))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (15, 7, 9)
    np.testing.assert_array_equal(splits.val.labels, arrays["valid_imgs_labels"])


def test_hdf5_layout_errors(tmp_path: Path, h5, rng: np.random.Generator) -> None:
    arrays = {**_split(rng, "train", 15), **_split(rng, "test", 9)}
    del arrays["test_imgs_deep"]
    with pytest.raises(DataFormatError, match=r"missing HDF5 dataset\(s\) \['test_imgs_deep'\]"):
        load_paper_dataset("xmedianet", h5(tmp_path / "a.h5py", {**arrays, **_split(rng, "valid", 3)}))
    arrays = {**_split(rng, "train", 15), **_split(rng, "test", 9), **_split(rng, "valid", 3)}
    arrays["train_texts_labels"] = arrays["train_texts_labels"] % 5 + 1  # no longer the image labels
    with pytest.raises(DataFormatError, match="train image and text labels disagree"):
        load_paper_dataset("xmedianet", h5(tmp_path / "b.h5py", arrays))
    short = {**_split(rng, "train", 15), **_split(rng, "test", 100)}
    with pytest.raises(DataFormatError, match="first 231 for validation"):
        load_paper_dataset("wikipedia-vgg", h5(tmp_path / "c.h5py", short))


def test_missing_h5py_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nus_wide_deep_doc2vec_data_42941.h5py"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(ConfigError, match="needs h5py, which is not installed: pip install h5py"):
        load_paper_dataset("nus-wide", path)


def test_inria_mat(tmp_path: Path, rng: np.random.Generator) -> None:
    mat = {}
    for prefix, n in (("tr", 12), ("val", 4), ("te", 5)):
        labels = rng.integers(1, 4, (n, 1))
        labels[0] = 1
        mat.update({f"{prefix}_img": rng.normal(size=(n, 8)), f"{prefix}_txt": rng.normal(size=(n, 2)),
                    f"{prefix}_img_lab": labels, f"{prefix}_txt_lab": labels})
    scipy.io.savemat(tmp_path / "INRIA-Websearch.mat", mat)
    splits = load_paper_dataset("inria", tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 4, 5)
    np.testing.assert_array_equal(splits.val.labels, mat["val_img_lab"].reshape(-1) - 1)
    np.testing.assert_allclose(splits.test.image, mat["te_img"].astype(np.float32))
    del mat["val_txt"]
    scipy.io.savemat(tmp_path / "broken.mat", mat)
    with pytest.raises(DataFormatError, match=r"broken.mat: missing variable\(s\) \['val_txt'\]"):
        load_paper_dataset("inria", tmp_path / "broken.mat")


def test_xmedianet5view_cells(tmp_path: Path, rng: np.random.Generator) -> None:
    mat = {}
    for split, n in (("train", 10), ("valid", 3), ("test", 4)):
        labels = rng.integers(0, 3, (n, 1))
        labels[0] = 0
        views = np.empty((1, 3), dtype=object)
        views[0, 0], views[0, 1], views[0, 2] = rng.normal(size=(n, 5)), rng.normal(size=(n, 2)), rng.normal(size=(n, 1))
        label_cells = np.empty((1, 3), dtype=object)
        for v in range(3):
            label_cells[0, v] = labels
        mat[split], mat[f"{split}_labels"] = views, label_cells
    scipy.io.savemat(tmp_path / "XMediaNet5View_Doc2Vec.mat", mat)
    splits = load_paper_dataset("xmedianet5view", tmp_path / "XMediaNet5View_Doc2Vec.mat")
    assert splits.train.image.shape == (10, 5) and splits.train.text.shape == (10, 2)  # view 0 image, 1 text
    np.testing.assert_allclose(splits.val.text, mat["valid"][0, 1].astype(np.float32))


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown paper dataset 'pascal'"):
        load_paper_dataset("pascal", tmp_path)
    with pytest.raises(DataFormatError, match="usually named INRIA-Websearch.mat"):
        load_paper_dataset("inria", tmp_path)
    v73 = tmp_path / "v73.mat"  # a MATLAB 7.3 header: scipy refuses it, the message says what to do
    v73.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM" + b"\x00" * 64)
    with pytest.raises(DataFormatError, match="v7.3"):
        load_paper_dataset("inria", v73)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all")
    with pytest.raises(DataFormatError, match="junk.mat"):
        load_paper_dataset("inria", junk)
