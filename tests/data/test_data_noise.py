"""Mismatch protocols: exact moved counts, validity, determinism, the papers' files, validation errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.data.noise import (
    NoiseIndex,
    caption_level_noise,
    detect_level,
    expand_to_captions,
    image_level_noise,
    load_noise_index,
    make_noise_index,
    moved_count,
    save_noise_index,
    true_matched,
)
from workbench.errors import ConfigError, DataFormatError

RCL = "ncr_noise_index/image_level_rcl"
L2RM = "ncr_noise_index/caption_level_l2rm/f30k_precomp"


@pytest.mark.parametrize("n", [2, 3, 7, 100, 1001])
@pytest.mark.parametrize("mrate", [0.0, 0.2, 0.5, 0.6, 1.0])
def test_image_level_moves_exactly_round_r_n_images(n: int, mrate: float) -> None:
    m = int(np.floor(mrate * n + 0.5))
    if m == 1:
        with pytest.raises(ConfigError, match="moves exactly 1 image"):
            image_level_noise(n, mrate, seed=0)
        return
    idx = image_level_noise(n, mrate, seed=0)
    assert idx.dtype == np.int64 and idx.shape == (n,)
    np.testing.assert_array_equal(np.sort(idx), np.arange(n))  # a permutation
    moved = idx != np.arange(n)
    assert moved.sum() == m
    # a derangement of the chosen images: the moved images are permuted among themselves
    np.testing.assert_array_equal(np.sort(idx[moved]), np.flatnonzero(moved))


@pytest.mark.parametrize(("n", "k"), [(2, 5), (3, 5), (50, 5), (400, 5), (30, 1), (7, 2)])
@pytest.mark.parametrize("mrate", [0.2, 0.4, 0.6, 0.8, 1.0])
def test_caption_level_moves_exactly_round_r_ncap_captions(n: int, k: int, mrate: float) -> None:
    m = int(np.floor(mrate * n * k + 0.5))
    feasible = m != 1 and n * min(k, m // 2) >= m
    if not feasible:
        with pytest.raises(ConfigError, match="impossible"):
            caption_level_noise(n, k, mrate, seed=1)
        return
    idx = caption_level_noise(n, k, mrate, seed=1)
    own = np.arange(n * k) // k
    assert idx.dtype == np.int64 and idx.shape == (n * k,)
    assert (idx != own).sum() == m
    np.testing.assert_array_equal(np.bincount(idx, minlength=n), np.full(n, k))  # every image used k times
    assert true_matched(idx, k).sum() == n * k - m


def test_caption_level_two_images_swap_everything() -> None:
    idx = caption_level_noise(2, 5, 1.0, seed=3)
    np.testing.assert_array_equal(idx, np.repeat([1, 0], 5))


def test_caption_level_spreads_an_images_captions() -> None:
    # the NCR protocol shuffles captions individually: the 5 captions of an image rarely move together
    idx = caption_level_noise(1000, 5, 0.6, seed=0)
    per_image_targets = [len(set(idx[5 * i : 5 * i + 5])) for i in range(1000)]
    assert np.mean(per_image_targets) > 3


@pytest.mark.parametrize("protocol", ["image", "caption"])
def test_same_seed_same_index_other_seed_other_index(protocol: str) -> None:
    a = make_noise_index(protocol, 500, 5, 0.4, seed=11)
    b = make_noise_index(protocol, 500, 5, 0.4, seed=11)
    c = make_noise_index(protocol, 500, 5, 0.4, seed=12)
    np.testing.assert_array_equal(a.index, b.index)
    assert not np.array_equal(a.index, c.index)


@pytest.mark.parametrize("mrate", [-0.1, 1.5, float("nan"), "high"])
def test_mrate_outside_unit_interval_is_an_error(mrate: object) -> None:
    with pytest.raises(ConfigError, match=r"MRate .* (outside \[0, 1\]|not a number)"):
        make_noise_index("image", 100, 5, mrate, seed=0)
    with pytest.raises(ConfigError, match=r"MRate"):
        moved_count(mrate, 10)


def test_unknown_protocol_and_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="unknown noise protocol 'pixel'"):
        make_noise_index("pixel", 10, 5, 0.2, seed=0)
    with pytest.raises(ConfigError, match="n_images must be a positive integer, got 0"):
        image_level_noise(0, 0.2, seed=0)


def test_noise_index_ground_truth_helpers() -> None:
    idx = np.array([0, 2, 1, 3], dtype=np.int64)
    noise = NoiseIndex("image", idx, captions_per_image=2)
    assert noise.moved == 2 and noise.fraction == 0.5 and noise.n_images == 4
    np.testing.assert_array_equal(noise.caption_index(), [0, 0, 2, 2, 1, 1, 3, 3])
    np.testing.assert_array_equal(noise.true_matched(), [1, 1, 0, 0, 0, 0, 1, 1])
    cap = NoiseIndex("caption", noise.caption_index(), captions_per_image=2)
    assert cap.moved == 4 and cap.n_images == 4


def test_detect_level() -> None:
    assert detect_level(np.array([2, 0, 1])) == "image"
    assert detect_level(np.array([1, 1, 0, 0]), captions_per_image=2) == "caption"
    assert detect_level(np.array([0, 0, 1]), captions_per_image=2) is None
    assert detect_level(np.array([0.0, 1.0])) is None


@pytest.mark.parametrize("rate", ["0.2", "0.4", "0.6", "0.8"])
def test_rcl_image_level_expands_to_l2rm_caption_level_bit_for_bit(mirror: Path, rate: str) -> None:
    rcl = load_noise_index(mirror / RCL / "f30k_precomp" / f"noise_inx_{rate}.npy", n_images=29000)
    l2rm = load_noise_index(mirror / L2RM / f"f30k_precomp_{rate}.npy", n_images=29000)
    assert rcl.level == "image" and l2rm.level == "caption"
    expanded = expand_to_captions(rcl.index, 5)
    assert expanded.dtype == l2rm.index.dtype
    assert expanded.tobytes() == l2rm.index.tobytes()
    # RCL shuffles the chosen images, so a few stay in place: never more moved than round(r * N)
    assert moved_count(float(rate), 29000) - 5 <= rcl.moved <= moved_count(float(rate), 29000)


@pytest.mark.parametrize("rate", ["0.2", "0.4", "0.5", "0.6", "0.8"])
def test_rcl_coco_files_load_as_image_level(mirror: Path, rate: str) -> None:
    noise = load_noise_index(mirror / RCL / "coco_precomp" / f"noise_inx_{rate}.npy", n_images=113287)
    assert noise.level == "image" and len(noise.index) == 113287
    assert abs(noise.fraction - float(rate)) < 1e-4


def test_save_load_round_trip(tmp_path: Path) -> None:
    noise = make_noise_index("caption", 40, 5, 0.5, seed=0)
    path = save_noise_index(noise, tmp_path / "n.npy")
    back = load_noise_index(path, n_images=40, level="caption")
    np.testing.assert_array_equal(back.index, noise.index)
    assert [p.name for p in tmp_path.iterdir()] == ["n.npy"]


def _saved(tmp_path: Path, array: np.ndarray) -> Path:
    path = tmp_path / "idx.npy"
    np.save(path, array)
    return path


def test_wrong_length_for_the_dataset(tmp_path: Path) -> None:
    path = _saved(tmp_path, np.arange(10))
    with pytest.raises(
        DataFormatError, match=r"idx\.npy: 10 entries, .* 12 images .* expected 12 \(image level\) or 60"
    ):
        load_noise_index(path, n_images=12)


def test_not_a_permutation(tmp_path: Path) -> None:
    path = _saved(tmp_path, np.array([0, 1, 1, 3]))
    with pytest.raises(
        DataFormatError,
        match=r"idx\.npy: not a valid image-level index: not a permutation of 0\.\.3, but image 1 is used 2 times",
    ):
        load_noise_index(path, level="image")
    with pytest.raises(DataFormatError, match=r"idx\.npy: neither an image-level index"):
        load_noise_index(path)


def test_values_out_of_range(tmp_path: Path) -> None:
    path = _saved(tmp_path, np.array([0, 0, 1, 7]))
    with pytest.raises(
        DataFormatError,
        match=r"idx\.npy: not a valid caption-level index: values must lie in \[0, 2\), found min 0 and max 7",
    ):
        load_noise_index(path, captions_per_image=2, level="caption")


def test_caption_level_with_unbalanced_images(tmp_path: Path) -> None:
    path = _saved(tmp_path, np.array([0, 0, 0, 1]))
    with pytest.raises(
        DataFormatError, match=r"each image must be used 2 times, but image 0 is used 3 times"
    ):
        load_noise_index(path, captions_per_image=2, level="caption")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.arange(4, dtype=np.float64), r"dtype float64; expected an integer array"),
        (np.arange(4).reshape(2, 2), r"shape \(2, 2\); expected a 1-D array"),
    ],
)
def test_wrong_dtype_or_rank(tmp_path: Path, array: np.ndarray, message: str) -> None:
    with pytest.raises(DataFormatError, match=r"idx\.npy: " + message):
        load_noise_index(_saved(tmp_path, array))


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "idx.npy"
    path.write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match=r"cannot read noise index .*idx\.npy"):
        load_noise_index(path)


@pytest.mark.parametrize(
    ("mrate", "n", "expected"),
    [
        (0.2, 29000, 5800),
        (0.6, 29000, 17400),
        (0.5, 5, 3),
        (0.35, 10, 4),
        (0.25, 10, 3),
        (0.0, 7, 0),
        (1.0, 7, 7),
    ],
)
def test_moved_count_rounds_half_up(mrate: float, n: int, expected: int) -> None:
    assert moved_count(mrate, n) == expected
