"""Named presets of the label track and the named UOT-RCL ablations.

Preset names are ``{group}-{method}`` with ``method`` in :data:`~workbench.labels.config.LABEL_METHODS`:

* ``cpu-*`` - Wikipedia (SIFT / LDA) on 2 CPU cores, the settings calibrated here ([C]; ``docs`` of
  :mod:`workbench.labels.uot_rcl` and the calibration guide): two-layer MLPs 512 -> 256 with batch norm and
  dropout 0.5 (the guide's network plus dropout: without it even clean-label training loses ~0.02 MAP to
  over-fitting between its best and its last epoch), a shared linear classifier, Adam 1e-3 with cosine
  annealing, batch 128, 30 epochs; 60 % symmetric pair-level noise unless overridden.
* ``paper-*`` - the MRL protocol for the papers' VGG / Doc2Vec features (users bring them: set ``dataset``
  and ``path``): MRL's networks (Linear ``d -> 4096 -> 4096 -> 512``, no batch norm), prototype classifier,
  Adam 1e-4 with betas (0.5, 0.999) and cosine annealing over 100 epochs, batch 100 [V, MRL code]. These
  are GPU settings; UOT-RCL keeps its [I]/[C] values, unverified at this scale.
* ``tiny-*`` - the synthetic ``tiny`` set, small networks, 6 epochs: tests and smoke runs.

Every method of a group shares the data, network and optimiser settings, so the table compares losses and
label handling, not architectures (MRL switches to its prototype classifier, part of the method).

:data:`ABLATIONS` names UOT-RCL variants (overrides on top of a ``*-uot_rcl`` preset), e.g. ``no_ra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ConfigError
from workbench.labels.config import LABEL_METHODS, LabelTrainConfig

__all__ = ["LabelPreset", "LABEL_PRESETS", "ABLATIONS", "CEILINGS", "get_label_preset", "label_preset_names",
           "preset_config"]

_CPU: dict[str, Any] = {"dataset": "wikipedia", "noise": "symmetric", "rate": 0.6, "hidden": 512,
                        "embed_dim": 256, "layers": 2, "batch_norm": True, "dropout": 0.5, "epochs": 30,
                        "batch_size": 128, "lr": 1e-3, "schedule": "cosine"}
_PAPER: dict[str, Any] = {"dataset": "wikipedia", "noise": "symmetric", "rate": 0.6, "hidden": 4096,
                          "embed_dim": 512, "layers": 3, "batch_norm": False, "dropout": 0.0, "epochs": 100,
                          "batch_size": 100, "lr": 1e-4, "beta1": 0.5, "schedule": "cosine"}
_TINY: dict[str, Any] = {"dataset": "synthetic", "size": "tiny", "noise": "symmetric", "rate": 0.4,
                         "hidden": 64, "embed_dim": 32, "layers": 2, "dropout": 0.0, "epochs": 6,
                         "batch_size": 64, "lr": 3e-3, "schedule": "constant", "uot_rcl.warmup_epochs": 2,
                         "uot_rcl.knn_k": 5}
_GROUPS: dict[str, tuple[dict[str, Any], str]] = {
    "cpu": (_CPU, "Wikipedia SIFT/LDA on 2 CPU cores (calibrated)"),
    "paper": (_PAPER, "MRL protocol for the papers' VGG/Doc2Vec features (GPU)"),
    "tiny": (_TINY, "synthetic tiny, seconds (tests)"),
}
_METHOD: dict[str, dict[str, Any]] = {
    "uot_rcl": {},
    "ce": {},
    "gce": {},
    "mrl": {"classifier": "prototype", "model.tau": 1.0},
    "cca": {},
}

#: UOT-RCL ablations: name -> overrides (the paper's ablations plus the readings its text leaves open).
ABLATIONS: dict[str, dict[str, Any]] = {
    "full": {},
    "no_correction": {"uot_rcl.correction": False},  # CE on noisy labels + relation alignment
    "no_ra": {"uot_rcl.ra_weight": 0.0},
    # the relation-alignment readings: label-free (the defaults before the label-aware target), and the
    # label-aware target at the former weight
    "ra_feature": {"uot_rcl.ra_cost": "feature", "uot_rcl.ra_weight": 0.3},
    "ra_semantic_light": {"uot_rcl.ra_weight": 0.3},
    "ra_relation": {"uot_rcl.ra_cost": "relation"},
    "cost_knn": {"uot_rcl.cost": "knn"},
    "cost_mix": {"uot_rcl.cost": "mix"},
    "knn_no_consistency": {"uot_rcl.cost": "knn", "uot_rcl.consistency": "none"},
    "full_ot": {"uot_rcl.rho_start": 1.0, "uot_rcl.rho_end": 1.0},  # no progressive partial transport
    "slow_ramp": {"uot_rcl.rho_start": 0.3, "uot_rcl.rho_ramp": 0.5},  # a slower ramp: 0.3 -> 1 over half the post-warm-up epochs
    "soft_targets": {"uot_rcl.targets": "soft"},
    "drop_unselected": {"uot_rcl.unselected_weight": 0.0},
    "select_all_epochs": {"uot_rcl.select_after_warmup": False},
    # the calibration guide's "simple OT correction" (its floor), expressed in this implementation
    "guide_floor": {"uot_rcl.cost": "prob", "uot_rcl.rho_start": 1.0, "uot_rcl.rho_end": 1.0,
                    "uot_rcl.select_rule": "peak", "uot_rcl.unselected_weight": 1.0, "uot_rcl.ra_weight": 0.0,
                    "uot_rcl.pair_weight": 0.5, "uot_rcl.eps": 0.1},
}


#: CE ceilings: name -> overrides of the ``ce`` preset (variant ``ce-<name>``; :mod:`workbench.labels.ceilings`).
#: ``corrected`` also needs ``ce.labels_from`` (the grid sets it to the matching UOT-RCL run).
CEILINGS: dict[str, dict[str, Any]] = {
    "clean": {"ce.labels": "clean"},
    "corrected": {"ce.labels": "corrected"},
}


@dataclass(frozen=True)
class LabelPreset:
    """A named configuration: overrides of :class:`LabelTrainConfig` defaults."""

    name: str
    group: str
    method: str
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def config(self, extra: Mapping[str, Any] | list[str] | None = None) -> LabelTrainConfig:
        """The preset's config, with ``extra`` overrides (a mapping or ``key=value`` strings) on top."""
        cfg = LabelTrainConfig().override(dict(self.overrides))
        return cfg.override(extra) if extra else cfg


