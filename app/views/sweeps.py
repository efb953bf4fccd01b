"""Sweeps: ρ, λ and batch-size curves across runs that differ only in that parameter (Fig. 4, Table 9)."""

from __future__ import annotations

import _data
import _frames
import _show
import pandas as pd
import streamlit as st

from workbench import reference, viz

_PARAMS = {"rho": "ρ (partial transport mass)", "lam": "λ (Sinkhorn regularisation)",
           "batch_size": "batch size"}
_CONTEXT = {
    "rho": "Paper, Fig. 4 (L2RM-SGR, Flickr30K, MRate 0.2, test recall): overall performance tends to "
           "decrease as ρ increases; ρ = 0.1 is used for every experiment. Fig. 4's values are not published "
           "as numbers, so no paper curve is drawn.",
    "lam": "Paper, Fig. 4 (L2RM-SGR, Flickr30K, MRate 0.2) also varies the Sinkhorn regularisation λ; the "
           "experiments use λ = 0.01 for Flickr30K and 0.07 for MS-COCO and CC152K. Fig. 4's values are not "
           "published as numbers, so no paper curve is drawn.",
    "batch_size": "Paper, Table 9 (Flickr30K, MRate 0.6): ρ = 0.05 / 0.1 / 0.2 for batch 64 / 128 / 256; "
                  "L2RM stays ahead at batch 64 and gains from batch 256. Dashed lines: the paper's values "
                  "for a group whose method and setting match Table 9.",
}


def _table9(points: pd.DataFrame, summaries: dict, metrics: list[str]) -> pd.DataFrame:
    """Table 9 points for groups of a matching method on Flickr30K at MRate 0.6."""
    rows = []
    for runs in points["runs"]:
        for run_id in runs.split(", "):
            s = summaries[run_id]
            table9_setting = s.mrate is not None and abs(s.mrate - 0.6) < 1e-9
            if reference.paper_dataset(s.dataset) != "flickr30k" or not table9_setting:
                continue
            for batch in (64, 128, 256):
                row = reference.lookup_batch(batch, s.method, s.backbone)
                if row is not None:
                    rows += [{"label": row.method, "value": batch, "metric": m, "paper": row.metrics[m]}
                             for m in metrics]
    return pd.DataFrame(rows, columns=["label", "value", "metric", "paper"]).drop_duplicates()


def render() -> None:
    root = _data.current_root()
    st.title("Sweeps")
    c1, c2, c3 = st.columns([2, 2, 3])
    param = c1.radio("Swept parameter", list(_PARAMS), format_func=_PARAMS.get, key="sweep_param")
    source = c2.radio("Score", ["test", "best validation"], key="sweep_source")
    metrics = c3.multiselect("Metrics", list(reference.RK_COLUMNS), default=["rsum"], key="sweep_metrics",
                             format_func=viz.METRIC_LABELS.get)
    follows = True
    if param == "batch_size":
        follows = st.checkbox("ρ varies with the batch size (Table 9 protocol)", value=True,
                              key="sweep_rho_follows")
    st.caption(_CONTEXT[param])
    if not metrics:
        st.info("Pick at least one metric.")
        return
    summaries = [s for s in _data.list_runs(root) if s.status == "done" and s.track == "retrieval"]
    picked = set(_data.selected_runs())
    if picked and st.toggle("Only the runs picked on the Runs page", value=False, key="sweep_picked"):
        summaries = [s for s in summaries if s.run_id in picked]
    records = _data.read_runs(root, [s.run_id for s in summaries])
    scores = _frames.results_frame(records) if source == "test" else _frames.best_val_frame(records)
    scores = scores[scores["protocol"] == "1k"]
    points = _frames.sweep_points(summaries, scores, param=param, metrics=metrics,
                                  rho_follows_batch=follows)
    if points.empty:
        st.info(f"No group of done runs differs only in {_PARAMS[param]} (same dataset, method, backbone, "
                "MRate and other parameters, at least two values).")
        return
    paper = _table9(points, {s.run_id: s for s in summaries}, metrics) if param == "batch_size" else None
    title = f"{'Test' if source == 'test' else 'Best validation'} score vs {_PARAMS[param]}"
    _show.figure(viz.sweep_curves(points, param=param, paper=paper, title=title), name=f"sweep-{param}-{source}",
                 key="sweep_curves", theme=None, width="stretch")
    view = points.assign(metric=points["metric"].map(viz.METRIC_LABELS.get))
    _show.table(view.rename(columns={"value": param}), name=f"sweep-{param}-{source}", key="sweep_points",
                hide_index=True, width="stretch",
                column_config={"mean": st.column_config.NumberColumn(format="%.2f"),
                               "std": st.column_config.NumberColumn(format="%.2f")})
    if param == "batch_size":
        with st.expander("Paper, Table 9 (Flickr30K, MRate 0.6)"):
            _show.table(reference.load_table("batch").rename(columns=viz.METRIC_LABELS), name="paper-table9",
                        key="sweep_table9", hide_index=True, width="stretch")


_data.guard(render)
