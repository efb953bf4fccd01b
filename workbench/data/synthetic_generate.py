"""Generation of the synthetic scene-grammar image–caption set, in memory.

The generative story, for a dataset seed ``s``:

1. *World* (once per seed). Random unit vectors ``u_q`` for every object class ``q``, ``v_a`` for every
   attribute ``a`` and ``w_p`` for every place ``p``, all in ``R^D``.
2. *Scene* (per image). A number of objects ``n ~ U{min_objects..max_objects}``, ``n`` distinct classes
   drawn uniformly, one uniform attribute per object, one uniform place.
3. *Regions* (per image, ``[R, D]``). Object ``k`` gives the region ``u_{q_k} + β v_{a_k} + ε``; the place
   gives ``γ w_p + ε``; the other ``R - n - 1`` regions are background ``ε``; ``ε ~ N(0, σ² I_D)``
   independently per region; the region order is then shuffled. Defaults (``β = 0.5``, ``γ = 0.7``,
   ``σ = 0.08``, ``R = 12``, ``D = 64``) are the settings the calibration guide measured as learnable but
   not trivial on 2 CPU cores (``σ = 0.05`` is near trivial, ``σ = 0.15`` too hard).
4. *Captions* (``captions_per_image`` per image). Each object is mentioned with probability ``p_object``
   (at least one is), a mentioned object's attribute with ``p_attribute``, the place with ``p_place``;
   the mentions are put in a random order, each concept is worded with a uniformly drawn synonym, and one
   of six templates (:mod:`workbench.data.synthetic_grammar`) writes the sentence.

All random draws are vectorised numpy calls on ``SeedSequence(seed)`` children (one for the world, one
per split), so a seed fixes every array and every caption; only the final string assembly loops in
Python. Measured on the 2-core machine: ``tiny`` 0.06 s, ``small`` 0.33 s, ``medium`` 1.0 s.

With the defaults a random pair of images shares ≥ 2 object classes with probability 1.37 %
(hypergeometric; measured 1.3–1.4 %), so semantically compatible unpaired captions exist, but rarely —
which is what a rematching method must find. Captions have 11.2 tokens on average (max 21).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from workbench.configbase import Section, bounded, from_dict, to_dict
from workbench.data.synthetic_grammar import (
    ATTRIBUTE_WORDS,
    CLASS_WORDS,
    N_TEMPLATES,
    N_VARIANTS,
    PLACE_PREPOSITIONS,
    PLACE_WORDS,
    RELATIONS,
    lexicon_words,
    render_caption,
)
from workbench.data.synthetic_truth import BACKGROUND_REGION, PLACE_REGION, SceneTruth
from workbench.errors import ConfigError

__all__ = [
    "SyntheticConfig",
    "SyntheticSplit",
    "SyntheticData",
    "SIZES",
    "SPLITS",
    "generate",
    "check_seed",
    "split_counts",
    "vocabulary_words",
    "zipf_weights",
]

SPLITS: tuple[str, ...] = ("train", "dev", "test")
SIZES: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "tiny": (400, 100, 100),  # tests: a fraction of a second
        "small": (3000, 300, 500),  # the demo (the calibration guide's setting)
        "medium": (10000, 1000, 1000),  # benchmarks
    }
)


#: Generator settings added after the first version, with the default that reproduces the earlier recipe.
_LATER_DEFAULTS: Mapping[str, Any] = MappingProxyType({"frequency_skew": 0.0})


@dataclasses.dataclass(frozen=True)
class SyntheticConfig(Section):
    """Settings of the generator; the defaults are the calibrated ones."""

    n_classes: int = bounded(40, ge=2, le=len(CLASS_WORDS), doc="object classes (3-4 synonyms each)")
    n_attributes: int = bounded(10, ge=1, le=len(ATTRIBUTE_WORDS), doc="attributes (3 synonyms each)")
    n_places: int = bounded(8, ge=1, le=len(PLACE_WORDS), doc="places (3 synonyms each)")
    min_objects: int = bounded(2, ge=1, doc="fewest objects in an image")
    max_objects: int = bounded(4, ge=1, doc="most objects in an image")
    regions: int = bounded(12, ge=2, doc="regions R per image (objects + place + background)")
    dim: int = bounded(64, ge=2, doc="feature dimension D")
    noise_sigma: float = bounded(0.08, ge=0.0, doc="Gaussian noise std per dimension, every region")
    attribute_scale: float = bounded(0.5, ge=0.0, doc="weight of the attribute vector in an object region")
    place_scale: float = bounded(0.7, ge=0.0, doc="weight of the place vector in the place region")
    captions_per_image: int = bounded(5, ge=1)
    p_object: float = bounded(0.8, ge=0.0, le=1.0, doc="probability a caption mentions a given object")
    p_attribute: float = bounded(0.7, ge=0.0, le=1.0, doc="probability a mentioned object has its attribute")
    p_place: float = bounded(0.5, ge=0.0, le=1.0, doc="probability a caption mentions the place")
    frequency_skew: float = bounded(
        0.0, ge=0.0, le=4.0,
        doc="Zipf exponent s of how often each class, attribute and place occurs (the k-th in inventory order "
        "with weight k^-s); 0 = uniform (the original recipe)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min_objects > self.max_objects:
            raise ConfigError(
                f"SyntheticConfig.min_objects = {self.min_objects} exceeds max_objects = {self.max_objects}"
            )
        if self.max_objects > self.n_classes:  # classes within an image are distinct
            raise ConfigError(
                f"SyntheticConfig.max_objects = {self.max_objects} exceeds n_classes = {self.n_classes}"
            )
        if self.regions < self.max_objects + 1:
            raise ConfigError(
                f"SyntheticConfig.regions = {self.regions} must be >= max_objects + 1 = {self.max_objects + 1}"
                " (one region per object plus the place region)"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyntheticConfig:
        """Build from a mapping; unknown keys raise :class:`~workbench.errors.ConfigError`."""
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict.

        Settings added after the first generator version (:data:`_LATER_DEFAULTS`) appear only when they
        differ from their default, so the recipe of a dataset written before them is unchanged.
        """
        out = to_dict(self)
        for key, default in _LATER_DEFAULTS.items():
            if out[key] == default:
                del out[key]
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticSplit:
    """One split in memory.

    Attributes:
        name: ``"train"``, ``"dev"`` or ``"test"``.
        images: ``[N, R, D]`` float32 region features.
        captions: ``N * captions_per_image`` captions; caption ``m`` describes image
            ``m // captions_per_image``.
        truth: the scenes and caption contents (:class:`SceneTruth`).
    """

    name: str
    images: NDArray[np.float32]
    captions: tuple[str, ...]
    truth: SceneTruth


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticData:
    """A generated dataset: its recipe, its world vectors and its splits.

    Attributes:
        config: the generator settings.
        seed: the dataset seed.
        size: the size name (a key of :data:`SIZES`) or ``"custom"``.
        class_vectors: ``[n_classes, D]`` float32 unit vectors ``u_q``.
        attribute_vectors: ``[n_attributes, D]`` float32 unit vectors ``v_a``.
        place_vectors: ``[n_places, D]`` float32 unit vectors ``w_p``.
        splits: split name -> :class:`SyntheticSplit`, in the order of :data:`SPLITS`.
    """

    config: SyntheticConfig
    seed: int
    size: str
    class_vectors: NDArray[np.float32]
    attribute_vectors: NDArray[np.float32]
    place_vectors: NDArray[np.float32]
    splits: Mapping[str, SyntheticSplit]

    def __getitem__(self, split: str) -> SyntheticSplit:
        if split not in self.splits:
            raise KeyError(f"no split {split!r}; the splits are {', '.join(self.splits)}")
        return self.splits[split]

    @property
    def counts(self) -> dict[str, int]:
        """Images per split."""
        return {name: s.images.shape[0] for name, s in self.splits.items()}

    @property
    def vocabulary(self) -> list[str]:
        """Every word the generator can emit (see :func:`vocabulary_words`)."""
        return vocabulary_words(self.config)


