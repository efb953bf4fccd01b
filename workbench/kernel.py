"""The Jupyter kernel the notebooks name (``workbench``): find it, or install it for this interpreter.

Every notebook's metadata names the kernel ``workbench``; ``workbench reproduce`` executes notebooks in it
and ``workbench lab`` opens them with it. ``scripts/bootstrap.sh`` installs it into the project's venv; a
package installed with pip has none until :func:`ensure_kernel` writes one into ``sys.prefix`` (the
environment the package lives in), running this interpreter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ConfigError

__all__ = ["KERNEL_NAME", "KernelInfo", "ensure_kernel"]

KERNEL_NAME = "workbench"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KernelInfo:
    """A kernel spec: its ``name``, the folder holding ``kernel.json``, the Python it starts, and whether
    :func:`ensure_kernel` just installed it."""

    name: str
    resource_dir: Path
    python: str
    installed: bool


def _lookup(name: str) -> KernelInfo | None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return None
    return KernelInfo(name, Path(spec.resource_dir), spec.argv[0] if spec.argv else "", False)


def ensure_kernel(name: str = KERNEL_NAME) -> KernelInfo:
    """The kernel spec ``name``; installed into ``sys.prefix`` for this interpreter when none exists.

    A spec of that name that starts another Python is kept (the user chose it) and logged as a warning,
    since the notebooks then run in that environment.

    Raises:
        ConfigError: ``jupyter_client``/``ipykernel`` are missing (the ``notebooks`` extra), or the
            installation failed.
    """
    try:
        import ipykernel  # noqa: F401
        import jupyter_client  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the Jupyter kernel needs the notebooks extra ({exc.name} is missing): "
                          "pip install 'ot-rematch-workbench[notebooks]'") from None
    found = _lookup(name)
    if found is not None:
        python = Path(found.python)
        if python.is_absolute() and python.resolve() != Path(sys.executable).resolve():
            log.warning("kernel %r (%s) runs %s, not this interpreter %s; notebooks execute in that "
                        "environment", name, found.resource_dir, found.python, sys.executable)
        return found
    command = [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name,
               "--display-name", f"Python ({name})"]
    done = subprocess.run(command, capture_output=True, text=True)
    installed = _lookup(name)
    if done.returncode != 0 or installed is None:
        raise ConfigError(f"could not install the Jupyter kernel {name!r} into {sys.prefix}: "
                          f"{(done.stderr or done.stdout).strip()[-500:]}")
    log.info("installed the Jupyter kernel %r into %s", name, installed.resource_dir)
    return KernelInfo(name, installed.resource_dir, installed.python, True)
