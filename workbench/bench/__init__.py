"""Performance benchmarks and the small toolkit they share.

Each benchmark is a function returning a flat dict of figures (one JSON line); ``workbench bench ...``
prints it and ``benchmarks/bench_*.py`` also appends a dated row to ``benchmarks/BENCHMARKS.md``.
Timings are medians over repeats after warm-up, measured side by side in one process, so that ratios
between solvers are meaningful on a shared machine even when absolute times are not.
"""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from workbench.errors import WorkbenchError

__all__ = ["MissingDependencyError", "require", "median_ms", "machine", "append_table_row"]


class MissingDependencyError(WorkbenchError, ImportError):
    """An optional dependency a command needs is not installed; the message names the pip extra."""


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or raise :class:`MissingDependencyError` naming ``workbench[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this command needs the optional package {module!r}, which is not installed: "
            f"pip install 'workbench[{extra}]'"
        ) from exc


def median_ms(fn: Callable[[], object], *, warmup: int = 1, repeats: int = 5) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def machine() -> str:
    """One line describing where a benchmark ran: CPU architecture and cores, python and torch versions."""
    return f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, torch {torch.__version__}"


def append_table_row(path: Path, heading: str, header: list[str], row: list[str]) -> None:
    """Append ``row`` to the markdown table under ``heading`` in ``path``, creating either if missing.

    The file is rewritten through a temporary name and ``os.replace``, so a crash never leaves it
    half-written. The table is the last block of ``|`` lines in the heading's section (text may
    precede it); a section without one gets a table at its end.
    """

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = path.read_text().splitlines() if path.exists() else []
    if heading not in lines:
        lines += ([""] if lines else []) + [heading]
    first = lines.index(heading) + 1
    section_end = next((i for i in range(first, len(lines)) if lines[i].startswith("#")), len(lines))
    table = [i for i in range(first, section_end) if lines[i].startswith("|")]
    if table:
        lines.insert(table[-1] + 1, line(row))
    else:  # a section without its table yet: put one at the end of the section
        while section_end > first and not lines[section_end - 1].strip():
            section_end -= 1
        lines[section_end:section_end] = ["", line(header), line(["---"] * len(header)), line(row)]
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)
