"""A user's own labelled pairs: two feature matrices and class labels, with an optional split.

Accepted layouts (``path`` is the file or the directory):

* ``.npz`` (NumPy) or ``.mat`` (MATLAB v5) file with the arrays ``image`` ``[n, d_img]``, ``text``
  ``[n, d_txt]``, ``labels`` ``[n]`` (or ``[n, 1]``), and optionally ``split`` ``[n]`` and ``class_names``
  ``[C]``;
* a directory holding ``image.npy``, ``text.npy``, ``labels.npy`` and optionally ``split.npy``.

Row ``i`` of ``image`` and ``text`` is one pair of class ``labels[i]``. Labels are integers ``0..C-1`` with
``C = len(class_names)`` when names are given, else ``max(labels) + 1``; every class must occur among the
training pairs. ``split`` marks each row ``train`` / ``val`` / ``test`` (strings, or the codes 0 / 1 / 2);
without it a class-stratified quarter of the rows (seed 0) is the test set and the rest is training. A
split without validation rows leaves validation to the caller (the label track carves it from train).

Everything is checked before use, and each error names the file, the array and the offending value: row
counts that differ, features that are not 2-D, non-finite features (NaN / inf), labels that are not
integers or fall outside ``0..C-1``, classes absent from training, unknown split values, a split without
training or test rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.wikipedia import LabelledPairs, stratified_indices
from workbench.errors import DataFormatError

__all__ = ["USER_SPLIT_CODES", "UserSplits", "load_user_pairs"]

#: accepted split values -> split name.
USER_SPLIT_CODES: dict[Any, str] = {0: "train", 1: "val", 2: "test", "train": "train", "val": "val",
                                    "valid": "val", "validation": "val", "test": "test"}
_TEST_FRACTION = 0.25
_SPLIT_SEED = 0


@dataclass(frozen=True)
class UserSplits:
    """Train, validation (``None`` when the split names none) and test pairs of a user's file."""

    train: LabelledPairs
    val: LabelledPairs | None
    test: LabelledPairs


def _read(path: Path) -> tuple[dict[str, Any], str]:
    """The arrays of ``path`` by name, and how to name their origin in messages."""
    if path.is_dir():
        arrays = {}
        for name in ("image", "text", "labels", "split"):
            file = path / f"{name}.npy"
            if file.is_file():
                try:
                    arrays[name] = np.load(file, allow_pickle=False)
                except (OSError, ValueError) as exc:
                    raise DataFormatError(f"{file}: not a readable .npy array: {exc}") from None
        return arrays, f"{path}/<name>.npy"
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file or directory (expected a .npz / .mat file or a directory of "
                              "image.npy, text.npy, labels.npy)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}, str(path)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{path}: not a readable .npz archive: {exc}") from None
    if suffix == ".mat":
        import scipy.io

        try:
            mat = scipy.io.loadmat(path, squeeze_me=False)
        except NotImplementedError:
            raise DataFormatError(f"{path} is a MATLAB v7.3 (HDF5) file; re-save it as v5 (save -v7)") from None
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise DataFormatError(f"cannot read {path} as a MATLAB v5 file: {exc!r}") from None
        return {k: v for k, v in mat.items() if not k.startswith("__")}, str(path)
    raise DataFormatError(f"{path}: unsupported file type {suffix!r}; expected .npz, .mat or a directory of .npy")


def _features(origin: str, name: str, raw: Any) -> np.ndarray:
    array = np.asarray(raw)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataFormatError(f"{origin}: {name} has shape {array.shape}; expected a 2-D [n, d] feature matrix")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataFormatError(f"{origin}: {name} has dtype {array.dtype}; expected real numbers")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataFormatError(f"{origin}: {name} holds {int(bad.sum())} NaN or infinite value(s) (first at row "
                              f"{row}, column {col}: {array[row, col]})")
    return array.astype(np.float32)


def _vector(origin: str, name: str, raw: Any) -> np.ndarray:
    array = np.asarray(raw)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise DataFormatError(f"{origin}: {name} has shape {array.shape}; expected one value per row")
    return array


