"""The dashboard never imports torch (nor POT): every page is rendered by AppTest in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = ("runs", "tables", "cost", "alignments", "rematches", "sweeps", "labels")

SCRIPT = """
import json, sys
from streamlit.testing.v1 import AppTest
import workbench.reference, workbench.runs, workbench.viz
at = AppTest.from_file(sys.argv[1], default_timeout=60)
problems, figures = [], 0
for page in sys.argv[2:]:
    at.switch_page(f"views/{page}.py").run()
    problems += [e.value for e in at.exception]
    figures += len(at.get("plotly_chart"))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "ot", "torchvision"))
print(json.dumps({"heavy": heavy, "problems": problems, "figures": figures}))
"""


def test_no_page_imports_torch(fixture_runs):
    root = str(fixture_runs.root)
    env = {"WORKBENCH_RUNS_DIR": root, "PATH": "/usr/bin:/bin", "HOME": root}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "app" / "streamlit_app.py"), *PAGES],
                          capture_output=True, text=True, timeout=240, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert report["figures"] >= 10  # the pages really drew their figures (and loaded the artefacts)
    assert report["heavy"] == []
