"""The dashboard never crashes on one bad run: a fixture set with every schema field of the wrong type
(run.json, a metrics record, results.json), artefacts missing what a page reads, run files symlinked out
of the root, a runs root of ``/``. Each page survives; a bad run is listed as damaged with its field
named, and every other run still shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixture_runs import REPORTED, build_damaged_artefacts, build_damaged_runs, build_many_runs
from page_helpers import run_page, warnings

PAGES = ["runs", "tables", "cost", "alignments", "rematches", "sweeps", "labels"]
SECRET = "secret-line-of-a-file-outside-the-root"


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[str]]:
    root = tmp_path_factory.mktemp("damaged")
    good = build_many_runs(root, 4)
    expected = build_damaged_runs(root)
    outside = tmp_path_factory.mktemp("outside")
    for name, content in (("run.json", {"schema": 1, "status": "done", "method": SECRET}),
                          ("results.json", {"test": {"rsum": 999.0}, "note": SECRET})):
        (outside / name).write_text(json.dumps(content))
    (outside / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "phase": SECRET}) + "\n")
    for name in ("run.json", "metrics.jsonl", "results.json"):
        rid = build_many_runs(root / "linked", 1)[0]
        (root / "linked" / rid).rename(root / f"linked-{name}")
        (root / f"linked-{name}" / name).unlink(missing_ok=True)
        (root / f"linked-{name}" / name).symlink_to(outside / name)
        expected[f"linked-{name}"] = "outside the runs root"
    (root / "linked").rmdir()
    return root, expected, good


def _open(root: Path, page: str, monkeypatch: pytest.MonkeyPatch, **state: object):
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(root))
    return run_page(page, timeout=120, **state)


def _everything_shown(at) -> str:
    parts = [el.value for kind in ("warning", "info", "error", "markdown", "caption") for el in getattr(at, kind)]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(map(str, parts))


def test_the_runs_page_lists_damaged_runs_with_their_field_and_every_good_run(damaged, monkeypatch) -> None:
    root, expected, good = damaged
    at = _open(root, "runs", monkeypatch)
    table = at.dataframe[0].value.set_index("run_id")
    assert set(table.index) == set(expected) | set(good)
    for run_id in good:
        assert table.loc[run_id, "status"] == "done"
    for run_id, field in expected.items():
        assert table.loc[run_id, "status"] == "damaged", run_id
        problem = table.loc[run_id, "problem"]
        assert (f"field '{field}" in problem) if field != "outside the runs root" else (field in problem), problem
    assert {m.label: m.value for m in at.metric}["damaged"] == str(len(expected))
    assert SECRET not in _everything_shown(at)


def test_the_reported_fields_are_among_the_fixtures(damaged) -> None:
    _, expected, _ = damaged
    for name, value in REPORTED.items():
        info = json.loads((damaged[0] / f"bad-run-json-{name}" / "run.json").read_text())
        assert info[name] == value and expected[f"bad-run-json-{name}"] == name


@pytest.mark.parametrize("page", PAGES[1:])
def test_every_page_survives_the_damaged_set(damaged, page, monkeypatch) -> None:
    root, _, good = damaged
    at = _open(root, page, monkeypatch)
    assert SECRET not in _everything_shown(at)
    if page == "tables":  # the good runs are still tabulated
        shown = set().union(*(set(d.value.get("run", [])) for d in at.dataframe)) - {""}
        assert set(good) <= shown


@pytest.mark.parametrize(("page", "role", "key", "field"), [
    ("rematches", "rematch", "rematch_run", "score"),
    ("alignments", "alignment", "align_run", "plan"),
    ("cost", "cost", "cost_run", "est_clean"),
    ("alignments", "ranks", "align_run", "mean_prob"),
    ("labels", "labels", "labels_run", "confusion"),
])
def test_an_artefact_missing_what_its_page_reads_is_a_warning(page, role, key, field, tmp_path,
                                                              monkeypatch) -> None:
    ids = build_damaged_artefacts(tmp_path / "runs")
    at = _open(tmp_path / "runs", page, monkeypatch, **{key: ids[role]})
    shown = warnings(at)
    assert any(f"field '{field}'" in w and "damaged" in w for w in shown), shown


@pytest.mark.parametrize("page", ["runs", "tables"])
def test_a_runs_root_of_slash_does_not_crash(page, monkeypatch) -> None:
    at = _open(Path("/"), page, monkeypatch)
    assert "PermissionError" not in _everything_shown(at)


def test_ot_solves_off_their_marginals_are_reported_on_the_runs_page(tmp_path, monkeypatch) -> None:
    root = tmp_path / "runs"
    (rid, other) = build_many_runs(root, 2)
    path = root / rid / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[-1]["rematch"] = {"batches": 12, "transported_mass": 0.0, "unconverged": 12, "off_marginals": 12}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    at = _open(root, "runs", monkeypatch)
    shown = warnings(at)
    assert any(rid in w and "12 OT solve(s) off their marginals" in w and other not in w for w in shown), shown


def test_a_warmup_that_ended_on_its_plateau_is_reported_on_the_runs_page(tmp_path, monkeypatch) -> None:
    root = tmp_path / "runs"
    (rid, other) = build_many_runs(root, 2)
    path = root / rid / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["warmup_check"] = {"first_loss": 20.845, "last_loss": 20.497, "drop": 0.0167, "stalled": True}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    shown = warnings(_open(root, "runs", monkeypatch))
    assert any(rid in w and "fell by 1.7 %" in w and other not in w for w in shown), shown


def test_a_cost_table_without_the_truth_shows_the_estimated_split(tmp_path, monkeypatch) -> None:
    """CC152K's mismatches are real, so ``true_matched`` is null: the page must not try to group by it."""
    import pandas as pd

    ids = build_damaged_artefacts(tmp_path / "runs")
    path = tmp_path / "runs" / ids["rematch"] / "artifacts" / "cost_by_epoch.parquet"
    frame = pd.read_parquet(path)
    frame.assign(true_matched=pd.array([None] * len(frame), dtype="boolean")).to_parquet(path)
    at = _open(tmp_path / "runs", "cost", monkeypatch, cost_run=ids["rematch"])
    groups = at.radio(key="cost_split")
    assert len(groups.options) == 1 and groups.value == "estimate" and at.get("plotly_chart")
    assert any("truth is unknown" in c.value for c in at.caption)
