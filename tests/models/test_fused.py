"""The fused local projection equals the unfused tensor-op computation, values and gradients (float64)."""

from __future__ import annotations

import pytest
import torch

from workbench.models import fused
from workbench.models.encoders import l2norm


def _reference(attn, regions, words, weight, bias):  # noqa: ANN001, ANN202
    context = l2norm(torch.bmm(attn, regions), dim=-1)  # [n, M, d]
    return torch.nn.functional.linear((context - words[None]).pow(2), weight, bias)


def _inputs(seed: int) -> tuple[torch.Tensor, ...]:
    """Float64 inputs of 3 images x 11 word rows (the last two padded), 5 regions, d 6, s 4."""
    g = torch.Generator().manual_seed(seed)
    n, m, r, d, s = 3, 11, 5, 6, 4
    attn = torch.softmax(torch.randn(n, m, r, generator=g, dtype=torch.float64), dim=-1).requires_grad_()
    regions = torch.randn(n, r, d, generator=g, dtype=torch.float64, requires_grad=True)
    words = torch.randn(m, d, generator=g, dtype=torch.float64)
    words[-2:] = 0  # padded words
    words.requires_grad_()
    weight = torch.randn(s, d, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True)
    return attn, regions, words, weight, bias


def _assert_same_values_and_gradients(out: torch.Tensor, ref: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> None:
    torch.testing.assert_close(out, ref)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    for got, want in zip(torch.autograd.grad(out, inputs, upstream), torch.autograd.grad(ref, inputs, upstream), strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("block", [7, 22, 10_000])  # rows split per image; groups of 2 images; all at once
def test_fused_equals_reference(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "BLOCK_ELEMENTS", block * 6)
    inputs = _inputs(0)
    _assert_same_values_and_gradients(fused.local_projection(*inputs), _reference(*inputs), inputs)


def test_gradcheck() -> None:
    g = torch.Generator().manual_seed(1)
    attn = torch.softmax(torch.randn(2, 4, 3, generator=g, dtype=torch.float64), -1).requires_grad_()
    regions = torch.randn(2, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    words = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fused.local_projection, (attn, regions, words, weight, bias))


@pytest.mark.parametrize("normalise", [False, True])
def test_mixed_precision_inputs_follow_the_activations(normalise: bool) -> None:
    g = torch.Generator().manual_seed(2)
    attn = torch.softmax(torch.randn(2, 4, 3, generator=g), -1).bfloat16()
    regions = torch.randn(2, 3, 5, generator=g).bfloat16()
    words = torch.randn(4, 5, generator=g).bfloat16()
    weight = torch.randn(2, 5, generator=g, requires_grad=True)
    bias = torch.randn(2, generator=g, requires_grad=True)
    out = fused.local_projection(attn, regions, words, weight, bias, normalise=normalise)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert weight.grad is not None and weight.grad.dtype == torch.float32


@pytest.mark.parametrize("block", [7, 22, 10_000])
def test_normalised_output_equals_l2norm_of_the_projection(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``normalise=True`` is SGRAF's local node ``l2norm(P)``: values and all five gradients (float64)."""
    monkeypatch.setattr(fused, "BLOCK_ELEMENTS", block * 6)
    inputs = _inputs(3)
    out = fused.local_projection(*inputs, normalise=True)
    _assert_same_values_and_gradients(out, l2norm(_reference(*inputs), dim=-1), inputs)
    assert torch.autograd.gradcheck(lambda *x: fused.local_projection(*x, normalise=True), inputs)
