"""Collect a target's runs into one table beside the paper's numbers: ``table.csv`` and ``table.md``.

Each finished setting is compared with the paper exactly as its notebook shows it (the comparison
functions of :mod:`workbench.reproduce.views`): its own row on the paper's data; on the synthetic set
(``cpu``) the nearest paper row, for orientation only. Settings that differ only in the seed are averaged
(mean, and std over seeds). Figure targets write the numbers behind the figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench import reference
from workbench.reproduce import views
from workbench.reproduce.targets import Setting, Target
from workbench.runs import atomic_write_text

__all__ = ["collect", "to_markdown", "RK"]

RK = list(reference.RK_COLUMNS)
Compare = Callable[[Path], pd.DataFrame]


def to_markdown(frame: pd.DataFrame, floatfmt: str | None = None) -> str:
    """A GitHub markdown table (no extra dependency).

    Floats use ``floatfmt`` if given; otherwise one decimal from 10 up (recalls, rSum) and three significant
    digits below (costs, AUCs, λ = 0.07), so small quantities are not rounded away.
    """
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, (float, np.floating)):
            v = float(v)
            return format(v, floatfmt or (".1f" if abs(v) >= 10 else ".3g"))
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in rec) + " |" for rec in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def _compare_fn(target: Target, setting: Setting, kind: str) -> Compare:
    """The views comparison the target's notebook shows for this setting."""
    name, labels = target.name, setting.labels
    if name == "table2":
        return lambda d: views.retrieval_comparison(d, kind, paper_dataset=None if kind == "paper" else "cc152k")
    if name == "table8":
        return lambda d: views.retrieval_comparison(d, kind, key="test_5k" if kind == "paper" else "test",
                                                    protocol="5k")
    if name == "table3":
        return lambda d: views.ablation_comparison(d, labels["variant"])
    if name == "table4":
        return lambda d: views.warmup_comparison(d, labels["warmup"], labels["dataset"])
    if name == "table9":
        return lambda d: views.batch_comparison(d, kind)
    if name == "fig4":
        return lambda d: views.sweep_point(d, labels["param"])
    return lambda d: views.retrieval_comparison(d, kind)


def _setting_row(target: Target, setting: Setting, run_dir: Path, kind: str) -> dict[str, Any]:
    row: dict[str, Any] = {"setting": setting.id, **setting.labels}
    if not (run_dir / "results.json").exists():
        return {**row, "status": "missing"}
    table = _compare_fn(target, setting, kind)(run_dir)
    ours = table.iloc[0]
    row.update({k: float(ours[k]) for k in RK if not pd.isna(ours[k])}, status="done")
    paper = [i for i in table.index if str(i).startswith("paper")]
    if paper:
        row["paper_row"] = str(paper[0]).removeprefix("paper: ")
        row.update({f"{k}_paper": float(table.loc[paper[0], k]) for k in RK if not pd.isna(table.loc[paper[0], k])})
    return row


