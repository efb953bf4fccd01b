"""The precomp reader: layouts on disk, the real caption files, and every malformed-input error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.data import precomp
from workbench.data.captions import read_captions
from workbench.data.precomp import find_nonfinite_row, list_splits, load_precomp_split
from workbench.errors import DataFormatError


def _write_split(
    root: Path, split: str, images: np.ndarray, captions: list[str], *, tsv: bool = False
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / f"{split}_ims.npy", images)
    name = f"{split}_caps.tsv" if tsv else f"{split}_caps.txt"
    (root / name).write_text("\n".join(captions) + "\n", encoding="utf-8")


def _features(rng: np.random.Generator, n: int, r: int = 3, d: int = 4) -> np.ndarray:
    return rng.standard_normal((n, r, d)).astype(np.float32)


def test_five_captions_per_image_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    images = _features(rng, 4)
    captions = [f"caption {c} of image {c // 5}" for c in range(20)]
    _write_split(tmp_path, "train", images, captions)
    split = load_precomp_split(tmp_path, "train")
    assert split.captions_per_image == 5 and not split.rows_per_caption
    assert isinstance(split.images, np.memmap)  # memory-mapped, not loaded
    np.testing.assert_array_equal(split.images, images)
    assert split.captions == tuple(captions)
    assert split.ids is None and split.urls is None
    np.testing.assert_array_equal(split.image_of_caption(), np.repeat(np.arange(4), 5))


def test_per_caption_rows_are_detected_and_deduplicated(tmp_path: Path, rng: np.random.Generator) -> None:
    unique = _features(rng, 3)
    _write_split(tmp_path, "dev", np.repeat(unique, 5, axis=0), [f"c{i}" for i in range(15)])
    split = load_precomp_split(tmp_path, "dev")
    assert split.rows_per_caption and split.captions_per_image == 5
    assert split.n_images == 3 and split.n_captions == 15
    np.testing.assert_array_equal(split.images, unique)


def test_equal_counts_without_repetition_mean_one_caption_per_image(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    _write_split(tmp_path, "test", _features(rng, 10), [f"c{i}" for i in range(10)])
    split = load_precomp_split(tmp_path, "test")
    assert split.captions_per_image == 1 and not split.rows_per_caption


def test_explicit_k_with_rows_that_are_not_repeated_is_an_error(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    _write_split(tmp_path, "dev", _features(rng, 10), [f"c{i}" for i in range(10)])
    with pytest.raises(DataFormatError, match=r"dev_ims\.npy.*rows 0\.\.4 are not identical"):
        load_precomp_split(tmp_path, "dev", captions_per_image=5)


def test_cc152k_tsv_keeps_ids_and_urls(tmp_path: Path, rng: np.random.Generator) -> None:
    lines = [f"id{i}\ta caption {i}\thttps://example.org/{i}.jpg" for i in range(3)]
    _write_split(tmp_path, "test", _features(rng, 3), lines, tsv=True)
    split = load_precomp_split(tmp_path, "test")
    assert split.captions_per_image == 1
    assert split.ids == ("id0", "id1", "id2")
    assert split.urls == tuple(f"https://example.org/{i}.jpg" for i in range(3))
    assert split.captions[2] == "a caption 2"


def test_real_cc152k_test_file_with_crlf_and_urls(mirror: Path) -> None:
    table = read_captions(mirror / "cc152k_test_captions" / "test_caps_img_urls.csv")
    assert len(table) == 1000 and table.ids is not None and table.urls is not None
    assert table.ids[0] == "1100_1931474802"
    assert all(url.startswith("http") and not url.endswith("\r") for url in table.urls)


@pytest.mark.parametrize(
    ("relpath", "n_lines"),
    [
        ("f30k_precomp/test_caps.txt", 5000),
        ("f30k_precomp/dev_caps.txt", 5070),
        ("coco_precomp/testall_caps.txt", 25000),
    ],
)
def test_real_caption_files(mirror: Path, relpath: str, n_lines: int) -> None:
    # f30k test_caps.txt has no final newline: its last caption must still be read, and only once.
    table = read_captions(mirror / "f30k_coco_precomp_captions" / relpath)
    assert len(table) == n_lines and all(table.captions)


def test_missing_split_lists_what_is_present(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_split(tmp_path, "test", _features(rng, 2), [f"c{i}" for i in range(10)])
    (tmp_path / "dev_caps.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError, match=r"'train' is missing .*train_caps.*Present: dev \(caps\.txt\); test"
    ):
        load_precomp_split(tmp_path, "train")
    with pytest.raises(DataFormatError, match=r"no dev_ims\.npy"):
        load_precomp_split(tmp_path, "dev")
    assert list_splits(tmp_path) == {"dev": ("caps.txt",), "test": ("caps.txt", "ims.npy")}


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="does not exist"):
        load_precomp_split(tmp_path / "nowhere", "train")


def test_count_mismatch_names_counts_and_ratio(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_split(tmp_path, "train", _features(rng, 4), [f"c{i}" for i in range(18)])
    with pytest.raises(
        DataFormatError, match=r"train_ims\.npy has 4 rows and train_caps\.txt has 18 captions \(ratio 4\.5\)"
    ):
        load_precomp_split(tmp_path, "train")
    with pytest.raises(DataFormatError, match=r"ratio 4\.5.*expected 5 captions per image"):
        load_precomp_split(tmp_path, "train", captions_per_image=5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_name_file_and_first_bad_row(
    tmp_path: Path, rng: np.random.Generator, bad: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = _features(rng, 40)
    images[23, 1, 2] = bad
    images[31, 0, 0] = bad
    _write_split(tmp_path, "train", images, [f"c{i}" for i in range(200)])
    monkeypatch.setattr(
        precomp, "_CHUNK_BYTES", 5 * 3 * 4 * 4
    )  # 5 rows per chunk: the scan must cross chunks
    with pytest.raises(DataFormatError, match=r"train_ims\.npy: row 23 contains NaN or inf"):
        load_precomp_split(tmp_path, "train")
    assert load_precomp_split(tmp_path, "train", check_finite=False).n_images == 40


def test_find_nonfinite_row_matches_brute_force(rng: np.random.Generator) -> None:
    for _ in range(20):
        x = rng.standard_normal((int(rng.integers(1, 30)), 2, 3)).astype(np.float32)
        if rng.random() < 0.7:
            x[tuple(rng.integers(s) for s in x.shape)] = np.nan
        brute = next((i for i in range(len(x)) if not np.isfinite(x[i]).all()), None)
        assert find_nonfinite_row(x, chunk_bytes=int(rng.integers(1, 200))) == brute


def test_wrong_rank_and_dtype(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_split(tmp_path, "a", rng.standard_normal((5, 8)).astype(np.float32), ["x"] * 25)
    with pytest.raises(DataFormatError, match=r"a_ims\.npy: shape \(5, 8\) has rank 2; expected a 3-D"):
        load_precomp_split(tmp_path, "a")
    _write_split(tmp_path, "b", rng.standard_normal((5, 2, 8)), ["x"] * 25)
    with pytest.raises(DataFormatError, match=r"b_ims\.npy: dtype float64; expected float32"):
        load_precomp_split(tmp_path, "b")
    (tmp_path / "c_ims.npy").write_bytes(b"not an npy file")
    (tmp_path / "c_caps.txt").write_text("x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"cannot read image features .*c_ims\.npy"):
        load_precomp_split(tmp_path, "c")


def test_empty_caption_line_names_file_and_line(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_split(tmp_path, "train", _features(rng, 1), ["one", "two", "  ", "four", "five"])
    with pytest.raises(DataFormatError, match=r"train_caps\.txt:3: empty caption line"):
        load_precomp_split(tmp_path, "train")


def test_non_utf8_names_file_and_line(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_split(tmp_path, "train", _features(rng, 1), ["a"] * 5)
    (tmp_path / "train_caps.txt").write_bytes(b"ok\nfine\ncaf\xe9 latin-1\nx\ny\n")
    with pytest.raises(DataFormatError, match=r"train_caps\.txt:3: not valid UTF-8"):
        load_precomp_split(tmp_path, "train")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1\ta\tu", "2\tb"], r"test_caps\.tsv:2: expected 3 tab-separated fields like line 1, found 2"),
        (["1\ta", "no tab here"], r"test_caps\.tsv:2: expected 2 tab-separated fields"),
        (["a\tb\tc\td"], r"test_caps\.tsv:1: expected 2 or 3 tab-separated fields"),
        (["1\ta", "2\t "], r"test_caps\.tsv:2: empty caption field"),
    ],
)
def test_malformed_tsv(tmp_path: Path, rng: np.random.Generator, lines: list[str], message: str) -> None:
    _write_split(tmp_path, "test", _features(rng, len(lines)), lines, tsv=True)
    with pytest.raises(DataFormatError, match=message):
        load_precomp_split(tmp_path, "test")


def test_both_caption_formats_present_is_ambiguous(tmp_path: Path, rng: np.random.Generator) -> None:
    _write_split(tmp_path, "test", _features(rng, 1), ["1\ta"], tsv=True)
    (tmp_path / "test_caps.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="both test_caps.txt and test_caps.tsv"):
        load_precomp_split(tmp_path, "test")
