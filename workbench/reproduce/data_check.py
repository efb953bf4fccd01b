"""Which data files a reproduction's settings need, and one error naming all that are missing.

A retrieval run on ``f30k`` / ``coco`` / ``cc152k`` (or a ``precomp`` directory) reads, from its dataset
directory, ``{split}_ims.npy`` and ``{split}_caps.txt`` (or ``.tsv``) for the training, validation and test
splits; a vocabulary (``vocab.json`` in the directory or ``<root>/vocab/<name>_precomp_vocab.json``); and,
for the papers' mismatches (``data.noise_file="paper"``, MRate > 0), the index
``<root>/noise_index/<name>_precomp/noise_inx_<mrate>.npy`` (an explicit ``noise_file`` path likewise).
The synthetic set is generated on first use and needs nothing.

:func:`check_reproduction_data` collects the missing files of every setting and raises one
:class:`MissingDataError` before any notebook starts, naming each file and the data card that says where
to get it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workbench.config import DataConfig, TrainConfig
from workbench.data.dataset import data_root, dataset_dir
from workbench.errors import DataFormatError

__all__ = ["NeededFile", "MissingDataError", "needed_files", "missing_files", "check_reproduction_data"]

_PRECOMP = {"f30k": "f30k_precomp", "coco": "coco_precomp", "cc152k": "cc152k_precomp"}


class MissingDataError(DataFormatError):
    """Data files a reproduction needs are not on disk (the message lists them and their data cards)."""


@dataclass(frozen=True)
class NeededFile:
    """One file (or one of several alternatives) a run reads, and the data card describing it."""

    paths: tuple[Path, ...]  # any one of them will do
    what: str
    card: str  # e.g. "data_cards/f30k.md"

    def present(self) -> bool:
        return any(p.is_file() for p in self.paths)

    def describe(self) -> str:
        where = " or ".join(str(p.absolute()) for p in self.paths)
        return f"{where} ({self.what}; see {self.card})"


def needed_files(data: DataConfig) -> list[NeededFile]:
    """The files a run with ``data`` reads (see the module docstring); empty for the synthetic set."""
    if data.dataset == "synthetic":
        return []
    directory = dataset_dir(data)
    card = f"data_cards/{data.dataset}.md" if data.dataset in _PRECOMP else "data_cards/f30k.md (the layout)"
    out: list[NeededFile] = []
    for split, role in (("train", "training"), (data.val_split, "validation"), (data.test_split, "test")):
        out.append(NeededFile((directory / f"{split}_ims.npy",), f"{role} region features", card))
        out.append(NeededFile((directory / f"{split}_caps.txt", directory / f"{split}_caps.tsv"),
                              f"{role} captions", card))
    vocab = [directory / "vocab.json"]
    if data.dataset in _PRECOMP:
        vocab.append(data_root(data) / "vocab" / f"{_PRECOMP[data.dataset]}_vocab.json")
    out.append(NeededFile(tuple(vocab), "vocabulary; `workbench data fetch vocab-ncr`", "data_cards/vocab-ncr.md"))
    if data.noise_file == "paper" and data.mrate > 0 and data.dataset in ("f30k", "coco"):
        path = data_root(data) / "noise_index" / _PRECOMP[data.dataset] / f"noise_inx_{data.mrate:g}.npy"
        out.append(NeededFile((path,), f"the papers' mismatch index at MRate {data.mrate:g}; "
                              f"`workbench data fetch {data.dataset}-noise`", f"data_cards/{data.dataset}-noise.md"))
    elif data.noise_file and data.noise_file != "paper":
        out.append(NeededFile((Path(data.noise_file).expanduser(),), "the configured mismatch index (data.noise_file)",
                              "data_cards/f30k-noise.md"))
    return out


def missing_files(configs: Iterable[TrainConfig]) -> list[NeededFile]:
    """The needed files of all ``configs`` that are not on disk, each once, in first-needed order."""
    seen: dict[tuple[Path, ...], NeededFile] = {}
    for cfg in configs:
        for needed in needed_files(cfg.data):
            if needed.paths not in seen and not needed.present():
                seen[needed.paths] = needed
    return list(seen.values())


def check_reproduction_data(target: str, configs: Iterable[TrainConfig]) -> None:
    """Raise :class:`MissingDataError` listing every missing file of ``configs`` (nothing when all exist)."""
    missing = missing_files(configs)
    if not missing:
        return
    cards = sorted({m.card.split(" ")[0] for m in missing})
    lines = "\n".join(f"  - {m.describe()}" for m in missing)
    raise MissingDataError(f"{target}: {len(missing)} data file(s) its settings need are missing; no setting "
                           f"was started:\n{lines}\nWhere to get them: {', '.join(cards)} "
                           "(set the data root with --set data.root=DIR or $WORKBENCH_DATA)")
