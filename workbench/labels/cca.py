r"""Canonical correlation analysis (Hotelling 1936), the classic unsupervised cross-modal reference.

For centred training views ``X`` ``[n, p]`` and ``Y`` ``[n, q]`` with covariances ``C_{xx}, C_{yy}`` (each plus a
ridge ``r \bar\lambda I``, ``\bar\lambda`` its mean eigenvalue) and cross-covariance ``C_{xy}``, the whitened
cross-covariance ``T = C_{xx}^{-1/2} C_{xy} C_{yy}^{-1/2}`` has the SVD ``T = U \Sigma V^\top``; the ``k``
leading canonical directions are ``A = C_{xx}^{-1/2} U_{:k}`` and ``B = C_{yy}^{-1/2} V_{:k}``, with canonical
correlations ``\Sigma_{:k}``. Retrieval compares ``(x - \mu_x) A`` and ``(y - \mu_y) B`` by cosine. CCA uses no
labels, so label noise cannot change it: it is the same number at every noise rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import ConfigError, DataFormatError

__all__ = ["CCAResult", "fit_cca"]


@dataclass(frozen=True)
class CCAResult:
    """A fitted CCA.

    Attributes:
        mean_x: ``[p]``, mean_y: ``[q]`` the training means.
        proj_x: ``[p, k]``, proj_y: ``[q, k]`` the canonical directions ``A``, ``B``.
        correlations: ``[k]`` canonical correlations, descending.
    """

    mean_x: np.ndarray
    mean_y: np.ndarray
    proj_x: np.ndarray
    proj_y: np.ndarray
    correlations: np.ndarray

    def transform(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``([n, k], [m, k])`` canonical variates of ``x`` ``[n, p]`` and ``y`` ``[m, q]``."""
        return (np.asarray(x, np.float64) - self.mean_x) @ self.proj_x, (np.asarray(y, np.float64) - self.mean_y) @ self.proj_y


def _inv_sqrt(cov: np.ndarray, reg: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    ridge = reg * max(float(values.mean()), 1e-12)
    values = np.maximum(values + ridge, 1e-12 * max(float(values.max()), 1e-12))
    return (vectors / np.sqrt(values)) @ vectors.T


def fit_cca(x: np.ndarray, y: np.ndarray, components: int = 10, reg: float = 1e-4) -> CCAResult:
    """Fit CCA on paired training views (module docstring).

    Args:
        x: ``[n, p]`` first view. y: ``[n, q]`` second view, row ``i`` paired with ``x[i]``.
        components: ``k <= min(p, q)``.
        reg: relative ridge (>= 0).

    Raises:
        DataFormatError: views that are not 2-D, have different row counts, fewer than 2 rows or non-finite values.
        ConfigError: ``components`` outside ``[1, min(p, q)]`` or a negative ``reg``.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise DataFormatError(f"CCA needs two 2-D views with the same number (>= 2) of rows, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataFormatError("CCA views contain NaN or inf")
    if not 1 <= components <= min(x.shape[1], y.shape[1]):
        raise ConfigError(f"CCA components = {components} must lie in [1, {min(x.shape[1], y.shape[1])}]")
    if reg < 0:
        raise ConfigError(f"CCA reg = {reg} must be >= 0")
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    n = len(x) - 1
    wx, wy = _inv_sqrt(xc.T @ xc / n, reg), _inv_sqrt(yc.T @ yc / n, reg)
    u, s, vt = np.linalg.svd(wx @ (xc.T @ yc / n) @ wy)
    return CCAResult(mean_x, mean_y, wx @ u[:, :components], wy @ vt.T[:, :components], s[:components])