def _labels(origin: str, raw: Any) -> np.ndarray:
    labels = _vector(origin, "labels", raw)
    if not np.issubdtype(labels.dtype, np.number):
        raise DataFormatError(f"{origin}: labels have dtype {labels.dtype}; expected integer class ids 0..C-1")
    finite = np.isfinite(labels.astype(np.float64))
    if not finite.all() or (labels != np.round(labels)).any():
        row = int(np.flatnonzero(~finite | (labels != np.round(labels)))[0])
        raise DataFormatError(f"{origin}: labels must be integer class ids; row {row} holds {labels[row]}")
    return labels.astype(np.int64)


def _class_names(origin: str, raw: Any) -> tuple[str, ...]:
    names = np.asarray(raw, dtype=object).reshape(-1)
    return tuple(str(np.asarray(n).reshape(-1)[0]) if np.asarray(n).size else "" for n in names)


def _split(origin: str, raw: Any, n: int) -> np.ndarray:
    values = _vector(origin, "split", raw)
    if len(values) != n:
        raise DataFormatError(f"{origin}: split has {len(values)} entries for {n} pairs")
    out = np.empty(n, dtype=object)
    for i, value in enumerate(values.tolist()):
        key = value.strip().lower() if isinstance(value, str) else value
        if isinstance(key, float) and key == int(key):
            key = int(key)
        if key not in USER_SPLIT_CODES:
            raise DataFormatError(f"{origin}: split row {i} is {value!r}; expected train/val/test or 0/1/2")
        out[i] = USER_SPLIT_CODES[key]
    return out


def load_user_pairs(path: str | os.PathLike[str]) -> UserSplits:
    """Read and check a user's labelled pairs (layouts and checks in the module docstring).

    Raises:
        DataFormatError: a missing file or array, or any failed check; the message names the file, the
            array and the value.
    """
    path = Path(path).expanduser()
    arrays, origin = _read(path)
    missing = [k for k in ("image", "text", "labels") if k not in arrays]
    if missing:
        raise DataFormatError(f"{origin}: missing array(s) {missing}; expected image [n, d_img], text [n, d_txt], "
                              f"labels [n] (optional: split [n], class_names [C]); found {sorted(arrays)}")
    image = _features(origin, "image", arrays["image"])
    text = _features(origin, "text", arrays["text"])
    labels = _labels(origin, arrays["labels"])
    if not len(image) == len(text) == len(labels):
        raise DataFormatError(f"{origin}: image has {len(image)} rows, text {len(text)} and labels {len(labels)}; "
                              "expected one row per pair in each")
    if "class_names" in arrays:
        names = _class_names(origin, arrays["class_names"])
    else:
        names = tuple(f"class {c}" for c in range(int(labels.max()) + 1 if len(labels) else 0))
    n_classes = len(names)
    outside = (labels < 0) | (labels >= n_classes)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataFormatError(f"{origin}: label {labels[row]} at row {row} is out of range: labels must lie in "
                              f"0..{n_classes - 1} ({n_classes} classes)")
    split = _split(origin, arrays["split"], len(labels)) if "split" in arrays else None
    pairs = LabelledPairs(image, text, labels, names, "all")
    if split is None:
        train_rows, test_rows = stratified_indices(labels, _TEST_FRACTION, _SPLIT_SEED)
        val_rows = np.zeros(0, dtype=np.int64)
    else:
        train_rows, val_rows, test_rows = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
        for name, rows in (("train", train_rows), ("test", test_rows)):
            if len(rows) == 0:
                raise DataFormatError(f"{origin}: split marks no {name} rows")
    absent = np.setdiff1d(np.arange(n_classes), labels[train_rows])
    if len(absent):
        hint = " (1-based labels? subtract 1)" if absent.tolist() == [0] else ""
        raise DataFormatError(f"{origin}: class(es) {absent.tolist()} have no training pair{hint}; labels must be "
                              f"0..{n_classes - 1} with every class among the training rows")
    return UserSplits(pairs.subset(train_rows, "train"), pairs.subset(val_rows, "val") if len(val_rows) else None,
                      pairs.subset(test_rows, "test"))
