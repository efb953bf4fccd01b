"""Mixture EM recovers known mixtures; AUC and split quality against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.mixture import (
    clean_probability,
    fit_beta_mixture,
    fit_gaussian_mixture,
    normalise_losses,
    roc_auc,
    split_quality,
)


def test_beta_mixture_recovers_a_known_mixture(rng: np.random.Generator) -> None:
    n = 20000
    noisy = rng.random(n) < 0.3
    x = np.where(noisy, rng.beta(8.0, 2.0, n), rng.beta(2.0, 9.0, n))
    fit = fit_beta_mixture(np.clip(x, 1e-4, 1 - 1e-4))
    assert fit.converged
    np.testing.assert_allclose(fit.weights, [0.7, 0.3], atol=0.02)
    np.testing.assert_allclose(fit.means, [2 / 11, 0.8], atol=0.02)
    # posterior classification close to the Bayes rule with the true parameters
    p_clean = clean_probability(fit, x)
    accuracy = np.mean((p_clean > 0.5) == ~noisy)
    assert accuracy > 0.95


def test_gaussian_mixture_recovers_a_known_mixture(rng: np.random.Generator) -> None:
    n = 20000
    noisy = rng.random(n) < 0.4
    x = np.where(noisy, rng.normal(3.0, 0.5, n), rng.normal(0.0, 1.0, n))
    fit = fit_gaussian_mixture(x, max_iter=200, tol=1e-8)
    np.testing.assert_allclose(fit.weights, [0.6, 0.4], atol=0.02)
    np.testing.assert_allclose(fit.means, [0.0, 3.0], atol=0.05)
    np.testing.assert_allclose(fit.variances, [1.0, 0.25], atol=0.05)


def test_components_are_ordered_clean_first(rng: np.random.Generator) -> None:
    x = np.clip(np.concatenate([rng.beta(9, 2, 500), rng.beta(2, 9, 2000)]), 1e-3, 1 - 1e-3)
    fit = fit_beta_mixture(x)
    assert fit.means[0] < fit.means[1]
    assert fit.separation() > 2.0


def test_unimodal_data_is_poorly_separated(rng: np.random.Generator) -> None:
    x = np.clip(rng.beta(2, 5, 5000), 1e-3, 1 - 1e-3)
    fit = fit_beta_mixture(x)
    two_modes = fit_beta_mixture(np.clip(np.concatenate([rng.beta(9, 2, 2500), rng.beta(2, 9, 2500)]),
                                         1e-3, 1 - 1e-3))
    assert fit.separation() < two_modes.separation() / 2


def test_normalise_losses_minmax_and_clamp() -> None:
    x = normalise_losses(np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(x, [1e-3, 0.5, 1 - 1e-3])
    with pytest.raises(ValueError, match="non-finite"):
        normalise_losses(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="inside"):
        fit_beta_mixture(np.array([0.0, 0.5, 0.6, 1.0]))


def test_roc_auc_against_brute_force(rng: np.random.Generator) -> None:
    scores = rng.integers(0, 20, 300).astype(float)  # many ties
    labels = rng.random(300) < 0.4
    pos, neg = scores[labels], scores[~labels]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (pos.size * neg.size)
    assert roc_auc(scores, labels) == pytest.approx(brute)
    assert np.isnan(roc_auc(scores, np.ones(300, bool)))


def test_split_quality_counts() -> None:
    truth = np.array([1, 1, 1, 0, 0], bool)
    est = np.array([1, 1, 0, 1, 0], bool)
    q = split_quality(np.array([0.9, 0.8, 0.4, 0.6, 0.1]), est, truth)
    assert q["precision"] == pytest.approx(2 / 3)
    assert q["recall"] == pytest.approx(2 / 3)
    assert q["n_clean"] == 3 and q["n_noisy"] == 2
    assert q["auc"] == pytest.approx(5 / 6)


def test_mode_count_of_fitted_densities(rng: np.random.Generator) -> None:
    two = np.clip(np.concatenate([rng.beta(2, 12, 3000), rng.beta(12, 2, 3000)]), 1e-3, 1 - 1e-3)
    one = np.clip(rng.beta(2, 6, 6000), 1e-3, 1 - 1e-3)
    assert fit_beta_mixture(two).n_modes() == 2
    assert fit_beta_mixture(one).n_modes() == 1
    assert fit_gaussian_mixture(np.concatenate([rng.normal(0, 1, 2000), rng.normal(8, 1, 2000)])).n_modes() == 2
