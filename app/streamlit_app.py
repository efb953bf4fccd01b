"""OT-Rematch Workbench dashboard: the router and the frame shared by every page.

Run it with ``workbench app --runs DIR`` (or ``streamlit run app/streamlit_app.py`` with
``WORKBENCH_RUNS_DIR`` set). The runs root (the only place the app reads from) is fixed when the server
starts; the sidebar shows it (an editable box only with ``workbench app --allow-root-change``) and a
refresh button; the pages live in ``app/views/`` and read runs only through :mod:`workbench.runs`
(via the cached loaders of ``_data``). The app never imports torch.
"""

from __future__ import annotations

import _data
import _show
import streamlit as st

st.set_page_config(page_title="OT-Rematch Workbench", page_icon=":material/compare_arrows:", layout="wide")

PAGES = [
    st.Page("views/runs.py", title="Runs", icon=":material/list_alt:", url_path="runs", default=True),
    st.Page("views/tables.py", title="R@K tables", icon=":material/table_chart:", url_path="tables"),
    st.Page("views/cost.py", title="Transport cost", icon=":material/bar_chart:", url_path="cost"),
    st.Page("views/alignments.py", title="Alignments", icon=":material/grid_on:", url_path="alignments"),
    st.Page("views/rematches.py", title="Rematches", icon=":material/swap_horiz:", url_path="rematches"),
    st.Page("views/sweeps.py", title="Sweeps", icon=":material/tune:", url_path="sweeps"),
    st.Page("views/labels.py", title="Label track", icon=":material/label:", url_path="labels"),
    st.Page("views/config.py", title="Run config", icon=":material/settings:", url_path="config"),
]

with st.sidebar:
    st.markdown("**OT-Rematch Workbench**")
    if _data.root_editable():  # opt-in at server start: `workbench app --allow-root-change`
        if _data.ROOT_KEY not in st.session_state:
            st.session_state[_data.ROOT_KEY] = _data.default_root()
        st.text_input("Runs root", key=_data.ROOT_KEY,
                      help="Folder holding run directories (nested up to three levels). "
                           "Nothing outside it is read.")
    else:
        st.caption(f"Runs root: `{_data.current_root()}` (fixed when the server started; nothing outside it "
                   "is read)")
    if st.button("Refresh", icon=":material/refresh:", help="Forget cached files and re-read the runs root."):
        st.cache_data.clear()
    root = _data.current_root()
    if not root.is_dir():
        st.error(f"Runs root {_show.escape_markdown(root)} is not a directory.")

st.navigation(PAGES).run()

with st.sidebar:  # after the page, which may have changed the selection
    picked = _data.selected_runs()
    if picked:
        plural = "" if len(picked) == 1 else "s"
        st.caption(f"{len(picked)} run{plural} picked for comparison on the Runs page.")
