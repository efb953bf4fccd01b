"""Runs: every run under the runs root, its status and headline numbers; filters; pick runs to compare."""

from __future__ import annotations

import _data
import _frames
import _show
import pandas as pd
import streamlit as st

from workbench import viz

_FILTERS = (("status", "Status"), ("dataset", "Dataset"), ("method", "Method"), ("backbone", "Backbone"),
            ("mrate", "MRate"))
_COMPARE_WIDGET = "runs_compare_widget"


def _filter(frame: pd.DataFrame) -> pd.DataFrame:
    columns = st.columns(len(_FILTERS))
    keep = pd.Series(True, index=frame.index)
    for column, (field, label) in zip(columns, _FILTERS, strict=True):
        values = frame[field]
        options = sorted(values.dropna().unique().tolist())
        fmt = _frames.format_mrate if field == "mrate" else str
        chosen = column.multiselect(label, options, key=f"runs_filter_{field}", format_func=fmt,
                                    placeholder="all")
        if chosen:
            keep &= values.isin(chosen)
    return frame[keep]


def _compare(frame: pd.DataFrame, visible: pd.DataFrame) -> list[str]:
    usable = frame[frame["status"] != "damaged"]["run_id"].tolist()
    picked = [r for r in _data.selected_runs() if r in usable]
    options = list(dict.fromkeys([*picked, *visible[visible["status"] != "damaged"]["run_id"]]))
    if _COMPARE_WIDGET not in st.session_state:
        st.session_state[_COMPARE_WIDGET] = picked
    chosen = st.multiselect("Runs to compare (used by the other pages)", options, key=_COMPARE_WIDGET,
                            placeholder="pick runs; the filters above narrow the list")
    st.session_state[_data.SELECTED_KEY] = list(chosen)
    return list(chosen)


def _curves(root, run_ids: list[str]) -> None:
    records = {rec.summary.run_id: rec for rec in _data.read_runs(root, run_ids)}
    retrieval = {r: rec.metrics for r, rec in records.items() if rec.summary.track == "retrieval"}
    labels = {r: rec.metrics for r, rec in records.items() if rec.summary.track == "labels"}
    if retrieval:
        _show.figure(viz.val_curves(retrieval, metric="rsum"), name="val-rsum", key="runs_val_rsum",
                     theme=None, width="stretch")
    if labels:
        _show.figure(viz.val_curves(labels, metric="avg_map"), name="val-map", key="runs_val_map",
                     theme=None, width="stretch")


def render() -> None:
    root = _data.current_root()
    st.title("Runs")
    summaries = _data.list_runs(root)
    if not summaries:
        st.info(f"No runs under {_show.escape_markdown(root)}. Train one (`workbench train ...`) or start the "
                "dashboard on another runs folder (`workbench app --runs DIR`).")
        return
    frame = _frames.runs_frame(summaries)
    counts = frame["status"].value_counts()
    columns = st.columns(6)
    columns[0].metric("runs", len(frame))
    for column, status in zip(columns[1:], ("done", "imported", "running", "failed", "damaged"), strict=True):
        column.metric(status, int(counts.get(status, 0)))
    damaged = frame[frame["status"] == "damaged"]
    if len(damaged):
        lines = "\n".join(f"- {_show.escape_markdown(r.run_id)}: {_show.escape_markdown(r.problem)}"
                          for r in damaged.itertuples())
        st.warning(f"{len(damaged)} run director{'y is' if len(damaged) == 1 else 'ies are'} damaged and "
                   f"listed without details:\n{lines}", icon="⚠️")

    off = frame[frame["ot_off_marginals"].fillna(0) > 0]
    if len(off):
        lines = "\n".join(f"- `{r.run_id}`: {int(r.ot_off_marginals)} OT solve(s) off their marginals or mass, "
                          f"{int(r.ot_unconverged)} stopped at the iteration cap (`rematch.off_marginals` in "
                          "metrics.jsonl)" for r in off.itertuples())
        st.warning(f"{len(off)} run{'' if len(off) == 1 else 's'} rematched with OT plans that are not solutions "
                   f"(λ too small for the costs, or an early stop):\n{lines}", icon="⚠️")

    stalled = frame[frame["warmup_stalled"].fillna(False).astype(bool)] if "warmup_stalled" in frame else frame[:0]
    if len(stalled):
        lines = "\n".join(f"- `{r.run_id}`: the warm-up loss fell by "
                          + (f"{100 * float(r.warmup_drop):.1f} %" if pd.notna(r.warmup_drop) else "an unknown amount")
                          for r in stalled.itertuples())
        st.warning(f"{len(stalled)} run{'' if len(stalled) == 1 else 's'} ended the warm-up on its initial loss, "
                   "so the split and everything after it worked on an untrained model (`warmup_check` in "
                   f"metrics.jsonl; warm up longer):\n{lines}", icon="⚠️")

    visible = _filter(frame)
    st.caption(f"{len(visible)} of {len(frame)} runs under {_show.escape_markdown(root)}")
    _show.table(
        visible[list(_frames.RUN_COLUMNS)], name="runs", key="runs_table", hide_index=True, width="stretch",
        column_config={
            "run_id": st.column_config.TextColumn("run", pinned=True),
            "problem": st.column_config.TextColumn("error / reason", width="medium"),
            "mrate": st.column_config.NumberColumn("MRate", format="%.2g"),
            "rho": st.column_config.NumberColumn("ρ", format="%.3g"),
            "lam": st.column_config.NumberColumn("λ", format="%.3g"),
            "batch_size": st.column_config.NumberColumn("batch"),
            "best_rsum": st.column_config.NumberColumn("best val rSum", format="%.1f"),
            "test_rsum": st.column_config.NumberColumn("test rSum", format="%.1f"),
            "epochs_done": st.column_config.NumberColumn("epochs"),
        },
    )
    chosen = _compare(frame, visible)
    if chosen:
        _curves(root, chosen)


_data.guard(render)
