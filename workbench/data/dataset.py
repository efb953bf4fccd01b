"""Everything a retrieval run reads, loaded once: splits, tokenised captions, the mismatch, the truth.

:func:`load_retrieval_data` turns a :class:`~workbench.config.DataConfig` into :class:`RetrievalData`:

* the dataset directory (``synthetic`` is generated on first use; ``f30k`` / ``coco`` / ``cc152k`` are the
  user's NCR/SCAN precomp directories ``<root>/<name>_precomp``; ``precomp`` is any directory given by
  ``path``) and its vocabulary (``vocab.json`` in the directory, or ``<root>/vocab/<name>_precomp_vocab.json``
  as in the NCR download);
* the training pairs after mismatching: caption ``c`` (which truly describes image ``c // k``) is paired with
  image ``pair_image[c]``; ``true_matched`` flags the pairs that stayed correct;
* validation (the first ``val_images`` images of ``val_split``) and test splits;
* the synthetic set's scene truth (which captions truly fit which images), ``None`` for real data.

Captions are tokenised once into one flat int32 array with offsets, so even COCO's 566k captions cost a few
MB; image features stay memory-mapped and are read per batch (:meth:`PairedSplit.batch`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.config import DataConfig
from workbench.data.noise import NoiseIndex, load_noise_index, make_noise_index, true_matched
from workbench.data.precomp import PrecompSplit, load_precomp_split
from workbench.data.synthetic import SyntheticConfig, load_truth, write_synthetic
from workbench.data.synthetic_truth import SceneTruth
from workbench.data.vocab import Vocabulary, load_vocab
from workbench.errors import ConfigError, DataFormatError

__all__ = [
    "TokenizedCaptions",
    "EvalSplit",
    "PairedSplit",
    "RetrievalData",
    "Batch",
    "data_root",
    "dataset_dir",
    "load_retrieval_data",
    "paper_noise_file",
    "check_captions_per_image",
]

log = logging.getLogger(__name__)

_REAL = {"f30k": "f30k_precomp", "coco": "coco_precomp", "cc152k": "cc152k_precomp"}


@dataclass(frozen=True, eq=False)
class TokenizedCaptions:
    """Captions as token ids: ``flat`` int32 ``[total]`` and ``offsets`` int64 ``[N + 1]``."""

    flat: np.ndarray
    offsets: np.ndarray
    texts: tuple[str, ...]

    @classmethod
    def encode(cls, texts: tuple[str, ...], vocab: Vocabulary) -> TokenizedCaptions:
        ids = [vocab.encode(t) for t in texts]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter((tok for x in ids for tok in x), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat=flat, offsets=offsets, texts=texts)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded token ids ``[b, L]`` (int64, ``<pad>`` = 0) and lengths ``[b]`` for captions ``index``."""
        index = np.asarray(index, dtype=np.int64)
        starts, ends = self.offsets[index], self.offsets[index + 1]
        lengths = ends - starts
        tokens = np.zeros((len(index), int(lengths.max()) if len(index) else 0), dtype=np.int64)
        for row, (s, e) in enumerate(zip(starts, ends, strict=True)):
            tokens[row, : e - s] = self.flat[s:e]
        return torch.from_numpy(tokens), torch.from_numpy(lengths)


@dataclass(frozen=True, eq=False)
class Batch:
    """One training batch: raw images ``[b, R, D]``, tokens ``[b, L]``, lengths ``[b]`` and indices."""

    images: torch.Tensor
    tokens: torch.Tensor
    lengths: torch.Tensor
    captions: np.ndarray  # caption indices into the split
    image_ids: np.ndarray  # image indices (the pairing used for training)

    def to(self, device: torch.device) -> Batch:
        return Batch(self.images.to(device), self.tokens.to(device), self.lengths.to(device),
                     self.captions, self.image_ids)

    def pin_memory(self) -> Batch:
        """The tensors in page-locked memory (asynchronous host-to-device copies; CUDA machines only)."""
        return Batch(self.images.pin_memory(), self.tokens.pin_memory(), self.lengths.pin_memory(),
                     self.captions, self.image_ids)


