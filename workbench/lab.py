"""JupyterLab on the notebooks: the folder it serves, its settings, and its command line.

``workbench lab`` serves the jupytext notebooks (``notebooks/*.py``, percent format) so that they open
and save as notebooks:

* the Jupytext contents manager (installed with ``jupytext``) reads ``notebooks/jupytext.toml``, which
  pairs each ``.py`` with an ``.ipynb`` that keeps the outputs;
* a settings override makes a double click on a ``.py`` open it with the *Jupytext Notebook* viewer
  (JupyterLab's ``defaultViewers``) and turns off the news pop-up; it is passed through a private copy of JupyterLab's application
  settings folder (:func:`lab_settings_dir`), so nothing in the user's or the environment's settings
  changes;
* new notebooks use the ``workbench`` kernel (:func:`workbench.kernel.ensure_kernel` installs it when the
  environment has none); the server binds 127.0.0.1 unless told otherwise.

In a checkout the served folder is the repository's ``notebooks/`` (edits are edits of the sources). An
installed package's notebooks are a read-only part of the installation, so they are copied into a folder
of the user's (:func:`copy_notebooks`) and that copy is served.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

from workbench.bundled import find_bundle
from workbench.errors import ConfigError

__all__ = ["LAB_OVERRIDES", "default_folder", "copy_notebooks", "lab_settings_dir", "lab_command"]

log = logging.getLogger(__name__)

#: JupyterLab setting overrides: ``.py`` files (the notebooks) open as notebooks through Jupytext; no
#: news pop-up (it asks to fetch news from the internet)
LAB_OVERRIDES = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
}
_OVERRIDE_FILE = "ot-rematch-workbench.json"


def default_folder() -> Path:
    """The folder ``workbench lab`` serves by default: the checkout's ``notebooks/``, or (installed
    package) ``$XDG_DATA_HOME/ot-rematch-workbench/notebooks`` (``~/.local/share/...``)."""
    bundle = find_bundle("notebooks")
    if not bundle.packaged:
        return bundle.path
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ot-rematch-workbench" / "notebooks"


def copy_notebooks(folder: Path) -> tuple[list[str], list[str]]:
    """Copy the package's notebooks (and ``jupytext.toml``) into ``folder``, keeping files already there.

    Returns ``(copied, kept_changed)``: names written now, and names left alone although they differ from
    the installed version (the user's edits, or an older release's notebooks).
    """
    source = find_bundle("notebooks").path
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--dir {folder} is a file; expected a folder for the notebooks")
    folder.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for path in sorted([*source.glob("*.py"), source / "jupytext.toml"]):
        if not path.is_file() or path.name.startswith("_"):
            continue
        target = folder / path.name
        if not target.exists():
            shutil.copyfile(path, target)
            copied.append(path.name)
        elif target.read_bytes() != path.read_bytes():
            kept.append(path.name)
    return copied, kept


def lab_settings_dir(folder: Path) -> Path:
    """A JupyterLab application-settings folder in ``folder``: a copy of the environment's own (if any)
    plus ``overrides.d/ot-rematch-workbench.json`` holding :data:`LAB_OVERRIDES`."""
    from jupyterlab.commands import get_app_dir

    folder = Path(folder)
    original = Path(get_app_dir()) / "settings"
    if original.is_dir():
        shutil.copytree(original, folder, dirs_exist_ok=True)
    (folder / "overrides.d").mkdir(parents=True, exist_ok=True)
    (folder / "overrides.d" / _OVERRIDE_FILE).write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n",
                                                         encoding="utf-8")
    return folder


def lab_command(folder: Path, settings: Path, *, host: str, port: int, kernel: str,
                browser: bool = False) -> list[str]:
    """The ``python -m jupyterlab`` command serving ``folder`` on ``host:port`` with those settings.

    As root (containers, CI) Jupyter refuses to start unless allowed; the command allows it then, since
    the server still requires its token.
    """
    command = [sys.executable, "-m", "jupyterlab",
               f"--ServerApp.root_dir={folder}", f"--ServerApp.ip={host}", f"--ServerApp.port={port}",
               f"--ServerApp.open_browser={browser}", f"--LabApp.app_settings_dir={settings}",
               f"--MappingKernelManager.default_kernel_name={kernel}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    return command
