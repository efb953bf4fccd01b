"""Alignments: cost, partial-OT plan and mask of a saved batch, with the dummy row/column; Fig. 7."""

from __future__ import annotations

import _data
import _show
import streamlit as st

from workbench import viz

_CROPS = {"32 × 32": 32, "64 × 64": 64, "128 × 128": 128, "whole batch": None}


def render() -> None:
    root = _data.current_root()
    st.title("Alignments")
    st.caption("Rows are images, columns captions of one saved noisy batch. The plan is the real block of "
               "the masked partial OT (Eq. 14); the dummy row/column take the mass that is not transported. "
               "Hover a cell for the image, its own caption and the column's caption.")
    candidates = [s for s in _data.list_runs(root)
                  if s.status != "damaged" and _data.alignment_epochs(root, s.run_id)]
    run = _data.choose_run("Run", candidates, key="align_run")
    if run is None:
        return
    epochs = _data.alignment_epochs(root, run.run_id)
    left, right = st.columns([3, 1])
    epoch = epochs[0] if len(epochs) == 1 else left.select_slider(
        "Epoch", options=epochs, value=epochs[-1], key="align_epoch")
    crop = right.selectbox("Show", list(_CROPS), index=1, key="align_crop",
                           help="Large batches are cropped to their first rows and columns.")
    batch = _data.read_alignment(root, run.run_id, epoch)
    stats = viz.alignment_stats(batch)
    cols = st.columns(4)
    rho = "n/a" if stats.rho is None else f"{stats.rho:g}"
    cols[0].metric("transported mass", f"{stats.transported:.4f}", help=f"sum of the plan; target ρ = {rho}")
    cols[1].metric("ρ", rho)
    cols[2].metric("rows transporting", f"{stats.rows_transporting} / {stats.n}")
    cols[3].metric("allowed cells", f"{stats.allowed_fraction:.1%}", help="mask = True (positives masked)")
    _show.figure(viz.alignment_heatmaps(batch, rows=_CROPS[crop], cols=_CROPS[crop]),
                 name=f"alignment-{run.run_id}-epoch{epoch}", key="align_heatmaps", theme=None, width="stretch")

    record = _data.read_run(root, run.run_id)
    if any(isinstance(m.get("rematch"), dict) and "top1_transported" in m["rematch"] for m in record.metrics):
        lam = record.summary.lam if isinstance(record.summary.lam, (int, float)) else None
        st.subheader("How peaked the refined alignment is, and why")
        st.caption("A row is transported when the plan gives it at least the average real mass ρ/Q. Left: the "
                   "mean top-1 of the refined rows of every rematched batch (Fig. 7's first rank); a uniform "
                   "row has 1/B. Right: the cost's spread within a batch beside λ (a cost that varies much "
                   "less than λ gives a near-uniform plan) and how far the learned cost moved from ReLU(1 − S).")
        _show.figure(viz.rematch_concentration(record.metrics, lam=lam), name=f"concentration-{run.run_id}",
                     key="align_concentration", theme=None, width="stretch")

    if _data.has_artifact(root, run.run_id, "refined_ranks.parquet"):
        ranks = _data.read_table(root, run.run_id, "refined_ranks.parquet")
        if (ranks["epoch"] == epoch).any():
            st.subheader("Ranked refined alignment (Fig. 7)")
            _show.figure(viz.refined_ranks(ranks, epoch=epoch), name=f"refined-ranks-{run.run_id}-epoch{epoch}",
                         key="align_ranks", theme=None, width="stretch")


_data.guard(render)
