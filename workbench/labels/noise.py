r"""Class-label noise for the noisy-label track: symmetric and asymmetric, per pair or per modality.

Two noise types (MRL, Hu et al. CVPR 2021, ``src/noisydataset.py``, and its successors):

``symmetric``
    Exactly ``m = round(r N)`` of the ``N`` labels are chosen uniformly without replacement, and each
    chosen label moves to a class drawn uniformly from the ``C - 1`` **other** classes. Every chosen
    label therefore changes: the flip rate is exactly ``m / N``. (MRL draws the new class from all
    ``C`` classes, so about ``r / C`` of its "noisy" labels keep their class, and its inclusive
    ``randint`` can even emit the out-of-range class ``C``; this is the calibration guide's protocol.)
    Transition matrix: ``T = (1 - r) I + r (11^T - I) / (C - 1)``.

``asymmetric``
    MRL's half-permutation: draw a permutation ``\pi`` of the classes; class ``\pi_k`` maps to
    ``\pi_{k + \lfloor C/2 \rfloor}`` for ``k < \lfloor C/2 \rfloor`` and every other class maps to
    itself. Exactly ``m = round(r N)`` labels are chosen uniformly and sent through this map, so only
    the chosen labels of the ``\lfloor C/2 \rfloor`` source classes change (about ``r / 2`` of all
    labels for balanced classes). The map is a bijection from the source half onto the target half,
    so noisy labels of a source class always land in one fixed class: the structured confusion
    asymmetric noise is meant to model.

Granularity: ``pair`` (default; RSHNL / NIRNL and the calibration guide) draws one noisy label per
image-text pair; ``modality`` (MRL) draws the image and the text labels independently (separate
chosen sets and new classes; for ``asymmetric`` the same class map), so a pair's two noisy labels may
disagree. ``round`` is half-up, ``floor(r N + 1/2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from workbench.errors import ConfigError, DataFormatError

__all__ = [
    "NOISE_TYPES",
    "NOISE_LEVELS",
    "NoisyLabels",
    "noisy_count",
    "class_map",
    "transition_matrix",
    "symmetric_noise",
    "asymmetric_noise",
    "make_label_noise",
]

NoiseType = Literal["symmetric", "asymmetric"]
NoiseLevel = Literal["pair", "modality"]
NOISE_TYPES: tuple[str, ...] = ("symmetric", "asymmetric")
NOISE_LEVELS: tuple[str, ...] = ("pair", "modality")


@dataclass(frozen=True, eq=False)
class NoisyLabels:
    """Noisy training labels and how they were made.

    Attributes:
        labels: ``[N, 2]`` int64 noisy labels, column 0 the image's, column 1 the text's (equal columns
            for ``pair`` noise).
        clean: ``[N]`` int64 true labels.
        noise: ``"symmetric"`` or ``"asymmetric"``.
        rate: the requested rate ``r``.
        level: ``"pair"`` or ``"modality"``.
        mapping: ``[C]`` the asymmetric class map (``mapping[c]`` is where a chosen label of class ``c``
            goes); the identity for symmetric noise.
    """

    labels: np.ndarray
    clean: np.ndarray
    noise: str
    rate: float
    level: str
    mapping: np.ndarray

    @property
    def image(self) -> np.ndarray:
        """``[N]`` noisy image labels."""
        return self.labels[:, 0]

    @property
    def text(self) -> np.ndarray:
        """``[N]`` noisy text labels."""
        return self.labels[:, 1]

    @property
    def flipped_fraction(self) -> float:
        """Fraction of the ``2 N`` (image, text) labels that differ from the true class."""
        return float((self.labels != self.clean[:, None]).mean())


def noisy_count(rate: float, n: int) -> int:
    """``round(rate * n)`` rounded half up: how many labels the noise chooses."""
    return int(math.floor(rate * n + 0.5))


def _check(labels: np.ndarray, n_classes: int, rate: float) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"labels must be a non-empty 1-D integer array, got {labels.dtype} {labels.shape}")
    if n_classes < 2:
        raise ConfigError(f"label noise needs at least 2 classes, got n_classes={n_classes}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise DataFormatError(f"labels lie in [{labels.min()}, {labels.max()}]; expected 0..{n_classes - 1}")
    if not (isinstance(rate, (int, float)) and 0.0 <= rate <= 1.0):
        raise ConfigError(f"noise rate {rate!r} must lie in [0, 1]")
    return labels.astype(np.int64)


def class_map(n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """MRL's half-permutation class map ``[C]`` (see the module docstring)."""
    perm = rng.permutation(n_classes)
    half = n_classes // 2
    mapping = np.arange(n_classes)
    mapping[perm[:half]] = perm[half:2 * half]
    return mapping


