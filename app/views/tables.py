"""R@K tables: our test results against the paper's numbers, grouped like the paper's tables."""

from __future__ import annotations

import _data
import _frames
import _show
import pandas as pd
import streamlit as st

from workbench import reference, viz

_LABELS = {c: viz.METRIC_LABELS[c] for c in reference.RK_COLUMNS}
_TABLE_ORDER = (6, 2, 7, 8)  # the main results first, as in the paper
_CONFIG = {
    "row": st.column_config.TextColumn("row", help="paper = the published number; ours = the run's test "
                                       "result; Δ = ours − paper"),
    **{label: st.column_config.NumberColumn(label, format="%.1f") for label in _LABELS.values()},
}


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.drop(columns=["table"]).rename(columns={**_LABELS, "mrate": "MRate", "source": "row",
                                                        "run_id": "run"})
    out["MRate"] = out["MRate"].map(_frames.format_mrate)
    return out


def _with_other_methods(layout: pd.DataFrame, table: int) -> pd.DataFrame:
    """Add the paper's rows of every other method at the settings shown (orientation, like the paper)."""
    extra = []
    for (dataset, mrate), group in layout.groupby(["dataset", "mrate"], dropna=False):
        key = reference.paper_dataset(str(dataset), protocol="5k" if table == 8 else "1k")
        rows = reference.paper_rows(table=table, dataset=key, mrate=None if table == 2 else mrate)
        rows = rows[~rows["method"].isin(group["method"])]
        extra.append(rows.assign(dataset=dataset, mrate=mrate, source="paper", run_id=""))
    if not extra:
        return layout
    merged = pd.concat([layout, *extra], ignore_index=True)[layout.columns]
    merged["_paper_first"] = merged["source"] != "paper"
    return (merged.sort_values(["mrate", "method", "_paper_first"], kind="stable")
            .drop(columns="_paper_first").reset_index(drop=True))


def _synthetic(layout: pd.DataFrame) -> None:
    st.subheader("Runs without a paper row")
    st.caption("Synthetic (and other) datasets have no published numbers. Grouped by MRate, then method; "
               "the paper's rows are for Flickr30K / MS-COCO / CC152K and are shown below for "
               "orientation only.")
    ours = layout.sort_values(["mrate", "method", "run_id"], kind="stable")
    _show.table(_display(ours), name="rk-without-paper-row", key="tables_unmatched", hide_index=True,
                width="stretch", column_config=_CONFIG)
    mrates = sorted({float(m) for m in ours["mrate"].dropna()})
    with st.expander("Paper rows at the same MRates (Flickr30K, Tables 1/6 and 7), for orientation"):
        rows = [reference.paper_rows(table=7 if m == 0 else 6, dataset="flickr30k", mrate=m) for m in mrates]
        rows = [r for r in rows if len(r)]
        if rows:
            paper = pd.concat(rows, ignore_index=True)
            _show.table(paper.drop(columns=["table"]).rename(columns=_LABELS), name="paper-rows-orientation",
                        key="tables_orientation", hide_index=True, width="stretch")
        else:
            st.write("The paper has no rows at these MRates.")


def render() -> None:
    root = _data.current_root()
    st.title("R@K tables")
    summaries = [s for s in _data.list_runs(root) if s.status == "done" and s.track == "retrieval"]
    picked = set(_data.selected_runs())
    chosen = [s for s in summaries if s.run_id in picked] if picked else summaries
    st.caption(f"{'The runs picked on the Runs page' if picked else 'All done retrieval runs'} "
               f"({len(chosen)}): test R@K of the best-on-validation checkpoint, in percent. Rows: paper, "
               "ours, Δ = ours − paper.")
    if not chosen:
        st.info("No done retrieval runs to tabulate.")
        return
    ours = _frames.results_frame(_data.read_runs(root, [s.run_id for s in chosen]))
    if ours.empty:
        st.info("None of these runs has test results yet.")
        return
    layout = reference.paper_layout(reference.compare(ours))
    others = st.toggle("Show the paper's other methods at these settings", value=False,
                       key="tables_other_methods")
    present = set(layout["table"].dropna().astype(int))
    for table in [t for t in _TABLE_ORDER if t in present] + sorted(present - set(_TABLE_ORDER)):
        part = layout[layout["table"] == table]
        st.subheader(reference.TABLE_TITLES.get(int(table), f"Table {table}"))
        if others:
            part = _with_other_methods(part, int(table))
        _show.table(_display(part), name=f"rk-table{int(table)}", key=f"tables_table_{int(table)}",
                    hide_index=True, width="stretch", column_config=_CONFIG)
    unmatched = layout[layout["table"].isna()]
    if len(unmatched):
        _synthetic(unmatched)


_data.guard(render)