def _aggregate(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Mean and std over seeds of settings that differ only in their seed."""
    frame = pd.DataFrame(rows)
    if frame.empty or "status" not in frame or not (frame["status"] == "done").any():
        return frame
    done = frame[frame["status"] == "done"].copy()
    by = [c for c in done.columns if c not in (*RK, "setting", "seed", "status", "paper_row")
          and not c.endswith("_paper")]
    by = [c for c in by if done[c].notna().any()]
    paper_cols = [c for c in done.columns if c.endswith("_paper") or c == "paper_row"]
    grouped = done.groupby(by, dropna=False, sort=False) if by else done.groupby(lambda _: 0)
    out = grouped[[k for k in RK if k in done]].mean()
    std = grouped[[k for k in RK if k in done]].std(ddof=1).add_suffix("_std")
    first = grouped[paper_cols].first() if paper_cols else None
    parts = [grouped.size().rename("runs"), out, std] + ([first] if first is not None else [])
    table = pd.concat(parts, axis=1).reset_index(drop=not by)
    if "rsum_paper" in table:
        table["rsum_delta"] = table["rsum"] - table["rsum_paper"]
    missing = frame[frame["status"] != "done"]
    if not missing.empty:
        table = pd.concat([table, missing[["setting", "status"]]], ignore_index=True)
    return table


def _sgraf_settings(settings: Sequence[Setting], root: Path) -> list[Setting]:
    """The paper's -SGRAF rows: test-time averages of finished SAF + SGR runs (evaluated once, cached)."""
    from workbench.ensemble import evaluate_ensemble

    out = []
    by_key: dict[tuple, dict[str, Setting]] = {}
    for s in settings:
        key = (s.labels.get("dataset"), s.labels.get("method"), s.labels.get("mrate"))
        by_key.setdefault(key, {})[str(s.labels.get("backbone"))] = s
    for (dataset, method, mrate), members in by_key.items():
        if {"saf", "sgr"} - members.keys():
            continue
        sid = f"{dataset}-{method}-sgraf-{mrate:g}"
        dirs = [root / members["saf"].id, root / members["sgr"].id]
        if not (root / sid / "results.json").exists() and all((d / "results.json").exists() for d in dirs):
            evaluate_ensemble(dirs, out_dir=root / sid, preset=sid)
        out.append(Setting(sid, sid, (), {**members["sgr"].labels, "backbone": "sgraf"}))
    return out


def _source(setting: Setting, root: Path) -> Path:
    if setting.source:
        path = Path(setting.source)
        return path if path.is_absolute() else root.parent / path
    return root / setting.id


def _figure_table(target: Target, settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    run_dir = _source(settings[0], root)
    artefact = {"fig5": "rematch_examples.parquet", "fig6": "cost_by_epoch.parquet",
                "fig7": "refined_ranks.parquet"}[target.name]
    path = run_dir / "artifacts" / artefact
    if not path.exists():
        return pd.DataFrame({"setting": [settings[0].id], "status": [f"missing {path}"]})
    frame = pd.read_parquet(path)
    if target.name == "fig5":
        return views.rematch_table(frame)
    if target.name == "fig6":
        return views.cost_separation(frame)
    return views.rank_summary(frame)


def collect(target: Target, settings: Sequence[Setting], root: Path, kind: str) -> Path:
    """Write ``<root>/table.csv`` and ``table.md`` for the target; returns the csv path."""
    if target.name in ("fig5", "fig6", "fig7"):
        table = _figure_table(target, settings, root)
    else:
        if kind == "paper" and target.name in ("table1", "table7"):
            settings = [*settings, *_sgraf_settings(settings, root)]
        table = _aggregate([_setting_row(target, s, root / s.id, kind) for s in settings])
    csv = root / "table.csv"
    atomic_write_text(csv, table.to_csv(index=False))
    atomic_write_text(root / "table.md", _markdown(target, table, kind))
    return csv


def _markdown(target: Target, table: pd.DataFrame, kind: str) -> str:
    note = ("Ours: the synthetic scene-grammar set (CPU presets), mean ± std over seeds where there are several. "
            "Paper: the nearest row of the L2RM paper, for orientation only — different data, so compare "
            "trends, not values." if kind == "cpu" else
            "Ours vs the L2RM paper's published numbers (Δ = ours − paper).")
    shown = table.drop(columns=[c for c in table.columns if c.endswith("_paper") and c != "rsum_paper"])
    for k in RK:
        if f"{k}_std" in shown and k in shown:
            shown[k] = [("" if pd.isna(m) else f"{m:.1f}" if pd.isna(s) else f"{m:.1f} ± {s:.1f}")
                        for m, s in zip(shown[k], shown[f"{k}_std"], strict=True)]
            shown = shown.drop(columns=[f"{k}_std"])
    return f"# {target.description}\n\n{note}\n\n" + to_markdown(shown)
