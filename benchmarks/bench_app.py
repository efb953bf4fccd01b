"""Time to first render of the dashboard's Runs page over many runs (target: under 3 s for 300 runs).

Writes ``--runs`` light runs (run.json, 8 epochs of metrics.jsonl, results.json) with the test fixture
builder into a temporary folder, then renders the app's default page (Runs) with Streamlit's AppTest:
``first_render_s`` is the first ``run()`` with cold caches (it includes importing the app's modules and
reading every run), ``cached_render_s`` the next rerun (what a user waits for after a widget change).
Prints one JSON line and appends a row to ``benchmarks/BENCHMARKS.md``.

    python benchmarks/bench_app.py [--runs 300] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "app"))

from fixture_runs import build_many_runs  # noqa: E402

TARGET_S = 3.0


def measure(n_runs: int) -> dict[str, object]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory(prefix="bench_app_") as tmp:
        start = time.perf_counter()
        build_many_runs(Path(tmp), n_runs)
        build_s = time.perf_counter() - start
        os.environ["WORKBENCH_RUNS_DIR"] = tmp
        st.cache_data.clear()
        at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=120)
        start = time.perf_counter()
        at.run()
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        at.run()
        cached_s = time.perf_counter() - start
        if at.exception or len(at.dataframe[0].value) != n_runs:
            raise SystemExit(f"bench_app: the Runs page did not list {n_runs} runs: {at.exception}")
    return {"benchmark": "app_first_render", "runs": n_runs, "first_render_s": round(first_s, 3),
            "cached_render_s": round(cached_s, 3), "build_runs_s": round(build_s, 3), "target_s": TARGET_S,
            "python": platform.python_version(), "cpus": os.cpu_count()}


def record(result: dict[str, object], path: Path) -> None:
    """Append one row to the dashboard section of the shared benchmark log."""
    from workbench.bench import append_table_row

    append_table_row(path, "## Dashboard first render (`benchmarks/bench_app.py`)",
                     ["date", "runs", "first render s", "cached rerun s", "target s", "python", "CPUs"],
                     [dt.date.today().isoformat(), str(result["runs"]), str(result["first_render_s"]),
                      str(result["cached_render_s"]), f"{TARGET_S:g}", str(result["python"]), str(result["cpus"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="number of run directories (default 300)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/BENCHMARKS.md")
    args = parser.parse_args()
    result = measure(args.runs)
    print(json.dumps(result))
    if not args.no_record:
        record(result, REPO / "benchmarks" / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
