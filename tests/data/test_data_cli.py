"""The ``data`` and ``noise`` command contracts, run through ``workbench.cli.main``."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.data.registry import dataset_names


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1, "noise check prints exactly one JSON object"
    return json.loads(lines[0])


def test_acceptance_fetch_then_check_equal(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(mirror))
    code, out, _ = _run(capsys, "data", "fetch", "f30k-noise", "--root", str(tmp_path))
    assert code == 0
    landed = [Path(line) for line in out.splitlines()]
    assert len(landed) == 9 and all(p.is_file() for p in landed)
    image = next(p for p in landed if p.name == "noise_inx_0.6.npy")
    caption = next(p for p in landed if p.name == "f30k_precomp_0.6.npy")
    summary = _json(capsys, "noise", "check", str(image), "--against", str(caption))
    assert list(summary) == ["n", "moved", "fraction", "level", "equal"]
    expected_moved = int((np.load(image) != np.arange(29000)).sum())
    assert summary == {
        "n": 29000,
        "moved": expected_moved,
        "fraction": expected_moved / 29000,
        "level": "image",
        "equal": True,
    }
    other = next(p for p in landed if p.name == "f30k_precomp_0.4.npy")
    assert _json(capsys, "noise", "check", str(image), "--against", str(other))["equal"] is False
    assert _json(capsys, "noise", "check", str(caption))["level"] == "caption"


@pytest.mark.parametrize("protocol", ["image", "caption"])
def test_make_then_check_reports_the_requested_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], protocol: str
) -> None:
    out_file = tmp_path / "noise.npy"
    code, out, _ = _run(
        capsys, "noise", "make", "--dataset", "f30k", "--protocol", protocol, "--mrate", "0.6",
        "--seed", "3", "--out", str(out_file),
    )  # fmt: skip
    assert code == 0 and out.strip() == str(out_file)
    summary = _json(capsys, "noise", "check", str(out_file))
    n = 29000 if protocol == "image" else 145000
    assert summary["level"] == protocol and summary["n"] == n and summary["equal"] is None
    assert abs(summary["fraction"] - 0.6) <= 1 / n
    assert summary["moved"] == int(
        (np.load(out_file) != np.arange(n) // (1 if protocol == "image" else 5)).sum()
    )


def test_make_for_synthetic_size_and_own_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    syn = tmp_path / "syn.npy"
    _run(capsys, "noise", "make", "--dataset", "synthetic", "--size", "small", "--protocol", "image",
         "--mrate", "0.2", "--out", str(syn))  # fmt: skip
    assert _json(capsys, "noise", "check", str(syn)) == {
        "n": 3000,
        "moved": 600,
        "fraction": 0.2,
        "level": "image",
        "equal": None,
    }
    own = tmp_path / "own.npy"
    _run(capsys, "noise", "make", "--n-images", "50", "--captions-per-image", "2", "--protocol", "caption",
         "--mrate", "0.5", "--out", str(own))  # fmt: skip
    summary = _json(capsys, "noise", "check", str(own), "--captions-per-image", "2", "--against", str(own))
    assert summary == {"n": 100, "moved": 50, "fraction": 0.5, "level": "caption", "equal": True}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["noise", "make", "--dataset", "f31k", "--protocol", "image", "--mrate", "0.2", "--out", "x.npy"],
            "unknown dataset 'f31k'; known datasets: synthetic",
        ),
        (
            ["noise", "make", "--dataset", "f30k", "--protocol", "image", "--mrate", "1.5", "--out", "x.npy"],
            r"MRate 1.5 is outside \[0, 1\]",
        ),
        (
            [
                "noise",
                "make",
                "--dataset",
                "synthetic",
                "--protocol",
                "image",
                "--mrate",
                "0.2",
                "--out",
                "x.npy",
            ],
            "needs a size",
        ),
        (
            [
                "noise",
                "make",
                "--dataset",
                "f30k",
                "--n-images",
                "9",
                "--protocol",
                "image",
                "--mrate",
                "0.2",
                "--out",
                "x.npy",
            ],
            "exactly one of --dataset NAME or --n-images N",
        ),
        (["data", "fetch", "nope"], "unknown dataset 'nope'"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("workbench: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
    assert not (tmp_path / "x.npy").exists()


def test_check_of_an_invalid_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([0, 0, 5]))
    code, _, err = _run(capsys, "noise", "check", str(bad))
    assert code == 2 and "bad.npy" in err and "neither an image-level index" in err


def test_data_list_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cc152k_precomp").mkdir()
    np.save(tmp_path / "cc152k_precomp" / "train_ims.npy", np.zeros((1, 1, 1), np.float32))
    code, out, _ = _run(capsys, "data", "list", "--root", str(tmp_path))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["dataset", "kind", "source", "present"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == list(dataset_names())
    assert rows["cc152k"].split()[1] == "user" and rows["cc152k"].endswith("yes (train)")
    assert rows["wikipedia"].split()[1] == "download" and rows["wikipedia"].endswith("no")
    assert rows["synthetic"].split()[1] == "generated"


def test_data_fetch_default_root_from_environment(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "root"))
    code, out, _ = _run(capsys, "data", "fetch", "wikipedia")
    assert code == 0 and out.splitlines() == [
        str(tmp_path / "root" / "wikipedia" / n) for n in ("Wiki_fea.mat", "WikipediaArticles.mat")
    ]


def test_data_synth_calls_the_generator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def write_synthetic(root: Path, size: str, seed: int) -> Path:
        calls.append((Path(root), size, seed))
        return Path(root) / f"synthetic-{size}-s{seed}"

    stub = types.ModuleType("workbench.data.synthetic")
    stub.write_synthetic = write_synthetic  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workbench.data.synthetic", stub)
    code, out, _ = _run(capsys, "data", "synth", "--size", "tiny", "--seed", "7", "--root", str(tmp_path))
    assert code == 0 and calls == [(tmp_path, "tiny", 7)]
    assert out.strip() == str(tmp_path / "synthetic-tiny-s7")


def test_convert_bottomup_and_check(mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = mirror / "coco_bottomup36_10img" / "trainval_36.zip"
    code, out, _ = _run(
        capsys, "data", "convert-bottomup", str(source), "--out", str(tmp_path), "--split", "train"
    )
    assert code == 0 and out.splitlines()[0] == str(tmp_path / "train_ims.npy")
    (tmp_path / "train_caps.txt").write_text("".join(f"c{i}\n" for i in range(50)), encoding="utf-8")
    summary = _json(capsys, "data", "check", str(tmp_path), "--split", "train")
    assert summary["images"] == 10 and summary["captions"] == 50 and summary["captions_per_image"] == 5
    assert (summary["regions"], summary["feature_dim"]) == (36, 2048)


@pytest.mark.parametrize(
    "argv",
    [["data"], ["data", "list"], ["data", "fetch"], ["data", "synth"], ["data", "convert-bottomup"],
     ["data", "check"], ["noise"], ["noise", "make"], ["noise", "check"]],
)  # fmt: skip
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "usage: workbench " + " ".join(argv) in out and len(out) > 200
