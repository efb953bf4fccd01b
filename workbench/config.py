"""Training configuration: frozen dataclasses that validate themselves and reject unknown keys.

The defaults are the paper's settings (L2RM Appendix D.1 and the official code, see
the official code); named presets (:mod:`workbench.presets`) override them for each row of the
paper's tables and for the CPU demos on the synthetic set. Every value can be overridden with
``key=value`` (dotted path or unique leaf name), e.g. ``mrate=0.6`` or ``model.embed_size=256``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from workbench.configbase import Section, apply_overrides, bounded, choice, from_dict, to_dict
from workbench.errors import ConfigError

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "VanillaConfig",
    "L2RMConfig",
    "NCRConfig",
    "DECLConfig",
    "BiCroConfig",
    "RCLConfig",
    "EvalConfig",
    "LogConfig",
    "TrainConfig",
    "METHODS",
]

METHODS = ("vanilla", "l2rm", "ncr", "decl", "bicro", "rcl")


@dataclasses.dataclass(frozen=True)
class DataConfig(Section):
    """Which data, which mismatch, which splits."""

    dataset: str = choice("synthetic", "synthetic", "f30k", "coco", "cc152k", "precomp")
    size: str = choice("small", "tiny", "small", "medium", doc="synthetic set size")
    data_seed: int = bounded(0, ge=0, doc="seed of the synthetic generator (the data, not the training)")
    frequency_skew: float = bounded(0.0, ge=0.0, le=4.0,
                                    doc="synthetic only: Zipf exponent of how often each object class, attribute "
                                    "and place occurs (0 = uniform)")
    root: str = ""  # data root; "" means $WORKBENCH_DATA or ./data
    path: str = ""  # explicit precomp directory (dataset=precomp, or to override the default location)
    mrate: float = bounded(0.0, ge=0.0, le=1.0, doc="mismatching rate (fraction of training data mismatched)")
    noise_protocol: str = choice("image", "image", "caption")
    noise_file: str = ""  # an index file (.npy) to use instead of generating one
    noise_seed: int = bounded(0, ge=0, doc="seed of the generated mismatch index")
    val_split: str = "dev"
    test_split: str = "test"
    val_images: int = bounded(1000, ge=1, doc="validation uses the first N images (official: 1000)")
    train_images: int = bounded(0, ge=0, doc="use only the first N training images (0 = all)")
    loader_workers: int = bounded(0, ge=0, doc="background processes reading training batches (0 = none)")
    pin_memory: bool = True  # CUDA: page-locked batches, non-blocking copies (always off on the CPU)


@dataclasses.dataclass(frozen=True)
class ModelConfig(Section):
    """Backbone sizes (paper: word 300, embed 1024, sim 256, 3 reasoning steps, SCAN smooth 9)."""

    backbone: str = choice("sgr", "vse", "saf", "sgr")
    word_dim: int = bounded(300, ge=1)
    embed_size: int = bounded(1024, ge=1)
    sim_dim: int = bounded(256, ge=1)
    sgr_step: int = bounded(3, ge=0)
    smooth: float = bounded(9.0, gt=0.0, doc="SCAN attention inverse temperature")
    dropout: float = bounded(0.4, ge=0.0, lt=1.0)
    bi_gru: bool = True
    gru_layers: int = bounded(1, ge=1)
    saf_bn: str = choice("per_caption", "per_caption", "per_call",
                         doc="SAF BatchNorm statistics in training: per caption (official loop) or per caption chunk")
    chunk_mb: float = bounded(96.0, gt=0.0, doc="memory budget (MB) of the pairwise head's largest chunk")
    head_precision: str = choice("fp32", "fp32", "bf16", "auto",
                                 doc="pairwise head arithmetic: fp32, bf16 autocast (logits stay fp32), or auto "
                                 "(bf16 on CUDA, fp32 on the CPU)")
    # SGR: losses with few non-zero gradient entries (hardest-negative triplet) back-propagate through those
    # pairs only (workbench.models.sparse_grad); the same gradients to rounding, a 2.2-2.5x cheaper step
    sparse_grad: bool = True


@dataclasses.dataclass(frozen=True)
class OptimConfig(Section):
    """Optimiser and schedule (Appendix D.1: Adam 2e-4, batch 128, decay x0.1 at the update epoch, clip 2)."""

    batch_size: int = bounded(128, ge=2)
    warmup_epochs: int = bounded(5, ge=0)
    epochs: int = bounded(35, ge=0, doc="epochs after the warm-up")
    lr: float = bounded(2e-4, gt=0.0)
    lr_update: int = bounded(15, ge=1, doc="decay the lr x0.1 every this many epochs after warm-up")
    grad_clip: float = bounded(2.0, ge=0.0, doc="0 disables clipping")
    margin: float = bounded(0.2, ge=0.0)
    eval_every: int = bounded(1, ge=1)


@dataclasses.dataclass(frozen=True)
class VanillaConfig(Section):
    """Plain training with the hardest-negative triplet loss (the paper's SAF / SGR / SGRAF rows)."""

    warmup_loss: str = choice("triplet_all", "triplet_all", "triplet", "infonce",
                              doc="loss of the optional warm-up epochs: hinge over all negatives, hardest negative, "
                              "or InfoNCE (hardest negatives from scratch can collapse)")
    tau: float = bounded(0.05, gt=0.0, doc="InfoNCE temperature of the warm-up")
    reduction: str = choice("sum", "sum", "mean")


@dataclasses.dataclass(frozen=True)
class L2RMConfig(Section):
    """L2RM (paper Sec. 4, Algorithm 1, Appendix D.1); defaults follow the paper, code variants are options."""

    warmup_loss: str = choice("infonce_rce", "infonce_rce", "infonce", "triplet", "triplet_all")
    tau: float = bounded(0.05, gt=0.0, doc="softmax temperature of InfoNCE/RCE and the rematch loss")
    rce_epsilon: float = bounded(1e-7, gt=0.0, lt=0.5, doc="one-hot labels bounded to [eps, 1-eps] (Eq. 5)")
    rho: float = bounded(0.1, ge=0.0, le=1.0, doc="partial transport mass")
    lam: float = bounded(0.01, gt=0.0, doc="Sinkhorn entropic regularisation")
    cost_lr: float = bounded(2e-6, ge=0.0)
    cost_fn: str = choice("learned", "learned", "cosine", doc="cosine = ablation 'w/o cost function'")
    cost_init: str = choice("official", "official", "xavier")
    reserve_ratio: float = bounded(0.1, gt=0.0, le=1.0, doc="max fraction of reserved pairs for Eq. 6")
    reserve_count: str = choice("uniform", "uniform", "fixed")
    partial: bool = True  # False = ablation 'w/o partial OT' (all mass transported)
    mask_positives: str = choice("auto", "auto", "on", "off",
                                 doc="mask the diagonal (Eq. 8); auto = off at MRate 0 as in the paper")
    rematch_loss: str = choice("sym_kl", "sym_kl", "kl", "infonce")
    rematch_weight: float = bounded(1.0, ge=0.0)
    clean_weight: float = bounded(1.0, ge=0.0)
    clean_reduction: str = choice("sum", "sum", "mean", doc="official: triplet summed over the clean batch")
    queue_length: int = bounded(0, ge=0, doc="images compared when rematching (0 = the noisy batch)")
    ot_formulation: str = choice("dummy", "dummy", "bregman")
    ot_stop: str = choice("marginal", "marginal", "official")
    ot_tol: float = bounded(1e-6, gt=0.0)
    ot_max_iter: int = bounded(1000, ge=1)
    ot_accuracy_rtol: float = bounded(0.1, gt=0.0,
                                      doc="an OT plan off its marginals or the mass rho by more than this "
                                      "(relative) is counted in rematch.off_marginals")
    ot_fail_fraction: float = bounded(0.5, ge=0.0, le=1.0,
                                      doc="fail the run when more than this fraction of an epoch's OT solves "
                                      "are off (1 = only count and warn)")
    split_threshold: float = bounded(0.5, gt=0.0, lt=1.0)
    em_stop: str = choice("official", "official", "mean",
                          doc="beta-mixture EM stop: official = total log-likelihood gain < 0.1 (the official "
                          "code); mean = mean gain < 1e-4 or 100 iterations (3-4x fewer iterations, not converged)")
    split_guard: bool = False  # keep everything clean while the mixture density has one mode (not in the paper)


@dataclasses.dataclass(frozen=True)
class NCRConfig(Section):
    """NCR (Huang et al. 2021): co-teaching, GMM split, co-rectified soft margins."""

    p_threshold: float = bounded(0.5, gt=0.0, lt=1.0,
                                 doc="a pair is labeled (clean) when its GMM posterior exceeds this")
    soft_margin: str = choice("exponential", "exponential", "linear", "sin",
                              doc="margin alpha*s(y): (10^y-1)/9, y, or sin(pi*y-pi/2)/2+1/2")
    warmup_loss: str = choice("mean_hinge", "mean_hinge", "triplet",
                              doc="warm-up on all pairs: summed per-pair mean hinge, or hardest negatives")
    margin_broadcast: str = choice("per_sample", "per_sample", "code",
                                   doc="per_sample (paper) or the official code's broadcasting quirk")


@dataclasses.dataclass(frozen=True)
class DECLConfig(Section):
    """DECL (Qin et al. 2022): evidential learning + robust dynamic hinge."""

    tau: float = bounded(0.1, gt=0.0, doc="evidence exp(tanh(z)/tau)")
    lambda1: float = bounded(0.8, ge=0.0, doc="weight of the robust dynamic hinge (summed over clean pairs)")
    lambda2: float = bounded(0.1, ge=0.0, doc="weight of the Dirichlet KL term (constant)")
    eta: float = bounded(0.025, ge=0.0,
                         doc="K = max(floor(B - eta*step), mu) negatives; step counts all iterations")
    mu: int = bounded(5, ge=1, doc="the fewest negatives K anneals to")


@dataclasses.dataclass(frozen=True)
class BiCroConfig(Section):
    """BiCro (Yang et al. 2023): co-teaching, beta-mixture split, anchor-based soft labels."""

    warmup_rate: float = bounded(0.3, gt=0.0, le=1.0,
                                 doc="warm up on this fraction of smallest-loss pairs per batch")
    p_threshold: float = bounded(0.5, gt=0.0, lt=1.0,
                                 doc="a pair is labeled (clean) when its BMM posterior exceeds this")
    label_threshold: float = bounded(0.5, ge=0.0, lt=1.0,
                                     doc="soft labels at or below this become 0 (noise_soft)")
    margin_broadcast: str = choice("per_sample", "per_sample", "code",
                                   doc="per_sample (paper) or the code's column broadcast of the margins")
    label_scatter: str = choice("aligned", "aligned", "code",
                                doc="aligned (paper) or the code's scatter_ (labels land in batch order)")
    mixture: str = choice("workbench", "workbench", "code",
                          doc="fit_beta_mixture, or the code's BetaMixture1D (fixed start, 10 EM steps)")


@dataclasses.dataclass(frozen=True)
class RCLConfig(Section):
    """RCL (Hu et al. 2023): complementary contrastive learning."""

    tau: float = bounded(0.05, gt=0.0, doc="softmax temperature of the in-batch probabilities")
    h: str = choice("log", "log", "tan", "abs", "exp", "gce", "infonce", "max_margin",
                    doc="h(p) of each non-matching probability (infonce, max_margin: non-robust references)")
    gce_q: float = bounded(0.2, gt=0.0, le=1.0, doc="q of h='gce' (the code passes --margin)")
    neg_ratio: float = bounded(0.0, ge=0.0, lt=1.0,
                               doc="use int(ratio*B) random negatives per row (0 = all B-1)")


@dataclasses.dataclass(frozen=True)
class EvalConfig(Section):
    """How validation and test similarities are computed."""

    mode: str = choice("exhaustive", "exhaustive", "shortlist")
    shortlist_k: int = bounded(50, ge=1)
    image_chunk: int = bounded(128, ge=1)
    caption_chunk: int = bounded(640, ge=1)
    coco_5fold: bool = True
    on_device: str = choice("auto", "auto", "on", "off",
                            doc="exhaustive ranks counted on the scoring device, score blocks never copied to "
                            "the host (auto: on CUDA)")
    memory_mb: float = bounded(256.0, gt=0.0, doc="memory budget (MB) of one on-device score block")


@dataclasses.dataclass(frozen=True)
class LogConfig(Section):
    """What the run directory records besides metrics (the dashboard's artefacts)."""

    alignment_batches: int = bounded(1, ge=0, doc="OT batches saved per epoch (cost/plan/mask)")
    rematch_examples: int = bounded(256, ge=0, doc="rematched pairs saved per epoch")
    cost_by_epoch: bool = True
    checkpoint_every: int = bounded(1, ge=1)
    # TensorBoard event files under <run dir>/tensorboard (workbench.tensorboard_log; the tensorboard extra)
    tensorboard: bool = False


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """Everything a run needs; ``TrainConfig()`` is L2RM-SGR on Flickr30K-like settings."""

    method: str = choice("l2rm", *METHODS)
    seed: int = bounded(0, ge=0, doc="training seed (data order, initialisation, every random draw)")
    device: str = choice("auto", "auto", "cpu", "cuda")
    threads: int = bounded(0, ge=0, doc="torch intra-op threads (0 = leave as is)")
    tf32: bool = False  # CUDA: TensorFloat-32 for the fp32 matrix products (torch matmul precision "high")
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    vanilla: VanillaConfig = dataclasses.field(default_factory=VanillaConfig)
    l2rm: L2RMConfig = dataclasses.field(default_factory=L2RMConfig)
    ncr: NCRConfig = dataclasses.field(default_factory=NCRConfig)
    decl: DECLConfig = dataclasses.field(default_factory=DECLConfig)
    bicro: BiCroConfig = dataclasses.field(default_factory=BiCroConfig)
    rcl: RCLConfig = dataclasses.field(default_factory=RCLConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optim.epochs + self.optim.warmup_epochs == 0:
            raise ConfigError("optim.epochs = 0 and optim.warmup_epochs = 0: the run would train nothing and "
                              "report an untrained model as done; give at least one epoch")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def override(self, overrides: Mapping[str, Any] | Iterable[str]) -> TrainConfig:
        return apply_overrides(self, overrides)
