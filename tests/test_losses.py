"""Losses against hand-computed values on tiny batches."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.losses import (
    infonce_loss,
    per_sample_hinge,
    rce_loss,
    rematch_loss,
    total_loss,
    triplet_all_loss,
    triplet_loss,
    warmup_loss,
)

S = torch.tensor([[0.9, 0.2, 0.6],
                  [0.1, 0.5, 0.4],
                  [0.3, 0.7, 0.8]], dtype=torch.float64)


def test_triplet_hardest_negative_by_hand() -> None:
    # rows (caption retrieval): max_j [0.2 + S_ij - S_ii]+ : row0 max(0.2+0.2-0.9, 0.2+0.6-0.9)=0 ;
    # row1: 0.2+0.4-0.5=0.1 ; row2: 0.2+0.7-0.8=0.1
    # cols (image retrieval): col0: max(0.2+0.1-0.9, 0.2+0.3-0.9)=0 ; col1: 0.2+0.7-0.5=0.4 ; col2: 0.2+0.6-0.8=0
    out = triplet_loss(S, 0.2)["triplet_loss"]
    assert out.item() == pytest.approx(0.1 + 0.1 + 0.4)
    assert triplet_loss(S, 0.2, reduction="mean")["triplet_loss"].item() == pytest.approx(0.6 / 3)


def test_triplet_all_and_per_sample_hinge_by_hand() -> None:
    # all violations: row1 0.1 ; row2 0.1 ; col1: (0.2+0.2-0.5=-0.1 ->0, 0.4) ; col2: 0.2+0.6-0.8=0, 0.2+0.4-0.8=-0.2
    assert triplet_all_loss(S, 0.2)["triplet_all_loss"].item() == pytest.approx(0.6)
    per = per_sample_hinge(S, 0.2)
    # pair 1: row mean (0 + 0 + 0.1)/3, column 1 mean (0 + 0 + 0.4)/3
    assert per.tolist() == pytest.approx([0.0, 0.5 / 3, 0.1 / 3])


def test_soft_margin_per_sample() -> None:
    margins = torch.tensor([0.2, 0.0, 0.2], dtype=torch.float64)
    # row1 uses margin 0 -> 0.4-0.5 <0 -> 0 ; column 1 uses margin 0 -> 0.7-0.5 = 0.2
    out = triplet_loss(S, margins, reduction="none")["triplet_loss"]
    assert out.tolist() == pytest.approx([0.0, 0.2, 0.1])


def test_infonce_and_rce_by_hand() -> None:
    tau = 0.5
    p_row = torch.softmax(S / tau, dim=1)
    p_col = torch.softmax(S.T / tau, dim=1)
    ce = -(p_row.diagonal().log().mean() + p_col.diagonal().log().mean())
    assert infonce_loss(S, tau)["infonce_loss"].item() == pytest.approx(0.5 * ce.item())
    eps = 1e-7
    rce = 0.0
    for p in (p_row, p_col):
        for i in range(3):
            rce += -sum(p[i, j].item() * math.log(1 - eps if i == j else eps) for j in range(3)) / 3
    assert rce_loss(S, tau, eps)["rce_loss"].item() == pytest.approx(0.5 * rce)


def test_warmup_initial_value_matches_reference_log() -> None:
    """Constant similarities at batch 128: 0.5 (2 ln 128 + 2 * 16.12 * 127/128) = 20.84 (spec §4.1)."""
    scores = torch.full((128, 128), 0.5)
    terms = warmup_loss(scores, "infonce_rce", tau=0.05)
    assert total_loss(terms).item() == pytest.approx(20.84, abs=0.01)


def test_rematch_sym_kl_by_hand_and_zero_at_target() -> None:
    tau = 0.5
    t_i2t = torch.softmax(torch.randn(3, 3, dtype=torch.float64), dim=1)
    t_t2i = torch.softmax(torch.randn(3, 3, dtype=torch.float64), dim=1)
    p_row, p_col = torch.softmax(S / tau, 1), torch.softmax(S.T / tau, 1)

    def kl(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a * (a / b).log()).sum() / a.shape[0])

    want = 0.5 * (kl(t_i2t, p_row) + kl(p_row, t_i2t)) + 0.5 * (kl(t_t2i, p_col) + kl(p_col, t_t2i))
    got = rematch_loss(S, t_i2t, t_t2i, tau=tau)["rematch_loss"].item()
    assert got == pytest.approx(want)
    assert rematch_loss(S, t_i2t, t_t2i, tau=tau, kind="kl")["rematch_loss"].item() == pytest.approx(
        kl(t_i2t, p_row) + kl(t_t2i, p_col))
    zero = rematch_loss(S, p_row, p_col, tau=tau)["rematch_loss"].item()
    assert zero == pytest.approx(0.0, abs=1e-12)
    soft_ce = rematch_loss(S, t_i2t, t_t2i, tau=tau, kind="infonce")["rematch_loss"].item()
    want_ce = -float((t_i2t * p_row.log()).sum() / 3 + (t_t2i * p_col.log()).sum() / 3)
    assert soft_ce == pytest.approx(want_ce)


def test_rematch_gradient_flows_to_scores_not_targets() -> None:
    scores = S.clone().requires_grad_(True)
    target = torch.softmax(torch.randn(3, 3, dtype=torch.float64), 1).requires_grad_(True)
    rematch_loss(scores, target, target.T.contiguous())["rematch_loss"].backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0
    assert target.grad is None


def test_rematch_kl_and_infonce_differ_by_the_target_entropy_only() -> None:
    g = torch.Generator().manual_seed(3)
    t_i2t = torch.softmax(torch.randn(3, 3, generator=g, dtype=torch.float64), 1)
    t_t2i = torch.softmax(torch.randn(3, 3, generator=g, dtype=torch.float64), 1)
    values, grads = {}, {}
    for kind in ("kl", "infonce", "sym_kl"):
        scores = S.clone().requires_grad_(True)
        loss = rematch_loss(scores, t_i2t, t_t2i, tau=0.1, kind=kind)["rematch_loss"]
        loss.backward()
        values[kind], grads[kind] = loss.item(), scores.grad
    entropy = -float((t_i2t * t_i2t.log()).sum() + (t_t2i * t_t2i.log()).sum()) / 3
    assert values["infonce"] - values["kl"] == pytest.approx(entropy, abs=1e-12)
    torch.testing.assert_close(grads["kl"], grads["infonce"], rtol=0, atol=1e-12)
    assert (grads["sym_kl"] - grads["kl"]).abs().max() > 1e-3  # the reverse term does change the gradient


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="square"):
        triplet_loss(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="do not match"):
        rematch_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="unknown warm-up"):
        warmup_loss(S, "nope")
