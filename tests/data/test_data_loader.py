"""The training-batch loader gives the same batches in the same order with workers, and never pins on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.data.dataset import PairedSplit, TokenizedCaptions
from workbench.data.loader import LoaderSettings, batch_to_device, iterate_batches, loader_settings
from workbench.data.vocab import Vocabulary
from workbench.errors import ConfigError

CPU = torch.device("cpu")


def _split(tmp_path: Path) -> PairedSplit:
    rng = np.random.default_rng(0)
    n_img, k = 12, 5
    np.save(tmp_path / "train_ims.npy", rng.random((n_img, 3, 4), dtype=np.float32))
    images = np.load(tmp_path / "train_ims.npy", mmap_mode="r")  # memory-mapped, as real features are
    words = ["a", "dog", "runs", "on", "the", "grass", "red", "ball"]
    texts = tuple(" ".join(rng.choice(words, size=int(rng.integers(1, 7)))) for _ in range(n_img * k))
    vocab = Vocabulary.from_words(["<pad>", "<start>", "<end>", "<unk>", *words])
    pair_image = rng.permutation(n_img * k) // k
    return PairedSplit(images, TokenizedCaptions.encode(texts, vocab), k, pair_image.astype(np.int64),
                       pair_image == np.arange(n_img * k) // k)


def _order(n: int) -> list[np.ndarray]:
    perm = np.random.default_rng(1).permutation(n)
    return [perm[s:s + 8] for s in range(0, n - n % 8, 8)]


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_equal_the_split_batches_in_order(tmp_path: Path, workers: int) -> None:
    split = _split(tmp_path)
    order = _order(split.n_pairs)
    settings = loader_settings(workers, True, CPU)
    assert settings.pin_memory is False  # pinning is off on the CPU whatever is asked
    got = list(iterate_batches(split, order, CPU, settings))
    assert len(got) == len(order)
    for idx, batch in zip(order, got, strict=True):
        want = split.batch(idx)
        assert np.array_equal(batch.captions, idx) and np.array_equal(batch.image_ids, want.image_ids)
        assert torch.equal(batch.images, want.images) and torch.equal(batch.tokens, want.tokens)
        assert torch.equal(batch.lengths, want.lengths)
        assert not batch.images.is_pinned()


def test_settings_pin_only_for_cuda_and_reject_bad_values() -> None:
    assert loader_settings(2, True, torch.device("cuda")).pin_memory is True
    assert loader_settings(2, False, torch.device("cuda")).pin_memory is False
    with pytest.raises(ConfigError, match="data.loader_workers must be an int >= 0, got -1"):
        LoaderSettings(workers=-1)
    with pytest.raises(ConfigError, match="prefetch"):
        LoaderSettings(prefetch=0)


def test_batch_to_cpu_is_the_same_batch(tmp_path: Path) -> None:
    batch = _split(tmp_path).batch(np.arange(4))
    assert batch_to_device(batch, CPU) is batch


def test_training_config_carries_the_loader_settings() -> None:
    from workbench.config import TrainConfig

    cfg = TrainConfig().override(["data.loader_workers=4", "pin_memory=false"])
    assert cfg.data.loader_workers == 4 and cfg.data.pin_memory is False
    with pytest.raises(ConfigError):
        TrainConfig().override(["data.loader_workers=-2"])
