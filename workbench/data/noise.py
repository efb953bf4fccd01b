"""Mismatch (MRate) protocols: which caption is paired with which image in a noisy training set.

Two protocols exist in the literature and both are here, selected by name:

``image`` (RCL, DECL, L2RM: the protocol of the L2RM tables)
    Choose exactly ``m = round(r * N)`` of the ``N`` training images and permute them among themselves
    without fixed points, so every caption of a chosen image is paired with another image. Stored as
    int64 ``[N]``: image ``i``'s captions are paired with image ``idx[i]``; ``idx`` is a permutation of
    ``arange(N)`` with exactly ``m`` entries ``idx[i] != i``. (RCL's published files use a plain
    shuffle, so a few chosen images stay put: 5,799 moved instead of 5,800 at r = 0.2 on F30K.)

``caption`` (NCR, BiCro)
    Choose exactly ``m = round(r * N_cap)`` captions and permute their image indices among themselves
    so that every chosen caption lands on a *different* image than its own. Stored as int64
    ``[N_cap]``: caption ``c`` is paired with image ``idx[c]``; every image still appears exactly ``k``
    times. (NCR's own generator shuffles, so captions can land on their own image.)

``round`` is round-half-up, ``floor(r * n + 0.5)``. Expanding an image-level index to caption level is
``np.repeat(idx, k)``; L2RM's caption-level F30K files equal RCL's image-level files expanded this way.

How the exact count is reached: the chosen items are shuffled, then each item that landed on its own
image is swapped with a uniformly drawn partner for which the swap moves both (such a partner exists
whenever the problem is feasible, and each swap repairs at least one item). The result is a random
permutation with no item on its own image, drawn from a distribution close to, but not exactly,
uniform over all such permutations.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from workbench.data._io import save_npy_atomic
from workbench.errors import ConfigError, DataFormatError

__all__ = [
    "PROTOCOLS",
    "NoiseLevel",
    "NoiseIndex",
    "validate_mrate",
    "moved_count",
    "image_level_noise",
    "caption_level_noise",
    "make_noise_index",
    "expand_to_captions",
    "true_matched",
    "detect_level",
    "load_noise_index",
    "save_noise_index",
]

NoiseLevel = Literal["image", "caption"]
PROTOCOLS: tuple[NoiseLevel, ...] = ("image", "caption")
_MAX_DRAWS = 1000


@dataclass(frozen=True, eq=False)
class NoiseIndex:
    """A noisy pairing of captions to images.

    Attributes:
        level: ``"image"`` (``index`` is ``[N_img]``) or ``"caption"`` (``index`` is ``[N_cap]``).
        index: int64 array; see the module docstring for the meaning at each level.
        captions_per_image: ``k``; caption ``c`` truly describes image ``c // k``.
    """

    level: NoiseLevel
    index: np.ndarray
    captions_per_image: int

    @property
    def n_images(self) -> int:
        n = len(self.index)
        return n if self.level == "image" else n // self.captions_per_image

    @property
    def moved(self) -> int:
        """Entries not paired with their own image (images at image level, captions at caption level)."""
        own = np.arange(len(self.index), dtype=np.int64)
        if self.level == "caption":
            own //= self.captions_per_image
        return int(np.count_nonzero(self.index != own))

    @property
    def fraction(self) -> float:
        """``moved / len(index)``: the realised MRate."""
        return self.moved / len(self.index) if len(self.index) else 0.0

    def caption_index(self) -> np.ndarray:
        """``[N_cap]`` int64: the image each caption is paired with (expanded if image level)."""
        if self.level == "image":
            return expand_to_captions(self.index, self.captions_per_image)
        return self.index

    def true_matched(self) -> np.ndarray:
        """``[N_cap]`` bool: caption ``c`` is still paired with its own image ``c // k``."""
        return true_matched(self.caption_index(), self.captions_per_image)


def validate_mrate(mrate: float) -> float:
    """Return ``mrate`` as a float, or raise :class:`ConfigError` unless it is a number in ``[0, 1]``."""
    try:
        value = float(mrate)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"MRate {mrate!r} is not a number; expected a value in [0, 1]") from exc
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise ConfigError(f"MRate {mrate!r} is outside [0, 1]")
    return value


def moved_count(mrate: float, n: int) -> int:
    """``round(mrate * n)`` with halves rounded up: how many of ``n`` items a protocol moves."""
    # Round the product to 6 decimals first so that float noise (0.35 * 10 = 3.4999...) cannot flip a half.
    return int(math.floor(round(validate_mrate(mrate) * n, 6) + 0.5))


