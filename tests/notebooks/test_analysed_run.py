"""analysed_run: a figure notebook's run is the given source run, or its own run directory trained/reused."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench.reproduce.execute as execute
from workbench.errors import RunDirError
from workbench.reproduce import analysed_run


def test_a_source_run_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "earlier"
    source.mkdir()
    (source / "run.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(execute, "run_setting", lambda *a, **k: pytest.fail("trained although a source was given"))
    assert analysed_run(str(source), "cpu-l2rm-vse", [], tmp_path / "own") == source


def test_a_source_that_is_not_a_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"not a run directory \(no run.json\)"):
        analysed_run(str(tmp_path / "missing"), "cpu-l2rm-vse", [], tmp_path / "own")


def test_without_a_source_the_setting_is_run_into_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(execute, "run_setting", lambda *a, **k: calls.append((a, k)))
    assert analysed_run("", "cpu-l2rm-vse", ["mrate=0.6"], tmp_path / "own", callbacks=["cb"]) == tmp_path / "own"
    assert calls == [(("cpu-l2rm-vse", ["mrate=0.6"], tmp_path / "own"), {"callbacks": ["cb"]})]
