"""Modality encoders shared by every backbone (SCAN / SGRAF style).

* Image: a linear map of each region feature followed by L2 normalisation, ``[n, R, D] -> [n, R, d]``.
* Text: word embedding (uniform init in [-0.1, 0.1]), dropout, a (bi-directional) GRU whose two
  directions are averaged, then L2 normalisation per word, ``[m, L] -> [m, L, d]``; padded positions are
  exactly zero.

Initialisation follows the official code: Xavier-uniform linear weights with zero bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["Captions", "ImageEncoder", "TextEncoder", "l2norm", "xavier_linear_"]


def l2norm(x: Tensor, dim: int = -1, eps: float = 1e-8) -> Tensor:
    """``x / (||x||_2 + eps)`` along ``dim`` (the reference code's normalisation, eps outside the sqrt).

    Computed as a multiplication by the reciprocal of the (small) norm tensor: the same value to rounding,
    and cheaper than dividing every element of the large tensors of the pairwise heads.
    """
    return x * (x.pow(2).sum(dim=dim, keepdim=True).sqrt() + eps).reciprocal()


def xavier_linear_(layer: nn.Linear) -> nn.Linear:
    """Xavier-uniform weights, zero bias (in place); returns the layer."""
    bound = (6.0 / (layer.in_features + layer.out_features)) ** 0.5
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


@dataclass(frozen=True)
class Captions:
    """Encoded captions: word vectors ``[m, L, d]`` (zero past each length) and ``lengths`` ``[m]``."""

    words: Tensor
    lengths: Tensor

    def __len__(self) -> int:
        return int(self.words.shape[0])

    @property
    def mask(self) -> Tensor:
        """``[m, L]`` bool, True on real words."""
        steps = torch.arange(self.words.shape[1], device=self.words.device)
        return steps[None, :] < self.lengths.to(self.words.device)[:, None]

    def select(self, index: Tensor | slice, *, longest: int | None = None) -> Captions:
        """A subset of captions, trimmed to the longest caption kept (less padding downstream).

        ``longest``: that length when the caller knows it (saves reading it back from the device).
        """
        lengths = self.lengths[index]
        if longest is None:
            longest = int(lengths.max()) if lengths.numel() else 0
        return Captions(self.words[index][:, :longest], lengths)

    def to(self, device: torch.device | str) -> Captions:
        return Captions(self.words.to(device), self.lengths.to(device))


class ImageEncoder(nn.Module):
    """``regions [n, R, D] -> L2-normalised region embeddings [n, R, d]``."""

    def __init__(self, img_dim: int, embed_size: int) -> None:
        super().__init__()
        self.fc = xavier_linear_(nn.Linear(img_dim, embed_size))

    def forward(self, images: Tensor) -> Tensor:
        return l2norm(self.fc(images), dim=-1)


class TextEncoder(nn.Module):
    """``tokens [m, L], lengths [m] -> Captions`` with word vectors ``[m, L, d]``."""

    def __init__(self, vocab_size: int, word_dim: int, embed_size: int, *, layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, word_dim)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        self.dropout = nn.Dropout(dropout)
        self.bidirectional = bidirectional
        self.embed_size = embed_size
        self.rnn = nn.GRU(word_dim, embed_size, num_layers=layers, batch_first=True,
                          bidirectional=bidirectional)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Captions:
        lengths_cpu = lengths.detach().to("cpu", torch.int64)
        if lengths_cpu.numel() and int(lengths_cpu.min()) < 1:
            raise ValueError("every caption needs at least one token")
        x = self.dropout(self.embed(tokens))  # [m, L, word_dim]
        packed = pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        if self.bidirectional:  # average the two directions, as the reference code does
            out = (out[..., : self.embed_size] + out[..., self.embed_size:]) / 2
        words = l2norm(out, dim=-1)  # padded steps are zeros and stay zeros
        return Captions(words, lengths.to(words.device))
