"""Reproductions of the paper's tables and figures: parameter grids -> papermill notebooks -> tables.

``reproduce("table1", "cpu", "runs")`` executes every setting of Table 1's grid with its notebook (skipping
finished ones) and writes ``runs/table1/table.csv`` / ``table.md`` beside the paper's numbers. The notebooks
call :func:`run_setting`, which trains, resumes or reuses one run directory.
"""

from workbench.reproduce.execute import (
    DEFAULT_KERNEL,
    ReproduceReport,
    analysed_run,
    is_complete,
    notebook_dir,
    reproduce,
    run_setting,
    split_sets,
)
from workbench.reproduce.targets import TARGETS, Setting, Target, get_target

__all__ = [
    "DEFAULT_KERNEL",
    "ReproduceReport",
    "analysed_run",
    "Setting",
    "TARGETS",
    "Target",
    "get_target",
    "is_complete",
    "notebook_dir",
    "reproduce",
    "run_setting",
    "split_sets",
]