def image_level_noise(n_images: int, mrate: float, seed: int) -> np.ndarray:
    """Image-level protocol: a permutation of ``arange(n_images)`` moving exactly ``round(r * N)`` images.

    Args:
        n_images: ``N`` training images.
        mrate: ``r`` in ``[0, 1]``.
        seed: seed of :func:`numpy.random.default_rng`; the same seed gives the same array.

    Returns:
        ``[N]`` int64, image ``i``'s captions are paired with image ``idx[i]``.

    Raises:
        ConfigError: ``r`` outside ``[0, 1]``, ``N < 1``, or ``round(r * N) == 1`` (one image cannot
            move alone).
    """
    _check_positive("n_images", n_images)
    m = moved_count(mrate, n_images)
    if m == 1:
        raise ConfigError(
            f"MRate {mrate} on {n_images} images moves exactly 1 image, which is impossible "
            "(a moved image must take another's place); use an MRate giving 0 or >= 2 images"
        )
    rng = np.random.default_rng(seed)
    index = np.arange(n_images, dtype=np.int64)
    if m:
        chosen = np.sort(rng.choice(n_images, size=m, replace=False))
        index[chosen] = chosen[_shuffle_off_own_group(chosen, rng)]
    return index


def caption_level_noise(n_images: int, captions_per_image: int, mrate: float, seed: int) -> np.ndarray:
    """Caption-level protocol: exactly ``round(r * N_cap)`` captions paired with another image.

    Args:
        n_images: ``N`` training images.
        captions_per_image: ``k`` (``N_cap = k * N``).
        mrate: ``r`` in ``[0, 1]``.
        seed: seed of :func:`numpy.random.default_rng`; the same seed gives the same array.

    Returns:
        ``[N_cap]`` int64, caption ``c`` is paired with image ``idx[c]``; each image appears ``k`` times.

    Raises:
        ConfigError: ``r`` outside ``[0, 1]``, sizes < 1, or no choice of ``m`` captions can all move:
            that needs every image to hold at most ``m / 2`` of the chosen captions, i.e.
            ``N * min(k, m // 2) >= m`` (fails for ``m == 1``, or e.g. odd ``m`` with two images).
    """
    _check_positive("n_images", n_images)
    _check_positive("captions_per_image", captions_per_image)
    n_caps = n_images * captions_per_image
    m = moved_count(mrate, n_caps)
    if m and n_images * min(captions_per_image, m // 2) < m:
        raise ConfigError(
            f"MRate {mrate} on {n_images} images x {captions_per_image} captions asks to move exactly {m} "
            "caption(s), which is impossible: each image may hold at most half of the moved captions"
        )
    rng = np.random.default_rng(seed)
    index = np.arange(n_caps, dtype=np.int64) // captions_per_image
    if not m:
        return index
    for _ in range(_MAX_DRAWS):
        chosen = np.sort(rng.choice(n_caps, size=m, replace=False))
        owners = chosen // captions_per_image
        if np.bincount(owners).max() * 2 <= m:
            index[chosen] = owners[_shuffle_off_own_group(owners, rng)]
            return index
    # Only reachable when feasible draws are vanishingly rare (tiny N with m close to the bound).
    raise ConfigError(
        f"could not draw {m} movable captions from {n_images} images x {captions_per_image} in "
        f"{_MAX_DRAWS} tries; use a larger dataset or a different MRate"
    )


def make_noise_index(
    protocol: str, n_images: int, captions_per_image: int, mrate: float, seed: int
) -> NoiseIndex:
    """Generate a noise index with the named protocol (``"image"`` or ``"caption"``)."""
    if protocol == "image":
        index = image_level_noise(n_images, mrate, seed)
    elif protocol == "caption":
        index = caption_level_noise(n_images, captions_per_image, mrate, seed)
    else:
        raise ConfigError(f"unknown noise protocol {protocol!r}; expected one of {list(PROTOCOLS)}")
    return NoiseIndex(level=protocol, index=index, captions_per_image=captions_per_image)


def expand_to_captions(image_index: np.ndarray, captions_per_image: int) -> np.ndarray:
    """Image level ``[N]`` -> caption level ``[N * k]``: all ``k`` captions of image ``i`` follow it."""
    return np.repeat(np.asarray(image_index, dtype=np.int64), captions_per_image)


def true_matched(caption_index: np.ndarray, captions_per_image: int) -> np.ndarray:
    """``[N_cap]`` bool: ``caption_index[c] == c // k`` (the pair is clean)."""
    caption_index = np.asarray(caption_index)
    return caption_index == np.arange(len(caption_index)) // captions_per_image


def detect_level(index: np.ndarray, captions_per_image: int = 5) -> NoiseLevel | None:
    """The level of a bare index array, or ``None`` if it is neither.

    A permutation of ``arange(len)`` is image level (with ``k == 1`` the two levels coincide and this
    answer is used); otherwise an array of length ``N * k`` whose values lie in ``[0, N)`` with every
    image used exactly ``k`` times is caption level.
    """
    index = np.asarray(index)
    n = len(index)
    if n == 0 or index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        return None
    low, high = int(index.min()), int(index.max())
    if low >= 0 and high < n and (np.bincount(index, minlength=n) == 1).all():
        return "image"
    k = captions_per_image
    if n % k == 0 and low >= 0 and high < n // k and (np.bincount(index, minlength=n // k) == k).all():
        return "caption"
    return None


def load_noise_index(
    path: str | os.PathLike[str],
    *,
    captions_per_image: int = 5,
    n_images: int | None = None,
    level: NoiseLevel | None = None,
) -> NoiseIndex:
    """Load and validate a noise index ``.npy`` file (the papers' files load as they are).

    Args:
        path: the ``.npy`` file (RCL ``noise_inx_{r}.npy`` image level, L2RM/NCR ``{data}_{r}.npy``
            caption level, or one written by :func:`save_noise_index`).
        captions_per_image: ``k`` of the dataset.
        n_images: training images of the dataset; when given the length must be ``N`` or ``N * k``.
        level: expected level; detected from the values when ``None``.

    Raises:
        DataFormatError: unreadable, not a 1-D integer array, wrong length for the dataset, values
            out of range, not a permutation (image level) or images not used exactly ``k`` times
            (caption level). Every message names the file.
    """
    path = Path(path)
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(f"cannot read noise index {path}: {exc}") from exc
    if not isinstance(raw, np.ndarray):
        raise DataFormatError(f"noise index {path}: expected a single .npy array, found an archive")
    if raw.ndim != 1:
        raise DataFormatError(f"noise index {path}: shape {raw.shape}; expected a 1-D array")
    if not np.issubdtype(raw.dtype, np.integer):
        raise DataFormatError(f"noise index {path}: dtype {raw.dtype}; expected an integer array (int64)")
    k = captions_per_image
    if n_images is not None:
        allowed = {"image": n_images, "caption": n_images * k}
        if level is not None:
            allowed = {level: allowed[level]}
        if len(raw) not in allowed.values():
            wanted = " or ".join(f"{n} ({name} level)" for name, n in allowed.items())
            raise DataFormatError(
                f"noise index {path}: {len(raw)} entries, but the dataset has {n_images} images with "
                f"{k} captions each; expected {wanted} entries"
            )
    index = raw.astype(np.int64, copy=False)
    found = detect_level(index, k)
    if level is None and found is None:
        raise DataFormatError(f"noise index {path}: {_explain_neither(index, k)}")
    if level is not None and found != level and not (k == 1 and found is not None):
        raise DataFormatError(
            f"noise index {path}: not a valid {level}-level index: {_explain(index, k, level)}"
        )
    return NoiseIndex(level=level or found, index=index, captions_per_image=k)


def save_noise_index(noise: NoiseIndex | np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write the index array as int64 ``.npy`` (atomically), the format the papers' loaders read."""
    array = noise.index if isinstance(noise, NoiseIndex) else np.asarray(noise)
    return save_npy_atomic(array.astype(np.int64, copy=False), path)


def _shuffle_off_own_group(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation ``p`` of ``range(len(groups))`` with ``groups[p[i]] != groups[i]`` for every ``i``.

    Requires every group to hold at most half of the items. Shuffle, then repair: an item ``i`` left
    in its own group ``x`` swaps targets with a random ``j`` with ``groups[j] != x`` and
    ``groups[p[j]] != x``; afterwards both are outside their groups, and nothing else changes.
    """
    perm = rng.permutation(len(groups))
    for i in np.flatnonzero(groups[perm] == groups):
        x = groups[i]
        if groups[perm[i]] != x:  # already repaired as the partner of an earlier swap
            continue
        partners = np.flatnonzero((groups != x) & (groups[perm] != x))
        j = partners[rng.integers(len(partners))]
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def _check_positive(name: str, value: int) -> None:
    if int(value) != value or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _explain(index: np.ndarray, k: int, level: NoiseLevel) -> str:
    n = len(index)
    if n == 0:
        return "the array is empty"
    bound = n if level == "image" else n // k
    if level == "caption" and n % k:
        return f"length {n} is not a multiple of {k} captions per image"
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= bound:
        return f"values must lie in [0, {bound}), found min {low} and max {high}"
    counts = np.bincount(index, minlength=bound)
    want = 1 if level == "image" else k
    bad = int(np.flatnonzero(counts != want)[0])
    what = f"not a permutation of 0..{n - 1}" if level == "image" else f"each image must be used {k} times"
    return f"{what}, but image {bad} is used {counts[bad]} times"


def _explain_neither(index: np.ndarray, k: int) -> str:
    return (
        "neither an image-level index (" + _explain(index, k, "image") + ") nor a caption-level index "
        f"at {k} captions per image (" + _explain(index, k, "caption") + ")"
    )
