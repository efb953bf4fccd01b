"""The label track's data: Wikipedia split sizes, noisy validation, standardisation, synthetic pairs, CCA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.data.wikipedia import load_wikipedia
from workbench.errors import ConfigError, DataFormatError
from workbench.labels.cca import fit_cca
from workbench.labels.config import LabelDataConfig
from workbench.labels.data import load_label_data, synthetic_pairs
from workbench.labels.noise import noisy_count


@pytest.fixture(scope="module")
def wiki(mirror: Path) -> Path:
    return mirror / "wikipedia_sift_lda" / "Wiki_fea.mat"


def test_wikipedia_noise_split_and_standardisation(wiki: Path) -> None:
    cfg = LabelDataConfig(dataset="wikipedia", path=str(wiki), noise="symmetric", rate=0.6)
    data = load_label_data(cfg, seed=3)
    raw_train, raw_test = load_wikipedia(wiki, "train"), load_wikipedia(wiki, "test")
    assert (len(data.train), len(data.val), len(data.test)) == (1956, 217, 693)
    # noise on the whole 2,173-pair pool: exactly round(0.6 N) labels moved, pair-level
    pool = data.noise.labels
    assert (pool[:, 0] != raw_train.labels).sum() == noisy_count(0.6, 2173)
    np.testing.assert_array_equal(pool[:, 0], pool[:, 1])
    # train / val are disjoint rows of the pool; validation labels are noisy (as a user would have them)
    val_rows = np.setdiff1d(np.arange(2173), data.train_rows)
    np.testing.assert_array_equal(data.noisy_val, pool[val_rows])
    np.testing.assert_array_equal(data.val.labels, raw_train.labels[val_rows])
    assert (data.noisy_val[:, 0] != data.val.labels).mean() > 0.4
    # stratified on the true classes (10 % of each, half up): the same split at every noise rate
    counts = np.bincount(raw_train.labels, minlength=10)
    np.testing.assert_array_equal(np.bincount(data.val.labels, minlength=10), np.floor(0.1 * counts + 0.5))
    other_rate = load_label_data(LabelDataConfig(dataset="wikipedia", path=str(wiki), rate=0.2), seed=3)
    np.testing.assert_array_equal(other_rate.train_rows, data.train_rows)
    # test labels are the clean ones; features z-scored with training statistics
    np.testing.assert_array_equal(data.test.labels, raw_test.labels)
    np.testing.assert_allclose(data.train.text.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.train.text.std(axis=0), 1.0, atol=1e-4)
    fit = raw_train.image[data.train_rows].astype(np.float64)
    mean, std = fit.mean(axis=0), fit.std(axis=0)
    np.testing.assert_allclose(data.test.image, (raw_test.image - mean) / np.where(std > 0, std, 1), rtol=1e-5,
                               atol=1e-5)
    again = load_label_data(cfg, seed=3)
    np.testing.assert_array_equal(again.noisy_train, data.noisy_train)


def test_clean_validation_and_modality_noise(wiki: Path) -> None:
    cfg = LabelDataConfig(dataset="wikipedia", path=str(wiki), rate=0.4, level="modality", val_labels="clean")
    data = load_label_data(cfg, seed=0)
    np.testing.assert_array_equal(data.noisy_val[:, 0], data.val.labels)
    assert not np.array_equal(data.noisy_train[:, 0], data.noisy_train[:, 1])


def test_synthetic_pairs_carry_the_scene_places() -> None:
    from workbench.data.synthetic import generate

    train, dev, test = synthetic_pairs("tiny", 0)
    truth = generate("tiny", 0)
    np.testing.assert_array_equal(train.labels, truth["train"].truth.labels)
    assert train.image.shape == (400, 64) and dev.split == "val" and len(test) == 100
    np.testing.assert_allclose(train.text.sum(axis=1), 1.0, rtol=1e-5)  # word frequencies of each document
    assert len(train.class_names) == 8


def test_data_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs data.path"):
        load_label_data(LabelDataConfig(dataset="inria"), seed=0)
    with pytest.raises(DataFormatError, match="no such file"):
        load_label_data(LabelDataConfig(dataset="inria", path=str(tmp_path)), seed=0)


def test_cca_recovers_a_shared_signal(rng: np.random.Generator) -> None:
    n = 400
    shared = rng.normal(size=(n, 2))
    x = np.c_[shared @ rng.normal(size=(2, 5)), rng.normal(size=(n, 3))] + 0.01 * rng.normal(size=(n, 8))
    y = np.c_[shared @ rng.normal(size=(2, 3)), rng.normal(size=(n, 2))] + 0.01 * rng.normal(size=(n, 5))
    fit = fit_cca(x, y, components=4, reg=0.0)
    # oracle: canonical correlations are the singular values of Qx^T Qy for orthonormal bases of the centred views
    qx, _ = np.linalg.qr(x - x.mean(axis=0))
    qy, _ = np.linalg.qr(y - y.mean(axis=0))
    np.testing.assert_allclose(fit.correlations, np.linalg.svd(qx.T @ qy, compute_uv=False)[:4], atol=1e-8)
    assert fit.correlations[:2].min() > 0.99
    u, v = fit.transform(x, y)
    np.testing.assert_allclose(np.cov(u.T), np.eye(4), atol=1e-8)  # canonical variates are whitened ...
    np.testing.assert_allclose(np.diag(np.cov(u.T, v.T)[:4, 4:]), fit.correlations, atol=1e-8)  # ... and paired
    with pytest.raises(ConfigError, match="components = 6"):
        fit_cca(x, y, components=6)
    with pytest.raises(DataFormatError, match="same number"):
        fit_cca(x, y[:10])


def test_mfeat_and_user_pairs_through_the_track(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(mirror))
    cfg = LabelDataConfig(dataset="mfeat", root=str(tmp_path / "data"), rate=0.4)
    data = load_label_data(cfg, seed=1)
    assert (len(data.train), len(data.val), len(data.test)) == (1350, 150, 500)
    assert (data.train.image.shape[1], data.train.text.shape[1]) == (240, 76)
    assert (data.noisy_train[:, 0] != data.train.labels).mean() == pytest.approx(0.4, abs=0.03)
    kar = load_label_data(LabelDataConfig(dataset="mfeat", root=str(tmp_path / "data"), text_view="kar"), seed=1)
    assert kar.train.text.shape[1] == 64
    # a user's file with its own split: its validation rows get noise too, its test rows stay clean
    rng = np.random.default_rng(0)
    labels = np.arange(90) % 3
    split = np.array(["train"] * 60 + ["val"] * 12 + ["test"] * 18)
    np.savez(tmp_path / "mine.npz", image=rng.normal(size=(90, 5)), text=rng.normal(size=(90, 4)), labels=labels,
             split=split)
    user = load_label_data(LabelDataConfig(dataset="user", path=str(tmp_path / "mine.npz"), rate=0.5), seed=0)
    assert (len(user.train), len(user.val), len(user.test)) == (60, 12, 18)
    np.testing.assert_array_equal(user.test.labels, labels[72:])
    assert (user.noisy_train[:, 0] != user.train.labels).sum() == noisy_count(0.5, 60)
    with pytest.raises(ConfigError, match="dataset 'user' needs data.path"):
        load_label_data(LabelDataConfig(dataset="user"), seed=0)
