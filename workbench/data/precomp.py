"""Reader for the NCR/SCAN "precomp" layout that users keep on disk.

A dataset directory (e.g. ``data/f30k_precomp``) holds, per split (``train``, ``dev``, ``test``,
``testall``):

* ``{split}_ims.npy``: region features, float32 ``[N_rows, R, D]`` (bottom-up attention: ``R = 36``,
  ``D = 2048``). Opened memory-mapped, never read whole: F30K train is 8.6 GB, COCO train 33 GB.
* ``{split}_caps.txt`` (F30K/COCO: ``k = 5`` captions per image, lines ``5i..5i+4`` = image ``i``) or
  ``{split}_caps.tsv`` (CC152K: ``id<TAB>caption[<TAB>url]``, one caption per image).

Captions per image ``k`` is inferred from the counts, ``N_cap = k * N_rows``, unless given.

**Per-caption image rows.** NCR's F30K ``dev_ims.npy`` stores one row per *caption* (5070 rows, each
image repeated 5 times) next to 5070 captions. The reference code then silently treats F30K dev as
one caption per image. Here, when ``N_rows == N_cap`` and ``k > 1`` is expected (given explicitly, or,
when inferring, because the first group of :data:`DEFAULT_CAPTIONS_PER_IMAGE` rows is identical), the
rows are recognised as repeated and :attr:`PrecompSplit.images` exposes the unique images
``rows[::k]`` (a strided view of the memory map), with ``rows_per_caption=True`` recorded.

**Finite check.** By default every feature row is scanned for NaN/inf, in chunks of about 64 MB so
memory stays bounded. The scan reads the whole file once: seconds for test splits, minutes for COCO
train (33 GB) on a slow disk; pass ``check_finite=False`` to skip it for huge files you trust. Repeated
per-caption rows are verified run by run in a second chunked pass (only the first and last run when
the finite check is skipped).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.captions import read_captions
from workbench.errors import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_CAPTIONS_PER_IMAGE",
    "PrecompSplit",
    "list_splits",
    "load_precomp_split",
    "open_features",
    "find_nonfinite_row",
]

log = logging.getLogger(__name__)

DEFAULT_CAPTIONS_PER_IMAGE = 5
_CHUNK_BYTES = 64 * 2**20
_SPLIT_FILE = re.compile(r"^(?P<split>.+)_(?P<kind>ims\.npy|caps\.txt|caps\.tsv)$")


@dataclass(frozen=True, eq=False)
class PrecompSplit:
    """One split of a precomp dataset, as read from disk.

    Attributes:
        name: split name (``"train"``, ``"dev"``, ...).
        images: ``[N_img, R, D]`` float32, memory-mapped (read-only); unique images, also when the file
            stores one row per caption (then a strided view ``rows[::k]``).
        captions: ``[N_cap]`` captions; caption ``c`` describes image ``c // captions_per_image``.
        captions_per_image: ``k``, with ``N_cap == k * N_img``.
        image_path: the ``{split}_ims.npy`` file.
        caption_path: the ``{split}_caps.txt`` / ``.tsv`` file.
        ids: ``[N_cap]`` caption/image ids from a ``.tsv`` file, else ``None``.
        urls: ``[N_cap]`` image URLs from a three-column ``.tsv`` file, else ``None``.
        rows_per_caption: the feature file held one (repeated) row per caption.
    """

    name: str
    images: np.ndarray
    captions: tuple[str, ...]
    captions_per_image: int
    image_path: Path
    caption_path: Path
    ids: tuple[str, ...] | None = None
    urls: tuple[str, ...] | None = None
    rows_per_caption: bool = False

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_captions(self) -> int:
        return len(self.captions)

    def image_of_caption(self) -> np.ndarray:
        """Ground-truth image of every caption: ``[N_cap]`` int64, ``c // k``."""
        return np.arange(self.n_captions, dtype=np.int64) // self.captions_per_image


