"""Helpers of the page tests: figure specs of an AppTest, and expected values read straight from disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from fixture_runs import FixtureRuns

__all__ = ["REPO", "RK", "run_page", "warnings", "figures", "trace_names", "paper_row", "results", "every_run_dir"]

REPO = Path(__file__).resolve().parents[2]
RK = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")


def run_page(page: str = "runs", *, timeout: float = 60, **state: object) -> Any:
    """An AppTest of one page (``runs`` or ``views/<page>.py``) with ``state`` in its session, already run and
    without an exception; the runs root comes from ``WORKBENCH_RUNS_DIR`` as in the app."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    if page != "runs":
        at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: Any) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def trace_names(spec: dict[str, Any]) -> list[str]:
    return [t.get("name") for t in spec["data"]]


def paper_row(table: str, dataset: str, mrate: str, method: str) -> dict[str, float]:
    with open(REPO / "workbench" / "reference_data" / "l2rm_retrieval_tables.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if (row["table"], row["dataset"], row["mrate"], row["method"]) == (table, dataset, mrate, method):
                return {k: float(v) for k, v in row.items() if k.startswith(("i2t", "t2i", "rsum"))}
    raise AssertionError("paper row not in the CSV")


def results(fx: FixtureRuns, role: str) -> dict[str, Any]:
    return json.loads((fx.root / fx.ids[role] / "results.json").read_text())


def every_run_dir(root: Path) -> list[str]:
    return sorted(p.parent.relative_to(root).as_posix() for p in root.rglob("run.json"))


def warnings(at) -> list[str]:  # noqa: ANN001
    """The page's warning texts with markdown escapes removed (the app escapes paths it shows)."""
    return [w.value.replace("\\", "") for w in at.warning]
