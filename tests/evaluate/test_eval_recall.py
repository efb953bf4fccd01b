"""Recall / ranks: in-memory and streamed evaluation against brute-force sorts and hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ConfigError, DataFormatError
from workbench.evaluate import (
    ranks_from_scores,
    ranks_from_similarity,
    recall_from_scores,
    recall_from_similarity,
)


def _lookup(scores: np.ndarray):
    """A sim_fn backed by a matrix, as a model's scorer would be."""

    def sim_fn(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return scores[np.ix_(rows, cols)]

    return sim_fn


LAYOUTS = [(1, 5), (7, 5), (13, 1), (24, 5), (31, 1)]
CHUNKS = [(1, 1), (3, 11), (4, 7), (100, 1000)]


@pytest.mark.parametrize(("n_img", "k"), LAYOUTS)
@pytest.mark.parametrize(("image_chunk", "caption_chunk"), CHUNKS)
def test_streaming_equals_in_memory_equals_argsort(rng, argsort_ranks, n_img, k, image_chunk, caption_chunk):
    scores = rng.normal(size=(n_img, k * n_img))
    want_i2t, want_t2i = argsort_ranks(scores, k)
    in_memory = ranks_from_scores(scores, k, image_chunk=image_chunk, caption_chunk=caption_chunk)
    streamed = ranks_from_similarity(
        _lookup(scores), n_img, k * n_img, k, image_chunk=image_chunk, caption_chunk=caption_chunk
    )
    for ranks in (in_memory, streamed):
        np.testing.assert_array_equal(ranks.i2t, want_i2t)
        np.testing.assert_array_equal(ranks.t2i, want_t2i)


@pytest.mark.parametrize(("n_img", "k"), [(12, 5), (40, 1)])
def test_metrics_match_textbook_definitions(rng, argsort_ranks, oracle_metrics, n_img, k):
    # A weakly informative scorer so the recalls are neither 0 nor 100.
    truth = (np.arange(k * n_img)[None, :] // k == np.arange(n_img)[:, None]).astype(float)
    scores = 1.5 * truth + rng.normal(size=truth.shape)
    want = oracle_metrics(*argsort_ranks(scores, k))
    got = recall_from_scores(scores, k, image_chunk=5, caption_chunk=9).as_dict()
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-9), name
    streamed = recall_from_similarity(_lookup(scores), n_img, k * n_img, k, image_chunk=7, caption_chunk=13)
    assert streamed == recall_from_scores(scores, k)


def test_perfect_scorer_gives_full_recall():
    n_img, k = 20, 5
    perfect = (np.arange(k * n_img)[None, :] // k == np.arange(n_img)[:, None]).astype(np.float32)
    m = recall_from_scores(perfect, k)
    assert (m.i2t_r1, m.i2t_r5, m.i2t_r10, m.t2i_r1, m.t2i_r5, m.t2i_r10) == (100.0,) * 6
    assert m.rsum == 600.0
    assert (m.i2t_medr, m.i2t_meanr, m.t2i_medr, m.t2i_meanr) == (1.0, 1.0, 1.0, 1.0)


def test_reversed_scorer_ranks_ground_truth_last():
    n_img, k = 20, 5
    reversed_ = -(np.arange(k * n_img)[None, :] // k == np.arange(n_img)[:, None]).astype(float)
    ranks = ranks_from_scores(reversed_, k, image_chunk=6, caption_chunk=17)
    # Every other caption (0) beats the image's own captions (-1), and every other image beats the owner.
    np.testing.assert_array_equal(ranks.i2t, np.full(n_img, k * n_img - k))
    np.testing.assert_array_equal(ranks.t2i, np.full(k * n_img, n_img - 1))
    m = ranks.metrics()
    assert m.rsum == 0.0
    assert (m.i2t_medr, m.t2i_medr) == (96.0, 20.0)


def test_hand_computed_three_by_three():
    # k = 1. Row i is image i, column c is caption c, ground truth on the diagonal.
    scores = np.array(
        [
            [0.9, 0.1, 0.5],  # image 0: GT 0.9 is first               -> rank 0
            [0.2, 0.3, 0.8],  # image 1: 0.8 beats GT 0.3              -> rank 1
            [0.95, 0.7, 0.6],  # image 2: 0.95 and 0.7 beat GT 0.6     -> rank 2
        ]
    )
    # t2i: caption 0: 0.95 > 0.9 -> 1; caption 1: 0.7 > 0.3 -> 1; caption 2: 0.8 > 0.6 -> 1.
    ranks = ranks_from_scores(scores, 1)
    np.testing.assert_array_equal(ranks.i2t, [0, 1, 2])
    np.testing.assert_array_equal(ranks.t2i, [1, 1, 1])
    m = ranks.metrics()
    assert m.i2t_r1 == pytest.approx(100 / 3)
    assert m.t2i_r1 == 0.0
    assert m.i2t_r5 == m.t2i_r5 == 100.0
    assert m.rsum == pytest.approx(100 / 3 + 400)  # i2t 33.3 + 100 + 100, t2i 0 + 100 + 100
    assert (m.i2t_medr, m.i2t_meanr, m.t2i_medr, m.t2i_meanr) == (2.0, 2.0, 2.0, 2.0)


def test_hand_computed_two_captions_per_image_uses_best_caption():
    # Image 0 owns captions 0, 1; image 1 owns captions 2, 3.
    scores = np.array([[0.1, 0.8, 0.9, 0.2], [0.3, 0.5, 0.4, 0.0]])
    ranks = ranks_from_scores(scores, 2)
    # Image 0: best GT 0.8, beaten by caption 2 (0.9) -> 1. Image 1: best GT 0.4, beaten by 0.5 -> 1.
    np.testing.assert_array_equal(ranks.i2t, [1, 1])
    # Captions 0..3: GT images 0, 0, 1, 1 with scores 0.1, 0.8, 0.4, 0.0 vs the other image 0.3, 0.5, 0.9, 0.2.
    np.testing.assert_array_equal(ranks.t2i, [1, 0, 1, 1])


@pytest.mark.parametrize(("n_img", "k"), [(9, 5), (17, 1)])
def test_ties_match_sort_with_ground_truth_last(rng, pessimistic_sort_ranks, n_img, k):
    scores = rng.integers(0, 3, size=(n_img, k * n_img)).astype(np.float32)  # many ties
    want_i2t, want_t2i = pessimistic_sort_ranks(scores, k)
    for ranks in (
        ranks_from_scores(scores, k, image_chunk=4, caption_chunk=6),
        ranks_from_similarity(_lookup(scores), n_img, k * n_img, k, image_chunk=5, caption_chunk=8),
    ):
        np.testing.assert_array_equal(ranks.i2t, want_i2t)
        np.testing.assert_array_equal(ranks.t2i, want_t2i)


def test_ties_are_never_better_than_any_tie_order(rng, argsort_ranks):
    n_img, k = 10, 5
    scores = rng.integers(0, 2, size=(n_img, k * n_img)).astype(float)
    ours = ranks_from_scores(scores, k)
    for _ in range(5):
        # A random tie order: a jitter far below the score gap of 1.
        jittered = scores + 1e-6 * rng.random(scores.shape)
        i2t, t2i = argsort_ranks(jittered, k)
        assert np.all(ours.i2t >= i2t) and np.all(ours.t2i >= t2i)


def test_constant_scorer_gets_worst_ranks_not_perfect():
    n_img, k = 12, 5
    ranks = ranks_from_scores(np.zeros((n_img, k * n_img)), k)
    np.testing.assert_array_equal(ranks.i2t, np.full(n_img, k * n_img - k))
    np.testing.assert_array_equal(ranks.t2i, np.full(k * n_img, n_img - 1))
    assert ranks.metrics().rsum == 0.0


def test_collapsed_scorers_get_at_most_chance(rng):
    n_img, k = 30, 5
    # Scores depending on the caption only: every image ties for every caption.
    by_caption = np.broadcast_to(rng.normal(size=k * n_img), (n_img, k * n_img))
    m = recall_from_scores(by_caption, k)
    assert (m.t2i_r1, m.t2i_r5, m.t2i_r10) == (0.0, 0.0, 0.0)
    # Scores depending on the image only: every caption ties within an image's row.
    by_image = np.broadcast_to(rng.normal(size=(n_img, 1)), (n_img, k * n_img))
    m = recall_from_scores(by_image, k)
    assert (m.i2t_r1, m.i2t_r5, m.i2t_r10) == (0.0, 0.0, 0.0)


def test_streaming_scores_each_pair_once_within_bounded_blocks(rng):
    n_img, k, image_chunk, caption_chunk = 11, 5, 4, 13
    scores = rng.normal(size=(n_img, k * n_img))
    calls = np.zeros(scores.shape, dtype=np.int64)
    largest = 0

    def sim_fn(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        nonlocal largest
        calls[np.ix_(rows, cols)] += 1
        largest = max(largest, rows.size * cols.size)
        return scores[np.ix_(rows, cols)]

    reports: list[tuple[int, int]] = []
    ranks_from_similarity(
        sim_fn,
        n_img,
        k * n_img,
        k,
        image_chunk=image_chunk,
        caption_chunk=caption_chunk,
        progress=lambda done, total: reports.append((done, total)),
    )
    truth = np.arange(k * n_img)[None, :] // k == np.arange(n_img)[:, None]
    # Ground-truth pairs are scored twice: once in the ground-truth pass, once streamed.
    np.testing.assert_array_equal(calls, np.where(truth, 2, 1))
    assert largest <= image_chunk * caption_chunk
    total = n_img * k * n_img + k * n_img
    assert all(t == total for _, t in reports)
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == total


def test_pair_fn_scores_ground_truth_in_batches(rng, argsort_ranks):
    n_img, k = 9, 5
    scores = rng.normal(size=(n_img, k * n_img))
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def pair_fn(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        seen.append((rows, cols))
        return scores[rows, cols]

    ranks = ranks_from_similarity(
        _lookup(scores), n_img, k * n_img, k, image_chunk=4, caption_chunk=10, pair_fn=pair_fn
    )
    want_i2t, want_t2i = argsort_ranks(scores, k)
    np.testing.assert_array_equal(ranks.i2t, want_i2t)
    np.testing.assert_array_equal(ranks.t2i, want_t2i)
    cols = np.concatenate([c for _, c in seen])
    np.testing.assert_array_equal(cols, np.arange(k * n_img))  # each GT pair exactly once
    np.testing.assert_array_equal(np.concatenate([r for r, _ in seen]), cols // k)


def test_ground_truth_roundoff_between_passes_does_not_matter(rng, argsort_ranks):
    # A scorer whose streamed blocks give the GT pairs a slightly different value than the GT pass,
    # as batched kernels of different shapes may.
    n_img, k = 8, 5
    scores = rng.normal(size=(n_img, k * n_img))
    truth = np.arange(k * n_img)[None, :] // k == np.arange(n_img)[:, None]
    streamed = np.where(truth, scores - 1e-12, scores)
    ranks = ranks_from_similarity(
        _lookup(streamed), n_img, k * n_img, k, pair_fn=lambda r, c: scores[r, c], caption_chunk=7
    )
    want_i2t, want_t2i = argsort_ranks(scores, k)
    np.testing.assert_array_equal(ranks.i2t, want_i2t)
    np.testing.assert_array_equal(ranks.t2i, want_t2i)


def test_in_memory_progress_reaches_total(rng):
    scores = rng.normal(size=(6, 30))
    reports: list[tuple[int, int]] = []
    recall_from_scores(
        scores, 5, image_chunk=4, caption_chunk=7, progress=lambda d, t: reports.append((d, t))
    )
    assert reports[-1] == (6 * 30 + 30, 6 * 30 + 30)


def test_torch_inputs_are_accepted(rng):
    torch = pytest.importorskip("torch")
    scores = rng.normal(size=(10, 50)).astype(np.float32)
    want = recall_from_scores(scores, 5)
    assert recall_from_scores(torch.from_numpy(scores).requires_grad_(), 5) == want
    assert recall_from_scores(torch.from_numpy(scores).to(torch.bfloat16), 5).rsum >= 0.0

    def torch_sim(rows: np.ndarray, cols: np.ndarray):
        return torch.from_numpy(scores[np.ix_(rows, cols)])

    assert recall_from_similarity(torch_sim, 10, 50, 5, image_chunk=3, caption_chunk=8) == want


def test_integer_scores_are_accepted():
    perfect = (np.arange(10)[None, :] // 5 == np.arange(2)[:, None]).astype(np.int64)
    assert recall_from_scores(perfect, 5).rsum == 600.0


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("scores", "k", "match"),
    [
        (np.zeros(10), 5, "2-D"),
        (np.zeros((0, 0)), 5, "2-D"),
        (np.zeros((2, 9)), 5, "n_captions must equal"),
        (np.zeros((3, 3)), 5, "n_captions must equal"),
    ],
)
def test_bad_score_shapes(scores, k, match):
    with pytest.raises(DataFormatError, match=match):
        recall_from_scores(scores, k)


def test_nan_scores_are_rejected_with_position():
    scores = np.zeros((2, 10))
    scores[1, 7] = np.nan
    with pytest.raises(DataFormatError, match=r"NaN.*\(1, 7\)"):
        recall_from_scores(scores, 5)
    with pytest.raises(DataFormatError, match="NaN"):
        recall_from_similarity(_lookup(scores), 2, 10, 5)


def test_infinite_scores_are_ordered_not_rejected():
    scores = np.array([[np.inf, -np.inf], [np.inf, 0.0]])  # k = 1
    ranks = ranks_from_scores(scores, 1)
    np.testing.assert_array_equal(ranks.i2t, [0, 1])  # image 1: inf on caption 0 beats its GT 0.0
    np.testing.assert_array_equal(ranks.t2i, [1, 0])  # caption 0: image 1 ties at inf, counted above


@pytest.mark.parametrize(
    "kwargs",
    [
        {"captions_per_image": 0},
        {"captions_per_image": 2.5},
        {"image_chunk": 0},
        {"caption_chunk": -3},
        {"caption_chunk": True},
    ],
)
def test_bad_parameters_raise_config_error(kwargs):
    args = {"captions_per_image": 5, **kwargs}
    k = args.pop("captions_per_image")
    with pytest.raises(ConfigError):
        recall_from_scores(np.zeros((2, 10)), k, **args)
    with pytest.raises(ConfigError):
        recall_from_similarity(_lookup(np.zeros((2, 10))), 2, 10, k, **args)


def test_streaming_layout_mismatch():
    with pytest.raises(DataFormatError, match="5 × 2 = 10, got 11"):
        recall_from_similarity(_lookup(np.zeros((2, 11))), 2, 11, 5)


def test_sim_fn_returning_wrong_shape():
    with pytest.raises(DataFormatError, match=r"sim_fn.*returned shape \(1, 4\), expected \(1, 5\)"):
        recall_from_similarity(lambda r, c: np.zeros((r.size, c.size - 1)), 2, 10, 5)


def test_pair_fn_returning_wrong_shape():
    with pytest.raises(DataFormatError, match=r"pair_fn.*returned shape \(9,\), expected \(10,\)"):
        recall_from_similarity(
            _lookup(np.zeros((2, 10))), 2, 10, 5, pair_fn=lambda r, c: np.zeros(c.size - 1)
        )
