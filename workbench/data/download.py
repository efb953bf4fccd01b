"""Fetch registry datasets into the data root: mirror first, then the original URL; verify sha256.

For every file of a ``download`` entry, :func:`fetch`:

1. skips it if the destination already exists with the registered sha256;
2. otherwise copies it from ``$WORKBENCH_DATA_MIRROR/<mirror path>`` when that variable is set and the
   file is there (tests and CI point it at ``../shared/data``), else downloads the original URL with
   :mod:`urllib`;
3. in both cases streams into a temporary file beside the destination while hashing, checks size and
   sha256, and only then renames it into place. On any failure (checksum or size mismatch, a
   truncated download, a network error) the temporary file is deleted and a clear error names the
   file and the expected and actual sha256 / size: nothing half-written is left behind.

A corrupt mirror file is an error, not a reason to fall back to the network: the mirror is trusted
configuration and a silent fallback would hide its damage.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from workbench.data._io import atomic_path
from workbench.data.registry import DatasetEntry, DatasetFile, default_data_root, get_entry
from workbench.errors import ChecksumError, ConfigError, DataFormatError

__all__ = [
    "MIRROR_ENV",
    "Progress",
    "FetchedFile",
    "FetchResult",
    "fetch",
    "fetch_entry",
    "sha256_of",
    "local_status",
]

log = logging.getLogger(__name__)

MIRROR_ENV = "WORKBENCH_DATA_MIRROR"
_CHUNK = 1 << 20
_TIMEOUT_S = 60

Progress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)``, called as bytes arrive (totals cover the whole entry)."""


@dataclass(frozen=True)
class FetchedFile:
    """Where one file landed and how it got there (``present``, ``mirror`` or ``download``)."""

    path: Path
    origin: Literal["present", "mirror", "download"]


@dataclass(frozen=True)
class FetchResult:
    """The outcome of :func:`fetch`: the dataset name, the data root and every file."""

    name: str
    root: Path
    files: tuple[FetchedFile, ...]


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    mirror: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    """Fetch the registry dataset ``name`` into ``root``.

    Args:
        name: registry name of a ``download`` dataset.
        root: data root (default :func:`~workbench.data.registry.default_data_root`).
        mirror: data mirror directory (default ``$WORKBENCH_DATA_MIRROR``, if set).
        progress: optional ``progress(done_bytes, total_bytes)`` callback.

    Raises:
        ConfigError: unknown name (the message lists the known ones), or a dataset that cannot be
            fetched (``generated`` / ``user`` kinds).
        ChecksumError: a file's size or sha256 differs from the registry.
        DataFormatError: the download failed.
    """
    return fetch_entry(get_entry(name), root, mirror=mirror, progress=progress)


def fetch_entry(
    entry: DatasetEntry,
    root: str | os.PathLike[str] | None = None,
    *,
    mirror: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    """:func:`fetch` for an entry object (also one that is not in the packaged registry)."""
    if entry.kind == "generated":
        raise ConfigError(f"dataset {entry.name!r} is generated, not downloaded: use `workbench data synth`")
    if entry.kind == "user":
        raise ConfigError(
            f"dataset {entry.name!r} is not downloadable (user): bring the precomp files yourself "
            f"(features: {entry.features_url or entry.source}); its fetchable parts are "
            f"{', '.join(entry.related) or 'none'}"
        )
    root = Path(root) if root is not None else default_data_root()
    if mirror is None and os.environ.get(MIRROR_ENV):
        mirror = os.environ[MIRROR_ENV]
    total = entry.total_bytes
    done = 0
    fetched = []
    for spec in entry.files:
        dest = root / spec.path
        report = None if progress is None else functools.partial(_shifted, progress, done, total)
        fetched.append(FetchedFile(dest, _fetch_file(spec, dest, mirror, report)))
        done += spec.size
        if progress is not None:
            progress(done, total)
    return FetchResult(name=entry.name, root=root, files=tuple(fetched))


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_status(entry: DatasetEntry, root: str | os.PathLike[str]) -> str:
    """A short answer to "is this dataset under ``root``?" for listings.

    ``download``: ``yes``, ``no`` or ``i/n files`` (by presence and size; sha256 is checked by fetch).
    ``user``: ``yes (<splits>)`` when ``root/local_dir`` holds ``{split}_ims.npy`` files, else ``no``.
    ``generated``: ``yes (<directories>)`` for the directories matching ``root/local_dir`` (a glob,
    e.g. ``synthetic-*``) that hold ``*_ims.npy`` files, else ``no``.
    """
    root = Path(root)
    if entry.kind == "download":
        have = sum(
            (root / f.path).is_file() and (root / f.path).stat().st_size == f.size for f in entry.files
        )
        return (
            "yes" if have == len(entry.files) else "no" if have == 0 else f"{have}/{len(entry.files)} files"
        )
    pattern = entry.local_dir or entry.name
    if entry.kind == "generated":
        found = sorted(d.name for d in root.glob(pattern) if d.is_dir() and any(d.glob("*_ims.npy")))
    else:
        found = sorted(p.name.removesuffix("_ims.npy") for p in (root / pattern).glob("*_ims.npy"))
    return f"yes ({', '.join(found)})" if found else "no"


def _shifted(progress: Progress, offset: int, total: int, done: int) -> None:
    progress(offset + done, total)


def _fetch_file(
    spec: DatasetFile, dest: Path, mirror: str | os.PathLike[str] | None, report: Progress | None
) -> str:
    if dest.is_file() and dest.stat().st_size == spec.size and sha256_of(dest) == spec.sha256:
        log.debug("%s: present with the right sha256", dest)
        return "present"
    if dest.exists():
        log.info("%s: present but its checksum differs; fetching it again", dest)
    source = Path(mirror) / spec.mirror if mirror is not None else None
    if source is not None and source.is_file():
        log.debug("%s: copying from mirror %s", dest, source)
        with open(source, "rb") as fh:
            _store(fh, spec, dest, str(source), report)
        return "mirror"
    if not spec.url:  # a file published only in the data mirror (e.g. fixtures made here from public code)
        raise DataFormatError(f"{dest.name} is only available from a data mirror, and "
                              + (f"{source} does not exist" if source is not None else
                                 f"${MIRROR_ENV} is not set") + "; point the variable at a mirror that holds it")
    log.info("%s: downloading %s", dest, spec.url)
    try:
        with urllib.request.urlopen(spec.url, timeout=_TIMEOUT_S) as response:
            _store(response, spec, dest, spec.url, report)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # incl. HTTP errors, timeouts
        reason = getattr(exc, "reason", None) or exc
        raise DataFormatError(
            f"could not download {spec.url} to {dest}: {reason}"
            + (f" (no copy at {source} in the mirror)" if source is not None else "")
        ) from exc
    return "download"


def _store(stream: BinaryIO, spec: DatasetFile, dest: Path, origin: str, report: Progress | None) -> None:
    """Copy ``stream`` to ``dest`` through a temporary file, checking size and sha256 before the rename."""
    digest = hashlib.sha256()
    size = 0
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if report is not None:
                    report(min(size, spec.size))
        actual = digest.hexdigest()
        if size != spec.size or actual != spec.sha256:
            what = "truncated" if size < spec.size else "corrupt"
            raise ChecksumError(
                f"{dest.name} from {origin} is {what}: got {size} bytes with sha256 {actual}, "
                f"expected {spec.size} bytes with sha256 {spec.sha256}; nothing was written to {dest}"
            )
