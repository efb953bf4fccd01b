"""The runs root is the only place the app reads from: an artefact that escapes it (a symlink pointing
outside) is refused with a warning, and its target is never read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from fixture_runs import build_many_runs
from page_helpers import warnings

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"


def test_an_artefact_symlinked_outside_the_root_is_refused(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "runs"
    (run_id,) = build_many_runs(root, 1)
    outside = tmp_path / "secret.parquet"
    pd.DataFrame({"epoch": [0], "cost": [0.5], "true_matched": [True], "est_clean": [True]}).to_parquet(outside)
    (root / run_id / "artifacts" / "cost_by_epoch.parquet").symlink_to(outside)
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page("views/cost.py").run()
    assert not at.exception
    assert any("outside the runs root" in w for w in warnings(at))
    assert not at.get("plotly_chart")
