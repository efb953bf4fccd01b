"""``workbench lab`` in a real headless Chromium: a teaching notebook opens as a notebook, runs, renders.

Starts ``python -m workbench lab`` on a copy of the notebooks (so the checkout gets no paired ``.ipynb``),
opens ``teach_partial_ot.py`` by its URL (the default viewer for ``.py`` must be Jupytext's notebook),
runs every cell from the Run menu in the ``workbench`` kernel, and checks that every code cell executed,
no error was shown, the DataFrames render as tables and the plotly figures as SVG; then saves and checks
that jupytext's pairing wrote the ``.ipynb`` beside the ``.py`` with those outputs. Screenshots go to
``$WORKBENCH_SCREENSHOTS`` or pytest's temporary directory (``lab_*.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pw = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[browser]')")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="needs Debian's chromium (apt-get install -y chromium)")]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TOKEN = "workbench-lab-test"
NOTEBOOK = "teach_partial_ot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``workbench lab`` on a fresh folder: (base URL, the folder it serves)."""
    work = tmp_path_factory.mktemp("lab")
    folder = work / "notebooks"
    port = free_port()
    env = {**os.environ, "JUPYTER_TOKEN": TOKEN, "WORKBENCH_DATA": str(work / "data"),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    command = [sys.executable, "-m", "workbench", "lab", "--dir", str(folder), "--port", str(port)]
    log = open(work / "lab.log", "wb")  # noqa: SIM115 - closed below, after the server
    proc = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 400
        while True:
            if proc.poll() is not None:
                pytest.fail(f"workbench lab exited: {(work / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 400 s: {(work / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, folder
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def test_lab_serves_the_notebooks_with_jupytext_and_the_workbench_kernel(lab):
    url, folder = lab
    assert (folder / f"{NOTEBOOK}.py").is_file() and (folder / "jupytext.toml").is_file()
    model = _get(f"{url}/api/contents/{NOTEBOOK}.py?type=notebook&token={TOKEN}")
    assert model["type"] == "notebook" and model["content"]["metadata"]["kernelspec"]["name"] == "workbench"
    specs = _get(f"{url}/api/kernelspecs?token={TOKEN}")
    assert specs["default"] == "workbench" and "workbench" in specs["kernelspecs"]
    viewers = _get(f"{url}/lab/api/settings/@jupyterlab/docmanager-extension:plugin?token={TOKEN}")
    assert viewers["schema"]["properties"]["defaultViewers"]["default"] == {"python": "Jupytext Notebook"}


def test_teaching_notebook_runs_and_renders_in_chromium(lab, shots):
    url, folder = lab
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/lab/tree/{NOTEBOOK}.py?token={TOKEN}")
            # the .py opens as a notebook (not in the text editor) and its kernel starts
            page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
            pw.expect(page.locator(".jp-NotebookPanel .jp-KernelName").first).to_have_text(
                "Python (workbench)", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.wait_for_function(
                """() => { const prompts = [...document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
                    .map(e => e.textContent.trim());
                  return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t)); }""",
                timeout=300_000)
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            n_code = panel.locator(".jp-CodeCell").count()
            assert panel.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            assert panel.locator(".jp-RenderedHTMLCommon table.dataframe").count() >= 3
            plots = panel.locator(".js-plotly-plot")
            pw.expect(plots.first.locator(".main-svg").first).to_be_visible(timeout=60_000)
            n_plots = plots.count()
            assert n_plots >= 2
            assert panel.locator(".js-plotly-plot .scatterlayer .trace").count() >= n_plots
            plots.first.scroll_into_view_if_needed()
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "lab_figure.png"))
            page.keyboard.press("Control+s")
            paired = folder / f"{NOTEBOOK}.ipynb"
            deadline = time.monotonic() + 60
            while not paired.exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            page.screenshot(path=str(shots / "lab_saved.png"))
        finally:
            browser.close()
    assert paired.exists(), "saving did not write the paired .ipynb (jupytext.toml pairing)"
    saved = json.loads(paired.read_text(encoding="utf-8"))
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert len(code) == n_code and all(c["execution_count"] for c in code)
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == n_plots
    assert (shots / "lab_figure.png").stat().st_size > 10_000
