"""Every page over an empty (missing) runs root: a note, never an exception."""

from __future__ import annotations

import pytest
from page_helpers import REPO


@pytest.mark.parametrize("page", ["runs", "tables", "cost", "alignments", "rematches", "sweeps", "labels"])
def test_every_page_copes_with_an_empty_root(page, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path / "nothing-here"))
    at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=60)
    if page != "runs":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception
    assert at.info or at.error
