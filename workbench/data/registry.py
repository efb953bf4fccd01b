"""The dataset registry: what each dataset is, where its files come from, and how big it is.

The entries live in the package data file ``registry.json`` (one object per dataset); this module
parses and validates it into frozen dataclasses. Three kinds of dataset exist:

* ``generated``: built by the package (``synthetic``); sizes are named presets.
* ``download``: files fetched by :func:`workbench.data.download.fetch`, each with its size, sha256,
  original URL (GitHub raw files pinned to a commit) and its path inside a data mirror.
* ``user``: users bring the data (the precomp region features of F30K, COCO, CC152K); the entry
  records the expected local directory, split sizes and where the features are published.

The data root (where fetched files land) is ``$WORKBENCH_DATA`` or ``./data``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from workbench.errors import ConfigError

__all__ = [
    "DatasetKind",
    "DatasetFile",
    "DatasetEntry",
    "registry",
    "dataset_names",
    "get_entry",
    "split_images",
    "default_data_root",
]

DatasetKind = Literal["generated", "download", "user"]
_KINDS = ("generated", "download", "user")


@dataclass(frozen=True)
class DatasetFile:
    """One file of a ``download`` dataset.

    Attributes:
        path: destination, relative to the data root (the precomp layout where it applies).
        size: bytes.
        sha256: hex digest.
        url: original address (GitHub raw file at a pinned commit); empty for a file that only a data
            mirror holds (fetching it without one is an error that says so).
        mirror: path relative to ``$WORKBENCH_DATA_MIRROR``.
    """

    path: str
    size: int
    sha256: str
    url: str
    mirror: str


@dataclass(frozen=True)
class DatasetEntry:
    """A registry entry.

    Attributes:
        name: registry name (``workbench data fetch NAME``).
        kind: ``generated``, ``download`` or ``user``.
        description: one paragraph.
        source: where the data comes from, short.
        license: licence or terms.
        card: stem of the data card ``data_cards/{card}.md``.
        captions_per_image: ``k`` where the notion applies.
        splits: images per split (``{"train": 29000, ...}``), for non-generated datasets.
        sizes: for generated datasets, images per split of each named size preset.
        files: the downloadable files (``download`` kind).
        local_dir: directory under the data root where a ``user`` dataset is expected (for the
            ``generated`` kind a glob of the generated directories, e.g. ``synthetic-*``).
        features_url: where a ``user`` dataset's features are published.
        related: names of the entries holding this dataset's fetchable parts.
    """

    name: str
    kind: DatasetKind
    description: str
    source: str
    license: str
    card: str
    captions_per_image: int | None = None
    splits: Mapping[str, int] = field(default_factory=dict)
    sizes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    files: tuple[DatasetFile, ...] = ()
    local_dir: str | None = None
    features_url: str | None = None
    related: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@functools.cache
def registry() -> Mapping[str, DatasetEntry]:
    """All entries by name, parsed once from the packaged ``registry.json``."""
    text = resources.files("workbench.data").joinpath("registry.json").read_text(encoding="utf-8")
    entries = [_parse_entry(raw) for raw in json.loads(text)["datasets"]]
    return MappingProxyType({entry.name: entry for entry in entries})


def dataset_names() -> tuple[str, ...]:
    """Registry names in registry order."""
    return tuple(registry())


def get_entry(name: str) -> DatasetEntry:
    """The entry called ``name``.

    Raises:
        ConfigError: unknown name; the message lists the known names.
    """
    try:
        return registry()[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}") from None


def split_images(name: str, size: str | None = None) -> Mapping[str, int]:
    """Images per split of dataset ``name`` (for ``generated`` datasets, of the size preset ``size``).

    Raises:
        ConfigError: unknown dataset, a generated dataset without a known ``size``, a ``size`` given
            for a dataset that has no presets, or a dataset with no split sizes.
    """
    entry = get_entry(name)
    if entry.sizes:
        if size not in entry.sizes:
            raise ConfigError(f"dataset {name!r} needs a size, one of {sorted(entry.sizes)}; got {size!r}")
        return entry.sizes[size]
    if size is not None:
        raise ConfigError(f"dataset {name!r} has no size presets; do not pass a size ({size!r})")
    if not entry.splits:
        raise ConfigError(f"dataset {name!r} has no split sizes (it is a {entry.kind} entry of files)")
    return entry.splits


def default_data_root() -> Path:
    """``$WORKBENCH_DATA`` if set, else ``./data``."""
    return Path(os.environ.get("WORKBENCH_DATA") or "data")


def _parse_entry(raw: Mapping[str, Any]) -> DatasetEntry:
    name = raw.get("name", "?")
    if raw.get("kind") not in _KINDS:
        raise ConfigError(f"registry entry {name!r}: kind {raw.get('kind')!r} is not one of {_KINDS}")
    known = set(DatasetEntry.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"registry entry {name!r}: unknown keys {sorted(unknown)}")
    files = tuple(DatasetFile(**f) for f in raw.get("files", ()))
    if (raw["kind"] == "download") != bool(files):
        raise ConfigError(f"registry entry {name!r}: only 'download' entries list files, and they must")
    return DatasetEntry(
        **{
            **raw,
            "files": files,
            "splits": MappingProxyType(dict(raw.get("splits", {}))),
            "sizes": MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in raw.get("sizes", {}).items()}
            ),
            "related": tuple(raw.get("related", ())),
        }
    )
