"""SGRAF similarity heads (Diao et al., AAAI 2021) computed for all image x caption pairs at once.

For every pair (image i, caption j) the head builds similarity *nodes*:

* a global node ``l2norm(W_glo (v_i - t_j)^2)`` from self-attended global vectors (VisualSA / TextSA);
* one local node per word k: SCAN text-to-image attention (``smooth`` = 9) gives the attended region
  context ``c_jk`` and the node is ``l2norm(W_loc (c_jk - w_jk)^2)``;

then reduces the ``L + 1`` nodes to one vector — **SGR**: ``sgr_step`` graph-reasoning steps
``N <- ReLU(W_r softmax(W_q N (W_k N)^T) N)`` and the global node; **SAF**: attention filtration
``sum_k beta_k N_k`` with ``beta = l1norm(sigmoid(BN(W_a N)))`` — and scores it ``sigmoid(W_e vec)``.

The reference implementation loops over captions in Python. Here every step is a batched tensor op over
``[images, captions, words, ...]``: captions are sorted by length and processed in chunks so padding is
small and memory stays bounded, and padded words are masked in every softmax, mean and normalisation.
Eval-mode outputs equal a per-caption loop to float precision (``tests/models/test_sgraf.py``).
With a loss that reads few entries of the score matrix (the hardest-negative triplet loss), SGR can
back-propagate through those pairs only (``forward(..., sparse_grad=True)``, :mod:`workbench.models.sparse_grad`).

BatchNorm in SAF: in training the reference code normalises the gate logits with statistics of one
caption against all images (its loop calls the head once per caption). ``saf_bn="per_caption"`` (default)
reproduces those statistics in the batched computation; ``"per_call"`` pools all pairs of one caption chunk
(a batch's captions are processed in chunks, :meth:`SGRAFHead._caption_chunks`). With ``per_caption`` the
running statistics are updated as the reference loop updates them: once per caption, in the batch's caption
order, ``r <- (1 - beta) r + beta x_c`` for c = 1..m, applied in closed form after the chunks,
``r_m = (1 - beta)^m r_0 + sum_c beta (1 - beta)^(m - c) x_c`` with x_c the caption's mean and unbiased variance.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from workbench.models.encoders import Captions, l2norm, xavier_linear_
from workbench.models.fused import local_projection
from workbench.models.sparse_grad import sparse_grad_logits

__all__ = ["VisualSelfAttention", "TextSelfAttention", "SGRAFHead", "scan_attention", "scan_weights"]



class VisualSelfAttention(nn.Module):
    """Global image vector: region mean as query over the regions ``[n, R, d] -> [n, d]`` (VisualSA)."""

    def __init__(self, dim: int, n_regions: int, dropout: float) -> None:
        super().__init__()
        self.local = nn.Sequential(xavier_linear_(nn.Linear(dim, dim)), nn.BatchNorm1d(n_regions),
                                   nn.Tanh(), nn.Dropout(dropout))
        self.glob = nn.Sequential(xavier_linear_(nn.Linear(dim, dim)), nn.BatchNorm1d(dim),
                                  nn.Tanh(), nn.Dropout(dropout))
        self.common = xavier_linear_(nn.Linear(dim, 1))

    def forward(self, regions: Tensor) -> Tensor:
        local = self.local(regions)  # [n, R, d]; BN over region slots
        glob = self.glob(regions.mean(dim=1))  # [n, d]
        weights = torch.softmax(self.common(local * glob[:, None]).squeeze(-1), dim=1)  # [n, R]
        return l2norm((weights[..., None] * regions).sum(dim=1))


class TextSelfAttention(nn.Module):
    """Global caption vector with padded words masked ``[m, L, d] -> [m, d]`` (TextSA)."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.local = nn.Sequential(xavier_linear_(nn.Linear(dim, dim)), nn.Tanh(), nn.Dropout(dropout))
        self.glob = nn.Sequential(xavier_linear_(nn.Linear(dim, dim)), nn.Tanh(), nn.Dropout(dropout))
        self.common = xavier_linear_(nn.Linear(dim, 1))

    def forward(self, captions: Captions) -> Tensor:
        words, mask = captions.words, captions.mask  # [m, L, d], [m, L]
        mean = words.sum(dim=1) / captions.lengths.to(words)[:, None]
        local = self.local(words)
        glob = self.glob(mean)
        logits = self.common(local * glob[:, None]).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=1)  # [m, L]
        return l2norm((weights[..., None] * words).sum(dim=1))


