"""The built wheel, installed offline into a fresh venv, runs ``app``, ``reproduce`` and ``lab`` from elsewhere.

Offline installation: the wheel is built from a copy of the sources with ``pip wheel --no-build-isolation``
(setuptools from this venv), then installed with ``pip --python NEW install --no-index --no-deps`` into a
new venv made ``--without-pip`` (so it has no packages of its own to shadow ours) whose only link to this
one is a ``.pth`` line appending this venv's ``site-packages`` to ``sys.path`` (and links to the Jupyter data
files those packages installed into this prefix, kernels excepted): the
dependencies (torch, streamlit, jupyterlab, ...) come from there, after the fresh venv's own packages, while
the editable install of the checkout stays inactive (its ``.pth`` import hook is not processed through a
plain path line). ``pip check`` confirms the wheel's declared requirements are met. Every command runs in
a temporary folder outside the checkout, with private Jupyter data folders, so the kernel the commands need
is the one they install themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "workbench", "app", "notebooks")
SMOKE = ("size=tiny", "warmup_epochs=1", "epochs=1", "embed_size=64", "word_dim=32", "sim_dim=32",
         "train_images=100", "val_images=50", "threads=1")
TOKEN = "workbench-wheel-test"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]  # this venv's pip, aimed at the fresh one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


class Installed:
    """A fresh venv holding the wheel: its python, its ``workbench`` script, and a private environment."""

    def __init__(self, root: Path, venv: Path, wheel: Path) -> None:
        self.root, self.venv, self.wheel = root, venv, wheel
        self.python = venv / "bin" / "python"
        self.workbench = venv / "bin" / "workbench"
        self.work = root / "elsewhere"  # every command runs here, outside the checkout
        self.work.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "PYTHON"))}
        self.env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                        JUPYTER_DATA_DIR=str(root / "jupyter-data"), JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
                        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"), XDG_DATA_HOME=str(root / "xdg"),
                        WORKBENCH_DATA=str(root / "data"), TQDM_DISABLE="1", JUPYTER_TOKEN=TOKEN)

    def python_code(self, code: str, timeout: float = 300) -> str:
        return run([str(self.python), "-c", code], cwd=self.work, env=self.env, timeout=timeout).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.ipynb", ".ipynb_checkpoints")
    for name in SOURCES:
        path = REPO / name
        if name == "notebooks":  # the sources only, not what running them in place left behind
            (source / name).mkdir()
            for item in [*path.glob("*.py"), path / "jupytext.toml"]:
                shutil.copy2(item, source / name / item.name)
        elif path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    env = dict(os.environ)
    run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(root / "dist"), str(source)], cwd=root, env=env)
    (wheel,) = (root / "dist").glob("ot_rematch_workbench-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=env)  # no own pip, setuptools
    purelib = Path(run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                       cwd=root, env=env).stdout.strip())
    (purelib / "workbench_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # the data files installing the dependencies would have put into the prefix: Jupyter server extension
    # switches (etc/jupyter) and JupyterLab's assets and extensions (share/jupyter), but no kernel
    prefix = Path(sys.prefix)
    (venv / "share" / "jupyter").mkdir(parents=True)
    (venv / "etc").mkdir()
    (venv / "etc" / "jupyter").symlink_to(prefix / "etc" / "jupyter", target_is_directory=True)
    for item in (prefix / "share" / "jupyter").iterdir():
        if item.name != "kernels":
            (venv / "share" / "jupyter" / item.name).symlink_to(item, target_is_directory=item.is_dir())
    run([*PIP, "--python", str(venv / "bin" / "python"), "install", "--no-index", "--no-deps", "-q", str(wheel)],
        cwd=root, env=env)
    return Installed(root, venv, wheel)


def test_wheel_carries_the_app_and_the_notebooks(installed: Installed) -> None:
    import zipfile

    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for needed in ("workbench/_app/streamlit_app.py", "workbench/_app/views/runs.py",
                   "workbench/_notebooks/fig6.py", "workbench/_notebooks/teach_sinkhorn.py",
                   "workbench/_notebooks/jupytext.toml", "workbench/reference_data/l2rm_retrieval_tables.csv",
                   "workbench/data/registry.json"):
        assert needed in names, needed
    assert not [n for n in names if n.endswith(".ipynb") or "__pycache__" in n]
    out = installed.python_code(
        "import json, workbench, importlib.metadata as md\n"
        "from workbench.bundled import find_bundle\n"
        "print(json.dumps({'file': workbench.__file__, 'dist': md.version('ot-rematch-workbench'),\n"
        "  'app': [str(find_bundle('app').path), find_bundle('app').packaged],\n"
        "  'notebooks': [str(find_bundle('notebooks').path), find_bundle('notebooks').packaged]}))")
    facts = json.loads(out)
    site = str(installed.venv)
    assert facts["file"].startswith(site) and facts["dist"] == "0.1.0"
    assert facts["app"][0].startswith(site) and facts["app"][1] is True
    assert facts["notebooks"][0].startswith(site) and facts["notebooks"][1] is True
    run([*PIP, "--python", str(installed.python), "check"], cwd=installed.work, env=installed.env)


def test_reproduce_fig6_installs_the_kernel_and_runs_outside_the_checkout(installed: Installed) -> None:
    runs = installed.work / "runs"
    command = [str(installed.workbench), "reproduce", "fig6", "--preset", "cpu", "--run-root", str(runs)]
    for item in SMOKE:
        command += ["--set", item]
    done = run(command, cwd=installed.work, env=installed.env, timeout=900)
    assert "installed the Jupyter kernel 'workbench'" in done.stderr
    spec = json.loads((installed.venv / "share/jupyter/kernels/workbench/kernel.json").read_text())
    assert Path(spec["argv"][0]) == installed.python
    setting = runs / "fig6" / "l2rm-vse-m0.8"
    assert (runs / "fig6" / "table.csv").is_file() and (setting / "results.json").is_file()
    notebook = json.loads((setting / "notebook.ipynb").read_text())
    assert notebook["metadata"]["papermill"]["exception"] in (None, False)
    assert json.loads((setting / "run.json").read_text())["status"] == "done"


@contextlib.contextmanager
def serving(command: list[str], installed: Installed, url: str, *, ready: str,
            timeout: float = 480) -> Iterator[None]:
    """Start a server command, wait until ``url + ready`` answers 200, stop its process group at exit."""
    log = installed.root / f"serve-{int(time.time() * 1000)}.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, cwd=installed.work, env=installed.env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    with urllib.request.urlopen(f"{url}{ready}", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"no answer within {timeout} s:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
            yield
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_app_serves_the_installed_dashboard(installed: Installed) -> None:
    runs = installed.work / "runs"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([str(installed.workbench), "app", "--runs", str(runs), "--port", str(port)], installed, url,
                 ready="/_stcore/health"):
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as resp:
            assert resp.read().strip() == b"ok"
    # the installed pages themselves render over the runs (Streamlit's AppTest, in the fresh venv)
    out = installed.python_code(
        "import os\n"
        f"os.environ['WORKBENCH_RUNS_DIR'] = {str(runs)!r}\n"
        "from streamlit.testing.v1 import AppTest\n"
        "from workbench.bundled import app_entry\n"
        "at = AppTest.from_file(str(app_entry()), default_timeout=120).run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "print([t.value for t in at.title], len(at.dataframe))", timeout=300)
    assert "['Runs']" in out


def test_lab_serves_a_copy_of_the_notebooks(installed: Installed) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = installed.root / "xdg" / "ot-rematch-workbench" / "notebooks"
    with serving([str(installed.workbench), "lab", "--port", str(port)], installed, url, ready="/api"):
        with urllib.request.urlopen(f"{url}/api/contents/teach_sinkhorn.py?type=notebook&token={TOKEN}",
                                    timeout=30) as resp:
            model = json.load(resp)
        assert model["type"] == "notebook" and len(model["content"]["cells"]) > 5
    assert (folder / "teach_sinkhorn.py").is_file() and (folder / "jupytext.toml").is_file()
