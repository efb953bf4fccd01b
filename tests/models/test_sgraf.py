"""The batched SAF / SGR heads equal a straightforward per-caption loop written here (the reference code's
structure: one caption, sliced to its own length, against all images)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from workbench.models.encoders import Captions, l2norm
from workbench.models.sgraf import SGRAFHead


def _ref_text_global(head: SGRAFHead, words: torch.Tensor) -> torch.Tensor:
    """TextSA on one caption ``[L, d]`` without padding."""
    sa = head.t_global
    local = sa.local(words)
    glob = sa.glob(words.mean(dim=0))
    weights = torch.softmax(sa.common(local * glob).squeeze(-1), dim=0)
    return l2norm((weights[:, None] * words).sum(dim=0))


def _ref_caption_scores(head: SGRAFHead, regions: torch.Tensor, img_glob: torch.Tensor,
                        words: torch.Tensor) -> torch.Tensor:
    """Logits of one caption ``[L, d]`` against all images ``[n, R, d]`` -> ``[n]``."""
    n = regions.shape[0]
    cap = words[None].expand(n, -1, -1)  # [n, L, d]
    attn = torch.bmm(regions, cap.transpose(1, 2))  # [n, R, L]
    attn = F.leaky_relu(attn, 0.1)
    attn = l2norm(attn, dim=2)
    attn = torch.softmax(attn.transpose(1, 2) * head.smooth, dim=2)  # [n, L, R]
    context = l2norm(torch.bmm(attn, regions), dim=-1)  # [n, L, d]
    local = l2norm(head.local_w((context - cap).pow(2)), dim=-1)
    txt_glob = _ref_text_global(head, words)
    glob = l2norm(head.global_w((img_glob - txt_glob).pow(2)), dim=-1)
    nodes = torch.cat([glob[:, None], local], dim=1)  # [n, L+1, s]
    if head.kind == "sgr":
        for step in head.graph:
            edges = torch.softmax(torch.bmm(step.query(nodes), step.key(nodes).transpose(1, 2)), dim=-1)
            nodes = F.relu(step.update(torch.bmm(edges, nodes)))
        vec = nodes[:, 0]
    else:
        z = head.gate(nodes).permute(0, 2, 1)  # [n, 1, L+1]
        bn = head.gate_bn
        if bn.training:  # statistics of this caption against all images, as the reference loop has them
            mean, var = z.mean(), z.var(unbiased=False)
            z = (z - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
        else:
            z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        beta = torch.sigmoid(z)
        beta = beta / (beta.abs().sum(dim=-1, keepdim=True) + 1e-8)
        vec = l2norm(torch.matmul(beta, nodes).squeeze(1), dim=-1)
    return head.score_w(vec).squeeze(-1)


def _reference(head: SGRAFHead, regions: torch.Tensor, captions: Captions) -> torch.Tensor:
    img_glob = head.v_global(regions)
    cols = [_ref_caption_scores(head, regions, img_glob, captions.words[j, : int(captions.lengths[j])])
            for j in range(len(captions))]
    return torch.stack(cols, dim=1)


def _inputs(n: int, m: int, max_len: int, dim: int, regions: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    regs = l2norm(torch.randn(n, regions, dim, generator=g, dtype=torch.float64))
    lengths = torch.randint(3, max_len + 1, (m,), generator=g)
    lengths[0] = max_len
    words = l2norm(torch.randn(m, max_len, dim, generator=g, dtype=torch.float64))
    mask = torch.arange(max_len)[None] < lengths[:, None]
    words = words * mask[..., None]
    return regs, Captions(words, lengths)


def _warm_bn(head: SGRAFHead, seed: int) -> None:
    """Give BatchNorm non-trivial running statistics so the eval-mode check means something."""
    g = torch.Generator().manual_seed(seed)
    for module in head.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=g) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) + 0.5)
            module.weight.data.copy_(torch.rand(module.weight.shape, generator=g) + 0.5)
            module.bias.data.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)


@pytest.mark.parametrize("kind", ["sgr", "saf"])
@pytest.mark.parametrize("chunk_mb", [96.0, 0.01])  # 0.01 MB forces many caption and image chunks
def test_batched_head_equals_per_caption_loop_eval(kind: str, chunk_mb: float) -> None:
    torch.manual_seed(0)
    head = SGRAFHead(kind, dim=32, sim_dim=16, n_regions=6, sgr_step=3, dropout=0.4,
                     chunk_mb=chunk_mb).double()
    _warm_bn(head, 1)
    head.eval()
    regions, captions = _inputs(n=7, m=9, max_len=8, dim=32, regions=6)
    with torch.no_grad():
        batched = head(regions, captions)
        reference = _reference(head, regions, captions)
    assert batched.shape == (7, 9)
    torch.testing.assert_close(batched, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["sgr", "saf"])
def test_batched_head_equals_per_caption_loop_train_mode(kind: str) -> None:
    """Training mode (BatchNorm on batch statistics) with dropout off: same scores, same gradients."""
    torch.manual_seed(1)
    head = SGRAFHead(kind, dim=24, sim_dim=12, n_regions=5, dropout=0.0, saf_bn="per_caption",
                     chunk_mb=0.005).double()
    head.train()
    regions, captions = _inputs(n=6, m=8, max_len=7, dim=24, regions=5, seed=3)
    batched = head(regions, captions)
    grads_b = torch.autograd.grad(batched.sum(), list(head.parameters()), allow_unused=True)
    reference = _reference(head, regions, captions)
    grads_r = torch.autograd.grad(reference.sum(), list(head.parameters()), allow_unused=True)
    torch.testing.assert_close(batched, reference, atol=1e-5, rtol=1e-5)
    for param, gb, gr in zip(head.parameters(), grads_b, grads_r, strict=True):
        # the key bias cancels in the edge softmax: its gradient is exactly 0 (unused in the batched head)
        gb = torch.zeros_like(param) if gb is None else gb
        gr = torch.zeros_like(param) if gr is None else gr
        torch.testing.assert_close(gb, gr, atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_scores() -> None:
    """Adding padded columns to every caption leaves every score unchanged."""
    torch.manual_seed(2)
    head = SGRAFHead("sgr", dim=16, sim_dim=8, n_regions=4).double().eval()
    regions, captions = _inputs(n=3, m=4, max_len=5, dim=16, regions=4)
    padded = Captions(torch.cat([captions.words, torch.zeros(4, 6, 16, dtype=torch.float64)], 1),
                      captions.lengths)
    with torch.no_grad():
        torch.testing.assert_close(head(regions, captions), head(regions, padded))


def test_training_needs_two_images() -> None:
    head = SGRAFHead("saf", dim=8, sim_dim=4, n_regions=3).train()
    regions, captions = _inputs(n=1, m=2, max_len=3, dim=8, regions=3)
    with pytest.raises(ValueError, match="at least 2 images"):
        head(regions.float(), Captions(captions.words.float(), captions.lengths))


@pytest.mark.parametrize("kind", ["sgr", "saf"])
def test_bf16_head_tracks_fp32_and_trains_fp32_parameters(kind: str) -> None:
    torch.manual_seed(0)
    exact = SGRAFHead(kind, 32, 16, 6, dropout=0.0)
    fast = SGRAFHead(kind, 32, 16, 6, dropout=0.0, precision="bf16")
    fast.load_state_dict(exact.state_dict())
    regions, captions = _inputs(5, 7, 6, 32, 6)
    regions, captions = regions.float(), Captions(captions.words.float(), captions.lengths)
    for head in (exact, fast):
        head.train()
    ref, out = exact(regions, captions), fast(regions, captions)
    assert out.dtype == torch.float32
    # bf16 keeps ~3 significant digits: the deviation is a small fraction of how much the logits differ
    assert (out - ref).abs().max() < 0.1 * ref.std(), ((out - ref).abs().max(), ref.std())
    out.sum().backward()
    ref.sum().backward()
    # (the key biases get no gradient in either: they cancel in the edge softmax)
    for (name, p), q in zip(fast.named_parameters(), exact.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name
    fast.eval(), exact.eval()
    pairs = fast.forward_pairs(regions[:5], captions.select(torch.arange(5)))
    assert pairs.dtype == torch.float32
    exact_pairs = exact.forward_pairs(regions[:5], captions.select(torch.arange(5)))
    assert (pairs - exact_pairs).abs().max() < 0.1 * ref.std()


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision"):
        SGRAFHead("sgr", 8, 4, 3, precision="fp16")


@pytest.mark.parametrize("node_rows", [1, 60, 10_000])
def test_caption_chunks_cover_all_captions_within_the_node_row_bound(node_rows: int) -> None:
    """Chunks partition the length-sorted captions; each has <= chunk_node_rows rows unless it is one caption."""
    head = SGRAFHead("sgr", dim=8, sim_dim=4, n_regions=3, dropout=0.0)
    head.chunk_node_rows = node_rows
    lengths = torch.tensor([3, 7, 5, 7, 2, 6, 4, 1, 5])
    order = torch.argsort(lengths, descending=True, stable=True)
    n_images = 4
    chunks = head._caption_chunks(order, lengths, n_images)
    assert torch.equal(torch.cat(chunks), order)
    for chunk in chunks:
        rows = n_images * len(chunk) * (int(lengths[chunk].max()) + 1)
        assert rows <= node_rows or len(chunk) == 1
    expected = {1: len(lengths), 10_000: 1}.get(node_rows)
    if expected is not None:
        assert len(chunks) == expected


@pytest.mark.parametrize("kind", ["sgr", "saf"])
def test_node_row_chunking_keeps_scores_and_gradients(kind: str) -> None:
    """Training mode with captions split by the node-row bound equals one chunk (SAF per-caption BN too)."""
    torch.manual_seed(2)
    head = SGRAFHead(kind, dim=16, sim_dim=8, n_regions=4, dropout=0.0).double()
    head.train()
    regions, captions = _inputs(n=5, m=9, max_len=6, dim=16, regions=4, seed=4)
    results = []
    for node_rows in (10**9, 40):
        head.chunk_node_rows = node_rows
        scores = head(regions, captions)
        results.append((scores, torch.autograd.grad(scores.sum(), list(head.parameters()), allow_unused=True)))
    (one, grads_one), (many, grads_many) = results
    torch.testing.assert_close(many, one)
    for a, b in zip(grads_many, grads_one, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


def test_saf_running_statistics_follow_the_per_caption_loop() -> None:
    """SAF's gate BatchNorm: after a batched training forward the running statistics equal those of the
    reference loop, which calls ``BatchNorm1d(1)`` once per caption (in caption order) on ``[n, 1, L+1]``."""
    torch.manual_seed(4)
    head = SGRAFHead("saf", dim=24, sim_dim=12, n_regions=5, dropout=0.0, saf_bn="per_caption",
                     chunk_mb=0.005).double().train()
    head.gate_bn.momentum = 0.3  # large, so that the order of the updates matters
    regions, captions = _inputs(n=6, m=9, max_len=7, dim=24, regions=5, seed=5)
    reference = torch.nn.BatchNorm1d(1, momentum=0.3).double().train()
    reference.load_state_dict(head.gate_bn.state_dict())
    img_glob, txt_glob = head.v_global(regions), head.t_global(captions)
    with torch.no_grad():
        for j in range(len(captions)):
            one = captions.select(torch.tensor([j]))
            nodes, _ = head._nodes(regions, img_glob, one, txt_glob[[j]])  # [n, 1, L_j + 1, s]
            reference(head.gate(nodes).squeeze(-1))  # [n, 1, L_j + 1]: the reference module's call
    assert len(head._caption_chunks(torch.arange(9), captions.lengths, 6)) > 1  # several chunks
    head(regions, captions)
    torch.testing.assert_close(head.gate_bn.running_mean, reference.running_mean, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(head.gate_bn.running_var, reference.running_var, atol=1e-12, rtol=1e-12)
    assert int(head.gate_bn.num_batches_tracked) == int(reference.num_batches_tracked) == 9
