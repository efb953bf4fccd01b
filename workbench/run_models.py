"""Rebuild a finished (or imported) run's best models from its directory.

The configuration comes from ``run.json``; the weights from ``checkpoints/best.pt`` (loaded with
``weights_only=True``). The sizes the configuration does not hold are read off the weights themselves
(:func:`model_sizes`): the vocabulary is the rows of the word embedding ``[V, word_dim]``, the image
feature width the columns of the image projection ``[embed, D]``, the regions per image the width of the
SGRAF visual self-attention's BatchNorm ``[R]``. So a run is scored without loading its training data,
and a dataset that does not fit the model (other feature width, more words than the embedding has rows,
another vocabulary than the one an imported model recorded) is refused by name instead of failing inside
the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from workbench.checkpoints import load_checkpoint
from workbench.config import TrainConfig
from workbench.errors import DataFormatError, RunDirError
from workbench.models import RetrievalModel, build_model
from workbench.runs import RUN_FILE, read_run_info

__all__ = ["ModelSizes", "model_sizes", "run_config", "load_run_models", "FINISHED_STATUSES"]

#: Run statuses whose best models exist and will not change.
FINISHED_STATUSES = ("done", "imported")


@dataclass(frozen=True)
class ModelSizes:
    """Sizes a model's weights fix: embedding rows, image feature width, regions (None for VSE)."""

    vocab_size: int
    img_dim: int
    n_regions: int | None


def model_sizes(state: Mapping[str, Tensor], source: str | Path = "checkpoint") -> ModelSizes:
    """Read :class:`ModelSizes` off a :class:`RetrievalModel` state dict.

    Raises:
        RunDirError: a state dict without the word embedding or the image projection.
    """
    try:
        vocab = int(state["text_encoder.embed.weight"].shape[0])
        img_dim = int(state["image_encoder.fc.weight"].shape[1])
    except KeyError as exc:
        raise RunDirError(f"{source}: the model's weights lack {exc.args[0]!r}") from None
    bn = state.get("head.v_global.local.1.running_mean")
    return ModelSizes(vocab, img_dim, None if bn is None else int(bn.shape[0]))


def run_config(run_dir: str | Path) -> TrainConfig:
    """The configuration of a finished or imported run (``run.json``'s ``config``).

    Raises:
        RunDirError: no run directory, a damaged ``run.json``, a run that is neither ``done`` nor
            ``imported``, or no ``config``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no run directory there")
    info = read_run_info(run_dir)
    if info.get("status") not in FINISHED_STATUSES:
        raise RunDirError(f"{run_dir}: run status is {info.get('status')!r}, not 'done' or 'imported'")
    if not isinstance(info.get("config"), dict):
        raise RunDirError(f"{run_dir / RUN_FILE}: no 'config' recorded (the run's configuration), so its "
                          "models cannot be rebuilt")
    return TrainConfig.from_dict(info["config"])


def _check_data(run_dir: Path, sizes: ModelSizes, data: object) -> None:
    from workbench.official_import import vocab_fingerprint

    n_words = len(data.vocab)  # type: ignore[attr-defined]
    if n_words > sizes.vocab_size:
        raise DataFormatError(f"{run_dir}: the model's word embedding has {sizes.vocab_size} rows, but the data's "
                              f"vocabulary has {n_words} words; it was trained with another vocabulary")
    if data.img_dim != sizes.img_dim:  # type: ignore[attr-defined]
        raise DataFormatError(f"{run_dir}: the model takes {sizes.img_dim}-d region features, the data has "
                              f"{data.img_dim}-d")  # type: ignore[attr-defined]
    if sizes.n_regions is not None and data.n_regions != sizes.n_regions:  # type: ignore[attr-defined]
        raise DataFormatError(f"{run_dir}: the model takes {sizes.n_regions} regions per image, the data has "
                              f"{data.n_regions}")  # type: ignore[attr-defined]
    imported = read_run_info(run_dir).get("imported")
    if isinstance(imported, dict) and imported.get("vocab_fingerprint"):
        if vocab_fingerprint(data.vocab) != imported["vocab_fingerprint"]:  # type: ignore[attr-defined]
            raise DataFormatError(f"{run_dir}: the data's vocabulary is not the one the model was imported with "
                                  f"({imported.get('vocab_path')}): word ids would differ")


def load_run_models(run_dir: str | Path, data: object | None, device: torch.device) -> list[RetrievalModel]:
    """The best-on-validation models of a finished or imported run (two for the two-network methods), in
    eval mode on ``device``. With ``data`` (a :class:`~workbench.data.dataset.RetrievalData`), its
    vocabulary, feature width and regions are checked against the weights first."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    path = run_dir / "checkpoints" / "best.pt"
    state = load_checkpoint(path, keys=("models",))
    models = []
    for sd in state["models"]:
        sizes = model_sizes(sd, path)
        if data is not None:
            _check_data(run_dir, sizes, data)
        model = build_model(cfg.model, vocab_size=sizes.vocab_size, img_dim=sizes.img_dim,
                            n_regions=sizes.n_regions or 1)
        model.load_state_dict(sd)
        models.append(model.to(device).eval())
    return models
