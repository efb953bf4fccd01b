"""Collect a target's runs into one table beside the paper's numbers: ``table.csv`` and ``table.md``.

Retrieval targets average the R@K of a setting over seeds (mean, and std when there are several) and add
the paper's row and the difference. On the synthetic set (``cpu``) there is no paper row for the data; the
paper's Flickr30K row of the same method (SGR backbone) is shown for orientation, labelled as such, and the
difference is taken against it. Figure targets write the numbers behind the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench import reference
from workbench.reproduce.targets import Setting, Target
from workbench.runs import atomic_write_text, read_results

__all__ = ["collect", "to_markdown", "RK"]

RK = list(reference.RK_COLUMNS)


def to_markdown(frame: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A GitHub markdown table (no extra dependency)."""
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in rec) + " |" for rec in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def _test_metrics(run_dir: Path, key: str = "test") -> dict[str, float] | None:
    results = read_results(run_dir) if (run_dir / "results.json").exists() else None
    if not results or key not in results:
        return None
    return {k: float(results[key][k]) for k in RK}


def _rows(settings: Sequence[Setting], root: Path, key: str = "test") -> pd.DataFrame:
    rows = []
    for s in settings:
        metrics = _test_metrics(root / s.id, key)
        rows.append({"setting": s.id, **{k: v for k, v in s.labels.items()},
                     **(metrics or {k: np.nan for k in RK}), "status": "done" if metrics else "missing"})
    return pd.DataFrame(rows)


