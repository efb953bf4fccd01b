"""Fixtures of the notebook tests: the Jupyter kernel, a private data root, smoke settings, an executor.

Notebooks run through papermill exactly as ``workbench reproduce`` runs them: a jupytext ``.py`` read into a
notebook, executed with injected parameters in a kernel named ``workbench`` (installed into this interpreter's
prefix when missing, so ``./test.sh`` works on a fresh venv).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the test modules import nb_smoke by plain name
    sys.path.insert(0, str(HERE))

from nb_smoke import KERNEL, NOTEBOOKS  # noqa: E402


@pytest.fixture(scope="session")
def kernel() -> str:
    """The ``workbench`` kernel, installed into ``sys.prefix`` if absent; it must run this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(KERNEL)
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL,
                        "--display-name", "Python (workbench)"], check=True, capture_output=True)
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    python = Path(spec.argv[0])
    if python.is_absolute() and python.resolve() != Path(sys.executable).resolve():
        pytest.fail(f"kernel {KERNEL!r} ({spec.resource_dir}) runs {python}, not this interpreter "
                    f"{sys.executable}; reinstall it: {sys.executable} -m ipykernel install --sys-prefix "
                    f"--name {KERNEL}")
    return KERNEL


@pytest.fixture(scope="session", autouse=True)
def _data_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private ``$WORKBENCH_DATA`` (the synthetic set is generated there once), inherited by the kernels."""
    root = tmp_path_factory.mktemp("data")
    before = os.environ.get("WORKBENCH_DATA")
    os.environ["WORKBENCH_DATA"] = str(root)
    yield root
    if before is None:
        os.environ.pop("WORKBENCH_DATA", None)
    else:
        os.environ["WORKBENCH_DATA"] = before


@pytest.fixture(scope="session")
def single_thread() -> None:
    """Runs trained in this process use one torch thread (the smoke overrides set it; this is for safety)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def execute(kernel: str) -> Callable[..., Any]:
    """``execute(name, out_dir, parameters)``: run ``notebooks/<name>.py`` into ``out_dir/notebook.ipynb``.

    Returns the executed notebook (``nbformat`` node); a failing cell raises ``PapermillExecutionError``.
    """
    import jupytext
    import nbformat
    import papermill as pm

    def run(name: str, out_dir: Path, parameters: dict[str, Any]) -> Any:
        out_dir.mkdir(parents=True, exist_ok=True)  # papermill does not create the output folder
        output = out_dir / "notebook.ipynb"
        pm.execute_notebook(jupytext.read(NOTEBOOKS / f"{name}.py"), str(output), parameters=parameters,
                            kernel_name=kernel, cwd=str(out_dir), progress_bar=False, log_output=False)
        return nbformat.read(output, as_version=4)

    return run
