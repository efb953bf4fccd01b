"""Vocabularies (both published variants), the NCR json layout round trip, building, and the tokenizer."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from workbench.data.captions import read_captions
from workbench.data.tokenize import tokenize
from workbench.data.vocab import (
    END,
    SPECIAL_TOKENS,
    START,
    UNK,
    Vocabulary,
    build_vocab,
    load_vocab,
    save_vocab,
)
from workbench.errors import ConfigError, DataFormatError

VOCABS = "f30k_coco_precomp_captions"


@pytest.mark.parametrize(
    ("variant", "name", "size"),
    [
        ("vocab_ncr_rcl", "f30k", 8481),
        ("vocab_ncr_rcl", "coco", 11353),
        ("vocab_ncr_rcl", "cc152k", 12072),
        ("vocab_scan_msmnn", "f30k", 8480),
        ("vocab_scan_msmnn", "coco", 11352),
    ],
)
def test_published_vocabularies_load(mirror: Path, variant: str, name: str, size: int) -> None:
    path = mirror / VOCABS / variant / f"{name}_precomp_vocab.json"
    vocab = load_vocab(path)
    assert len(vocab) == size
    assert vocab.words[:4] == SPECIAL_TOKENS
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert all(vocab.index(word) == i for word, i in raw["word2idx"].items())


def test_the_two_variants_number_words_differently(mirror: Path) -> None:
    ncr = load_vocab(mirror / VOCABS / "vocab_ncr_rcl" / "f30k_precomp_vocab.json")
    scan = load_vocab(mirror / VOCABS / "vocab_scan_msmnn" / "f30k_precomp_vocab.json")
    shared = set(ncr.words) & set(scan.words)
    assert len(shared) > 8400
    assert sum(ncr.index(w) != scan.index(w) for w in shared) > 8000


def test_real_test_captions_are_mostly_in_vocabulary(mirror: Path) -> None:
    """Tokenizer agreement with the reference vocabulary: out-of-vocabulary tokens are rare words only."""
    vocab = load_vocab(mirror / VOCABS / "vocab_ncr_rcl" / "f30k_precomp_vocab.json")
    captions = read_captions(mirror / VOCABS / "f30k_precomp" / "test_caps.txt").captions
    tokens = [t for caption in captions for t in tokenize(caption)]
    oov = [t for t in tokens if t not in vocab]
    assert len(oov) / len(tokens) < 0.015  # measured 0.98 % (658 of 67,442 tokens)
    assert not {".", ",", "a", "the", "'s"} & set(oov)


def test_encode_wraps_and_maps_unknown_words() -> None:
    vocab = Vocabulary.from_words([*SPECIAL_TOKENS, "a", "dog", "."])
    assert vocab.encode("A dog, zebra.") == [START, 4, 5, UNK, UNK, 6, END]
    assert vocab.decode(vocab.encode("a dog .")) == ["a", "dog", "."]


def test_save_load_round_trip_in_ncr_layout(tmp_path: Path) -> None:
    vocab = build_vocab(["a dog runs", "a dog sits", "a cat"], threshold=2)
    path = save_vocab(vocab, tmp_path / "mine_precomp_vocab.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert set(raw) == {"word2idx", "idx2word", "idx"} and raw["idx"] == len(vocab)
    assert load_vocab(path).words == vocab.words
    assert [p.name for p in tmp_path.iterdir()] == ["mine_precomp_vocab.json"]  # no temporary left


def test_build_vocab_keeps_exactly_the_words_at_or_above_threshold(rng: np.random.Generator) -> None:
    words = [f"w{i}" for i in range(30)]
    captions = [" ".join(rng.choice(words, size=6)) for _ in range(50)]
    counts = Counter(t for c in captions for t in c.split())
    for threshold in (1, 4, 12):
        vocab = build_vocab(captions, threshold=threshold)
        assert set(vocab.words[4:]) == {w for w, n in counts.items() if n >= threshold}
        kept = vocab.words[4:]
        assert all(counts[a] >= counts[b] for a, b in itertools.pairwise(kept))
    assert (
        build_vocab(list(reversed(captions)), threshold=4).words == build_vocab(captions, threshold=4).words
    )
    with pytest.raises(ConfigError, match="threshold must be >= 1"):
        build_vocab(captions, threshold=0)


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "bad_vocab.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _layout(words: list[str]) -> dict:
    return {
        "word2idx": {w: i for i, w in enumerate(words)},
        "idx2word": {str(i): w for i, w in enumerate(words)},
    }


def test_vocab_without_unk_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, _layout(["<pad>", "<start>", "<end>", "dog"]))
    with pytest.raises(DataFormatError, match=r"bad_vocab\.json has no '<unk>' in word2idx"):
        load_vocab(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["word2idx"].update({"dog": 5}), r"word2idx\['dog'\] = 5 but idx2word\['5'\] = 'cat'"),
        (lambda d: d["idx2word"].pop("5"), r"word2idx has 6 entries but idx2word has 5"),
        (lambda d: d["idx2word"].update({"9": d["idx2word"].pop("5")}), r"ids are not 0\.\.5; missing \[5\]"),
        (lambda d: d.update({"idx": 99}), r"'idx' is 99 but the vocabulary has 6 words"),
        (lambda d: d.pop("idx2word"), r"expected keys 'word2idx' and 'idx2word'"),
    ],
)
def test_inconsistent_vocab_is_an_error(
    tmp_path: Path, mutate: Callable[[dict], object], message: str
) -> None:
    data = _layout([*SPECIAL_TOKENS, "dog", "cat"])
    mutate(data)
    with pytest.raises(DataFormatError, match=r"bad_vocab\.json.*" + message):
        load_vocab(_write(tmp_path, data))


def test_specials_out_of_place_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, _layout(["<unk>", "<pad>", "<start>", "<end>", "dog"]))
    with pytest.raises(DataFormatError, match=r"bad_vocab\.json: vocabulary must start with"):
        load_vocab(path)


def test_unreadable_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"x\.json is not valid UTF-8 json"):
        load_vocab(path)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("A man's hat.", ["a", "man", "'s", "hat", "."]),
        ("They don't, can't and won't.", ["they", "do", "n't", ",", "ca", "n't", "and", "wo", "n't", "."]),
        (
            "I'm sure they're here, we'll see; I'd go",
            ["i", "'m", "sure", "they", "'re", "here", ",", "we", "'ll", "see", ";", "i", "'d", "go"],
        ),
        ('He said "stop" (twice)!', ["he", "said", "``", "stop", "''", "(", "twice", ")", "!"]),
        ("1,000 people at 10:20, ok: yes", ["1,000", "people", "at", "10:20", ",", "ok", ":", "yes"]),
        ("Mr. Smith in the U.S. today. Next", ["mr.", "smith", "in", "the", "u.s.", "today", ".", "next"]),
        (
            "the dogs' toys... and/or a wrought-iron gate",
            ["the", "dogs", "'", "toys", "...", "and/or", "a", "wrought-iron", "gate"],
        ),
        ("I cannot, gonna wanna", ["i", "can", "not", ",", "gon", "na", "wan", "na"]),
        ("it's 5 o'clock at the ocean..", ["it", "'s", "5", "o'clock", "at", "the", "ocean.."]),
        ("  ", []),
    ],
)
def test_tokenizer_follows_treebank_conventions(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens
