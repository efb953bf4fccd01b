"""Partial-OT solver benchmark: print one JSON line and append a dated row to BENCHMARKS.md.

    python benchmarks/bench_ot.py   # = OPENBLAS_NUM_THREADS=1 workbench bench ot --json, plus the row

See workbench/bench/ot.py for what is measured; needs POT (pip install 'workbench[oracle]').
"""

from __future__ import annotations

import os

# numpy's BLAS reads its thread count when it loads: one thread, like torch here, so that POT's matrix
# products are not slowed down by contention on a shared machine (set before numpy/torch are imported).
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import datetime  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from workbench.bench import append_table_row, machine  # noqa: E402
from workbench.bench.ot import run_ot_benchmark  # noqa: E402

HEADING = "## Partial OT solver (`benchmarks/bench_ot.py`)"
COLUMNS = {
    "ours_single_ms": "ours single ms",
    "ours_batched_ms_per_problem": "ours batched ms/problem",
    "pot_ms": "POT sinkhorn_log ms",
    "bregman_batched_ms_per_problem": "ours Bregman batched ms/problem",
    "pot_partial_ms": "POT entropic_partial ms",
    "numpy_log_ms": "numpy log loop ms",
    "max_marginal_error": "max marginal error",
}


def main() -> None:
    figures = run_ot_benchmark()
    print(json.dumps(figures))
    header = [
        "date",
        "machine",
        "threads",
        "eps",
        *COLUMNS.values(),
        "worst batched / POT",
        "worst single / POT",
        "worst Bregman / POT partial",
    ]
    row = [
        datetime.date.today().isoformat(),
        machine(),
        str(figures["threads"]),
        f"{figures['eps']:g}",
        *(f"{figures[key]:.3g}" for key in COLUMNS),
        f"{figures['worst_batched_vs_pot']:.3f}",
        f"{figures['worst_single_vs_pot']:.3f}",
        f"{figures['worst_bregman_vs_pot_partial']:.3f}",
    ]
    append_table_row(Path(__file__).with_name("BENCHMARKS.md"), HEADING, header, row)


if __name__ == "__main__":
    main()
