"""``workbench.reference``: lookups against the CSV read here with ``csv``, routing, deltas, unknown rows."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import reference
from workbench.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "workbench" / "reference_data"
RK = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum")
# paper label -> (method, backbone) as a run records them
RUN_NAMES = {"IMRAM": ("imram", None), "SAF": ("vanilla", "saf"), "SGR": ("vanilla", "sgr"),
             "SGRAF": ("vanilla", "sgraf"), "NCR": ("ncr", "sgraf"), "BiCro": ("bicro", "sgr")}
RUN_DATASETS = {"flickr30k": ("f30k", "1k"), "coco1k": ("coco", "1k"), "coco5k": ("coco", "5k"),
                "cc152k": ("cc152k", "1k")}


def csv_rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def run_names(label: str) -> tuple[str, str | None]:
    if label in RUN_NAMES:
        return RUN_NAMES[label]
    method, backbone = label.split("-")
    return method.lower(), backbone.lower()


RETRIEVAL = csv_rows("l2rm_retrieval_tables.csv")


@pytest.mark.parametrize("row", RETRIEVAL,
                         ids=lambda r: f"T{r['table']}-{r['dataset']}-{r['mrate']}-{r['method']}")
def test_every_published_row_is_found_from_a_runs_names(row):
    method, backbone = run_names(row["method"])
    dataset, protocol = RUN_DATASETS[row["dataset"]]
    mrate = float(row["mrate"]) if row["mrate"] else None
    if backbone is None:  # IMRAM: no backbone of ours; look it up by its label
        found = reference.lookup(dataset, mrate, row["method"], None, protocol=protocol)
    else:
        found = reference.lookup(dataset, mrate, method, backbone, protocol=protocol)
    assert found is not None
    assert (found.table, found.dataset, found.method) == (int(row["table"]), row["dataset"], row["method"])
    assert found.metrics == {k: float(row[k]) for k in RK}


def test_published_rsum_is_the_sum_of_the_recalls():
    for row in RETRIEVAL + csv_rows("l2rm_table9_batch.csv"):
        assert sum(float(row[k]) for k in RK[:-1]) == pytest.approx(float(row["rsum"]), abs=0.15)


@pytest.mark.parametrize("row", csv_rows("l2rm_table9_batch.csv"),
                         ids=lambda r: f"{r['batch_size']}-{r['method']}")
def test_table9_lookup(row):
    method, backbone = run_names(row["method"])
    found = reference.lookup_batch(int(row["batch_size"]), method, backbone)
    assert found is not None and found.table == 9 and found.mrate == 0.6
    assert found.metrics == {k: float(row[k]) for k in RK}


@pytest.mark.parametrize(("dataset", "mrate", "method", "backbone", "protocol"), [
    ("synthetic", 0.2, "l2rm", "vse", "1k"),  # no paper dataset
    ("f30k", 0.2, "vanilla", "vse", "1k"),  # VSE is not in the paper
    ("f30k", 0.2, "ncr", "vse", "1k"),  # NCR only as the SGRAF ensemble
    ("f30k", 0.5, "l2rm", "sgr", "1k"),  # MRate 0.5 is not reported
    ("coco", 0.2, "vanilla", "saf", "5k"),  # Table 8 has only L2RM rows
    ("f30k", None, "l2rm", "sgr", "1k"),  # no MRate for a synthesised-mismatch dataset
    ("f30k", 0.2, "l2rm", "sgr", "5k"),  # F30K has no 5K protocol
], ids=str)
def test_unknown_settings_have_no_row(dataset, mrate, method, backbone, protocol):
    assert reference.lookup(dataset, mrate, method, backbone, protocol=protocol) is None


def test_routing_to_tables():
    assert reference.paper_table("cc152k", None) == 2
    assert reference.paper_table("cc152k", 0.3) == 2  # real noise: the MRate field does not matter
    assert reference.paper_table("coco", 0.4, protocol="5k") == 8
    assert reference.paper_table("f30k", 0.0) == 7
    assert reference.paper_table("coco", 0.6) == 6
    assert reference.paper_table("synthetic", 0.2) is None
    assert reference.paper_dataset("F30K") == "flickr30k" and reference.paper_dataset("coco") == "coco1k"
    with pytest.raises(ConfigError, match="protocol"):
        reference.paper_dataset("coco", protocol="10k")


def test_method_labels():
    assert reference.method_label("l2rm", "sgraf") == "L2RM-SGRAF"
    assert reference.method_label("vanilla", "vse") == "VSE"
    assert reference.method_label("ncr", "sgraf") == "NCR"
    assert reference.method_label("ncr", "vse") == "NCR-VSE"
    assert reference.method_label("bicro", "sgr") == "BiCro"
    assert reference.paper_method("l2rm", "vse") is None and reference.paper_method("rcl", "saf") == "RCL-SAF"


def test_load_table_returns_a_copy_and_rejects_unknown_names():
    frame = reference.load_table("epochs")
    assert list(frame["dataset"]) == [r["dataset"] for r in csv_rows("l2rm_table5_epochs.csv")]
    frame.loc[0, "dataset"] = "changed"
    assert reference.load_table("epochs").loc[0, "dataset"] == "flickr30k"
    with pytest.raises(ConfigError, match="unknown reference table"):
        reference.load_table("table42")


def test_compare_computes_deltas_and_leaves_unmatched_rows_empty():
    ours = pd.DataFrame([
        {"run_id": "a", "dataset": "f30k", "mrate": 0.6, "method": "l2rm", "backbone": "sgraf",
         **{k: 50.0 for k in RK[:-1]}, "rsum": 300.0},
        {"run_id": "b", "dataset": "synthetic", "mrate": 0.6, "method": "l2rm", "backbone": "vse",
         **{k: 40.0 for k in RK[:-1]}, "rsum": 240.0},
        {"run_id": "c", "dataset": "coco", "mrate": 0.2, "method": "l2rm", "backbone": "saf",
         "protocol": "5k",
         **{k: 30.0 for k in RK[:-1]}, "rsum": 180.0},
    ])
    out = reference.compare(ours)
    paper = {(r["table"], r["dataset"], r["mrate"], r["method"]): r for r in RETRIEVAL}
    f30k = paper[("6", "flickr30k", "0.6", "L2RM-SGRAF")]
    coco5k = paper[("8", "coco5k", "0.2", "L2RM-SAF")]
    for k in RK:
        assert out.loc[0, f"{k}_paper"] == float(f30k[k])
        assert out.loc[0, f"{k}_delta"] == pytest.approx(ours.loc[0, k] - float(f30k[k]))
        assert out.loc[2, f"{k}_delta"] == pytest.approx(ours.loc[2, k] - float(coco5k[k]))
        assert math.isnan(out.loc[1, f"{k}_paper"]) and math.isnan(out.loc[1, f"{k}_delta"])
    assert list(out["table"].astype("object").where(out["table"].notna(), None)) == [6, None, 8]
    assert list(out["paper_method"]) == ["L2RM-SGRAF", "L2RM-VSE", "L2RM-SAF"]


def test_paper_layout_orders_paper_ours_delta_and_shares_the_paper_row():
    rows = [{"run_id": f"s{seed}", "dataset": "f30k", "mrate": 0.2, "method": "l2rm", "backbone": "sgr",
             **{k: 70.0 + seed for k in RK}} for seed in (0, 1)]
    rows.append({"run_id": "low", "dataset": "f30k", "mrate": 0.2, "method": "vanilla", "backbone": "saf",
                 **{k: 10.0 for k in RK}})
    layout = reference.paper_layout(reference.compare(pd.DataFrame(rows)))
    sgr = layout[layout["method"] == "L2RM-SGR"]
    assert list(sgr["source"]) == ["paper", "ours", "Δ", "ours", "Δ"]
    assert list(sgr["run_id"]) == ["", "s0", "s0", "s1", "s1"]
    paper = float(next(r for r in RETRIEVAL if (r["table"], r["mrate"], r["method"], r["dataset"]) ==
                       ("6", "0.2", "L2RM-SGR", "flickr30k"))["rsum"])
    np.testing.assert_allclose(sgr["rsum"], [paper, 70.0, 70.0 - paper, 71.0, 71.0 - paper])
    assert list(layout["method"].unique()) == ["L2RM-SGR", "SAF"]
    assert reference.paper_layout(reference.compare(pd.DataFrame(rows[:0], columns=list(rows[0])))).empty


def test_paper_rows_filters():
    rows = reference.paper_rows(table=6, dataset="coco1k", mrate=0.8, methods=["NCR", "L2RM-SGR"])
    assert sorted(rows["method"]) == ["L2RM-SGR", "NCR"]
    assert len(reference.paper_rows(table=8)) == sum(r["table"] == "8" for r in RETRIEVAL)