def transition_matrix(noise: str, rate: float, n_classes: int, mapping: np.ndarray | None = None) -> np.ndarray:
    """Expected transition ``T[c, c'] = P(noisy = c' | true = c)`` ``[C, C]`` of one label.

    Exact in expectation over the choice of the noisy set (each label is chosen with probability ``r``).
    ``asymmetric`` needs ``mapping`` (:func:`class_map`).
    """
    eye = np.eye(n_classes)
    if noise == "symmetric":
        return (1.0 - rate) * eye + rate * (1.0 - eye) / (n_classes - 1)
    if noise == "asymmetric":
        if mapping is None:
            raise ConfigError("transition_matrix('asymmetric', ...) needs the class map")
        return (1.0 - rate) * eye + rate * eye[np.asarray(mapping)]
    raise ConfigError(f"noise {noise!r} is not one of {NOISE_TYPES}")


def symmetric_noise(labels: np.ndarray, n_classes: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Flip exactly ``round(rate * N)`` labels, each to a uniformly drawn other class.

    Args:
        labels: ``[N]`` true labels in ``0..C-1``.
        n_classes: ``C``.
        rate: ``r`` in ``[0, 1]``.
        rng: the generator (the only source of randomness).

    Returns:
        ``[N]`` int64 noisy labels; exactly ``round(r N)`` differ from ``labels``.
    """
    labels = _check(labels, n_classes, rate)
    chosen = rng.choice(labels.size, size=noisy_count(rate, labels.size), replace=False)
    noisy = labels.copy()
    # A shift of 1..C-1 (mod C) is a uniform draw among the other classes.
    noisy[chosen] = (labels[chosen] + rng.integers(1, n_classes, size=chosen.size)) % n_classes
    return noisy


def asymmetric_noise(labels: np.ndarray, mapping: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Send exactly ``round(rate * N)`` uniformly chosen labels through ``mapping`` (:func:`class_map`).

    Returns:
        ``[N]`` int64 noisy labels.
    """
    mapping = np.asarray(mapping)
    labels = _check(labels, mapping.size, rate)
    chosen = rng.choice(labels.size, size=noisy_count(rate, labels.size), replace=False)
    noisy = labels.copy()
    noisy[chosen] = mapping[labels[chosen]]
    return noisy


def make_label_noise(
    labels: np.ndarray,
    n_classes: int,
    *,
    noise: str,
    rate: float,
    level: str = "pair",
    seed: int = 0,
) -> NoisyLabels:
    """Noisy labels for a training set, reproducible from ``seed``.

    Args:
        labels: ``[N]`` true labels.
        n_classes: ``C``.
        noise: ``"symmetric"`` or ``"asymmetric"``.
        rate: ``r`` in ``[0, 1]``.
        level: ``"pair"`` (one label per pair) or ``"modality"`` (independent image and text labels).
        seed: the same seed gives the same labels.

    Raises:
        ConfigError: unknown ``noise`` or ``level``, a rate outside ``[0, 1]``, fewer than 2 classes.
        DataFormatError: labels that are not integers in ``0..C-1``.
    """
    if noise not in NOISE_TYPES:
        raise ConfigError(f"label noise {noise!r} is not one of {NOISE_TYPES}")
    if level not in NOISE_LEVELS:
        raise ConfigError(f"noise level {level!r} is not one of {NOISE_LEVELS}")
    clean = _check(labels, n_classes, rate)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1ABE1]))
    mapping = class_map(n_classes, rng) if noise == "asymmetric" else np.arange(n_classes)

    def draw() -> np.ndarray:
        if noise == "symmetric":
            return symmetric_noise(clean, n_classes, rate, rng)
        return asymmetric_noise(clean, mapping, rate, rng)

    image = draw()
    text = image if level == "pair" else draw()
    return NoisyLabels(np.stack([image, text], axis=1), clean, noise, float(rate), level, mapping)
