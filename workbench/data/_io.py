"""Atomic file writes: write beside the destination under a temporary name, then rename.

Every file the data layer writes goes through :func:`atomic_path`, so that a crash, a bad input detected
half-way, or a checksum mismatch never leaves a partial file under the final name (and no stray
temporary file either).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "save_npy_atomic", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dest`` and rename it onto ``dest`` when the block succeeds.

    The temporary file lives in the destination directory, so the final :func:`os.replace` is a rename
    within one file system (atomic on POSIX). If the block raises, the temporary file is removed and
    ``dest`` is left as it was.

    Args:
        dest: final path; its parent directory is created if needed.

    Yields:
        A path that does not exist yet (``.{name}.{random}.part``); the block must create it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: it creates the file with mode 0600, which would survive the rename.
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npy_atomic(array: np.ndarray, dest: str | os.PathLike[str]) -> Path:
    """Save ``array`` as a ``.npy`` file at ``dest`` atomically (no pickles)."""
    dest = Path(dest)
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        # A file handle, not a path: np.save would append ".npy" to the temporary name.
        np.save(fh, np.asarray(array), allow_pickle=False)
    return dest


def write_text_atomic(text: str, dest: str | os.PathLike[str]) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line endings) to ``dest`` atomically."""
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return dest