def vocabulary_words(config: SyntheticConfig) -> list[str]:
    """The generator's words in a fixed order that depends only on the inventory sizes of ``config``."""
    return lexicon_words(config.n_classes, config.n_attributes, config.n_places)


def split_counts(size: str | tuple[int, int, int] | Mapping[str, int]) -> tuple[str, dict[str, int]]:
    """Resolve a size name, a ``(train, dev, test)`` tuple or a ``{split: n}`` mapping.

    Returns:
        ``(name, {split: n_images})`` where ``name`` is the size name or ``"custom"``.

    Raises:
        ConfigError: an unknown size name, a missing split or a count below 1.
    """
    if isinstance(size, str):
        if size not in SIZES:
            raise ConfigError(f"unknown synthetic size {size!r}; expected one of {', '.join(SIZES)}")
        return size, dict(zip(SPLITS, SIZES[size], strict=True))
    if isinstance(size, Mapping):
        if set(size) != set(SPLITS):
            raise ConfigError(f"synthetic split counts need exactly the keys {SPLITS}, got {tuple(size)}")
        counts = {name: size[name] for name in SPLITS}
    else:
        try:
            values = tuple(size)
        except TypeError:
            raise ConfigError(
                f"synthetic size must be a name or (train, dev, test) counts, got {size!r}"
            ) from None
        if len(values) != len(SPLITS):
            raise ConfigError(f"synthetic split counts must be (train, dev, test), got {values!r}")
        counts = dict(zip(SPLITS, values, strict=True))
    for name, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"synthetic split {name!r} needs a positive integer image count, got {n!r}")
    counts = {name: int(n) for name, n in counts.items()}
    named = [k for k, v in SIZES.items() if v == tuple(counts.values())]
    return (named[0] if named else "custom"), counts


