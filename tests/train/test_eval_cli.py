"""`workbench eval` argument errors are clear and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main


def test_shortlist_from_needs_the_shortlist_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path), "--shortlist-from", str(tmp_path)]) == 2
    assert "--shortlist-from needs --mode shortlist" in capsys.readouterr().err


def test_missing_results_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path)]) == 2
    assert str(tmp_path / "results.json") in capsys.readouterr().err
