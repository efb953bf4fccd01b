"""Data: the precomp format, vocabularies, mismatch protocols, the dataset registry and labelled sets.

Curated entry points (the modules hold the details):

* :func:`load_precomp_split` / :class:`PrecompSplit`: users' NCR/SCAN precomp data, memory-mapped.
* :func:`read_captions`: ``{split}_caps.txt`` / ``.tsv`` files.
* :class:`Vocabulary`, :func:`load_vocab`, :func:`build_vocab`, :func:`save_vocab`, :func:`tokenize`.
* :func:`make_noise_index`, :func:`load_noise_index`, :class:`NoiseIndex`: the ``image`` and
  ``caption`` mismatch protocols and the papers' index files.
* :func:`get_entry`, :func:`fetch`: the dataset registry and the mirror-first, checksum-verified fetch.
* :func:`load_wikipedia`, :func:`stratified_split`, :class:`LabelledPairs`: the labelled track.
* :func:`convert_bottomup`: bottom-up-attention TSV -> precomp features.

The synthetic generator lives in :mod:`workbench.data.synthetic` and is imported from there.
"""

from __future__ import annotations

from workbench.data.bottomup import convert_bottomup
from workbench.data.captions import CaptionTable, read_captions
from workbench.data.download import FetchResult, fetch
from workbench.data.noise import (
    PROTOCOLS,
    NoiseIndex,
    expand_to_captions,
    load_noise_index,
    make_noise_index,
    save_noise_index,
    true_matched,
)
from workbench.data.precomp import PrecompSplit, list_splits, load_precomp_split
from workbench.data.registry import DatasetEntry, dataset_names, default_data_root, get_entry, split_images
from workbench.data.tokenize import tokenize
from workbench.data.vocab import Vocabulary, build_vocab, load_vocab, save_vocab
from workbench.data.wikipedia import LabelledPairs, load_wikipedia, stratified_split

__all__ = [
    "CaptionTable",
    "DatasetEntry",
    "FetchResult",
    "LabelledPairs",
    "NoiseIndex",
    "PROTOCOLS",
    "PrecompSplit",
    "Vocabulary",
    "build_vocab",
    "convert_bottomup",
    "dataset_names",
    "default_data_root",
    "expand_to_captions",
    "fetch",
    "get_entry",
    "list_splits",
    "load_noise_index",
    "load_precomp_split",
    "load_vocab",
    "load_wikipedia",
    "make_noise_index",
    "read_captions",
    "save_noise_index",
    "save_vocab",
    "split_images",
    "stratified_split",
    "tokenize",
    "true_matched",
]
