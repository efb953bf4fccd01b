"""``workbench app``: serve the Streamlit dashboard over a runs folder.

The dashboard's source is the repository's ``app/`` folder, which an installed wheel carries inside the
package (:mod:`workbench.bundled`), so the command works from a checkout and from ``pip install
ot-rematch-workbench`` alike. The runs root reaches the app through the ``WORKBENCH_RUNS_DIR`` environment
variable and is fixed for the server's lifetime; with ``--allow-root-change`` (``WORKBENCH_APP_ROOT_EDITABLE=1``)
the page may switch it, which lets anyone using the app browse the host's folders. The command replaces itself
with the Streamlit server (``exec``), so a signal sent to it (SIGTERM, Ctrl-C) reaches the server and leaves no
child behind.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

from workbench.bundled import app_entry
from workbench.errors import ConfigError

__all__ = ["RUNS_ENV", "EDITABLE_ENV", "find_app", "streamlit_command", "register"]

RUNS_ENV = "WORKBENCH_RUNS_DIR"
EDITABLE_ENV = "WORKBENCH_APP_ROOT_EDITABLE"
log = logging.getLogger(__name__)


def find_app() -> Path:
    """The dashboard's ``streamlit_app.py`` (installed copy or checkout); :class:`ConfigError` when absent."""
    return app_entry()


def streamlit_command(entry: Path, *, host: str, port: int, headless: bool = True) -> list[str]:
    """The ``python -m streamlit run`` command line serving ``entry`` on ``host:port``."""
    return [sys.executable, "-m", "streamlit", "run", str(entry),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    runs = Path(args.runs).expanduser().resolve()
    if runs.exists() and not runs.is_dir():
        raise ConfigError(f"--runs {runs} is a file; expected the folder holding run directories")
    if not runs.exists():
        log.warning("runs folder %s does not exist yet; the dashboard will list runs once it does", runs)
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError("streamlit is not installed; install the app extra: pip install -e '.[app]'")
    entry = find_app()
    command = streamlit_command(entry, host=args.host, port=args.port, headless=not args.browser)
    log.info("dashboard on http://%s:%d (runs: %s%s); Ctrl-C stops it", args.host, args.port, runs,
             ", changeable in the page" if args.allow_root_change else "")
    env = {**os.environ, RUNS_ENV: str(runs), EDITABLE_ENV: "1" if args.allow_root_change else "0"}
    os.chdir(entry.parent.parent)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)  # the server takes this process over: signals reach it directly
    return 0  # not reached


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "app", help="serve the Streamlit dashboard over a runs folder",
        description="Serve the dashboard (runs, R@K vs the paper, transport cost, alignments, rematches, "
                    "sweeps, label track) over the run directories under --runs. It only reads that "
                    "folder and never imports torch.",
        epilog="example: workbench app --runs runs --port 8501",
    )
    parser.add_argument("--runs", default=os.environ.get(RUNS_ENV, "runs"), metavar="DIR",
                        help="folder holding run directories (default: $WORKBENCH_RUNS_DIR or ./runs)")
    parser.add_argument("--port", type=int, default=8501, metavar="N", help="port to serve on (default 8501)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it)")
    parser.add_argument("--browser", action="store_true", help="open a browser tab when the server starts")
    parser.add_argument("--allow-root-change", action="store_true",
                        help="let the page change the runs root (off by default: anyone using the app could "
                             "then browse any folder of this host)")
    parser.set_defaults(func=_run)
