"""Score given inputs with a run's models: the ``[N, M]`` similarity of N images and M captions.

Inputs (an ``.npz`` file, read without pickles): ``images`` ``[N, R, D]`` float32 region features,
``captions`` ``[M, L]`` int64 word ids (0-padded after each caption's length), ``lengths`` ``[M]`` int64
(each in ``1..L``). The output is what the run ranks with: the activated score (``sigmoid`` of the head's
logit for SAF / SGR, the cosine for VSE), averaged over the run's models with the method's combination
rule (:func:`workbench.scoring.combination`), computed in eval mode in blocks of images x captions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.errors import DataFormatError
from workbench.models import Captions, RetrievalModel
from workbench.scoring import Combine, EncodedSplit, similarity_fn

__all__ = ["ScoreInputs", "read_score_inputs", "score_matrix"]


@dataclass(frozen=True)
class ScoreInputs:
    """``images [N, R, D]`` float32, ``captions [M, L]`` int64, ``lengths [M]`` int64."""

    images: np.ndarray
    captions: np.ndarray
    lengths: np.ndarray


def read_score_inputs(path: str | os.PathLike[str]) -> ScoreInputs:
    """Read and check an inputs file.

    Raises:
        DataFormatError: unreadable file, a missing key, a wrong dtype or rank, lengths outside ``1..L``,
            a negative word id, or non-zero padding; the message names the file and the key.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [k for k in ("images", "captions", "lengths") if k not in arrays]
    if missing:
        raise DataFormatError(f"{path}: missing {', '.join(missing)} (found {sorted(arrays)})")
    images, captions, lengths = arrays["images"], arrays["captions"], arrays["lengths"]
    if images.ndim != 3 or not np.issubdtype(images.dtype, np.floating):
        raise DataFormatError(f"{path}: 'images' must be float [N, R, D], got {images.dtype} {images.shape}")
    for key, arr, rank in (("captions", captions, 2), ("lengths", lengths, 1)):
        if arr.ndim != rank or not np.issubdtype(arr.dtype, np.integer):
            raise DataFormatError(f"{path}: {key!r} must be an integer array of rank {rank}, got "
                                  f"{arr.dtype} {arr.shape}")
    if lengths.shape[0] != captions.shape[0]:
        raise DataFormatError(f"{path}: {lengths.shape[0]} lengths for {captions.shape[0]} captions")
    if lengths.size and (lengths.min() < 1 or lengths.max() > captions.shape[1]):
        raise DataFormatError(f"{path}: 'lengths' must lie in 1..{captions.shape[1]}, got "
                              f"{int(lengths.min())}..{int(lengths.max())}")
    if captions.size and captions.min() < 0:
        raise DataFormatError(f"{path}: 'captions' has a negative word id ({int(captions.min())})")
    pad = np.arange(captions.shape[1])[None, :] >= lengths[:, None]
    if np.any(captions[pad] != 0):
        raise DataFormatError(f"{path}: 'captions' must be 0 after each caption's length")
    return ScoreInputs(images.astype(np.float32), captions.astype(np.int64), lengths.astype(np.int64))


@torch.no_grad()
def _encode(model: RetrievalModel, inputs: ScoreInputs, device: torch.device, batch: int) -> EncodedSplit:
    model.eval()
    images = torch.from_numpy(inputs.images)
    regions = torch.cat([model.encode_images(images[s:s + batch].to(device)) for s in range(0, len(images), batch)])
    tokens, lengths = torch.from_numpy(inputs.captions), torch.from_numpy(inputs.lengths)
    longest = tokens.shape[1]
    words, lens = [], []
    for s in range(0, len(tokens), batch):
        enc = model.encode_captions(tokens[s:s + batch].to(device), lengths[s:s + batch].to(device))
        words.append(torch.nn.functional.pad(enc.words, (0, 0, 0, longest - enc.words.shape[1])))
        lens.append(enc.lengths)
    return EncodedSplit(model, regions, Captions(torch.cat(words), torch.cat(lens)))


def score_matrix(models: Sequence[RetrievalModel], inputs: ScoreInputs, device: torch.device, combine: Combine,
                 *, batch: int = 256) -> np.ndarray:
    """The ``[N, M]`` float32 score matrix of every image with every caption, averaged over ``models``.

    Raises:
        DataFormatError: inputs whose feature width, region count or word ids do not fit a model.
    """
    for model in models:
        vocab = model.text_encoder.embed.num_embeddings
        if inputs.captions.size and int(inputs.captions.max()) >= vocab:
            raise DataFormatError(f"inputs: word id {int(inputs.captions.max())} is outside the model's "
                                  f"vocabulary of {vocab} words")
        img_dim = model.image_encoder.fc.in_features
        if inputs.images.shape[2] != img_dim:
            raise DataFormatError(f"inputs: images have {inputs.images.shape[2]}-d features, the model takes "
                                  f"{img_dim}-d")
        if model.head is not None:
            regions = model.head.v_global.local[1].num_features
            if inputs.images.shape[1] != regions:
                raise DataFormatError(f"inputs: images have {inputs.images.shape[1]} regions, the model's "
                                      f"head takes {regions}")
    encoded = [_encode(m, inputs, device, batch) for m in models]
    sim = similarity_fn(encoded, combine)
    n, m = inputs.images.shape[0], inputs.captions.shape[0]
    out = np.empty((n, m), dtype=np.float32)
    for i in range(0, n, batch):
        rows = np.arange(i, min(n, i + batch))
        for j in range(0, m, batch):
            cols = np.arange(j, min(m, j + batch))
            out[i:rows[-1] + 1, j:cols[-1] + 1] = sim(rows, cols)
    return out
