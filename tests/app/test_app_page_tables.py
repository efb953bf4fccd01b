"""The R@K tables page: our results against the paper, routed to the right table, with deltas.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from fixture_runs import F30K_TEST
from page_helpers import paper_row, results


def _frame_with(at: Any, run_id: str) -> pd.DataFrame:
    hits = [d.value for d in at.dataframe if "run" in d.value and run_id in set(d.value["run"])]
    assert len(hits) == 1
    return hits[0]


def test_tables_show_paper_rows_and_deltas(open_page, fixture_runs):
    at = open_page("tables")
    assert [s.value for s in at.subheader][:4] == [
        "Tables 1 & 6: Flickr30K and MS-COCO 1K under synthesised mismatch (MRate 0.2–0.8)",
        "Table 2: CC152K (real-world mismatch)", "Table 7: original Flickr30K and MS-COCO (MRate 0)",
        "Table 8: MS-COCO 5K test set"]
    run_id = fixture_runs.ids["f30k"]
    frame = _frame_with(at, run_id)
    paper = paper_row("6", "flickr30k", "0.2", "L2RM-SGR")
    rows = frame[frame["method"] == "L2RM-SGR"]
    assert list(rows["row"]) == ["paper", "ours", "Δ"]
    by_row = rows.set_index("row")
    assert by_row.loc["paper", "I→T R@1"] == pytest.approx(paper["i2t_r1"])
    assert by_row.loc["ours", "T→I R@10"] == pytest.approx(F30K_TEST["t2i_r10"])
    assert by_row.loc["Δ", "I→T R@1"] == pytest.approx(F30K_TEST["i2t_r1"] - paper["i2t_r1"])
    assert by_row.loc["Δ", "rSum"] == pytest.approx(sum(F30K_TEST.values()) - paper["rsum"])


def test_tables_route_coco_cc152k_and_mrate0_to_their_tables(open_page, fixture_runs):
    at = open_page("tables")
    ids = fixture_runs.ids
    coco = results(fixture_runs, "coco")
    table8 = at.dataframe[3].value
    delta = table8[(table8["run"] == ids["coco"]) & (table8["row"] == "Δ")].iloc[0]
    assert delta["rSum"] == pytest.approx(coco["test_5k"]["rsum"] - paper_row("8", "coco5k", "0.4",
                                                                             "L2RM-SGRAF")["rsum"])
    table6 = at.dataframe[0].value
    ours = table6[(table6["run"] == ids["coco"]) & (table6["row"] == "ours")].iloc[0]
    assert ours["rSum"] == pytest.approx(coco["test_5fold"]["rsum"])
    table2 = at.dataframe[1].value
    assert set(table2["method"]) == {"L2RM-SGR"} and table2.iloc[0]["MRate"] == "—"
    table7 = at.dataframe[2].value
    assert list(table7["method"].unique()) == ["SAF"]
    assert table7.iloc[0]["rSum"] == pytest.approx(paper_row("7", "flickr30k", "0.0", "SAF")["rsum"])


def test_tables_group_synthetic_runs_without_paper_rows(open_page, fixture_runs):
    at = open_page("tables")
    assert any("orientation" in c.value for c in at.caption)
    unmatched = at.dataframe[4].value
    assert set(unmatched["row"]) == {"ours"}
    assert set(unmatched["method"]) == {"L2RM-VSE", "VSE"}
    mrates = [float(m) for m in unmatched["MRate"]]
    assert mrates == sorted(mrates)  # grouped by MRate, then method
    run_id = fixture_runs.ids["syn/vanilla/0.8/1"]
    row = unmatched[unmatched["run"] == run_id].iloc[0]
    assert row["rSum"] == pytest.approx(results(fixture_runs, "syn/vanilla/0.8/1")["test"]["rsum"])


def test_tables_toggle_adds_the_papers_other_methods(open_page):
    at = open_page("tables")
    before = at.dataframe[0].value
    at = at.toggle(key="tables_other_methods").set_value(True).run()
    after = at.dataframe[0].value
    added = after[~after["method"].isin(before["method"])]
    assert {"NCR", "RCL-SGRAF", "IMRAM"} <= set(added["method"]) and set(added["row"]) == {"paper"}
