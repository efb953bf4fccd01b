"""Label noise: exact counts, never the true class (symmetric), the half-permutation (asymmetric), seeds."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ConfigError, DataFormatError
from workbench.labels.noise import (
    asymmetric_noise,
    class_map,
    make_label_noise,
    noisy_count,
    symmetric_noise,
    transition_matrix,
)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
@pytest.mark.parametrize("n", [1, 7, 2173])
def test_symmetric_flips_exactly_round_rn_to_another_class(rng: np.random.Generator, rate: float, n: int) -> None:
    labels = rng.integers(0, 10, n)
    noisy = symmetric_noise(labels, 10, rate, rng)
    changed = noisy != labels
    assert changed.sum() == int(np.floor(rate * n + 0.5)) == noisy_count(rate, n)
    assert noisy.dtype == np.int64 and noisy.min() >= 0 and noisy.max() <= 9


def test_symmetric_new_class_is_uniform_over_the_other_classes(rng: np.random.Generator) -> None:
    labels = np.full(90_000, 3)
    noisy = symmetric_noise(labels, 10, 1.0, rng)
    counts = np.bincount(noisy, minlength=10)
    assert counts[3] == 0
    others = np.delete(counts, 3)
    # 9 equiprobable classes with 10,000 expected each: chi-square with 8 d.o.f., p = 1e-4 bound ~ 33.4
    chi2 = ((others - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 33.4


def test_class_map_is_a_half_permutation(rng: np.random.Generator) -> None:
    for c in (2, 7, 10, 200):
        mapping = class_map(c, rng)
        moved = np.flatnonzero(mapping != np.arange(c))
        assert len(moved) == c // 2  # half the classes move ...
        targets = mapping[moved]
        assert len(set(targets.tolist())) == c // 2  # ... onto distinct classes ...
        assert not set(targets.tolist()) & set(moved.tolist())  # ... of the other half, which stay put
        assert (mapping[targets] == targets).all()


def test_asymmetric_follows_the_map_and_chooses_round_rn(rng: np.random.Generator) -> None:
    mapping = class_map(10, rng)
    labels = rng.integers(0, 10, 5000)
    noisy = asymmetric_noise(labels, mapping, 0.4, rng)
    changed = noisy != labels
    np.testing.assert_array_equal(noisy[changed], mapping[labels[changed]])
    # only labels of the moving half change; with every label in that half, exactly round(r N) change
    assert not changed[mapping[labels] == labels].any()
    sources = np.flatnonzero(mapping != np.arange(10))
    all_moving = rng.choice(sources, 5000)
    assert (asymmetric_noise(all_moving, mapping, 0.4, rng) != all_moving).sum() == 2000


def test_transition_matrices_are_stochastic_and_match_frequencies(rng: np.random.Generator) -> None:
    sym = transition_matrix("symmetric", 0.6, 10)
    np.testing.assert_allclose(sym.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(sym), 0.4)
    mapping = class_map(10, rng)
    asym = transition_matrix("asymmetric", 0.4, 10, mapping)
    np.testing.assert_allclose(asym.sum(axis=1), 1.0)
    labels = np.repeat(np.arange(10), 4000)
    noisy = asymmetric_noise(labels, mapping, 0.4, rng)
    empirical = np.zeros((10, 10))
    np.add.at(empirical, (labels, noisy), 1)
    np.testing.assert_allclose(empirical / 4000, asym, atol=0.03)


def test_pair_and_modality_levels_and_seed_determinism() -> None:
    labels = np.random.default_rng(5).integers(0, 10, 2173)
    pair = make_label_noise(labels, 10, noise="symmetric", rate=0.6, level="pair", seed=3)
    np.testing.assert_array_equal(pair.image, pair.text)
    assert (pair.image != labels).sum() == noisy_count(0.6, 2173)
    modality = make_label_noise(labels, 10, noise="symmetric", rate=0.6, level="modality", seed=3)
    assert (modality.image != labels).sum() == (modality.text != labels).sum() == noisy_count(0.6, 2173)
    assert not np.array_equal(modality.image, modality.text)
    again = make_label_noise(labels, 10, noise="symmetric", rate=0.6, level="pair", seed=3)
    np.testing.assert_array_equal(again.labels, pair.labels)
    other = make_label_noise(labels, 10, noise="symmetric", rate=0.6, level="pair", seed=4)
    assert not np.array_equal(other.labels, pair.labels)
    asym = make_label_noise(labels, 10, noise="asymmetric", rate=0.4, level="modality", seed=3)
    for column in (asym.image, asym.text):  # one class map for both modalities
        changed = column != labels
        np.testing.assert_array_equal(column[changed], asym.mapping[labels[changed]])
    assert asym.flipped_fraction == pytest.approx(np.mean(asym.labels != labels[:, None]))


def test_errors_name_the_bad_value() -> None:
    labels = np.arange(10) % 3
    with pytest.raises(ConfigError, match="noise rate 1.5"):
        make_label_noise(labels, 3, noise="symmetric", rate=1.5)
    with pytest.raises(ConfigError, match="'uniform' is not one of"):
        make_label_noise(labels, 3, noise="uniform", rate=0.2)
    with pytest.raises(ConfigError, match="noise level 'view'"):
        make_label_noise(labels, 3, noise="symmetric", rate=0.2, level="view")
    with pytest.raises(DataFormatError, match=r"expected 0..1"):
        make_label_noise(labels, 2, noise="symmetric", rate=0.2)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        make_label_noise(np.zeros(4, dtype=int), 1, noise="symmetric", rate=0.2)
    with pytest.raises(DataFormatError, match="integer"):
        make_label_noise(np.zeros(4), 3, noise="symmetric", rate=0.2)