def list_splits(root: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """The split files present in a precomp directory.

    Returns:
        ``{split: kinds}`` with kinds among ``"ims.npy"``, ``"caps.txt"``, ``"caps.tsv"``, sorted by split.
    """
    root = Path(root)
    found: dict[str, list[str]] = {}
    if root.is_dir():
        for path in root.iterdir():
            match = _SPLIT_FILE.match(path.name)
            if match and path.is_file():
                found.setdefault(match["split"], []).append(match["kind"])
    return {split: tuple(sorted(kinds)) for split, kinds in sorted(found.items())}


def open_features(path: str | os.PathLike[str]) -> np.ndarray:
    """Memory-map a ``{split}_ims.npy`` file and check it is float32 ``[N, R, D]``.

    Raises:
        DataFormatError: unreadable or not a ``.npy`` array, wrong rank, wrong dtype, or no rows.
    """
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(f"cannot read image features {path}: {exc}") from exc
    if not isinstance(array, np.ndarray):
        raise DataFormatError(f"image features {path}: expected a single .npy array, found an archive")
    if array.ndim != 3:
        raise DataFormatError(
            f"image features {path}: shape {array.shape} has rank {array.ndim}; "
            "expected a 3-D array N x R x D (images x regions x feature dim)"
        )
    if array.dtype != np.float32:
        raise DataFormatError(f"image features {path}: dtype {array.dtype}; expected float32")
    if array.shape[0] == 0:
        raise DataFormatError(f"image features {path}: holds no images (shape {array.shape})")
    return array


def find_nonfinite_row(features: np.ndarray, chunk_bytes: int = _CHUNK_BYTES) -> int | None:
    """Index of the first row of ``features`` ``[N, ...]`` holding NaN or inf, or ``None``.

    Scans ``chunk_bytes`` at a time so that a memory-mapped file is never loaded whole.
    """
    step = _rows_per_chunk(features, chunk_bytes)
    for start in range(0, features.shape[0], step):
        block = np.asarray(features[start : start + step])
        finite = np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite))
    return None