def _mean_std(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and std of the R@K columns over the remaining rows (seeds) of each group."""
    done = frame[frame["status"] == "done"]
    if done.empty:
        return pd.DataFrame(columns=[*by, "runs", *RK])
    grouped = done.groupby(by, dropna=False, sort=True)
    out = grouped[RK].mean()
    std = grouped[RK].std(ddof=1).add_suffix("_std")
    count = grouped.size().rename("runs")
    return pd.concat([count, out, std], axis=1).reset_index()


def _paper_for(row: pd.Series, kind: str, protocol: str) -> reference.PaperRow | None:
    if kind == "paper":
        return reference.lookup(row.get("dataset"), row.get("mrate"), row.get("method"), row.get("backbone"),
                                protocol=protocol)
    return reference.lookup("f30k", row.get("mrate"), row.get("method"), "sgr")


def _with_paper(frame: pd.DataFrame, kind: str, protocol: str = "1k") -> pd.DataFrame:
    out = frame.copy()
    labels, deltas = [], {k: [] for k in RK}
    paper_values = {k: [] for k in RK}
    for _, row in out.iterrows():
        paper = _paper_for(row, kind, protocol)
        labels.append((f"{paper.method} ({paper.dataset})" if kind == "cpu" else paper.method) if paper else "")
        for k in RK:
            value = paper.metrics[k] if paper else np.nan
            paper_values[k].append(value)
            deltas[k].append(row[k] - value if paper else np.nan)
    out["paper_row"] = labels
    for k in RK:
        out[f"{k}_paper"] = paper_values[k]
    out["rsum_delta"] = deltas["rsum"]
    return out


def _retrieval(target: Target, settings: Sequence[Setting], root: Path, kind: str) -> pd.DataFrame:
    protocol = "5k" if target.name == "table8" and kind == "paper" else "1k"
    key = "test_5k" if protocol == "5k" else "test"
    if kind == "paper" and target.name in ("table1", "table7"):
        settings = [*settings, *_sgraf_settings(settings, root)]
    frame = _rows(settings, root, key)
    if kind == "paper" and target.name in ("table1", "table7", "table2"):
        frame = frame.assign(test_key=key)
    by = [c for c in ("dataset", "mrate", "method", "backbone", "batch_size", "rho") if c in frame]
    return _with_paper(_mean_std(frame, by), kind, protocol)


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
        target = root / sid
        dirs = [root / members["saf"].id, root / members["sgr"].id]
        if not (target / "results.json").exists() and all((d / "results.json").exists() for d in dirs):
            evaluate_ensemble(dirs, out_dir=target, preset=sid)
        out.append(Setting(sid, sid, (), {**members["sgr"].labels, "backbone": "sgraf"}))
    return out


def _ablation(settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    frame = _mean_std(_rows(settings, root), ["variant"])
    paper = reference.load_table("ablation").set_index("variant")
    for k in RK[:-1]:
        frame[f"{k}_paper"] = [paper.loc[v, k] if v in paper.index else np.nan for v in frame["variant"]]
    frame["rsum_paper"] = frame[[f"{k}_paper" for k in RK[:-1]]].sum(axis=1, min_count=6)
    frame["rsum_delta"] = frame["rsum"] - frame["rsum_paper"]
    order = {v: i for i, v in enumerate(paper.index)}
    return frame.sort_values("variant", key=lambda s: s.map(order)).reset_index(drop=True)


def _warmup(settings: Sequence[Setting], root: Path, kind: str) -> pd.DataFrame:
    frame = _mean_std(_rows(settings, root), ["dataset", "warmup"])
    paper = reference.load_table("warmup")
    names = {"triplet": "Triplet", "infonce": "InfoNCE"}
    dataset_of = {"mrate0.8": "flickr30k", "caption0.2": "cc152k", "flickr30k": "flickr30k", "cc152k": "cc152k"}
    for k in RK[:-1]:
        values = []
        for _, row in frame.iterrows():
            hit = paper[(paper["warmup"] == names.get(row["warmup"], "")) &
                        (paper["dataset"] == dataset_of.get(row["dataset"], ""))]
            values.append(float(hit[k].iloc[0]) if len(hit) else np.nan)
        frame[f"{k}_paper"] = values
    frame["rsum_paper"] = frame[[f"{k}_paper" for k in RK[:-1]]].sum(axis=1, min_count=6)
    frame["rsum_delta"] = frame["rsum"] - frame["rsum_paper"]
    return frame


def _batch(settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    frame = _mean_std(_rows(settings, root), ["method", "backbone", "batch_size", "rho"])
    paper_rsum = []
    for _, row in frame.iterrows():
        hit = reference.lookup_batch(int(row["batch_size"]), row["method"], "sgr" if row["backbone"] == "vse"
                                     else row["backbone"])
        paper_rsum.append(hit.metrics["rsum"] if hit else np.nan)
    frame["rsum_paper"] = paper_rsum
    frame["rsum_delta"] = frame["rsum"] - frame["rsum_paper"]
    return frame


def _sweep(settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    return _mean_std(_rows(settings, root), ["param", "value"])


def _source(setting: Setting, root: Path) -> Path:
    return Path(setting.source) if setting.source and Path(setting.source).is_absolute() else (
        root.parent / setting.source if setting.source else root / setting.id)


def _fig5(settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    run_dir = _source(settings[0], root)
    path = run_dir / "artifacts" / "rematch_examples.parquet"
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_parquet(path)
    last = frame[frame["epoch"] == frame["epoch"].max()]
    cols = ["epoch", "image", "text_original", "text_rematched", "score", "row_mass", "transported", "fit",
            "original_fit"]
    return last.sort_values("score", ascending=False)[cols].head(20).reset_index(drop=True)


def _fig6(settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    from workbench.mixture import roc_auc

    run_dir = _source(settings[0], root)
    path = run_dir / "artifacts" / "cost_by_epoch.parquet"
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_parquet(path)
    rows = []
    for epoch, group in frame.groupby("epoch"):
        known = group["true_matched"].notna()
        truth = group.loc[known, "true_matched"].astype(bool)
        cost = group.loc[known, "cost"]
        rows.append({"epoch": int(epoch), "matched_mean": float(cost[truth].mean()),
                     "matched_median": float(cost[truth].median()),
                     "mismatched_mean": float(cost[~truth].mean()),
                     "mismatched_median": float(cost[~truth].median()),
                     "auc_cost_separates": roc_auc(-cost.to_numpy(), truth.to_numpy())})
    return pd.DataFrame(rows)


def _fig7(settings: Sequence[Setting], root: Path) -> pd.DataFrame:
    run_dir = _source(settings[0], root)
    path = run_dir / "artifacts" / "refined_ranks.parquet"
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_parquet(path)
    last = frame[frame["epoch"] == frame["epoch"].max()]
    return last.pivot_table(index="rank", columns="kind", values="mean_prob").reset_index().head(20)


def collect(target: Target, settings: Sequence[Setting], root: Path, kind: str) -> Path:
    """Write ``<root>/table.csv`` and ``table.md`` for the target; returns the csv path."""
    name = target.name
    if name in ("table1", "table2", "table7", "table8"):
        table = _retrieval(target, settings, root, kind)
    elif name == "table3":
        table = _ablation(settings, root)
    elif name == "table4":
        table = _warmup(settings, root, kind)
    elif name == "table9":
        table = _batch(settings, root)
    elif name == "fig4":
        table = _sweep(settings, root)
    elif name == "fig5":
        table = _fig5(settings, root)
    elif name == "fig6":
        table = _fig6(settings, root)
    elif name == "fig7":
        table = _fig7(settings, root)
    else:  # pragma: no cover - every target is listed above
        raise ValueError(f"no collector for {name}")
    csv = root / "table.csv"
    atomic_write_text(csv, table.to_csv(index=False))
    atomic_write_text(root / "table.md", _markdown(target, table, kind))
    return csv


def _markdown(target: Target, table: pd.DataFrame, kind: str) -> str:
    note = ("Ours: the synthetic scene-grammar set (CPU presets), mean ± std over seeds where there are several. "
            "Paper: the L2RM paper's Flickr30K row of the same method (SGR backbone), for orientation only — "
            "different data, so compare trends, not values." if kind == "cpu" else
            "Ours vs the L2RM paper's published numbers (Δ = ours − paper).")
    shown = table.drop(columns=[c for c in table.columns if c.endswith("_paper") and c != "rsum_paper"])
    for k in RK:
        if f"{k}_std" in shown and k in shown:
            shown[k] = [f"{m:.1f} ± {s:.1f}" if not (isinstance(s, float) and math.isnan(s)) else f"{m:.1f}"
                        for m, s in zip(shown[k], shown[f"{k}_std"])]
            shown = shown.drop(columns=[f"{k}_std"])
    return f"# {target.description}\n\n{note}\n\n" + to_markdown(shown)
