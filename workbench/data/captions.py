"""Caption files of the precomp layout: ``{split}_caps.txt`` and CC152K's ``{split}_caps.tsv``.

Two formats exist on users' disks:

* ``.txt`` (F30K / COCO, SCAN and NCR): one caption per line, in image order (with ``k`` captions per
  image, lines ``k*i .. k*i+k-1`` describe image ``i``).
* ``.tsv`` (CC152K, NCR): ``id<TAB>caption`` per line; NCR's published test file adds a third column,
  the image URL (``id<TAB>caption<TAB>url``). Ids and URLs are kept: the dashboard links CC152K
  images by URL.

Both are read strictly: the text must be UTF-8, no line may be empty, and every ``.tsv`` line must have
the same number of fields. Errors name ``file:line``. Line endings may be ``\\n`` or ``\\r\\n``; a final
newline is optional. Surrounding whitespace of each caption is stripped (as the reference loaders do).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import DataFormatError

__all__ = ["CaptionTable", "read_captions", "read_text_lines"]


@dataclass(frozen=True)
class CaptionTable:
    """The captions of one file, in file order.

    Attributes:
        path: the file read.
        captions: ``[N_cap]`` caption strings.
        ids: ``[N_cap]`` ids from a ``.tsv`` file, else ``None``.
        urls: ``[N_cap]`` image URLs from a three-column ``.tsv`` file, else ``None``.
    """

    path: Path
    captions: tuple[str, ...]
    ids: tuple[str, ...] | None = None
    urls: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.captions)


def read_text_lines(path: str | os.PathLike[str]) -> list[str]:
    """Read a UTF-8 text file into lines, failing with ``file:line`` on undecodable bytes.

    Args:
        path: the file.

    Returns:
        The lines without their line terminators (``\\n`` or ``\\r\\n``); a final newline does not
        produce an extra empty line.

    Raises:
        DataFormatError: the file is missing or is not valid UTF-8.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"cannot read caption file {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.end].hex(" ")
        raise DataFormatError(
            f"{path}:{line}: not valid UTF-8 (byte(s) {bad} at offset {exc.start}); "
            "caption files must be UTF-8 text"
        ) from exc
    text = text.removeprefix("\ufeff")  # tolerate a byte-order mark written by some editors
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline terminates the last line; it does not start a new one
    return [line.removesuffix("\r") for line in lines]


def read_captions(path: str | os.PathLike[str]) -> CaptionTable:
    """Read a ``.txt`` (one caption per line) or ``.tsv`` (``id<TAB>caption[<TAB>url]``) caption file.

    The format is chosen by the suffix: ``.tsv`` and ``.csv`` (NCR ships its tab-separated CC152K
    test file as ``.csv``) are tabular, anything else is one caption per line.

    Args:
        path: the caption file.

    Returns:
        The captions, plus ids and URLs for tabular files.

    Raises:
        DataFormatError: unreadable, not UTF-8, empty file, an empty caption line, or (tabular) a line
            whose field count differs from 2 or 3 or from the first line's; the message names
            ``file:line``.
    """
    path = Path(path)
    lines = read_text_lines(path)
    if not lines:
        raise DataFormatError(f"caption file {path} is empty; expected one caption per line")
    if path.suffix.lower() in {".tsv", ".csv"}:
        return _parse_tabular(path, lines)
    captions = []
    for lineno, line in enumerate(lines, start=1):
        caption = line.strip()
        if not caption:
            raise DataFormatError(f"{path}:{lineno}: empty caption line; every line must hold a caption")
        captions.append(caption)
    return CaptionTable(path=path, captions=tuple(captions))


def _parse_tabular(path: Path, lines: list[str]) -> CaptionTable:
    width = None
    ids: list[str] = []
    captions: list[str] = []
    urls: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        fields = [field.strip() for field in line.split("\t")]
        if width is None:
            if len(fields) not in (2, 3):
                raise DataFormatError(
                    f"{path}:{lineno}: expected 2 or 3 tab-separated fields (id, caption[, url]), "
                    f"found {len(fields)}"
                )
            width = len(fields)
        elif len(fields) != width:
            raise DataFormatError(
                f"{path}:{lineno}: expected {width} tab-separated fields like line 1, found {len(fields)}"
            )
        if not fields[0]:
            raise DataFormatError(f"{path}:{lineno}: empty id field")
        if not fields[1]:
            raise DataFormatError(f"{path}:{lineno}: empty caption field")
        ids.append(fields[0])
        captions.append(fields[1])
        if width == 3:
            urls.append(fields[2])
    return CaptionTable(
        path=path,
        captions=tuple(captions),
        ids=tuple(ids),
        urls=tuple(urls) if width == 3 else None,
    )
