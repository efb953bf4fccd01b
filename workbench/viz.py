"""Plotly figure builders shared by the notebooks and the dashboard.

Every builder is a pure function of arrays / DataFrames / metric records (as :mod:`workbench.runs` reads
them) and returns a ``go.Figure`` in the ``plotly_white`` template; nothing is shown or written here. The
dashboard passes the figures to ``st.plotly_chart(fig, theme=None)``, notebooks display them, and tests
read ``fig.to_dict()``. Torch-free.

Figures of the L2RM paper (arXiv 2403.05105) they reproduce: Fig. 4 (:func:`sweep_curves`), Fig. 6
(:func:`cost_histogram`, :func:`cost_trend`), Fig. 7 (:func:`refined_ranks`); the refined-alignment
heatmaps (:func:`alignment_heatmaps`) show what the masked partial OT of Eq. (14) produced for one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "TEMPLATE",
    "METRIC_LABELS",
    "PARAM_LABELS",
    "COST_GROUPS",
    "AlignmentStats",
    "alignment_stats",
    "alignment_heatmaps",
    "cost_histogram",
    "cost_trend",
    "split_quality",
    "rematch_quality",
    "rematch_concentration",
    "rematch_scores",
    "refined_ranks",
    "val_curves",
    "sweep_curves",
    "map_by_rate",
    "label_confusion",
    "label_correction",
]

TEMPLATE = "plotly_white"
METRIC_LABELS: Mapping[str, str] = {
    "i2t_r1": "I→T R@1", "i2t_r5": "I→T R@5", "i2t_r10": "I→T R@10",
    "t2i_r1": "T→I R@1", "t2i_r5": "T→I R@5", "t2i_r10": "T→I R@10", "rsum": "rSum",
    "i2t_map": "I→T MAP", "t2i_map": "T→I MAP", "avg_map": "mean MAP",
}
PARAM_LABELS: Mapping[str, str] = {"rho": "ρ (partial transport mass)", "lam": "λ (Sinkhorn regularisation)",
                                   "batch_size": "batch size", "mrate": "MRate"}
# split -> (flag column, name when True, name when False); matched / clean are drawn green, the rest red
COST_GROUPS: Mapping[str, tuple[str, str, str]] = {
    "truth": ("true_matched", "matched", "mismatched"),
    "estimate": ("est_clean", "estimated clean", "estimated noisy"),
}
_GOOD, _BAD, _GREY = "#2ca02c", "#d62728", "#7f7f7f"


def _finish(fig: go.Figure, title: str | None, **layout: Any) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, legend_title_text="", **layout)
    return fig


# ------------------------------------------------------------------------------------ transport cost
def _split_spec(split: str) -> tuple[str, str, str]:
    if split not in COST_GROUPS:
        raise ValueError(f"split must be one of {sorted(COST_GROUPS)}, got {split!r}")
    return COST_GROUPS[split]


def _cost_groups(costs: pd.DataFrame, split: str) -> list[tuple[str, str, np.ndarray]]:
    flag, yes, no = _split_spec(split)
    mask = costs[flag].to_numpy(dtype=bool)
    values = costs["cost"].to_numpy(dtype=np.float64)
    return [(yes, _GOOD, values[mask]), (no, _BAD, values[~mask])]


def cost_histogram(costs: pd.DataFrame, *, split: Literal["truth", "estimate"] = "truth",
                   epoch: int | None = None, bins: int = 40, title: str | None = None) -> go.Figure:
    """Densities of the learned transport cost for the two groups of pairs (Fig. 6).

    Bins are shared by both groups (edges over all costs of the epoch) and each group is normalised to
    unit area, so groups of very different sizes compare by shape: ``sum(height * width) = 1``.

    Args:
        costs: ``cost_by_epoch.parquet`` rows: ``epoch``, ``cost``, ``true_matched``, ``est_clean``.
        split: ``"truth"`` (truly matched vs mismatched) or ``"estimate"`` (estimated clean vs noisy).
        epoch: keep only this epoch (``None``: use every row given).
        bins: number of bins.
    """
    if epoch is not None:
        costs = costs[costs["epoch"] == epoch]
    groups = _cost_groups(costs, split)
    edges = np.histogram_bin_edges(costs["cost"].to_numpy(dtype=np.float64), bins=bins) if len(costs) \
        else np.linspace(0.0, 1.0, bins + 1)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = go.Figure()
    for name, colour, values in groups:
        counts, _ = np.histogram(values, bins=edges)
        density = counts / (counts.sum() * widths) if counts.sum() else np.zeros_like(widths)
        fig.add_trace(go.Bar(x=centres, y=density, width=widths, name=name, marker_color=colour,
                             opacity=0.55, customdata=counts,
                             hovertemplate=f"{name}<br>cost %{{x:.3f}}<br>density %{{y:.3f}}"
                                           "<br>pairs %{customdata}<extra></extra>"))
    sizes = ", ".join(f"{name} {len(v)}" for name, _, v in groups)
    default = f"Transport cost{'' if epoch is None else f' at epoch {epoch}'} ({sizes} pairs)"
    return _finish(fig, title or default, barmode="overlay", bargap=0,
                   xaxis_title="learned transport cost", yaxis_title="density")


def cost_trend(costs: pd.DataFrame, *, split: Literal["truth", "estimate"] = "truth",
               title: str | None = None) -> go.Figure:
    """Median and inter-quartile band of the cost per epoch for both groups (Fig. 6 over training)."""
    flag, yes, no = _split_spec(split)
    fig = go.Figure()
    epochs = np.sort(costs["epoch"].unique())
    for name, colour, keep in ((yes, _GOOD, True), (no, _BAD, False)):
        sub = costs[costs[flag].to_numpy(dtype=bool) == keep]
        if sub.empty:  # e.g. no truly mismatched pair is known (CC152K)
            continue
        q = sub.groupby("epoch")["cost"].quantile([0.25, 0.5, 0.75]).unstack().reindex(epochs)
        fig.add_trace(go.Scatter(x=np.r_[epochs, epochs[::-1]], y=np.r_[q[0.75], q[0.25][::-1]],
                                 fill="toself", fillcolor=colour, opacity=0.18, line_width=0, mode="lines",
                                 hoverinfo="skip", showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=epochs, y=q[0.5], mode="lines+markers", name=f"{name} (median)",
                                 line_color=colour, legendgroup=name))
    return _finish(fig, title or "Transport cost by epoch (median, inter-quartile band)",
                   xaxis_title="epoch", xaxis_dtick=1, yaxis_title="learned transport cost")


def _series(records: Sequence[Mapping[str, Any]], section: str, keys: Sequence[str]) -> pd.DataFrame:
    rows = [{"epoch": r.get("epoch"), **{k: (r.get(section) or {}).get(k) for k in keys}}
            for r in records if isinstance(r.get(section), Mapping)]
    return pd.DataFrame(rows, columns=["epoch", *keys])


def split_quality(records: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """Clean/noisy split quality against the truth by epoch: precision, recall, AUC (``metrics.jsonl``).

    Precision and recall are those of the *estimated clean* set with respect to truly matched pairs;
    AUC is that of the clean probability. Epochs without a split (warm-up) are left out.
    """
    frame = _series(records, "split", ("precision", "recall", "auc", "clean_fraction"))
    fig = go.Figure()
    for key, name, dash in (("precision", "precision", "solid"), ("recall", "recall", "dash"),
                            ("auc", "AUC", "dot"), ("clean_fraction", "estimated clean fraction",
                                                     "dashdot")):
        fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], name=name, mode="lines+markers",
                                 line_dash=dash))
    return _finish(fig, title or "Clean / noisy split vs truth", xaxis_title="epoch", xaxis_dtick=1,
                   yaxis_title="score", yaxis_range=[0, 1.02])


def rematch_quality(records: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """Rematch precision against the truth by epoch (``metrics.jsonl``'s ``rematch`` records).

    Solid: the refined alignment's precision (its argmax caption truly fits) over the *available* rows (those
    with at least one fitting caption in the batch) and over transported rows; dashed: the ceiling of the
    model's own similarity ranking on available rows; dotted: chance levels. Older records without the
    available-row keys show the transported-row curves only.
    """
    keys = ("precision_available", "ceiling_available", "chance_available", "available", "precision", "chance")
    frame = _series(records, "rematch", keys)
    spec = (("precision_available", "precision, rows with a fitting caption", _GOOD, "solid"),
            ("ceiling_available", "ceiling: argmax of the similarity", _GOOD, "dash"),
            ("chance_available", "chance, rows with a fitting caption", _GREY, "dot"),
            ("precision", "precision, transported rows", "#1f77b4", "solid"),
            ("chance", "chance, transported rows", "#1f77b4", "dot"),
            ("available", "rows with a fitting caption", _GREY, "dashdot"))
    fig = go.Figure([go.Scatter(x=frame["epoch"], y=frame[key], name=name, mode="lines+markers",
                                line_color=color, line_dash=dash)
                     for key, name, color, dash in spec if frame[key].notna().any()])
    return _finish(fig, title or "Rematch precision vs ceiling and chance", xaxis_title="epoch", xaxis_dtick=1,
                   yaxis_title="fraction of rows", yaxis_range=[0, 1.02])


def rematch_concentration(records: Sequence[Mapping[str, Any]], *, lam: float | None = None,
                          title: str | None = None) -> go.Figure:
    """How peaked the refined alignment is and why, by epoch (``rematch`` records).

    Left: the mean top-1 of the refined rows, transported vs untransported (Fig. 7's first rank), beside a
    uniform row's ``1 / B``. Right: the cost's inter-quartile range over a batch beside the entropic scale
    ``lam`` (a plan is near uniform while the cost varies much less than ``lam``), and the learnable cost's
    distance from its initialisation ``ReLU(1 - S)``.
    """
    keys = ("top1_transported", "top1_untransported", "top1_uniform", "cost_iqr", "cost_drift")
    frame = _series(records, "rematch", keys)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("top-1 of the refined rows", "cost spread vs λ"))
    for key, name, color, dash in (("top1_transported", "transported rows", _GOOD, "solid"),
                                   ("top1_untransported", "untransported rows", _BAD, "solid"),
                                   ("top1_uniform", "uniform row (1/B)", _GREY, "dot")):
        if frame[key].notna().any():
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], name=name, mode="lines+markers",
                                     line_color=color, line_dash=dash), row=1, col=1)
    for key, name, dash in (("cost_iqr", "cost inter-quartile range", "solid"),
                            ("cost_drift", "|cost − ReLU(1 − S)|", "dash")):
        if frame[key].notna().any():
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], name=name, mode="lines+markers",
                                     line_color="#1f77b4", line_dash=dash), row=1, col=2)
    if lam is not None and len(frame):
        fig.add_trace(go.Scatter(x=frame["epoch"], y=[lam] * len(frame), name=f"λ = {lam:g}", mode="lines",
                                 line_color=_GREY, line_dash="dot"), row=1, col=2)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(type="log", row=1, col=1)
    return _finish(fig, title or "Refined-alignment concentration (Fig. 7) and the cost's scale")


# ------------------------------------------------------------------------------------- alignments
@dataclass(frozen=True)
class AlignmentStats:
    """Mass accounting of one saved partial-OT batch.

    ``transported = sum(plan)`` should equal ``rho`` (the partial mass); the rest of each marginal goes to
    the dummy points: ``dummy_row_mass = sum(dummy_row)``, ``dummy_col_mass = sum(dummy_col)``.
    """

    n: int
    m: int
    rho: float | None
    transported: float
    dummy_row_mass: float
    dummy_col_mass: float
    rows_transporting: int
    allowed_fraction: float


def alignment_stats(batch: Mapping[str, np.ndarray], *, row_tol: float = 0.5) -> AlignmentStats:
    """Mass accounting of a batch.

    A row (image) counts as transporting when its real-block mass exceeds ``row_tol`` times the mean row
    mass ``sum(plan) / n``; with entropic smoothing every row carries a little mass, so a strict ``> 0``
    would count them all.

    Args:
        batch: arrays of ``alignments/epoch_XXX.npz``: ``plan`` ``[n, m]``, ``mask`` ``[n, m]``,
            ``dummy_row`` ``[m]``, ``dummy_col`` ``[n]``, scalar ``rho``.
    """
    plan = np.asarray(batch["plan"], dtype=np.float64)
    n, m = plan.shape
    rho = float(batch["rho"]) if "rho" in batch else None
    rows = int((plan.sum(axis=1) > row_tol * plan.sum() / n).sum())
    return AlignmentStats(n=n, m=m, rho=rho, transported=float(plan.sum()),
                          dummy_row_mass=float(np.sum(batch.get("dummy_row", 0.0))),
                          dummy_col_mass=float(np.sum(batch.get("dummy_col", 0.0))),
                          rows_transporting=rows,
                          allowed_fraction=float(np.asarray(batch["mask"], dtype=bool).mean()))


def _short(text: Any, limit: int = 70) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hover_grid(first: Sequence[str], second: Sequence[str], third: Sequence[str],
                fourth: Sequence[str]) -> np.ndarray:
    """``[r, c, 4]`` hover strings: row-wise image id and own caption, column-wise caption id and text."""
    grid = np.empty((len(first), len(third), 4), dtype=object)
    grid[:, :, 0] = np.asarray(first, dtype=object)[:, None]
    grid[:, :, 1] = np.asarray(second, dtype=object)[:, None]
    grid[:, :, 2] = np.asarray(third, dtype=object)[None, :]
    grid[:, :, 3] = np.asarray(fourth, dtype=object)[None, :]
    return grid


_HOVER = "%{customdata[0]}: %{customdata[1]}<br>%{customdata[2]}: %{customdata[3]}<br>"
_MASK_SCALE = [[0, "#eeeeee"], [1, "#3b5b92"]]


def alignment_heatmaps(batch: Mapping[str, np.ndarray], *, rows: int | None = 64, cols: int | None = 64,
                       title: str | None = None) -> go.Figure:
    """Heatmaps of the plan, mask and cost of one saved batch, with the dummy row and column.

    Rows are images, columns captions (``[n, m]``). The partial plan's dummy row (mass each caption sends
    to the dummy image, ``[m]``) and dummy column (mass each image sends to the dummy caption, ``[n]``)
    are drawn one line apart from the real block, labelled ``dummy``, in their own (orange) colour scale:
    they hold most of the mass (``1 - ρ``), which would wash out the real block on a shared scale. The
    mask allows every dummy transport; the cost has no stored dummy entries. Where ``truth`` is stored,
    cells whose caption truly fits the image are circled on the plan. Hover shows the image id and its
    paired caption, the caption id and its text. Large batches are cropped to the first ``rows × cols``
    cells (``None``: no crop).
    """
    cost = np.asarray(batch["cost"], dtype=np.float64)
    n, m = cost.shape
    r, c = min(n, rows or n), min(m, cols or m)
    image_ids = np.asarray(batch.get("image_ids", np.arange(n)))[:r]
    caption_ids = np.asarray(batch.get("caption_ids", np.arange(m)))[:c]
    img = [f"image {i}" for i in image_ids]
    own = [_short(p) for p in np.asarray(batch.get("paired_captions", np.full(n, "")))[:r]]
    cap = [f"caption {j}" for j in caption_ids]
    text = [_short(t) for t in np.asarray(batch.get("captions", np.full(m, "")))[:c]]
    grid = _hover_grid(img, own, cap, text)
    dummy_img = _hover_grid(["dummy image"], ["absorbs the caption mass not transported"], cap, text)
    dummy_cap = _hover_grid(img, own, ["dummy caption"], ["absorbs the image mass not transported"])

    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09,
                        subplot_titles=("plan (partial OT; dummies in orange)", "mask (allowed = dark)",
                                        "cost"))
    blocks = (("plan", np.asarray(batch["plan"], dtype=np.float64)[:r, :c], "Blues"),
              ("mask", np.asarray(batch["mask"], dtype=np.float64)[:r, :c], _MASK_SCALE),
              ("cost", cost[:r, :c], "Viridis"))
    for k, (name, z, scale) in enumerate(blocks, start=1):
        domain_end = fig.layout[f"xaxis{'' if k == 1 else k}"].domain[1]
        fig.add_trace(go.Heatmap(
            z=z, x=np.arange(c), y=np.arange(r), name=name, colorscale=scale, customdata=grid,
            hovertemplate=_HOVER + name + " = %{z:.4g}<extra></extra>", showscale=name != "mask",
            zmin=0 if name == "mask" else None, zmax=1 if name == "mask" else None,
            colorbar=dict(x=domain_end + 0.005, len=0.85, thickness=10)), row=1, col=k)
        if name == "cost":
            continue
        dummy_scale = "Oranges" if name == "plan" else _MASK_SCALE
        if name == "plan":
            row_z = np.asarray(batch["dummy_row"], dtype=np.float64)[None, :c]  # [1, c]
            col_z = np.asarray(batch["dummy_col"], dtype=np.float64)[:r, None]  # [r, 1]
        else:  # the mask allows every transport to and from the dummies
            row_z, col_z = np.ones((1, c)), np.ones((r, 1))
        zmax = max(float(row_z.max(initial=0.0)), float(col_z.max(initial=0.0))) or 1.0
        for label, z_d, x_d, y_d, hover in (("dummy row", row_z, np.arange(c), [r + 1], dummy_img),
                                            ("dummy column", col_z, [c + 1], np.arange(r), dummy_cap)):
            fig.add_trace(go.Heatmap(
                z=z_d, x=x_d, y=y_d, name=f"{name}: {label}", colorscale=dummy_scale, showscale=False,
                zmin=0, zmax=zmax, customdata=hover,
                hovertemplate=_HOVER + f"{name} ({label}) = %{{z:.4g}}<extra></extra>"), row=1, col=k)
    if "truth" in batch:
        ti, tj = np.nonzero(np.asarray(batch["truth"], dtype=bool)[:r, :c])
        fig.add_trace(go.Scatter(x=tj, y=ti, mode="markers", name="caption truly fits image",
                                 marker=dict(symbol="circle-open", size=5, color=_BAD),
                                 hoverinfo="skip"), row=1, col=1)
    step_r, step_c = max(1, r // 8), max(1, c // 8)
    for k in (1, 2, 3):
        fig.update_xaxes(tickvals=[*range(0, c, step_c), c + 1], range=[-0.5, c + 1.5],
                         ticktext=[str(caption_ids[j]) for j in range(0, c, step_c)] + ["dummy"],
                         title_text="caption", showgrid=False, zeroline=False, row=1, col=k)
        fig.update_yaxes(tickvals=[*range(0, r, step_r), r + 1], range=[r + 1.5, -0.5],
                         ticktext=[str(image_ids[i]) for i in range(0, r, step_r)] + ["dummy"],
                         showticklabels=k == 1, title_text="image" if k == 1 else None, showgrid=False,
                         zeroline=False, row=1, col=k)
    stats = alignment_stats(batch)
    rho = "" if stats.rho is None else f" (ρ = {stats.rho:g})"
    crop = f"; showing {r}×{c} of {n}×{m}" if (r, c) != (n, m) else ""
    default = f"Refined alignment: transported mass {stats.transported:.4f}{rho}{crop}"
    return _finish(fig, title or default, height=540, legend=dict(orientation="h", y=-0.16))


def refined_ranks(frame: pd.DataFrame, *, epoch: int | None = None, top: int | None = 20,
                  title: str | None = None) -> go.Figure:
    """Averaged ranked refined alignment of transported vs untransported rows (Fig. 7).

    Args:
        frame: ``refined_ranks.parquet``: ``epoch``, ``kind``, ``rank`` (1..B), ``mean_prob``.
        epoch: the epoch to show (``None``: the last one).
        top: show ranks ``1..top`` (``None``: all). The dotted line is the uniform level ``1/B``,
            which the untransported rows approach (the paper's label-smoothing reading, Eq. 15).
    """
    epoch = int(frame["epoch"].max()) if epoch is None else epoch
    sub = frame[frame["epoch"] == epoch]
    batch = int(sub["rank"].max()) if len(sub) else 1
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("transported", "untransported"))
    for k, kind in enumerate(("transported", "untransported"), start=1):
        part = sub[sub["kind"] == kind].sort_values("rank")
        if top is not None:
            part = part[part["rank"] <= top]
        fig.add_trace(go.Bar(x=part["rank"], y=part["mean_prob"], name=kind,
                             marker_color=_GOOD if k == 1 else _GREY), row=k, col=1)
        fig.add_hline(y=1.0 / batch, line_dash="dot", line_color=_BAD, row=k, col=1)
    fig.update_xaxes(title_text="rank of target (descending probability)", row=2, col=1)
    fig.update_yaxes(title_text="mean probability")
    return _finish(fig, title or f"Ranked refined alignment at epoch {epoch} (dotted: uniform 1/{batch})",
                   height=480, showlegend=False)


def rematch_scores(frame: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Histogram of rematch scores, split by whether the rematched caption truly fits the image."""
    fit = frame["fit"].astype("boolean") if "fit" in frame else pd.Series(pd.NA, index=frame.index)
    fig = go.Figure()
    for name, colour, keep in (("fits", _GOOD, fit.eq(True).fillna(False)),
                               ("does not fit", _BAD, fit.eq(False).fillna(False)),
                               ("unknown", _GREY, fit.isna())):
        fig.add_trace(go.Histogram(x=frame.loc[keep.to_numpy(dtype=bool), "score"], name=name,
                                   marker_color=colour, xbins=dict(start=0.0, end=1.0, size=0.05)))
    return _finish(fig, title or "Rematch scores (row-normalised target at the argmax)",
                   barmode="stack", xaxis_title="score", yaxis_title="rematched pairs")


# ------------------------------------------------------------------------------------ runs / sweeps
def _plain(text: str) -> str:
    """``text`` for a plotly label, shown as typed: plotly reads ``<a href>``, ``<b>``, ... as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def val_curves(records: Mapping[str, Sequence[Mapping[str, Any]]], *, metric: str = "rsum",
               title: str | None = None) -> go.Figure:
    """Validation ``metric`` by epoch, one line per run (``{run_id: metrics records}``)."""
    fig = go.Figure()
    for run_id, recs in records.items():
        frame = _series(recs, "val", (metric,))
        fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[metric], name=_plain(run_id), mode="lines+markers"))
    label = METRIC_LABELS.get(metric, metric)
    return _finish(fig, title or f"Validation {label} by epoch", xaxis_title="epoch", xaxis_dtick=1,
                   yaxis_title=label)


def sweep_curves(points: pd.DataFrame, *, param: str, paper: pd.DataFrame | None = None,
                 title: str | None = None) -> go.Figure:
    """Metric vs a swept hyper-parameter (Fig. 4, Table 9), mean ± std over seeds.

    Args:
        points: columns ``group`` (the fixed setting), ``value`` (the parameter), ``metric``
            (a key of :data:`METRIC_LABELS`), ``mean``, ``std`` (0 for one seed), ``n`` (seeds).
        param: the swept parameter (``rho``, ``lam``, ``batch_size``); ``lam`` and ``batch_size`` use a
            log axis.
        paper: optional published points (``value``, ``metric``, ``paper``, ``label``), dashed.
    """
    fig = go.Figure()
    for (group, metric), part in points.sort_values("value").groupby(["group", "metric"], sort=True):
        label = METRIC_LABELS.get(str(metric), str(metric))
        fig.add_trace(go.Scatter(
            x=part["value"], y=part["mean"], error_y=dict(type="data", array=part["std"].fillna(0.0)),
            customdata=part["n"], mode="lines+markers", name=f"{label} · {group}",
            hovertemplate=f"{label}<br>{param} = %{{x}}<br>%{{y:.2f}} (n = %{{customdata}})<extra></extra>"))
    if paper is not None and len(paper):
        for (label, metric), part in paper.sort_values("value").groupby(["label", "metric"], sort=True):
            fig.add_trace(go.Scatter(x=part["value"], y=part["paper"], mode="lines+markers",
                                     line_dash="dash", marker_symbol="diamond",
                                     name=f"paper {METRIC_LABELS.get(str(metric), metric)} · {label}"))
    fig.update_xaxes(type="log" if param in ("lam", "batch_size") else "linear",
                     tickvals=np.sort(points["value"].unique()) if len(points) else None)
    return _finish(fig, title, xaxis_title=PARAM_LABELS.get(param, param), yaxis_title="test score (%)")


def map_by_rate(frame: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Label track: MAP vs noise rate, one line per (method, noise), mean ± std over seeds.

    Args:
        frame: columns ``method``, ``noise``, ``rate``, ``mean``, ``std``, ``n``.
    """
    fig = go.Figure()
    for (method, noise), part in frame.sort_values("rate").groupby(["method", "noise"], sort=True):
        fig.add_trace(go.Scatter(x=part["rate"], y=part["mean"], mode="lines+markers",
                                 name=f"{method} · {noise}", line_dash="dash" if noise == "asymmetric" else
                                 "solid", error_y=dict(type="data", array=part["std"].fillna(0.0))))
    return _finish(fig, title, xaxis_title="label noise rate", yaxis_title="MAP")


def label_confusion(confusion: np.ndarray, class_names: Sequence[str], *,
                    noisy_confusion: np.ndarray | None = None, normalise: bool = True,
                    title: str | None = None) -> go.Figure:
    """Confusion of the corrected labels (and of the given noisy labels) against the true classes.

    Args:
        confusion: ``[C, C]`` counts, rows the true class, columns the corrected label.
        class_names: ``[C]``.
        noisy_confusion: ``[C, C]`` true vs the given noisy label, drawn first when present.
        normalise: show row fractions (each true class sums to 1) instead of counts.
    """
    panels = [("given noisy label", noisy_confusion)] if noisy_confusion is not None else []
    panels.append(("corrected label", confusion))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels],
                        horizontal_spacing=0.12)
    names = [str(c) for c in class_names]
    for k, (name, counts) in enumerate(panels, start=1):
        counts = np.asarray(counts, dtype=np.float64)
        z = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0) if normalise else counts
        fig.add_trace(go.Heatmap(z=z, x=names, y=names, name=name, colorscale="Blues", zmin=0,
                                 zmax=1 if normalise else None, showscale=k == len(panels),
                                 texttemplate="%{z:.2f}" if normalise else "%{z:.0f}", customdata=counts,
                                 hovertemplate="true %{y}<br>label %{x}<br>%{z:.3f} (%{customdata:.0f})"
                                               "<extra></extra>"), row=1, col=k)
        fig.update_xaxes(title_text=name, row=1, col=k)
        fig.update_yaxes(autorange="reversed", title_text="true class" if k == 1 else None, row=1, col=k)
    return _finish(fig, title or ("Row-normalised" if normalise else "Counts") + " label confusion",
                   height=480)


def label_correction(records: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """Label track, one run by epoch (``metrics.jsonl``): accuracy of the labels trained on (corrected or
    noisy) and of the given noisy labels against the truth, the selected fraction and the transported mass ρ.
    """
    keys = ("correction_accuracy", "noisy_accuracy", "selected_fraction", "rho", "predicted_accuracy")
    frame = _series(records, "label", keys)
    fig = go.Figure()
    for key, name, dash, colour in (("correction_accuracy", "training-label accuracy", "solid", _GOOD),
                                    ("noisy_accuracy", "noisy-label accuracy", "dot", _BAD),
                                    ("predicted_accuracy", "classifier accuracy", "dash", None),
                                    ("selected_fraction", "selected fraction", "dashdot", _GREY),
                                    ("rho", "ρ (transported mass)", "longdash", None)):
        if frame[key].notna().any():
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[key], name=name, mode="lines+markers",
                                     line_dash=dash, line_color=colour))
    return _finish(fig, title or "Label correction by epoch (against the clean training labels)",
                   xaxis_title="epoch", yaxis_title="fraction", yaxis_range=[0, 1.02])
