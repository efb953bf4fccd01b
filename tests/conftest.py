"""Shared fixtures: a seeded RNG, the data mirror, and the synthetic tiny set built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WORKBENCH_DATA_MIRROR", REPO.parent / "shared" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The read-only data mirror (``../shared/data``); tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"data mirror {SHARED_DATA} not present")
    return SHARED_DATA