def load_precomp_split(
    root: str | os.PathLike[str],
    split: str,
    *,
    captions_per_image: int | None = None,
    check_finite: bool = True,
) -> PrecompSplit:
    """Open one split of a precomp directory.

    Args:
        root: the dataset directory (e.g. ``data/f30k_precomp``).
        split: split name; the files ``{split}_ims.npy`` and ``{split}_caps.txt`` (or ``.tsv``) must exist.
        captions_per_image: ``k``; inferred from the counts when ``None`` (see the module docstring).
        check_finite: scan all features for NaN/inf (default ``True``; reads the whole file once).

    Returns:
        The split, with memory-mapped unique images.

    Raises:
        DataFormatError: missing files (the message lists the splits that are present), bad features
            (rank, dtype, NaN/inf with the first bad row), bad captions (``file:line``), or image and
            caption counts that do not fit ``N_cap = k * N_img``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"precomp directory {root} does not exist")
    image_path = root / f"{split}_ims.npy"
    caption_path = _caption_file(root, split)
    if not image_path.is_file():
        raise DataFormatError(
            f"split {split!r} is missing from {root}: no {image_path.name}. {_describe_present(root)}"
        )
    images = open_features(image_path)
    table = read_captions(caption_path)
    k, per_caption = _infer_layout(images, len(table), captions_per_image, image_path, caption_path)
    if check_finite:
        bad = find_nonfinite_row(images)
        if bad is not None:
            raise DataFormatError(
                f"image features {image_path}: row {bad} contains NaN or inf (first non-finite row); "
                "pass check_finite=False only to skip this scan, not to accept such values"
            )
    if per_caption:
        _check_repeated_rows(images, k, image_path, full=check_finite)
        log.info("%s: one feature row per caption (k=%d); using rows[::%d] as images", image_path, k, k)
        images = images[::k]
    return PrecompSplit(
        name=split,
        images=images,
        captions=table.captions,
        captions_per_image=k,
        image_path=image_path,
        caption_path=caption_path,
        ids=table.ids,
        urls=table.urls,
        rows_per_caption=per_caption,
    )


def _caption_file(root: Path, split: str) -> Path:
    txt, tsv = root / f"{split}_caps.txt", root / f"{split}_caps.tsv"
    if txt.is_file() and tsv.is_file():
        raise DataFormatError(f"split {split!r} in {root} has both {txt.name} and {tsv.name}; keep one")
    if txt.is_file():
        return txt
    if tsv.is_file():
        return tsv
    raise DataFormatError(
        f"split {split!r} is missing from {root}: no {txt.name} or {tsv.name}. {_describe_present(root)}"
    )


def _describe_present(root: Path) -> str:
    splits = list_splits(root)
    if not splits:
        return "No split files are present there (expected {split}_ims.npy and {split}_caps.txt)."
    parts = [f"{name} ({', '.join(kinds)})" for name, kinds in splits.items()]
    return "Present: " + "; ".join(parts) + "."


def _infer_layout(
    images: np.ndarray, n_caps: int, given: int | None, image_path: Path, caption_path: Path
) -> tuple[int, bool]:
    """Return ``(k, rows_per_caption)`` for ``N_rows`` feature rows and ``n_caps`` captions."""
    n_rows = int(images.shape[0])
    counts = (
        f"{image_path.name} has {n_rows} rows and {caption_path.name} has {n_caps} captions "
        f"(ratio {n_caps / n_rows:.4g})"
    )
    if given is not None:
        if given < 1:
            raise ConfigError(f"captions_per_image must be >= 1, got {given}")
        if n_caps == given * n_rows:
            return given, False
        if given > 1 and n_rows == n_caps and n_caps % given == 0:
            return given, True
        raise DataFormatError(f"{counts}; expected {given} captions per image in {image_path.parent}")
    if n_caps % n_rows:
        raise DataFormatError(f"{counts}; the caption count must be a whole multiple of the image count")
    k = n_caps // n_rows
    if k > 1:
        return k, False
    guess = DEFAULT_CAPTIONS_PER_IMAGE
    if n_rows % guess == 0 and _group_is_repeated(images, 0, guess):
        return guess, True
    return 1, False


def _group_is_repeated(images: np.ndarray, start: int, k: int) -> bool:
    group = np.asarray(images[start : start + k])
    return bool((group == group[:1]).all())


def _check_repeated_rows(images: np.ndarray, k: int, path: Path, *, full: bool) -> None:
    """Verify that rows come in identical runs of ``k`` (every run if ``full``, else first and last)."""
    n_groups = images.shape[0] // k
    if full:
        step = max(1, _rows_per_chunk(images, _CHUNK_BYTES) // k) * k
        starts = range(0, images.shape[0], step)
        for start in starts:
            block = np.asarray(images[start : start + step])
            block = block.reshape(-1, k, *block.shape[1:])
            same = (block == block[:, :1]).reshape(block.shape[0], -1).all(axis=1)
            if not same.all():
                _raise_not_repeated(path, start // k + int(np.argmin(same)), k)
        return
    for group in {0, n_groups - 1}:
        if not _group_is_repeated(images, group * k, k):
            _raise_not_repeated(path, group, k)


def _raise_not_repeated(path: Path, group: int, k: int) -> None:
    raise DataFormatError(
        f"image features {path}: one row per caption was assumed (rows == captions, {k} captions per "
        f"image), but rows {group * k}..{group * k + k - 1} are not identical"
    )


def _rows_per_chunk(features: np.ndarray, chunk_bytes: int) -> int:
    row_bytes = max(1, int(np.prod(features.shape[1:], dtype=np.int64)) * features.dtype.itemsize)
    return max(1, chunk_bytes // row_bytes)
