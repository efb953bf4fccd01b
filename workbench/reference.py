"""The L2RM paper's published numbers, for side-by-side display with our runs.

The numbers live in CSV files packaged under ``workbench/reference_data/`` (copied from the paper,
arXiv 2403.05105):

* ``retrieval`` — Tables 1/6 (Flickr30K and MS-COCO 1K under MRate 0.2–0.8; Table 1 is a subset of
  Table 6, so the CSV stores them once as table 6), Table 2 (CC152K), Table 7 (MRate 0) and Table 8
  (MS-COCO 5K): ``table, dataset, mrate, method, i2t_r1 ... t2i_r10, rsum``;
* ``ablation`` (Table 3), ``warmup`` (Table 4), ``epochs`` (Table 5), ``batch`` (Table 9).

Runs are matched to paper rows through names: a run's ``(method, backbone)`` becomes the paper's method
label (``l2rm`` + ``sgr`` → ``"L2RM-SGR"``, ``vanilla`` + ``saf`` → ``"SAF"``), its dataset the paper's
dataset key (``f30k`` → ``"flickr30k"``, ``coco`` → ``"coco1k"`` or ``"coco5k"``), and dataset plus MRate
pick the table. Every R@K value is in percent; ``rsum`` is the sum of the six recalls (max 600).

Torch-free: the dashboard imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

import numpy as np
import pandas as pd

from workbench.errors import ConfigError

__all__ = [
    "RK_COLUMNS",
    "TABLE_FILES",
    "TABLE_TITLES",
    "PaperRow",
    "load_table",
    "method_label",
    "paper_method",
    "paper_dataset",
    "paper_table",
    "lookup",
    "lookup_batch",
    "paper_rows",
    "compare",
    "paper_layout",
]

RK_COLUMNS: tuple[str, ...] = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum")

TABLE_FILES: Mapping[str, str] = MappingProxyType({
    "retrieval": "l2rm_retrieval_tables.csv",
    "ablation": "l2rm_table3_ablation.csv",
    "warmup": "l2rm_table4_warmup.csv",
    "epochs": "l2rm_table5_epochs.csv",
    "batch": "l2rm_table9_batch.csv",
})

TABLE_TITLES: Mapping[int, str] = MappingProxyType({
    6: "Tables 1 & 6: Flickr30K and MS-COCO 1K under synthesised mismatch (MRate 0.2–0.8)",
    2: "Table 2: CC152K (real-world mismatch)",
    7: "Table 7: original Flickr30K and MS-COCO (MRate 0)",
    8: "Table 8: MS-COCO 5K test set",
    9: "Table 9: batch size (Flickr30K, MRate 0.6; ρ = 0.05 / 0.1 / 0.2 for B = 64 / 128 / 256)",
})

# Method names as the paper prints them. NCR and BiCro appear without a backbone suffix: NCR's rows are
# its SGRAF ensemble and BiCro's are "2 co-trained SGR" (paper §5.1), so only those backbones match.
_METHOD_NAMES = {"l2rm": "L2RM", "ncr": "NCR", "decl": "DECL", "bicro": "BiCro", "rcl": "RCL",
                 "imram": "IMRAM"}
_FIXED_BACKBONE = {"ncr": "sgraf", "bicro": "sgr"}
_DATASET_KEYS = {"f30k": "flickr30k", "flickr30k": "flickr30k", "f30k_precomp": "flickr30k",
                 "coco": "coco", "mscoco": "coco", "coco_precomp": "coco", "coco1k": "coco",
                 "coco5k": "coco", "cc152k": "cc152k", "cc152k_precomp": "cc152k"}
_PROTOCOLS = ("1k", "5k")


@dataclass(frozen=True)
class PaperRow:
    """One published result row.

    Attributes:
        table: table number in the paper (6 stands for Tables 1 and 6).
        dataset: the paper's dataset key (``flickr30k``, ``coco1k``, ``coco5k``, ``cc152k``).
        mrate: mismatch rate, or ``None`` where the table has none (CC152K, Table 9 holds 0.6).
        method: the paper's method label, e.g. ``"L2RM-SGR"``.
        metrics: ``{i2t_r1, ..., rsum}`` in percent (read-only).
        batch_size: Table 9 only.
    """

    table: int
    dataset: str
    mrate: float | None
    method: str
    metrics: Mapping[str, float]
    batch_size: int | None = None

    @property
    def rsum(self) -> float:
        return self.metrics["rsum"]


@cache
def _read_packaged(name: str) -> pd.DataFrame:
    with resources.files("workbench").joinpath("reference_data", TABLE_FILES[name]).open("rb") as fh:
        return pd.read_csv(fh)


def load_table(name: str) -> pd.DataFrame:
    """One packaged table as a fresh DataFrame (callers may modify it).

    Args:
        name: one of :data:`TABLE_FILES` (``retrieval``, ``ablation``, ``warmup``, ``epochs``, ``batch``).

    Raises:
        ConfigError: for an unknown table name.
    """
    if name not in TABLE_FILES:
        raise ConfigError(f"unknown reference table {name!r}; expected one of {sorted(TABLE_FILES)}")
    return _read_packaged(name).copy()


def method_label(method: str | None, backbone: str | None) -> str:
    """Display label in the paper's style: ``l2rm``/``sgr`` → ``L2RM-SGR``; ``vanilla``/``vse`` → ``VSE``."""
    name, bb = (method or "?").lower(), (backbone or "").upper()
    if name == "vanilla":
        return bb or "vanilla"
    label = _METHOD_NAMES.get(name, name.upper())
    if name == "imram" or (name in _FIXED_BACKBONE and bb in ("", _FIXED_BACKBONE[name].upper())):
        return label
    return f"{label}-{bb}" if bb else label


