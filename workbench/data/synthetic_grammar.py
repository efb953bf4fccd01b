"""The word lists and caption templates of the synthetic scene-grammar dataset.

A scene is a set of objects (a class and an attribute each) in a place. This module holds the surface
language for it: synonyms for every class, attribute and place, the function words that glue them
together, and six caption templates. It knows nothing about random numbers: :func:`render_caption` turns
one fully decided caption (which objects, which synonyms, which template) into text, so that every random
choice lives in :mod:`workbench.data.synthetic` and is drawn there in vectorised form.

Conventions of the text, relied upon by the vocabulary and tokenisers:

* lower case, one space between tokens, punctuation (``,`` ``.``) as tokens of its own, so a plain
  ``str.split()``, NLTK's ``word_tokenize`` and the precomp loaders all see the same tokens;
* every word is in exactly one list (no synonym is shared between two classes, or between a class and
  a place), so a word determines the concept it names;
* relation words (``holds``, ``is next to`` ...) are surface variety only: relations are not part of the
  latent scene, so they never decide whether a caption fits an image.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CLASS_WORDS",
    "ATTRIBUTE_WORDS",
    "PLACE_WORDS",
    "PLACE_PREPOSITIONS",
    "RELATIONS",
    "FUNCTION_WORDS",
    "N_TEMPLATES",
    "N_VARIANTS",
    "TEMPLATE_NAMES",
    "PHOTO_OPENINGS",
    "VIEWERS",
    "SINGLE_OBJECT_RELATION",
    "lexicon_words",
    "object_phrase",
    "render_caption",
]

# Class 0 is "dog", class 39 is "toy"; a config with fewer classes uses the first n_classes entries.
CLASS_WORDS: tuple[tuple[str, ...], ...] = (
    ("dog", "puppy", "hound", "pooch"),
    ("cat", "kitten", "kitty"),
    ("man", "guy", "gentleman", "fellow"),
    ("woman", "lady", "dame"),
    ("child", "kid", "toddler", "youngster"),
    ("boy", "lad", "schoolboy"),
    ("girl", "lass", "schoolgirl"),
    ("horse", "pony", "stallion", "mare"),
    ("bird", "songbird", "fowl"),
    ("cow", "bull", "calf"),
    ("sheep", "lamb", "ewe"),
    ("car", "automobile", "sedan", "auto"),
    ("bicycle", "bike", "cycle"),
    ("motorcycle", "motorbike", "scooter"),
    ("bus", "coach", "minibus"),
    ("truck", "lorry", "pickup"),
    ("boat", "ship", "vessel", "canoe"),
    ("train", "locomotive", "tram"),
    ("tree", "sapling", "shrub"),
    ("flower", "blossom", "bloom", "rose"),
    ("bench", "seat", "pew"),
    ("chair", "stool", "armchair"),
    ("table", "desk", "counter"),
    ("umbrella", "parasol", "brolly"),
    ("ball", "football", "sphere"),
    ("book", "novel", "notebook"),
    ("laptop", "computer", "pc"),
    ("phone", "telephone", "cellphone", "smartphone"),
    ("cup", "mug", "teacup"),
    ("bottle", "flask", "jar"),
    ("bag", "backpack", "handbag", "purse"),
    ("hat", "cap", "beanie"),
    ("clock", "timepiece", "alarm"),
    ("lamp", "lantern", "light"),
    ("cake", "pie", "pastry"),
    ("bread", "loaf", "baguette"),
    ("guitar", "ukulele", "lute"),
    ("television", "tv", "monitor", "screen"),
    ("fence", "railing", "barrier"),
    ("toy", "doll", "teddy"),
)

ATTRIBUTE_WORDS: tuple[tuple[str, ...], ...] = (
    ("red", "crimson", "scarlet"),
    ("blue", "navy", "azure"),
    ("green", "emerald", "olive"),
    ("yellow", "golden", "amber"),
    ("white", "pale", "ivory"),
    ("black", "dark", "ebony"),
    ("small", "little", "tiny"),
    ("large", "big", "huge"),
    ("old", "aged", "ancient"),
    ("new", "modern", "fresh"),
)

PLACE_WORDS: tuple[tuple[str, ...], ...] = (
    ("park", "garden", "meadow"),
    ("kitchen", "galley", "scullery"),
    ("street", "road", "avenue"),
    ("beach", "shore", "seaside"),
    ("office", "workplace", "studio"),
    ("forest", "woods", "jungle"),
    ("lounge", "parlor", "den"),
    ("market", "bazaar", "marketplace"),
)

# Prepositions that read naturally before each place ("in the park", "on the beach").
PLACE_PREPOSITIONS: tuple[tuple[str, ...], ...] = (
    ("in", "at"),
    ("in", "inside"),
    ("on", "in"),
    ("on", "at"),
    ("in", "at"),
    ("in", "inside"),
    ("in", "inside"),
    ("at", "in"),
)

# Relations between the first mentioned object and the rest in the "relation" template.
RELATIONS: tuple[str, ...] = (
    "holds",
    "is next to",
    "is near",
    "stands beside",
    "sits behind",
    "is with",
    "faces",
    "looks at",
    "is under",
)

TEMPLATE_NAMES: tuple[str, ...] = ("list", "there", "relation", "photo", "with", "see")
N_TEMPLATES = len(TEMPLATE_NAMES)
# Free wording choices inside a template, picked by ``variant % len(options)``.
PHOTO_OPENINGS: tuple[str, ...] = ("a photo of", "an image of", "a picture of")
VIEWERS: tuple[str, ...] = ("we see", "you see")
N_VARIANTS = 6  # a multiple of every option count, so ``variant ~ U{0..5}`` picks each option uniformly
# The relation template with one mentioned object has no second argument and says "there is X" instead.
SINGLE_OBJECT_RELATION = "there is"

FUNCTION_WORDS: tuple[str, ...] = (
    "a", "an", "the", "and", ",", ".",
    "there", "is", "are",
    "in", "at", "on", "inside",
    "photo", "image", "picture", "of",
    "we", "you", "see",
    "holds", "next", "to", "near", "stands", "beside", "sits", "behind", "with", "faces", "looks", "under",
)  # fmt: skip

_VOWELS = frozenset("aeiou")
# Words spelled with a vowel but spoken with a consonant ("a ewe", "a ukulele").
_CONSONANT_SOUND = frozenset({"ewe", "ukulele"})


def lexicon_words(n_classes: int, n_attributes: int, n_places: int) -> list[str]:
    """Every word a generator with these counts can emit, in a fixed order.

    The order is: function words, then class synonyms, attribute synonyms and place synonyms, each in
    list order. It depends only on the counts, never on the random draws, so datasets built with the
    same counts share one vocabulary whatever their size or seed.

    Args:
        n_classes: number of object classes used (a prefix of :data:`CLASS_WORDS`).
        n_attributes: number of attributes used (a prefix of :data:`ATTRIBUTE_WORDS`).
        n_places: number of places used (a prefix of :data:`PLACE_WORDS`).

    Returns:
        The words, without duplicates.
    """
    groups = (
        [FUNCTION_WORDS]
        + list(CLASS_WORDS[:n_classes])
        + list(ATTRIBUTE_WORDS[:n_attributes])
        + list(PLACE_WORDS[:n_places])
    )
    words = [w for group in groups for w in group]
    return list(dict.fromkeys(words))


def _article(next_word: str) -> str:
    # The spelling rule plus its exceptions is exact for the word lists above.
    return "an" if next_word[0] in _VOWELS and next_word not in _CONSONANT_SOUND else "a"


def object_phrase(noun: str, attribute: str | None) -> str:
    """An indefinite noun phrase: ``object_phrase("dog", "red") == "a red dog"``, ``"an old cat"``."""
    head = f"{attribute} {noun}" if attribute else noun
    return f"{_article(head)} {head}"


def _join(phrases: Sequence[str]) -> str:
    """``[x]`` -> ``x``; ``[x, y]`` -> ``x and y``; ``[x, y, z]`` -> ``x , y and z``."""
    if len(phrases) == 1:
        return phrases[0]
    return f"{' , '.join(phrases[:-1])} and {phrases[-1]}"


def render_caption(
    template: int,
    objects: Sequence[tuple[str, str | None]],
    place: tuple[str, str] | None,
    relation: int = 0,
    variant: int = 0,
) -> str:
    """Write one caption from fully decided parts.

    Args:
        template: index into :data:`TEMPLATE_NAMES`.
        objects: the mentioned objects in mention order, each ``(noun, attribute word or None)``;
            at least one.
        place: ``(preposition, place word)`` or ``None`` when the place is not mentioned.
        relation: index into :data:`RELATIONS` (used by the ``relation`` template).
        variant: a free wording choice (``a photo of`` / ``an image of`` ...), in ``range(N_VARIANTS)``.

    Returns:
        The caption: lower case, tokens separated by single spaces.

    Examples:
        ``render_caption(0, [("dog", "red"), ("cat", None)], ("in", "park"))`` is
        ``"a red dog and a cat in the park ."``.
    """
    if not objects:
        raise ValueError("a caption mentions at least one object")
    phrases = [object_phrase(noun, attr) for noun, attr in objects]
    where = f"{place[0]} the {place[1]}" if place else ""
    name = TEMPLATE_NAMES[template]
    if name == "list":
        parts = [_join(phrases), where, "."]
    elif name == "there":
        parts = ["there is" if len(phrases) == 1 else "there are", _join(phrases), where]
    elif name == "relation":
        lead = [where, ","] if where else []
        if len(phrases) == 1:
            parts = [*lead, SINGLE_OBJECT_RELATION, phrases[0]]
        else:
            parts = [*lead, phrases[0], RELATIONS[relation], _join(phrases[1:])]
    elif name == "photo":
        parts = [PHOTO_OPENINGS[variant % len(PHOTO_OPENINGS)], _join(phrases), where]
    elif name == "with":
        rest = ["with", _join(phrases[1:])] if len(phrases) > 1 else []
        parts = [phrases[0], *rest, where, "."]
    else:  # "see": the place, when mentioned, leads
        parts = [where, VIEWERS[variant % len(VIEWERS)], _join(phrases)]
    return " ".join(p for p in parts if p)
