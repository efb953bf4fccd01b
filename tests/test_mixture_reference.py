"""The split's beta-mixture EM against independent references built on scipy.

* The EM fixed point: the beta-mixture EM of the official code (responsibilities, then a weighted method of
  moments) written here independently with ``scipy.stats.beta`` and solved as ``T(theta) = theta`` with
  ``scipy.optimize.root``: the point EM converges to. The ``official`` stopping rule (total log-likelihood
  gain < 0.1) must land on it; the ``mean`` rule stops measurably earlier.
* The maximum-likelihood fit: ``scipy.optimize.minimize`` of the mixture's negative log-likelihood. The
  method-of-moments M-step does not maximise the likelihood, so the two agree only where the components are
  well separated; there they must.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from workbench.mixture import MixtureFit, clean_probability, fit_beta_mixture


def _theta(fit: MixtureFit) -> np.ndarray:
    """``[w_clean, a_clean, b_clean, a_noisy, b_noisy]``."""
    return np.r_[fit.weights[0], fit.params[0], fit.params[1]]


def _em_map(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One EM step: posteriors under ``theta``, then the weighted method of moments per component."""
    w0, a0, b0, a1, b1 = theta
    log0 = np.log(w0) + stats.beta.logpdf(x, a0, b0)
    log1 = np.log1p(-w0) + stats.beta.logpdf(x, a1, b1)
    r0 = special.expit(log0 - log1)
    out = [r0.mean()]
    for r in (r0, 1.0 - r0):
        m = np.average(x, weights=r)
        v = np.average((x - m) ** 2, weights=r)
        a = m * (m * (1 - m) / v - 1)
        out += [a, a * (1 - m) / m]
    return np.array(out)


def _fixed_point(x: np.ndarray, start: np.ndarray) -> np.ndarray:
    res = optimize.root(lambda t: _em_map(t, x) - t, start, method="hybr")
    assert res.success, res.message
    return res.x


def _mle(x: np.ndarray, start: np.ndarray) -> np.ndarray:
    lx, l1x = np.log(x), np.log1p(-x)

    def nll(z: np.ndarray) -> float:
        w0, (a0, b0, a1, b1) = special.expit(z[0]), np.exp(z[1:])
        return -float(np.logaddexp(np.log(w0) + (a0 - 1) * lx + (b0 - 1) * l1x - special.betaln(a0, b0),
                                   np.log1p(-w0) + (a1 - 1) * lx + (b1 - 1) * l1x - special.betaln(a1, b1)).sum())

    res = optimize.minimize(nll, np.r_[special.logit(start[0]), np.log(start[1:])], method="L-BFGS-B")
    assert res.success, res.message
    return np.r_[special.expit(res.x[0]), np.exp(res.x[1:])]


def _decisions(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    w0, a0, b0, a1, b1 = theta
    return np.log(w0) + stats.beta.logpdf(x, a0, b0) > np.log1p(-w0) + stats.beta.logpdf(x, a1, b1)


def _mixture(n: int, noise: float, seed: int) -> np.ndarray:
    """Per-sample losses of a split: clean ~ Beta(2, 8), mismatched ~ Beta(7, 2)."""
    rng = np.random.default_rng(seed)
    noisy = rng.random(n) < noise
    return np.clip(np.where(noisy, rng.beta(7.0, 2.0, n), rng.beta(2.0, 8.0, n)), 1e-3, 1 - 1e-3)


@pytest.mark.parametrize(("n", "noise"), [(20_000, 0.6), pytest.param(145_000, 0.2, marks=pytest.mark.slow)])
def test_official_stop_lands_on_the_em_fixed_point(n: int, noise: float) -> None:
    x = _mixture(n, noise, seed=2)
    official, fast = fit_beta_mixture(x, stop="official"), fit_beta_mixture(x, stop="mean")
    reference = _fixed_point(x, _theta(official))
    assert official.converged and official.n_iter > fast.n_iter
    np.testing.assert_allclose(_theta(official), reference, rtol=0.03)
    assert abs(official.weights[0] - reference[0]) < 2e-3
    truth = _decisions(reference, x)
    ours = clean_probability(official, x) > 0.5
    assert np.mean(ours != truth) < 2e-3
    # the mean-gain rule stops before the fixed point: further from it than the official rule
    err = lambda t: np.max(np.abs(t - reference) / reference)  # noqa: E731
    assert err(_theta(fast)) > 1.5 * err(_theta(official))


def test_well_separated_fit_agrees_with_maximum_likelihood() -> None:
    x = _mixture(20_000, 0.4, seed=3)
    fit = fit_beta_mixture(x, stop="official")
    mle = _mle(x, _theta(fit))
    assert abs(fit.weights[0] - mle[0]) < 2e-3
    np.testing.assert_allclose(_theta(fit)[1:], mle[1:], rtol=0.03)
    assert np.mean((clean_probability(fit, x) > 0.5) != _decisions(mle, x)) < 2e-3
    assert abs(mle[0] - 0.6) < 0.02  # and both recover the generating mixture


def test_em_stop_is_validated() -> None:
    with pytest.raises(ValueError, match="stop='total'"):
        fit_beta_mixture(_mixture(100, 0.5, seed=0), stop="total")  # type: ignore[arg-type]