def paper_method(method: str | None, backbone: str | None) -> str | None:
    """The paper's method label for a run, or ``None`` when the paper has no such method.

    ``vanilla`` with ``saf``/``sgr``/``sgraf`` is the paper's general method of that name; NCR matches
    only with ``sgraf`` and BiCro only with ``sgr`` (the configurations the paper reports).
    """
    label = method_label(method, backbone)
    known = set(_read_packaged("retrieval")["method"]) | set(_read_packaged("batch")["method"])
    return label if label in known else None


def paper_dataset(dataset: str | None, *, protocol: str = "1k") -> str | None:
    """The paper's dataset key: ``f30k`` → ``flickr30k``; ``coco`` → ``coco1k`` / ``coco5k`` by protocol.

    Returns ``None`` for datasets the paper does not report (``synthetic``, ``wikipedia``, ...).
    """
    if protocol not in _PROTOCOLS:
        raise ConfigError(f"evaluation protocol must be one of {_PROTOCOLS}, got {protocol!r}")
    key = _DATASET_KEYS.get((dataset or "").lower())
    if key == "coco":
        return "coco5k" if protocol == "5k" else "coco1k"
    return None if key is None or protocol == "5k" else key


def paper_table(dataset: str | None, mrate: float | None, *, protocol: str = "1k") -> int | None:
    """Which table holds a setting: 2 (CC152K), 8 (COCO 5K), 7 (MRate 0) or 6 (Tables 1/6)."""
    key = paper_dataset(dataset, protocol=protocol)
    if key is None:
        return None
    if key == "cc152k":
        return 2
    if key == "coco5k":
        return 8
    if mrate is None or _is_nan(mrate):
        return None
    return 7 if math.isclose(float(mrate), 0.0, abs_tol=1e-9) else 6


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _row(frame: pd.DataFrame, index: int, batch_size: int | None = None) -> PaperRow:
    rec = frame.loc[index]
    mrate = rec.get("mrate")
    return PaperRow(
        table=int(rec["table"]) if "table" in rec else 9,
        dataset=str(rec.get("dataset", "flickr30k")),
        mrate=None if mrate is None or pd.isna(mrate) else float(mrate),
        method=str(rec["method"]),
        metrics=MappingProxyType({c: float(rec[c]) for c in RK_COLUMNS}),
        batch_size=batch_size,
    )


def lookup(dataset: str | None, mrate: float | None, method: str | None, backbone: str | None = None,
           *, protocol: str = "1k") -> PaperRow | None:
    """The paper's row for a run's setting, or ``None`` when the paper has none.

    Args:
        dataset: the run's dataset (``f30k``, ``coco``, ``cc152k``, ...).
        mrate: the run's mismatch rate (ignored for CC152K, whose noise is real).
        method: the run's method (``l2rm``, ``vanilla``, ...); when ``backbone`` is ``None`` it is
            taken verbatim as the paper's label (``"L2RM-SGR"``).
        backbone: ``vse``, ``saf``, ``sgr``, ``sgraf``, or ``None`` (see ``method``).
        protocol: ``"1k"`` (F30K test, COCO 5-fold 1K, CC152K) or ``"5k"`` (COCO full 5K, Table 8).
    """
    table = paper_table(dataset, mrate, protocol=protocol)
    label = method if backbone is None else paper_method(method, backbone)
    if table is None or label is None:
        return None
    frame = _read_packaged("retrieval")
    hit = (frame["table"] == table) & (frame["dataset"] == paper_dataset(dataset, protocol=protocol)) \
        & (frame["method"] == label)
    if table != 2:
        hit &= np.isclose(frame["mrate"].astype(float), float(mrate))  # type: ignore[arg-type]
    rows = frame.index[hit]
    return _row(frame, rows[0]) if len(rows) else None


