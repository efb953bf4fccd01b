"""Array plumbing shared by the evaluation modules: torch-free conversion and input checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.errors import ConfigError, DataFormatError

__all__ = ["to_numpy", "check_positive_int", "check_finite"]


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached and moved to the CPU first.

    Torch is recognised by duck typing (``detach`` and ``cpu`` methods) so that this package imports
    without it. Tensor dtypes numpy cannot hold (bfloat16) are widened to float32.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        try:
            return np.asarray(x)
        except TypeError:  # e.g. torch.bfloat16 has no numpy dtype
            return np.asarray(x.float())
    return np.asarray(x)


def check_positive_int(value: int, name: str) -> int:
    """Return ``value`` as an int, raising :class:`ConfigError` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_finite(values: np.ndarray, what: str) -> None:
    """Raise :class:`DataFormatError` if a floating array holds NaN.

    NaN compares false with everything, so a NaN score would silently count as "nothing ranks above
    the ground truth" and inflate recall. Infinities order correctly and are allowed. The check costs
    one pairwise sum; the exact ``isnan`` scan runs only when that sum is NaN.
    """
    if values.dtype.kind != "f" or values.size == 0:
        return
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in the sum is expected, not an error
        suspicious = bool(np.isnan(values.sum()))
    if suspicious and np.isnan(values).any():
        index = np.unravel_index(int(np.argmax(np.isnan(values))), values.shape)
        raise DataFormatError(f"{what} contain NaN (first at index {tuple(int(i) for i in index)})")
