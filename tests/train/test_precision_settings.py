"""Mixed precision on CUDA only where asked or automatic; TF32 refused off CUDA before any run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workbench.config import TrainConfig
from workbench.errors import ConfigError
from workbench.models.sgraf import SGRAFHead
from workbench.precision import matmul_precision
from workbench.presets import get_preset
from workbench.train import run


def test_auto_head_precision_is_bf16_on_cuda_only() -> None:
    head = SGRAFHead("sgr", 8, 4, 3, precision="auto")
    assert head.uses_bf16(torch.device("cuda")) and not head.uses_bf16(torch.device("cpu"))
    assert SGRAFHead("saf", 8, 4, 3, precision="bf16").uses_bf16(torch.device("cpu"))
    assert not SGRAFHead("saf", 8, 4, 3).uses_bf16(torch.device("cuda"))
    with pytest.raises(ValueError, match="'fp32', 'bf16' or 'auto'"):
        SGRAFHead("sgr", 8, 4, 3, precision="fp16")


def test_paper_presets_use_the_automatic_head_precision_and_cpu_presets_fp32() -> None:
    assert get_preset("f30k-l2rm-sgr-0.6").config().model.head_precision == "auto"
    assert get_preset("cpu-l2rm-sgr").config().model.head_precision == "fp32"


def test_auto_head_on_cpu_computes_the_fp32_logits() -> None:
    torch.manual_seed(0)
    regions, words = torch.randn(3, 4, 8), torch.randn(5, 6, 8)
    from workbench.models import Captions

    captions = Captions(words, torch.tensor([6, 5, 4, 3, 2]))
    fp32 = SGRAFHead("sgr", 8, 4, 4).eval()
    auto = SGRAFHead("sgr", 8, 4, 4, precision="auto").eval()
    auto.load_state_dict(fp32.state_dict())
    assert torch.equal(fp32(regions, captions), auto(regions, captions))


def test_tf32_is_refused_on_the_cpu_before_a_run_directory_exists(tmp_path: Path) -> None:
    cfg = get_preset("tiny-vanilla-vse").config().override(["tf32=true", "data.root=" + str(tmp_path / "data")])
    with pytest.raises(ConfigError, match="tf32=true needs a CUDA device"):
        run(cfg, run_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_matmul_precision_is_restored() -> None:
    before = torch.get_float32_matmul_precision()
    with matmul_precision(False, torch.device("cpu")):
        assert torch.get_float32_matmul_precision() == before
    assert torch.get_float32_matmul_precision() == before
    assert TrainConfig().tf32 is False
