"""A dependency-free word tokenizer in the spirit of ``nltk.word_tokenize(caption.lower())``.

The reference code (SCAN, NCR, L2RM, ...) tokenizes captions with NLTK's ``word_tokenize``: Punkt
sentence splitting followed by the Penn-Treebank word tokenizer. Punkt's model cannot be downloaded
here, so this module re-states the Treebank conventions as a handful of regular expressions:

1. lower-case the text;
2. double quotes become ````` `` ````` when they open (start of text, after a space or bracket) and
   ``''`` otherwise;
3. ``...`` and ``--`` are tokens; ``; @ # $ % & ? ! ( ) [ ] { } < >`` are always split off;
4. ``,`` and ``:`` are split off unless a digit follows (``1,000`` and ``10:20`` stay whole);
5. Treebank contractions: ``n't`` and the clitics ``'s 'm 'd 'll 're 've`` become their own tokens
   (``don't`` -> ``do n't``, ``can't`` -> ``ca n't``, ``man's`` -> ``man 's``), a word-final ``'`` is
   split off (``dogs'`` -> ``dogs '``), and ``cannot gonna gotta wanna gimme lemme`` are split in two
   (``can not``, ``gon na``, ...). A leading apostrophe stays attached (``'stop``), as in NLTK;
6. a word-final single ``.`` is split off (``dog.`` -> ``dog .``) except after abbreviations that Punkt
   keeps whole in mid-text: a single letter (``a.``), dotted initialisms (``u.s.``), and ``mr. mrs.
   ms. dr. st. jr. sr. vs. ave. ft. mt. prof. etc. inc.``. The last token of the text always loses
   its final period. Runs of two periods (``back..``) are left whole, like the Treebank rule.

Hyphens and slashes stay inside words (``wrought-iron``, ``and/or``), as in NLTK. Measured agreement
with the published vocabularies is in the data cards (``data_cards/vocab-ncr.md``).
"""

from __future__ import annotations

import re

__all__ = ["tokenize"]

_OPEN_QUOTE = re.compile(r'(^|(?<=[\s(\[{<]))"')
_ALWAYS_SPLIT = re.compile(r"\.\.\.|--|[;@#$%&?!()\[\]{}<>]")
_COMMA_COLON = re.compile(r"[,:](?!\d)")
_NOT = re.compile(r"(?<=\w)n't\b")
_CLITIC = re.compile(r"(?<=\w)'(s|m|d|ll|re|ve)\b")
_FINAL_APOSTROPHE = re.compile(r"(?<=\w)'(?=\s|$)")
_SPLIT_WORDS = {
    "cannot": "can not",
    "gonna": "gon na",
    "gotta": "got ta",
    "wanna": "wan na",
    "gimme": "gim me",
    "lemme": "lem me",
}
_SPLIT_WORD = re.compile(r"\b(" + "|".join(_SPLIT_WORDS) + r")\b")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "ave", "ft", "mt", "prof", "etc", "inc"}
)


def tokenize(text: str) -> list[str]:
    """Split a caption into lower-case word tokens following Penn-Treebank conventions.

    Args:
        text: a caption.

    Returns:
        The tokens, e.g. ``tokenize('A dog\\'s "ball," isn\\'t red.')`` ->
        ``['a', 'dog', "'s", '``', 'ball', ',', "''", 'is', "n't", 'red', '.']``.
    """
    text = text.lower()
    text = _OPEN_QUOTE.sub(" `` ", text)
    text = text.replace('"', " '' ")
    text = _ALWAYS_SPLIT.sub(r" \g<0> ", text)
    text = _COMMA_COLON.sub(r" \g<0> ", text)
    text = _SPLIT_WORD.sub(lambda m: _SPLIT_WORDS[m.group(1)], text)
    text = _NOT.sub(" n't", text)
    text = _CLITIC.sub(r" '\1", text)
    text = _FINAL_APOSTROPHE.sub(" '", text)
    words = text.split()
    tokens: list[str] = []
    for position, word in enumerate(words):
        if _splits_final_period(word, is_last=position == len(words) - 1):
            tokens.extend((word[:-1], "."))
        else:
            tokens.append(word)
    return tokens


def _splits_final_period(word: str, *, is_last: bool) -> bool:
    if len(word) < 2 or not word.endswith(".") or word.endswith(".."):
        return False
    if is_last:
        return True
    stem = word[:-1]
    return not (len(stem) == 1 or "." in stem or stem in _ABBREVIATIONS)
