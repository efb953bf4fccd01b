"""Run config: one run's full ``run.json`` (configuration, versions, results) and the diff of two runs."""

from __future__ import annotations

import _configs
import _data
import _show
import streamlit as st


def _describe(run_id: str, by_id: dict) -> str:
    s = by_id[run_id]
    return f"{run_id}  ({s.method or '?'}, {s.dataset or '?'}, {s.status})"


def _one(root, by_id: dict) -> None:
    run = _data.choose_run("Run", list(by_id.values()), key="config_run")
    if run is None:
        return
    record = _data.read_run(root, run.run_id)
    st.text(f"{run.run_id}  —  {run.status}" + (f": {run.error}" if run.error else ""))
    bookkeeping = st.toggle("Show bookkeeping fields (host, pid, timestamps, ...)", value=True,
                            key="config_bookkeeping")
    _show.table(_configs.config_table(record.info, bookkeeping=bookkeeping), name=f"config-{run.run_id}",
                key="config_table", hide_index=True, width="stretch")
    if record.results:
        with st.expander("results.json"):
            st.json(record.results, expanded=True)
    with st.expander("run.json as stored"):
        st.json(record.info, expanded=False)


def _diff(root, by_id: dict) -> None:
    st.subheader("Difference between two runs")
    ids = list(by_id)
    picked = [r for r in _data.selected_runs() if r in by_id]
    defaults = (picked + [r for r in ids if r not in picked])[:2]
    if len(ids) < 2:
        st.info("Two runs are needed for a comparison.")
        return
    left, right = st.columns(2)
    a = left.selectbox("Run A", ids, index=ids.index(defaults[0]), key="config_diff_a",
                       format_func=lambda r: _describe(r, by_id))
    b = right.selectbox("Run B", ids, index=ids.index(defaults[1]), key="config_diff_b",
                        format_func=lambda r: _describe(r, by_id))
    everything = st.toggle("Include bookkeeping fields and versions", value=False, key="config_diff_all")
    diff = _configs.config_diff(_data.read_run(root, a).info, _data.read_run(root, b).info, bookkeeping=everything)
    if a == b:
        st.info("Pick two different runs.")
    elif diff.empty:
        st.info("The two runs have the same configuration.")
    else:
        st.caption(f"{len(diff)} field{'s' if len(diff) != 1 else ''} differ. a = run A, b = run B; "
                   "(absent) where a run has no such field.")
        _show.table(diff, name=f"config-diff-{a}-vs-{b}", key="config_diff", hide_index=True, width="stretch")


def render() -> None:
    root = _data.current_root()
    st.title("Run config")
    st.caption("A run's full configuration as recorded in its run.json (with package versions and "
               "results), and the fields in which two runs differ. Runs picked on the Runs page come first.")
    summaries = [s for s in _data.list_runs(root) if s.status != "damaged"]
    if not summaries:
        st.info("No readable runs under the runs root.")
        return
    chosen = set(_data.selected_runs())
    ordered = sorted(summaries, key=lambda s: (s.run_id not in chosen, s.run_id))
    by_id = {s.run_id: s for s in ordered}
    _one(root, by_id)
    _diff(root, by_id)


_data.guard(render)
