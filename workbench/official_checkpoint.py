"""Checkpoints saved by the official L2RM code (and SGRAF-layout relatives), read and converted.

The official training script saves ``torch.save({"epoch", "net", "cost_function", "best_rsum", "opt"})``:

* ``net``: the state dict of its ``SGRAF`` module (``img_enc.*``, ``txt_enc.*``, ``sim_enc.*``);
* ``cost_function``: the state dict of the learnable cost ``C = ReLU(S W^T + b)`` (``fc.weight [B, B]``,
  ``fc.bias [B]``), absent in the relatives that have no cost;
* ``opt``: the ``argparse.Namespace`` of the command line (sizes, schedule, ``module_name`` SGR / SAF, ...).

:func:`read_official_checkpoint` loads such a file with ``torch.load(weights_only=True)`` and only
``argparse.Namespace`` allowed besides tensors and plain containers; any other pickled global is refused
by name. :func:`convert_state_dict` renames the official parameters to this package's modules
(:class:`workbench.models.RetrievalModel`) and checks every name and shape against a freshly built model;
:func:`official_config` maps ``opt`` onto a :class:`~workbench.config.TrainConfig`.

Vocabulary: the official evaluation adds a ``<mask>`` word after the vocabulary file's words, so the word
embedding has ``len(vocab) + 1`` rows (``opt.vocab_size``); the extra row is never read for captions
encoded with that vocabulary.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from workbench.config import TrainConfig
from workbench.errors import ConfigError, RunDirError

__all__ = ["OfficialCheckpoint", "read_official_checkpoint", "convert_state_dict", "official_config",
           "convert_cost_state_dict", "OFFICIAL_DATASETS"]

#: ``opt.data_name`` -> this package's dataset name.
OFFICIAL_DATASETS = {"f30k_precomp": "f30k", "coco_precomp": "coco", "cc152k_precomp": "cc152k"}

#: (official name pattern, this package's name) for the SGRAF modules; tried in order, first match wins.
_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^img_enc\.fc\.(weight|bias)$", r"image_encoder.fc.\1"),
    (r"^txt_enc\.embed\.weight$", r"text_encoder.embed.weight"),
    (r"^txt_enc\.cap_rnn\.(.+)$", r"text_encoder.rnn.\1"),
    (r"^sim_enc\.v_global_w\.embedding_local\.([01])\.(.+)$", r"head.v_global.local.\1.\2"),
    (r"^sim_enc\.v_global_w\.embedding_global\.([01])\.(.+)$", r"head.v_global.glob.\1.\2"),
    (r"^sim_enc\.v_global_w\.embedding_common\.0\.(.+)$", r"head.v_global.common.\1"),
    (r"^sim_enc\.t_global_w\.embedding_local\.0\.(.+)$", r"head.t_global.local.0.\1"),
    (r"^sim_enc\.t_global_w\.embedding_global\.0\.(.+)$", r"head.t_global.glob.0.\1"),
    (r"^sim_enc\.t_global_w\.embedding_common\.0\.(.+)$", r"head.t_global.common.\1"),
    (r"^sim_enc\.sim_tranloc_w\.(weight|bias)$", r"head.local_w.\1"),
    (r"^sim_enc\.sim_tranglo_w\.(weight|bias)$", r"head.global_w.\1"),
    (r"^sim_enc\.sim_eval_w\.(weight|bias)$", r"head.score_w.\1"),
    (r"^sim_enc\.SGR_module\.(\d+)\.graph_query_w\.(weight|bias)$", r"head.graph.\1.query.\2"),
    (r"^sim_enc\.SGR_module\.(\d+)\.graph_key_w\.(weight|bias)$", r"head.graph.\1.key.\2"),
    (r"^sim_enc\.SGR_module\.(\d+)\.sim_graph_w\.(weight|bias)$", r"head.graph.\1.update.\2"),
    (r"^sim_enc\.SAF_module\.attn_sim_w\.(weight|bias)$", r"head.gate.\1"),
    (r"^sim_enc\.SAF_module\.bn\.(.+)$", r"head.gate_bn.\1"),
)

#: ``opt`` fields the conversion reads (every one must be present).
_REQUIRED_OPT = ("img_dim", "word_dim", "embed_size", "sim_dim", "module_name", "sgr_step", "bi_gru",
                 "num_layers", "no_imgnorm", "no_txtnorm", "vocab_size", "data_name")


@dataclass(frozen=True)
class OfficialCheckpoint:
    """An official checkpoint's contents.

    Attributes:
        path: the file read.
        opt: the saved command-line options as a plain dict.
        net: the official ``SGRAF`` state dict (official names).
        cost: the official cost network's state dict (``fc.weight [B, B]``, ``fc.bias [B]``), or None.
        epoch: the saved epoch, or None.
        best_rsum: the saved best validation rSum, or None.
    """

    path: Path
    opt: Mapping[str, Any]
    net: Mapping[str, Tensor]
    cost: Mapping[str, Tensor] | None
    epoch: int | None
    best_rsum: float | None

    @property
    def backbone(self) -> str:
        """``"sgr"`` or ``"saf"`` from ``opt.module_name``."""
        name = str(self.opt["module_name"])
        if name not in ("SGR", "SAF"):
            raise ConfigError(f"{self.path}: opt.module_name is {name!r}; only 'SGR' and 'SAF' can be imported")
        return name.lower()


def _load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if match:
            raise RunDirError(f"{path}: refused: the file needs the pickled global {match.group(1)}, and only "
                              "argparse.Namespace is allowed besides tensors and plain containers; it is not "
                              "an official L2RM checkpoint or has been altered") from None
        line = (str(exc).strip().splitlines() or ["unreadable"])[0]
        if "weights_only" in line:
            line = "weights-only loading refused it"
        raise RunDirError(f"{path}: not a readable checkpoint ({line})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunDirError(f"{path}: not a readable checkpoint (truncated or corrupt: {line})") from None


def _state_dict(path: Path, key: str, value: Any) -> dict[str, Tensor]:
    if not isinstance(value, Mapping) or not all(isinstance(v, Tensor) for v in value.values()):
        raise RunDirError(f"{path}: {key!r} is not a state dict of tensors (found {type(value).__name__})")
    return dict(value)


def read_official_checkpoint(path: str | os.PathLike[str]) -> OfficialCheckpoint:
    """Read an official checkpoint (weights-only, ``argparse.Namespace`` the one allowed global).

    Raises:
        RunDirError: missing, empty, corrupt or refused file (naming the refused global), not a dict, a
            layout without ``net`` and ``opt``, or ``opt`` without a field the conversion needs.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path}: no checkpoint there")
    if path.stat().st_size == 0:
        raise RunDirError(f"{path}: the checkpoint is empty (0 bytes)")
    state = _load(path)
    if not isinstance(state, dict):
        raise RunDirError(f"{path}: expected the official checkpoint dict, found {type(state).__name__}")
    missing = [k for k in ("net", "opt") if k not in state]
    if missing:
        raise RunDirError(f"{path}: not the official L2RM layout (keys {sorted(map(str, state))}): it lacks "
                          f"{', '.join(map(repr, missing))}; expected 'epoch', 'net', 'cost_function', "
                          "'best_rsum', 'opt'")
    opt = state["opt"]
    if not isinstance(opt, argparse.Namespace):
        raise RunDirError(f"{path}: 'opt' is a {type(opt).__name__}, expected the argparse.Namespace of the "
                          "official command line")
    opt_dict = dict(vars(opt))
    absent = [k for k in _REQUIRED_OPT if k not in opt_dict]
    if absent:
        raise RunDirError(f"{path}: opt lacks {', '.join(absent)}, which the conversion needs")
    cost = state.get("cost_function")
    epoch, best = state.get("epoch"), state.get("best_rsum")
    return OfficialCheckpoint(
        path=path, opt=opt_dict, net=_state_dict(path, "net", state["net"]),
        cost=None if cost is None else _state_dict(path, "cost_function", cost),
        epoch=int(epoch) if isinstance(epoch, int) else None,
        best_rsum=float(best) if isinstance(best, (int, float)) else None)


