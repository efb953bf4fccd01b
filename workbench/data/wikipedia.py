"""The Wikipedia cross-modal dataset (Rasiwasia et al., 2010) with SIFT / LDA features.

File ``Wiki_fea.mat`` (MATLAB v5; entry ``wikipedia`` of the registry):

* ``X``: a 2 x 1 cell of views, ``(2866, 128)`` SIFT bag-of-visual-words image histograms and
  ``(2866, 10)`` LDA text-topic proportions. The file's ``view_meaning`` lists the views in the wrong
  order, so the views are told apart by their widths (128 = image, 10 = text).
* ``Y``: ``(2866, 1)`` labels 1..10 (stored here as 0..9), ``class_meaning`` their names: art, biology,
  geography, history, literature, media, music, royalty, sport, warfare.

Standard split: rows 0..2172 train (2,173 pairs), rows 2173..2865 test (693 pairs). A validation set
is carved from train by :func:`stratified_split` (10 % per class by default: 217 pairs, leaving 1,956).
Features are returned as float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from workbench.errors import ConfigError, DataFormatError

__all__ = [
    "WIKIPEDIA_CLASSES",
    "WIKIPEDIA_TRAIN_ROWS",
    "LabelledPairs",
    "load_wikipedia",
    "stratified_split",
    "stratified_indices",
]

WIKIPEDIA_CLASSES: tuple[str, ...] = (
    "art", "biology", "geography", "history", "literature",
    "media", "music", "royalty", "sport", "warfare",
)  # fmt: skip
WIKIPEDIA_TRAIN_ROWS = 2173
_N_ROWS = 2866
_IMAGE_DIM, _TEXT_DIM = 128, 10


@dataclass(frozen=True, eq=False)
class LabelledPairs:
    """A labelled two-modality set: row ``i`` of both views is one image-text pair of class ``labels[i]``.

    Attributes:
        image: ``[n, d_img]`` float32 image features.
        text: ``[n, d_txt]`` float32 text features.
        labels: ``[n]`` int64 class ids in ``[0, len(class_names))``.
        class_names: names of the classes.
        split: split name (``"train"``, ``"val"``, ``"test"``, ``"all"``).
    """

    image: np.ndarray
    text: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    split: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray, split: str) -> LabelledPairs:
        """The pairs at ``rows`` (``[m]`` indices), renamed ``split``."""
        return LabelledPairs(self.image[rows], self.text[rows], self.labels[rows], self.class_names, split)


def load_wikipedia(
    path: str | os.PathLike[str], split: Literal["train", "test", "all"] = "train"
) -> LabelledPairs:
    """Read ``Wiki_fea.mat`` and return one split.

    Args:
        path: the ``.mat`` file.
        split: ``"train"`` (rows 0..2172), ``"test"`` (2173..2865) or ``"all"``.

    Raises:
        DataFormatError: not a readable MATLAB v5 file (v7.3/HDF5 is named as such), missing
            ``X``/``Y``, views not of widths 128 and 10, row counts that disagree or differ from
            2,866, or labels outside 1..10. Every message names the file.
        ConfigError: unknown split.
    """
    import scipy.io  # deferred: scipy.io costs ~0.3 s to import and only this loader needs it

    if split not in ("train", "test", "all"):
        raise ConfigError(f"unknown Wikipedia split {split!r}; expected 'train', 'test' or 'all'")
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError as exc:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataFormatError(
            f"{path} is a MATLAB v7.3 (HDF5) file; re-save it as v5 (save -v7) to read it here"
        ) from exc
    except (OSError, ValueError, TypeError, IndexError) as exc:  # IndexError: scipy on a short header
        raise DataFormatError(f"cannot read {path} as a MATLAB v5 file: {exc!r}") from exc
    missing = {"X", "Y"} - mat.keys()
    if missing:
        raise DataFormatError(f"{path}: missing variable(s) {sorted(missing)}; expected cell X and labels Y")
    image, text = _views(path, mat["X"])
    labels = np.asarray(mat["Y"]).reshape(-1)
    if not (len(image) == len(text) == len(labels) == _N_ROWS):
        raise DataFormatError(
            f"{path}: {len(image)} image rows, {len(text)} text rows and {len(labels)} labels; "
            f"expected {_N_ROWS} of each (the standard Wikipedia set)"
        )
    if labels.min() < 1 or labels.max() > len(WIKIPEDIA_CLASSES) or (labels != np.round(labels)).any():
        raise DataFormatError(
            f"{path}: labels Y must be integers 1..{len(WIKIPEDIA_CLASSES)}, found range "
            f"[{labels.min()}, {labels.max()}]"
        )
    pairs = LabelledPairs(
        image=image.astype(np.float32),
        text=text.astype(np.float32),
        labels=labels.astype(np.int64) - 1,
        class_names=_class_names(path, mat),
        split="all",
    )
    if split == "all":
        return pairs
    rows = np.arange(_N_ROWS)
    mask = rows < WIKIPEDIA_TRAIN_ROWS if split == "train" else rows >= WIKIPEDIA_TRAIN_ROWS
    return pairs.subset(rows[mask], split)


def stratified_split(
    pairs: LabelledPairs, fraction: float = 0.1, seed: int = 0
) -> tuple[LabelledPairs, LabelledPairs]:
    """Split off a class-stratified validation set (see :func:`stratified_indices`).

    On the Wikipedia train split, 10 % gives 217 validation and 1,956 training pairs.

    Returns:
        ``(train, val)`` with splits named ``"train"`` and ``"val"``, both in the original row order.
    """
    keep, val = stratified_indices(pairs.labels, fraction, seed)
    return pairs.subset(keep, "train"), pairs.subset(val, "val")


def stratified_indices(
    labels: np.ndarray, fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a class-stratified split of ``labels`` ``[n]``.

    From each class with ``n_c`` rows, ``round(fraction * n_c)`` (half up) rows drawn with
    ``numpy.random.default_rng(seed)`` go to validation.

    Args:
        labels: ``[n]`` integer class ids.
        fraction: validation share per class, in ``(0, 1)``.
        seed: RNG seed; the same seed gives the same split.

    Returns:
        ``(keep, val)``: sorted ``[n - n_val]`` and ``[n_val]`` int64 row indices, disjoint, covering ``0..n-1``.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation fraction {fraction!r} must lie strictly between 0 and 1")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        take = int(np.floor(fraction * len(rows) + 0.5))
        is_val[rng.choice(rows, size=take, replace=False)] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _views(path: Path, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    views = [np.asarray(v) for v in np.asarray(cell, dtype=object).reshape(-1)]
    by_width = {v.shape[1]: v for v in views if v.ndim == 2}
    if len(views) != 2 or set(by_width) != {_IMAGE_DIM, _TEXT_DIM}:
        shapes = [v.shape for v in views]
        raise DataFormatError(
            f"{path}: X holds views of shapes {shapes}; expected two 2-D views of widths "
            f"{_IMAGE_DIM} (SIFT image) and {_TEXT_DIM} (LDA text)"
        )
    return by_width[_IMAGE_DIM], by_width[_TEXT_DIM]


def _class_names(path: Path, mat: dict) -> tuple[str, ...]:
    if "class_meaning" not in mat:
        return WIKIPEDIA_CLASSES
    names = tuple(str(np.asarray(c).reshape(-1)[0]) for c in np.asarray(mat["class_meaning"]).reshape(-1))
    if names != WIKIPEDIA_CLASSES:
        raise DataFormatError(f"{path}: class_meaning is {list(names)}; expected {list(WIKIPEDIA_CLASSES)}")
    return names
