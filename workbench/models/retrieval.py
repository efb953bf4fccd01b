"""The retrieval model: encoders plus a similarity head, and the SGRAF test-time ensemble.

``RetrievalModel`` exposes the backbone interface every method uses:

* ``encode_images(images [n, R, D]) -> [n, R, d]`` and ``encode_captions(tokens, lengths) -> Captions``;
* ``logits(regions, captions) -> [n, m]`` pre-activation scores (DECL needs them);
* ``scores(...)``: ``sigmoid(logits)`` for SAF / SGR (values in (0, 1)), the cosine itself for VSE;
* ``global_embeddings(regions, captions) -> ([n, d], [m, d])`` mean-pooled, L2-normalised (BiCro's anchor
  geometry and the cosine cost of the ablation "w/o cost function").

Backbones: ``vse`` — cosine of mean-pooled embeddings (fast on CPU); ``saf`` / ``sgr`` — the SGRAF heads
(batched over all pairs). ``sgraf`` is not a trained model: the paper's -SGRAF rows average a trained SAF
and a trained SGR model's scores at test time (:mod:`workbench.ensemble`, :mod:`workbench.scoring`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from workbench.config import ModelConfig
from workbench.errors import DataFormatError
from workbench.models.encoders import Captions, ImageEncoder, TextEncoder, l2norm
from workbench.models.sgraf import SGRAFHead

__all__ = ["RetrievalModel", "build_model", "mean_pool"]


def mean_pool(regions: Tensor, captions: Captions) -> tuple[Tensor, Tensor]:
    """Mean-pooled, L2-normalised global embeddings ``([n, d], [m, d])`` (padded words excluded)."""
    img = l2norm(regions.mean(dim=1))
    txt = l2norm(captions.words.sum(dim=1) / captions.lengths.to(captions.words)[:, None])
    return img, txt


class RetrievalModel(nn.Module):
    """Image encoder + text encoder + similarity head (``vse``, ``saf`` or ``sgr``)."""

    def __init__(self, cfg: ModelConfig, *, vocab_size: int, img_dim: int, n_regions: int) -> None:
        super().__init__()
        self.backbone = cfg.backbone
        self.image_encoder = ImageEncoder(img_dim, cfg.embed_size)
        self.text_encoder = TextEncoder(vocab_size, cfg.word_dim, cfg.embed_size, layers=cfg.gru_layers,
                                        bidirectional=cfg.bi_gru, dropout=cfg.dropout)
        self.head: SGRAFHead | None = None
        if cfg.backbone in ("saf", "sgr"):
            self.head = SGRAFHead(cfg.backbone, cfg.embed_size, cfg.sim_dim, n_regions,
                                  sgr_step=cfg.sgr_step, smooth=cfg.smooth, dropout=cfg.dropout,
                                  saf_bn=cfg.saf_bn, chunk_mb=cfg.chunk_mb,
                                  precision=cfg.head_precision)
        self.sparse_grad = cfg.sparse_grad and cfg.backbone == "sgr"

    @property
    def score_kind(self) -> str:
        """``"cosine"`` (scores in [-1, 1]) or ``"sigmoid"`` (scores in (0, 1))."""
        return "cosine" if self.head is None else "sigmoid"

    def encode_images(self, images: Tensor) -> Tensor:
        return self.image_encoder(images)

    def encode_captions(self, tokens: Tensor, lengths: Tensor) -> Captions:
        return self.text_encoder(tokens, lengths)

    def logits(self, regions: Tensor, captions: Captions, *, sparse_loss: bool = False) -> Tensor:
        """Pre-activation similarity ``[n, m]`` of encoded images and captions.

        ``sparse_loss=True`` declares that the loss reads few entries' gradients (the hardest-negative triplet
        loss); the SGR head then back-propagates through those pairs only (``model.sparse_grad``,
        :mod:`workbench.models.sparse_grad`). Values and gradients are unchanged; VSE and SAF ignore it.
        """
        if self.head is None:
            img, txt = mean_pool(regions, captions)
            return img @ txt.T
        return self.head(regions, captions, sparse_grad=sparse_loss and self.sparse_grad)

    def activate(self, logits: Tensor) -> Tensor:
        return logits if self.head is None else torch.sigmoid(logits)

    def scores(self, regions: Tensor, captions: Captions) -> Tensor:
        """Similarity ``[n, m]`` used for ranking and by every loss."""
        return self.activate(self.logits(regions, captions))

    def aligned_logits(self, regions: Tensor, captions: Captions) -> Tensor:
        """Pre-activation scores ``[P]`` of aligned pairs (image p with caption p), e.g. for shortlists."""
        if self.head is None:
            img, txt = mean_pool(regions, captions)
            return (img * txt).sum(dim=-1)
        return self.head.forward_pairs(regions, captions)

    def aligned_scores(self, regions: Tensor, captions: Captions) -> Tensor:
        """Scores ``[P]`` of aligned pairs."""
        return self.activate(self.aligned_logits(regions, captions))

    def global_embeddings(self, regions: Tensor, captions: Captions) -> tuple[Tensor, Tensor]:
        return mean_pool(regions, captions)

    def forward(self, images: Tensor, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Scores ``[B, B]`` of a batch of raw images ``[B, R, D]`` and captions ``[B, L]``."""
        return self.scores(self.encode_images(images), self.encode_captions(tokens, lengths))


def build_model(cfg: ModelConfig, *, vocab_size: int, img_dim: int, n_regions: int) -> RetrievalModel:
    """Factory for :class:`RetrievalModel` from the model section of a config."""
    if vocab_size < 5:
        raise DataFormatError(f"a vocabulary of {vocab_size} words is too small: it needs the 4 special tokens "
                              "and at least one word")
    return RetrievalModel(cfg, vocab_size=vocab_size, img_dim=img_dim, n_regions=n_regions)