def _build() -> dict[str, LabelPreset]:
    out = {}
    for group, (settings, text) in _GROUPS.items():
        for method in LABEL_METHODS:
            name = f"{group}-{method}"
            out[name] = LabelPreset(name, group, method, f"{method} - {text}",
                                    {"method": method, **settings, **_METHOD[method]})
    return out


LABEL_PRESETS: dict[str, LabelPreset] = _build()


def label_preset_names(group: str | None = None) -> list[str]:
    """Preset names, optionally of one group (``cpu``, ``paper``, ``tiny``)."""
    return [n for n, p in LABEL_PRESETS.items() if group is None or p.group == group]


def get_label_preset(name: str) -> LabelPreset:
    """The preset ``name``; :class:`ConfigError` naming close matches when unknown."""
    if name not in LABEL_PRESETS:
        import difflib

        close = difflib.get_close_matches(name, list(LABEL_PRESETS), n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"unknown label-track preset {name!r}{hint} (`workbench labels presets` lists them)")
    return LABEL_PRESETS[name]


def preset_config(group: str, method: str, *, ablation: str | None = None,
                  extra: Mapping[str, Any] | list[str] | None = None) -> LabelTrainConfig:
    """``{group}-{method}`` with an optional UOT-RCL ablation (or CE ceiling) and extra overrides on top."""
    cfg = get_label_preset(f"{group}-{method}").config()
    if ablation is not None and method == "ce":
        if ablation not in CEILINGS:
            raise ConfigError(f"ablation {ablation!r} applies to uot_rcl, not 'ce' (ce takes the ceilings "
                              f"{', '.join(CEILINGS)})")
        cfg = cfg.override(CEILINGS[ablation])
    elif ablation is not None:
        if method != "uot_rcl":
            raise ConfigError(f"ablation {ablation!r} applies to uot_rcl, not {method!r}")
        if ablation not in ABLATIONS:
            raise ConfigError(f"unknown ablation {ablation!r}; expected one of {', '.join(ABLATIONS)}")
        cfg = cfg.override(ABLATIONS[ablation])
    return cfg.override(extra) if extra else cfg