def check_seed(seed: int) -> int:
    """Return ``seed`` as an ``int``; raise :class:`ConfigError` unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthetic seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def generate(
    size: str | tuple[int, int, int] | Mapping[str, int] = "small",
    seed: int = 0,
    config: SyntheticConfig | None = None,
) -> SyntheticData:
    """Generate the dataset in memory.

    Args:
        size: a name in :data:`SIZES` (``tiny``, ``small``, ``medium``), a ``(train, dev, test)`` tuple of
            image counts, or a mapping ``{split: count}``.
        seed: non-negative dataset seed; the same seed and config give identical arrays and text.
        config: generator settings (default :class:`SyntheticConfig`).

    Returns:
        The :class:`SyntheticData`.
    """
    cfg = config if config is not None else SyntheticConfig()
    seed = check_seed(seed)
    name, counts = split_counts(size)
    world_seq, *split_seqs = np.random.SeedSequence(seed).spawn(1 + len(SPLITS))
    world = np.random.default_rng(world_seq)
    vectors = [_unit_vectors(world, n, cfg.dim) for n in (cfg.n_classes, cfg.n_attributes, cfg.n_places)]
    splits = {
        split: _generate_split(split, counts[split], np.random.default_rng(seq), cfg, *vectors)
        for split, seq in zip(SPLITS, split_seqs, strict=True)
    }
    return SyntheticData(cfg, seed, name, *vectors, MappingProxyType(splits))


def _unit_vectors(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    """``[n, dim]`` independent uniformly distributed unit vectors (normalised Gaussians)."""
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _generate_split(
    name: str,
    n: int,
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    class_vectors: NDArray[np.float32],
    attribute_vectors: NDArray[np.float32],
    place_vectors: NDArray[np.float32],
) -> SyntheticSplit:
    k = cfg.max_objects
    # Scenes: n_obj distinct classes per image = the first n_obj entries of a random permutation
    # (uniform), or of a weighted one (Gumbel top-k: sampling without replacement in proportion to k^-s).
    n_obj = rng.integers(cfg.min_objects, cfg.max_objects + 1, size=n)
    filled = np.arange(k) < n_obj[:, None]  # [N, K]; objects occupy the leading slots
    if cfg.frequency_skew == 0:
        order = np.argsort(rng.random((n, cfg.n_classes)), axis=1)
        attributes = np.where(filled, rng.integers(0, cfg.n_attributes, size=(n, k)), -1)
        places = rng.integers(0, cfg.n_places, size=n)
    else:
        log_w = np.log(zipf_weights(cfg.n_classes, cfg.frequency_skew))
        order = np.argsort(-(log_w + rng.gumbel(size=(n, cfg.n_classes))), axis=1)
        attributes = np.where(filled, _weighted_index(rng, zipf_weights(cfg.n_attributes, cfg.frequency_skew),
                                                      (n, k)), -1)
        places = _weighted_index(rng, zipf_weights(cfg.n_places, cfg.frequency_skew), (n,))
    classes = np.where(filled, order[:, :k], -1)

    images, region_objects = _regions(
        rng, cfg, classes, attributes, places, class_vectors, attribute_vectors, place_vectors
    )
    cap_classes, cap_attributes, cap_places, captions = _captions(rng, cfg, classes, attributes, places)
    truth = SceneTruth(
        image_classes=classes,
        image_attributes=attributes,
        image_places=places,
        region_objects=region_objects,
        caption_classes=cap_classes,
        caption_attributes=cap_attributes,
        caption_places=cap_places,
        n_classes=cfg.n_classes,
        n_attributes=cfg.n_attributes,
        n_places=cfg.n_places,
        captions_per_image=cfg.captions_per_image,
    )
    return SyntheticSplit(name, images, tuple(captions), truth)


def _regions(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    classes: NDArray[np.int64],
    attributes: NDArray[np.int64],
    places: NDArray[np.int64],
    class_vectors: NDArray[np.float32],
    attribute_vectors: NDArray[np.float32],
    place_vectors: NDArray[np.float32],
) -> tuple[NDArray[np.float32], NDArray[np.int8]]:
    """Region features ``[N, R, D]`` and what each region shows ``[N, R]`` (see :class:`SceneTruth`)."""
    n, k = classes.shape
    filled = classes >= 0
    signal = np.zeros((n, cfg.regions, cfg.dim), dtype=np.float32)
    objects = (
        class_vectors[np.maximum(classes, 0)]
        + cfg.attribute_scale * attribute_vectors[np.maximum(attributes, 0)]
    )  # [N, K, D]
    signal[:, :k] = objects * filled[..., None]
    signal[:, k] = cfg.place_scale * place_vectors[places]
    roles = np.full((n, cfg.regions), BACKGROUND_REGION, dtype=np.int8)
    roles[:, :k] = np.where(filled, np.arange(k), BACKGROUND_REGION)
    roles[:, k] = PLACE_REGION
    signal += np.float32(cfg.noise_sigma) * rng.standard_normal(signal.shape, dtype=np.float32)
    # Shuffle regions so position carries no information about content.
    order = np.argsort(rng.random((n, cfg.regions)), axis=1)
    return np.take_along_axis(signal, order[..., None], axis=1), np.take_along_axis(roles, order, axis=1)


def _captions(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    classes: NDArray[np.int64],
    attributes: NDArray[np.int64],
    places: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], list[str]]:
    """Caption contents ``[M, K]``, ``[M, K]``, ``[M]`` (mention order, ``-1`` padded) and their text."""
    n, k = classes.shape
    m = n * cfg.captions_per_image
    src = np.repeat(np.arange(n), cfg.captions_per_image)
    cls, att = classes[src], attributes[src]
    filled = cls >= 0

    # What is said: each object with p_object, but never nothing (then one object, uniformly).
    said = (rng.random((m, k)) < cfg.p_object) & filled
    fallback = _uniform_index(rng, filled.sum(axis=1))  # a filled slot: filled slots lead
    silent = ~said.any(axis=1)
    said[silent, fallback[silent]] = True
    said_attr = (rng.random((m, k)) < cfg.p_attribute) & said
    said_place = rng.random(m) < cfg.p_place
    # Mention order: a random permutation of the said objects, unsaid slots pushed to the end.
    order = np.argsort(rng.random((m, k)) + ~said, axis=1)
    cap_classes = np.take_along_axis(np.where(said, cls, -1), order, axis=1)
    cap_attrs = np.take_along_axis(np.where(said_attr, att, -1), order, axis=1)
    cap_places = np.where(said_place, places[src], -1)

    # How it is said: synonyms, template, relation and wording variant, all drawn up front.
    noun = _uniform_index(rng, _option_counts(CLASS_WORDS)[np.maximum(cap_classes, 0)])
    adj = _uniform_index(rng, _option_counts(ATTRIBUTE_WORDS)[np.maximum(cap_attrs, 0)])
    place_syn = _uniform_index(rng, _option_counts(PLACE_WORDS)[places[src]])
    prep = _uniform_index(rng, _option_counts(PLACE_PREPOSITIONS)[places[src]])
    template = rng.integers(0, N_TEMPLATES, size=m)
    relation = rng.integers(0, len(RELATIONS), size=m)
    variant = rng.integers(0, N_VARIANTS, size=m)

    columns = (cap_classes, cap_attrs, noun, adj, cap_places, place_syn, prep, template, relation, variant)
    rows = zip(*(c.tolist() for c in columns), strict=True)
    captions = []
    for qs, as_, ns, js, p, ps, pp, t, r, v in rows:
        objects = [
            (CLASS_WORDS[q][ni], ATTRIBUTE_WORDS[a][ji] if a >= 0 else None)
            for q, a, ni, ji in zip(qs, as_, ns, js, strict=True)
            if q >= 0
        ]
        place = (PLACE_PREPOSITIONS[p][pp], PLACE_WORDS[p][ps]) if p >= 0 else None
        captions.append(render_caption(t, objects, place, r, v))
    return cap_classes, cap_attrs, cap_places, captions


def zipf_weights(n: int, exponent: float) -> NDArray[np.float64]:
    """``[n]`` probabilities ``k^-s / sum_j j^-s`` of the ``k``-th item (1-based), ``s = exponent``."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


def _weighted_index(rng: np.random.Generator, p: NDArray[np.float64], shape: tuple[int, ...]) -> NDArray[np.int64]:
    """Indices of ``p`` drawn independently with probabilities ``p``, an array of ``shape``."""
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(shape), side="right"), len(p) - 1).astype(np.int64)


def _option_counts(groups: tuple[tuple[str, ...], ...]) -> NDArray[np.int64]:
    """``[len(g) for g in groups]`` as an array, for vectorised synonym draws."""
    return np.array([len(g) for g in groups], dtype=np.int64)


def _uniform_index(rng: np.random.Generator, n_options: NDArray[np.integer]) -> NDArray[np.int64]:
    """For every entry ``n`` of ``n_options``, an index drawn uniformly from ``range(n)`` (same shape)."""
    return np.floor(rng.random(n_options.shape) * n_options).astype(np.int64)
