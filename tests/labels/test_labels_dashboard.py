"""The dashboard's Label-track page reads real label-track runs (written by ``run_labels``) correctly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.labels.grid import label_grid, run_grid

APP = Path(__file__).resolve().parents[2] / "app"


@pytest.fixture(scope="module")
def label_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("label_runs")
    overrides = {"epochs": 3, "root": str(root.parent / "data")}
    cells = label_grid(["uot_rcl"], [("symmetric", 0.4)], [0, 1], overrides=overrides)
    cells += label_grid(["ce"], [("symmetric", 0.4)], [0], overrides=overrides)
    cells += label_grid(["uot_rcl"], [("symmetric", 0.4)], [0], ceilings=["corrected", "clean"],
                        overrides=overrides)[1:]  # the ceilings of seed 0 (its uot_rcl run is above)
    run_grid(cells, preset_group="tiny", run_root=root, dataset="synthetic")
    return root


def test_label_page_shows_our_runs(label_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_test = pytest.importorskip("streamlit.testing.v1").AppTest
    import streamlit as st

    st.cache_data.clear()
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(label_runs))
    monkeypatch.syspath_prepend(str(APP))
    at = app_test.from_file(str(APP / "streamlit_app.py"), default_timeout=60)
    at.switch_page("views/labels.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    pivot = at.dataframe[0].value
    def best(method: str, seed: int) -> float:
        path = label_runs / method / f"synthetic-symmetric-0.4-s{seed}" / "results.json"
        return json.loads(path.read_text())["map"]["best"]["avg"]

    vals = [best("uot_rcl", s) for s in (0, 1)]
    assert pivot[pivot["method"] == "uot_rcl"].iloc[0]["rate 0.4"] == f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}"
    assert pivot[pivot["method"] == "ce"].iloc[0]["rate 0.4"] == f"{best('ce', 0):.3f}"  # one seed: no ±
    # the ceilings are rows of their own (not merged into ce), and the page says what they are
    for ceiling in ("ce-corrected", "ce-clean"):
        assert pivot[pivot["method"] == ceiling].iloc[0]["rate 0.4"] == f"{best(ceiling, 0):.3f}"
    assert any("ce-corrected" in c.value and "ce-clean" in c.value for c in at.caption)
    # the corrected-label confusion of the selected run is drawn from its label_confusion.npz
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [t["name"] for t in spec["data"]] == ["given noisy label", "corrected label"]
    st.cache_data.clear()
    sys.modules.pop("_data", None)
    sys.modules.pop("_frames", None)
