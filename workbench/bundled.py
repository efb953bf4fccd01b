"""Where the dashboard's source and the notebooks are: inside the installed package, or in a checkout.

A wheel carries the repository's ``app/`` and ``notebooks/`` folders as ``workbench/_app`` and
``workbench/_notebooks`` (setuptools' ``package-dir`` maps them into the package; see ``pyproject.toml``),
found at run time with :mod:`importlib.resources`. A source checkout (``pip install -e .``) has no such
copies: the same folders are the repository's own, beside ``workbench/``.

The library never imports what these folders hold; the command line serves or executes them.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ConfigError

__all__ = ["Bundle", "find_bundle", "app_entry", "notebooks_folder"]

_KINDS = {"app": "streamlit_app.py", "notebooks": "teach_partial_ot.py"}  # a file each copy must hold


@dataclass(frozen=True)
class Bundle:
    """A folder of the distribution: its ``path`` and whether it is the installed copy (``packaged``)
    or the repository's own folder (a checkout, where edits are the user's sources)."""

    path: Path
    packaged: bool


def find_bundle(kind: str) -> Bundle:
    """``app`` or ``notebooks``: the installed copy (``workbench/_<kind>``) or the checkout's folder.

    Raises :class:`ConfigError` naming both places when neither holds the folder.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    package = Path(str(importlib.resources.files("workbench")))
    packaged = package / f"_{kind}"
    if (packaged / _KINDS[kind]).is_file():
        return Bundle(packaged, True)
    checkout = package.parent / kind
    if (checkout / _KINDS[kind]).is_file():
        return Bundle(checkout, False)
    raise ConfigError(f"the {kind} folder is neither in the installed package ({packaged}) nor in a source "
                      f"checkout ({checkout}); reinstall the package (pip install ot-rematch-workbench) or "
                      "run from a clone of the repository")


def app_entry() -> Path:
    """The dashboard's entry script, ``<app folder>/streamlit_app.py``."""
    return find_bundle("app").path / _KINDS["app"]


def notebooks_folder() -> Path:
    """The folder of the jupytext notebooks (``fig4.py``, ``teach_sinkhorn.py``, ...)."""
    return find_bundle("notebooks").path
