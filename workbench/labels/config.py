"""Configuration of the noisy-label track: frozen, validated sections (:mod:`workbench.configbase`).

``LabelTrainConfig()`` is UOT-RCL on Wikipedia (SIFT / LDA) at 60 % symmetric noise with the CPU settings
calibrated on 2 cores (the ``cpu-uot_rcl`` preset; see :mod:`workbench.labels.presets`). Every value can be overridden with
``key=value`` (a dotted path or a unique leaf name), e.g. ``rate=0.8`` or ``uot_rcl.cost=prob``.

Tags in the field docs say where a default comes from: [V] verified in a primary source, [S] secondary,
[I] this project's inference from the paper's text, [C] calibrated here on Wikipedia.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from workbench.configbase import Section, apply_overrides, bounded, choice, from_dict, to_dict

__all__ = [
    "LABEL_METHODS",
    "LABEL_DATASETS",
    "LabelDataConfig",
    "LabelModelConfig",
    "LabelOptimConfig",
    "CEConfig",
    "GCEConfig",
    "MRLConfig",
    "CCAConfig",
    "UOTRCLConfig",
    "LabelLogConfig",
    "LabelTrainConfig",
]

LABEL_METHODS = ("uot_rcl", "ce", "gce", "mrl", "cca")
LABEL_DATASETS = ("wikipedia", "mfeat", "user", "synthetic", "wikipedia-vgg", "nus-wide", "xmedianet", "inria",
                  "xmedianet5view")


@dataclasses.dataclass(frozen=True)
class LabelDataConfig(Section):
    """Which data, which label noise, which validation set."""

    dataset: str = choice("wikipedia", *LABEL_DATASETS,
                          doc="wikipedia = SIFT/LDA (fetched); mfeat = UCI Multiple Features, two views (fetched); "
                              "user = your own pairs (path: .npz/.mat/directory of .npy); synthetic = the scene "
                              "set's place labels; the others are the papers' feature files (give path)")
    path: str = ""  # the data file (user and papers' datasets; optional for wikipedia and mfeat)
    image_view: str = choice("pix", "fac", "fou", "kar", "mor", "pix", "zer", doc="mfeat view used as the image")
    text_view: str = choice("fou", "fac", "fou", "kar", "mor", "pix", "zer", doc="mfeat view used as the text")
    root: str = ""  # data root for fetched / generated data ("" = $WORKBENCH_DATA or ./data)
    size: str = choice("small", "tiny", "small", "medium", doc="synthetic set size")
    data_seed: int = 0  # synthetic generator seed (the data, not the noise)
    noise: str = choice("symmetric", "symmetric", "asymmetric")
    rate: float = bounded(0.6, ge=0.0, le=1.0, doc="fraction of training labels chosen for noise")
    level: str = choice("pair", "pair", "modality",
                        doc="pair: one noisy label per pair [I]; modality: independent (MRL) [V]")
    noise_seed: int = bounded(-1, ge=-1, doc="seed of the noise and the validation split; -1 = the run seed")
    val_fraction: float = bounded(0.1, gt=0.0, lt=1.0, doc="stratified validation share of train (when the "
                                                             "dataset has no validation split)")
    val_labels: str = choice("noisy", "noisy", "clean",
                             doc="labels of validation MAP: noisy (a user only has those) or clean (MRL's code)")
    standardise: bool = True  # z-score each feature with training statistics


@dataclasses.dataclass(frozen=True)
class LabelModelConfig(Section):
    """Two MLPs into a common space and a shared classifier ([I]; widths [C])."""

    hidden: int = bounded(512, ge=1)
    embed_dim: int = bounded(256, ge=2)
    layers: int = bounded(2, ge=1, doc="Linear layers per modality")
    batch_norm: bool = True
    dropout: float = bounded(0.5, ge=0.0, lt=1.0, doc="after each hidden layer [C]")
    classifier: str = choice("linear", "linear", "prototype", doc="prototype = MRL's unit-column W / tau")
    tau: float = bounded(1.0, gt=0.0, doc="prototype classifier temperature")


@dataclasses.dataclass(frozen=True)
class LabelOptimConfig(Section):
    """Adam on all parameters, full passes over the training pairs in seeded random order."""

    epochs: int = bounded(30, ge=1, doc="schedule epochs (warm-up, correction, lr, selection count in them) [C]")
    min_steps: int = bounded(0, ge=0, doc="least optimisation steps of the run: a schedule epoch becomes "
                                          "ceil(min_steps / (epochs * steps per pass)) passes over the data, so a "
                                          "small dataset gets the same number of updates as a large one; 0 = "
                                          "one pass per epoch")
    batch_size: int = bounded(128, ge=2)
    lr: float = bounded(1e-3, gt=0.0)
    beta1: float = bounded(0.9, ge=0.0, lt=1.0, doc="Adam beta1 (MRL: 0.5)")
    weight_decay: float = bounded(0.0, ge=0.0)
    schedule: str = choice("cosine", "constant", "cosine", doc="cosine: anneal to 0 over the epochs (MRL) [V, C]")


@dataclasses.dataclass(frozen=True)
class CEConfig(Section):
    """Cross-entropy on the noisy labels, both modalities (deep-SM in MRL's tables), or a ceiling.

    The ceilings train the same network with the same budget on other training labels: ``clean`` (the
    true classes: what perfect correction would give) or ``corrected`` (the final training labels of a
    finished UOT-RCL run on the same data, noise and seed, read from ``labels_from``); the gap between
    UOT-RCL and ``corrected`` is what the correction loses on its way to the retrieval space.
    """

    pair_weight: float = bounded(0.5, ge=0.0, doc="weight of ||z_img - z_txt||^2 (the guide's baseline)")
    labels: str = choice("noisy", "noisy", "clean", "corrected",
                         doc="training labels: noisy (the baseline), clean or corrected (ceilings)")
    labels_from: str = ""  # labels=corrected: the UOT-RCL run directory whose artifacts/train_labels.npy to use


@dataclasses.dataclass(frozen=True)
class GCEConfig(Section):
    """Generalized cross-entropy (Zhang & Sabuncu 2018) on the noisy labels."""

    q: float = bounded(0.7, gt=0.0, le=1.0)
    pair_weight: float = bounded(0.5, ge=0.0)


@dataclasses.dataclass(frozen=True)
class MRLConfig(Section):
    """MRL (Hu et al. CVPR 2021): beta * robust clustering + (1 - beta) * multimodal contrastive [V, code]."""

    beta: float = bounded(0.5, ge=0.0, le=1.0, doc="MRL default 0.5 [V]")
    tau: float = bounded(1.0, gt=0.0, doc="temperature of both terms (MRL: one tau, default 1) [V]")


@dataclasses.dataclass(frozen=True)
class CCAConfig(Section):
    """Classical CCA on the standardised features (no training, no labels: noise cannot hurt it)."""

    components: int = bounded(10, ge=1)
    reg: float = bounded(1e-4, ge=0.0, doc="ridge added to each covariance, relative to its mean eigenvalue")


@dataclasses.dataclass(frozen=True)
class UOTRCLConfig(Section):
    """UOT-RCL: warm-up, partial-OT label correction, OT relation alignment; each part switchable."""

    warmup_epochs: int = bounded(10, ge=0, doc="CE on the noisy labels before the first correction [I, C]")
    # --- semantic alignment: progressive partial-OT label correction
    correction: bool = True  # False: ablation 'w/o label correction' (train on the noisy labels)
    cost: str = choice("prob", "knn", "prob", "mix",
                       doc="prob: the modality-averaged classifier probabilities [I, C]; knn: neighbour votes "
                           "weighted by cross-modal agreement [S]; mix: the mean of the two class scores [I]")
    knn_k: int = bounded(10, ge=1, doc="neighbours per modality [I]")
    consistency: str = choice("hard", "hard", "soft", "none",
                              doc="neighbour weight: hard = 1 if also a neighbour in the other modality else "
                                  "gamma; soft = exp(-|s_v - s_t| / sigma); none = 1 [I]")
    gamma: float = bounded(0.5, ge=0.0, le=1.0)
    sigma: float = bounded(0.1, gt=0.0)
    knn_labels: str = choice("current", "current", "noisy",
                             doc="neighbour labels: the current corrected ones, or always the noisy ones")
    prob_alpha: float = bounded(0.5, ge=0.0, le=1.0, doc="weight of the image probabilities in 'prob'")
    score_momentum: float = bounded(0.0, ge=0.0, lt=1.0,
                                    doc="q <- m q_prev + (1 - m) q: a running mean of the class scores over "
                                        "epochs (the momentum update of the generated code [S]); 0 = none")
    cost_floor: float = bounded(1e-3, gt=0.0, doc="C = -log(q + floor)")
    cost_scale: str = choice("std", "std", "none", doc="divide the cost by its std (the guide: raw cost too flat)")
    eps: float = bounded(0.1, gt=0.0, doc="Sinkhorn entropy, in units of the (scaled) cost [C]")
    class_marginal: str = choice("noisy", "noisy", "uniform", doc="class masses b: noisy-label frequencies [I]")
    rho_start: float = bounded(0.6, gt=0.0, le=1.0, doc="transported mass after warm-up [I, C]")
    rho_end: float = bounded(1.0, gt=0.0, le=1.0, doc="transported mass at the end of the ramp [I]")
    rho_ramp: float = bounded(0.25, ge=0.0, le=1.0, doc="fraction of the post-warm-up epochs the ramp takes [C]")
    select_rule: str = choice("mass", "mass", "peak", "both",
                              doc="mass: row mass >= threshold / N [I]; peak: normalised row max >= threshold "
                                  "(the calibration guide's rule); both: the two at once")
    select_threshold: float = bounded(0.5, gt=0.0, le=1.0)
    targets: str = choice("hard", "hard", "soft", doc="hard: row argmax; soft: the normalised plan row")
    unselected_weight: float = bounded(1.0, ge=0.0, doc="CE weight of unselected pairs on their noisy labels [C]")
    sa_weight: float = bounded(1.0, ge=0.0, doc="weight of the semantic-alignment CE")
    # --- OT relation alignment
    ra_weight: float = bounded(1.0, ge=0.0, doc="lambda of L_ra; 0 = ablation 'w/o relation alignment' [I, C]")
    ra_cost: str = choice("semantic", "semantic", "feature", "relation",
                          doc="semantic: 1 - cos + w * corrected-label disagreement [I, C: carries the corrected "
                              "labels into the retrieval space]; feature: 1 - cos (label-free) [I]; relation: "
                              "1 - cos + w * intra-modal relation discrepancy [I]")
    ra_label_weight: float = bounded(1.0, ge=0.0)
    ra_targets: str = choice("hard", "hard", "soft",
                             doc="labels in the semantic cost: the training targets, or the normalised plan rows")
    ra_eps: float = bounded(0.05, gt=0.0, doc="Sinkhorn entropy of the batch plan")
    ra_tau: float = bounded(0.1, gt=0.0, doc="temperature of the similarity softmax trained towards the plan")
    ra_tol: float = bounded(1e-2, gt=0.0, doc="L1 marginal tolerance of the batch plan (a training target; "
                                               "1e-6 takes ~1000 iterations at ra_eps 0.05)")
    ra_warmup: bool = False  # also apply L_ra (with the noisy labels) during the warm-up
    pair_weight: float = bounded(0.5, ge=0.0, doc="||z_img - z_txt||^2 weight (as the baselines)")
    select_after_warmup: bool = True  # model selection among post-warm-up epochs only (warm-up = CE) [I]
    # --- solver
    ot_max_iter: int = bounded(1000, ge=1)
    ot_tol: float = bounded(1e-6, gt=0.0)


@dataclasses.dataclass(frozen=True)
class LabelLogConfig(Section):
    """What the run records besides the contract's files."""

    checkpoint_every: int = bounded(1, ge=0, doc="epochs between last.pt saves (0 = never; no resume)")
    test_every: int = bounded(0, ge=0, doc="also log test MAP every k epochs (0 = only at the end)")
    tensorboard: bool = False  # TensorBoard event files under <run dir>/tensorboard (the tensorboard extra)


@dataclasses.dataclass(frozen=True)
class LabelTrainConfig(Section):
    """Everything one label-track run needs."""

    method: str = choice("uot_rcl", *LABEL_METHODS)
    seed: int = bounded(0, ge=0)
    threads: int = bounded(1, ge=0, doc="torch intra-op threads (0 = leave as is); the machine is shared")
    data: LabelDataConfig = dataclasses.field(default_factory=LabelDataConfig)
    model: LabelModelConfig = dataclasses.field(default_factory=LabelModelConfig)
    optim: LabelOptimConfig = dataclasses.field(default_factory=LabelOptimConfig)
    ce: CEConfig = dataclasses.field(default_factory=CEConfig)
    gce: GCEConfig = dataclasses.field(default_factory=GCEConfig)
    mrl: MRLConfig = dataclasses.field(default_factory=MRLConfig)
    cca: CCAConfig = dataclasses.field(default_factory=CCAConfig)
    uot_rcl: UOTRCLConfig = dataclasses.field(default_factory=UOTRCLConfig)
    log: LabelLogConfig = dataclasses.field(default_factory=LabelLogConfig)

    @property
    def noise_seed(self) -> int:
        """The seed of the noise and of the validation split."""
        return self.seed if self.data.noise_seed < 0 else self.data.noise_seed

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelTrainConfig:
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def override(self, overrides: Mapping[str, Any] | Iterable[str]) -> LabelTrainConfig:
        return apply_overrides(self, overrides)
