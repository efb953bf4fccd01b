"""The ``synthetic`` dataset: a scene-grammar image–caption set with known semantics, built by the package.

This module is the public face of the dataset. It writes a generated set (:mod:`.synthetic_generate`)
to disk in the NCR/SCAN precomp layout, so every loader, trainer and notebook treats it like Flickr30K,
and reads back the ground truth (:class:`SceneTruth`) that no real dataset has. A directory
``root/synthetic-{size}-s{seed}/`` (plus ``-c{hash}`` for a non-default config) holds:

====================================  ===========================================================
``{split}_ims.npy``                   ``[N, R, D]`` float32 region features (``split`` in train, dev, test)
``{split}_caps.txt``                  ``5 N`` captions, lines ``5i .. 5i+4`` describe image ``i``
``{split}_truth.npz``                 the split's :class:`SceneTruth` as integer arrays (no pickles)
``vocab.json``                        NCR vocabulary layout, ``<pad> <start> <end> <unk>`` = 0..3
``lexicon.json``                      the synonyms of every class, attribute and place id
``prototypes.npz``                    the world's class / attribute / place unit vectors
``manifest.json``                     recipe (config, seed, counts, generator version) and sha256 of every file
====================================  ===========================================================

Writing is atomic and idempotent: everything goes to a hidden temporary directory in ``root`` that is
renamed onto the target at the end, so a failure leaves nothing under the target name; writing a recipe
that is already on disk verifies its checksums and returns it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import workbench
from workbench.data.synthetic_generate import (
    SIZES,
    SPLITS,
    SyntheticConfig,
    SyntheticData,
    SyntheticSplit,
    check_seed,
    generate,
    split_counts,
    vocabulary_words,
)
from workbench.data.synthetic_grammar import ATTRIBUTE_WORDS, CLASS_WORDS, PLACE_WORDS
from workbench.data.synthetic_truth import BACKGROUND_REGION, PLACE_REGION, SceneTruth
from workbench.errors import ChecksumError, DataFormatError

__all__ = [
    "GENERATOR_VERSION",
    "SIZES",
    "SPLITS",
    "SPECIAL_TOKENS",
    "SyntheticConfig",
    "SyntheticData",
    "SyntheticSplit",
    "SceneTruth",
    "PLACE_REGION",
    "BACKGROUND_REGION",
    "generate",
    "split_counts",
    "vocabulary_words",
    "dataset_dirname",
    "write_synthetic",
    "read_manifest",
    "verify_synthetic",
    "load_truth",
    "load_prototypes",
    "vocab_json",
]

# Bump whenever the output for a given (seed, config, counts) changes: existing directories then stop
# matching and are not silently reused.
GENERATOR_VERSION = 1
FORMAT = "workbench-synthetic"
MANIFEST = "manifest.json"
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<start>", "<end>", "<unk>")
_RECIPE_KEYS = ("format", "generator_version", "size", "seed", "counts", "config")


def dataset_dirname(
    size: str | tuple[int, int, int] | Mapping[str, int] = "small",
    seed: int = 0,
    config: SyntheticConfig | None = None,
) -> str:
    """The directory name of a recipe: ``synthetic-small-s0``, ``synthetic-400-50-50-s3``, ``...-c1a2b3c4d``.

    A non-default config adds ``-c`` and the first 8 hex digits of the sha256 of its canonical JSON, so
    datasets with different settings never collide.
    """
    label, counts = split_counts(size)
    stem = label if label != "custom" else "-".join(str(counts[s]) for s in SPLITS)
    name = f"synthetic-{stem}-s{check_seed(seed)}"
    if config is not None and config != SyntheticConfig():
        digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()
        name += f"-c{digest[:8]}"
    return name


def vocab_json(words: list[str]) -> dict[str, Any]:
    """The NCR/SCAN vocabulary layout: specials at 0..3, then ``words`` in order.

    Returns:
        ``{"word2idx": {word: i}, "idx2word": {"i": word}, "idx": V}`` with ``V = 4 + len(words)``.
    """
    itos = [*SPECIAL_TOKENS, *words]
    if len(set(itos)) != len(itos):
        raise ValueError("vocabulary words must be distinct and must not repeat the special tokens")
    return {
        "word2idx": {w: i for i, w in enumerate(itos)},
        "idx2word": {str(i): w for i, w in enumerate(itos)},
        "idx": len(itos),
    }


def write_synthetic(
    root: str | os.PathLike[str],
    size: str | tuple[int, int, int] | Mapping[str, int] = "small",
    seed: int = 0,
    config: SyntheticConfig | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Generate the dataset and write it in the precomp layout under ``root``.

    Args:
        root: data root; the dataset goes to ``root / dataset_dirname(size, seed, config)``.
        size: a name in :data:`SIZES` or explicit ``(train, dev, test)`` image counts.
        seed: dataset seed.
        config: generator settings (default: the calibrated :class:`SyntheticConfig`).
        overwrite: regenerate even when the target exists (its old content is replaced).

    Returns:
        The dataset directory.

    Raises:
        DataFormatError: the target exists but is not this recipe (other seed, config or version) or has
            no readable manifest; pass ``overwrite=True`` to replace it.
        ChecksumError: the target is this recipe but a file does not match its recorded sha256.
    """
    cfg = config if config is not None else SyntheticConfig()
    label, counts = split_counts(size)
    seed = check_seed(seed)
    root = Path(root)
    target = root / dataset_dirname(counts, seed, cfg)
    recipe = {
        "format": FORMAT,
        "generator_version": GENERATOR_VERSION,
        "size": label,
        "seed": seed,
        "counts": counts,
        "config": cfg.to_dict(),
    }
    if target.exists() and not overwrite:
        _check_recipe(target, recipe)
        try:
            verify_synthetic(target)
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}; pass overwrite=True to regenerate {target}") from None
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{target.name}.{secrets.token_hex(4)}.part"
    tmp.mkdir()  # plain mkdir (not mkdtemp) so the final directory gets the usual permissions
    try:
        data = generate(counts, seed, cfg)
        files = _write_contents(tmp, data)
        manifest = {**recipe, "workbench_version": workbench.__version__, "files": files}
        _write_json(tmp / MANIFEST, manifest)
        _install(tmp, target, recipe, replace=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_contents(directory: Path, data: SyntheticData) -> dict[str, dict[str, Any]]:
    """Write every data file into ``directory``; return ``{file name: {"sha256", "bytes"}}``."""
    for name, split in data.splits.items():
        with open(directory / f"{name}_ims.npy", "wb") as fh:
            np.save(fh, split.images, allow_pickle=False)
        (directory / f"{name}_caps.txt").write_text(
            "".join(c + "\n" for c in split.captions), encoding="utf-8", newline="\n"
        )
        np.savez(directory / f"{name}_truth.npz", **split.truth.to_arrays())
    _write_json(directory / "vocab.json", vocab_json(data.vocabulary))
    cfg = data.config
    _write_json(
        directory / "lexicon.json",
        {
            "classes": [list(w) for w in CLASS_WORDS[: cfg.n_classes]],
            "attributes": [list(w) for w in ATTRIBUTE_WORDS[: cfg.n_attributes]],
            "places": [list(w) for w in PLACE_WORDS[: cfg.n_places]],
            "labels": "SceneTruth.labels = image_places: the index of each image's place",
        },
    )
    np.savez(
        directory / "prototypes.npz",
        class_vectors=data.class_vectors,
        attribute_vectors=data.attribute_vectors,
        place_vectors=data.place_vectors,
    )
    return {p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in sorted(directory.iterdir())}


def _install(tmp: Path, target: Path, recipe: Mapping[str, Any], *, replace: bool) -> None:
    """Rename the finished ``tmp`` onto ``target``."""
    if replace and target.exists():
        # Move the old copy aside first: rename cannot replace a non-empty directory.
        trash = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
        os.rename(target, trash)
        os.rename(tmp, target)
        shutil.rmtree(trash, ignore_errors=True)
        return
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
        # Another process installed the same dataset meanwhile; keep theirs if it is this recipe.
        _check_recipe(target, recipe)
        shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``manifest.json`` of a synthetic dataset directory.

    Raises:
        DataFormatError: the manifest is missing, not JSON, or not a synthetic-dataset manifest.
    """
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: missing; {path.parent} is not a complete synthetic dataset") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataFormatError(f"{path}: not a synthetic dataset manifest (expected format {FORMAT!r})")
    missing = [k for k in (*_RECIPE_KEYS, "files") if k not in manifest]
    if missing:
        raise DataFormatError(f"{path}: manifest lacks the field(s) {', '.join(missing)}")
    return manifest


def _check_recipe(target: Path, recipe: Mapping[str, Any]) -> None:
    manifest = read_manifest(target)
    differ = [k for k in _RECIPE_KEYS if manifest.get(k) != recipe[k]]
    if differ:
        found = ", ".join(f"{k}={manifest.get(k)!r}" for k in differ)
        wanted = ", ".join(f"{k}={recipe[k]!r}" for k in differ)
        raise DataFormatError(
            f"{target} already holds a different synthetic dataset ({found}; requested {wanted}); "
            "remove it or pass overwrite=True"
        )


def verify_synthetic(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Check every file listed in the manifest against its recorded size and sha256.

    Returns:
        The manifest.

    Raises:
        DataFormatError: the manifest is bad or a listed file is missing.
        ChecksumError: a file's size or sha256 differs from the manifest (names the file).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    for name, entry in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise DataFormatError(f"{path}: missing (listed in {directory / MANIFEST})")
        if path.stat().st_size != entry["bytes"]:
            raise ChecksumError(f"{path}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        digest = _sha256(path)
        if digest != entry["sha256"]:
            raise ChecksumError(f"{path}: sha256 {digest} differs from the manifest's {entry['sha256']}")
    return manifest


def load_truth(directory: str | os.PathLike[str], split: str) -> SceneTruth:
    """Read the :class:`SceneTruth` of ``split`` from a dataset directory written by :func:`write_synthetic`.

    Raises:
        DataFormatError: the truth file is missing, unreadable or inconsistent (the message names it).
    """
    path = Path(directory) / f"{split}_truth.npz"
    if not path.is_file():
        have = sorted(p.name.removesuffix("_truth.npz") for p in Path(directory).glob("*_truth.npz"))
        raise DataFormatError(f"{path}: missing; splits with truth here: {', '.join(have) or 'none'}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path}: unreadable ({exc})") from None
    try:
        return SceneTruth.from_arrays(arrays)
    except DataFormatError as exc:
        raise DataFormatError(f"{path}: {exc}") from None


def load_prototypes(directory: str | os.PathLike[str]) -> dict[str, NDArray[np.float32]]:
    """The world vectors: ``class_vectors [C, D]``, ``attribute_vectors [A, D]``, ``place_vectors [P, D]``."""
    path = Path(directory) / "prototypes.npz"
    keys = ("class_vectors", "attribute_vectors", "place_vectors")
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {key: npz[key] for key in keys}
    except FileNotFoundError:
        raise DataFormatError(f"{path}: missing") from None
    except KeyError as exc:
        raise DataFormatError(f"{path}: lacks the array {exc}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path}: unreadable ({exc})") from None
    return out


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
