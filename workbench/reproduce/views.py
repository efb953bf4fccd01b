"""What the reproduction notebooks display: one run's numbers beside the paper, its curves and figures.

Thin, torch-free functions returning DataFrames or plotly figures, so each target notebook stays a few lines:

* retrieval targets (Tables 1/6, 2, 7, 8): :func:`retrieval_comparison`;
* Table 3 :func:`ablation_comparison`, Table 4 :func:`warmup_comparison`, Table 9 :func:`batch_comparison`,
  Fig. 4 :func:`sweep_point` — each a frame with rows *ours*, *paper* and *Δ ours − paper*;
* the figure targets' numbers: :func:`rematch_table` (Fig. 5), :func:`cost_separation` (Fig. 6),
  :func:`rank_summary` (Fig. 7);
* :func:`recall_bars` draws any of those frames, :func:`save_figure` stores a figure in the run directory
  (``artifacts/figures/<name>.json``) for the dashboard.

On the synthetic set (``kind="cpu"``) the paper has no row for the data; the comparisons then show the paper's
row of the closest setting (same method, SGR backbone) for orientation, labelled as such: compare trends,
not values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench import reference, viz
from workbench.errors import ConfigError, DataFormatError
from workbench.reproduce.targets import ABLATIONS
from workbench.runs import (
    atomic_write_text,
    list_alignments,
    read_alignment,
    read_metrics,
    read_results,
    read_run_info,
)
from workbench.runschema import check_table

__all__ = [
    "ablation_comparison",
    "alignment_batch",
    "artifact_table",
    "batch_comparison",
    "cost_separation",
    "epoch_settings",
    "figure_path",
    "rank_summary",
    "recall_bars",
    "rematch_table",
    "retrieval_comparison",
    "run_summary",
    "save_figure",
    "sweep_point",
    "training_curves",
    "warmup_comparison",
]

RK = reference.RK_COLUMNS
_RECALLS = RK[:-1]  # the six recalls; rSum is their sum
_FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Table 4's settings -> the paper's dataset (cpu stand-ins: MRate 0.8, caption-level 20 % noise)
_WARMUP_DATASET = {"mrate0.8": "flickr30k", "caption0.2": "cc152k", "flickr30k": "flickr30k",
                   "cc152k": "cc152k"}
_WARMUP_NAMES = {"triplet": "Triplet", "infonce": "InfoNCE"}


# ------------------------------------------------------------------------------------------ run files
def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """``run.json`` of a run directory (method, backbone, dataset, mrate, rho, lam, batch_size, ...)."""
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise DataFormatError(f"{path}: missing; is {run_dir} a finished run directory?")
    return read_run_info(Path(run_dir))  # schema-checked: a damaged run.json is a DamagedRunError


def _our_metrics(run_dir: str | Path, key: str = "test") -> dict[str, float | None]:
    """R@K of ``results.json[key]`` (``None`` for a metric the run did not record)."""
    section = (read_results(Path(run_dir)) or {}).get(key) or {}
    return {k: (float(section[k]) if section.get(k) is not None else None) for k in RK}


def _comparison(ours: Mapping[str, float | None], ours_label: str, paper: Mapping[str, float] | None,
                paper_label: str) -> pd.DataFrame:
    """Rows ``ours`` / ``paper`` / ``Δ ours − paper`` (the last two only with a paper row), R@K columns."""
    rows = [{"source": ours_label, **{k: ours.get(k) for k in RK}}]
    if paper is not None:
        rows.append({"source": f"paper: {paper_label}", **{k: paper.get(k) for k in RK}})
        rows.append({"source": "Δ ours − paper",
                     **{k: (ours[k] - paper[k]) if ours.get(k) is not None and paper.get(k) is not None
                        else None for k in RK}})
    frame = pd.DataFrame(rows).set_index("source")
    return frame.astype(float).round(1)


def _with_rsum(metrics: Mapping[str, float]) -> dict[str, float]:
    """Add ``rsum`` (the sum of the six recalls) to a paper row that does not print it."""
    out = {k: float(metrics[k]) for k in _RECALLS}
    printed = metrics["rsum"] if "rsum" in metrics else None
    out["rsum"] = sum(out.values()) if _nan(printed) else float(printed)
    return out


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _table(number: int) -> str:
    return "Tables 1/6" if number == 6 else f"Table {number}"  # the reference stores Table 1 as part of 6


def _check_kind(kind: str) -> None:
    if kind not in ("cpu", "paper"):
        raise ConfigError(f"preset kind must be 'cpu' or 'paper', got {kind!r}")


def _our_label(info: Mapping[str, Any], extra: str = "") -> str:
    mrate = info.get("mrate")
    rate = "" if mrate is None else f", MRate {mrate:g}"
    return f"ours ({info.get('method')}-{info.get('backbone')}, {info.get('dataset')}{rate}{extra})"


# ---------------------------------------------------------------------------------- retrieval tables
def retrieval_comparison(run_dir: str | Path, kind: str = "cpu", *, key: str = "test", protocol: str = "1k",
                         paper_dataset: str | None = None) -> pd.DataFrame:
    """Our test R@K, the paper's row and the difference (rows: ours / paper / Δ).

    Args:
        run_dir: a finished run directory.
        kind: ``"paper"`` (the run is on the paper's data: its own row) or ``"cpu"`` (synthetic set: the
            paper's row of the same method with the SGR backbone on ``paper_dataset``, for orientation).
        key: the ``results.json`` section (``test``; ``test_5k`` for COCO 5K).
        protocol: ``"1k"`` or ``"5k"`` (Table 8).
        paper_dataset: the orientation dataset for ``kind="cpu"``: ``f30k`` (default; ``coco`` under the 5K
            protocol) or ``cc152k`` (Table 2).
    """
    _check_kind(kind)
    info = run_summary(run_dir)
    ours = _our_metrics(run_dir, key)
    if kind == "paper":
        if key == "test" and protocol == "1k" and "test_5fold" in (read_results(Path(run_dir)) or {}):
            ours = _our_metrics(run_dir, "test_5fold")  # COCO: Tables 1/6/7 are the 1K five-fold means
        paper = reference.lookup(info.get("dataset"), info.get("mrate"), info.get("method"),
                                 info.get("backbone"), protocol=protocol)
        label = f"{paper.method}, {_table(paper.table)}" if paper else ""
    else:
        dataset = paper_dataset or ("coco" if protocol == "5k" else "f30k")
        paper = None
        for backbone in ("sgr", "sgraf"):  # NCR is reported with SGRAF only
            paper = reference.lookup(dataset, info.get("mrate"), info.get("method"), backbone, protocol=protocol)
            if paper is not None:
                break
        label = f"{paper.method} on {paper.dataset}, {_table(paper.table)} (orientation)" if paper else ""
    return _comparison(ours, _our_label(info), dict(paper.metrics) if paper else None, label)


def ablation_comparison(run_dir: str | Path, variant: str) -> pd.DataFrame:
    """Table 3: our R@K for an ablation ``variant`` beside the paper's row (Flickr30K, MRate 0.6, L2RM-SGR).

    The paper prints no rSum in Table 3; it is the sum of the six recalls here. Rows the workbench adds to
    the table (``L2RM w/o Rematch Loss``) have no paper row: only ours is shown.

    Raises:
        ConfigError: ``variant`` is neither a row of Table 3 nor one of the workbench's added rows.
    """
    table = reference.load_table("ablation").set_index("variant")
    if variant not in table.index and variant not in ABLATIONS:
        raise ConfigError(f"no ablation {variant!r} in Table 3; expected one of {list(ABLATIONS)}")
    info = run_summary(run_dir)
    paper = _with_rsum(table.loc[variant]) if variant in table.index else None
    return _comparison(_our_metrics(run_dir), _our_label(info, f", {variant}"), paper,
                       f"{variant} (Flickr30K, MRate 0.6, SGR)")


def warmup_comparison(run_dir: str | Path, warmup: str, setting: str) -> pd.DataFrame:
    """Table 4: our R@K after the ``warmup`` loss beside the paper's row for ``setting``.

    Args:
        warmup: ``triplet``, ``infonce`` (Table 4's rows) or ``infonce_rce`` (L2RM's own warm-up: the paper's
            L2RM-SGR row of Table 1 at MRate 0.8, or of Table 2 on CC152K).
        setting: ``flickr30k`` / ``cc152k`` (paper presets) or their CPU stand-ins ``mrate0.8`` /
            ``caption0.2`` (the labels of :func:`workbench.reproduce.targets.TARGETS` ``["table4"]``).

    Raises:
        ConfigError: an unknown ``warmup`` or ``setting``.
    """
    if setting not in _WARMUP_DATASET:
        raise ConfigError(f"unknown Table 4 setting {setting!r}; expected one of {sorted(_WARMUP_DATASET)}")
    dataset = _WARMUP_DATASET[setting]
    info = run_summary(run_dir)
    if warmup == "infonce_rce":
        row = reference.lookup(dataset, 0.8 if dataset == "flickr30k" else None, "L2RM-SGR")
        paper = _with_rsum(row.metrics) if row else None
        label = f"InfoNCE + RCE = L2RM-SGR, {_table(row.table)}" if row else ""
    elif warmup in _WARMUP_NAMES:
        table = reference.load_table("warmup")
        hit = table[(table["warmup"] == _WARMUP_NAMES[warmup]) & (table["dataset"] == dataset)]
        paper, label = _with_rsum(hit.iloc[0]), f"{_WARMUP_NAMES[warmup]} warm-up, Table 4"
    else:
        raise ConfigError(f"unknown warm-up {warmup!r}; expected triplet, infonce or infonce_rce")
    where = "Flickr30K, MRate 0.8" if dataset == "flickr30k" else "CC152K"
    return _comparison(_our_metrics(run_dir), _our_label(info, f", warm-up {warmup}"), paper,
                       f"{label} ({where})" if paper else "")


def batch_comparison(run_dir: str | Path, kind: str = "cpu") -> pd.DataFrame:
    """Table 9: our R@K at the run's batch size (and ρ) beside the paper's row for that batch size.

    The paper's rows are L2RM-SAF/SGR/SGRAF and RCL-SGRAF (Flickr30K, MRate 0.6). A CPU (VSE) run is shown
    beside the SGR row; a method whose backbone has no row (RCL-SAF/SGR) beside its SGRAF row.
    """
    _check_kind(kind)
    info = run_summary(run_dir)
    batch = int(info["batch_size"])
    backbone = info.get("backbone") if kind == "paper" else "sgr"
    paper = None
    for label in (reference.paper_method(info.get("method"), backbone),
                  reference.method_label(info.get("method"), "sgraf")):
        paper = reference.lookup_batch(batch, label) if label else None
        if paper is not None:
            break
    rho = info.get("rho")
    extra = f", batch {batch}" + ("" if rho is None else f", ρ {rho:g}")
    return _comparison(_our_metrics(run_dir), _our_label(info, extra), dict(paper.metrics) if paper else None,
                       f"{paper.method}, batch {batch} (Table 9)" if paper else "")


def sweep_point(run_dir: str | Path, param: str) -> pd.DataFrame:
    """Fig. 4: our R@K at the run's ``param`` (``rho`` or ``lam``) beside the paper's default setting.

    Fig. 4 is a plot (no published numbers per point); its anchor is the L2RM-SGR row of Table 1 on
    Flickr30K at MRate 0.2, trained with the defaults ρ = 0.1 and λ = 0.01 (Appendix D.1).

    Raises:
        ConfigError: ``param`` is not ``rho`` or ``lam``.
    """
    if param not in ("rho", "lam"):
        raise ConfigError(f"Fig. 4 sweeps 'rho' or 'lam', got {param!r}")
    info = run_summary(run_dir)
    value = info.get(param)
    paper = reference.lookup("f30k", 0.2, "L2RM-SGR")
    symbol = {"rho": "ρ", "lam": "λ"}[param]
    extra = f", {symbol} {value:g}" if value is not None else ""
    return _comparison(_our_metrics(run_dir), _our_label(info, extra), dict(paper.metrics) if paper else None,
                       "L2RM-SGR, Flickr30K MRate 0.2 at ρ 0.1, λ 0.01 (Tables 1/6)")


def recall_bars(comparison: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped bars of the six recalls for the ``ours`` and ``paper`` rows of a comparison frame.

    Args:
        comparison: a frame of :func:`retrieval_comparison` (another ``*_comparison``, :func:`sweep_point`):
            index ``source``, R@K columns; the ``Δ`` row is left out, rSum goes in the title.
    """
    fig = go.Figure()
    labels = [viz.METRIC_LABELS[k] for k in _RECALLS]
    sums = []
    for source, row in comparison.iterrows():
        if str(source).startswith("Δ"):
            continue
        fig.add_trace(go.Bar(x=labels, y=[row[k] for k in _RECALLS], name=str(source),
                             hovertemplate="%{x}: %{y:.1f}<extra>" + str(source) + "</extra>"))
        if not _nan(row.get("rsum")):
            sums.append(f"{'paper' if str(source).startswith('paper') else 'ours'} {row['rsum']:.1f}")
    default = "Recall@K beside the paper" + (f" (rSum: {', '.join(sums)})" if sums else "")
    fig.update_layout(template=viz.TEMPLATE, title=title or default, barmode="group",
                      yaxis_title="recall (%)", yaxis_range=[0, 100], legend=dict(orientation="h", y=-0.2))
    return fig


# -------------------------------------------------------------------------------------------- figures
def artifact_table(run_dir: str | Path, name: str) -> pd.DataFrame:
    """``<run_dir>/artifacts/<name>`` (a parquet table such as ``cost_by_epoch.parquet``) as a DataFrame.

    Raises:
        DataFormatError: the file is missing (naming the run and what writes it) or unreadable.
        DamagedRunError: it lacks a column of its schema (:data:`workbench.runschema.TABLE_COLUMNS`).
    """
    path = Path(run_dir) / "artifacts" / name
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; L2RM runs write it in their main epochs (is {run_dir} "
                              "an L2RM run with at least one epoch after the warm-up?)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise DataFormatError(f"{path}: unreadable parquet ({exc})") from None
    return check_table(frame, name, path)


def alignment_batch(run_dir: str | Path, epoch: int | None = None) -> dict[str, np.ndarray]:
    """The saved rematching batch of an epoch (``artifacts/alignments/epoch_XXX.npz``; default the last).

    Raises:
        DataFormatError: the run saved no batch for that epoch.
    """
    run_dir = Path(run_dir).resolve()
    epochs = list_alignments(run_dir.parent, run_dir.name)
    if not epochs or (epoch is not None and epoch not in epochs):
        raise DataFormatError(f"{run_dir}/artifacts/alignments: no saved batch for epoch "
                              f"{'(any)' if epoch is None else epoch}; saved epochs: {epochs}")
    return read_alignment(run_dir.parent, run_dir.name, epochs[-1] if epoch is None else epoch)


def rematch_table(frame: pd.DataFrame, *, epoch: int | None = None, top: int = 20) -> pd.DataFrame:
    """Fig. 5: the ``top`` rematched pairs of an epoch by refined-alignment score (highest first).

    Args:
        frame: ``rematch_examples.parquet``.
        epoch: the epoch (``None``: the last one).
    """
    if frame.empty:
        return frame
    epoch = int(frame["epoch"].max()) if epoch is None else epoch
    cols = [c for c in ("image", "text_original", "text_rematched", "score", "row_mass", "transported", "fit",
                        "original_fit") if c in frame]
    part = frame[frame["epoch"] == epoch].sort_values("score", ascending=False, kind="stable")
    return part[cols].head(top).reset_index(drop=True)


def cost_separation(costs: pd.DataFrame) -> pd.DataFrame:
    """Fig. 6 in numbers: per epoch, the cost of truly matched vs mismatched pairs and how well it separates.

    Args:
        costs: ``cost_by_epoch.parquet`` (``epoch``, ``cost``, ``true_matched``; pairs whose truth is unknown,
            NaN, are left out).

    Returns:
        One row per epoch: ``matched_median``, ``mismatched_median``, ``matched_mean``, ``mismatched_mean``
        and ``auc``, the probability that a random matched pair costs less than a random mismatched one
        (ties count half; NaN when one group is empty).
    """
    from workbench.mixture import roc_auc  # numpy + scipy only

    rows = []
    for epoch, group in costs.groupby("epoch", sort=True):
        known = group[group["true_matched"].notna()]
        truth = known["true_matched"].to_numpy(dtype=bool)
        cost = known["cost"].to_numpy(dtype=np.float64)
        rows.append({"epoch": int(epoch),
                     "matched_median": float(np.median(cost[truth])) if truth.any() else math.nan,
                     "mismatched_median": float(np.median(cost[~truth])) if (~truth).any() else math.nan,
                     "matched_mean": float(cost[truth].mean()) if truth.any() else math.nan,
                     "mismatched_mean": float(cost[~truth].mean()) if (~truth).any() else math.nan,
                     "auc": roc_auc(-cost, truth)})
    return pd.DataFrame(rows, columns=["epoch", "matched_median", "mismatched_median", "matched_mean",
                                       "mismatched_mean", "auc"])


def rank_summary(frame: pd.DataFrame, *, epoch: int | None = None) -> pd.DataFrame:
    """Fig. 7 in numbers: how peaked the ranked refined alignment is, for transported vs untransported rows.

    Args:
        frame: ``refined_ranks.parquet`` (``epoch``, ``kind``, ``rank`` 1..B, ``mean_prob``).
        epoch: the epoch (``None``: the last one).

    Returns:
        One row per kind: ``top1`` (mean probability of the best target), ``top5`` (mass of the five best),
        ``uniform`` (``1/B``) and ``tv_to_uniform`` ``= 0.5 * sum_r |p_r - 1/B|`` — 0 for a uniform row (the
        label-smoothing reading of Eq. 15), close to 1 for a one-hot one.
    """
    if frame.empty:
        return pd.DataFrame(columns=["kind", "top1", "top5", "uniform", "tv_to_uniform"])
    epoch = int(frame["epoch"].max()) if epoch is None else epoch
    rows = []
    for kind, part in frame[frame["epoch"] == epoch].groupby("kind", sort=True):
        p = part.sort_values("rank")["mean_prob"].to_numpy(dtype=np.float64)
        uniform = 1.0 / len(p)
        rows.append({"kind": kind, "top1": float(p[0]), "top5": float(p[:5].sum()), "uniform": uniform,
                     "tv_to_uniform": float(0.5 * np.abs(p - uniform).sum())})
    return pd.DataFrame(rows)


def figure_path(run_dir: str | Path, name: str) -> Path:
    """``<run_dir>/artifacts/figures/<name>.json``.

    Raises:
        ConfigError: ``name`` is not a plain file stem (letters, digits, ``_ . -``; no path separators).
    """
    if not _FIGURE_NAME.fullmatch(name):
        raise ConfigError(f"figure name {name!r}: expected letters, digits, '_', '.' or '-' (no path), "
                          "starting with a letter or digit")
    return Path(run_dir) / "artifacts" / "figures" / f"{name}.json"


def save_figure(run_dir: str | Path, name: str, fig: go.Figure) -> Path:
    """Write ``fig`` as plotly JSON to ``<run_dir>/artifacts/figures/<name>.json`` (atomically).

    The dashboard lists a run's figures from that folder (:func:`workbench.runs.list_figures`). Returns the
    path written.
    """
    path = figure_path(run_dir, name)
    atomic_write_text(path, fig.to_json())
    return path


# ------------------------------------------------------------------------------------- curves, Table 5
def training_curves(run_dir: str | Path) -> go.Figure:
    """Validation rSum by epoch (``metrics.jsonl``)."""
    records = read_metrics(Path(run_dir))
    return viz.val_curves({Path(run_dir).name: records})


def epoch_settings() -> pd.DataFrame:
    """Table 5 of the paper beside the epochs of our L2RM paper presets."""
    from workbench.presets import get_preset

    paper = reference.load_table("epochs").set_index("dataset")
    rows = []
    for dataset, preset in (("flickr30k", "f30k-l2rm-sgr-0.2"), ("coco", "coco-l2rm-sgr-0.2"),
                            ("cc152k", "cc152k-l2rm-sgr")):
        cfg = get_preset(preset).config()
        rows.append({"dataset": dataset, "warm-up (paper)": paper.loc[dataset, "warmup_epochs"],
                     "warm-up (preset)": cfg.optim.warmup_epochs,
                     "training (paper)": paper.loc[dataset, "training_epochs"],
                     "training (preset)": cfg.optim.epochs,
                     "lr update (paper)": paper.loc[dataset, "lr_update_epoch"],
                     "lr update (preset)": cfg.optim.lr_update})
    return pd.DataFrame(rows).set_index("dataset")
