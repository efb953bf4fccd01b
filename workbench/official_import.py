"""Turn an official L2RM checkpoint into a run directory every workbench command reads.

:func:`import_official` reads the file (:mod:`workbench.official_checkpoint`), builds the model that its
``opt`` describes, loads the converted weights (every name and shape checked), and writes
``<run dir>/run.json`` with status ``imported`` plus ``checkpoints/best.pt`` in the workbench's own format
(``{"version", "epoch", "config", "models": [state dict], "cost_net": state dict}``). ``workbench eval``,
``workbench score`` and the dashboard then treat it like a finished run without test results.

Vocabulary: ``opt.vocab_size`` is the word-embedding size, ``len(vocab) + 1`` for the official code
(it appends ``<mask>``). With ``vocab`` given, the file is checked against that size and its word list's
fingerprint is recorded, so that evaluation refuses data encoded with another vocabulary (the NCR and SCAN
vocabularies give the same words different ids).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from workbench.checkpoints import save_checkpoint
from workbench.data.download import sha256_of
from workbench.data.vocab import Vocabulary, load_vocab
from workbench.errors import ConfigError, DataFormatError
from workbench.models import build_model
from workbench.official_checkpoint import (
    OfficialCheckpoint,
    convert_cost_state_dict,
    convert_state_dict,
    official_config,
    read_official_checkpoint,
)
from workbench.ot.cost import LearnableCost
from workbench.runs import RunWriter, describe_environment

__all__ = ["import_official", "vocab_fingerprint", "IMPORT_CHECKPOINT_VERSION"]

#: The version field of ``best.pt`` (the trainer's checkpoint version).
IMPORT_CHECKPOINT_VERSION = 1


def vocab_fingerprint(vocab: Vocabulary) -> str:
    """sha256 of the words in id order, one per line: equal exactly when every word has the same id."""
    return hashlib.sha256("\n".join(vocab.words).encode("utf-8")).hexdigest()


def _check_vocab(ckpt: OfficialCheckpoint, vocab: Vocabulary, path: Path) -> None:
    size = int(ckpt.opt["vocab_size"])
    if size not in (len(vocab), len(vocab) + 1):
        raise DataFormatError(f"{path}: {len(vocab)} words, but the checkpoint {ckpt.path} has opt.vocab_size "
                              f"{size} (the official code uses len(vocab) + 1 = {len(vocab) + 1}, adding <mask>); "
                              "this is not the vocabulary the model was trained with")


def _summary(cfg: Any) -> dict[str, Any]:
    return {"track": "retrieval", "dataset": cfg.data.dataset, "method": cfg.method,
            "backbone": cfg.model.backbone, "mrate": cfg.data.mrate,
            "rho": cfg.l2rm.rho if cfg.method == "l2rm" else None,
            "lam": cfg.l2rm.lam if cfg.method == "l2rm" else None,
            "batch_size": cfg.optim.batch_size, "seed": cfg.seed}


def import_official(checkpoint: str | os.PathLike[str], run_dir: str | os.PathLike[str], *,
                    vocab: str | os.PathLike[str] | None = None, method: str | None = None,
                    n_regions: int = 36, overwrite: bool = False) -> Path:
    """Convert an official checkpoint into the run directory ``run_dir`` (status ``imported``).

    Args:
        checkpoint: the official ``.pth.tar`` file.
        run_dir: the directory to create.
        vocab: the vocabulary json the model was trained with (checked and fingerprinted), optional.
        method: the training method recorded in the run; default ``l2rm`` when the file holds a
            ``cost_function``, required otherwise (NCR / DECL / RCL files of the same SGRAF layout).
        n_regions: regions per image (the visual self-attention's BatchNorm width; 36 in every release).
        overwrite: replace a run already in ``run_dir``.

    Returns:
        The run directory.

    Raises:
        RunDirError: an unreadable, refused or mis-shaped checkpoint (see :mod:`workbench.official_checkpoint`).
        ConfigError: options that do not map onto a configuration, or no ``method`` for a file without a cost.
        DataFormatError: a vocabulary whose size does not fit ``opt.vocab_size``.
    """
    ckpt = read_official_checkpoint(checkpoint)
    if method is None:
        if ckpt.cost is None:
            raise ConfigError(f"{ckpt.path}: no 'cost_function', so it is not an L2RM checkpoint; name the method "
                              "that trained it (e.g. method='ncr')")
        method = "l2rm"
    cfg = official_config(ckpt, method)
    vocab_size = int(ckpt.opt["vocab_size"])
    model = build_model(cfg.model, vocab_size=vocab_size, img_dim=int(ckpt.opt["img_dim"]), n_regions=n_regions)
    model.load_state_dict(convert_state_dict(ckpt.net, model.state_dict(), ckpt.path))
    state: dict[str, Any] = {"version": IMPORT_CHECKPOINT_VERSION, "epoch": ckpt.epoch or 0,
                             "config": cfg.to_dict(), "models": [model.state_dict()]}
    if ckpt.cost is not None:
        cost = convert_cost_state_dict(ckpt.cost, ckpt.path)
        net = LearnableCost(int(cost["linear.weight"].shape[0]))
        net.load_state_dict(cost)
        state["cost_net"] = net.state_dict()
    imported: dict[str, Any] = {"path": str(ckpt.path.resolve()), "sha256": sha256_of(ckpt.path),
                                "epoch": ckpt.epoch, "best_rsum": ckpt.best_rsum, "vocab_size": vocab_size,
                                "opt": {k: v if isinstance(v, (bool, int, float, str)) or v is None else str(v)
                                        for k, v in ckpt.opt.items()}}
    if vocab is not None:
        words = load_vocab(vocab)
        _check_vocab(ckpt, words, Path(vocab))
        imported.update(vocab_path=str(Path(vocab).resolve()), vocab_fingerprint=vocab_fingerprint(words))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = RunWriter.create(run_dir, config=cfg.to_dict(), summary=_summary(cfg), preset=None,
                              versions={**describe_environment(), "torch": torch.__version__}, overwrite=overwrite)
    try:
        save_checkpoint(state, writer.checkpoint("best.pt"))
        writer.update(imported=imported, best_rsum=ckpt.best_rsum)
    except BaseException as exc:
        writer.finish("failed", exc)
        raise
    writer.finish("imported")
    return run_dir
