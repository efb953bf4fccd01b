"""The robust baselines' losses against hand-computed values and straightforward loop implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special

from workbench.losses import triplet_loss
from workbench.losses_robust import (
    CCL_VARIANTS,
    ccl_loss,
    dirichlet_kl_uniform,
    edl_loss,
    edl_terms,
    evidence,
    rdh_loss,
    rdh_negatives,
    soft_margin,
)

S3 = torch.tensor([[0.9, 0.5, 0.2], [0.3, 0.8, 0.6], [0.4, 0.7, 0.5]], dtype=torch.float64)


# ---------------------------------------------------------------------------------------------- soft margins
def test_soft_margins_by_hand() -> None:
    y = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    exp = soft_margin(y, "exponential", 0.2)
    assert torch.allclose(exp, torch.tensor([0.0, 0.2 * (math.sqrt(10) - 1) / 9, 0.2], dtype=torch.float64))
    assert torch.allclose(soft_margin(y, "linear", 0.2), 0.2 * y)
    assert torch.allclose(soft_margin(y, "sin", 0.2), torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64))
    with pytest.raises(ValueError, match="soft margin"):
        soft_margin(y, "cubic")


def test_hinge_with_per_sample_and_column_margins_by_hand() -> None:
    # worked on paper: only row 2 (0.7 - 0.5) and column 2 (0.6 - 0.5) violate with margins (0.2, 0.1, 0)
    m = torch.tensor([0.2, 0.1, 0.0], dtype=torch.float64)
    assert triplet_loss(S3, m)["triplet_loss"].item() == pytest.approx(0.3)
    # BiCro's code broadcast: entry [i, j] uses m_j in both directions; row 2 now pays 0.1 + 0.7 - 0.5
    code = m[None, :].expand(3, 3)
    assert triplet_loss(S3, code)["triplet_loss"].item() == pytest.approx(0.4)


# ---------------------------------------------------------------------------------------------- DECL
def test_evidence_is_exp_tanh_over_tau() -> None:
    z = torch.tensor([-3.0, 0.0, 0.5])
    want = torch.tensor([math.exp(math.tanh(-3.0) / 0.1), 1.0, math.exp(math.tanh(0.5) / 0.1)])
    assert torch.allclose(evidence(z, 0.1), want)


def test_dirichlet_kl_matches_torch_distributions(rng: np.random.Generator) -> None:
    alpha = torch.as_tensor(rng.uniform(0.5, 20.0, size=(4, 6)))
    want = torch.distributions.kl_divergence(torch.distributions.Dirichlet(alpha),
                                             torch.distributions.Dirichlet(torch.ones_like(alpha)))
    assert torch.allclose(dirichlet_kl_uniform(alpha), want)


def test_edl_terms_by_hand() -> None:
    alpha = torch.tensor([[2.0, 1.0, 1.0], [2.0, 1.0, 1.0]], dtype=torch.float64)
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    got = edl_terms(alpha, targets, lambda2=0.1)
    # S = 4, m = (1/2, 1/4, 1/4): squared error 0.375, variance 10/80; the clean row's stripped alpha is
    # uniform (KL 0); the noisy row keeps (2, 1, 1): KL = ln Γ(4) - ln Γ(3) + ψ(2) - ψ(4) = ln 3 - 5/6
    assert got[0].item() == pytest.approx(0.375 + 0.125)
    assert got[1].item() == pytest.approx(0.375 + 0.125 + 0.1 * (math.log(3) - 5 / 6))


def _edl_reference(e: np.ndarray, clean: np.ndarray, lambda2: float) -> float:
    """Loops: Sensoy's MSE loss + lambda2 KL per row of alpha = e + 1 and of alpha = e^T + 1."""
    b = e.shape[0]
    total = 0.0
    for mat in (e, e.T):
        for i in range(b):
            alpha = mat[i] + 1
            s = alpha.sum()
            y = np.zeros(b)
            y[i] = 1.0 if clean[i] else 0.0
            loss = sum((y[j] - alpha[j] / s) ** 2 + alpha[j] * (s - alpha[j]) / (s * s * (s + 1)) for j in range(b))
            a = (alpha - 1) * (1 - y) + 1
            sa = a.sum()
            kl = (math.lgamma(sa) - math.lgamma(b) - sum(math.lgamma(x) for x in a)
                  + sum((x - 1) * (special.digamma(x) - special.digamma(sa)) for x in a))
            total += loss + lambda2 * kl
    return total / b


def test_edl_loss_matches_loops(rng: np.random.Generator) -> None:
    e = rng.uniform(0.01, 30.0, size=(4, 4))
    clean = np.array([True, False, True, True])
    got = edl_loss(torch.as_tensor(e), torch.as_tensor(clean), lambda2=0.1)["edl_loss"]
    assert got.item() == pytest.approx(_edl_reference(e, clean, 0.1), rel=1e-10)


def test_edl_loss_rejects_mismatched_flags() -> None:
    with pytest.raises(ValueError, match="clean flags"):
        edl_loss(torch.ones(3, 3), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="square"):
        edl_loss(torch.ones(3, 4), torch.ones(3, dtype=torch.bool))


