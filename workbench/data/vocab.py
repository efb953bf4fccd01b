"""Word vocabularies in the NCR/SCAN json layout, and caption encoding.

File layout (``{data_name}_vocab.json``, shared by SCAN, NCR, RCL, L2RM)::

    {"word2idx": {"<pad>": 0, ...}, "idx2word": {"0": "<pad>", ...}, "idx": <size>}

``idx2word`` keys are decimal strings (json objects have string keys). The two published variants
(checked on the files in the data mirror):

* NCR/RCL (``vocab-ncr``: f30k 8,481 / coco 11,353 / cc152k 12,072 words) and SCAN
  (``vocab-scan``: 8,480 / 11,352) both list the four specials ``<pad>=0, <start>=1, <end>=2,
  <unk>=3`` in ``word2idx`` *and* ``idx2word``; neither has RCL's ``<mask>`` (RCL adds it at load time).
* The word ids differ between the variants (NCR's ``word2idx`` is not even stored in id order), so a
  model trained with one vocabulary cannot be evaluated with the other; the word sets differ by two or
  three rare tokens (NCR f30k has "'n" and ".`" where SCAN has "`").

Loading is strict: the specials must sit at ids 0..3, ids must be ``0..n-1`` without gaps, the two
maps must be inverse to each other, ``idx`` (if present) must equal the size, and there must be at least
one word besides the specials.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from workbench.data._io import write_text_atomic
from workbench.data.tokenize import tokenize
from workbench.errors import ConfigError, DataFormatError

__all__ = [
    "PAD",
    "START",
    "END",
    "UNK",
    "SPECIAL_TOKENS",
    "Vocabulary",
    "load_vocab",
    "save_vocab",
    "build_vocab",
]

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<start>", "<end>", "<unk>")
PAD, START, END, UNK = range(4)


@dataclass(frozen=True)
class Vocabulary:
    """A word <-> id map with the four special tokens at ids 0..3.

    Attributes:
        words: ``[V]`` the word of every id (``words[i]`` has id ``i``).
        word2idx: the inverse map (read-only).
    """

    words: tuple[str, ...]
    word2idx: Mapping[str, int] = field(repr=False, compare=False)

    @classmethod
    def from_words(cls, words: Sequence[str]) -> Vocabulary:
        """Build from the id-ordered word list; it must start with :data:`SPECIAL_TOKENS`.

        Raises:
            DataFormatError: specials missing or misplaced, or a word listed twice.
        """
        words = tuple(words)
        if words[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise DataFormatError(
                f"vocabulary must start with {list(SPECIAL_TOKENS)} at ids 0..3, got {list(words[:4])}"
            )
        index = {word: i for i, word in enumerate(words)}
        if len(index) != len(words):
            twice = sorted(w for w, n in Counter(words).items() if n > 1)
            raise DataFormatError(f"vocabulary lists words more than once: {twice[:10]}")
        return cls(words=words, word2idx=MappingProxyType(index))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.word2idx

    def index(self, word: str) -> int:
        """Id of ``word``, or :data:`UNK` for a word not in the vocabulary."""
        return self.word2idx.get(word, UNK)

    def encode(self, caption: str, tokenizer: Callable[[str], list[str]] = tokenize) -> list[int]:
        """Token ids of ``caption``: ``[<start>, w_1, ..., w_T, <end>]``, unknown words -> ``<unk>``."""
        return [START, *(self.index(token) for token in tokenizer(caption)), END]

    def decode(self, ids: Iterable[int], *, strip_specials: bool = True) -> list[str]:
        """Words of ``ids``; with ``strip_specials`` the ``<pad>``, ``<start>``, ``<end>`` tokens are dropped."""
        skip = {PAD, START, END} if strip_specials else set()
        return [self.words[i] for i in ids if i not in skip]


def load_vocab(path: str | os.PathLike[str]) -> Vocabulary:
    """Read a ``{data_name}_vocab.json`` file (NCR/SCAN layout).

    Raises:
        DataFormatError: unreadable json, missing keys, no ``<unk>`` in ``word2idx``, specials not at
            ids 0..3, ids with gaps, ``word2idx`` and ``idx2word`` not inverse, or ``idx`` != size.
            Every message names the file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFormatError(f"cannot read vocabulary {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"vocabulary {path} is not valid UTF-8 json: {exc}") from exc
    if not isinstance(data, dict) or not {"word2idx", "idx2word"} <= data.keys():
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataFormatError(f"vocabulary {path}: expected keys 'word2idx' and 'idx2word', found {found}")
    word2idx, idx2word = data["word2idx"], data["idx2word"]
    if "<unk>" not in word2idx:
        raise DataFormatError(
            f"vocabulary {path} has no '<unk>' in word2idx; unknown words could not be encoded"
        )
    try:
        by_id = {int(key): word for key, word in idx2word.items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise DataFormatError(f"vocabulary {path}: idx2word keys must be integer strings ({exc})") from exc
    n = len(by_id)
    if sorted(by_id) != list(range(n)):
        missing = sorted(set(range(n)) - by_id.keys())[:10]
        raise DataFormatError(f"vocabulary {path}: idx2word ids are not 0..{n - 1}; missing {missing}")
    if len(word2idx) != n:
        raise DataFormatError(
            f"vocabulary {path}: word2idx has {len(word2idx)} entries but idx2word has {n}; "
            "they must be inverse maps"
        )
    for word, i in word2idx.items():
        if by_id.get(i) != word:
            raise DataFormatError(
                f"vocabulary {path}: word2idx[{word!r}] = {i} but idx2word[{str(i)!r}] = {by_id.get(i)!r}"
            )
    if "idx" in data and data["idx"] != n:
        raise DataFormatError(f"vocabulary {path}: 'idx' is {data['idx']} but the vocabulary has {n} words")
    try:
        vocab = Vocabulary.from_words([by_id[i] for i in range(n)])
    except DataFormatError as exc:
        raise DataFormatError(f"vocabulary {path}: {exc}") from exc
    if len(vocab) <= len(SPECIAL_TOKENS):
        raise DataFormatError(f"vocabulary {path} holds only the {len(vocab)} special tokens and no word: every "
                              "caption would encode as <start> <unk>... <end>")
    return vocab


def save_vocab(vocab: Vocabulary, path: str | os.PathLike[str]) -> Path:
    """Write ``vocab`` in the NCR json layout (atomically), readable by the reference code and :func:`load_vocab`."""
    data = {
        "word2idx": {word: i for i, word in enumerate(vocab.words)},
        "idx2word": {str(i): word for i, word in enumerate(vocab.words)},
        "idx": len(vocab),
    }
    return write_text_atomic(json.dumps(data, ensure_ascii=False), path)


def build_vocab(
    captions: Iterable[str],
    *,
    threshold: int = 4,
    tokenizer: Callable[[str], list[str]] = tokenize,
) -> Vocabulary:
    """Build a vocabulary from captions, keeping words seen at least ``threshold`` times.

    The reference builders (SCAN/NCR ``vocab.py``) keep words with ``count >= 4``. Here the kept
    words follow the specials in order of decreasing count, ties broken alphabetically, so the result
    does not depend on caption order.

    Args:
        captions: the training captions.
        threshold: minimum count (>= 1).
        tokenizer: caption -> tokens (default :func:`~workbench.data.tokenize.tokenize`).

    Returns:
        The vocabulary (specials at ids 0..3).
    """
    if threshold < 1:
        raise ConfigError(f"vocabulary threshold must be >= 1, got {threshold}")
    counts = Counter(token for caption in captions for token in tokenizer(caption))
    kept = [w for w, n in counts.items() if n >= threshold and w not in SPECIAL_TOKENS]
    kept.sort(key=lambda w: (-counts[w], w))
    return Vocabulary.from_words([*SPECIAL_TOKENS, *kept])
