"""The label track's data: labelled pairs, label noise, the validation split and standardisation.

:func:`load_label_data` turns a :class:`~workbench.labels.config.LabelDataConfig` into a
:class:`LabelData`:

1. the labelled pairs of the dataset: ``wikipedia`` (SIFT / LDA; rows 0-2172 train, 2173-2865 test; fetched
   through the registry, mirror first), ``mfeat`` (UCI Multiple Features, two views, fixed 1,500 / 500
   split; fetched likewise; :mod:`workbench.data.mfeat`), ``user`` (a user's own pairs,
   :mod:`workbench.data.user_pairs`), ``synthetic`` (:func:`synthetic_pairs`) or one of the papers' files
   (:mod:`workbench.labels.loaders`);
2. label noise on the whole training pool (:func:`~workbench.labels.noise.make_label_noise`), seeded;
3. when the dataset has no validation split, a class-stratified ``val_fraction`` of the pool, drawn with
   the seed on the true classes: the split is part of the benchmark, identical at every noise rate, so a
   row of the MAP table varies the noise only (and CCA, which uses no labels, gives one number). The
   validation labels are **noisy** like the rest of train, because that is all a user has; model selection
   on them is itself noisy (``val_labels="clean"`` gives MRL's clean-label selection instead). With a file's
   own validation split, its labels get the same noise, drawn separately;
4. z-scoring of every feature with the mean and std of the training rows (a constant feature gets std 1).

Test labels are always clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.wikipedia import LabelledPairs, load_wikipedia, stratified_indices
from workbench.errors import ConfigError
from workbench.labels.config import LabelDataConfig
from workbench.labels.loaders import PAPER_DATASETS, load_paper_dataset
from workbench.labels.noise import NoisyLabels, make_label_noise

__all__ = ["LabelData", "load_label_data", "synthetic_pairs", "standardise", "wikipedia_path", "registry_path"]


@dataclass(frozen=True, eq=False)
class LabelData:
    """Everything a label-track run trains and evaluates on.

    Attributes:
        train: ``N`` training pairs with their **clean** labels (for measuring correction only).
        val: validation pairs (clean labels in ``val.labels``).
        test: test pairs, clean labels.
        noisy_train: ``[N, 2]`` int64 noisy (image, text) training labels: what methods see.
        noisy_val: ``[N_val, 2]`` int64 validation labels used for model selection (noisy, or clean with
            ``val_labels="clean"``).
        noise: the noise over the whole training pool (train + carved validation), for the run directory.
        train_rows: ``[N]`` rows of the pool that are training pairs (``None`` when the file has its own
            validation split: then the pool is the training set).
        class_names: ``C`` names.
        dataset: the dataset name.
    """

    train: LabelledPairs
    val: LabelledPairs
    test: LabelledPairs
    noisy_train: np.ndarray
    noisy_val: np.ndarray
    noise: NoisyLabels
    train_rows: np.ndarray | None
    class_names: tuple[str, ...]
    dataset: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def registry_path(cfg: LabelDataConfig, name: str, filename: str) -> Path:
    """``cfg.path``, else the registry dataset ``name``'s file ``filename`` under the data root (fetched,
    mirror first)."""
    if cfg.path:
        return Path(cfg.path).expanduser()
    from workbench.data.download import fetch
    from workbench.data.registry import default_data_root

    root = Path(cfg.root).expanduser() if cfg.root else default_data_root()
    result = fetch(name, root)
    return next(f.path for f in result.files if f.path.name == filename)


def wikipedia_path(cfg: LabelDataConfig) -> Path:
    """``cfg.path``, else the registry's ``Wiki_fea.mat`` under the data root (fetched, mirror first)."""
    return registry_path(cfg, "wikipedia", "Wiki_fea.mat")


