"""Every file a reader opens resolves inside the runs root (run.json, metrics.jsonl, results.json included:
symlinks out are refused, their targets never read); a root of ``/`` lists without crashing; files are
written with the ordinary mode (0644 under umask 022), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.errors import RunDirError
from workbench.runs import RunWriter, atomic_write_text, list_runs, read_metrics, read_results, read_run

SECRET = "root:x:0:0:secret line that must never be shown\n"


@pytest.fixture
def root_and_outside(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    for name in ("run.json", "metrics.jsonl", "results.json"):
        RunWriter.create(root / f"via-{name}", config={}, summary={"method": "l2rm"}).finish("done")
    (outside / "run.json").write_text('{"schema": 1, "status": "done", "method": "' + SECRET.strip() + '"}')
    (outside / "metrics.jsonl").write_text('{"epoch": 0, "phase": "' + SECRET.strip() + '"}\n')
    (outside / "results.json").write_text('{"test": {"rsum": 600.0}, "note": "' + SECRET.strip() + '"}')
    for name in ("run.json", "metrics.jsonl", "results.json"):
        target = root / f"via-{name}" / name
        target.unlink(missing_ok=True)
        target.symlink_to(outside / name)
    RunWriter.create(root / "fine", config={}, summary={"method": "vanilla"}).finish("done")
    return root, outside


@pytest.mark.parametrize("name", ["run.json", "metrics.jsonl", "results.json"])
def test_run_files_symlinked_outside_the_root_are_refused(root_and_outside, name: str) -> None:
    root, _ = root_and_outside
    runs = {s.run_id: s for s in list_runs(root)}
    bad = runs[f"via-{name}"]
    assert bad.status == "damaged" and "outside the runs root" in bad.error and name in bad.error
    assert SECRET.strip() not in bad.error
    assert runs["fine"].status == "done"  # every other run still shows
    with pytest.raises(RunDirError, match="outside the runs root"):
        read_run(root, f"via-{name}")


def test_library_readers_without_a_root_stay_inside_the_run_directory(root_and_outside) -> None:
    root, _ = root_and_outside
    with pytest.raises(RunDirError, match="outside the runs root"):
        read_metrics(root / "via-metrics.jsonl")
    with pytest.raises(RunDirError, match="outside the runs root"):
        read_results(root / "via-results.json")


def test_a_root_of_slash_lists_without_crashing() -> None:
    """``/`` holds /proc/1/cwd and other entries a normal user may not stat (PermissionError)."""
    listed = list_runs(Path("/"))
    assert all(s.status in ("running", "done", "failed", "imported", "damaged") for s in listed)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_written_with_the_ordinary_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        writer = RunWriter.create(tmp_path / "r", config={}, summary={"method": "l2rm"})
        writer.log_epoch({"epoch": 0})
        writer.write_results({"best_epoch": 0})
        writer.write_table("refined_ranks.parquet", pd.DataFrame({"epoch": [0], "kind": ["transported"],
                                                                  "rank": [1], "mean_prob": [0.5]}))
        writer.write_arrays("label_confusion.npz", confusion=np.eye(2, dtype=np.int64))
        writer.write_figure("f", {"data": []})
        atomic_write_text(tmp_path / "r" / "table.md", "x")
        for name in ("run.json", "metrics.jsonl", "results.json", "artifacts/refined_ranks.parquet",
                     "artifacts/label_confusion.npz", "artifacts/figures/f.json", "table.md"):
            assert _mode(tmp_path / "r" / name) == 0o644, name
        os.umask(0o077)  # the user's umask is respected, not overridden
        atomic_write_text(tmp_path / "r" / "private.md", "x")
        assert _mode(tmp_path / "r" / "private.md") == 0o600
    finally:
        os.umask(old)
