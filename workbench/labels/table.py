"""The MAP-vs-noise table, built from label-track run directories (torch-free: the dashboard may import it).

:func:`collect_label_runs` reads every finished ``track="labels"`` run under a root through
:mod:`workbench.runs`; :func:`summarise` takes mean, sample standard deviation and count over seeds per
(variant, dataset, noise, rate); :func:`map_table` pivots one MAP column into the paper-style table
(methods down, noise settings across, cells ``"0.251 ± 0.004"``); :func:`write_tables` writes
``table.csv`` (the long summary, every number) and ``table.md`` (best- and last-epoch tables) atomically.

A run's *variant* is its ``run.json`` field ``variant`` (e.g. a UOT-RCL ablation), else its method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.runs import atomic_write_text, list_runs, read_run

__all__ = ["METHOD_ORDER", "MAP_COLUMNS", "collect_label_runs", "summarise", "map_table", "table_markdown",
           "write_tables"]

METHOD_ORDER = ("uot_rcl", "ce", "ce-corrected", "ce-clean", "gce", "mrl", "cca")
MAP_COLUMNS = tuple(f"{when}_{d}" for when in ("best", "last") for d in ("avg", "i2t", "t2i"))
_KEYS = ["variant", "dataset", "noise", "rate"]


def collect_label_runs(root: str | Path) -> pd.DataFrame:
    """One row per finished label-track run under ``root``.

    Columns: ``run_id, variant, method, dataset, noise, level, rate, seed``, the six MAP columns
    (:data:`MAP_COLUMNS`), ``best_epoch``, ``correction_accuracy``, ``noisy_accuracy``, ``wall_time_s``.
    """
    rows: list[dict[str, Any]] = []
    for summary in list_runs(Path(root)):
        if summary.track != "labels" or summary.status != "done":
            continue
        record = read_run(Path(root), summary.run_id)
        info, results = record.info, record.results or {}
        maps = results.get("map") or {}
        row: dict[str, Any] = {
            "run_id": summary.run_id, "variant": info.get("variant") or summary.method, "method": summary.method,
            "dataset": summary.dataset, "noise": info.get("noise"), "level": info.get("noise_level"),
            "rate": info.get("noise_rate"), "seed": summary.seed, "best_epoch": results.get("best_epoch"),
            "correction_accuracy": (results.get("label") or {}).get("correction_accuracy"),
            "noisy_accuracy": (results.get("label") or {}).get("noisy_accuracy"),
            "wall_time_s": results.get("wall_time_s"),
        }
        for column in MAP_COLUMNS:
            when, direction = column.split("_")
            row[column] = (maps.get(when) or {}).get(direction)
        rows.append(row)
    columns = ["run_id", "variant", "method", "dataset", "noise", "level", "rate", "seed", *MAP_COLUMNS,
               "best_epoch", "correction_accuracy", "noisy_accuracy", "wall_time_s"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ["rate", *MAP_COLUMNS, "correction_accuracy", "noisy_accuracy", "wall_time_s"]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.sort_values(["variant", "noise", "rate", "seed"], ignore_index=True)


def _variant_key(name: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(name), "") if name in METHOD_ORDER else (len(METHOD_ORDER), name)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (NaN for one seed) and seed count of every MAP column per variant/dataset/noise/rate.

    Returns a long frame with columns ``variant, dataset, noise, rate, column, mean, std, n`` and also
    ``correction_accuracy`` means as rows with ``column == "correction_accuracy"``.
    """
    value_columns = [*MAP_COLUMNS, "correction_accuracy"]
    if frame.empty:
        return pd.DataFrame(columns=[*_KEYS, "column", "mean", "std", "n"])
    long = frame.melt(id_vars=_KEYS, value_vars=value_columns, var_name="column", value_name="value")
    out = (long.groupby([*_KEYS, "column"], dropna=False, sort=False)["value"]
           .agg(mean="mean", std="std", n="count").reset_index())
    out["order"] = out["variant"].map(_variant_key)
    out = out.sort_values(["order", "dataset", "noise", "rate", "column"]).drop(columns="order")
    return out.reset_index(drop=True)


