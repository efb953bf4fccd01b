"""The run-directory writer: one run per directory, atomic files, torn metrics lines tolerated."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import RunDirError
from workbench.runs import RunWriter, list_runs, read_metrics, read_run


def _writer(path: Path, seed: int, **kw) -> RunWriter:  # noqa: ANN003
    return RunWriter.create(path, config={"seed": seed}, summary={"method": "l2rm", "seed": seed}, **kw)


def test_a_directory_holds_one_run(tmp_path: Path) -> None:
    w = _writer(tmp_path / "r", 0)
    w.log_epoch({"epoch": 0, "losses": {"loss": 1.0}})
    w.write_arrays("alignments/epoch_000.npz", plan=[[0.1]])
    with pytest.raises(RunDirError, match="already holds a run"):
        _writer(tmp_path / "r", 1)
    assert read_run(tmp_path, "r").summary.seed == 0  # untouched
    (tmp_path / "r" / "notebook.ipynb").write_text("{}")
    fresh = _writer(tmp_path / "r", 1, overwrite=True)
    assert read_metrics(fresh.dir) == [] and not (fresh.dir / "artifacts" / "alignments").exists()
    assert (tmp_path / "r" / "notebook.ipynb").exists()  # other files are kept
    assert read_run(tmp_path, "r").summary.seed == 1


def test_torn_last_metrics_line_is_ignored_and_a_bad_middle_line_is_an_error(tmp_path: Path) -> None:
    w = _writer(tmp_path / "r", 0)
    w.log_epoch({"epoch": 0})
    with open(w.dir / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 1, "los')  # a crash mid-write
    assert [m["epoch"] for m in read_metrics(w.dir)] == [0]
    (w.dir / "metrics.jsonl").write_text('{"epoch": 0}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(RunDirError, match="metrics.jsonl:2"):
        read_metrics(w.dir)


def test_nested_runs_keep_their_relative_id_and_damage_is_reported(tmp_path: Path) -> None:
    _writer(tmp_path / "table1" / "a", 0).finish("done")
    bad = tmp_path / "table1" / "b"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text("{ not json")
    runs = {s.run_id: s for s in list_runs(tmp_path)}
    assert runs["table1/a"].status == "done"
    assert runs["table1/b"].status == "damaged" and "run.json" in runs["table1/b"].error
    assert read_run(tmp_path, "table1/a").summary.run_id == "table1/a"
    with pytest.raises(RunDirError, match="outside the runs root"):
        read_run(tmp_path, "../elsewhere")
