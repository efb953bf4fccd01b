"""A run's configuration as a flat table, and the differences between two runs (no Streamlit, no files).

Inputs are ``run.json`` objects (:attr:`workbench.runs.RunRecord.info`): the fields the run list shows
(dataset, method, MRate, ...), ``config`` (the full nested configuration), ``versions`` and bookkeeping
(status, host, pid, timestamps). Nested keys are joined with dots: ``config.l2rm.rho``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["BOOKKEEPING", "flatten", "config_table", "config_diff"]

#: run.json fields that differ between any two runs and say nothing about the experiment
BOOKKEEPING = frozenset({"run_id", "status", "error", "host", "pid", "created", "updated", "finished",
                         "timings", "resumed", "schema", "best_rsum", "best_val_map"})
_MISSING = "(absent)"


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> ``{"a.b.c": value}``; lists and scalars are leaves (empty mappings too)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _cell(value: Any) -> str:
    """A value as the table shows it (one text column, so numbers and strings mix): JSON-like text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def config_table(info: Mapping[str, Any], *, bookkeeping: bool = True) -> pd.DataFrame:
    """Every field of a ``run.json`` as rows ``key, value`` (sorted: summary fields, then ``config.*``,
    then ``versions.*``); ``bookkeeping=False`` leaves out :data:`BOOKKEEPING`."""
    flat = flatten(info)
    keys = [k for k in flat if bookkeeping or k.split(".")[0] not in BOOKKEEPING]
    order = {"config": 1, "versions": 2}
    keys.sort(key=lambda k: (order.get(k.split(".")[0], 0), k))
    return pd.DataFrame({"key": keys, "value": [_cell(flat[k]) for k in keys]}, columns=["key", "value"])


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any], *, bookkeeping: bool = False) -> pd.DataFrame:
    """Keys whose values differ between two ``run.json`` objects: ``key, a, b`` (``(absent)`` where a run
    lacks the key). Bookkeeping fields (:data:`BOOKKEEPING`, and ``versions.*`` unless asked) are left out
    by default: they differ between any two runs."""
    fa, fb = flatten(a), flatten(b)
    skip = set() if bookkeeping else {*BOOKKEEPING, "versions"}
    rows = []
    for key in sorted(set(fa) | set(fb), key=lambda k: (k.startswith("config."), k)):
        if key.split(".")[0] in skip:
            continue
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va != vb or (type(va) is not type(vb) and not (_number(va) and _number(vb))):
            rows.append({"key": key, "a": _cell(va), "b": _cell(vb)})
    return pd.DataFrame(rows, columns=["key", "a", "b"])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