def _cell(mean: float, std: float, n: int, digits: int) -> str:
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if n < 2 or std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _setting(noise: Any, rate: Any) -> str:
    short = {"symmetric": "sym", "asymmetric": "asym"}.get(str(noise), str(noise))
    return f"{short} {float(rate):g}"


def map_table(summary: pd.DataFrame, column: str = "best_avg", *, digits: int = 3) -> pd.DataFrame:
    """Variants down, ``"{noise} {rate}"`` settings across (symmetric first, by rate), cells ``mean ± std``.

    With runs of several datasets the rows are ``(dataset, variant)`` and a ``dataset`` column comes first.
    The CE ceilings (``ce-clean``, ``ce-corrected``) are rows like the methods.

    Args:
        summary: :func:`summarise` output.
        column: a MAP column (``best_avg``, ``last_i2t``, ...) or ``correction_accuracy``.
        digits: decimals.
    """
    part = summary[summary["column"] == column]
    if part.empty:
        return pd.DataFrame(columns=["method"])
    settings = sorted({(n, float(r)) for n, r in zip(part["noise"], part["rate"], strict=True)},
                      key=lambda s: (s[0] != "symmetric", s[0], s[1]))
    datasets = sorted(set(part["dataset"]))
    rows_of = [(d, v) for d in datasets
               for v in sorted(set(part.loc[part["dataset"] == d, "variant"]), key=_variant_key)]
    table = pd.DataFrame({"dataset": [d for d, _ in rows_of], "method": [v for _, v in rows_of]})
    for noise, rate in settings:
        cells = []
        for dataset, variant in rows_of:
            rows = part[(part["dataset"] == dataset) & (part["variant"] == variant) & (part["noise"] == noise)
                        & (part["rate"] == rate)]
            cells.append(_cell(float(rows["mean"].iloc[0]), float(rows["std"].iloc[0]), int(rows["n"].iloc[0]),
                               digits) if len(rows) else "")
        table[_setting(noise, rate)] = cells
    return table if len(datasets) > 1 else table.drop(columns="dataset")


def table_markdown(table: pd.DataFrame, title: str | None = None) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency)."""
    header = [str(c) for c in table.columns]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(str(v) for v in row.tolist()) + " |")
    return "\n".join(lines) + "\n"


def write_tables(frame: pd.DataFrame, out_dir: str | Path,
                 columns: Sequence[str] = ("best_avg", "last_avg", "best_i2t", "best_t2i", "last_i2t", "last_t2i",
                                           "correction_accuracy")) -> tuple[Path, Path]:
    """Write ``table.csv`` (the :func:`summarise` frame) and ``table.md`` (one table per column) atomically.

    Returns:
        ``(csv_path, md_path)``.
    """
    out_dir = Path(out_dir)
    summary = summarise(frame)
    titles = {"best_avg": "Average MAP, best epoch on the noisy validation set",
              "last_avg": "Average MAP, last epoch", "best_i2t": "Image→text MAP, best epoch",
              "best_t2i": "Text→image MAP, best epoch", "last_i2t": "Image→text MAP, last epoch",
              "last_t2i": "Text→image MAP, last epoch",
              "correction_accuracy": "Training-label accuracy at the end (corrected labels; noisy for baselines)"}
    seeds = frame.groupby(_KEYS)["seed"].nunique() if not frame.empty else pd.Series(dtype=int)
    intro = (f"MAP over all results on the clean test set, mean ± sample std over seeds "
             f"({', '.join(map(str, sorted(set(seeds.tolist())))) or 'no'} seed(s) per cell); "
             f"{len(frame)} runs.\n\n")
    md = "# MAP vs label noise\n\n" + intro + "\n".join(
        table_markdown(map_table(summary, c), titles.get(c, c)) for c in columns)
    csv_path, md_path = out_dir / "table.csv", out_dir / "table.md"
    atomic_write_text(csv_path, summary.to_csv(index=False))
    atomic_write_text(md_path, md)
    return csv_path, md_path
