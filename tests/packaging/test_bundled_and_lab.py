"""Where the app and notebooks are found, the package list, the kernel, and ``workbench lab``'s parts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import workbench.bundled as bundled
from workbench import lab
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.kernel import ensure_kernel

REPO = Path(__file__).resolve().parents[2]


def _toml(path: Path) -> dict:
    tomllib = pytest.importorskip("tomllib", reason="reading TOML needs Python 3.11+")
    return tomllib.loads(path.read_text())


def _fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "site" / "workbench"
    package.mkdir(parents=True)
    monkeypatch.setattr(bundled.importlib.resources, "files", lambda name: package)
    return package


def test_a_checkout_uses_the_repository_folders() -> None:
    assert bundled.find_bundle("app") == bundled.Bundle(REPO / "app", False)
    assert bundled.find_bundle("notebooks") == bundled.Bundle(REPO / "notebooks", False)
    assert bundled.app_entry() == REPO / "app" / "streamlit_app.py"


def test_an_installed_package_uses_its_own_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _fake_package(tmp_path, monkeypatch)
    (package / "_app").mkdir()
    (package / "_app" / "streamlit_app.py").write_text("")
    (package / "_notebooks").mkdir()
    (package / "_notebooks" / "teach_partial_ot.py").write_text("")
    assert bundled.find_bundle("app") == bundled.Bundle(package / "_app", True)
    assert bundled.notebooks_folder() == package / "_notebooks"


def test_neither_place_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _fake_package(tmp_path, monkeypatch)
    with pytest.raises(ConfigError, match=rf"notebooks folder is neither in the installed package \({package}"):
        bundled.find_bundle("notebooks")
    with pytest.raises(ValueError, match="kind must be one of"):
        bundled.find_bundle("docs")


def test_pyproject_lists_every_package_and_maps_app_and_notebooks() -> None:
    conf = _toml(REPO / "pyproject.toml")["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "workbench").rglob("__init__.py")}
    on_disk.add("workbench.reference_data")  # data only, a namespace package in the wheel
    listed = set(conf["packages"])
    assert listed - on_disk == {"workbench._app", "workbench._app.views", "workbench._notebooks"}
    assert on_disk <= listed, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages"
    assert conf["package-dir"] == {"workbench._app": "app", "workbench._notebooks": "notebooks"}
    assert not list((REPO / "notebooks").glob("__init__.py"))  # notebooks stay files, not modules


def test_notebooks_pair_with_ipynb() -> None:
    config = _toml(REPO / "notebooks" / "jupytext.toml")
    assert config["formats"] == "ipynb,py:percent"
    for path in (REPO / "notebooks").glob("*.py"):
        assert "#     formats: ipynb,py:percent\n" in path.read_text(), path.name


def test_the_existing_kernel_is_found_not_reinstalled() -> None:
    info = ensure_kernel("workbench")  # scripts/bootstrap.sh installed it into this venv
    assert not info.installed and (info.resource_dir / "kernel.json").is_file()
    assert Path(info.python).resolve() == Path(sys.executable).resolve()


def test_copy_notebooks_keeps_the_users_files(tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    copied, kept = lab.copy_notebooks(folder)
    assert "teach_sinkhorn.py" in copied and "jupytext.toml" in copied and kept == []
    assert (folder / "fig6.py").read_text() == (REPO / "notebooks" / "fig6.py").read_text()
    (folder / "fig6.py").write_text("# my edits\n")
    (folder / "teach_masking.py").unlink()
    copied, kept = lab.copy_notebooks(folder)
    assert copied == ["teach_masking.py"] and kept == ["fig6.py"]
    assert (folder / "fig6.py").read_text() == "# my edits\n"
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        lab.copy_notebooks(tmp_path / "file")


def test_settings_folder_adds_the_viewer_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jupyterlab.commands

    app_dir = tmp_path / "app"
    (app_dir / "settings").mkdir(parents=True)
    (app_dir / "settings" / "overrides.json").write_text('{"x": 1}')  # the environment's own: kept
    monkeypatch.setattr(jupyterlab.commands, "get_app_dir", lambda: str(app_dir))
    settings = lab.lab_settings_dir(tmp_path / "settings")
    assert json.loads((settings / "overrides.json").read_text()) == {"x": 1}
    override = json.loads((settings / "overrides.d" / "ot-rematch-workbench.json").read_text())
    assert override["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"] == {"python": "Jupytext Notebook"}
    assert not (app_dir / "settings" / "overrides.d").exists()  # the environment is left alone


def test_lab_command_binds_the_loopback_with_the_workbench_kernel(tmp_path: Path) -> None:
    command = lab.lab_command(tmp_path / "nb", tmp_path / "s", host="127.0.0.1", port=8899, kernel="workbench")
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    options = dict(item.split("=", 1) for item in command[3:])
    assert options["--ServerApp.ip"] == "127.0.0.1" and options["--ServerApp.port"] == "8899"
    assert options["--ServerApp.root_dir"] == str(tmp_path / "nb")
    assert options["--LabApp.app_settings_dir"] == str(tmp_path / "s")
    assert options["--MappingKernelManager.default_kernel_name"] == "workbench"
    assert options["--ServerApp.open_browser"] == "False"


def test_lab_cli_checks_its_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--port", "0"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert main(["lab", "--dir", str(tmp_path / "f")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_lab_cli_runs_jupyterlab_on_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli import lab as lab_cli

    seen = {}

    def fake_serve(command, env, cwd):
        settings = Path(dict(i.split("=", 1) for i in command[3:])["--LabApp.app_settings_dir"])
        seen.update(command=command, env=env, cwd=cwd,
                    override=(settings / "overrides.d" / "ot-rematch-workbench.json").is_file())
        return 0

    monkeypatch.setattr(lab_cli, "_serve", fake_serve)
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    assert main(["lab", "--dir", str(tmp_path / "nb"), "--port", "8899"]) == 0
    assert seen["cwd"] == (tmp_path / "nb").resolve() and (tmp_path / "nb" / "teach_sinkhorn.py").is_file()
    assert seen["override"] and f"--ServerApp.root_dir={(tmp_path / 'nb').resolve()}" in seen["command"]
    assert seen["env"]["WORKBENCH_DATA"] == str(REPO / "data")  # a checkout shares ./data with run.sh
