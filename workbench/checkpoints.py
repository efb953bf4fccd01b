"""Reading and writing training checkpoints (``checkpoints/last.pt``, ``best.pt``) safely.

Checkpoints are loaded with ``torch.load(weights_only=True)``: tensors and plain containers only, never
arbitrary pickled objects. Every way a checkpoint can be unusable becomes one sentence in a
:class:`~workbench.errors.RunDirError` naming the file: missing, empty, truncated or corrupt (torch's
``PytorchStreamReader failed ...`` / ``EOFError``), refused by the weights-only loader (the message
says which object was refused and does *not* relay torch's suggestion to load it with
``weights_only=False``, which would run arbitrary code), or lacking the keys its caller needs.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from workbench.errors import RunDirError

__all__ = ["load_checkpoint", "save_checkpoint"]


def _refusal_reason(text: str) -> str:
    """The object the weights-only unpickler refused, without torch's advice to disable it."""
    match = re.search(r"WeightsUnpickler error:\s*([^\n]*)", text)
    reason = match.group(1).strip() if match else "an object other than tensors and plain containers"
    reason = re.split(r"\.\s", reason)[0].rstrip(".")
    if "weights_only" in reason:  # never pass on the suggestion to turn the check off
        reason = "an object other than tensors and plain containers"
    return reason


def _first_line(exc: BaseException) -> str:
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return "weights-only loading refused it" if "weights_only" in line else line


def load_checkpoint(path: str | os.PathLike[str], *, keys: Iterable[str] = ()) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU with ``weights_only=True``.

    Args:
        path: the ``.pt`` file.
        keys: top-level keys the caller needs (e.g. ``("version", "epoch", "method")``).

    Raises:
        RunDirError: missing, empty, corrupt or refused file, not a dict, or a needed key missing.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: no checkpoint there")
    if path.stat().st_size == 0:
        raise RunDirError(f"{path}: the checkpoint is empty (0 bytes; the writing process was probably "
                          "killed); it cannot be loaded")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _refusal_reason(str(exc))
        if not re.search(r"global|reduce|build|class|function", reason, flags=re.IGNORECASE):
            # not an object the loader refused but bytes it cannot parse (e.g. "Unsupported operand")
            detail = reason if "Weights" in str(exc) else _first_line(exc)
            raise RunDirError(f"{path}: not a readable checkpoint (truncated or corrupt: {detail})") from None
        raise RunDirError(f"{path}: refused: the checkpoint holds an object that weights-only loading does "
                          f"not allow ({reason}); the workbench never unpickles such objects (its own "
                          "checkpoints hold only tensors and plain values), so this file was not written by it "
                          "or has been altered") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise RunDirError(f"{path}: not a readable checkpoint (truncated or corrupt: {_first_line(exc)})") from None
    if not isinstance(state, dict):
        raise RunDirError(f"{path}: expected a checkpoint dict, found {type(state).__name__}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise RunDirError(f"{path}: the checkpoint lacks {', '.join(map(repr, missing))}; it was not written "
                          "by this version of the workbench")
    return state


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary name beside ``path``, then rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(state, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
