"""The sparse backward of the SGR head (``workbench.models.sparse_grad``) gives the ordinary gradients.

Every comparison runs the same model twice from the same RNG state (dropout on), once with the ordinary
backward through all pairs and once through the active pairs only, in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from workbench.config import ModelConfig
from workbench.losses import infonce_loss, triplet_loss
from workbench.models import RetrievalModel
from workbench.models.encoders import Captions
from workbench.models.sgraf import SGRAFHead
from workbench.models.sparse_grad import DENSE_FRACTION, sparse_grad_logits

N = 24  # a triplet loss touches <= 3N of N^2 = 576 entries: 12.5 %, below DENSE_FRACTION (25 %)


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _model(backbone: str = "sgr", **overrides: object) -> RetrievalModel:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=backbone, word_dim=12, embed_size=16, sim_dim=8, dropout=0.3, **overrides)
    return RetrievalModel(cfg, vocab_size=40, img_dim=10, n_regions=5).train()


def _batch(n: int = N) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    images = torch.randn(n, 5, 10, generator=g)
    lengths = torch.randint(2, 8, (n,), generator=g)
    tokens = torch.randint(4, 40, (n, 7), generator=g)
    tokens[torch.arange(7)[None] >= lengths[:, None]] = 0
    return images, tokens, lengths


def _grads(model: RetrievalModel, loss_fn: Callable[[Tensor], Tensor], *, sparse: bool,
           n: int = N) -> tuple[float, Tensor, dict[str, Tensor]]:
    images, tokens, lengths = _batch(n)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)  # the same dropout masks in both runs
    scores = torch.sigmoid(model.logits(model.encode_images(images), model.encode_captions(tokens, lengths),
                                        sparse_loss=sparse))
    loss = loss_fn(scores)
    loss.backward()
    return float(loss.detach()), scores.detach(), {k: p.grad.clone() for k, p in model.named_parameters()
                                                   if p.grad is not None}


class _Spy:
    """Records how the head was called during the backward."""

    def __init__(self, head: SGRAFHead, monkeypatch: pytest.MonkeyPatch) -> None:
        self.indexed: list[int] = []
        self.all_pairs = 0
        indexed, all_pairs = head.indexed_logits, head.all_pair_logits

        def spy_indexed(*args: Tensor) -> Tensor:
            self.indexed.append(int(args[-1].numel()))
            return indexed(*args)

        def spy_all(*args: Tensor) -> Tensor:
            self.all_pairs += 1
            return all_pairs(*args)

        monkeypatch.setattr(head, "indexed_logits", spy_indexed)
        monkeypatch.setattr(head, "all_pair_logits", spy_all)


def _assert_same_grads(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-12, msg=name)


def test_triplet_gradients_equal_the_ordinary_backward_through_few_pairs(monkeypatch):
    assert 3 * N < DENSE_FRACTION * N * N  # so the sparse path must run
    model = _model()
    loss_fn = lambda s: triplet_loss(s, 0.2)["triplet_loss"]  # noqa: E731
    loss_dense, scores_dense, dense = _grads(model, loss_fn, sparse=False)
    spy = _Spy(model.head, monkeypatch)
    loss_sparse, scores_sparse, sparse = _grads(model, loss_fn, sparse=True)
    assert loss_sparse == pytest.approx(loss_dense, abs=1e-12)
    torch.testing.assert_close(scores_sparse, scores_dense, rtol=0, atol=1e-12)
    _assert_same_grads(dense, sparse)
    # the backward recomputed the diagonal and the hardest negatives only, not the N^2 pairs
    assert len(spy.indexed) == 1 and N <= spy.indexed[0] <= 3 * N
    assert spy.all_pairs == 1  # the forward's no-graph pass
    assert dense["head.local_w.weight"].abs().max() > 1e-3  # the head did receive gradients


def test_per_sample_margins_as_ncr_and_bicro_use_them():
    model = _model()
    margins = torch.linspace(0.0, 0.4, N)
    loss_fn = lambda s: triplet_loss(s, margins)["triplet_loss"]  # noqa: E731
    _, _, dense = _grads(model, loss_fn, sparse=False)
    _, _, sparse = _grads(model, loss_fn, sparse=True)
    _assert_same_grads(dense, sparse)


def test_a_dense_loss_recomputes_all_pairs_and_still_matches(monkeypatch):
    model = _model()
    loss_fn = lambda s: infonce_loss(s, 0.05)["infonce_loss"]  # noqa: E731
    _, _, dense = _grads(model, loss_fn, sparse=False)
    spy = _Spy(model.head, monkeypatch)
    _, _, sparse = _grads(model, loss_fn, sparse=True)
    _assert_same_grads(dense, sparse)
    assert spy.indexed == [] and spy.all_pairs == 2  # forward without a graph, backward with one


def test_gradients_reach_the_inputs_exactly():
    model = _model()
    head = model.head
    images, tokens, lengths = _batch()
    regions = model.encode_images(images).detach().requires_grad_()
    caps = model.encode_captions(tokens, lengths)
    words = caps.words.detach().requires_grad_()
    captions = Captions(words, caps.lengths)
    torch.manual_seed(3)
    img_glob, txt_glob = head.v_global(regions), head.t_global(captions)
    weights = torch.zeros(N, N)
    weights[torch.arange(N), torch.arange(N)] = 1.0
    weights[torch.arange(N), torch.arange(N).roll(1)] = -0.5  # 2N active entries
    dense = torch.autograd.grad((head.all_pair_logits(regions, captions, img_glob, txt_glob) * weights).sum(),
                                (regions, words), retain_graph=True)  # the global vectors' graph is reused
    sparse = torch.autograd.grad((sparse_grad_logits(head, regions, captions, img_glob, txt_glob) * weights).sum(),
                                 (regions, words))
    for a, b in zip(dense, sparse, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


def test_indexed_logits_equal_the_all_pairs_entries_in_training():
    model = _model()
    head = model.head
    images, tokens, lengths = _batch()
    regions, captions = model.encode_images(images), model.encode_captions(tokens, lengths)
    img_glob, txt_glob = head.v_global(regions), head.t_global(captions)
    full = head.all_pair_logits(regions, captions, img_glob, txt_glob)
    i, j = torch.tensor([0, 5, 23, 7]), torch.tensor([3, 5, 0, 22])
    torch.testing.assert_close(head.indexed_logits(regions, captions, img_glob, txt_glob, i, j), full[i, j],
                               rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="must be equal 1-d shapes"):
        head.indexed_logits(regions, captions, img_glob, txt_glob, i, j[:2])


def test_without_grad_or_when_switched_off_the_ordinary_path_runs(monkeypatch):
    model = _model(sparse_grad=False)
    spy = _Spy(model.head, monkeypatch)
    images, tokens, lengths = _batch()
    scores = model.logits(model.encode_images(images), model.encode_captions(tokens, lengths), sparse_loss=True)
    assert "SparseGrad" not in type(scores.grad_fn).__name__
    assert spy.all_pairs == 1
    on = _model()
    with torch.no_grad():
        out = on.logits(on.encode_images(images), on.encode_captions(tokens, lengths), sparse_loss=True)
    assert out.grad_fn is None


def test_saf_refuses_sparse_gradients_and_single_training_pairs():
    model = _model("saf")
    images, tokens, lengths = _batch(4)
    regions, captions = model.encode_images(images), model.encode_captions(tokens, lengths)
    assert not model.sparse_grad  # the model never asks SAF for it
    with pytest.raises(ValueError, match="SAF's per-caption BatchNorm"):
        model.head(regions, captions, sparse_grad=True)
    index = torch.arange(4)
    with pytest.raises(ValueError, match="SAF pairs cannot be scored one by one"):
        model.head.indexed_logits(regions, captions, regions[:, 0], captions.words[:, 0], index, index)
