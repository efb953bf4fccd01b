"""Label track: MAP over methods × noise × rates (mean ± std over seeds) and corrected-label confusion."""

from __future__ import annotations

import _data
import _frames
import _show
import streamlit as st

from workbench import viz

_DIRECTIONS = {"avg": "mean of I→T and T→I", "i2t": "image → text", "t2i": "text → image"}
_CONFUSION = "label_confusion.npz"


def render() -> None:
    root = _data.current_root()
    st.title("Label track")
    st.caption("Cross-modal retrieval with noisy class labels (UOT-RCL and baselines): MAP over all "
               "results, mean ± sample std over seeds.")
    summaries = [s for s in _data.list_runs(root) if s.track == "labels" and s.status == "done"]
    if not summaries:
        st.info("No finished label-track runs (run.json `track` = \"labels\") under the runs root.")
        return
    frame = _frames.label_frame(_data.read_runs(root, [s.run_id for s in summaries]))
    datasets = sorted(frame["dataset"].dropna().unique())
    if len(datasets) > 1:
        chosen = st.radio("Dataset", datasets, key="labels_dataset", horizontal=True)
        frame = frame[frame["dataset"] == chosen]
    c1, c2 = st.columns(2)
    when = c1.radio("Checkpoint", ["best", "last"], key="labels_when", horizontal=True,
                    format_func=lambda w: {"best": "best on validation", "last": "last epoch"}[w])
    direction = c2.radio("MAP", list(_DIRECTIONS), format_func=_DIRECTIONS.get, key="labels_dir",
                         horizontal=True)
    summary = _frames.map_summary(frame, f"{when}_{direction}")
    _show.table(_frames.map_pivot(summary), name=f"label-map-{when}-{direction}", key="labels_pivot",
                hide_index=True, width="stretch")
    present = [v for v in _frames.CEILING_VARIANTS if v in set(frame["method"])]
    if present:
        st.caption("Ceilings (same network and budget as CE): " + "; ".join(
            f"**{v}** = {_frames.CEILING_VARIANTS[v]}" for v in present) + ". UOT-RCL below ce-corrected means "
            "its training loses what its correction found; ce-corrected below ce-clean is what the correction misses.")
    _show.figure(viz.map_by_rate(summary, title=f"{when.capitalize()} MAP ({_DIRECTIONS[direction]}) "
                                                "vs noise rate"),
                 name=f"label-map-{when}-{direction}", key="labels_curves", theme=None, width="stretch")
    with st.expander("Per-run values"):
        _show.table(frame, name="label-runs", key="labels_runs", hide_index=True, width="stretch")

    st.subheader("Corrected-label confusion")
    candidates = [s for s in summaries if _data.has_artifact(root, s.run_id, _CONFUSION)]
    run = _data.choose_run("Run", candidates, key="labels_run")
    if run is None:
        return
    arrays = _data.read_arrays(root, run.run_id, _CONFUSION)
    normalise = st.toggle("Row-normalise (fraction of each true class)", value=True, key="labels_norm")
    confusion = arrays["confusion"]
    names = [str(c) for c in arrays.get("class_names", range(confusion.shape[0]))]
    _show.figure(viz.label_confusion(confusion, names, noisy_confusion=arrays.get("noisy_confusion"),
                                     normalise=normalise), name=f"label-confusion-{run.run_id}",
                 key="labels_confusion", theme=None, width="stretch")
    total = confusion.sum()
    st.caption(f"Corrected labels agree with the true class for {confusion.trace() / max(total, 1):.1%} of "
               f"{total} training pairs" + (
                   f" (given noisy labels: {arrays['noisy_confusion'].trace() / max(total, 1):.1%})."
                   if "noisy_confusion" in arrays else "."))


_data.guard(render)
