"""Downloads beside every table and figure, and run names that render as plain text.

The converters are checked against independent readers (pandas' CSV reader, the HTML's embedded figure
JSON); the pages are checked to offer one CSV button per table and one HTML button per figure (PNG too
when kaleido is installed); the Markdown escaping is checked by rendering with markdown-it (CommonMark).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import _show
import pandas as pd
import plotly.graph_objects as go
import pytest
from markdown_it import MarkdownIt

APP = Path(__file__).resolve().parents[2] / "app"
PAGES = ("runs", "tables", "cost", "alignments", "rematches", "sweeps", "labels", "config")


def test_csv_bytes_round_trip() -> None:
    frame = pd.DataFrame({"run": ["a,b", 'q"uote', "ü"], "rsum": [1.5, None, 300.25]})
    back = pd.read_csv(io.BytesIO(_show.csv_bytes(frame)))
    assert list(back["run"]) == ["a,b", 'q"uote', "ü"]
    assert back["rsum"].iloc[0] == 1.5 and pd.isna(back["rsum"].iloc[1]) and back["rsum"].iloc[2] == 300.25


def test_html_bytes_is_self_contained_and_holds_the_figure() -> None:
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[3.5, 1.25, 2.0], name="trace-one"))
    html = _show.html_bytes(fig).decode("utf-8")
    assert html.lower().startswith("<!doctype html>") and "</html>" in html and "Plotly.newPlot(" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js embedded: opens offline
    assert '"name":"trace-one"' in html and "[3.5,1.25,2.0]" in html.replace(" ", "")


def test_file_stem_keeps_names_safe() -> None:
    assert _show.file_stem("cost", "table1/l2rm-vse-m0.6-s0", "epoch3") == "cost-table1-l2rm-vse-m0.6-s0-epoch3"
    assert _show.file_stem("../../etc/passwd") == "etc-passwd"
    assert _show.file_stem("") == "download"


@pytest.mark.parametrize("name", [
    "[evil](http://example.com)", "**bold** _it_ `code`", "<a href='x'>y</a>", "<http://evil.com/x>",
    "- item", "+ item", "1. x", ":material/home: :red[x]", "$x^2$", r"a\b", "# head", "![i](x.png)",
    "~~s~~", "a | b", "&amp; &lt;", "runs/table1/l2rm-vse-m0.6-s0"])
def test_escaped_names_render_as_the_same_plain_text(name: str) -> None:
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(_show.escape_markdown(name))
    assert re.fullmatch(r"<p>.*</p>\n", html, flags=re.S), html  # one paragraph: no list, heading, table
    for tag in ("<a", "<img", "<strong", "<em", "<code", "<s>", "<h1"):
        assert tag not in html, (name, html)
    text = html[3:-5].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert text == name


def _downloads(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


@pytest.mark.parametrize("page", PAGES)
def test_every_table_and_figure_has_its_downloads(open_page, fixture_runs, page) -> None:
    picked = [fixture_runs.ids["syn/l2rm/0.4/0"], fixture_runs.ids["syn/vanilla/0.4/0"]]
    at = open_page(page, selected_runs=picked, runs_compare_widget=picked)
    labels = _downloads(at)
    tables, charts = len(at.dataframe), len(at.get("plotly_chart"))
    assert tables + charts > 0, f"the fixture runs show nothing on {page}"
    assert labels.count("CSV") == tables
    assert labels.count("HTML") == charts
    assert labels.count("PNG") == (charts if _show.png_available() else 0)


def test_run_names_holding_markdown_are_shown_as_typed(tmp_path, monkeypatch) -> None:
    AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
    name = "[evil](example.com) **x** :red[y]"  # a directory name: no slash
    broken = tmp_path / name
    broken.mkdir()
    (broken / "run.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(APP / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    (warning,) = at.warning
    html = MarkdownIt("commonmark").render(warning.value)
    assert "<a " not in html and "<strong>" not in html
    assert name in html.replace("&quot;", '"')
    assert at.dataframe[0].value["run_id"].tolist() == [name]
