"""The Rematches page (Fig. 5): filters by score and truth, CC152K image links, corrupt tables.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

import json

import pandas as pd
from fixture_runs import FixtureRuns
from page_helpers import figures, trace_names, warnings


def _rematches(fx: FixtureRuns, role: str) -> pd.DataFrame:
    return pd.read_parquet(fx.root / fx.ids[role] / "artifacts" / "rematch_examples.parquet")


def test_rematch_filters_and_truth(open_page, fixture_runs):
    role = "syn/l2rm/0.8/1"
    truth = _rematches(fixture_runs, role)
    last = truth[truth["epoch"] == truth["epoch"].max()]
    at = open_page("rematches")
    at = at.selectbox(key="rematch_run").select(fixture_runs.ids[role]).run()
    table = at.dataframe[0].value
    assert len(table) == len(last)
    assert sorted(table["rematched caption"]) == sorted(last["text_rematched"])
    at = at.multiselect(key="rematch_truth").unselect("does not fit").unselect("unknown").run()
    fits = at.dataframe[0].value
    assert len(fits) == int(last["fit"].sum()) and set(fits["rematched fits"]) <= {"fits"}
    at = at.slider(key="rematch_score").set_value((0.5, 1.0)).run()
    strong = at.dataframe[0].value
    assert len(strong) == int((last["fit"] & (last["score"] >= 0.5)).sum())
    assert (strong["score"] >= 0.5).all()
    assert trace_names(figures(at)[0]) == ["fits", "does not fit", "unknown"]
    records = [json.loads(line) for line in (fixture_runs.root / fixture_runs.ids[role] / "metrics.jsonl")
               .read_text().splitlines()]
    last_record = [r for r in records if r.get("rematch")][-1]["rematch"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["precision on those rows"] == f"{last_record['precision_available']:.1%}"
    assert shown["ceiling: similarity argmax"] == f"{last_record['ceiling_available']:.1%}"
    assert shown["rows with a fitting caption"] == f"{last_record['available']:.1%}"
    quality = figures(at)[1]
    assert trace_names(quality)[:3] == ["precision, rows with a fitting caption",
                                        "ceiling: argmax of the similarity", "chance, rows with a fitting caption"]


def test_rematches_link_cc152k_images_without_fetching(open_page, fixture_runs):
    at = open_page("rematches")
    at = at.selectbox(key="rematch_run").select(fixture_runs.ids["cc152k"]).run()
    table = at.dataframe[0].value
    urls = _rematches(fixture_runs, "cc152k")
    last = urls[urls["epoch"] == urls["epoch"].max()]
    assert sorted(table["image"]) == sorted(last["image_url"])
    assert set(table["rematched fits"]) == {"unknown"}
    assert len(at.get("imgs")) == 0  # a link, never an embedded (fetched) image


def test_rematch_page_warns_on_a_corrupt_table(open_page, fixture_runs):
    at = open_page("rematches")
    at = at.selectbox(key="rematch_run").select(fixture_runs.ids["corrupt"]).run()
    assert not at.exception and any("rematch_examples.parquet" in w for w in warnings(at))
