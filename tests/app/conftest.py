"""Fixtures of the dashboard tests: the fixture runs (built once), AppTest factories, cache clearing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APP = REPO / "app"
for path in (HERE, APP):  # fixture_runs (tests) and _frames (app) import by plain name, as in the app
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fixture_runs import FixtureRuns, build_fixture_runs  # noqa: E402
from page_helpers import run_page  # noqa: E402


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> FixtureRuns:
    """The full fixture set, written once per session by this process (so the running run stays alive)."""
    return build_fixture_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    """Loaders are cached process-wide; every test starts cold so runs written by another test show."""
    try:
        import streamlit as st
    except ImportError:  # the viz / reference tests need no streamlit
        yield
        return
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def open_page(fixture_runs: FixtureRuns, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """``open_page("cost", **session_state)``: an AppTest of one page over the fixture runs, already run."""
    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(fixture_runs.root))

    def open_(page: str = "runs", **state: object) -> AppTest:
        return run_page(page, **state)

    return open_
