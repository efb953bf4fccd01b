"""Reproduction targets: the paper's tables and figures as parameter grids over presets.

A target (``table1``, ``table3``, ``fig6``, ...) expands, for a preset kind (``cpu``: the synthetic set on a
laptop; ``paper``: the paper's datasets and settings, for GPU users), into :class:`Setting` s — one training
run each, executed by the target's notebook. Grid axes can be narrowed with ``--set`` (``methods=vanilla,l2rm``,
``mrates=0.2,0.6``, ``seeds=0``); any other ``--set key=value`` is a training override applied to every run
(``epochs=3``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.config import METHODS
from workbench.errors import ConfigError

__all__ = ["Setting", "Target", "TARGETS", "get_target", "GRID_KEYS"]

PAPER_METHODS = ("vanilla", "ncr", "decl", "bicro", "rcl", "l2rm")
RATES = (0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class Setting:
    """One run of a target: a preset, its overrides and the labels the collected table groups by."""

    id: str  # directory name under <run root>/<target>/
    preset: str
    overrides: tuple[str, ...] = ()
    labels: Mapping[str, Any] = field(default_factory=dict)  # method, backbone, mrate, seed, variant, ...
    source: str | None = None  # analyse an existing run instead of training (figure targets)

    def parameters(self, run_dir: str, kind: str) -> dict[str, Any]:
        """The papermill parameters of the target notebook for this setting."""
        return {"preset": self.preset, "overrides": list(self.overrides), "run_dir": run_dir,
                "preset_kind": kind, "labels": dict(self.labels), "source_run": self.source or ""}


Grid = Callable[[str, Mapping[str, list[str]]], list[Setting]]


@dataclass(frozen=True)
class Target:
    """A table or figure: its notebook, its grid, and how a setting becomes notebook parameters.

    ``whole_grid`` targets (the label track's MAP table) execute their notebook once: the notebook runs the
    grid itself (skipping finished runs) and writes ``table.csv`` / ``table.md`` into the target folder.
    """

    name: str
    notebook: str
    description: str
    grid: Grid
    axes: tuple[str, ...]
    whole_grid: bool = False

    def settings(self, kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
        """The settings of ``grid`` (narrowed axes) for ``kind``; each has its own run directory name."""
        settings = self.grid(kind, grid)
        seen: dict[str, Setting] = {}
        for setting in settings:
            if setting.id in seen:
                raise ConfigError(f"{self.name}: two settings share the run directory {setting.id!r} "
                                  f"({dict(seen[setting.id].labels)} and {dict(setting.labels)})")
            seen[setting.id] = setting
        return settings


#: grid axes a user may narrow with --set (values are comma-separated lists)
GRID_KEYS = ("methods", "mrates", "seeds", "backbones", "datasets", "variants", "warmups", "rhos", "lams",
             "batches", "mrate", "run", "ablations", "ceilings", "rates")


def _axis(grid: Mapping[str, list[str]], key: str, default: Sequence[Any], cast: Callable[[str], Any] = str) -> list[Any]:
    if key not in grid:
        return list(default)
    values = [cast(v) for v in grid[key]]
    if key == "methods":
        unknown = [v for v in values if v not in METHODS]
        if unknown:
            raise ConfigError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    return values


def _fmt(x: float) -> str:
    return f"{x:g}"


def _retrieval_grid(kind: str, grid: Mapping[str, list[str]], *, rates: Sequence[float],
                    datasets: Sequence[str] = ("f30k", "coco")) -> list[Setting]:
    out = []
    methods = _axis(grid, "methods", PAPER_METHODS)
    rates = _axis(grid, "mrates", rates, float)
    if kind == "cpu":
        for method in methods:
            for backbone in _axis(grid, "backbones", ["vse"]):
                for mrate in rates:
                    for seed in _axis(grid, "seeds", [0, 1, 2], int):
                        out.append(Setting(f"{method}-{backbone}-m{_fmt(mrate)}-s{seed}",
                                           f"cpu-{method}-{backbone}", (f"mrate={mrate:g}", f"seed={seed}"),
                                           {"method": method, "backbone": backbone, "mrate": mrate,
                                            "seed": seed, "dataset": "synthetic"}))
        return out
    for dataset in _axis(grid, "datasets", datasets):
        for method in methods:
            for backbone in _axis(grid, "backbones", ["saf", "sgr"]):
                for mrate in rates:
                    name = f"{dataset}-{method}-{backbone}-{mrate:g}"
                    for seed in _axis(grid, "seeds", [0], int):
                        out.append(Setting(f"{name}-s{seed}", name, (f"seed={seed}",),
                                           {"method": method, "backbone": backbone, "mrate": mrate,
                                            "seed": seed, "dataset": dataset}))
    return out


def _table1(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    return _retrieval_grid(kind, grid, rates=(0.0, *RATES) if kind == "cpu" else RATES)


def _table7(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    return _retrieval_grid(kind, grid, rates=(0.0,))


def _table2(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    methods = _axis(grid, "methods", PAPER_METHODS)
    if kind == "paper":
        return [Setting(f"cc152k-{m}-{b}-s{s}", f"cc152k-{m}-{b}", (f"seed={s}",),
                        {"method": m, "backbone": b, "dataset": "cc152k", "seed": s})
                for m in methods for b in _axis(grid, "backbones", ["saf", "sgr"]) for s in _axis(grid, "seeds", [0], int)]
    # CPU stand-in for real, unknown mismatches: NCR-style caption-level noise at 20 %
    mrate = float(grid.get("mrate", ["0.2"])[0])
    return [Setting(f"{m}-vse-caption{_fmt(mrate)}-s{s}", f"cpu-{m}-vse",
                    (f"mrate={mrate:g}", "noise_protocol=caption", f"seed={s}"),
                    {"method": m, "backbone": "vse", "mrate": mrate, "seed": s, "dataset": "synthetic"})
            for m in methods for s in _axis(grid, "seeds", [0], int)]


ABLATIONS: dict[str, tuple[str, ...]] = {
    "L2RM": (),
    "L2RM w KL-divergence": ("rematch_loss=kl",),
    "L2RM w InfoNCE Loss": ("rematch_loss=infonce",),
    "L2RM w/o Partial OT": ("partial=false",),
    "L2RM w/o Positives Masked": ("mask_positives=off",),
    "L2RM w/o Cost Function": ("cost_fn=cosine",),
    # not in the paper's table: the split and the clean triplet alone, what the rematching adds on top
    "L2RM w/o Rematch Loss": ("rematch_weight=0",),
}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-").replace("--", "-")


def _table3(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    variants = _axis(grid, "variants", list(ABLATIONS))
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown:
        raise ConfigError(f"unknown ablation(s) {unknown}; choose from {list(ABLATIONS)}")
    base, extra = ("f30k-l2rm-sgr-0.6", ()) if kind == "paper" else ("cpu-l2rm-vse", ("mrate=0.6",))
    return [Setting(f"{_slug(v)}-s{s}", base, (*extra, *ABLATIONS[v], f"seed={s}"),
                    {"variant": v, "method": "l2rm", "mrate": 0.6, "seed": s})
            for v in variants for s in _axis(grid, "seeds", [0], int)]


def _table4(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    warmups = _axis(grid, "warmups", ["triplet", "infonce", "infonce_rce"])
    out = []
    for warm in warmups:
        if kind == "paper":
            for name, dataset in (("f30k-l2rm-sgr-0.8", "flickr30k"), ("cc152k-l2rm-sgr", "cc152k")):
                out.append(Setting(f"{dataset}-{warm}", name, (f"l2rm.warmup_loss={warm}",),
                                   {"warmup": warm, "dataset": dataset}))
        else:
            for tag, extra in (("mrate0.8", ("mrate=0.8",)), ("caption0.2", ("mrate=0.2", "noise_protocol=caption"))):
                out.append(Setting(f"{tag}-{warm}", "cpu-l2rm-vse", (*extra, f"l2rm.warmup_loss={warm}"),
                                   {"warmup": warm, "dataset": tag}))
    return out


def _table8(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    rates = _axis(grid, "mrates", RATES, float)
    backbones = _axis(grid, "backbones", ["saf", "sgr"] if kind == "paper" else ["vse"])
    if kind == "paper":
        return [Setting(f"coco-l2rm-{b}-{r:g}", f"coco-l2rm-{b}-{r:g}", (),
                        {"method": "l2rm", "backbone": b, "mrate": r, "dataset": "coco"})
                for b in backbones for r in rates]
    return [Setting(f"l2rm-{b}-m{_fmt(r)}", f"cpu-l2rm-{b}", (f"mrate={r:g}",),
                    {"method": "l2rm", "backbone": b, "mrate": r, "dataset": "synthetic"})
            for b in backbones for r in rates]


def _table9(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    batches = _axis(grid, "batches", [64, 128, 256], int)
    methods = _axis(grid, "methods", ["l2rm", "rcl"])
    rho_of = {64: 0.05, 128: 0.1, 256: 0.2}
    out = []
    for method in methods:
        for b in batches:
            rho = rho_of.get(b, 0.1 * b / 128)
            extra = (f"batch_size={b}", f"l2rm.rho={rho:g}")
            backbones = ["saf", "sgr"] if kind == "paper" else ["vse"]
            for backbone in _axis(grid, "backbones", backbones):
                preset = f"f30k-{method}-{backbone}-0.6" if kind == "paper" else f"cpu-{method}-{backbone}"
                mrate = () if kind == "paper" else ("mrate=0.6",)
                out.append(Setting(f"{method}-{backbone}-b{b}", preset, (*mrate, *extra),
                                   {"method": method, "backbone": backbone, "batch_size": b, "rho": rho,
                                    "mrate": 0.6}))
    return out


def _fig4(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    base, extra = ("f30k-l2rm-sgr-0.2", ()) if kind == "paper" else ("cpu-l2rm-vse", ("mrate=0.2",))
    out = [Setting(f"rho{_fmt(r)}", base, (*extra, f"l2rm.rho={r:g}"), {"param": "rho", "value": r})
           for r in _axis(grid, "rhos", [0.05, 0.1, 0.2, 0.4, 0.8], float)]
    out += [Setting(f"lam{_fmt(v)}", base, (*extra, f"l2rm.lam={v:g}"), {"param": "lam", "value": v})
            for v in _axis(grid, "lams", [0.01, 0.03, 0.05, 0.07, 0.1], float)]
    return out


def _single_run(paper_preset: str, cpu_mrate: float) -> Grid:
    def grid_fn(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
        source = grid.get("run", [None])[0]
        if source:  # analyse an existing run: the setting is named after it
            return [Setting("from-" + _slug(source), paper_preset if kind == "paper" else "cpu-l2rm-vse", (), {},
                            source)]
        if kind == "paper":
            return [Setting(paper_preset, paper_preset, (), {})]
        mrate = float(grid.get("mrate", [str(cpu_mrate)])[0])
        return [Setting(f"l2rm-vse-m{_fmt(mrate)}", "cpu-l2rm-vse", (f"mrate={mrate:g}",), {"mrate": mrate})]
    return grid_fn


def _uot_table(kind: str, grid: Mapping[str, list[str]]) -> list[Setting]:
    """One execution of the label-track notebook, which runs its (method x noise x rate x seed) grid."""
    labels: dict[str, Any] = {}
    if "methods" in grid:
        labels["methods"] = list(grid["methods"])
    if "seeds" in grid:
        labels["seeds"] = [int(s) for s in grid["seeds"]]
    if "ablations" in grid:
        labels["ablations"] = list(grid["ablations"])
    if "datasets" in grid:
        labels["datasets"] = list(grid["datasets"])
    if "rates" in grid:  # symmetric noise rates (the asymmetric column is dropped when rates are narrowed)
        labels["rates"] = {"symmetric": [float(r) for r in grid["rates"]]}
    if "ceilings" in grid:
        labels["ceilings"] = [c for c in grid["ceilings"] if c and c != "none"]
    return [Setting("grid", kind, (), labels)]


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("table1", "table1.py", "Tables 1/6 (and 5): R@K under MRate 0.2-0.8 for every method", _table1,
           ("methods", "mrates", "seeds", "backbones", "datasets")),
    Target("table2", "table2.py", "Table 2: real mismatches (CC152K; caption-level 20 % on synthetic)", _table2,
           ("methods", "seeds", "backbones", "mrate")),
    Target("table3", "table3.py", "Table 3: L2RM ablations at MRate 0.6", _table3, ("variants", "seeds")),
    Target("table4", "table4.py", "Table 4: warm-up losses (MRate 0.8 and real mismatches)", _table4, ("warmups",)),
    Target("table7", "table7.py", "Table 7: the original data (MRate 0)", _table7,
           ("methods", "seeds", "backbones", "datasets")),
    Target("table8", "table8.py", "Table 8: MS-COCO 5K (the whole test set on synthetic)", _table8,
           ("mrates", "backbones")),
    Target("table9", "table9.py", "Table 9: batch size with rho (64/0.05, 128/0.1, 256/0.2) at MRate 0.6", _table9,
           ("batches", "methods", "backbones")),
    Target("fig4", "fig4.py", "Figure 4: rho and lambda sweeps at MRate 0.2", _fig4, ("rhos", "lams")),
    Target("fig5", "fig5.py", "Figure 5: rematched examples", _single_run("cc152k-l2rm-sgr", 0.6), ("mrate", "run")),
    Target("fig6", "fig6.py", "Figure 6: transport-cost distributions by epoch", _single_run("f30k-l2rm-sgr-0.8", 0.8),
           ("mrate", "run")),
    Target("fig7", "fig7.py", "Figure 7: ranked refined-alignment distributions", _single_run("coco-l2rm-sgr-0.4", 0.4),
           ("mrate", "run")),
    Target("uot-table", "uot_table.py", "Label track: MAP vs label noise (UOT-RCL, baselines, CE ceilings) on "
           "Wikipedia and/or mfeat", _uot_table, ("methods", "seeds", "ablations", "datasets", "ceilings", "rates"),
           whole_grid=True),
)}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}") from None
