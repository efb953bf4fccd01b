"""What a run trained on: absolute data paths and a fingerprint of the data files.

A run records its configuration with every data path made absolute (:func:`absolute_data_paths`), so
resuming it from another working directory (or with another ``$WORKBENCH_DATA``) reads the same
files, and ``run.json`` records :func:`data_fingerprint`:

* per split (train, validation, test): the feature file's size in bytes and array shape, the caption
  file's size and sha256;
* the vocabulary's and the mismatch index file's (``data.noise_file``) size and sha256.

Feature files are not hashed (F30K train is 8.6 GB); their size and shape are. :func:`compare_fingerprints`
lists what differs, and a resume with different data is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.config import DataConfig
from workbench.data.dataset import _vocab_path, data_root, paper_noise_file
from workbench.data.precomp import _caption_file, open_features

__all__ = ["absolute_data_paths", "data_fingerprint", "compare_fingerprints"]


def absolute_data_paths(cfg: DataConfig) -> DataConfig:
    """``cfg`` with ``root`` (resolved from ``$WORKBENCH_DATA`` / ``./data`` when empty), ``path`` and
    ``noise_file`` made absolute (``noise_file="paper"`` stays: it names the papers' index under root)."""
    changes: dict[str, str] = {"root": str(data_root(cfg).expanduser().resolve())}
    if cfg.path:
        changes["path"] = str(Path(cfg.path).expanduser().resolve())
    if cfg.noise_file and cfg.noise_file != "paper":
        changes["noise_file"] = str(Path(cfg.noise_file).expanduser().resolve())
    return dataclasses.replace(cfg, **changes)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hashed(path: Path) -> dict[str, Any]:
    return {"file": str(path), "bytes": path.stat().st_size, "sha256": _sha256(path)}


def data_fingerprint(cfg: DataConfig, directory: Path) -> dict[str, Any]:
    """The fingerprint of the data a run reads (see the module docstring); ``directory`` is the loaded
    dataset directory. Keys: ``directory`` and one entry per file role (``train_images``,
    ``train_captions``, ..., ``vocab``, ``noise_index``)."""
    directory = Path(directory).resolve()
    out: dict[str, Any] = {"directory": str(directory)}
    for role, split in (("train", "train"), ("val", cfg.val_split), ("test", cfg.test_split)):
        images = directory / f"{split}_ims.npy"
        out[f"{role}_images"] = {"file": str(images), "bytes": images.stat().st_size,
                                 "shape": list(open_features(images).shape)}
        out[f"{role}_captions"] = _hashed(_caption_file(directory, split))
    out["vocab"] = _hashed(_vocab_path(cfg, directory))
    if cfg.noise_file and not (cfg.noise_file == "paper" and cfg.mrate == 0):
        out["noise_index"] = _hashed(paper_noise_file(cfg) if cfg.noise_file == "paper" else Path(cfg.noise_file))
    return out


def compare_fingerprints(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Differences between two fingerprints as phrases (empty when the data are the same).

    File contents are compared (sizes, hashes, shapes), not where the files are.
    """
    out = []
    for role in sorted(set(saved) | set(current)):
        if role == "directory":
            continue
        old, new = saved.get(role), current.get(role)
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            out.append(f"{role}: {'absent' if old is None else 'present'} in the run, "
                       f"{'absent' if new is None else 'present'} now")
            continue
        for key in ("bytes", "sha256", "shape"):
            if old.get(key) != new.get(key):
                out.append(f"{role} ({new.get('file', '?')}): {key} {old.get(key)} in the run, {new.get(key)} now")
    return out
