"""Convert bottom-up-attention TSV features into the precomp ``{split}_ims.npy`` layout.

The Faster R-CNN extractor of Anderson et al. (2018), from which SCAN's ``*_ims.npy`` were made,
writes one TSV row per image with the fields

    image_id, image_w, image_h, num_boxes, boxes, features

where ``boxes`` (``num_boxes x 4``, pixel ``x1 y1 x2 y2``) and ``features`` (``num_boxes x D``,
``D = 2048``) are base64-encoded little-endian float32. Files come bare (``.tsv``) or zipped (a zip
holding exactly one ``.tsv``).

:func:`convert_bottomup` streams the rows twice (once to count them, once to decode them one at a
time into a memory-mapped output), so memory stays at one row whatever the file size. It writes, in
``out_dir``:

* ``{split}_ims.npy``: float32 ``[N, R, D]``;
* ``{split}_boxes.npy``: float32 ``[N, R, 4]``;
* ``{split}_image_sizes.npy``: int64 ``[N, 2]`` (width, height);
* ``{split}_ids.txt``: the image ids, one per line, in row order.

All four appear together or not at all (temporary names, renamed at the end). Every image must have
the same number of boxes ``R`` (the precomp layout is a dense array).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from workbench.data._io import atomic_path
from workbench.errors import DataFormatError

__all__ = ["TSV_FIELDS", "BottomUpRow", "BottomUpConversion", "iter_bottomup_rows", "convert_bottomup"]

TSV_FIELDS = ("image_id", "image_w", "image_h", "num_boxes", "boxes", "features")


@dataclass(frozen=True, eq=False)
class BottomUpRow:
    """One decoded TSV row: ``boxes`` ``[R, 4]`` and ``features`` ``[R, D]`` float32."""

    image_id: str
    width: int
    height: int
    boxes: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class BottomUpConversion:
    """What :func:`convert_bottomup` wrote."""

    images: Path
    boxes: Path
    image_sizes: Path
    ids: Path
    n_images: int
    n_regions: int
    feature_dim: int


def iter_bottomup_rows(source: str | os.PathLike[str]) -> Iterator[BottomUpRow]:
    """Decode the rows of a bottom-up TSV (bare or zipped) one at a time.

    Raises:
        DataFormatError: a row without 6 tab-separated fields, a non-integer size or box count, bad
            base64, an array whose length does not match ``num_boxes``, or non-finite values; the
            message names ``file:line`` and the field.
    """
    with _open_lines(Path(source)) as (name, lines):
        for lineno, line in lines:
            yield _decode_row(name, lineno, line)


def convert_bottomup(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    split: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> BottomUpConversion:
    """Convert a bottom-up TSV (or a zip holding one) to precomp files for ``split``.

    Args:
        source: ``.tsv`` or ``.zip`` file.
        out_dir: output directory (created if needed).
        split: split name used in the file names.
        progress: optional ``progress(rows_done, rows_total)`` callback.

    Returns:
        The written paths and the array sizes.

    Raises:
        DataFormatError: no rows, a bad row (see :func:`iter_bottomup_rows`), or a row whose box count
            or feature width differs from the first row's. Nothing is left in ``out_dir`` on failure.
    """
    source, out = Path(source), Path(out_dir)
    with _open_lines(source) as (_, lines):
        total = sum(1 for _ in lines)
    if total == 0:
        raise DataFormatError(
            f"bottom-up file {source} holds no rows; expected fields {', '.join(TSV_FIELDS)}"
        )
    rows = iter_bottomup_rows(source)
    first = next(rows)
    n_regions, dim = first.features.shape
    paths = {kind: out / f"{split}_{kind}" for kind in ("ims.npy", "boxes.npy", "image_sizes.npy", "ids.txt")}
    with contextlib.ExitStack() as stack:
        tmp = {kind: stack.enter_context(atomic_path(path)) for kind, path in paths.items()}
        feats = np.lib.format.open_memmap(
            tmp["ims.npy"], mode="w+", dtype=np.float32, shape=(total, n_regions, dim)
        )
        boxes = np.lib.format.open_memmap(
            tmp["boxes.npy"], mode="w+", dtype=np.float32, shape=(total, n_regions, 4)
        )
        sizes = np.empty((total, 2), dtype=np.int64)
        ids = stack.enter_context(open(tmp["ids.txt"], "w", encoding="utf-8", newline="\n"))
        for i, row in enumerate(itertools.chain([first], rows)):
            if row.features.shape != (n_regions, dim):
                raise DataFormatError(
                    f"{source}: image {row.image_id} (row {i + 1}) has features {row.features.shape}; "
                    f"the first row had {(n_regions, dim)} and the precomp layout needs one shape"
                )
            feats[i], boxes[i], sizes[i] = row.features, row.boxes, (row.width, row.height)
            ids.write(row.image_id + "\n")
            if progress is not None:
                progress(i + 1, total)
        feats.flush()
        boxes.flush()
        del feats, boxes  # close the memory maps before the files are renamed
        with open(tmp["image_sizes.npy"], "wb") as fh:
            np.save(fh, sizes, allow_pickle=False)
        ids.close()
    return BottomUpConversion(
        images=paths["ims.npy"],
        boxes=paths["boxes.npy"],
        image_sizes=paths["image_sizes.npy"],
        ids=paths["ids.txt"],
        n_images=total,
        n_regions=n_regions,
        feature_dim=dim,
    )


@contextlib.contextmanager
def _open_lines(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, bytes]]]]:
    """Yield ``(display name, iterator of (line number, line))`` over the non-empty lines of the TSV."""
    if not path.is_file():
        raise DataFormatError(f"bottom-up file {path} does not exist")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".tsv")]
            if len(members) != 1:
                raise DataFormatError(
                    f"{path}: expected exactly one .tsv member in the zip, found {members or archive.namelist()}"
                )
            with archive.open(members[0]) as fh:
                yield f"{path}:{members[0]}", _numbered(fh)
        return
    with open(path, "rb") as fh:
        yield str(path), _numbered(fh)


def _numbered(fh: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for lineno, line in enumerate(fh, start=1):
        line = line.rstrip(b"\r\n")
        if line:
            yield lineno, line


def _decode_row(name: str, lineno: int, line: bytes) -> BottomUpRow:
    where = f"{name}:{lineno}"
    fields = line.split(b"\t")
    if len(fields) != len(TSV_FIELDS):
        raise DataFormatError(
            f"{where}: {len(fields)} tab-separated fields; expected {len(TSV_FIELDS)} ({', '.join(TSV_FIELDS)})"
        )
    image_id = fields[0].decode("ascii", errors="replace")
    try:
        width, height, n_boxes = (int(f) for f in fields[1:4])
    except ValueError as exc:
        raise DataFormatError(f"{where}: image_w, image_h and num_boxes must be integers ({exc})") from exc
    if n_boxes < 1:
        raise DataFormatError(f"{where}: num_boxes is {n_boxes}; expected at least 1")
    boxes = _decode_array(where, "boxes", fields[4])
    if boxes.size != n_boxes * 4:
        raise DataFormatError(
            f"{where}: boxes holds {boxes.size} floats; expected num_boxes x 4 = {n_boxes * 4}"
        )
    feats = _decode_array(where, "features", fields[5])
    if feats.size % n_boxes:
        raise DataFormatError(
            f"{where}: features holds {feats.size} floats, not a multiple of num_boxes={n_boxes}"
        )
    if not (np.isfinite(feats).all() and np.isfinite(boxes).all()):
        raise DataFormatError(f"{where}: boxes or features contain NaN or inf")
    return BottomUpRow(image_id, width, height, boxes.reshape(n_boxes, 4), feats.reshape(n_boxes, -1))


def _decode_array(where: str, field: str, data: bytes) -> np.ndarray:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataFormatError(f"{where}: field {field!r} is not valid base64 ({exc})") from exc
    if len(raw) % 4:
        raise DataFormatError(
            f"{where}: field {field!r} decodes to {len(raw)} bytes, not whole float32 values"
        )
    return np.frombuffer(raw, dtype="<f4")
