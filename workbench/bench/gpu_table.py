"""The GPU table of ``benchmarks/BENCHMARKS.md``: one row per ``workbench bench gpu`` run.

:func:`record_row` appends a run's summary as a row; :func:`read_gpu_costs` reads the newest row measured
at the paper's sizes back into the :class:`~workbench.bench.projection.GpuCosts` that projections (and
``workbench reproduce --dry-run``) use. Rows are matched to columns by their header names, so columns
may be added later without breaking older rows' reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.bench import append_table_row
from workbench.bench.projection import GpuCosts, PhaseSeconds
from workbench.errors import DataFormatError

__all__ = ["GPU_HEADING", "ROW_COLUMNS", "record_row", "read_gpu_costs"]

GPU_HEADING = "## GPU readiness (`workbench bench gpu`)"

#: the BENCHMARKS.md columns and the summary key each one shows
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("date", "date"), ("device", "device"), ("shape", "shape"), ("batch", "batch"),
    ("projection precision", "projection_precision"),
    ("SGR L2RM fp32 s", "sgr_l2rm_fp32_s"), ("SGR L2RM tf32 s", "sgr_l2rm_tf32_s"),
    ("SGR L2RM bf16 s", "sgr_l2rm_bf16_s"), ("SGR loop s", "sgr_loop_s"),
    ("SGR loop/fp32", "sgr_loop_over_fp32"), ("SGR loop/bf16", "sgr_loop_over_bf16"),
    ("SGR peak MB bf16", "sgr_l2rm_bf16_peak_mb"), ("SGR loop peak MB", "sgr_loop_peak_mb"),
    ("SAF L2RM fp32 s", "saf_l2rm_fp32_s"), ("SAF L2RM tf32 s", "saf_l2rm_tf32_s"),
    ("SAF L2RM bf16 s", "saf_l2rm_bf16_s"), ("SAF loop s", "saf_loop_s"),
    ("SAF loop/fp32", "saf_loop_over_fp32"), ("SAF loop/bf16", "saf_loop_over_bf16"),
    ("SAF peak MB bf16", "saf_l2rm_bf16_peak_mb"), ("SAF loop peak MB", "saf_loop_peak_mb"),
    ("sgr l2rm s", "sgr_l2rm_s"), ("sgr triplet s", "sgr_triplet_s"), ("sgr warmup s", "sgr_warmup_s"),
    ("sgr forward s", "sgr_forward_s"), ("saf l2rm s", "saf_l2rm_s"), ("saf triplet s", "saf_triplet_s"),
    ("saf warmup s", "saf_warmup_s"), ("saf forward s", "saf_forward_s"),
    ("SGRAF eval fp32 s", "eval_fp32_s"), ("SGRAF eval bf16 s", "eval_bf16_s"),
    ("F30K L2RM-SGR epoch h", "f30k_l2rm_sgr_epoch_h"), ("Table 1 row h", "table1_row_h"),
    ("Table 1 grid h", "table1_grid_h"), ("DDP 2-process s", "ddp"),
)


def record_row(summary: dict[str, Any], path: Path) -> None:
    """Append ``summary`` (a ``workbench bench gpu`` summary) as one row of the GPU table in ``path``."""

    def cell(key: str) -> str:
        value = summary.get(key, "")
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    append_table_row(path, GPU_HEADING, [name for name, _ in ROW_COLUMNS], [cell(key) for _, key in ROW_COLUMNS])


def _split(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in line.strip().strip("|").split(" | ")]


def read_gpu_costs(path: Path) -> GpuCosts | None:
    """The costs of the newest row at the paper's sizes in ``path``'s GPU table; None when there is none.

    Raises:
        DataFormatError: the row's phase or evaluation cells are not positive numbers (naming the cell).
    """
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    if GPU_HEADING not in lines:
        return None
    start = lines.index(GPU_HEADING) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    table = [line for line in lines[start:end] if line.startswith("|")]
    if len(table) < 3:
        return None
    header = _split(table[0])
    rows = [dict(zip(header, _split(line), strict=False)) for line in table[2:]]
    rows = [row for row in rows if row.get("shape") == "paper"]
    if not rows:
        return None
    row = rows[-1]

    def number(column: str) -> float:
        text = row.get(column, "")
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise DataFormatError(f"{path}: the GPU row of {row.get('date')} has {column!r} = {text!r}; "
                                  "expected a positive number (re-run `workbench bench gpu`)")
        return value

    phases = {b: PhaseSeconds(*(number(f"{b} {ph} s") for ph in ("l2rm", "triplet", "warmup", "forward")))
              for b in ("sgr", "saf")}
    precision = row.get("projection precision", "bf16")
    eval_s = number(f"SGRAF eval {precision} s") / 2
    return GpuCosts(phases, int(number("batch")), eval_s,
                    f"{path.name}, GPU row of {row.get('date')} on {row.get('device')} ({precision})")
