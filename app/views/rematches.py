"""Rematches (Fig. 5): browse rematched caption examples with their scores and, where known, the truth."""

from __future__ import annotations

import _data
import _show
import pandas as pd
import streamlit as st

from workbench import viz

_TABLE = "rematch_examples.parquet"
_FITS = {"fits": True, "does not fit": False, "unknown": None}


def _fit_label(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "unknown"
    return "fits" if bool(value) else "does not fit"


def render() -> None:
    root = _data.current_root()
    st.title("Rematches")
    st.caption("Each row: a mismatched pair's image, its original caption, and the caption the refined "
               "alignment rematched it to, with the score (row-normalised target at the argmax).")
    candidates = [s for s in _data.list_runs(root)
                  if s.status != "damaged" and _data.has_artifact(root, s.run_id, _TABLE)]
    run = _data.choose_run("Run", candidates, key="rematch_run")
    if run is None:
        return
    frame = _data.read_table(root, run.run_id, _TABLE)
    frame = frame.assign(truth=frame["fit"].map(_fit_label) if "fit" in frame else "unknown")
    epochs = sorted(int(e) for e in frame["epoch"].unique())
    c1, c2, c3 = st.columns([2, 2, 2])
    lo, hi = c1.slider("Score range", 0.0, 1.0, (0.0, 1.0), step=0.01, key="rematch_score")
    truth = c2.multiselect("Ground-truth fit", list(_FITS), default=list(_FITS), key="rematch_truth")
    chosen_epochs = c3.multiselect("Epochs", epochs, default=epochs[-1:], key="rematch_epochs",
                                   placeholder="all epochs")
    keep = frame["score"].between(lo, hi) & frame["truth"].isin(truth)
    if chosen_epochs:
        keep &= frame["epoch"].isin(chosen_epochs)
    shown = frame[keep]

    known = shown[shown["truth"] != "unknown"]
    m1, m2, m3 = st.columns(3)
    m1.metric("rematched pairs shown", len(shown))
    m2.metric("rematch precision", f"{(known['truth'] == 'fits').mean():.1%}" if len(known) else "n/a",
              help="fraction of shown rematches whose caption truly fits the image (synthetic data only)")
    m3.metric("transported rows", int(shown["transported"].sum()) if "transported" in shown else 0)

    has_url = "image_url" in shown and shown["image_url"].notna().any()
    columns = {"epoch": "epoch", "image": "image id", "text_original": "original caption",
               "text_rematched": "rematched caption", "score": "score", "truth": "rematched fits",
               "transported": "transported", "caption_rematched": "rematched caption id"}
    view = shown[[c for c in columns if c in shown]].rename(columns=columns)
    config: dict[str, object] = {"score": st.column_config.ProgressColumn("score", min_value=0.0,
                                                                         max_value=1.0, format="%.3f")}
    if has_url:  # CC152K: a link to the web image; the app never fetches it
        view["image"] = shown["image_url"].to_numpy()
        config["image"] = st.column_config.LinkColumn("image", display_text="open image ↗",
                                                      help="the image's original web address (not fetched)")
    _show.table(view, name=f"rematches-{run.run_id}", key="rematch_table", hide_index=True, width="stretch",
                column_config=config)
    if len(shown):
        _show.figure(viz.rematch_scores(shown), name=f"rematch-scores-{run.run_id}", key="rematch_scores",
                     theme=None, width="stretch")
    record = _data.read_run(root, run.run_id)
    rematch = [m for m in record.metrics if isinstance(m.get("rematch"), dict)]
    if rematch:
        last = rematch[-1]["rematch"]
        if "precision_available" in last:
            st.subheader(f"Against the truth, epoch {rematch[-1].get('epoch')} (every rematched batch)")
            k1, k2, k3, k4 = st.columns(4)
            k1.metric("rows with a fitting caption", f"{last['available']:.1%}",
                      help="queue images for which at least one allowed caption of the batch truly fits")
            k2.metric("precision on those rows", f"{last['precision_available']:.1%}",
                      help="the refined alignment's argmax caption truly fits")
            k3.metric("ceiling: similarity argmax", f"{last['ceiling_available']:.1%}",
                      help="the model's own ranking on the same rows, before any transport: sharpening the "
                      "plan cannot make rematches more right than the similarity that ranks them")
            k4.metric("chance on those rows", f"{last['chance_available']:.1%}",
                      help="a caption drawn at random among the allowed ones")
        _show.figure(viz.rematch_quality(record.metrics), name=f"rematch-quality-{run.run_id}",
                     key="rematch_quality", theme=None, width="stretch")


_data.guard(render)
