"""Tests of the synthetic scene-grammar dataset: generation, text, truth, features and the on-disk layout."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from math import comb
from pathlib import Path

import numpy as np
import pytest

from workbench.data import synthetic as syn
from workbench.data import synthetic_generate as gen
from workbench.data.synthetic import (
    BACKGROUND_REGION,
    PLACE_REGION,
    SceneTruth,
    SyntheticConfig,
    generate,
    load_prototypes,
    load_truth,
    read_manifest,
    write_synthetic,
)
from workbench.data.synthetic_grammar import (
    ATTRIBUTE_WORDS,
    CLASS_WORDS,
    FUNCTION_WORDS,
    PLACE_WORDS,
    lexicon_words,
    object_phrase,
    render_caption,
)
from workbench.errors import ChecksumError, ConfigError, DataFormatError


@pytest.fixture(scope="module")
def tiny() -> syn.SyntheticData:
    return generate("tiny", seed=0)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth"), "tiny", seed=0)


def _word_index() -> dict[str, tuple[str, int]]:
    """word -> (kind, concept id), built straight from the word lists."""
    index: dict[str, tuple[str, int]] = {}
    for kind, groups in (("class", CLASS_WORDS), ("attribute", ATTRIBUTE_WORDS), ("place", PLACE_WORDS)):
        for i, words in enumerate(groups):
            for w in words:
                index[w] = (kind, i)
    return index


def _parse(caption: str) -> tuple[list[tuple[int, int]], int]:
    """Read a caption's mentions off its text: [(class, attribute or -1)] in order, and the place or -1."""
    index, mentions, place, pending = _word_index(), [], -1, -1
    for token in caption.split():
        kind, i = index.get(token, ("function", -1))
        if kind == "attribute":
            pending = i
        elif kind == "class":
            mentions.append((i, pending))
            pending = -1
        elif kind == "place":
            place = i
    return mentions, place


# --- the word lists and templates ---------------------------------------------------------------------


def test_inventories_have_the_documented_sizes_and_no_word_names_two_things() -> None:
    assert len(CLASS_WORDS) == 40 and all(3 <= len(w) <= 4 for w in CLASS_WORDS)
    assert len(ATTRIBUTE_WORDS) == 10 and all(len(w) == 3 for w in ATTRIBUTE_WORDS)
    assert len(PLACE_WORDS) == 8 and all(len(w) == 3 for w in PLACE_WORDS)
    every = [w for g in (FUNCTION_WORDS, *CLASS_WORDS, *ATTRIBUTE_WORDS, *PLACE_WORDS) for w in g]
    assert len(every) == len(set(every)), [w for w, n in Counter(every).items() if n > 1]
    assert all(" " not in w and w == w.lower() for w in every)
    assert lexicon_words(40, 10, 8) == every


def test_render_caption_reads_as_written_by_hand() -> None:
    assert (
        render_caption(0, [("dog", "red"), ("cat", None)], ("in", "park"))
        == "a red dog and a cat in the park ."
    )
    assert render_caption(1, [("car", "small")], None) == "there is a small car"
    assert render_caption(2, [("man", None), ("cup", None)], ("in", "kitchen"), relation=0) == (
        "in the kitchen , a man holds a cup"
    )
    assert render_caption(2, [("man", None)], None) == "there is a man"
    assert render_caption(5, [("a1", None), ("b", None), ("c", None)], None, variant=0) == (
        "we see an a1 , a b and a c"
    )
    assert object_phrase("cat", "old") == "an old cat" and object_phrase("ewe", None) == "a ewe"
    with pytest.raises(ValueError):
        render_caption(0, [], None)


# --- config and sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_objects": 5, "max_objects": 4},
        {"regions": 4},  # needs max_objects + 1 = 5
        {"n_classes": 41},  # more classes than the word lists name
        {"max_objects": 6, "n_classes": 5, "regions": 12},
        {"p_place": 1.5},
        {"noise_sigma": -0.1},
    ],
)
def test_config_rejects_impossible_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        SyntheticConfig(**kwargs)


def test_config_round_trips_and_rejects_unknown_keys() -> None:
    cfg = SyntheticConfig(noise_sigma=0.1, dim=16)
    assert SyntheticConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="noise_sigmaa"):
        SyntheticConfig.from_dict({"noise_sigmaa": 0.1})


@pytest.mark.parametrize("size", ["huge", 7, (10, 10), {"train": 5, "dev": 5}, (10, 0, 5), (10, True, 5)])
def test_bad_sizes_are_config_errors(size: object) -> None:
    with pytest.raises(ConfigError):
        generate(size, seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seeds_are_config_errors(seed: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed"):
        generate((3, 2, 2), seed=seed)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="seed"):
        write_synthetic(tmp_path, (3, 2, 2), seed=seed)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# --- generation ---------------------------------------------------------------------------------------


def test_same_seed_is_identical_and_other_seeds_differ(tiny: syn.SyntheticData) -> None:
    again, other = generate("tiny", seed=0), generate("tiny", seed=1)
    np.testing.assert_array_equal(again.class_vectors, tiny.class_vectors)
    for name in gen.SPLITS:
        a, b = tiny[name], again[name]
        np.testing.assert_array_equal(a.images, b.images)
        assert a.captions == b.captions
        for key, arr in a.truth.to_arrays().items():
            np.testing.assert_array_equal(arr, b.truth.to_arrays()[key])
        assert not np.array_equal(a.images, other[name].images)
        assert a.captions != other[name].captions
        assert not np.array_equal(a.truth.image_classes, other[name].truth.image_classes)


def test_shapes_dtypes_and_counts(tiny: syn.SyntheticData) -> None:
    cfg = tiny.config
    assert tiny.counts == dict(zip(gen.SPLITS, gen.SIZES["tiny"], strict=True))
    assert tiny.class_vectors.shape == (40, 64) and tiny.place_vectors.shape == (8, 64)
    np.testing.assert_allclose(np.linalg.norm(tiny.attribute_vectors, axis=1), 1.0, rtol=1e-5)
    for split in tiny.splits.values():
        n = split.images.shape[0]
        assert split.images.shape == (n, cfg.regions, cfg.dim) and split.images.dtype == np.float32
        assert np.isfinite(split.images).all()
        assert len(split.captions) == 5 * n == split.truth.n_captions
        truth = split.truth
        n_obj = (truth.image_classes >= 0).sum(axis=1)
        assert n_obj.min() == cfg.min_objects and n_obj.max() == cfg.max_objects
        # each image has exactly one region per object, one place region, background for the rest
        roles = truth.region_objects
        assert ((roles >= 0).sum(axis=1) == n_obj).all() and ((roles == PLACE_REGION).sum(axis=1) == 1).all()
        assert ((roles == BACKGROUND_REGION).sum(axis=1) == cfg.regions - n_obj - 1).all()


def test_custom_counts_and_config(rng: np.random.Generator) -> None:
    cfg = SyntheticConfig(n_classes=6, n_attributes=2, n_places=3, regions=5, dim=8, captions_per_image=2)
    data = generate({"train": 7, "dev": 3, "test": 2}, seed=5, config=cfg)
    assert data.size == "custom" and data.counts == {"train": 7, "dev": 3, "test": 2}
    assert data["train"].images.shape == (7, 5, 8) and len(data["train"].captions) == 14
    allowed = set(lexicon_words(6, 2, 3))
    assert all(set(c.split()) <= allowed for s in data.splits.values() for c in s.captions)
    assert data["dev"].truth.image_classes.max() < 6
    with pytest.raises(KeyError, match="testall"):
        data["testall"]


# --- captions: text, truth and statistics -------------------------------------------------------------


def test_caption_text_says_exactly_what_the_truth_records(tiny: syn.SyntheticData) -> None:
    for split in tiny.splits.values():
        t = split.truth
        for m, caption in enumerate(split.captions):
            mentions, place = _parse(caption)
            k = len(mentions)
            assert t.caption_classes[m, :k].tolist() == [q for q, _ in mentions]
            assert t.caption_attributes[m, :k].tolist() == [a for _, a in mentions]
            assert (t.caption_classes[m, k:] == -1).all() and t.caption_places[m] == place


def test_caption_tokens_are_canonical(tiny: syn.SyntheticData) -> None:
    captions = [c for s in tiny.splits.values() for c in s.captions]
    assert all(c == c.lower() == " ".join(c.split()) for c in captions)
    try:
        from workbench.data.tokenize import tokenize
    except ImportError:  # the tokenizer module is optional for this test
        return
    assert all(tokenize(c) == c.split() for c in captions[:500])


def test_caption_length_statistics_are_in_the_documented_band(tiny: syn.SyntheticData) -> None:
    lengths = np.array([len(c.split()) for s in tiny.splits.values() for c in s.captions])
    assert 10.0 <= lengths.mean() <= 12.5  # calibration guide: mean ~11
    assert 17 <= lengths.max() <= 22  # guide: max ~21
    assert lengths.min() >= 2


def test_mention_rates_match_the_probabilities(tiny: syn.SyntheticData) -> None:
    cfg, t = tiny.config, tiny["train"].truth
    n_obj = np.repeat((t.image_classes >= 0).sum(axis=1), 5)
    said = (t.caption_classes >= 0).sum(axis=1)
    assert (said >= 1).all() and (said <= n_obj).all()
    # P(object said) = p + (1-p)^n / n for an image with n objects (the at-least-one rule)
    expected = np.mean(cfg.p_object + (1 - cfg.p_object) ** n_obj / n_obj)
    assert abs((said / n_obj).mean() - expected) < 0.02
    attr_rate = (t.caption_attributes >= 0).sum() / said.sum()
    assert abs(attr_rate - cfg.p_attribute) < 0.03
    assert abs((t.caption_places >= 0).mean() - cfg.p_place) < 0.04


# --- truth ----------------------------------------------------------------------------------------------


def _fits_brute_force(t: SceneTruth, c: int, i: int) -> bool:
    scene = {q: a for q, a in zip(t.image_classes[i].tolist(), t.image_attributes[i].tolist(), strict=True)
             if q >= 0}  # fmt: skip
    for q, a in zip(t.caption_classes[c].tolist(), t.caption_attributes[c].tolist(), strict=True):
        if q >= 0 and (q not in scene or (a >= 0 and scene[q] != a)):
            return False
    return t.caption_places[c] < 0 or t.caption_places[c] == t.image_places[i]


def test_every_caption_fits_its_own_image(tiny: syn.SyntheticData) -> None:
    for split in tiny.splits.values():
        t = split.truth
        caps = np.arange(t.n_captions)
        assert t.fits(caps, t.source_image(caps)).all()


def test_fits_agrees_with_brute_force(tiny: syn.SyntheticData, rng: np.random.Generator) -> None:
    t = tiny["train"].truth
    caps = rng.integers(0, t.n_captions, 3000)
    # half random images, half images that share a class with the caption's source (where fits is hard)
    ims = rng.integers(0, t.n_images, 3000)
    shares = np.flatnonzero(
        t.shared_classes(t.source_image(caps)[:, None], np.arange(t.n_images)[None]).any(0)
    )
    ims[::2] = rng.choice(shares, size=1500)
    got = t.fits(caps, ims)
    want = np.array([_fits_brute_force(t, c, i) for c, i in zip(caps.tolist(), ims.tolist(), strict=True)])
    np.testing.assert_array_equal(got, want)
    assert 0 < want.sum() < want.size  # both outcomes are exercised


def test_fits_broadcasts_and_compatibility_is_its_matrix(
    tiny: syn.SyntheticData, rng: np.random.Generator
) -> None:
    t = tiny["dev"].truth
    caps, ims = rng.integers(0, t.n_captions, 40), rng.integers(0, t.n_images, 30)
    matrix = t.compatibility(caps, ims)
    assert matrix.shape == (40, 30) and matrix.dtype == bool
    np.testing.assert_array_equal(matrix, t.fits(caps[:, None], ims[None, :]))
    np.testing.assert_array_equal(matrix[3], [t.fits(caps[3], i) for i in ims])
    batch = rng.integers(0, t.n_captions, 64)  # aligned pairs: a caption and its own image
    assert np.diag(t.compatibility(batch, t.source_image(batch))).all()


def test_compatibility_blocks_match_one_shot(
    tiny: syn.SyntheticData, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tiny["test"].truth
    caps, ims = np.arange(t.n_captions), np.arange(t.n_images)
    full = t.compatibility(caps, ims)
    monkeypatch.setattr("workbench.data.synthetic_truth._BLOCK", 7 * t.n_images)  # 7 rows per block
    np.testing.assert_array_equal(t.compatibility(caps, ims), full)
    # an unpaired caption fits some other image now and then, as the rematching story needs
    others = full & (caps[:, None] // 5 != ims[None, :])
    assert others.any()


def test_shared_classes_matches_set_intersection_and_the_hypergeometric_rate(tiny: syn.SyntheticData) -> None:
    t = tiny["train"].truth
    sets = [set(row[row >= 0].tolist()) for row in t.image_classes]
    a, b = np.triu_indices(t.n_images, k=1)  # every pair of distinct images
    shared = t.shared_classes(a, b)
    np.testing.assert_array_equal(
        shared[:5000], [len(sets[i] & sets[j]) for i, j in zip(a[:5000], b[:5000], strict=True)]
    )
    np.testing.assert_array_equal(shared, t.shared_classes(b, a))
    np.testing.assert_array_equal(t.shared_classes(np.arange(t.n_images), np.arange(t.n_images)),
                                  [len(s) for s in sets])  # fmt: skip
    # P(|A ∩ B| >= 2) for uniform sizes 2..4 out of 40 classes, computed independently
    sizes, c = range(2, 5), 40
    analytic = np.mean([
        sum(comb(k1, j) * comb(c - k1, k2 - j) for j in range(2, min(k1, k2) + 1)) / comb(c, k2)
        for k1 in sizes for k2 in sizes
    ])  # fmt: skip
    assert abs(analytic - 0.0137) < 5e-4  # the guide measured 1.4 %
    rate = (shared >= 2).mean()
    assert abs(rate - analytic) < 0.004, rate  # 79,800 (dependent) pairs of 400 images


def test_labels_are_the_places(tiny: syn.SyntheticData) -> None:
    t = tiny["train"].truth
    np.testing.assert_array_equal(t.labels, t.image_places)
    assert set(np.unique(t.labels).tolist()) == set(range(8))


def test_indices_are_checked(tiny: syn.SyntheticData) -> None:
    t = tiny["dev"].truth
    with pytest.raises(IndexError):
        t.fits(t.n_captions, 0)
    with pytest.raises(IndexError):
        t.fits(0, -1)  # would silently wrap around
    with pytest.raises(IndexError):
        t.shared_classes(0, t.n_images)
    with pytest.raises(TypeError):
        t.fits(np.array([0.5]), 0)


def test_inconsistent_truth_is_rejected(tiny: syn.SyntheticData) -> None:
    arrays = dict(tiny["dev"].truth.to_arrays())
    dup = arrays["image_classes"].copy()
    dup[0, 1] = dup[0, 0]
    with pytest.raises(DataFormatError, match="twice"):
        SceneTruth.from_arrays({**arrays, "image_classes": dup})
    with pytest.raises(DataFormatError, match="caption_places"):
        SceneTruth.from_arrays({**arrays, "caption_places": arrays["caption_places"][:-1]})
    with pytest.raises(DataFormatError, match="image_places"):
        SceneTruth.from_arrays({**arrays, "image_places": arrays["image_places"] + 8})
    with pytest.raises(DataFormatError, match="n_classes"):
        SceneTruth.from_arrays({k: v for k, v in arrays.items() if k != "n_classes"})


# --- features -------------------------------------------------------------------------------------------


def test_regions_follow_the_generative_story(tiny: syn.SyntheticData) -> None:
    cfg, split = tiny.config, tiny["train"]
    t, x = split.truth, split.images.astype(np.float64)
    n_idx, r_idx = np.nonzero(t.region_objects >= 0)
    slot = t.region_objects[n_idx, r_idx]
    q, a = t.image_classes[n_idx, slot], t.image_attributes[n_idx, slot]
    expected = tiny.class_vectors[q] + cfg.attribute_scale * tiny.attribute_vectors[a]
    residuals = [x[n_idx, r_idx] - expected]
    n_idx, r_idx = np.nonzero(t.region_objects == PLACE_REGION)
    residuals.append(x[n_idx, r_idx] - cfg.place_scale * tiny.place_vectors[t.image_places[n_idx]])
    residuals.append(x[t.region_objects == BACKGROUND_REGION])
    for res in residuals:  # what is left is i.i.d. N(0, sigma^2) noise
        assert abs(res.mean()) < 0.005 and abs(res.std() / cfg.noise_sigma - 1) < 0.03
    # the regions are shuffled: the place region sits anywhere
    place_at = np.nonzero(t.region_objects == PLACE_REGION)[1]
    assert np.bincount(place_at, minlength=cfg.regions).min() > 0


def test_nearest_class_decoding_recovers_the_scenes(tiny: syn.SyntheticData) -> None:
    split = tiny["test"]
    t = split.truth
    scores = split.images @ tiny.class_vectors.T  # [N, R, C]
    best, top = scores.argmax(axis=2), scores.max(axis=2)
    n_idx, r_idx = np.nonzero(t.region_objects >= 0)
    truth = t.image_classes[n_idx, t.region_objects[n_idx, r_idx]]
    assert (best[n_idx, r_idx] == truth).mean() > 0.95  # chance is 1/40
    # Without knowing which regions are objects: keep regions that match some class well.
    exact = [set(best[i][top[i] > 0.5].tolist()) == set(row[row >= 0].tolist())
             for i, row in enumerate(t.image_classes)]  # fmt: skip
    assert np.mean(exact) > 0.9


# --- on disk --------------------------------------------------------------------------------------------


def test_layout_is_written_and_reads_back(written: Path, tiny: syn.SyntheticData) -> None:
    assert written.name == "synthetic-tiny-s0"
    vocab = json.loads((written / "vocab.json").read_text())
    assert [vocab["idx2word"][str(i)] for i in range(4)] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert vocab["idx"] == len(vocab["word2idx"]) == len(vocab["idx2word"])
    assert all(vocab["idx2word"][str(i)] == w for w, i in vocab["word2idx"].items())
    for name in gen.SPLITS:
        lines = (written / f"{name}_caps.txt").read_text(encoding="utf-8").split("\n")
        assert lines[-1] == "" and len(lines) - 1 == 5 * tiny.counts[name]
        assert tuple(lines[:-1]) == tiny[name].captions
        assert {w for line in lines for w in line.split()} <= set(vocab["word2idx"])
        images = np.load(written / f"{name}_ims.npy", allow_pickle=False)
        np.testing.assert_array_equal(images, tiny[name].images)
        truth = load_truth(written, name)
        for key, arr in tiny[name].truth.to_arrays().items():
            np.testing.assert_array_equal(truth.to_arrays()[key], arr)
    np.testing.assert_array_equal(load_prototypes(written)["place_vectors"], tiny.place_vectors)
    lexicon = json.loads((written / "lexicon.json").read_text())
    assert lexicon["classes"][0][0] == "dog" and len(lexicon["places"]) == 8


def test_manifest_records_recipe_and_checksums(written: Path) -> None:
    manifest = read_manifest(written)
    assert manifest["seed"] == 0 and manifest["size"] == "tiny"
    assert SyntheticConfig.from_dict(manifest["config"]) == SyntheticConfig()
    on_disk = sorted(p.name for p in written.iterdir() if p.name != "manifest.json")
    assert sorted(manifest["files"]) == on_disk
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((written / name).read_bytes()).hexdigest() == entry["sha256"]


def test_second_write_returns_the_existing_directory(written: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(syn, "generate", boom)
    assert write_synthetic(written.parent, "tiny", seed=0) == written


def test_a_different_recipe_in_the_target_is_refused_then_overwritten(tmp_path: Path) -> None:
    target = write_synthetic(tmp_path, (20, 5, 5), seed=3)
    assert target.name == "synthetic-20-5-5-s3"
    manifest = json.loads((target / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps({**manifest, "generator_version": 0}))
    with pytest.raises(DataFormatError, match="generator_version"):
        write_synthetic(tmp_path, (20, 5, 5), seed=3)
    assert write_synthetic(tmp_path, (20, 5, 5), seed=3, overwrite=True) == target
    assert read_manifest(target)["generator_version"] == syn.GENERATOR_VERSION
    assert sorted(os.listdir(tmp_path)) == [target.name]  # the old copy is gone


def test_a_corrupted_file_is_a_checksum_error(tmp_path: Path) -> None:
    target = write_synthetic(tmp_path, (20, 5, 5), seed=0)
    with open(target / "dev_caps.txt", "r+b") as fh:
        fh.write(b"X")
    with pytest.raises(ChecksumError, match="dev_caps.txt"):
        write_synthetic(tmp_path, (20, 5, 5), seed=0)


def test_a_directory_without_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "synthetic-tiny-s0").mkdir()
    with pytest.raises(DataFormatError, match="manifest.json"):
        write_synthetic(tmp_path, "tiny", seed=0)


def test_other_configs_get_their_own_directory(tmp_path: Path) -> None:
    cfg = SyntheticConfig(noise_sigma=0.15)
    target = write_synthetic(tmp_path, (20, 5, 5), seed=0, config=cfg)
    assert target.name.startswith("synthetic-20-5-5-s0-c") and target.name != syn.dataset_dirname(
        (20, 5, 5), 0
    )
    assert read_manifest(target)["config"]["noise_sigma"] == 0.15


def test_failure_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_savez(path: object, **arrays: object) -> None:
        calls.append(path)
        raise OSError("disk full")

    monkeypatch.setattr(syn.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic(tmp_path, "tiny", seed=0)
    assert calls and list(tmp_path.iterdir()) == []  # neither the target nor a temporary directory


def test_load_truth_errors_name_the_file(written: Path, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="testall_truth.npz"):
        load_truth(written, "testall")
    bad = tmp_path / "dev_truth.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(DataFormatError, match="dev_truth.npz"):
        load_truth(tmp_path, "dev")
    arrays = dict(load_truth(written, "dev").to_arrays())
    del arrays["caption_places"]
    np.savez(tmp_path / "test_truth.npz", **arrays)
    with pytest.raises(DataFormatError, match="test_truth.npz.*caption_places"):
        load_truth(tmp_path, "test")
    with pytest.raises(DataFormatError, match="prototypes.npz"):
        load_prototypes(tmp_path)
    with pytest.raises(DataFormatError, match="manifest.json"):
        read_manifest(tmp_path)


def test_the_precomp_reader_sees_an_ordinary_dataset(written: Path, tiny: syn.SyntheticData) -> None:
    precomp = pytest.importorskip("workbench.data.precomp")
    split = precomp.load_precomp_split(written, "dev")
    assert split.captions_per_image == 5 and split.captions == tiny["dev"].captions
    np.testing.assert_array_equal(np.asarray(split.images), tiny["dev"].images)


def test_wording_varies(tiny: syn.SyntheticData) -> None:
    caps = tiny["train"].captions
    # the five captions of an image are rarely copies of each other
    distinct = [len(set(caps[5 * i : 5 * i + 5])) for i in range(len(caps) // 5)]
    assert np.mean(distinct) > 4.5
    # synonyms are drawn at random: every word of the lexicon shows up in 2000 captions
    used = {w for c in caps for w in c.split()}
    assert set(lexicon_words(40, 10, 8)) <= used


def test_a_concurrent_writer_of_the_same_recipe_wins_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_generate = syn.generate

    def racing_generate(*args: object, **kwargs: object) -> syn.SyntheticData:
        monkeypatch.setattr(syn, "generate", real_generate)
        write_synthetic(tmp_path, (20, 5, 5), seed=1)  # "another process" finishes first
        return real_generate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(syn, "generate", racing_generate)
    target = write_synthetic(tmp_path, (20, 5, 5), seed=1)
    assert sorted(os.listdir(tmp_path)) == [target.name]  # our temporary copy is cleaned up
    syn.verify_synthetic(target)


# --- skewed frequencies (frequency_skew) ----------------------------------------------------------------


def test_zipf_weights_are_the_normalised_power_law() -> None:
    w = gen.zipf_weights(4, 1.0)
    np.testing.assert_allclose(w, np.array([1, 1 / 2, 1 / 3, 1 / 4]) / (25 / 12))
    np.testing.assert_allclose(gen.zipf_weights(5, 0.0), np.full(5, 0.2))


def test_skewed_scenes_follow_the_power_law() -> None:
    """Places and attributes are drawn i.i.d. with the Zipf weights; classes without replacement (Gumbel
    top-k), so the most frequent class is in an image with probability below its n_objects-fold weight
    but its share of the images ranks first, and the frequencies fall with the rank."""
    cfg = SyntheticConfig(frequency_skew=1.0)
    data = generate((4000, 10, 10), seed=3, config=cfg)
    t = data["train"].truth
    place_freq = np.bincount(t.image_places, minlength=cfg.n_places) / t.n_images
    expected = gen.zipf_weights(cfg.n_places, 1.0)
    assert np.abs(place_freq - expected).max() < 4 * np.sqrt(expected[0] / t.n_images)
    attrs = t.image_attributes[t.image_attributes >= 0]
    attr_freq = np.bincount(attrs, minlength=cfg.n_attributes) / attrs.size
    w = gen.zipf_weights(cfg.n_attributes, 1.0)
    assert np.abs(attr_freq - w).max() < 4 * np.sqrt(w[0] / attrs.size)
    in_image = np.zeros((t.n_images, cfg.n_classes), dtype=bool)
    rows = np.repeat(np.arange(t.n_images), t.image_classes.shape[1])
    cls = t.image_classes.ravel()
    in_image[rows[cls >= 0], cls[cls >= 0]] = True
    share = in_image.mean(axis=0)
    assert share.argmax() == 0 and share[0] > 0.3 and share[-1] < 0.03  # uniform would give ~0.075 each
    assert np.all(np.diff(share[:5]) < 0)
    for row in t.image_classes:  # classes within an image stay distinct
        filled = row[row >= 0]
        assert len(set(filled.tolist())) == len(filled)


def test_zero_skew_is_the_original_recipe() -> None:
    """The default keeps the first generator's draws and its recipe (no new key in the manifest)."""
    assert "frequency_skew" not in SyntheticConfig().to_dict()
    assert SyntheticConfig(frequency_skew=0.5).to_dict()["frequency_skew"] == 0.5
    assert SyntheticConfig.from_dict(SyntheticConfig(frequency_skew=0.5).to_dict()) == SyntheticConfig(
        frequency_skew=0.5)
    assert syn.dataset_dirname("tiny", 0, SyntheticConfig()) == "synthetic-tiny-s0"
    assert syn.dataset_dirname("tiny", 0, SyntheticConfig(frequency_skew=1.0)).startswith("synthetic-tiny-s0-c")