def _rename(name: str) -> str | None:
    for pattern, target in _RENAMES:
        if re.match(pattern, name):
            return re.sub(pattern, target, name)
    return None


def convert_state_dict(official: Mapping[str, Tensor], expected: Mapping[str, Tensor],
                       source: str | Path = "checkpoint") -> dict[str, Tensor]:
    """The official ``SGRAF`` state dict under this package's parameter names.

    Args:
        official: official names -> tensors.
        expected: the state dict of a :class:`~workbench.models.RetrievalModel` built with the same sizes
            (its names and shapes are the contract).
        source: named in errors.

    Raises:
        RunDirError: an official name with no counterpart, a parameter the model needs that the checkpoint
            lacks, or a shape mismatch (each names the parameter and both shapes).
    """
    out: dict[str, Tensor] = {}
    unknown = []
    for name, tensor in official.items():
        target = _rename(name)
        if target is None or target not in expected:
            unknown.append(name)
            continue
        if tuple(tensor.shape) != tuple(expected[target].shape):
            raise RunDirError(f"{source}: parameter {name!r} has shape {tuple(tensor.shape)}, but the model "
                              f"built from opt needs {tuple(expected[target].shape)} for {target!r}")
        out[target] = tensor.detach().clone().to(expected[target].dtype)
    if unknown:
        raise RunDirError(f"{source}: unexpected parameters {unknown[:5]}{' ...' if len(unknown) > 5 else ''}: "
                          "not part of the SGRAF model that opt describes")
    missing = sorted(set(expected) - set(out))
    if missing:
        raise RunDirError(f"{source}: missing parameters for {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return out


def convert_cost_state_dict(cost: Mapping[str, Tensor], source: str | Path = "checkpoint") -> dict[str, Tensor]:
    """``fc.weight [B, B]``, ``fc.bias [B]`` -> :class:`~workbench.ot.cost.LearnableCost`'s ``linear.*``."""
    if set(cost) != {"fc.weight", "fc.bias"}:
        raise RunDirError(f"{source}: cost_function has keys {sorted(cost)}; expected 'fc.weight' and 'fc.bias'")
    weight, bias = cost["fc.weight"], cost["fc.bias"]
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1] or tuple(bias.shape) != (weight.shape[0],):
        raise RunDirError(f"{source}: cost_function fc.weight {tuple(weight.shape)} and fc.bias "
                          f"{tuple(bias.shape)} are not [B, B] and [B]")
    return {"linear.weight": weight.detach().clone().float(), "linear.bias": bias.detach().clone().float()}


