"""Constants shared by the notebook tests (importable by plain name: ``conftest`` puts this folder on the path)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "workbench"

#: what turns a CPU preset into a smoke run: the tiny synthetic set, 1 warm-up + 1 main epoch, small model
SMOKE: tuple[str, ...] = ("size=tiny", "warmup_epochs=1", "epochs=1", "embed_size=64", "word_dim=32",
                          "sim_dim=32", "train_images=100", "val_images=50", "threads=1")
