"""Decode plotly's JSON arrays: lists, or typed arrays ``{"dtype", "bdata"[, "shape"]}`` (plotly >= 6)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

__all__ = ["arr"]


def arr(value: Any) -> np.ndarray:
    """A figure-spec array as numpy (``None`` entries become NaN for float data)."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            out = out.reshape([int(s) for s in (shape.split(",") if isinstance(shape, str) else shape)])
        return out
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return np.asarray(value, dtype=object)
