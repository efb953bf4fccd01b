"""Readers of the noisy-label papers' feature files (MRL and its successors), for users who have them.

None of these files can be redistributed here; the layouts are the ones
MRL's ``src/noisydataset.py`` reads ([V]):

==================  =====================================================  ==================================
name                file                                                   validation
==================  =====================================================  ==================================
``wikipedia-vgg``   ``wiki_deep_doc2vec_data_corr_ae.h5py`` (HDF5)          first 231 test pairs
``nus-wide``        ``nus_wide_deep_doc2vec_data_42941.h5py`` (HDF5)        first 5,000 test pairs
``xmedianet``       ``xmedianet_deep_doc2vec_data.h5py`` (HDF5)             its ``valid_*`` datasets
``inria``           ``INRIA-Websearch.mat`` (MATLAB v5)                     its ``val_*`` variables
``xmedianet5view``  ``XMediaNet5View_Doc2Vec.mat`` (MATLAB v5)              its ``valid`` cells
==================  =====================================================  ==================================

HDF5 layout: ``{split}_imgs_deep`` ``[n, d_img]``, ``{split}_imgs_labels`` ``[n]`` (or ``[n, 1]``),
``{split}_text`` or ``{split}_texts`` ``[n, d_txt]``, ``{split}_texts_labels``, for ``split`` in ``train``,
``test`` (and ``valid``). INRIA: ``tr_img``, ``tr_txt``, ``tr_img_lab``, ``tr_txt_lab`` and ``val_*``,
``te_*``. XMediaNet 5-view: cell arrays ``train``, ``valid``, ``test`` and ``{split}_labels`` with one cell
per view, view 0 the image and view 1 the text. Labels are shifted so that their minimum is 0 (as MRL does,
per split, which assumes every class occurs in every split; here the shift is the training minimum for all
splits). Image and text labels of a pair must agree: the workbench treats the data as labelled pairs.

HDF5 files need ``h5py``, which is optional (install ``h5py``, or the extra the project names for it);
without it these loaders raise a :class:`~workbench.errors.ConfigError` saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.wikipedia import LabelledPairs
from workbench.errors import ConfigError, DataFormatError

__all__ = ["PAPER_DATASETS", "PaperSplits", "load_paper_dataset", "H5PY_HINT"]

H5PY_HINT = "pip install h5py (the 'hdf5' extra: pip install 'workbench[hdf5]')"


@dataclass(frozen=True)
class PaperSplits:
    """Train, validation and test pairs of a paper's dataset (``val`` None when the file has none)."""

    train: LabelledPairs
    val: LabelledPairs | None
    test: LabelledPairs


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ConfigError(f"reading the papers' HDF5 feature files needs h5py, which is not installed: "
                          f"{H5PY_HINT}") from None
    return h5py


def _labels(path: Path, key: str, raw: Any) -> np.ndarray:
    labels = np.asarray(raw)
    if labels.ndim == 2 and 1 in labels.shape:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        raise DataFormatError(f"{path}: {key} has shape {labels.shape}; expected one class id per row")
    if not np.all(np.isfinite(labels)) or (labels != np.round(labels)).any():
        raise DataFormatError(f"{path}: {key} holds non-integer class ids")
    return labels.astype(np.int64)


def _features(path: Path, key: str, raw: Any) -> np.ndarray:
    array = np.asarray(raw)
    if array.ndim != 2 or array.shape[0] == 0:
        raise DataFormatError(f"{path}: {key} has shape {array.shape}; expected a 2-D [n, d] feature matrix")
    return array.astype(np.float32)


