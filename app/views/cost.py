"""Transport cost (Fig. 6): the learned cost of matched vs mismatched pairs by epoch, and split quality."""

from __future__ import annotations

import _data
import _show
import streamlit as st

from workbench import viz

_COSTS = "cost_by_epoch.parquet"
_SPLITS = {"truth": "truly matched vs mismatched", "estimate": "estimated clean vs noisy"}


def render() -> None:
    root = _data.current_root()
    st.title("Transport cost")
    st.caption("Fig. 6 of the paper: the learned cost should rise for mismatched pairs and fall towards 0 "
               "for matched ones as training proceeds.")
    candidates = [s for s in _data.list_runs(root)
                  if s.status != "damaged" and _data.has_artifact(root, s.run_id, _COSTS)]
    run = _data.choose_run("Run", candidates, key="cost_run")
    if run is None:
        return
    costs = _data.read_table(root, run.run_id, _COSTS)
    epochs = sorted(int(e) for e in costs["epoch"].unique())
    if not epochs:
        st.info("This run's cost table is empty.")
        return
    # a flag with missing values cannot split the pairs: CC152K's truth is unknown (its mismatches are real)
    usable = [s for s in _SPLITS if costs[viz.COST_GROUPS[s][0]].notna().all()]
    if not usable:
        st.warning("This run's cost table has missing matched/clean flags, so its pairs cannot be grouped.",
                   icon="⚠️")
        return
    if len(usable) < len(_SPLITS):
        st.caption("The truth is unknown for this run (missing `true_matched`): only the estimated split is shown.")
    left, right = st.columns([2, 3])
    split = left.radio("Groups", usable, format_func=_SPLITS.get, key="cost_split", horizontal=True)
    epoch = epochs[0] if len(epochs) == 1 else right.select_slider(
        "Epoch", options=epochs, value=epochs[-1], key="cost_epoch")
    _show.figure(viz.cost_histogram(costs, split=split, epoch=epoch), name=f"cost-{run.run_id}-epoch{epoch}",
                 key="cost_histogram", theme=None, width="stretch")
    _show.figure(viz.cost_trend(costs, split=split), name=f"cost-trend-{run.run_id}", key="cost_trend",
                 theme=None, width="stretch")

    st.subheader("Clean / noisy split against the truth")
    record = _data.read_run(root, run.run_id)
    if any(isinstance(m.get("split"), dict) for m in record.metrics):
        _show.figure(viz.split_quality(record.metrics), name=f"split-quality-{run.run_id}", key="cost_split_q",
                     theme=None, width="stretch")
    else:
        st.info("metrics.jsonl has no split-quality records for this run.")


_data.guard(render)
