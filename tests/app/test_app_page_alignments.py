"""The Alignments page: cost / plan / mask heatmaps with dummies, mass, crop, epochs, Fig. 7.

Expected values are read from the run directories and the packaged CSV directly, never through
the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_helpers import figures, trace_names, warnings
from plotly_arrays import arr


def test_alignment_heatmaps_show_dummies_mass_and_crop(open_page, fixture_runs):
    at = open_page("alignments")
    role = "syn/l2rm/0.4/0"  # its saved batches are 96 x 96
    at = at.selectbox(key="align_run").select(fixture_runs.ids[role]).run()
    epoch = at.select_slider(key="align_epoch").value
    with np.load(fixture_runs.root / fixture_runs.ids[role] / "artifacts" / "alignments" /
                 f"epoch_{epoch:03d}.npz") as npz:
        batch = {k: npz[k] for k in npz.files}
    spec = figures(at)[0]
    heat = {t["name"]: t for t in spec["data"] if t["type"] == "heatmap"}
    assert {"plan", "mask", "cost", "plan: dummy row", "plan: dummy column"} <= set(heat)
    plan = arr(heat["plan"]["z"])
    assert plan.shape == (64, 64)  # the 96 x 96 batch cropped
    np.testing.assert_allclose(plan, batch["plan"][:64, :64], rtol=1e-6)
    for name, key in (("plan: dummy row", "dummy_row"), ("plan: dummy column", "dummy_col")):
        np.testing.assert_allclose(arr(heat[name]["z"]).ravel(), batch[key][:64], rtol=1e-6)
    assert heat["plan"]["customdata"][3][5][3].startswith(str(batch["captions"][5])[:20])
    assert heat["plan"]["customdata"][3][5][0] == f"image {batch['image_ids'][3]}"
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["transported mass"]) == pytest.approx(batch["plan"].sum(), abs=1e-4)
    assert float(metrics["transported mass"]) == pytest.approx(float(batch["rho"]), abs=1e-3)
    at = at.selectbox(key="align_crop").select("whole batch").run()
    assert arr(figures(at)[0]["data"][0]["z"]).shape == (96, 96)
    names = [trace_names(f) for f in figures(at)]
    assert ["transported", "untransported"] in names  # Fig. 7's ranked refined alignment
    concentration = figures(at)[names.index(["transported rows", "untransported rows", "uniform row (1/B)",
                                             "cost inter-quartile range", "|cost − ReLU(1 − S)|",
                                             f"λ = {float(batch['lam']):g}"])]
    records = [json.loads(line) for line in (fixture_runs.root / fixture_runs.ids[role] / "metrics.jsonl")
               .read_text().splitlines()]
    expected = [r["rematch"]["top1_transported"] for r in records if r.get("rematch")]
    np.testing.assert_allclose(arr(concentration["data"][0]["y"]), expected)


def test_alignment_epoch_slider_changes_the_batch(open_page, fixture_runs):
    at = open_page("alignments")
    at = at.selectbox(key="align_run").select(fixture_runs.ids["syn/l2rm/0.2/1"]).run()
    last = arr(figures(at)[0]["data"][0]["z"])
    first = at.select_slider(key="align_epoch").options[0]
    at = at.select_slider(key="align_epoch").set_value(int(first)).run()
    assert not np.array_equal(arr(figures(at)[0]["data"][0]["z"]), last, equal_nan=True)


def test_alignment_page_warns_on_a_corrupt_batch(open_page, fixture_runs):
    at = open_page("alignments")
    at = at.selectbox(key="align_run").select(fixture_runs.ids["corrupt"]).run()
    at = at.select_slider(key="align_epoch").set_value(1).run()
    assert not at.exception and any("epoch_001.npz" in w for w in warnings(at))
