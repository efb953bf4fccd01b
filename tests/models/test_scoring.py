"""Scoring trained models: aligned-pair scores equal the matrix's diagonal; a shortlist as long as the
gallery equals the exhaustive evaluation; shortlists lose only queries whose ground truth was not shortlisted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.config import ModelConfig
from workbench.data.dataset import EvalSplit, TokenizedCaptions
from workbench.data.vocab import Vocabulary
from workbench.models import RetrievalModel
from workbench.scoring import encode_split, evaluate_split, shortlist_ranks, similarity_fn


def _split(n: int = 12, k: int = 5, seed: int = 0) -> tuple[EvalSplit, int]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30)]
    vocab = Vocabulary.from_words(["<pad>", "<start>", "<end>", "<unk>", *words])
    texts = tuple(" ".join(rng.choice(words, rng.integers(2, 7))) for _ in range(n * k))
    images = rng.standard_normal((n, 6, 10)).astype(np.float32)
    return EvalSplit("test", images, TokenizedCaptions.encode(texts, vocab), k), len(vocab)


@pytest.mark.parametrize("backbone", ["vse", "sgr", "saf"])
def test_aligned_scores_equal_the_matrix_diagonal(backbone: str) -> None:
    torch.manual_seed(0)
    split, vocab = _split()
    model = RetrievalModel(ModelConfig(backbone=backbone, word_dim=8, embed_size=16, sim_dim=8), vocab_size=vocab,
                           img_dim=10, n_regions=6).eval()
    enc = encode_split(model, split, torch.device("cpu"))
    full = similarity_fn([enc])(np.arange(12), np.arange(60))
    img = np.repeat(np.arange(12), 5)
    cap = np.arange(60)
    aligned = model.aligned_scores(enc.regions[torch.as_tensor(img)], enc.captions.select(torch.as_tensor(cap)))
    np.testing.assert_allclose(aligned.detach().numpy(), full[img, cap], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backbone", ["vse", "sgr"])
def test_shortlist_covering_everything_equals_exhaustive(backbone: str) -> None:
    torch.manual_seed(1)
    split, vocab = _split(n=10)
    model = RetrievalModel(ModelConfig(backbone=backbone, word_dim=8, embed_size=16, sim_dim=8), vocab_size=vocab,
                           img_dim=10, n_regions=6).eval()
    exhaustive = evaluate_split([model], split, torch.device("cpu"))["all"]
    full_list = evaluate_split([model], split, torch.device("cpu"), mode="shortlist", shortlist_k=50)["all"]
    assert full_list.as_dict() == pytest.approx(exhaustive.as_dict())


def _assert_i2t_is_fine_rank_within_coarse_top_k(i2t: np.ndarray, fine: np.ndarray, coarse: np.ndarray,
                                                  gt: np.ndarray, k: int) -> None:
    """Brute-force oracle: image i's rank = fine-score rank of its best caption among the coarse top-k (>= k if none)."""
    for i in range(len(i2t)):
        cand = np.argsort(-coarse[i], kind="stable")[:k]
        hit = gt[cand] == i
        if hit.any():
            assert i2t[i] == np.sum(fine[i, cand[~hit]] >= fine[i, cand[hit]].max())
        else:
            assert i2t[i] >= k


def test_short_shortlist_against_a_brute_force_oracle() -> None:
    torch.manual_seed(2)
    split, vocab = _split(n=20)
    model = RetrievalModel(ModelConfig(backbone="sgr", word_dim=8, embed_size=16, sim_dim=8), vocab_size=vocab,
                           img_dim=10, n_regions=6).eval()
    enc = encode_split(model, split, torch.device("cpu"))
    k = 4
    i2t, t2i = shortlist_ranks([enc], 5, k=k)
    fine = similarity_fn([enc])(np.arange(20), np.arange(100))
    img, txt = model.global_embeddings(enc.regions, enc.captions)
    coarse = (img @ txt.T).detach().numpy()
    gt = np.arange(100) // 5
    _assert_i2t_is_fine_rank_within_coarse_top_k(i2t, fine, coarse, gt, k)
    for c in range(100):
        cand = np.argsort(-coarse[:, c], kind="stable")[:k]
        hit = cand == gt[c]
        if hit.any():
            assert t2i[c] == np.sum(fine[cand[~hit], c] >= fine[gt[c], c])
        else:
            assert t2i[c] >= k


def test_shortlist_candidates_can_come_from_another_model() -> None:
    torch.manual_seed(3)
    split, vocab = _split(n=20)
    cfg = dict(word_dim=8, embed_size=16, sim_dim=8)
    head = RetrievalModel(ModelConfig(backbone="sgr", **cfg), vocab_size=vocab, img_dim=10, n_regions=6).eval()
    picker = RetrievalModel(ModelConfig(backbone="vse", **cfg), vocab_size=vocab, img_dim=10, n_regions=6).eval()
    enc, picked = (encode_split(m, split, torch.device("cpu")) for m in (head, picker))
    k = 4
    i2t, _ = shortlist_ranks([enc], 5, k=k, candidates=[picked])
    own, _ = shortlist_ranks([enc], 5, k=k)
    assert not np.array_equal(i2t, own)  # the candidates really changed
    fine = similarity_fn([enc])(np.arange(20), np.arange(100))
    img, txt = picker.global_embeddings(picked.regions, picked.captions)
    coarse = (img @ txt.T).detach().numpy()
    # the head's ranking within the picker's top-k, as in the oracle above
    _assert_i2t_is_fine_rank_within_coarse_top_k(i2t, fine, coarse, np.arange(100) // 5, k)
    via_api = evaluate_split([head], split, torch.device("cpu"), mode="shortlist", shortlist_k=k,
                             shortlist_models=[picker])["all"]
    direct = evaluate_split([head], split, torch.device("cpu"), mode="shortlist", shortlist_k=k)["all"]
    assert via_api.as_dict() != direct.as_dict()
