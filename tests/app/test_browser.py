"""The dashboard in a real headless Chromium (Playwright + Debian's ``/usr/bin/chromium``).

Serves the app on 127.0.0.1 over the fixture runs, visits every page through the sidebar navigation
(one browser session, so the comparison picked on the Runs page carries over), waits for the rendered
content (plotly SVG, data grids), checks no page shows an exception, and saves a full-page screenshot
of each page as ``<page>.png`` in ``$WORKBENCH_SCREENSHOTS`` or, by default, a ``screenshots`` folder
under pytest's temporary directory (the path is printed). With ``WORKBENCH_BROWSER_RUNS`` set to a runs root
(``./runs`` after ``./run.sh``), a second test visits every page over those runs, checks that each shows
tables or figures and no "No ..." note, and saves ``main-job/<page>.png``.
"""

from __future__ import annotations

import contextlib
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

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# (sidebar label, screenshot name, title, plotly charts the page draws with the fixture runs)
PAGES = [("Runs", "runs", "Runs", 1), ("R@K tables", "tables", "R@K tables", 0),
         ("Transport cost", "cost", "Transport cost", 3), ("Alignments", "alignments", "Alignments", 2),
         ("Rematches", "rematches", "Rematches", 2), ("Sweeps", "sweeps", "Sweeps", 1),
         ("Label track", "labels", "Label track", 2), ("Run config", "config", "Run config", 0)]
#: a runs root to check page by page (e.g. ./runs after ./run.sh): every page must show content, no empty note
MAIN_JOB_RUNS = os.environ.get("WORKBENCH_BROWSER_RUNS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(fixture_runs) -> Iterator[str]:
    with _serve(fixture_runs.root) as url:
        yield url


@contextlib.contextmanager
def _serve(root: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py"),
               "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    env = {**os.environ, "WORKBENCH_RUNS_DIR": str(root)}
    proc = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("streamlit did not become healthy within 60 s")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine can be slow to shut streamlit down
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page() -> Iterator[object]:
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def test_every_page_renders_in_chromium(server, page, shots, fixture_runs):
    page.goto(server)
    pw.expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible(timeout=60_000)
    page.wait_for_selector('[data-testid="stDataFrame"] canvas', timeout=30_000)
    # pick two runs to compare: the Runs page then draws their validation curves
    combo = page.get_by_role("combobox", name="Runs to compare (used by the other pages)")
    for role in ("f30k", "syn/l2rm/0.8/0"):
        combo.click()
        combo.fill(fixture_runs.ids[role])
        page.keyboard.press("Enter")
        page.wait_for_timeout(400)
    page.keyboard.press("Escape")
    saved = []
    for label, name, title, charts in PAGES:
        if name != "runs":
            page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
        pw.expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
        if charts:
            pw.expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(
                timeout=60_000)
            page.wait_for_function(
                f"document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length >= {charts}",
                timeout=60_000)
        else:
            page.wait_for_selector('[data-testid="stDataFrame"] canvas', timeout=30_000)
        page.wait_for_timeout(800)  # let plotly finish its transitions before the screenshot
        assert page.locator('[data-testid="stException"]').count() == 0, name
        # Streamlit scrolls inside its main container, so grow the viewport to the content for a full page
        height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": max(900, int(height))})
        page.wait_for_timeout(500)
        path = shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 900})
        saved.append(path)
    assert all(p.stat().st_size > 10_000 for p in saved)
    print("saved:", ", ".join(p.name for p in saved))


@pytest.mark.skipif(not MAIN_JOB_RUNS, reason="set WORKBENCH_BROWSER_RUNS to a runs root, e.g. ./runs after ./run.sh")
def test_the_main_job_fills_every_page(page, shots):
    """After ``./run.sh``: every page shows tables or figures and none of the empty-state notes."""
    shots = shots / "main-job"
    shots.mkdir(exist_ok=True)
    with _serve(Path(MAIN_JOB_RUNS)) as url:
        page.goto(url)
        pw.expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible(timeout=60_000)
        for label, name, title, _charts in PAGES:
            if name != "runs":
                page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
            pw.expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
            content = page.locator('[data-testid="stPlotlyChart"] .main-svg, [data-testid="stDataFrame"] canvas')
            pw.expect(content.first).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1500)
            notes = page.locator('[data-testid="stAlert"]').all_inner_texts()
            assert not [n for n in notes if n.strip().startswith("No ")], (name, notes)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": 1400, "height": max(900, int(height))})
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            page.set_viewport_size({"width": 1400, "height": 900})
    print("main-job screenshots:", shots)