def _pairs(path: Path, split: str, names: tuple[str, str, str, str], image: Any, text: Any, image_labels: Any,
           text_labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    img, txt = _features(path, names[0], image), _features(path, names[1], text)
    y_img, y_txt = _labels(path, names[2], image_labels), _labels(path, names[3], text_labels)
    if not (len(img) == len(txt) == len(y_img) == len(y_txt)):
        raise DataFormatError(f"{path}: {split} has {len(img)} images, {len(txt)} texts, {len(y_img)} image "
                              f"labels and {len(y_txt)} text labels; expected equal counts (pairs)")
    if not np.array_equal(y_img, y_txt):
        rows = np.flatnonzero(y_img != y_txt)
        raise DataFormatError(f"{path}: {split} image and text labels disagree at {len(rows)} rows (first "
                              f"{rows[0]}); expected one label per pair")
    return img, txt, y_img


def _finish(path: Path, parts: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PaperSplits:
    shift = int(parts["train"][2].min())
    n_classes = int(max(p[2].max() for p in parts.values())) - shift + 1
    names = tuple(f"class {c}" for c in range(n_classes))
    out: dict[str, LabelledPairs] = {}
    for split, (img, txt, y) in parts.items():
        if y.min() < shift:
            raise DataFormatError(f"{path}: {split} labels go down to {y.min()}, below the training minimum {shift}")
        if img.shape[1] != parts["train"][0].shape[1] or txt.shape[1] != parts["train"][1].shape[1]:
            raise DataFormatError(f"{path}: {split} features have widths {img.shape[1]}/{txt.shape[1]}; "
                                  f"training has {parts['train'][0].shape[1]}/{parts['train'][1].shape[1]}")
        out[split] = LabelledPairs(img, txt, y - shift, names, split)
    return PaperSplits(out["train"], out.get("val"), out["test"])


def _h5_split(path: Path, h5: Any, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    text_key = f"{split}_text" if f"{split}_text" in h5 else f"{split}_texts"
    keys = (f"{split}_imgs_deep", text_key, f"{split}_imgs_labels", f"{split}_texts_labels")
    missing = [k for k in keys if k not in h5]
    if missing:
        raise DataFormatError(f"{path}: missing HDF5 dataset(s) {missing}; expected {list(keys)} "
                              f"({text_key} may also be spelled {split}_text)")
    return _pairs(path, split, keys, *(h5[k][()] for k in keys))


def _h5_loader(valid_len: int | None) -> Callable[[Path], PaperSplits]:
    """A reader of MRL's HDF5 layout; ``valid_len`` takes validation from the head of test, else ``valid_*``."""

    def load(path: Path) -> PaperSplits:
        h5py = _h5py()
        try:
            h5 = h5py.File(path, "r")
        except OSError as exc:
            raise DataFormatError(f"cannot read {path} as an HDF5 file: {exc}") from None
        with h5:
            train, test = _h5_split(path, h5, "train"), _h5_split(path, h5, "test")
            if valid_len is None:
                val = _h5_split(path, h5, "valid")
            else:
                if len(test[0]) <= valid_len:
                    raise DataFormatError(f"{path}: {len(test[0])} test pairs; the protocol takes the first "
                                          f"{valid_len} for validation and needs more")
                val = tuple(a[:valid_len] for a in test)
                test = tuple(a[valid_len:] for a in test)
        return _finish(path, {"train": train, "val": val, "test": test})  # type: ignore[dict-item]

    return load


def _loadmat(path: Path) -> dict[str, Any]:
    import scipy.io  # deferred: only these loaders need it

    try:
        return scipy.io.loadmat(path)
    except NotImplementedError:
        raise DataFormatError(f"{path} is a MATLAB v7.3 (HDF5) file; re-save it as v5 (save -v7) to read it here") \
            from None
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise DataFormatError(f"cannot read {path} as a MATLAB v5 file: {exc!r}") from None


def _load_inria(path: Path) -> PaperSplits:
    mat = _loadmat(path)
    parts = {}
    for split, prefix in (("train", "tr"), ("val", "val"), ("test", "te")):
        keys = (f"{prefix}_img", f"{prefix}_txt", f"{prefix}_img_lab", f"{prefix}_txt_lab")
        missing = [k for k in keys if k not in mat]
        if missing:
            raise DataFormatError(f"{path}: missing variable(s) {missing}; expected {list(keys)}")
        parts[split] = _pairs(path, split, keys, *(mat[k] for k in keys))
    return _finish(path, parts)


def _cell(path: Path, mat: Mapping[str, Any], key: str) -> list[Any]:
    if key not in mat:
        raise DataFormatError(f"{path}: missing variable {key!r}; expected cell arrays train/valid/test and "
                              "train_labels/valid_labels/test_labels")
    cells = list(np.asarray(mat[key], dtype=object).reshape(-1))
    if len(cells) < 2:
        raise DataFormatError(f"{path}: {key} holds {len(cells)} view(s); expected at least 2 (image, text)")
    return cells


def _load_xmedianet5view(path: Path) -> PaperSplits:
    mat = _loadmat(path)
    parts = {}
    for split, key in (("train", "train"), ("val", "valid"), ("test", "test")):
        views, labels = _cell(path, mat, key), _cell(path, mat, f"{key}_labels")
        parts[split] = _pairs(path, split, (f"{key}{{1}}", f"{key}{{2}}", f"{key}_labels{{1}}",
                                            f"{key}_labels{{2}}"), views[0], views[1], labels[0], labels[1])
    return _finish(path, parts)


#: name -> (usual file name, reader).
PAPER_DATASETS: dict[str, tuple[str, Callable[[Path], PaperSplits]]] = {
    "wikipedia-vgg": ("wiki_deep_doc2vec_data_corr_ae.h5py", _h5_loader(231)),
    "nus-wide": ("nus_wide_deep_doc2vec_data_42941.h5py", _h5_loader(5000)),
    "xmedianet": ("xmedianet_deep_doc2vec_data.h5py", _h5_loader(None)),
    "inria": ("INRIA-Websearch.mat", _load_inria),
    "xmedianet5view": ("XMediaNet5View_Doc2Vec.mat", _load_xmedianet5view),
}


def load_paper_dataset(name: str, path: str | os.PathLike[str]) -> PaperSplits:
    """Read one of the papers' files (see the module docstring for names and layouts).

    Args:
        name: a key of :data:`PAPER_DATASETS`.
        path: the file, or a directory holding it under its usual name.

    Raises:
        ConfigError: unknown name; h5py missing for an HDF5 file.
        DataFormatError: a missing file or key, wrong shapes, pairs whose labels disagree. Messages name
            the file.
    """
    if name not in PAPER_DATASETS:
        raise ConfigError(f"unknown paper dataset {name!r}; expected one of {', '.join(PAPER_DATASETS)}")
    filename, reader = PAPER_DATASETS[name]
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / filename
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file (the {name} features, usually named {filename}); "
                              "data_cards/wikipedia.md says where to get such files")
    return reader(path)
