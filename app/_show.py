"""Tables and figures with their download buttons, and text that must not be read as Markdown.

Every table a page shows goes through :func:`table` (a CSV download beside it) and every figure through
:func:`figure` (a self-contained HTML download, and PNG where a static renderer, ``kaleido``, is
installed). The files are produced only when a button is clicked. Run names and paths come from the file
system and may hold Markdown (``[x](http://...)``, ``**``, ``:material/...:``); Streamlit renders
Markdown in ``st.info``, ``st.warning``, ``st.caption`` and the like, so such text is passed through
:func:`escape_markdown` first.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Any

import pandas as pd
import streamlit as st

__all__ = ["escape_markdown", "file_stem", "csv_bytes", "html_bytes", "png_bytes", "png_available",
           "table", "figure"]

_INLINE = re.compile(r"([\\`*_{}\[\]()<>#!|~:$&.])")  # emphasis, code, links, HTML, autolinks, directives


def escape_markdown(text: object) -> str:
    """``text`` with the Markdown-active characters backslash-escaped, so that it renders literally inside
    a line (no link, emphasis, code, HTML, autolink, emoji or icon directive, maths). Also a leading ``-``
    or ``+`` (a list marker); ``-`` elsewhere is left as typed, as run names are full of it."""
    escaped = _INLINE.sub(r"\\\1", str(text))
    return "\\" + escaped if escaped[:1] in ("-", "+") else escaped


def file_stem(*parts: object) -> str:
    """A file-name stem from ``parts`` (letters, digits, ``.``, ``_``, ``-``; other characters become ``-``)."""
    stem = "-".join(re.sub(r"[^A-Za-z0-9._]+", "-", str(p)).strip("-.") for p in parts if str(p))
    return stem[:150] or "download"


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV (no index)."""
    return frame.to_csv(index=False).encode("utf-8")


def html_bytes(fig: Any) -> bytes:
    """The figure as one self-contained HTML file (plotly.js embedded: it opens offline)."""
    return fig.to_html(full_html=True, include_plotlyjs=True).encode("utf-8")


@functools.cache
def png_available() -> bool:
    """Whether plotly's static image export (``kaleido``) is installed."""
    return importlib.util.find_spec("kaleido") is not None


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG (twice the on-screen resolution); needs ``kaleido``."""
    return fig.to_image(format="png", scale=2)


def table(frame: pd.DataFrame, *, name: str, key: str, **dataframe_args: Any) -> None:
    """``st.dataframe(frame, ...)`` with a CSV download of exactly ``frame`` below it."""
    st.dataframe(frame, key=key, **dataframe_args)
    st.download_button("CSV", data=functools.partial(csv_bytes, frame), file_name=f"{file_stem(name)}.csv",
                       mime="text/csv", key=f"{key}_csv", on_click="ignore", type="tertiary",
                       icon=":material/download:", help="Download this table as CSV")


def figure(fig: Any, *, name: str, key: str, **chart_args: Any) -> None:
    """``st.plotly_chart(fig, ...)`` with HTML (and, with kaleido, PNG) downloads below it."""
    st.plotly_chart(fig, key=key, **chart_args)
    stem = file_stem(name)
    with st.container(horizontal=True, gap="small"):
        st.download_button("HTML", data=functools.partial(html_bytes, fig), file_name=f"{stem}.html",
                           mime="text/html", key=f"{key}_html", on_click="ignore", type="tertiary",
                           icon=":material/download:", help="Download this figure as an interactive HTML file")
        if png_available():
            st.download_button("PNG", data=functools.partial(png_bytes, fig), file_name=f"{stem}.png",
                               mime="image/png", key=f"{key}_png", on_click="ignore", type="tertiary",
                               icon=":material/download:", help="Download this figure as a PNG image")
