"""Bottom-up-attention TSV -> precomp conversion: the real 10-image zip, round trips, bad rows."""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import numpy as np
import pytest

from workbench.data.bottomup import convert_bottomup, iter_bottomup_rows
from workbench.data.precomp import load_precomp_split
from workbench.errors import DataFormatError


def _row(image_id: int, boxes: np.ndarray, feats: np.ndarray, w: int = 640, h: int = 480) -> str:
    enc = [base64.b64encode(a.astype("<f4").tobytes()).decode() for a in (boxes, feats)]
    return "\t".join([str(image_id), str(w), str(h), str(len(boxes)), *enc])


def _tsv(tmp_path: Path, rows: list[str], name: str = "feats.tsv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="ascii")
    return path


def test_real_zip_converts_to_precomp(mirror: Path, tmp_path: Path) -> None:
    source = mirror / "coco_bottomup36_10img" / "trainval_36.zip"
    result = convert_bottomup(source, tmp_path, "train")
    assert (result.n_images, result.n_regions, result.feature_dim) == (10, 36, 2048)
    feats = np.load(result.images)
    assert feats.shape == (10, 36, 2048) and feats.dtype == np.float32 and feats.min() >= 0
    # an independent decode of the first row of the zip
    with zipfile.ZipFile(source) as archive:
        first = archive.read(archive.namelist()[1]).split(b"\n", 1)[0].split(b"\t")
    expected = np.frombuffer(base64.b64decode(first[5]), dtype="<f4").reshape(36, 2048)
    np.testing.assert_array_equal(feats[0], expected)
    assert result.ids.read_text().split() == [r.image_id for r in iter_bottomup_rows(source)]
    assert result.ids.read_text().split()[0] == first[0].decode()
    # the converted features load as a precomp split once captions are added
    (tmp_path / "train_caps.txt").write_text("".join(f"caption {i}\n" for i in range(50)), encoding="utf-8")
    split = load_precomp_split(tmp_path, "train")
    assert split.n_images == 10 and split.captions_per_image == 5


def test_round_trip_of_random_rows(tmp_path: Path, rng: np.random.Generator) -> None:
    boxes = rng.uniform(0, 500, size=(4, 3, 4)).astype(np.float32)
    feats = rng.uniform(0, 9, size=(4, 3, 8)).astype(np.float32)
    sizes = [(640, 480), (500, 375), (333, 500), (640, 427)]
    rows = [_row(100 + i, boxes[i], feats[i], *sizes[i]) for i in range(4)]
    progress: list[tuple[int, int]] = []
    result = convert_bottomup(
        _tsv(tmp_path, rows), tmp_path / "out", "dev", progress=lambda d, t: progress.append((d, t))
    )
    np.testing.assert_array_equal(np.load(result.images), feats)
    np.testing.assert_array_equal(np.load(result.boxes), boxes)
    np.testing.assert_array_equal(np.load(result.image_sizes), sizes)
    assert result.ids.read_text().split() == ["100", "101", "102", "103"]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dev_boxes.npy", "dev_ids.txt", "dev_image_sizes.npy", "dev_ims.npy",
    ]  # fmt: skip


def _good_rows(rng: np.random.Generator, n: int = 3) -> list[str]:
    return [_row(i, rng.uniform(0, 9, (2, 4)), rng.uniform(0, 9, (2, 5))) for i in range(n)]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1\t640\t480\t2\tAAAA", r"feats\.tsv:2: 5 tab-separated fields; expected 6"),
        ("1\t640\twide\t2\tAAAA\tAAAA", r"feats\.tsv:2: image_w, image_h and num_boxes must be integers"),
        ("1\t640\t480\t2\t!!notbase64!!\tAAAA", r"feats\.tsv:2: field 'boxes' is not valid base64"),
        (
            "1\t640\t480\t2\tAAAAAAAAAAA=\tAAAA",
            r"feats\.tsv:2: boxes holds 2 floats; expected num_boxes x 4 = 8",
        ),
    ],
)
def test_bad_row_names_file_line_and_field(
    tmp_path: Path, rng: np.random.Generator, bad: str, message: str
) -> None:
    rows = _good_rows(rng)
    rows[1] = bad
    out = tmp_path / "out"
    with pytest.raises(DataFormatError, match=message):
        convert_bottomup(_tsv(tmp_path, rows), out, "train")
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_rows_with_different_box_counts(tmp_path: Path, rng: np.random.Generator) -> None:
    rows = _good_rows(rng)
    rows.append(_row(9, rng.uniform(0, 9, (3, 4)), rng.uniform(0, 9, (3, 5))))
    out = tmp_path / "out"
    with pytest.raises(
        DataFormatError, match=r"image 9 \(row 4\) has features \(3, 5\); the first row had \(2, 5\)"
    ):
        convert_bottomup(_tsv(tmp_path, rows), out, "train")
    assert not any(out.iterdir())


def test_non_finite_values(tmp_path: Path, rng: np.random.Generator) -> None:
    feats = rng.uniform(0, 9, (2, 5))
    feats[1, 3] = np.nan
    rows = [*_good_rows(rng, 1), _row(5, rng.uniform(0, 9, (2, 4)), feats)]
    with pytest.raises(DataFormatError, match=r"feats\.tsv:2: boxes or features contain NaN or inf"):
        convert_bottomup(_tsv(tmp_path, rows), tmp_path / "out", "train")


def test_zip_must_hold_one_tsv_and_empty_input(tmp_path: Path, rng: np.random.Generator) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.tsv", "\n".join(_good_rows(rng)))
        z.writestr("b.tsv", "\n".join(_good_rows(rng)))
    with pytest.raises(
        DataFormatError,
        match=r"two\.zip: expected exactly one \.tsv member in the zip, found \['a\.tsv', 'b\.tsv'\]",
    ):
        convert_bottomup(archive, tmp_path / "out", "train")
    with pytest.raises(DataFormatError, match=r"empty\.tsv holds no rows"):
        convert_bottomup(_tsv(tmp_path, [], "empty.tsv"), tmp_path / "out", "train")
    with pytest.raises(DataFormatError, match=r"missing\.tsv does not exist"):
        convert_bottomup(tmp_path / "missing.tsv", tmp_path / "out", "train")
