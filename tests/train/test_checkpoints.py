"""The checkpoint loader turns every unusable file into one sentence naming it, and never relays torch's
advice to load with weights_only=False."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from workbench.checkpoints import load_checkpoint, save_checkpoint
from workbench.errors import RunDirError


class Foreign:
    """A class the weights-only loader refuses."""


def _good() -> bytes:
    buf = io.BytesIO()
    torch.save({"version": 1, "models": [{"w": torch.ones(3)}]}, buf)
    return buf.getvalue()


@pytest.mark.parametrize(("content", "phrase"), [
    (b"", "the checkpoint is empty (0 bytes"),
    (b"\x00not a zip archive" * 10, "not a readable checkpoint (truncated or corrupt"),
    ("half", "not a readable checkpoint (truncated or corrupt: PytorchStreamReader failed"),
    ("raw pickle", "not a readable checkpoint"),
    ("foreign object", "refused: the checkpoint holds an object that weights-only loading does not allow"),
    ("list", "expected a checkpoint dict, found list"),
])
def test_unusable_checkpoints_are_one_sentence(tmp_path: Path, content, phrase) -> None:
    path = tmp_path / "last.pt"
    if content == "half":
        path.write_bytes(_good()[:200])
    elif content == "raw pickle":
        path.write_bytes(pickle.dumps({"run": os.system}))
    elif content == "foreign object":
        torch.save({"version": 1, "x": Foreign()}, path)
    elif content == "list":
        torch.save([1, 2], path)
    else:
        path.write_bytes(content)
    with pytest.raises(RunDirError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert phrase in message and str(path) in message and "\n" not in message
    assert "weights_only" not in message and "arbitrary code" not in message


def test_missing_keys_and_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no checkpoint there"):
        load_checkpoint(tmp_path / "none.pt")
    save_checkpoint({"version": 1}, tmp_path / "c.pt")
    with pytest.raises(RunDirError, match="lacks 'epoch', 'method'"):
        load_checkpoint(tmp_path / "c.pt", keys=("version", "epoch", "method"))
    assert load_checkpoint(tmp_path / "c.pt") == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind
