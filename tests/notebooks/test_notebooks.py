"""Every notebook in ``notebooks/`` executes through papermill with smoke parameters, and leaves what the
dashboard reads in its run directory.

Table notebooks get the first setting of their target's CPU grid (narrowed to one run) plus the smoke
overrides. Their run is trained in this process first with the same parameters (``run_setting``, the call the
notebook makes), so the kernel takes the documented reuse path and the module stays within minutes; the
in-kernel training path is exercised by ``table1`` through ``reproduce`` and by the figure notebook run without
``source_run``. Figure notebooks analyse one shared L2RM smoke run. The teaching notebooks assert their own
claims; executing them checks those.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from nb_smoke import NOTEBOOKS, SMOKE

from workbench import reference
from workbench.reproduce import TARGETS, reproduce, run_setting
from workbench.runs import list_runs, read_arrays

RECALLS = reference.RK_COLUMNS[:-1]


# --------------------------------------------------------------------------------------------- cases
def _rsum(row: Mapping[str, float]) -> list[float]:
    return [float(row[k]) for k in RECALLS]


def _lookup(*args: Any, **kwargs: Any) -> list[float]:
    row = reference.lookup(*args, **kwargs)
    assert row is not None, (args, kwargs)
    return _rsum(row.metrics)


@dataclass(frozen=True)
class TableCase:
    grid: Mapping[str, list[str]]  # narrows the target's CPU grid to (at least) one setting
    paper: Callable[[], list[float]]  # the six recalls of the paper's row the notebook must show
    key: str = "test"  # the results.json section shown as "ours"


TABLES: dict[str, TableCase] = {
    "table2": TableCase({"methods": ["l2rm"]}, lambda: _lookup("cc152k", None, "L2RM-SGR")),
    "table3": TableCase({"variants": ["L2RM w/o Cost Function"]}, lambda: _rsum(
        reference.load_table("ablation").set_index("variant").loc["L2RM w/o Cost Function"])),
    "table4": TableCase({"warmups": ["triplet"]}, lambda: _rsum(reference.load_table("warmup").query(
        "warmup == 'Triplet' and dataset == 'flickr30k'").iloc[0])),
    "table7": TableCase({"methods": ["l2rm"], "seeds": ["0"]}, lambda: _lookup("f30k", 0.0, "L2RM-SGR")),
    "table8": TableCase({"mrates": ["0.4"]}, lambda: _lookup("coco", 0.4, "L2RM-SGR", protocol="5k")),
    "table9": TableCase({"batches": ["64"], "methods": ["l2rm"]},
                        lambda: _rsum(reference.lookup_batch(64, "L2RM-SGR").metrics)),
    "fig4": TableCase({"rhos": ["0.2"], "lams": []}, lambda: _lookup("f30k", 0.2, "L2RM-SGR")),
}

#: figure notebook -> the figures it must save (cost histograms are added per recorded epoch)
FIGURES: dict[str, tuple[str, ...]] = {
    "fig5": ("rematch_scores", "rematch_quality"),
    "fig6": ("cost_trend", "cost_histogram_estimate"),
    "fig7": ("refined_ranks", "rematch_concentration", "alignment_heatmaps"),
}

#: teaching notebook -> smoke parameters (each runs in well under a minute with them)
TEACHING: dict[str, dict[str, Any]] = {
    "teach_sinkhorn": {},
    "teach_partial_ot": {},
    "teach_masking": {"batch_size": 64},
    "teach_learnable_cost": {"steps": 20},
    "teach_memorization": {"epochs": 2},
}


def test_every_notebook_has_a_smoke_test() -> None:
    names = {p.stem for p in NOTEBOOKS.glob("*.py")}
    covered = {"table1", "uot_table", *TABLES, *FIGURES, *TEACHING}
    assert names - covered == set(), (f"add smoke cases for {sorted(names - covered)} in {__file__} (skip a "
                                      "notebook with a reason when its smoke run needs more than ~60 s)")
    assert covered - names == set(), f"cases for notebooks that do not exist: {sorted(covered - names)}"


# ------------------------------------------------------------------------------------------- checks
def _check_executed(run_dir: Path) -> dict[str, Any]:
    """The executed notebook recorded no exception; returns its papermill metadata."""
    notebook = json.loads((run_dir / "notebook.ipynb").read_text(encoding="utf-8"))
    meta = notebook["metadata"]["papermill"]
    assert not meta["exception"] and meta["end_time"]  # papermill records None (or False) when all cells ran
    assert not [c for c in notebook["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    return meta


def _check_run(run_dir: Path, epochs: int = 2) -> dict[str, Any]:
    """What the dashboard reads of a finished run; returns results.json."""
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["status"] == "done"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    assert [r["epoch"] for r in records] == list(range(epochs))
    assert all("rsum" in r["val"] for r in records)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert set(reference.RK_COLUMNS) <= set(results["test"])
    return results


def _figure(run_dir: Path, name: str) -> Any:
    path = run_dir / "artifacts" / "figures" / f"{name}.json"
    assert path.is_file(), f"{name}.json not saved; saved: {sorted(p.name for p in path.parent.glob('*'))}"
    fig = pio.read_json(path)
    assert len(fig.data) > 0
    return fig


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ table notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_notebook(name: str, tmp_path: Path, execute: Callable[..., Any], single_thread: None) -> None:
    case = TABLES[name]
    setting = TARGETS[name].grid("cpu", case.grid)[0]
    run_dir = tmp_path / setting.id
    parameters = setting.parameters(str(run_dir), "cpu")
    parameters["overrides"] = [*parameters["overrides"], *SMOKE]
    run_setting(setting.preset, parameters["overrides"], run_dir)
    trained = _snapshot(run_dir)

    execute(name, run_dir, parameters)

    _check_executed(run_dir)
    results = _check_run(run_dir)
    after = _snapshot(run_dir)
    assert {k: v for k, v in after.items() if k in trained} == trained, "the notebook retrained the finished run"
    _figure(run_dir, "val_curves")
    bars = _figure(run_dir, "recall_vs_paper")
    ours, paper = bars.data
    assert ours.name.startswith("ours") and paper.name.startswith("paper")
    np.testing.assert_allclose(np.asarray(ours.y, dtype=float), [results[case.key][k] for k in RECALLS],
                               atol=0.051)  # the comparison is rounded to 0.1
    np.testing.assert_allclose(np.asarray(paper.y, dtype=float), case.paper(), atol=1e-9)


# ----------------------------------------------------------------------------------- figure notebooks
@pytest.fixture(scope="session")
def l2rm_run(tmp_path_factory: pytest.TempPathFactory, single_thread: None) -> Path:
    """One finished L2RM smoke run at MRate 0.6 (1 warm-up + 1 main epoch) that the figure notebooks analyse."""
    run_dir = tmp_path_factory.mktemp("source") / "l2rm-vse-m0.6"
    run_setting("cpu-l2rm-vse", ["mrate=0.6", *SMOKE], run_dir)
    return run_dir


def _expected_figures(name: str, source: Path) -> list[str]:
    names = list(FIGURES[name])
    if name == "fig6":
        epochs = sorted(pd.read_parquet(source / "artifacts" / "cost_by_epoch.parquet")["epoch"].unique())
        names += [f"cost_histogram_epoch_{e:03d}" for e in sorted({epochs[0], epochs[-1]})]
    return names


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_notebook_analyses_source_run(name: str, tmp_path: Path, l2rm_run: Path,
                                             execute: Callable[..., Any]) -> None:
    setting = TARGETS[name].grid("cpu", {"run": [str(l2rm_run)]})[0]
    run_dir = tmp_path / setting.id
    before = _snapshot(l2rm_run)

    execute(name, run_dir, setting.parameters(str(run_dir), "cpu"))

    _check_executed(run_dir)
    assert _snapshot(l2rm_run) == before, "the source run was modified"
    assert not (run_dir / "run.json").exists(), "a run was trained although source_run was given"
    for figure in _expected_figures(name, l2rm_run):
        _figure(run_dir, figure)


@pytest.mark.slow
def test_figure_notebook_without_source_uses_its_own_run(tmp_path: Path, l2rm_run: Path,
                                                         execute: Callable[..., Any]) -> None:
    setting = TARGETS["fig7"].grid("cpu", {})[0]
    run_dir = tmp_path / setting.id
    shutil.copytree(l2rm_run, run_dir)  # a finished run in place: run_setting reuses it
    parameters = setting.parameters(str(run_dir), "cpu")
    parameters["overrides"] = [*parameters["overrides"], *SMOKE]

    execute("fig7", run_dir, parameters)

    _check_executed(run_dir)
    _check_run(run_dir)
    for figure in FIGURES["fig7"]:
        _figure(run_dir, figure)
    ranks = _figure(run_dir, "refined_ranks")
    assert {trace.name for trace in ranks.data} == {"transported", "untransported"}


# ------------------------------------------------------------------------- table1 through reproduce
@pytest.mark.slow
def test_reproduce_twice_executes_nothing_the_second_time(tmp_path: Path, kernel: str) -> None:
    sets = ["methods=l2rm", "mrates=0.6", "seeds=0", *SMOKE]
    first = reproduce("table1", "cpu", tmp_path, sets=sets, kernel=kernel)
    assert first.failed == {}
    assert first.executed == ["l2rm-vse-m0.6-s0"] and first.skipped == []
    run_dir = tmp_path / "table1" / "l2rm-vse-m0.6-s0"
    meta = _check_executed(run_dir)
    assert meta["parameters"]["overrides"][-len(SMOKE):] == list(SMOKE)
    _check_run(run_dir)  # trained inside the kernel
    table = pd.read_csv(tmp_path / "table1" / "table.csv")
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert len(table) == 1 and table.loc[0, "runs"] == 1
    assert table.loc[0, "rsum"] == pytest.approx(results["test"]["rsum"])
    before = _snapshot(tmp_path / "table1")

    second = reproduce("table1", "cpu", tmp_path, sets=sets, kernel=kernel)

    assert second.executed == [] and second.failed == {}
    assert second.skipped == ["l2rm-vse-m0.6-s0"]
    after = _snapshot(tmp_path / "table1")
    unchanged = {k: v for k, v in before.items() if not k.startswith("table.")}
    assert {k: v for k, v in after.items() if k in unchanged} == unchanged  # only the table is rewritten


# ------------------------------------------------------------------------- the label track (UOT-RCL)
@pytest.mark.slow
def test_uot_table_notebook(tmp_path: Path, execute: Callable[..., Any]) -> None:
    root = tmp_path / "grid"
    execute("uot_table", tmp_path, {"preset": "tiny", "datasets": ["synthetic"], "methods": ["uot_rcl"],
                                    "ceilings": ["corrected"], "rates": {"symmetric": [0.4]}, "seeds": [0],
                                    "ablations": [], "ablation_rates": {}, "epochs": 1, "run_root": str(root)})

    _check_executed(tmp_path)
    runs = {r.run_id: r for r in list_runs(root)}
    assert set(runs) == {"uot_rcl/synthetic-symmetric-0.4-s0", "ce-corrected/synthetic-symmetric-0.4-s0"}
    run = runs["uot_rcl/synthetic-symmetric-0.4-s0"]
    assert run.status == "done" and run.track == "labels" and run.epochs_done == 1
    assert "| ce-corrected |" in (root / "table.md").read_text(encoding="utf-8")
    assert set(read_arrays(root, run.run_id, "label_confusion.npz")) >= {"confusion", "noisy_confusion"}
    results = json.loads((run.path / "results.json").read_text(encoding="utf-8"))
    table = pd.read_csv(root / "table.csv")
    table = table[table["variant"] == "uot_rcl"].set_index("column")
    assert table.loc["best_avg", "mean"] == pytest.approx(results["map"]["best"]["avg"])
    assert (root / "table.md").is_file()


# --------------------------------------------------------------------------------- teaching notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEACHING))
def test_teaching_notebook(name: str, tmp_path: Path, execute: Callable[..., Any]) -> None:
    notebook = execute(name, tmp_path, TEACHING[name])

    _check_executed(tmp_path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a cell did not run"
    assert any(o.get("output_type") == "display_data" or o.get("output_type") == "execute_result"
               for c in code for o in c.get("outputs", [])), "the notebook shows nothing"
    assert not (tmp_path / "artifacts").exists() and not (tmp_path / "run.json").exists()
