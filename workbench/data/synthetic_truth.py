"""Ground truth of the synthetic set: which caption truly fits which image.

Real image–text data cannot say whether an *unpaired* caption describes an image; the synthetic set can,
because both sides were generated from known scenes. :class:`SceneTruth` holds those scenes and the
content of every caption as small integer arrays and answers, vectorised:

* :meth:`SceneTruth.fits` — caption ``c`` fits image ``i`` iff every object class ``c`` mentions is in
  ``i``, every attribute ``c`` mentions is the attribute of that object in ``i``, and the place, when
  ``c`` mentions one, is the place of ``i``. A caption always fits its own image; relations are surface
  wording and play no part.
* :meth:`SceneTruth.shared_classes` — how many object classes two images have in common (the
  calibration guide scores a rematch as correct when the chosen image shares ≥ 2 classes with the
  caption's true image).

Conventions: ``K`` is the maximum number of objects per image, ``N`` the number of images,
``M = N * captions_per_image`` the number of captions (caption ``m`` belongs to image
``m // captions_per_image``), ``R`` the regions per image. ``-1`` pads missing entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from workbench.errors import DataFormatError

__all__ = ["SceneTruth", "PLACE_REGION", "BACKGROUND_REGION"]

PLACE_REGION = -1  # value in ``region_objects`` of the region that shows the place
BACKGROUND_REGION = -2  # value in ``region_objects`` of a pure-noise region

_ARRAYS = (
    "image_classes",
    "image_attributes",
    "image_places",
    "region_objects",
    "caption_classes",
    "caption_attributes",
    "caption_places",
)
_COUNTS = ("n_classes", "n_attributes", "n_places", "captions_per_image")
# Pairs per block in :meth:`SceneTruth.compatibility`: bounds the [block, K] temporaries to a few MB.
_BLOCK = 1 << 20


@dataclasses.dataclass(frozen=True, eq=False)
class SceneTruth:
    """The latent scenes of one split and what each caption says about them.

    Attributes:
        image_classes: ``[N, K]`` int, the object classes of each image (distinct within a row), ``-1``
            after the image's last object.
        image_attributes: ``[N, K]`` int, the attribute of each of those objects, ``-1`` where no object.
        image_places: ``[N]`` int, the place of each image.
        region_objects: ``[N, R]`` int, what each region of the feature array shows: ``k >= 0`` the
            object in slot ``k`` of ``image_classes``, :data:`PLACE_REGION` or :data:`BACKGROUND_REGION`.
        caption_classes: ``[M, K]`` int, the classes a caption mentions in mention order, ``-1`` padded.
        caption_attributes: ``[M, K]`` int, the attribute mentioned with each of those classes, ``-1``
            where the caption names the object without an attribute.
        caption_places: ``[M]`` int, the place the caption mentions, ``-1`` when it names none.
        n_classes: size of the class inventory.
        n_attributes: size of the attribute inventory.
        n_places: size of the place inventory.
        captions_per_image: captions per image (5).
    """

    image_classes: NDArray[np.integer]
    image_attributes: NDArray[np.integer]
    image_places: NDArray[np.integer]
    region_objects: NDArray[np.integer]
    caption_classes: NDArray[np.integer]
    caption_attributes: NDArray[np.integer]
    caption_places: NDArray[np.integer]
    n_classes: int
    n_attributes: int
    n_places: int
    captions_per_image: int
    # attribute_of[i, c] = attribute of class c in image i, or -1 when c is absent: [N, C]
    _attribute_of: NDArray[np.int16] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in _ARRAYS:
            arr = np.array(getattr(self, name), dtype=np.int16, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        for name in _COUNTS:
            object.__setattr__(self, name, int(getattr(self, name)))
        self._validate()
        n, k = self.image_classes.shape
        table = np.full((n, self.n_classes), -1, dtype=np.int16)
        rows, slots = np.nonzero(self.image_classes >= 0)
        table[rows, self.image_classes[rows, slots]] = self.image_attributes[rows, slots]
        table.flags.writeable = False
        object.__setattr__(self, "_attribute_of", table)

    def _validate(self) -> None:
        def fail(msg: str) -> None:
            raise DataFormatError(f"scene truth: {msg}")

        ic, ia, ip = self.image_classes, self.image_attributes, self.image_places
        if ic.ndim != 2 or ia.shape != ic.shape:
            fail(f"image_classes {ic.shape} and image_attributes {ia.shape} must both be [N, K]")
        n, k = ic.shape
        if ip.shape != (n,):
            fail(f"image_places has shape {ip.shape}, expected ({n},)")
        if self.region_objects.ndim != 2 or self.region_objects.shape[0] != n:
            fail(f"region_objects has shape {self.region_objects.shape}, expected ({n}, R)")
        m = n * self.captions_per_image
        for name, shape in (
            ("caption_classes", (m, k)),
            ("caption_attributes", (m, k)),
            ("caption_places", (m,)),
        ):
            if getattr(self, name).shape != shape:
                fail(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        for name, arr, hi in (
            ("image_classes", ic, self.n_classes),
            ("image_attributes", ia, self.n_attributes),
            ("image_places", ip, self.n_places),
            ("caption_classes", self.caption_classes, self.n_classes),
            ("caption_attributes", self.caption_attributes, self.n_attributes),
            ("caption_places", self.caption_places, self.n_places),
            ("region_objects", self.region_objects, k),
        ):
            lo = BACKGROUND_REGION if name == "region_objects" else -1
            if arr.size and (arr.min() < lo or arr.max() >= hi):
                fail(f"{name} has values in [{arr.min()}, {arr.max()}], expected [{lo}, {hi})")
        if np.any((ic < 0) != (ia < 0)):
            fail("image_classes and image_attributes disagree on which object slots are filled")
        present = np.sort(np.where(ic >= 0, ic, -1 - np.arange(k)), axis=1)  # pads made distinct
        if np.any(present[:, 1:] == present[:, :-1]):
            fail("an image lists the same object class twice")

    # --- sizes and simple lookups -------------------------------------------------------------------

    @property
    def n_images(self) -> int:
        """Number of images ``N``."""
        return int(self.image_classes.shape[0])

    @property
    def n_captions(self) -> int:
        """Number of captions ``M = N * captions_per_image``."""
        return int(self.caption_classes.shape[0])

    @property
    def labels(self) -> NDArray[np.int16]:
        """``[N]`` per-image class labels for the noisy-label track: the scene's place (``n_places`` classes).

        Every image shows its place in one region (with a strength independent of the objects) and a
        caption names it with probability ``p_place``, so the label is exact on the image side and
        partially observed on the text side, as with real category labels of web text.
        """
        return self.image_places

    def source_image(self, caption_idx: ArrayLike) -> NDArray[np.int64]:
        """The image each caption was generated from: ``caption_idx // captions_per_image``."""
        return self._index(caption_idx, self.n_captions, "caption") // self.captions_per_image

    def attribute_of(self, image_idx: ArrayLike, class_idx: ArrayLike) -> NDArray[np.int16]:
        """Broadcast lookup of the attribute of class ``class_idx`` in image ``image_idx`` (``-1`` if absent)."""
        i = self._index(image_idx, self.n_images, "image")
        c = self._index(class_idx, self.n_classes, "class")
        return self._attribute_of[i, c]

    # --- truth ---------------------------------------------------------------------------------------

    def fits(self, caption_idx: ArrayLike, image_idx: ArrayLike) -> NDArray[np.bool_]:
        """Whether each caption truly describes each image (numpy broadcasting of the two index arrays).

        ``fits(c, i)`` holds iff for every mention ``(class q, attribute a)`` of caption ``c`` image
        ``i`` contains class ``q`` and, when ``a`` is given, its object of class ``q`` has attribute
        ``a``; and the caption's place, if any, is the place of ``i``.

        Args:
            caption_idx: caption indices, any shape broadcastable with ``image_idx``.
            image_idx: image indices.

        Returns:
            A bool array of the broadcast shape.
        """
        c, i = np.broadcast_arrays(
            self._index(caption_idx, self.n_captions, "caption"),
            self._index(image_idx, self.n_images, "image"),
        )
        cls = self.caption_classes[c]  # [..., K]
        attr = self.caption_attributes[c]
        got = self._attribute_of[i[..., None], np.maximum(cls, 0)]  # [..., K]
        ok = (cls < 0) | ((got >= 0) & ((attr < 0) | (got == attr)))
        place = self.caption_places[c]
        return ok.all(axis=-1) & ((place < 0) | (place == self.image_places[i]))

    def compatibility(self, caption_indices: ArrayLike, image_indices: ArrayLike) -> NDArray[np.bool_]:
        """The ``[n_cap, n_img]`` matrix ``fits(caption_indices[a], image_indices[b])`` for a batch.

        Args:
            caption_indices: ``[n_cap]`` caption indices.
            image_indices: ``[n_img]`` image indices.

        Returns:
            ``[n_cap, n_img]`` bool. For a batch of aligned pairs (``image_indices`` the source images of
            ``caption_indices``) the diagonal is all True.
        """
        caps = self._index(caption_indices, self.n_captions, "caption").reshape(-1)
        ims = self._index(image_indices, self.n_images, "image").reshape(-1)
        out = np.empty((caps.size, ims.size), dtype=bool)
        step = max(1, _BLOCK // max(1, ims.size))
        for start in range(0, caps.size, step):  # blocks of rows keep the [rows, n_img, K] temporaries small
            out[start : start + step] = self.fits(caps[start : start + step, None], ims[None, :])
        return out

    def shared_classes(self, image_a: ArrayLike, image_b: ArrayLike) -> NDArray[np.int64]:
        """Number of object classes images ``a`` and ``b`` have in common (broadcast), ``|C_a ∩ C_b|``."""
        a, b = np.broadcast_arrays(
            self._index(image_a, self.n_images, "image"), self._index(image_b, self.n_images, "image")
        )
        ca = self.image_classes[a]  # [..., K]
        hit = (ca >= 0) & (self._attribute_of[b[..., None], np.maximum(ca, 0)] >= 0)
        return hit.sum(axis=-1)

    # --- storage -------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, NDArray[np.integer]]:
        """All fields as named integer arrays (counts as 0-d arrays), for ``np.savez``."""
        out: dict[str, NDArray[np.integer]] = {name: getattr(self, name) for name in _ARRAYS}
        out.update({name: np.asarray(getattr(self, name), dtype=np.int64) for name in _COUNTS})
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> SceneTruth:
        """Inverse of :meth:`to_arrays`; raises :class:`DataFormatError` naming a missing or bad field."""
        missing = [name for name in (*_ARRAYS, *_COUNTS) if name not in arrays]
        if missing:
            raise DataFormatError(f"scene truth: missing field(s) {', '.join(missing)}")
        counts = {}
        for name in _COUNTS:
            value = np.asarray(arrays[name])
            if value.shape != () or not np.issubdtype(value.dtype, np.integer) or int(value) < 1:
                raise DataFormatError(f"scene truth: {name} must be a positive integer, got {value!r}")
            counts[name] = int(value)
        for name in _ARRAYS:
            if not np.issubdtype(np.asarray(arrays[name]).dtype, np.integer):
                raise DataFormatError(
                    f"scene truth: {name} must hold integers, got {np.asarray(arrays[name]).dtype}"
                )
        return cls(**{name: np.asarray(arrays[name]) for name in _ARRAYS}, **counts)

    @staticmethod
    def _index(idx: ArrayLike, n: int, what: str) -> NDArray[np.int64]:
        arr = np.asarray(idx)
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise TypeError(f"{what} indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        # Negative indices would silently wrap around; callers always mean a real row.
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise IndexError(f"{what} index out of range [0, {n}): min {arr.min()}, max {arr.max()}")
        return arr