def test_rdh_negatives_anneal_to_mu() -> None:
    assert rdh_negatives(1, 128) == 127  # floor(127.975)
    assert rdh_negatives(39, 128) == 127  # floor(127.025)
    assert rdh_negatives(41, 128) == 126  # floor(126.975)
    assert rdh_negatives(4879, 128) == 6  # floor(6.025)
    assert rdh_negatives(4881, 128) == 5  # floor(5.975)
    assert rdh_negatives(10**6, 128) == 5
    assert rdh_negatives(10**6, 128, mu=9) == 9


def _rdh_reference(s: np.ndarray, clean: np.ndarray, k: int, margin: float, lambda1: float) -> float:
    b = s.shape[0]
    total = 0.0
    for i in range(b):
        if not clean[i]:
            continue
        row = sorted((max(margin + s[i, j] - s[i, i], 0.0) for j in range(b) if j != i), reverse=True)
        col = sorted((max(margin + s[j, i] - s[i, i], 0.0) for j in range(b) if j != i), reverse=True)
        total += (sum(row[:k]) + sum(col[:k])) / k
    return lambda1 * total


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rdh_loss_matches_loops(rng: np.random.Generator, k: int) -> None:
    s = np.tanh(rng.normal(size=(4, 4)))
    clean = np.array([True, False, True, True])
    got = rdh_loss(torch.as_tensor(s), torch.as_tensor(clean), k, margin=0.2, lambda1=0.8)["rdh_loss"]
    assert got.item() == pytest.approx(_rdh_reference(s, clean, k, 0.2, 0.8))


def test_rdh_loss_short_batch_and_no_clean_pair(rng: np.random.Generator) -> None:
    s = torch.as_tensor(np.tanh(rng.normal(size=(4, 4))))
    everyone = torch.ones(4, dtype=torch.bool)
    # K larger than the batch falls back to B - 1 (all negatives), like the official code
    assert rdh_loss(s, everyone, 50)["rdh_loss"].item() == pytest.approx(
        _rdh_reference(s.numpy(), np.ones(4, bool), 3, 0.2, 0.8))
    assert rdh_loss(s, torch.zeros(4, dtype=torch.bool), 2)["rdh_loss"].item() == 0.0
    with pytest.raises(ValueError, match="negatives"):
        rdh_loss(s, everyone, 0)


# ---------------------------------------------------------------------------------------------- RCL
_H = {
    "log": lambda p, q: -math.log(1 - p + 1e-10),
    "tan": lambda p, q: math.tan(p),
    "abs": lambda p, q: p,
    "exp": lambda p, q: math.exp(-(1 - p)),
    "gce": lambda p, q: (1 - (1 - p + 1e-10) ** q) / q,
}


def _ccl_reference(s: np.ndarray, tau: float, h: str, q: float, mask: np.ndarray | None = None) -> float:
    b = s.shape[0]
    total = 0.0
    for mat in (s, s.T):
        per_row = []
        for i in range(b):
            z = [math.exp(mat[i, j] / tau) for j in range(b)]
            p = [v / sum(z) for v in z]
            if h == "infonce":
                per_row.append(-math.log(p[i]))
                continue
            keep = [j for j in range(b) if j != i and (mask is None or mask[i, j])]
            per_row.append(sum(_H[h](p[j], q) for j in keep))
        total += sum(per_row) / b
    return total


@pytest.mark.parametrize("h", [v for v in CCL_VARIANTS if v != "max_margin"])
def test_ccl_variants_match_loops(h: str) -> None:
    got = ccl_loss(S3, tau=0.5, h=h, q=0.3)["ccl_loss"].item()
    assert got == pytest.approx(_ccl_reference(S3.numpy(), 0.5, h, 0.3), rel=1e-9)


def test_ccl_log_by_hand_on_two_pairs() -> None:
    # S = [[1, 0], [0, 1]], tau = 1: p_01 = p_10 = 1 / (1 + e) in both directions
    s = torch.eye(2, dtype=torch.float64)
    p = 1 / (1 + math.e)
    assert ccl_loss(s, tau=1.0)["ccl_loss"].item() == pytest.approx(-2 * math.log(1 - p))


def test_ccl_max_margin_is_the_triplet_loss_and_mask_subsets_negatives() -> None:
    assert ccl_loss(S3, h="max_margin", margin=0.2)["ccl_loss"].item() == pytest.approx(
        triplet_loss(S3, 0.2)["triplet_loss"].item())
    mask = np.array([[0, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=float)
    got = ccl_loss(S3, tau=0.5, h="log", negatives=torch.as_tensor(mask))["ccl_loss"].item()
    assert got == pytest.approx(_ccl_reference(S3.numpy(), 0.5, "log", 0.2, mask.astype(bool)), rel=1e-9)


def test_ccl_is_minimal_when_every_negative_is_improbable() -> None:
    good = torch.eye(3, dtype=torch.float64)
    bad = torch.ones(3, 3, dtype=torch.float64) - torch.eye(3, dtype=torch.float64)
    assert ccl_loss(good, tau=0.05)["ccl_loss"] < 1e-6 < ccl_loss(bad, tau=0.05)["ccl_loss"]


def test_ccl_rejects_unknown_variant_and_bad_mask() -> None:
    with pytest.raises(ValueError, match="complementary"):
        ccl_loss(S3, h="square")
    with pytest.raises(ValueError, match="negatives mask"):
        ccl_loss(S3, negatives=torch.ones(2, 2))
