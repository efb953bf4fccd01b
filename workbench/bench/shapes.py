"""Random inputs shaped like the paper's data, made on the fly for the GPU benchmark.

Flickr30K in the NCR/SCAN precomp layout (the figures below are facts of that layout): 29 000 training
images with 5 captions each (145 000 pairs), a 1000-image test split (5000 captions), 36 bottom-up
regions of 2048-d features per image, a vocabulary of 8481 tokens. MS-COCO: 113 287 training images
(566 435 pairs). Caption lengths follow :data:`F30K_WORD_COUNTS`, the histogram of whitespace word counts
over Flickr30K's 10 070 dev and test captions; a tokenised caption adds ``<start>`` and ``<end>``.

:class:`BenchShape` fixes every size the benchmark uses: :meth:`BenchShape.paper` is the paper's model
(word 300, embed 1024, sim 256, 3 reasoning steps, batch 128) on F30K-shaped data,
:meth:`BenchShape.smoke` the same structure at sizes a CPU runs in seconds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from workbench.config import ModelConfig
from workbench.errors import ConfigError

__all__ = ["F30K_WORD_COUNTS", "DATASET_PAIRS", "BenchShape", "caption_lengths", "random_images",
           "random_captions"]

#: (words, captions): Flickr30K dev + test captions by whitespace word count (10 070 captions).
F30K_WORD_COUNTS: tuple[tuple[int, int], ...] = (
    (2, 2), (3, 3), (4, 21), (5, 61), (6, 216), (7, 484), (8, 672), (9, 831), (10, 921), (11, 972),
    (12, 892), (13, 824), (14, 786), (15, 634), (16, 514), (17, 412), (18, 358), (19, 260), (20, 208),
    (21, 177), (22, 148), (23, 127), (24, 78), (25, 75), (26, 77), (27, 55), (28, 44), (29, 52), (30, 32),
    (31, 23), (32, 14), (33, 20), (34, 9), (35, 3), (36, 11), (37, 8), (38, 9), (39, 2), (40, 5), (41, 3),
    (42, 3), (43, 2), (44, 3), (45, 5), (48, 1), (49, 1), (51, 3), (52, 2), (54, 1), (55, 2), (59, 1),
    (62, 1), (68, 1), (75, 1),
)

#: Training pairs per epoch of each paper dataset (images x 5 captions; CC152K: 150 000 pairs, 1 caption each).
DATASET_PAIRS: dict[str, int] = {"f30k": 145_000, "coco": 566_435, "cc152k": 150_000}


@dataclasses.dataclass(frozen=True)
class BenchShape:
    """Sizes of one benchmark run: data, model, batch and evaluation split.

    ``max_tokens`` caps the sampled caption length (tokens, ``<start>``/``<end>`` included); the smoke
    shape uses it to keep CPU runs short, the paper shape keeps Flickr30K's full tail (77 tokens).
    """

    name: str
    batch: int = 128
    n_regions: int = 36
    img_dim: int = 2048
    vocab: int = 8481
    word_dim: int = 300
    embed: int = 1024
    sim: int = 256
    sgr_step: int = 3
    max_tokens: int = 77
    eval_images: int = 1000
    captions_per_image: int = 5

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "name" and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"BenchShape.{field.name}={value!r}: expected an int >= 1")
        if self.batch < 2:
            raise ConfigError(f"BenchShape.batch={self.batch}: training the pairwise heads needs >= 2 images")
        if self.max_tokens < 3:
            raise ConfigError(f"BenchShape.max_tokens={self.max_tokens}: a caption has at least 3 tokens")

    @classmethod
    def paper(cls) -> BenchShape:
        """The paper's model and batch on F30K-shaped data (eval: 1000 images x 5000 captions)."""
        return cls("paper")

    @classmethod
    def smoke(cls) -> BenchShape:
        """The same structure at CPU-seconds sizes (for the test suite)."""
        return cls("smoke", batch=10, n_regions=4, img_dim=24, vocab=50, word_dim=8, embed=16, sim=8,
                   sgr_step=2, max_tokens=9, eval_images=12)

    def model_config(self, backbone: str, **overrides: object) -> ModelConfig:
        """The model of this shape (dropout 0: the batched and loop steps must compute one function)."""
        return ModelConfig(backbone=backbone, word_dim=self.word_dim, embed_size=self.embed,  # type: ignore[arg-type]
                           sim_dim=self.sim, sgr_step=self.sgr_step, dropout=0.0, **overrides)


def caption_lengths(n: int, generator: torch.Generator, max_tokens: int) -> Tensor:
    """``[n]`` token counts drawn from :data:`F30K_WORD_COUNTS` (+2 for ``<start>``/``<end>``), capped."""
    words = torch.tensor([w for w, _ in F30K_WORD_COUNTS], dtype=torch.long)
    counts = torch.tensor([c for _, c in F30K_WORD_COUNTS], dtype=torch.float64)
    draws = torch.multinomial(counts, n, replacement=True, generator=generator)
    return (words[draws] + 2).clamp(max=max_tokens)


def random_images(n: int, shape: BenchShape, generator: torch.Generator) -> Tensor:
    """``[n, R, D]`` non-negative features (bottom-up features are ReLU outputs, ~40 % zeros)."""
    return torch.relu(torch.randn(n, shape.n_regions, shape.img_dim, generator=generator))


def random_captions(n: int, shape: BenchShape, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Padded token ids ``[n, L]`` (``<pad>`` = 0, ids >= 4 for words) and lengths ``[n]``."""
    lengths = caption_lengths(n, generator, shape.max_tokens)
    tokens = torch.randint(4, shape.vocab, (n, int(lengths.max())), generator=generator)
    tokens[torch.arange(tokens.shape[1])[None] >= lengths[:, None]] = 0
    return tokens, lengths


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded from ``generator`` (for the few draws made with numpy)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