def scan_weights(regions: Tensor, words: Tensor, smooth: float) -> Tensor:
    """SCAN text-to-image attention weights of every word over every image's regions.

    Args:
        regions: ``[n, R, d]`` region embeddings of n images.
        words: ``[m, L, d]`` word embeddings of m captions, zero on padded positions.
        smooth: inverse temperature of the softmax over regions.

    Returns:
        ``[n, m*L, R]``: ``softmax_r(smooth * a_rk)`` with ``a = l2norm_k(LeakyReLU(v_r . w_k))`` (the norm
        over the caption's words; padded words are 0 and do not count).
    """
    n, n_regions, d = regions.shape
    m, length, _ = words.shape
    scores = torch.matmul(regions, words.reshape(m * length, d).T)  # [n, R, m*L], one product, no copies
    scores = F.leaky_relu(scores, 0.1).view(n, n_regions, m, length)
    attn = torch.softmax(l2norm(scores, dim=3) * smooth, dim=1)  # over regions
    return attn.view(n, n_regions, m * length).transpose(1, 2)


def scan_attention(regions: Tensor, words: Tensor, smooth: float) -> Tensor:
    """The attended, normalised region context of every word for all pairs: ``[n, m, L, d]``.

    ``l2norm(sum_r softmax_r(smooth * a_rk) v_r)`` (:func:`scan_weights`). The head itself uses the fused
    :func:`workbench.models.fused.local_projection`, which never materialises this tensor.
    """
    n, _, d = regions.shape
    m, length, _ = words.shape
    context = torch.bmm(scan_weights(regions, words, smooth), regions)  # [n, m*L, d]
    return l2norm(context, dim=-1).view(n, m, length, d)


class _GraphReasoning(nn.Module):
    """One SGR step on nodes ``[P, N, s]`` with padded nodes masked as keys.

    ``N <- ReLU(W_r softmax((W_q N + b_q)(W_k N + b_k)^T) N)``. The edge logits are computed as
    ``(N M + u) N^T`` with ``M = W_q^T W_k`` and ``u = W_k^T b_q``: the two dropped terms depend only on the
    query row and cancel in the row softmax, so this is the same function (and gradient) with one
    ``[P N, s] x [s, s]`` product instead of two.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = xavier_linear_(nn.Linear(dim, dim))
        self.key = xavier_linear_(nn.Linear(dim, dim))
        self.update = xavier_linear_(nn.Linear(dim, dim))

    def forward(self, nodes: Tensor, key_mask: Tensor) -> Tensor:
        bilinear = self.query.weight.T @ self.key.weight  # [s, s]
        shift = self.key.weight.T @ self.query.bias  # [s]
        edges = torch.addmm(shift, nodes.reshape(-1, nodes.shape[-1]), bilinear).view_as(nodes)
        edges = edges @ nodes.transpose(1, 2)  # [P, N, N], no 1/sqrt(d) (as SGRAF)
        edges = torch.softmax(edges.masked_fill(~key_mask[:, None, :], float("-inf")), dim=-1)
        return F.relu(self.update(edges @ nodes))

    def forward_first(self, nodes: Tensor, key_mask: Tensor) -> Tensor:
        """Only node 0's update ``[P, s]``: the last step, whose other nodes the head never reads."""
        bilinear = self.query.weight.T @ self.key.weight
        shift = self.key.weight.T @ self.query.bias
        query = torch.addmm(shift, nodes[:, 0], bilinear)  # [P, s]
        edges = torch.bmm(nodes, query[:, :, None]).squeeze(-1)  # [P, N]
        edges = torch.softmax(edges.masked_fill(~key_mask, float("-inf")), dim=-1)
        return F.relu(self.update(torch.bmm(edges[:, None, :], nodes).squeeze(1)))


