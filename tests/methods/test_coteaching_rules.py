"""The pure rules of NCR and BiCro: the split, NCR's prediction and margins, BiCro's anchor labels and BMM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.losses_robust import soft_margin
from workbench.methods.bicro import (
    anchor_consistency,
    code_beta_mixture,
    consistency_ratio,
    labeled_labels,
    unlabeled_labels,
)
from workbench.methods.coteaching import (
    FORCED_NOISY_FRACTION,
    hinge_confidence,
    predict_confidence,
    threshold_split,
)
from workbench.methods.ncr import corrected_margins
from workbench.mixture import clean_probability, fit_beta_mixture

S3 = torch.tensor([[0.9, 0.5, 0.2], [0.3, 0.8, 0.6], [0.4, 0.7, 0.5]], dtype=torch.float64)


# ---------------------------------------------------------------------------------------------- split
def test_threshold_split_and_forced_noisy() -> None:
    prob = np.array([0.9, 0.2, 0.7, 0.5, 0.51])
    d = threshold_split(prob, 0.5)
    assert d.clean.tolist() == [True, False, True, False, True] and not d.forced
    assert d.labeled.tolist() == [0, 2, 4] and d.unlabeled.tolist() == [1, 3]
    # nothing below the threshold: the threshold moves to the 3rd (= 300 // 100) smallest value, so the
    # 4 lowest of 300 distinct values become unlabeled (``prob > threshold`` keeps the rest)
    prob = np.random.default_rng(1).permutation(np.linspace(0.6, 0.99, 300))
    d = threshold_split(prob, 0.5)
    assert d.forced and int((~d.clean).sum()) == int(300 * FORCED_NOISY_FRACTION) + 1
    assert set(np.flatnonzero(~d.clean)) == set(np.argsort(prob)[:4])


# ---------------------------------------------------------------------------------------------- NCR
def test_predict_confidence_by_hand() -> None:
    # mean hinges (alpha 0.2, worked on paper): rows (0, 0, 0.5/3), columns (0, 0.1/3, 0.3/3)
    h = torch.tensor([0.0, 0.1 / 3, 0.8 / 3], dtype=torch.float64)
    assert torch.allclose(hinge_confidence(S3, 0.2), 0.2 - h / 2)
    # B // 10 + 1 = 1: divided by the largest confidence (0.2)
    assert torch.allclose(predict_confidence(S3, 0.2), (0.2 - h / 2) / 0.2)
    # positives 0.2 below every negative: mean hinge 1.6/3 > 2 alpha, so no confidence anywhere (no 0/0)
    inverted = -0.2 * torch.eye(3, dtype=torch.float64)
    assert torch.equal(predict_confidence(inverted, 0.2), torch.zeros(3, dtype=torch.float64))


def test_predict_confidence_clamps_to_one(rng: np.random.Generator) -> None:
    scores = torch.as_tensor(rng.uniform(size=(30, 30)))
    p = predict_confidence(scores, 0.2)
    top = hinge_confidence(scores, 0.2).topk(4).values.mean()  # 30 // 10 + 1 = 4
    assert torch.allclose(p, (hinge_confidence(scores, 0.2) / top).clamp(max=1.0))
    assert float(p.max()) == 1.0 and float(p.min()) >= 0.0


def test_corrected_margins_per_sample_and_code_broadcast() -> None:
    w = torch.tensor([0.9, 0.2, 0.6], dtype=torch.float64)
    p = torch.tensor([0.1, 0.8, 0.5], dtype=torch.float64)
    per = corrected_margins(p, kind="exponential", margin=0.2, broadcast="per_sample", weights=w)
    assert torch.allclose(per, soft_margin(w + (1 - w) * p, "exponential", 0.2))
    code = corrected_margins(p, kind="exponential", margin=0.2, broadcast="code", weights=w)
    for i in range(3):
        for j in range(3):
            assert code[i, j].item() == pytest.approx(soft_margin(w[i] + (1 - w[i]) * p[j], "exponential", 0.2).item())
    y = torch.tensor([0.3, 1.0, 0.0], dtype=torch.float64)
    rows = corrected_margins(y, kind="linear", margin=0.2, broadcast="code")
    assert torch.allclose(rows, (0.2 * y)[:, None].expand(3, 3))
    assert torch.allclose(corrected_margins(y, kind="linear", margin=0.2, broadcast="per_sample"), 0.2 * y)
    with pytest.raises(ValueError, match="broadcast"):
        corrected_margins(y, kind="linear", margin=0.2, broadcast="rows")


# ---------------------------------------------------------------------------------------------- BiCro
def test_consistency_ratio_by_hand() -> None:
    pick = torch.tensor([[0.9, 0.2], [0.1, 0.5], [0.3, 0.1], [0.4, 0.0], [0.0, -1.0]])
    other = torch.tensor([[0.6, 0.8], [0.3, 0.25], [0.6, 0.0], [-0.2, 0.5], [0.0, 0.3]])
    # nearest anchor by `pick`; c/d if below 1 else d/c; a negative ratio passes through (the code's rule)
    want = torch.tensor([0.6 / 0.9, 0.25 / 0.5, 0.3 / 0.6, 0.4 / -0.2, 0.0])
    assert torch.allclose(consistency_ratio(pick, other), want)


def _labels_reference(conf: np.ndarray, img: np.ndarray, txt: np.ndarray, threshold: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loops: raw labels of every pair, the anchors (highest confidence) and the rest (ascending)."""
    b = len(conf)
    order = np.argsort(conf)
    anchors, rest = order[b - (b // 10 + 1):], order[: b - (b // 10 + 1)]
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)

    def ratio(c: float, d: float) -> float:
        return c / d if c / d < 1 else d / c

    raw = np.zeros(b)
    for x in range(b):
        a_img = max(anchors, key=lambda a: img[x] @ img[a])
        a_txt = max(anchors, key=lambda a: txt[x] @ txt[a])
        r = ratio(img[x] @ img[a_img], txt[x] @ txt[a_img]) + ratio(txt[x] @ txt[a_txt], img[x] @ img[a_txt])
        y = 0.5 + r / 4
        raw[x] = min(max(y if y > threshold else 0.0, 0.0), 1.0)
    return raw, anchors, rest


def test_labeled_labels_match_loops_and_code_scatter(rng: np.random.Generator) -> None:
    b = 12  # 2 anchors
    conf = rng.permutation(b).astype(float)
    img = rng.normal(size=(b, 5)) + 2.0  # mostly positive cosines, so both branches of the ratio occur
    txt = rng.normal(size=(b, 5)) + 2.0
    raw, anchors, rest = _labels_reference(conf, img, txt, 0.5)
    y, got_anchors = labeled_labels(torch.as_tensor(conf), torch.as_tensor(img), torch.as_tensor(txt))
    assert sorted(got_anchors.tolist()) == sorted(anchors.tolist())
    want = raw.copy()
    want[anchors] = 1.0
    assert np.allclose(y.numpy(), want)
    y_code, _ = labeled_labels(torch.as_tensor(conf), torch.as_tensor(img), torch.as_tensor(txt), scatter="code")
    want_code = np.ones(b)
    want_code[rest] = raw[: len(rest)]  # scatter_ writes the labels in batch order
    assert np.allclose(y_code.numpy(), want_code)
    assert not np.allclose(want_code, want)  # the two rules really differ on this batch


def test_unlabeled_labels_threshold_and_anchor_identity(rng: np.random.Generator) -> None:
    anchors = torch.as_tensor(rng.normal(size=(3, 4)))
    # a pair identical to an anchor in both modalities is perfectly consistent: r = 1 + 1
    same = anchor_consistency(anchors[:1], anchors[:1] * 2.0, anchors, anchors)
    assert same.item() == pytest.approx(2.0)
    img, txt = torch.as_tensor(rng.normal(size=(20, 4))), torch.as_tensor(rng.normal(size=(20, 4)))
    y = unlabeled_labels(img, txt, anchors, anchors, threshold=0.5)
    raw = anchor_consistency(img, txt, anchors, anchors) / 2
    assert torch.allclose(y, torch.where(raw > 0.5, raw, torch.zeros_like(raw)).clamp(0, 1))
    assert bool((y > 0).any()) and bool((y == 0).any())  # both sides of the threshold are exercised


def test_code_beta_mixture_separates_like_the_workbench_fit(rng: np.random.Generator) -> None:
    x = np.clip(np.concatenate([rng.beta(2, 10, 600), rng.beta(10, 2, 400)]), 1e-4, 1 - 1e-4)
    low = np.arange(1000) < 600
    prob = code_beta_mixture(x)
    assert prob.shape == (1000,) and np.all((prob >= 0) & (prob <= 1))
    assert np.mean(prob[low] > 0.5) > 0.95 and np.mean(prob[~low] < 0.5) > 0.95
    reference = clean_probability(fit_beta_mixture(x), x)
    assert np.mean(np.abs(prob - reference)) < 0.05
