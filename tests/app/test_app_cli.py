"""``workbench app``: help, argument errors, the missing-source error, the command it runs, a real start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from workbench.cli import app as app_cli
from workbench.cli import main
from workbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_help_names_every_option(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["app", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for option in ("--runs", "--port", "--host", "--browser", "WORKBENCH_RUNS_DIR", "127.0.0.1"):
        assert option in out


@pytest.mark.parametrize(("argv", "message"), [
    (["app", "--port", "0"], "--port must be in 1..65535"),
    (["app", "--port", "70000"], "--port must be in 1..65535"),
])
def test_bad_port_is_a_one_line_error(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_runs_pointing_at_a_file_is_an_error(tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text("{}")
    assert main(["app", "--runs", str(path)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_missing_source_tree_is_a_clear_error(tmp_path, monkeypatch, capsys):
    assert app_cli.find_app() == REPO / "app" / "streamlit_app.py"  # a checkout: the repository's app/
    import workbench.bundled as bundled

    (tmp_path / "workbench").mkdir()  # a package with neither _app/ inside nor app/ beside it
    monkeypatch.setattr(bundled.importlib.resources, "files", lambda name: tmp_path / "workbench")
    with pytest.raises(ConfigError, match="neither in the installed package"):
        app_cli.find_app()
    assert main(["app", "--runs", str(tmp_path)]) == 2
    assert "the app folder is neither" in capsys.readouterr().err


def test_execs_streamlit_with_the_runs_root_in_the_environment(tmp_path, monkeypatch):
    seen = {}

    def fake_exec(path, command, env):
        seen.update(path=path, command=command, env=env, cwd=os.getcwd())
        return 0

    monkeypatch.setattr(app_cli.os, "execve", fake_exec)
    monkeypatch.chdir(tmp_path)
    assert main(["app", "--runs", "myruns", "--port", "8765", "--host", "127.0.0.1"]) == 0
    command = seen["command"]
    assert seen["path"] == sys.executable
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py")]
    pairs = dict(zip(command[5::2], command[6::2], strict=True))
    assert pairs["--server.port"] == "8765" and pairs["--server.address"] == "127.0.0.1"
    assert pairs["--server.headless"] == "true" and pairs["--browser.gatherUsageStats"] == "false"
    assert seen["env"]["WORKBENCH_RUNS_DIR"] == str(tmp_path / "myruns")
    assert seen["env"]["WORKBENCH_APP_ROOT_EDITABLE"] == "0"  # the page may not change the root
    assert seen["cwd"] == str(REPO)


def test_allow_root_change_is_an_explicit_opt_in(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(app_cli.os, "execve", lambda path, command, env: seen.update(env=env))
    monkeypatch.chdir(tmp_path)
    assert main(["app", "--runs", str(tmp_path), "--allow-root-change"]) == 0
    assert seen["env"]["WORKBENCH_APP_ROOT_EDITABLE"] == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 60.0) -> None:
    """Poll the Streamlit health endpoint until it answers ``ok``; fail with the server's stderr if it exits."""
    deadline, body = time.monotonic() + timeout, b""
    while time.monotonic() < deadline and body != b"ok":
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                body = resp.read().strip()
        except OSError:
            time.sleep(0.3)
    assert body == b"ok"


@pytest.mark.slow
def test_the_command_serves_the_dashboard(fixture_runs):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "app", "--runs", str(fixture_runs.root),
                             "--port", str(port)], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_healthy(proc, port)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the command and the streamlit server it started
        proc.wait(timeout=20)


@pytest.mark.slow
def test_sigterm_to_the_command_stops_the_server_and_leaves_no_child(tmp_path):
    """`workbench app` execs Streamlit: the pid it was started as is the server, so SIGTERM reaches it, and
    nothing of the session (which the command leads) is left running afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "app", "--runs", str(tmp_path), "--port", str(port)],
                            cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_healthy(proc, port)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"streamlit" in cmdline  # the command's own process became the server (exec)
        proc.send_signal(signal.SIGTERM)  # to that one process only, not to its group
        assert proc.wait(timeout=30) is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)  # anything left in the session the command started?
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("processes of `workbench app` outlived SIGTERM")
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
