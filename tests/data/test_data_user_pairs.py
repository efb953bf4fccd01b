"""A user's own labelled pairs: the three layouts, the optional split, and the refusals with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from workbench.data.user_pairs import load_user_pairs
from workbench.errors import DataFormatError


def _arrays(rng: np.random.Generator, n: int = 80, classes: int = 4) -> dict[str, np.ndarray]:
    return {"image": rng.normal(size=(n, 6)).astype(np.float32), "text": rng.normal(size=(n, 3)),
            "labels": np.arange(n) % classes}


def test_npz_without_split_gets_a_stratified_quarter_as_test(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = _arrays(rng)
    np.savez(tmp_path / "pairs.npz", **arrays)
    splits = load_user_pairs(tmp_path / "pairs.npz")
    assert (len(splits.train), len(splits.test)) == (60, 20) and splits.val is None
    np.testing.assert_array_equal(np.bincount(splits.test.labels), [5, 5, 5, 5])
    assert splits.train.class_names == ("class 0", "class 1", "class 2", "class 3")
    # rows stay pairs: each test image row sits beside its own text row and label
    row = int(np.flatnonzero((arrays["image"] == splits.test.image[0]).all(axis=1))[0])
    np.testing.assert_allclose(splits.test.text[0], arrays["text"][row], rtol=1e-6)
    assert splits.test.labels[0] == arrays["labels"][row]


def test_mat_and_directory_with_split(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = _arrays(rng)
    split = np.array(["train"] * 50 + ["val"] * 10 + ["test"] * 20)
    scipy.io.savemat(tmp_path / "pairs.mat", {**arrays, "labels": arrays["labels"][:, None],
                                              "split": np.array([0] * 50 + [1] * 10 + [2] * 20),
                                              "class_names": np.array(["a", "b", "c", "d"], dtype=object)})
    from_mat = load_user_pairs(tmp_path / "pairs.mat")
    assert (len(from_mat.train), len(from_mat.val), len(from_mat.test)) == (50, 10, 20)
    assert from_mat.train.class_names == ("a", "b", "c", "d")
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, value in {**arrays, "split": split}.items():
        np.save(folder / f"{name}.npy", value)
    from_dir = load_user_pairs(folder)
    np.testing.assert_allclose(from_dir.val.image, arrays["image"][50:60])
    np.testing.assert_array_equal(from_dir.test.labels, from_mat.test.labels)


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.update(text=a["text"][:-1]), r"image has 80 rows, text 79 and labels 80"),
    (lambda a: a.update(labels=a["labels"][:-3]), r"image has 80 rows, text 80 and labels 77"),
    (lambda a: a["image"].__setitem__((7, 2), np.nan), r"image holds 1 NaN or infinite value\(s\) \(first at row 7, "
                                                       r"column 2"),
    (lambda a: a["text"].__setitem__((3, 0), np.inf), r"text holds 1 NaN or infinite"),
    (lambda a: a["labels"].__setitem__(5, -1), r"label -1 at row 5 is out of range: labels must lie in 0..3"),
    (lambda a: a.update(labels=a["labels"] + 1), r"class\(es\) \[0\] have no training pair \(1-based labels\?"),
    (lambda a: a.update(labels=a["labels"] + 0.5), r"labels must be integer class ids; row 0 holds 0.5"),
    (lambda a: a.update(image=a["image"][:, 0]), r"image has shape \(80,\); expected a 2-D"),
    (lambda a: a.pop("text"), r"missing array\(s\) \['text'\]"),
    (lambda a: a.update(split=np.array(["train"] * 79 + ["dev"])), r"split row 79 is 'dev'"),
    (lambda a: a.update(split=np.array(["train"] * 80)), r"split marks no test rows"),
])
def test_refusals_name_the_file_array_and_value(tmp_path: Path, rng: np.random.Generator, change, message) -> None:
    arrays = _arrays(rng)
    arrays["labels"] = arrays["labels"].astype(np.float64) if "0.5" in message else arrays["labels"]
    change(arrays)
    path = tmp_path / "pairs.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataFormatError, match=message) as info:
        load_user_pairs(path)
    assert str(path) in str(info.value)


def test_class_names_bound_the_labels(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = _arrays(rng)
    np.savez(tmp_path / "p.npz", **arrays, class_names=np.array(["a", "b", "c"]))
    with pytest.raises(DataFormatError, match=r"label 3 at row 3 is out of range: labels must lie in 0..2"):
        load_user_pairs(tmp_path / "p.npz")
    with pytest.raises(DataFormatError, match="unsupported file type '.csv'"):
        (tmp_path / "p.csv").write_text("1,2\n")
        load_user_pairs(tmp_path / "p.csv")
    with pytest.raises(DataFormatError, match="no such file or directory"):
        load_user_pairs(tmp_path / "absent.npz")
