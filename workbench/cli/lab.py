"""``workbench lab``: JupyterLab on the notebooks, opening ``notebooks/*.py`` as notebooks (jupytext)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from workbench.errors import ConfigError

__all__ = ["register"]

log = logging.getLogger(__name__)


def _run(args: argparse.Namespace) -> int:
    from workbench.bundled import find_bundle
    from workbench.kernel import ensure_kernel
    from workbench.lab import copy_notebooks, default_folder, lab_command, lab_settings_dir

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    for module, extra in (("jupyterlab", "notebooks"), ("jupytext", "notebooks")):
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"{module} is not installed; install the {extra} extra: "
                              f"pip install 'ot-rematch-workbench[{extra}]'")
    bundle = find_bundle("notebooks")
    folder = Path(args.dir).expanduser().resolve() if args.dir else default_folder()
    if folder != bundle.path:
        copied, kept = copy_notebooks(folder)
        if copied:
            log.info("copied %d notebooks into %s", len(copied), folder)
        if kept:
            log.info("kept your versions of %s (they differ from the installed ones; delete a file to get "
                     "the installed one again)", ", ".join(kept))
    kernel = ensure_kernel(args.kernel)
    env = dict(os.environ)
    if not bundle.packaged:  # a checkout: notebooks share ./data with ./run.sh
        env.setdefault("WORKBENCH_DATA", str(bundle.path.parent / "data"))
    with tempfile.TemporaryDirectory(prefix="workbench-lab-settings-") as tmp:
        settings = lab_settings_dir(Path(tmp))
        command = lab_command(folder, settings, host=args.host, port=args.port, kernel=kernel.name,
                              browser=args.browser)
        log.info("JupyterLab on http://%s:%d/lab (notebooks: %s; kernel %s); the login URL with its token "
                 "follows; Ctrl-C stops it", args.host, args.port, folder, kernel.name)
        return _serve(command, env=env, cwd=folder)


def _serve(command: list[str], *, env: dict[str, str], cwd: Path) -> int:
    """Run the server until it exits; SIGTERM and Ctrl-C stop it (and its kernels) rather than orphan it."""
    proc = subprocess.Popen(command, env=env, cwd=cwd)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "lab", help="open the notebooks in JupyterLab (jupytext, the workbench kernel)",
        description="Start JupyterLab on the notebooks folder: the reproduction notebooks (table1 ... fig7, "
                    "uot_table) and the teaching notebooks (teach_*). Their .py files open as notebooks "
                    "(jupytext; outputs are kept in a paired .ipynb) with the 'workbench' kernel, which is "
                    "installed into this environment when missing. In a checkout the repository's "
                    "notebooks/ is served; an installed package copies its notebooks into --dir first.",
        epilog="example: workbench lab --port 8888")
    parser.add_argument("--dir", metavar="DIR",
                        help="folder to serve; the package's notebooks are copied into it (files already "
                             "there are kept). Default: the checkout's notebooks/, or for an installed "
                             "package $XDG_DATA_HOME/ot-rematch-workbench/notebooks")
    parser.add_argument("--port", type=int, default=8888, metavar="N", help="port to serve on (default 8888)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only)")
    parser.add_argument("--kernel", default="workbench", help="Jupyter kernel for new notebooks (default: workbench)")
    parser.add_argument("--browser", action="store_true", help="open a browser tab when the server starts")
    parser.set_defaults(func=_run)