def lookup_batch(batch_size: int, method: str | None, backbone: str | None = None) -> PaperRow | None:
    """Table 9's row (Flickr30K, MRate 0.6) for a batch size and method, or ``None``.

    ``method``/``backbone`` as in :func:`lookup` (``backbone=None``: ``method`` is the paper's label).
    """
    label = method if backbone is None else paper_method(method, backbone)
    frame = _read_packaged("batch")
    rows = frame.index[(frame["batch_size"] == int(batch_size)) & (frame["method"] == label)]
    if not len(rows):
        return None
    return PaperRow(table=9, dataset="flickr30k", mrate=0.6, method=str(label),
                    metrics=MappingProxyType({c: float(frame.loc[rows[0], c]) for c in RK_COLUMNS}),
                    batch_size=int(batch_size))


def paper_rows(*, table: int | None = None, dataset: str | None = None, mrate: float | None = None,
               methods: Iterable[str] | None = None) -> pd.DataFrame:
    """Rows of the retrieval tables matching every given filter (paper keys, e.g. ``"flickr30k"``)."""
    frame = load_table("retrieval")
    keep = np.ones(len(frame), dtype=bool)
    if table is not None:
        keep &= (frame["table"] == table).to_numpy()
    if dataset is not None:
        keep &= (frame["dataset"] == dataset).to_numpy()
    if mrate is not None:
        keep &= np.isclose(frame["mrate"].astype(float).to_numpy(), float(mrate))
    if methods is not None:
        keep &= frame["method"].isin(list(methods)).to_numpy()
    return frame[keep].reset_index(drop=True)


def compare(ours: pd.DataFrame) -> pd.DataFrame:
    """Attach the paper's numbers and the deltas to our results.

    Args:
        ours: one row per (run, evaluation) with columns ``run_id``, ``dataset``, ``mrate``, ``method``,
            ``backbone``, optional ``protocol`` (``"1k"`` default, ``"5k"`` for COCO 5K) and any of
            :data:`RK_COLUMNS` (percent).

    Returns:
        ``ours`` plus ``table`` (nullable int), ``paper_method`` (the label, e.g. ``"L2RM-SGR"``, or the
        run's own label when the paper has no row) and, for every metric ``m``, ``m_paper`` and
        ``m_delta = m - m_paper`` (NaN without a paper row).
    """
    out = ours.copy().reset_index(drop=True)
    out["protocol"] = out["protocol"].fillna("1k") if "protocol" in out else "1k"
    tables: list[int | None] = []
    labels: list[str] = []
    paper = {c: np.full(len(out), np.nan) for c in RK_COLUMNS}
    for i, rec in enumerate(out.itertuples(index=False)):
        row = lookup(rec.dataset, _float_or_none(rec.mrate), rec.method, rec.backbone,
                     protocol=rec.protocol)
        tables.append(row.table if row else None)
        labels.append(row.method if row else method_label(rec.method, rec.backbone))
        if row:
            for c in RK_COLUMNS:
                paper[c][i] = row.metrics[c]
    out["table"] = pd.array(tables, dtype="Int64")
    out["paper_method"] = labels
    for c in RK_COLUMNS:
        ours_values = pd.to_numeric(out[c], errors="coerce") if c in out else np.full(len(out), np.nan)
        out[f"{c}_paper"] = paper[c]
        out[f"{c}_delta"] = np.asarray(ours_values, dtype=float) - paper[c]
    return out


def _float_or_none(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def paper_layout(comparison: pd.DataFrame) -> pd.DataFrame:
    """Reshape :func:`compare` output into the paper's table layout, grouped by MRate then method.

    For every (table, dataset, MRate, method) group: one ``paper`` row (when the paper has one), then
    for each run an ``ours`` row and a ``Δ`` row (ours − paper). Columns: ``table``, ``dataset``,
    ``mrate``, ``method``, ``source`` (``paper`` / ``ours`` / ``Δ``), ``run_id`` and the R@K columns.
    """
    cols = ["table", "dataset", "mrate", "method", "source", "run_id", *RK_COLUMNS]
    if comparison.empty:
        return pd.DataFrame(columns=cols)
    frame = comparison.assign(_mrate=pd.to_numeric(comparison["mrate"], errors="coerce"))
    rows: list[dict[str, object]] = []
    keys = ["table", "dataset", "_mrate", "paper_method"]
    for (table, dataset, mrate, method), group in frame.groupby(keys, dropna=False, sort=True):
        base = {"table": table, "dataset": dataset, "mrate": mrate, "method": method}
        has_paper = group[f"{RK_COLUMNS[-1]}_paper"].notna().any()
        if has_paper:
            first = group.iloc[0]
            rows.append({**base, "source": "paper", "run_id": "",
                         **{c: first[f"{c}_paper"] for c in RK_COLUMNS}})
        for _, rec in group.iterrows():
            rows.append({**base, "source": "ours", "run_id": rec["run_id"],
                         **{c: rec.get(c, np.nan) for c in RK_COLUMNS}})
            if has_paper:
                rows.append({**base, "source": "Δ", "run_id": rec["run_id"],
                             **{c: rec[f"{c}_delta"] for c in RK_COLUMNS}})
    out = pd.DataFrame(rows, columns=cols)
    out["table"] = out["table"].astype("Int64")
    for c in RK_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce")
    return out
