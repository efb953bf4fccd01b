"""Cached loaders are keyed on modification times: new and growing runs show on the next rerun, unchanged
files are not re-read, the sidebar's refresh button forgets the cache, and the runs root is switchable in
the page only when the server was started with the opt-in (otherwise it is fixed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixture_runs import build_many_runs

from workbench.runs import RunWriter

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"


@pytest.fixture
def app(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "runs"
    build_many_runs(root, 3)
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    return at, root


def rows(at) -> dict[str, int]:
    table = at.dataframe[0].value
    return dict(zip(table["run_id"], table["epochs_done"], strict=True))


def test_new_and_growing_runs_show_on_rerun(app):
    at, root = app
    assert len(rows(at)) == 3
    writer = RunWriter.reopen(root / "bulk-0000")
    writer.log_epoch({"epoch": 8, "phase": "train", "val": {"rsum": 1.0}})
    RunWriter.create(root / "fresh", config={}, summary={"dataset": "synthetic", "method": "l2rm"})
    at.run()
    after = rows(at)
    assert after["bulk-0000"] == 9 and "fresh" in after and len(after) == 4


def test_unchanged_stamps_serve_the_cache_until_refresh(app):
    at, root = app
    run_dir = root / "bulk-0001"
    stat = run_dir.stat()
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:  # a write that leaves mtimes alone
        fh.write('{"epoch": 8, "val": {"rsum": 1.0}}\n')
    os.utime(run_dir, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    at.run()
    assert rows(at)["bulk-0001"] == 8  # served from the cache: nothing it is keyed on changed
    at.sidebar.button[0].click().run()
    assert rows(at)["bulk-0001"] == 9


def test_the_sidebar_switches_the_runs_root_only_with_the_opt_in(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "runs"
    build_many_runs(root, 3)
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(root))
    monkeypatch.setenv("WORKBENCH_APP_ROOT_EDITABLE", "1")  # `workbench app --allow-root-change`
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    other = tmp_path / "elsewhere"
    build_many_runs(other, 5)
    at.sidebar.text_input[0].set_value(str(other)).run()
    assert len(rows(at)) == 5
    at.sidebar.text_input[0].set_value(str(tmp_path / "missing")).run()
    assert not at.exception and any("not a directory" in e.value for e in at.error)


def test_without_the_opt_in_the_root_is_fixed(app, tmp_path):
    at, root = app
    assert not at.sidebar.text_input  # no box to type another folder into
    assert any(str(root) in c.value for c in at.sidebar.caption)
    other = tmp_path / "elsewhere"
    build_many_runs(other, 5)
    at.session_state["runs_root"] = str(other)  # even a forged session value is ignored
    at.run()
    assert not at.exception and len(rows(at)) == 3
