"""Helpers of the page tests: figure specs of an AppTest, and expected values read straight from disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from fixture_runs import FixtureRuns

__all__ = ["REPO", "RK", "figures", "trace_names", "paper_row", "results", "every_run_dir"]

REPO = Path(__file__).resolve().parents[2]
RK = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")


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