def _read_images(images: np.ndarray, index: np.ndarray) -> torch.Tensor:
    """Gather rows of a (memory-mapped) feature array in sorted order, then restore the order."""
    index = np.asarray(index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    rows = np.asarray(images[index[order]], dtype=np.float32)
    out = np.empty_like(rows)
    out[order] = rows
    return torch.from_numpy(out)


@dataclass(frozen=True, eq=False)
class EvalSplit:
    """An evaluation split: images ``[N, R, D]`` and ``k`` captions per image (caption c -> image c // k)."""

    name: str
    images: np.ndarray
    captions: TokenizedCaptions
    captions_per_image: int
    urls: tuple[str, ...] | None = None

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    def image_tensor(self, index: np.ndarray) -> torch.Tensor:
        return _read_images(self.images, index)


@dataclass(frozen=True, eq=False)
class PairedSplit:
    """Training pairs after mismatching: caption ``c`` is paired with image ``pair_image[c]``."""

    images: np.ndarray
    captions: TokenizedCaptions
    captions_per_image: int
    pair_image: np.ndarray  # [N_cap] int64, the (possibly wrong) image of each training pair
    true_matched: np.ndarray  # [N_cap] bool (meaningful only when truth_known)
    urls: tuple[str, ...] | None = None
    truth_known: bool = True  # False for real mismatches (CC152K): true_matched is then only the pairing

    @property
    def n_pairs(self) -> int:
        return len(self.captions)

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def true_image(self) -> np.ndarray:
        return np.arange(self.n_pairs, dtype=np.int64) // self.captions_per_image

    def batch(self, pair_index: np.ndarray) -> Batch:
        """The pairs ``pair_index`` as a :class:`Batch` (image of each pair = its training image)."""
        pair_index = np.asarray(pair_index, dtype=np.int64)
        images = self.pair_image[pair_index]
        tokens, lengths = self.captions.batch(pair_index)
        return Batch(_read_images(self.images, images), tokens, lengths, pair_index, images)

    def image_tensor(self, index: np.ndarray) -> torch.Tensor:
        return _read_images(self.images, index)


@dataclass(frozen=True, eq=False)
class RetrievalData:
    """The loaded dataset of a run."""

    name: str
    directory: Path
    vocab: Vocabulary
    train: PairedSplit
    val: EvalSplit
    test: EvalSplit
    noise: NoiseIndex | None
    truth: SceneTruth | None  # synthetic only: scene truth of the training split

    @property
    def img_dim(self) -> int:
        return int(self.train.images.shape[2])

    @property
    def n_regions(self) -> int:
        return int(self.train.images.shape[1])


def data_root(cfg: DataConfig) -> Path:
    """The data root: ``cfg.root``, else ``$WORKBENCH_DATA``, else ``./data``."""
    return Path(cfg.root or os.environ.get("WORKBENCH_DATA", "data")).expanduser()


def dataset_dir(cfg: DataConfig) -> Path:
    """The directory of the configured dataset (generating the synthetic set if needed)."""
    if cfg.path:
        return Path(cfg.path).expanduser()
    root = data_root(cfg)
    if cfg.frequency_skew and cfg.dataset != "synthetic":
        raise ConfigError(f"data.frequency_skew={cfg.frequency_skew:g} shapes the synthetic set only; "
                          f"dataset {cfg.dataset!r} has its own frequencies")
    if cfg.dataset == "synthetic":
        return write_synthetic(root, cfg.size, cfg.data_seed, SyntheticConfig(frequency_skew=cfg.frequency_skew))
    if cfg.dataset == "precomp":
        raise ConfigError("dataset 'precomp' needs data.path (the directory holding {split}_ims.npy ...)")
    return root / _REAL[cfg.dataset]


def _vocab_path(cfg: DataConfig, directory: Path) -> Path:
    candidates = [directory / "vocab.json"]
    if cfg.dataset in _REAL:
        candidates.append(data_root(cfg) / "vocab" / f"{_REAL[cfg.dataset]}_vocab.json")
    for path in candidates:
        if path.is_file():
            return path
    raise DataFormatError("no vocabulary found; looked for " + ", ".join(map(str, candidates))
                          + " (fetch one with `workbench data fetch vocab-ncr`)")


def _eval_split(split: PrecompSplit, vocab: Vocabulary, limit: int | None) -> EvalSplit:
    k = split.captions_per_image
    n = split.n_images if limit is None else min(limit, split.n_images)
    texts = split.captions[: n * k]
    urls = split.urls[: n * k] if split.urls else None
    return EvalSplit(split.name, split.images[:n], TokenizedCaptions.encode(texts, vocab), k, urls)


def paper_noise_file(cfg: DataConfig) -> Path:
    """The papers' image-level index for the dataset and MRate (RCL/DECL/L2RM; ``workbench data fetch``)."""
    if cfg.dataset not in ("f30k", "coco"):
        raise ConfigError(f"noise_file='paper' exists for f30k and coco only, not {cfg.dataset!r}")
    path = data_root(cfg) / "noise_index" / f"{_REAL[cfg.dataset]}" / f"noise_inx_{cfg.mrate:g}.npy"
    if not path.is_file():
        raise DataFormatError(f"the papers' mismatch index {path} is not there; fetch it with "
                              f"`workbench data fetch {cfg.dataset}-noise --root {data_root(cfg)}`")
    return path


def _noise(cfg: DataConfig, n_images: int, k: int) -> NoiseIndex | None:
    if cfg.noise_file == "paper" and cfg.mrate == 0:
        return None
    if cfg.noise_file:
        path = paper_noise_file(cfg) if cfg.noise_file == "paper" else Path(cfg.noise_file)
        noise = load_noise_index(path, captions_per_image=k, n_images=n_images)
        log.info("mismatch index %s: %s level, %d of %d moved", path, noise.level, noise.moved,
                 len(noise.index))
        if abs(noise.fraction - cfg.mrate) > 1.0 / len(noise.index) + 1e-9:
            log.warning("mismatch index %s moves %.4f of the pairs but data.mrate=%g; the run records the "
                        "file's rate", path, noise.fraction, cfg.mrate)
        return noise
    if cfg.mrate == 0:
        return None
    return make_noise_index(cfg.noise_protocol, n_images, k, cfg.mrate, cfg.noise_seed)


def check_captions_per_image(splits: list[PrecompSplit]) -> int:
    """The dataset's captions per image ``k``, one property of the whole dataset.

    Each split infers ``k`` from its own counts (``N_cap = k * N_img``); a split that disagrees with the
    others (e.g. a training caption file cut to 4 per image beside 5 in val and test) would silently
    pair caption ``c`` with image ``c // 4``, so any disagreement is a :class:`DataFormatError`
    listing every split's files, counts and ``k``.
    """
    ks = {split.captions_per_image for split in splits}
    if len(ks) == 1:
        return ks.pop()
    detail = "; ".join(f"{s.name}: {s.caption_path.name} has {len(s.captions)} captions for {s.n_images} "
                       f"images in {s.image_path.name} (k = {s.captions_per_image})" for s in splits)
    raise DataFormatError(f"captions per image differ across the splits of {splits[0].image_path.parent} "
                          f"({detail}); k is one property of the dataset: fix or re-create the odd split's "
                          "caption or feature file")


def load_retrieval_data(cfg: DataConfig) -> RetrievalData:
    """Load the dataset, apply the mismatch, tokenise the captions (see the module docstring)."""
    directory = dataset_dir(cfg)
    vocab = load_vocab(_vocab_path(cfg, directory))
    train = load_precomp_split(directory, "train")
    val_raw = load_precomp_split(directory, cfg.val_split)
    test_raw = load_precomp_split(directory, cfg.test_split)
    k = check_captions_per_image([train, val_raw, test_raw])
    n_img = train.n_images if not cfg.train_images else min(cfg.train_images, train.n_images)
    if cfg.dataset == "cc152k" and cfg.mrate > 0:
        log.warning("cc152k has real mismatches; adding synthetic ones on top (mrate=%s)", cfg.mrate)
    if cfg.train_images and cfg.noise_file:
        raise ConfigError("data.train_images (a prefix of the training set) cannot be combined with "
                          f"data.noise_file={cfg.noise_file!r}, which indexes the whole training set")
    noise = _noise(cfg, n_img, k)
    pair_image = noise.caption_index() if noise is not None else np.arange(n_img * k) // k
    n_cap = n_img * k
    urls = train.urls[:n_cap] if train.urls else None
    paired = PairedSplit(
        images=train.images[:n_img],
        captions=TokenizedCaptions.encode(train.captions[:n_cap], vocab),
        captions_per_image=k,
        pair_image=pair_image.astype(np.int64),
        true_matched=true_matched(pair_image, k),
        urls=urls,
        truth_known=cfg.dataset != "cc152k",
    )
    for other in (val_raw, test_raw):
        if other.images.shape[1:] != train.images.shape[1:]:
            raise DataFormatError(f"{other.image_path}: regions x dims {tuple(other.images.shape[1:])} differ from "
                                  f"the training split's {tuple(train.images.shape[1:])} ({train.image_path})")
    val = _eval_split(val_raw, vocab, cfg.val_images)
    test = _eval_split(test_raw, vocab, None)
    truth = load_truth(directory, "train") if cfg.dataset == "synthetic" else None
    log.info("%s: %d training pairs (%.1f%% mismatched), val %d images, test %d images", cfg.dataset,
             paired.n_pairs, 100 * (1 - paired.true_matched.mean()), val.n_images, test.n_images)
    return RetrievalData(cfg.dataset, directory, vocab, paired, val, test, noise, truth)
