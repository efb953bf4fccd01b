"""Pure DataFrame transforms behind the dashboard's pages (no Streamlit, no file access).

Inputs are what :mod:`workbench.runs` returns (``RunSummary`` objects, ``RunRecord``s); outputs are the
tables the pages display and the points :mod:`workbench.viz` draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from workbench.reference import RK_COLUMNS
from workbench.runs import RunRecord, RunSummary

__all__ = [
    "RUN_COLUMNS",
    "SWEEP_PARAMS",
    "runs_frame",
    "results_frame",
    "best_val_frame",
    "sweep_points",
    "label_frame",
    "map_summary",
    "CEILING_VARIANTS",
    "map_pivot",
    "format_mrate",
]

RUN_COLUMNS = ("run_id", "status", "problem", "track", "dataset", "method", "backbone", "mrate", "rho",
               "lam", "batch_size", "seed", "best_rsum", "test_rsum", "epochs_done", "created")
SWEEP_PARAMS = ("rho", "lam", "batch_size")
_SETTING = ("dataset", "method", "backbone", "mrate")


def format_mrate(value: Any) -> str:
    """``0.2`` → ``"0.2"``; missing → ``"—"`` (CC152K has real, unknown mismatch)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):g}"


def runs_frame(summaries: Iterable[RunSummary]) -> pd.DataFrame:
    """One row per run with the Runs page's columns; ``problem`` is a failed run's error or why a
    directory is damaged."""
    rows = []
    for s in summaries:
        row = s.as_row()
        row["problem"] = row.pop("error", None) or ""
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys([*RUN_COLUMNS, *(k for r in rows for k in r)])))
    for col in ("mrate", "rho", "lam", "best_rsum", "test_rsum"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in ("batch_size", "seed", "epochs_done", "ot_off_marginals", "ot_unconverged"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return frame


def results_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Test R@K of retrieval runs, one row per (run, evaluation protocol).

    COCO runs with ``test_5fold`` give a ``1k`` row from it (Tables 1/6) and, with ``test_5k``, a ``5k``
    row (Table 8); other runs give one ``1k`` row from ``test``.
    """
    rows = []
    for rec in records:
        s, results = rec.summary, rec.results or {}
        base = {"run_id": s.run_id, "dataset": s.dataset, "mrate": s.mrate, "method": s.method,
                "backbone": s.backbone, "seed": s.seed}
        one_k = results.get("test_5fold") or results.get("test")
        for protocol, metrics in (("1k", one_k), ("5k", results.get("test_5k"))):
            if isinstance(metrics, Mapping):
                rows.append({**base, "protocol": protocol, **{c: metrics.get(c) for c in RK_COLUMNS}})
    frame = pd.DataFrame(rows, columns=["run_id", "dataset", "mrate", "method", "backbone", "seed",
                                        "protocol", *RK_COLUMNS])
    for col in ("mrate", *RK_COLUMNS):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def best_val_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Validation R@K at each run's best-rSum epoch (from ``metrics.jsonl``), like :func:`results_frame`."""
    rows = []
    for rec in records:
        vals = [m["val"] for m in rec.metrics if isinstance(m.get("val"), Mapping)
                and isinstance(m["val"].get("rsum"), (int, float))]
        if vals:
            best = max(vals, key=lambda v: v["rsum"])
            s = rec.summary
            rows.append({"run_id": s.run_id, "dataset": s.dataset, "mrate": s.mrate, "method": s.method,
                         "backbone": s.backbone, "seed": s.seed, "protocol": "1k",
                         **{c: best.get(c) for c in RK_COLUMNS}})
    return pd.DataFrame(rows, columns=["run_id", "dataset", "mrate", "method", "backbone", "seed",
                                       "protocol", *RK_COLUMNS])


def _key(value: Any) -> Any:
    """Group key for a possibly-missing float (NaN never equals itself, so map it to None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 6) if isinstance(value, float) else value


def sweep_points(summaries: Sequence[RunSummary], scores: pd.DataFrame, *, param: str,
                 metrics: Sequence[str], rho_follows_batch: bool = True) -> pd.DataFrame:
    """Points of a one-parameter sweep, mean ± std over seeds.

    Runs are grouped when they share dataset, method, backbone and MRate and every other swept
    parameter; groups with fewer than two distinct values of ``param`` are dropped. For the batch-size
    sweep, ``rho_follows_batch`` lets ρ vary with the batch size (the paper's Table 9 protocol).

    Args:
        summaries: the candidate runs.
        scores: per-run scores (``run_id`` and metric columns), e.g. :func:`results_frame` rows.
        param: ``rho``, ``lam`` or ``batch_size``.
        metrics: metric columns to report.

    Returns:
        columns ``group`` (readable setting), ``value``, ``metric``, ``mean``, ``std`` (sample std, NaN
        for one seed), ``n``, ``runs`` (comma-separated ids).
    """
    if param not in SWEEP_PARAMS:
        raise ValueError(f"param must be one of {SWEEP_PARAMS}, got {param!r}")
    held = [p for p in SWEEP_PARAMS if p != param and not (param == "batch_size" and p == "rho"
                                                            and rho_follows_batch)]
    by_id = scores.drop_duplicates("run_id").set_index("run_id")
    rows = []
    for s in summaries:
        value = getattr(s, param)
        if s.run_id not in by_id.index or _key(value) is None:
            continue
        key = tuple(_key(getattr(s, f)) for f in (*_SETTING, *held))
        for metric in metrics:
            rows.append({"key": key, "value": float(value), "metric": metric,
                         "score": by_id.at[s.run_id, metric], "run_id": s.run_id})
    cols = ["group", "value", "metric", "mean", "std", "n", "runs"]
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(rows)
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    wide = frame.groupby("key")["value"].nunique()
    frame = frame[frame["key"].map(wide) >= 2]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    agg = (frame.groupby(["key", "value", "metric"], sort=True)
           .agg(mean=("score", "mean"), std=("score", "std"), n=("score", "count"),
                runs=("run_id", lambda ids: ", ".join(sorted(ids))))
           .reset_index())
    names = (*_SETTING, *held)
    agg["group"] = agg["key"].map(
        lambda k: " ".join(_describe(n, v) for n, v in zip(names, k, strict=True)))
    return agg[cols].reset_index(drop=True)


def _describe(name: str, value: Any) -> str:
    short = {"mrate": "MRate", "rho": "ρ", "lam": "λ", "batch_size": "B"}
    if name in short:
        return f"{short[name]}={format_mrate(value) if name == 'mrate' else value}"
    return str(value)


def label_frame(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Label-track runs: ``dataset, method, noise, rate, seed``, best / last MAP (``i2t, t2i, avg``) and the
    final training-label accuracy.

    ``method`` is the run's variant (``run.json`` field ``variant``: a UOT-RCL ablation or a CE ceiling such
    as ``ce-clean`` / ``ce-corrected``), else its method. The noise rate is the run's ``mrate`` field (the
    rate of corrupted labels), or ``noise_rate`` when ``run.json`` has one.
    """
    rows = []
    for rec in records:
        s, results = rec.summary, rec.results or {}
        maps = results.get("map") or {}
        rate = rec.info.get("noise_rate", s.mrate)
        row: dict[str, Any] = {"run_id": s.run_id, "dataset": s.dataset, "method": rec.info.get("variant") or s.method,
                               "noise": rec.info.get("noise"), "rate": rate, "seed": s.seed}
        for when in ("best", "last"):
            for d in ("i2t", "t2i", "avg"):
                row[f"{when}_{d}"] = (maps.get(when) or {}).get(d)
        row["label_accuracy"] = (results.get("label") or {}).get("correction_accuracy")
        rows.append(row)
    cols = ["run_id", "dataset", "method", "noise", "rate", "seed",
            *(f"{w}_{d}" for w in ("best", "last") for d in ("i2t", "t2i", "avg")), "label_accuracy"]
    frame = pd.DataFrame(rows, columns=cols)
    for col in cols[4:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def map_summary(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, sample std and count over seeds of one MAP column per (method, noise, rate)."""
    return (frame.groupby(["method", "noise", "rate"], dropna=False, sort=True)[column]
            .agg(mean="mean", std="std", n="count").reset_index())


#: the CE ceilings' variants and what they train on (rows of the label table).
CEILING_VARIANTS = {"ce-corrected": "CE on UOT-RCL's final corrected labels", "ce-clean": "CE on the clean labels"}


def map_pivot(summary: pd.DataFrame) -> pd.DataFrame:
    """``method × noise`` rows, one column per rate, cells ``"0.512 ± 0.004"`` (no ± for one seed)."""
    def cell(rec: pd.Series) -> str:
        if rec["n"] == 0 or pd.isna(rec["mean"]):
            return ""
        return f"{rec['mean']:.3f}" if rec["n"] < 2 else f"{rec['mean']:.3f} ± {rec['std']:.3f}"

    if summary.empty:
        return pd.DataFrame(columns=["method", "noise"])
    cells = summary.assign(cell=summary.apply(cell, axis=1), rate=summary["rate"].map(format_mrate))
    pivot = cells.pivot_table(index=["method", "noise"], columns="rate", values="cell", aggfunc="first")
    pivot.columns = [f"rate {c}" for c in pivot.columns]
    return pivot.reset_index().fillna("")