def synthetic_pairs(size: str = "small", seed: int = 0) -> tuple[LabelledPairs, LabelledPairs, LabelledPairs]:
    """The synthetic scene set as labelled pairs: ``(train, dev, test)``.

    Label: the scene's place (:attr:`SceneTruth.labels`, 8 classes). Image: the mean of the ``R`` region
    features ``[D]`` (the place shows in one region). Text: the word frequencies of the image's captions,
    joined into one document (like Wikipedia's LDA proportions), over the generator's vocabulary; a caption
    names the place with probability ``p_place``, so the text side is informative but not exact.
    """
    from workbench.data.synthetic import generate
    from workbench.data.synthetic_grammar import PLACE_WORDS
    from workbench.data.tokenize import tokenize

    data = generate(size, seed)
    index = {word: i for i, word in enumerate(data.vocabulary)}
    names = tuple(str(PLACE_WORDS[p][0]) for p in range(data.config.n_places))
    out = []
    for name in ("train", "dev", "test"):
        split = data[name]
        k = split.truth.captions_per_image
        text = np.zeros((split.images.shape[0], len(index)), dtype=np.float32)
        for m, caption in enumerate(split.captions):
            for token in tokenize(caption):
                if token in index:
                    text[m // k, index[token]] += 1.0
        text /= np.maximum(text.sum(axis=1, keepdims=True), 1.0)
        out.append(LabelledPairs(split.images.mean(axis=1).astype(np.float32), text,
                                 split.truth.labels.astype(np.int64), names, "val" if name == "dev" else name))
    return out[0], out[1], out[2]


def standardise(train: LabelledPairs, *others: LabelledPairs) -> tuple[LabelledPairs, ...]:
    """Z-score both views of every set with the training mean and std (std 0 -> 1)."""
    stats = []
    for view in (train.image, train.text):
        mean = view.mean(axis=0, dtype=np.float64)
        std = view.std(axis=0, dtype=np.float64)
        stats.append((mean, np.where(std > 0, std, 1.0)))

    def apply(pairs: LabelledPairs) -> LabelledPairs:
        (mi, si), (mt, st) = stats
        return LabelledPairs(((pairs.image - mi) / si).astype(np.float32), ((pairs.text - mt) / st).astype(np.float32),
                             pairs.labels, pairs.class_names, pairs.split)

    return tuple(apply(p) for p in (train, *others))


def _sources(cfg: LabelDataConfig) -> tuple[LabelledPairs, LabelledPairs | None, LabelledPairs]:
    if cfg.dataset == "wikipedia":
        path = wikipedia_path(cfg)
        return load_wikipedia(path, "train"), None, load_wikipedia(path, "test")
    if cfg.dataset == "mfeat":
        from workbench.data.mfeat import load_mfeat, mfeat_splits

        path = registry_path(cfg, "mfeat", f"mfeat-{cfg.image_view}.csv")
        pool, test = mfeat_splits(load_mfeat(path if path.is_dir() else path.parent, cfg.image_view, cfg.text_view))
        return pool, None, test
    if cfg.dataset == "user":
        from workbench.data.user_pairs import load_user_pairs

        if not cfg.path:
            raise ConfigError("dataset 'user' needs data.path: a .npz / .mat file (arrays image, text, labels, "
                              "optional split) or a directory of image.npy, text.npy, labels.npy")
        user = load_user_pairs(cfg.path)
        return user.train, user.val, user.test
    if cfg.dataset == "synthetic":
        return synthetic_pairs(cfg.size, cfg.data_seed)
    if cfg.dataset in PAPER_DATASETS:
        if not cfg.path:
            raise ConfigError(f"dataset {cfg.dataset!r} needs data.path: the papers' feature file "
                              f"({PAPER_DATASETS[cfg.dataset][0]}) or its directory")
        splits = load_paper_dataset(cfg.dataset, cfg.path)
        return splits.train, splits.val, splits.test
    raise ConfigError(f"unknown label-track dataset {cfg.dataset!r}")


def load_label_data(cfg: LabelDataConfig, seed: int) -> LabelData:
    """Load, corrupt, split and standardise (see the module docstring).

    Args:
        cfg: the data section.
        seed: the seed of the noise and the validation split (``LabelTrainConfig.noise_seed``).
    """
    pool, given_val, test = _sources(cfg)
    n_classes = len(pool.class_names)
    noise = make_label_noise(pool.labels, n_classes, noise=cfg.noise, rate=cfg.rate, level=cfg.level, seed=seed)
    if given_val is None:
        keep, held = stratified_indices(pool.labels, cfg.val_fraction, seed)
        train, val = pool.subset(keep, "train"), pool.subset(held, "val")
        noisy_train, noisy_val, rows = noise.labels[keep], noise.labels[held], keep
    else:
        val_noise = make_label_noise(given_val.labels, n_classes, noise=cfg.noise, rate=cfg.rate,
                                     level=cfg.level, seed=seed + 7919)
        train, val, rows = pool, given_val, None
        noisy_train, noisy_val = noise.labels, val_noise.labels
    if cfg.val_labels == "clean":
        noisy_val = np.stack([val.labels, val.labels], axis=1)
    if cfg.standardise:
        train, val, test = standardise(train, val, test)
    return LabelData(train, val, test, noisy_train, noisy_val, noise, rows, pool.class_names, cfg.dataset)
