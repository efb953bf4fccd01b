"""Registry integrity, fetching from the mirror, and every failure path of fetch (nothing left behind)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.data.download import fetch, fetch_entry, local_status, sha256_of
from workbench.data.registry import (
    DatasetEntry,
    DatasetFile,
    dataset_names,
    get_entry,
    registry,
    split_images,
)
from workbench.errors import ChecksumError, ConfigError, DataFormatError

RAW = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_registry_entries_are_complete() -> None:
    names = dataset_names()
    assert {
        "synthetic",
        "wikipedia",
        "f30k",
        "coco",
        "cc152k",
        "coco-bottomup-10img",
        "f30k-noise",
        "coco-noise",
    } <= set(names)
    for entry in registry().values():
        assert entry.description and entry.source and entry.license and entry.card == entry.name
        for f in entry.files:
            assert f.url == "" or RAW.match(f.url), f.url  # "": published only in the data mirror
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0
        for related in entry.related:
            assert get_entry(related).kind == "download"
    paths = [f.path for e in registry().values() for f in e.files]
    assert len(paths) == len(set(paths)), "two registry files would land on the same path"


def test_every_registry_file_is_in_the_mirror_with_its_checksum(mirror: Path) -> None:
    for entry in registry().values():
        for f in entry.files:
            source = mirror / f.mirror
            assert source.stat().st_size == f.size, f.mirror
            assert hashlib.sha256(source.read_bytes()).hexdigest() == f.sha256, f.mirror


def test_split_images() -> None:
    assert split_images("f30k")["train"] == 29000
    assert split_images("coco")["train"] == 113287
    assert split_images("cc152k")["train"] == 150000
    assert dict(split_images("synthetic", "small")) == {"train": 3000, "dev": 300, "test": 500}
    with pytest.raises(ConfigError, match=r"needs a size, one of \['medium', 'small', 'tiny'\]"):
        split_images("synthetic")
    with pytest.raises(ConfigError, match="has no size presets"):
        split_images("f30k", "small")


def test_unknown_dataset_name_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown dataset 'f31k'; known datasets: synthetic, wikipedia, mfeat, f30k"
    ):
        fetch("f31k", tmp_path)


def test_user_dataset_is_not_downloadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'f30k' is not downloadable \(user\).*NCR-data\.tar.*f30k-noise"):
        fetch("f30k", tmp_path)
    with pytest.raises(
        ConfigError, match=r"'synthetic' is generated, not downloaded: use `workbench data synth`"
    ):
        fetch("synthetic", tmp_path)
    assert not tmp_path.joinpath("f30k_precomp").exists()


def test_fetch_from_mirror_then_skip_then_repair(mirror: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    result = fetch("coco-captions", tmp_path, mirror=mirror, progress=lambda d, t: calls.append((d, t)))
    entry = get_entry("coco-captions")
    assert [f.origin for f in result.files] == ["mirror"] * 3
    for item, spec in zip(result.files, entry.files, strict=True):
        assert item.path == tmp_path / spec.path and sha256_of(item.path) == spec.sha256
    assert _files_under(tmp_path) == sorted(f.path for f in entry.files)  # no temporaries left
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (entry.total_bytes, entry.total_bytes)
    assert local_status(entry, tmp_path) == "yes"

    again = fetch("coco-captions", tmp_path, mirror=mirror)
    assert [f.origin for f in again.files] == ["present"] * 3

    damaged = tmp_path / entry.files[1].path
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    repaired = fetch("coco-captions", tmp_path, mirror=mirror)
    assert [f.origin for f in repaired.files] == ["present", "mirror", "present"]
    assert sha256_of(damaged) == entry.files[1].sha256


def test_mirror_from_environment(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(mirror))
    result = fetch("cc152k-captions", tmp_path)
    assert [f.origin for f in result.files] == ["mirror"]
    assert (tmp_path / "cc152k_precomp" / "test_caps.tsv").is_file()


def _entry(tmp_path: Path, payload: bytes, url: str) -> DatasetEntry:
    spec = DatasetFile(
        path="sub/file.bin",
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        url=url,
        mirror="file.bin",
    )
    return DatasetEntry(
        name="fake", kind="download", description="d", source="s", license="l", card="fake", files=(spec,)
    )


def test_checksum_mismatch_in_a_corrupted_mirror(tmp_path: Path) -> None:
    fake_mirror = tmp_path / "mirror"
    fake_mirror.mkdir()
    (fake_mirror / "file.bin").write_bytes(b"corrupted content!")
    entry = _entry(tmp_path, b"the real content!!", url="file:///nonexistent/never-used")
    root = tmp_path / "root"
    with pytest.raises(ChecksumError) as info:
        fetch_entry(entry, root, mirror=fake_mirror)
    message = str(info.value)
    assert "file.bin" in message and entry.files[0].sha256 in message
    assert hashlib.sha256(b"corrupted content!").hexdigest() in message
    assert _files_under(root) == []  # nothing half-written


def test_failing_url_without_network(tmp_path: Path) -> None:
    entry = _entry(tmp_path, b"payload", url=(tmp_path / "missing.bin").as_uri())
    root = tmp_path / "root"
    with pytest.raises(
        DataFormatError, match=r"could not download file://.*missing\.bin to .*file\.bin"
    ) as info:
        fetch_entry(entry, root, mirror=tmp_path / "empty-mirror")
    assert not isinstance(info.value, ChecksumError)
    assert _files_under(root) == []


def test_truncated_download_names_sizes_and_checksums(tmp_path: Path) -> None:
    payload = b"0123456789" * 100
    source = tmp_path / "served.bin"
    source.write_bytes(payload[:700])  # the server stops early
    entry = _entry(tmp_path, payload, url=source.as_uri())
    root = tmp_path / "root"
    with pytest.raises(
        ChecksumError, match=r"file\.bin from file://.* is truncated: got 700 bytes .* expected 1000 bytes"
    ):
        fetch_entry(entry, root)
    assert _files_under(root) == []


def test_download_over_url_succeeds(tmp_path: Path) -> None:
    payload = b"served bytes"
    source = tmp_path / "served.bin"
    source.write_bytes(payload)
    entry = _entry(tmp_path, payload, url=source.as_uri())
    result = fetch_entry(entry, tmp_path / "root")
    assert result.files[0].origin == "download"
    assert (tmp_path / "root" / "sub" / "file.bin").read_bytes() == payload


def test_local_status_of_user_and_partial_entries(tmp_path: Path) -> None:
    (tmp_path / "f30k_precomp").mkdir()
    (tmp_path / "f30k_precomp" / "test_ims.npy").write_bytes(b"x")
    assert local_status(get_entry("f30k"), tmp_path) == "yes (test)"
    assert local_status(get_entry("coco"), tmp_path) == "no"
    entry = get_entry("f30k-captions")
    one = tmp_path / entry.files[0].path
    one.parent.mkdir(parents=True, exist_ok=True)
    one.write_bytes(b"\0" * entry.files[0].size)
    assert local_status(entry, tmp_path) == "1/2 files"
    assert local_status(replace(entry, files=entry.files[:1]), tmp_path) == "yes"