class SGRAFHead(nn.Module):
    """Pairwise similarity head, ``kind`` = ``"sgr"`` or ``"saf"``; returns logits (pre-sigmoid)."""

    def __init__(self, kind: str, dim: int, sim_dim: int, n_regions: int, *, sgr_step: int = 3,
                 smooth: float = 9.0, dropout: float = 0.4, saf_bn: str = "per_caption",
                 chunk_mb: float = 96.0, precision: str = "fp32") -> None:
        super().__init__()
        if precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"SGRAF head precision must be 'fp32', 'bf16' or 'auto', got {precision!r}")
        self.precision = precision
        if kind not in ("sgr", "saf"):
            raise ValueError(f"SGRAF head kind must be 'sgr' or 'saf', got {kind!r}")
        if saf_bn not in ("per_caption", "per_call"):
            raise ValueError(f"saf_bn must be 'per_caption' or 'per_call', got {saf_bn!r}")
        self.kind, self.smooth, self.saf_bn = kind, smooth, saf_bn
        # SAF per-caption BatchNorm statistics collected over one forward's chunks (see _all_pairs)
        self._bn_stats: list[tuple[Tensor, Tensor]] | None = None
        self.dim, self.chunk_mb = dim, chunk_mb
        self.v_global = VisualSelfAttention(dim, n_regions, dropout)
        self.t_global = TextSelfAttention(dim, dropout)
        self.local_w = xavier_linear_(nn.Linear(dim, sim_dim))
        self.global_w = xavier_linear_(nn.Linear(dim, sim_dim))
        self.score_w = xavier_linear_(nn.Linear(sim_dim, 1))
        if kind == "sgr":
            self.graph = nn.ModuleList(_GraphReasoning(sim_dim) for _ in range(sgr_step))
        else:
            self.gate = xavier_linear_(nn.Linear(sim_dim, 1))
            self.gate_bn = nn.BatchNorm1d(1)

    # ------------------------------------------------------------------ public API
    def uses_bf16(self, device: torch.device) -> bool:
        """Whether the head runs under bfloat16 autocast on ``device``: ``precision="bf16"`` always,
        ``"auto"`` on CUDA only (the CPU keeps fp32 unless asked: few CPUs have fast bf16 units)."""
        return self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda")

    def forward(self, regions: Tensor, captions: Captions, *, sparse_grad: bool = False) -> Tensor:
        """Logits ``[n, m]`` (float32) for every image of ``regions [n, R, d]`` with every caption.

        With ``precision="bf16"`` (or ``"auto"`` on CUDA) the head runs under bfloat16 autocast (matrix products in bf16, parameters
        and gradients in fp32), logits within ~1e-3 of fp32. ``workbench bench step`` at batch 128 on a 2-core
        AMX CPU, against the fp32 per-caption loop: ordinary backward 1.6-1.8x (fp32) and 3.0x (bf16); with
        ``sparse_grad`` and the triplet loss 3.9x (fp32) and 6.0x (bf16).

        ``sparse_grad=True`` (SGR in training): the pairs are scored without keeping activations, and the
        backward recomputes only the pairs whose incoming gradient is non-zero
        (:mod:`workbench.models.sparse_grad`). The gradients are those of the ordinary computation; a loss
        that touches few pairs (the hardest-negative triplet: the diagonal and at most two negatives per
        row) then costs about one forward pass instead of a forward and a backward over all pairs. SAF is
        excluded: its per-caption BatchNorm couples every pair of a caption.
        """
        if self.training and regions.shape[0] < 2:
            raise ValueError("training the SGRAF head needs at least 2 images (BatchNorm statistics)")
        img_glob, txt_glob = self.v_global(regions), self.t_global(captions)
        if sparse_grad and torch.is_grad_enabled():
            if self.kind != "sgr":
                raise ValueError("sparse_grad needs the SGR head: SAF's per-caption BatchNorm couples all "
                                 "pairs of a caption, so every pair's activations are needed")
            return sparse_grad_logits(self, regions, captions, img_glob, txt_glob)
        return self.all_pair_logits(regions, captions, img_glob, txt_glob)

    def all_pair_logits(self, regions: Tensor, captions: Captions, img_glob: Tensor, txt_glob: Tensor) -> Tensor:
        """Logits ``[n, m]`` of all pairs given the global vectors ``img_glob [n, d]`` and ``txt_glob [m, d]``.

        The global vectors come from :attr:`v_global` / :attr:`t_global` (computed once per batch: their
        BatchNorm and dropout must be shared by every pair).
        """
        with torch.autocast(regions.device.type, dtype=torch.bfloat16, enabled=self.uses_bf16(regions.device)):
            return self._all_pairs(regions, captions, img_glob, txt_glob)

    def indexed_logits(self, regions: Tensor, captions: Captions, img_glob: Tensor, txt_glob: Tensor,
                       image_index: Tensor, caption_index: Tensor) -> Tensor:
        """Logits ``[P]`` of the pairs (``image_index[p]``, ``caption_index[p]``), both ``[P]`` long.

        Each SGR pair is computed on its own (the same function as in :meth:`all_pair_logits`); for SAF in
        training the per-caption BatchNorm statistics are not defined for single pairs, so that is refused.
        """
        if self.training and self.kind == "saf":
            raise ValueError("SAF pairs cannot be scored one by one in training (per-caption BatchNorm); "
                             "call .eval() first")
        if image_index.shape != caption_index.shape or image_index.dim() != 1:
            raise ValueError(f"image_index {tuple(image_index.shape)} and caption_index "
                             f"{tuple(caption_index.shape)} must be equal 1-d shapes")
        with torch.autocast(regions.device.type, dtype=torch.bfloat16, enabled=self.uses_bf16(regions.device)):
            out = regions.new_empty(image_index.shape[0])
            step = max(1, self._budget() // max(int(captions.lengths.max()) * self.dim, 1))
            for start in range(0, image_index.shape[0], step):
                sl = slice(start, start + step)
                img, cap = image_index[sl], caption_index[sl]
                nodes, mask = self._aligned_nodes(regions[img], img_glob[img], captions.select(cap), txt_glob[cap])
                out[sl] = self._reduce(nodes, mask)[:, 0].to(out.dtype)
            return out

    def forward_pairs(self, regions: Tensor, captions: Captions) -> Tensor:
        """Logits ``[P]`` of aligned pairs: image ``p`` of ``regions [P, R, d]`` with caption ``p``.

        For re-ranking shortlists in evaluation (eval mode only: in training the global vectors' BatchNorm
        would see only the shortlist's images, and SAF's per-caption statistics are not defined for pairs).
        """
        if self.training:
            raise ValueError("forward_pairs is for evaluation; call .eval() first")
        if regions.shape[0] != len(captions):
            raise ValueError(f"{regions.shape[0]} images but {len(captions)} captions")
        index = torch.arange(regions.shape[0], device=regions.device)
        return self.indexed_logits(regions, captions, self.v_global(regions), self.t_global(captions), index, index)

    # ------------------------------------------------------------------ internals
    def _all_pairs(self, regions: Tensor, captions: Captions, img_glob: Tensor, txt_glob: Tensor) -> Tensor:
        # chunks are planned on the host from one copy of the lengths (one device sync per call, none per chunk)
        lengths = captions.lengths.cpu()
        order = torch.argsort(lengths, descending=True, stable=True)
        n = regions.shape[0]
        # Training keeps all images in every chunk (SAF's per-caption BatchNorm statistics need them);
        # in eval BatchNorm uses running statistics, so images may be chunked as well.
        image_step = n if self.training else max(1, self._budget() // (int(lengths.max()) * self.dim))
        # the node-row bound keeps CPU passes in cache; a GPU is bounded by the memory budget alone
        node_rows = self.chunk_node_rows if regions.device.type == "cpu" else 2**62
        out = regions.new_empty(n, len(captions))
        sequential_bn = self.training and self.kind == "saf" and self.saf_bn == "per_caption"
        self._bn_stats = [] if sequential_bn else None
        chunks = []
        try:
            for start in range(0, n, image_step):
                rows = slice(start, min(n, start + image_step))
                for chunk in self._caption_chunks(order, lengths, rows.stop - rows.start, node_rows=node_rows):
                    longest = int(lengths[chunk[0]])  # the chunk's first caption is its longest
                    chunk = chunk.to(regions.device, non_blocking=True)
                    nodes, mask = self._nodes(regions[rows], img_glob[rows], captions.select(chunk, longest=longest),
                                              txt_glob[chunk])
                    out[rows, chunk] = self._reduce(nodes, mask).to(out.dtype)
                    chunks.append(chunk)
            if self._bn_stats is not None:  # training keeps all images in one row block: each caption once
                self._update_running_per_caption(torch.cat(chunks), self._bn_stats)
        finally:
            self._bn_stats = None
        return out

    @torch.no_grad()
    def _update_running_per_caption(self, caption_index: Tensor, stats: list[tuple[Tensor, Tensor]]) -> None:
        """Apply one BatchNorm running-statistics update per caption, in caption order (the reference loop)."""
        bn = self.gate_bn
        momentum = bn.momentum if bn.momentum is not None else 0.1
        means = torch.cat([m for m, _ in stats]).to(bn.running_mean)
        variances = torch.cat([v for _, v in stats]).to(bn.running_var)
        order = torch.argsort(caption_index.to(means.device))
        means, variances = means[order], variances[order]
        m = means.shape[0]
        decay = (1 - momentum) ** torch.arange(m - 1, -1, -1, dtype=means.dtype, device=means.device)  # [m]
        keep = (1 - momentum) ** m
        bn.running_mean.mul_(keep).add_(momentum * (decay * means).sum())
        bn.running_var.mul_(keep).add_(momentum * (decay * variances).sum())
        bn.num_batches_tracked.add_(m)

    def _budget(self) -> int:
        """Elements allowed in the largest ``[images, captions, L, d]`` intermediate of one chunk."""
        return max(1, int(self.chunk_mb * 2**20 / 4))

    #: Upper bound on the similarity-node rows (pairs x nodes) of one caption chunk. The graph reasoning and the
    #: filtration are passes over ``[rows, s]`` tensors; ~27k rows keeps them near the cache while the matrix
    #: products stay large. Measured (one training step, batch 128, 2 cores): paper sizes (s 256, ~15 nodes)
    #: fastest at 14 captions per chunk (26.9k rows; 9 captions +12 %, 20 +2 %); the CPU presets (s 64, ~13
    #: nodes) at 12-16 (20-27k rows; all 128 captions in one chunk +84 %, 4 captions +38 %).
    chunk_node_rows = 27_000

    def _caption_chunks(self, order: Tensor, lengths: Tensor, n_images: int, *,
                        node_rows: int | None = None) -> list[Tensor]:
        """Split captions (sorted longest first) so each chunk's ``[n, m_c, L, d]`` fits the memory budget and
        its ``n * m_c * (L + 1)`` node rows stay within ``node_rows`` (default :attr:`chunk_node_rows`)."""
        budget = self._budget()
        node_rows = self.chunk_node_rows if node_rows is None else node_rows
        chunks, start = [], 0
        lengths_sorted = lengths.to(order.device)[order].tolist()
        while start < len(order):
            longest = int(lengths_sorted[start])
            per_caption = n_images * longest * self.dim
            size = max(1, min(budget // max(per_caption, 1), node_rows // (n_images * (longest + 1))))
            chunks.append(order[start:start + size])
            start += size
        return chunks

    def _nodes(self, regions: Tensor, img_glob: Tensor, captions: Captions,
               txt_glob: Tensor) -> tuple[Tensor, Tensor]:
        """Similarity nodes ``[n, m, L+1, s]`` of all pairs and their mask ``[1, m, L+1]``."""
        words, mask = captions.words, captions.mask  # [m, L, d], [m, L]
        n, (m, length, d) = regions.shape[0], words.shape
        attn = scan_weights(regions, words, self.smooth)  # [n, m*L, R]
        local = local_projection(attn, regions, words.reshape(m * length, d), self.local_w.weight, self.local_w.bias,
                                 normalise=True).view(n, m, length, -1)  # l2norm(W (c - w)^2 + b): [n, m, L, s]
        glob = l2norm(self.global_w((img_glob[:, None] - txt_glob[None]).pow(2)), dim=-1)  # [n, m, s]
        nodes = torch.cat([glob[:, :, None], local], dim=2)
        node_mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)  # [m, L+1]
        return nodes, node_mask[None]

    def _aligned_nodes(self, regions: Tensor, img_glob: Tensor, captions: Captions,
                       txt_glob: Tensor) -> tuple[Tensor, Tensor]:
        """Nodes ``[P, 1, L+1, s]`` of aligned pairs and their mask ``[P, 1, L+1]``."""
        words, mask = captions.words, captions.mask  # [P, L, d], [P, L]
        scores = F.leaky_relu(torch.bmm(regions, words.transpose(1, 2)), 0.1)  # [P, R, L]
        attn = torch.softmax(l2norm(scores, dim=2) * self.smooth, dim=1)  # over regions
        context = l2norm(torch.bmm(attn.transpose(1, 2), regions), dim=-1)  # [P, L, d]
        local = l2norm(self.local_w((context - words).pow(2)), dim=-1)
        glob = l2norm(self.global_w((img_glob - txt_glob).pow(2)), dim=-1)
        nodes = torch.cat([glob[:, None], local], dim=1)[:, None]
        node_mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)[:, None]
        return nodes, node_mask

    def _reduce(self, nodes: Tensor, node_mask: Tensor) -> Tensor:
        """Logits ``[n, m]`` from nodes ``[n, m, N, s]`` and a node mask broadcastable to ``[n, m, N]``."""
        n, m, n_nodes, s = nodes.shape
        if self.kind == "sgr":
            flat = nodes.reshape(n * m, n_nodes, s)
            key_mask = node_mask.expand(n, m, n_nodes).reshape(n * m, n_nodes)
            for step in self.graph[:-1]:
                flat = step(flat, key_mask)
            # the score reads only the global node: the last step updates node 0 alone (same output)
            vec = (self.graph[-1].forward_first(flat, key_mask) if len(self.graph) else flat[:, 0]).reshape(n, m, s)
        else:
            vec = self._filtration(nodes, node_mask)
        return self.score_w(vec).squeeze(-1)

    def _filtration(self, nodes: Tensor, node_mask: Tensor) -> Tensor:
        """SAF: ``l2norm(sum_k beta_k N_k)``, ``beta = l1norm(sigmoid(BN(W_a N)))`` over valid nodes."""
        z = self.gate(nodes).squeeze(-1)  # [n, m, N]
        z = self._gate_norm(z, node_mask)
        beta = torch.sigmoid(z) * node_mask
        beta = beta / (beta.abs().sum(dim=-1, keepdim=True) + 1e-8)
        return l2norm((beta[..., None] * nodes).sum(dim=2), dim=-1)

    def _gate_norm(self, z: Tensor, node_mask: Tensor) -> Tensor:
        bn = self.gate_bn
        if not bn.training:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            return (z - bn.running_mean) * scale + bn.bias
        valid = node_mask.to(z)  # [1, m, N]
        if self.saf_bn == "per_caption":  # statistics over (images, valid nodes) of each caption
            count = valid.sum(dim=(0, 2)) * z.shape[0]  # [m]
            mean = (z * valid).sum(dim=(0, 2)) / count
            var = ((z - mean[None, :, None]).pow(2) * valid).sum(dim=(0, 2)) / count  # biased
            normed = (z - mean[None, :, None]) / torch.sqrt(var[None, :, None] + bn.eps)
            unbiased = var * count / (count - 1).clamp(min=1)
            if self._bn_stats is not None:  # per-caption running updates after all chunks (_all_pairs)
                self._bn_stats.append((mean.detach(), unbiased.detach()))
                return normed * bn.weight + bn.bias
            run_mean, run_var = mean.mean(), unbiased.mean()
        else:
            count = valid.sum() * z.shape[0]
            mean = (z * valid).sum() / count
            var = ((z - mean).pow(2) * valid).sum() / count
            normed = (z - mean) / torch.sqrt(var + bn.eps)
            run_mean, run_var = mean, var * count / max(float(count) - 1, 1.0)
        with torch.no_grad():
            momentum = bn.momentum if bn.momentum is not None else 0.1
            bn.running_mean.mul_(1 - momentum).add_(momentum * run_mean.detach())
            bn.running_var.mul_(1 - momentum).add_(momentum * run_var.detach())
            bn.num_batches_tracked.add_(1)
        return normed * bn.weight + bn.bias