def official_config(ckpt: OfficialCheckpoint, method: str = "l2rm") -> TrainConfig:
    """The :class:`TrainConfig` that ``opt`` describes (model sizes exactly; schedule and L2RM settings
    where the option exists; the data set from ``data_name``).

    Raises:
        ConfigError: options this package cannot represent (``no_imgnorm`` / ``no_txtnorm`` true, a
            ``module_name`` other than SGR / SAF, an unknown ``data_name``), each named with its value.
    """
    opt = ckpt.opt
    for flag in ("no_imgnorm", "no_txtnorm"):
        if bool(opt[flag]):
            raise ConfigError(f"{ckpt.path}: opt.{flag} is True; the workbench's encoders always L2-normalise")
    dataset = OFFICIAL_DATASETS.get(str(opt["data_name"]))
    if dataset is None:
        raise ConfigError(f"{ckpt.path}: opt.data_name is {opt['data_name']!r}; known: {sorted(OFFICIAL_DATASETS)}")
    overrides: dict[str, Any] = {
        "method": method, "seed": int(opt.get("seed", 0)),
        "data.dataset": dataset, "data.mrate": 0.0 if dataset == "cc152k" else float(opt.get("noise_ratio", 0.0)),
        "data.test_split": "testall" if dataset == "coco" else "test",
        "model.backbone": ckpt.backbone, "model.word_dim": int(opt["word_dim"]),
        "model.embed_size": int(opt["embed_size"]), "model.sim_dim": int(opt["sim_dim"]),
        "model.sgr_step": int(opt["sgr_step"]), "model.bi_gru": bool(opt["bi_gru"]),
        "model.gru_layers": int(opt["num_layers"]),
    }
    if overrides["data.mrate"] > 0:  # the official scripts use the papers' image-level index files
        overrides.update({"data.noise_protocol": "image", "data.noise_file": "paper"})
    optional = {"batch_size": "optim.batch_size", "lr": "optim.lr", "lr_update": "optim.lr_update",
                "grad_clip": "optim.grad_clip", "margin": "optim.margin", "warmup_epoch": "optim.warmup_epochs",
                "num_epochs": "optim.epochs"}
    if method == "l2rm":
        optional.update({"tau": "l2rm.tau", "reg": "l2rm.lam", "rho": "l2rm.rho", "lr_cost": "l2rm.cost_lr"})
    for key, target in optional.items():
        if key in opt:
            overrides[target] = opt[key]
    if method == "l2rm" and "queue_length" in opt:
        queue = int(opt["queue_length"])
        overrides["l2rm.queue_length"] = 0 if queue == int(opt.get("batch_size", 128)) else queue
    try:
        return TrainConfig().override(overrides)
    except ConfigError as exc:
        raise ConfigError(f"{ckpt.path}: opt does not map onto a configuration: {exc}") from None

