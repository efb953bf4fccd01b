"""UCI Multiple Features (handwritten digits) as a two-view labelled set.

The dataset (Duin, UCI repository) describes 2,000 handwritten digits ``0``-``9`` (200 of each, rows in the
same order in every file) by six feature sets; the registry entry ``mfeat`` fetches one CSV per view
(``mfeat-{view}.csv``): a header line of column numbers, then one row per digit whose **last column is the
class**. Views and widths:

=======  =====  =============================================
``fac``  216    profile correlations
``fou``  76     Fourier coefficients of the character shape
``kar``  64     Karhunen-Loeve coefficients
``mor``  6      morphological features
``pix``  240    pixel averages in 2 x 3 windows
``zer``  47     Zernike moments
=======  =====  =============================================

The label track pairs two views of the same digit as an "image" and a "text" (default ``pix`` and
``fou``): a cross-modal retrieval task with class relevance, like Wikipedia's image / article pairs.

Split (fixed, part of the benchmark): a class-stratified quarter of the digits is the test set (50 per
class, 500 pairs), drawn with :func:`~workbench.data.wikipedia.stratified_indices` and seed 0; the other
1,500 digits are the training pool, from which the label track carves its validation set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from workbench.data.wikipedia import LabelledPairs, stratified_indices
from workbench.errors import ConfigError, DataFormatError

__all__ = ["MFEAT_VIEWS", "MFEAT_ROWS", "MFEAT_TEST_FRACTION", "load_mfeat_view", "load_mfeat", "mfeat_splits"]

#: view name -> feature width.
MFEAT_VIEWS: dict[str, int] = {"fac": 216, "fou": 76, "kar": 64, "mor": 6, "pix": 240, "zer": 47}
MFEAT_ROWS = 2000
MFEAT_TEST_FRACTION = 0.25
_SPLIT_SEED = 0
_CLASSES = tuple(f"digit {d}" for d in range(10))


def load_mfeat_view(directory: str | os.PathLike[str], view: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``mfeat-{view}.csv`` under ``directory``: ``(features [2000, d] float32, labels [2000] int64)``.

    Raises:
        ConfigError: an unknown view name.
        DataFormatError: a missing or unreadable file, a width other than the view's, a row count other
            than 2,000, non-finite values, or labels that are not the integers 0..9. Messages name the file.
    """
    if view not in MFEAT_VIEWS:
        raise ConfigError(f"unknown mfeat view {view!r}; expected one of {', '.join(MFEAT_VIEWS)}")
    path = Path(directory).expanduser() / f"mfeat-{view}.csv"
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file (`workbench data fetch mfeat` puts the six views there)")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataFormatError(f"{path}: not a numeric CSV with one header line: {exc}") from None
    width = MFEAT_VIEWS[view]
    if table.shape != (MFEAT_ROWS, width + 1):
        raise DataFormatError(f"{path}: shape {table.shape}; expected ({MFEAT_ROWS}, {width + 1}) "
                              f"({width} features of view {view!r} and the label column)")
    if not np.isfinite(table).all():
        raise DataFormatError(f"{path}: holds NaN or infinite values")
    labels = table[:, -1]
    if (labels != np.round(labels)).any() or labels.min() < 0 or labels.max() > 9:
        raise DataFormatError(f"{path}: the last column must hold the digits 0..9, found range "
                              f"[{labels.min():g}, {labels.max():g}]")
    return table[:, :-1].astype(np.float32), labels.astype(np.int64)


def load_mfeat(directory: str | os.PathLike[str], image_view: str = "pix", text_view: str = "fou") -> LabelledPairs:
    """All 2,000 digits as pairs ``(image_view, text_view)``, split ``"all"``.

    Raises:
        ConfigError: a view named twice or unknown.
        DataFormatError: as :func:`load_mfeat_view`, or views whose label columns disagree.
    """
    if image_view == text_view:
        raise ConfigError(f"mfeat needs two different views; got {image_view!r} twice")
    image, y_img = load_mfeat_view(directory, image_view)
    text, y_txt = load_mfeat_view(directory, text_view)
    if not np.array_equal(y_img, y_txt):
        rows = np.flatnonzero(y_img != y_txt)
        raise DataFormatError(f"{directory}: mfeat-{image_view}.csv and mfeat-{text_view}.csv disagree on the "
                              f"label of {len(rows)} rows (first {rows[0]}); the views must be in the same order")
    return LabelledPairs(image, text, y_img, _CLASSES, "all")


def mfeat_splits(pairs: LabelledPairs) -> tuple[LabelledPairs, LabelledPairs]:
    """``(pool, test)``: the fixed stratified split of the module docstring (1,500 / 500 pairs)."""
    pool, test = stratified_indices(pairs.labels, MFEAT_TEST_FRACTION, _SPLIT_SEED)
    return pairs.subset(pool, "train"), pairs.subset(test, "test")
