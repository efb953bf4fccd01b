"""The typed schema of a run directory's files: what every field must be, checked where it is read.

``run.json``, each ``metrics.jsonl`` record and ``results.json`` are JSON objects whose known fields
have a declared :class:`Field` type; artefacts (parquet tables, ``.npz`` arrays) have declared columns
and array shapes. :class:`~workbench.runs.RunWriter` checks what it writes and the readers of
:mod:`workbench.runs` check what they read, so a value of the wrong type (``created: 5``,
``mrate: "abc"``, ``dataset: {...}``) never reaches a caller: it becomes one :class:`DamagedRunError`
that names the file and the field, e.g. ``run.json: field 'created' must be an ISO timestamp, got int
5``.

Unknown keys are allowed everywhere (methods add their own extras; newer writers add fields), and the
per-method sections of a metrics record (``split``, ``rematch``, ``label``, ...) are open mappings
whose values must be numbers, booleans or null: their types are checked, not their key sets.

This module is torch-free and reads nothing from disk.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from workbench.errors import RunDirError

__all__ = [
    "DamagedRunError",
    "Field",
    "RUN_STATUSES",
    "RUN_FIELDS",
    "METRICS_FIELDS",
    "RESULTS_FIELDS",
    "TABLE_COLUMNS",
    "ARRAY_SCHEMAS",
    "check_run_info",
    "check_metrics_record",
    "check_results",
    "check_table",
    "check_arrays",
    "describe_value",
]

#: ``status`` values a writer may record (``damaged`` is only ever a reader's verdict).
RUN_STATUSES = ("running", "done", "failed", "imported")

Kind = Literal["str", "int", "number", "bool", "timestamp", "object", "list", "numbers", "scalars",
               "strings", "nested_numbers", "any"]


class DamagedRunError(RunDirError):
    """A run directory's file is missing, unreadable or has a field that breaks its schema.

    Attributes:
        path: the file at fault.
        field: the dotted field (``"created"``, ``"val.rsum"``, column ``"score"``), or None when the
            whole file is at fault (missing, not JSON).
        problem: what is wrong, as a phrase.
    """

    def __init__(self, path: str | Path, problem: str, field: str | None = None) -> None:
        self.path, self.field, self.problem = Path(path), field, problem
        where = f"{path}: field {field!r}" if field is not None else f"{path}:"
        super().__init__(f"{where} {problem}")


@dataclass(frozen=True)
class Field:
    """The declared type of one field.

    ``kind``: ``str``, ``int`` (not bool), ``number`` (int or float, not bool), ``bool``,
    ``timestamp`` (an ISO-8601 string), ``object`` (any JSON object), ``list``, ``numbers`` (an object
    of numbers), ``scalars`` (an object of numbers / booleans / strings), ``strings`` (a list of
    strings), ``nested_numbers`` (an object of objects of numbers), ``any``. ``null``: None is allowed.
    ``required``: the key must be present. ``choices``: allowed values. ``ge``: lower bound.
    """

    kind: Kind
    null: bool = True
    required: bool = False
    choices: tuple[Any, ...] | None = None
    ge: float | None = None


def describe_value(value: Any) -> str:
    """``int 5``, ``str 'abc'``, ``dict {...}``: a value's type and a short repr for error messages."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        _dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_KIND_TEXT = {"str": "a string", "int": "an integer", "number": "a number", "bool": "true or false",
              "timestamp": "an ISO timestamp", "object": "a JSON object", "list": "a list",
              "numbers": "an object of numbers", "scalars": "an object of numbers, booleans or strings",
              "strings": "a list of strings", "nested_numbers": "an object of objects of numbers"}


def _problem(spec: Field, value: Any) -> str | None:
    """Why ``value`` breaks ``spec`` (None when it fits)."""
    if value is None:
        return None if spec.null else f"must be {_KIND_TEXT.get(spec.kind, spec.kind)}, got null"
    kind = spec.kind
    ok = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: _is_number(v) and math.isfinite(v),
        "bool": lambda v: isinstance(v, bool),
        "timestamp": _timestamp,
        "object": lambda v: isinstance(v, Mapping),
        "list": lambda v: isinstance(v, list),
        "numbers": lambda v: isinstance(v, Mapping),
        "scalars": lambda v: isinstance(v, Mapping),
        "nested_numbers": lambda v: isinstance(v, Mapping),
        "strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "any": lambda v: True,
    }[kind]
    if not ok(value):
        return f"must be {_KIND_TEXT.get(kind, kind)}, got {describe_value(value)}"
    if spec.choices is not None and value not in spec.choices:
        return f"must be one of {', '.join(map(repr, spec.choices))}, got {describe_value(value)}"
    if spec.ge is not None and value < spec.ge:
        return f"must be >= {spec.ge:g}, got {describe_value(value)}"
    return None


def _inner_problem(spec: Field, value: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, problem) of the first bad entry of an object-of-numbers / scalars / objects field."""
    for key, item in value.items():
        if spec.kind == "numbers" and not (item is None or _is_number(item)):
            return str(key), f"must be a number or null, got {describe_value(item)}"
        if spec.kind == "scalars" and not _is_scalar(item):
            return str(key), f"must be a number, boolean, string or null, got {describe_value(item)}"
        if spec.kind == "nested_numbers":
            if item is None:
                continue
            if not isinstance(item, Mapping):
                return str(key), f"must be an object of numbers, got {describe_value(item)}"
            for sub, number in item.items():
                if not (number is None or _is_number(number)):
                    return f"{key}.{sub}", f"must be a number or null, got {describe_value(number)}"
    return None


def _check(data: Any, fields: Mapping[str, Field], path: Path | str, *, what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise DamagedRunError(path, f"{what} must be a JSON object, got {describe_value(data)}")
    for name, spec in fields.items():
        if name not in data:
            if spec.required:
                raise DamagedRunError(path, "is missing", name)
            continue
        value = data[name]
        problem = _problem(spec, value)
        if problem is not None:
            raise DamagedRunError(path, problem, name)
        if spec.kind in ("numbers", "scalars", "nested_numbers") and value is not None:
            inner = _inner_problem(spec, value)
            if inner is not None:
                raise DamagedRunError(path, inner[1], f"{name}.{inner[0]}")
    return dict(data)


# --------------------------------------------------------------------------------------------- run.json
RUN_FIELDS: dict[str, Field] = {
    "schema": Field("int", null=False, required=True, choices=(1,)),
    "run_id": Field("str"),
    "status": Field("str", null=False, required=True, choices=RUN_STATUSES),
    "error": Field("str"),
    "track": Field("str", choices=("retrieval", "labels")),
    "preset": Field("str"),
    "dataset": Field("str"),
    "method": Field("str"),
    "backbone": Field("str"),
    "variant": Field("str"),
    "mrate": Field("number"),
    "rho": Field("number"),
    "lam": Field("number"),
    "batch_size": Field("int"),
    "seed": Field("int"),
    "noise": Field("str"),
    "noise_rate": Field("number"),
    "config": Field("object", null=False),
    "versions": Field("scalars"),
    "host": Field("str"),
    "pid": Field("int", ge=1),
    "created": Field("timestamp"),
    "updated": Field("timestamp"),
    "finished": Field("timestamp"),
    "timings": Field("numbers"),
    "best_rsum": Field("number"),
    "best_val_map": Field("number"),
    "resumed": Field("int", ge=0),
    "members": Field("strings"),
    "data_fingerprint": Field("object"),
}


def check_run_info(data: Any, path: Path | str) -> dict[str, Any]:
    """``run.json`` as a dict whose known fields have their declared types; :class:`DamagedRunError`
    (naming ``path`` and the field) otherwise."""
    return _check(data, RUN_FIELDS, path, what="run.json")


# ----------------------------------------------------------------------------------------- metrics.jsonl
METRICS_FIELDS: dict[str, Field] = {
    "epoch": Field("int", null=False, required=True, ge=0),
    "phase": Field("str"),
    "lr": Field("number"),
    "losses": Field("numbers"),
    "steps": Field("int"),
    "val": Field("numbers"),
    "split": Field("scalars"),
    "rematch": Field("scalars"),
    "label": Field("scalars"),
    "time_s": Field("numbers"),
}


def check_metrics_record(data: Any, path: Path | str, lineno: int) -> dict[str, Any]:
    """One epoch record of ``metrics.jsonl`` (line ``lineno``), checked like :func:`check_run_info`."""
    return _check(data, METRICS_FIELDS, f"{path}:{lineno}", what="an epoch record")


# ---------------------------------------------------------------------------------------- results.json
RESULTS_FIELDS: dict[str, Field] = {
    "test": Field("numbers"),
    "test_5fold": Field("numbers"),
    "test_5k": Field("numbers"),
    "best_epoch": Field("int"),
    "best_val_rsum": Field("number"),
    "best_val_map": Field("number"),
    "val_at_best": Field("numbers"),
    "last_epoch": Field("int"),
    "wall_time_s": Field("number"),
    "members": Field("strings"),
    "map": Field("nested_numbers"),
}


def check_results(data: Any, path: Path | str) -> dict[str, Any]:
    """``results.json``, checked like :func:`check_run_info`."""
    return _check(data, RESULTS_FIELDS, path, what="results.json")


# ------------------------------------------------------------------------------------------- artefacts
#: Columns each artefact table must have (more are allowed), with the dtype kinds they may take
#: (numpy kind letters: ``i`` int, ``u`` unsigned, ``f`` float, ``b`` bool, ``O`` object / string).
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "cost_by_epoch.parquet": {"epoch": "iu", "caption": "iu", "image": "iu", "cost": "f",
                              "true_matched": "bO", "est_clean": "bO", "clean_prob": "f"},
    "rematch_examples.parquet": {"epoch": "iu", "image": "iu", "text_original": "OU",
                                 "text_rematched": "OU", "score": "f", "transported": "bO"},
    "refined_ranks.parquet": {"epoch": "iu", "kind": "OU", "rank": "iu", "mean_prob": "f"},
}


def check_table(frame: Any, name: str, path: Path | str) -> Any:
    """Check a parquet artefact's columns against :data:`TABLE_COLUMNS` (unknown names pass)."""
    columns = TABLE_COLUMNS.get(Path(name).name)
    if columns is None:
        return frame
    for column, kinds in columns.items():
        if column not in frame.columns:
            raise DamagedRunError(path, f"is a missing column (has {', '.join(map(str, frame.columns))})",
                                  column)
        kind = _dtype_kind(frame[column])
        if kind not in kinds:
            raise DamagedRunError(path, f"has dtype {frame[column].dtype}; expected "
                                        f"{'/'.join(_KIND_NAMES[k] for k in kinds)}", column)
    return frame


_KIND_NAMES = {"i": "int", "u": "unsigned int", "f": "float", "b": "bool", "O": "object", "U": "string"}


def _dtype_kind(series: Any) -> str:
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    name = str(dtype).lower()
    if name == "boolean":
        return "b"
    if name.startswith(("int", "uint")) and kind == "O":  # pandas nullable integers
        return "i"
    if name in ("string", "str"):
        return "O"
    return kind


@dataclass(frozen=True)
class ArraySchema:
    """Arrays an ``.npz`` artefact must hold: ``required`` and ``optional`` names with their shapes
    written as dimension letters (``"nm"`` = 2-D ``[n, m]``, ``""`` = scalar); letters must agree."""

    required: Mapping[str, str]
    optional: Mapping[str, str]


ARRAY_SCHEMAS: dict[str, ArraySchema] = {
    "alignment": ArraySchema(
        required={"cost": "nm", "plan": "nm", "mask": "nm", "dummy_row": "m", "dummy_col": "n"},
        optional={"similarity": "nm", "image_ids": "n", "caption_ids": "m", "captions": "m",
                  "paired_captions": "n", "truth": "nm", "rho": "", "lam": "", "epoch": "", "step": ""}),
    "label_confusion.npz": ArraySchema(
        required={"confusion": "cc"}, optional={"noisy_confusion": "cc", "class_names": "c"}),
}


def check_arrays(arrays: Mapping[str, np.ndarray], schema: str, path: Path | str) -> dict[str, np.ndarray]:
    """Check an ``.npz`` artefact against ``ARRAY_SCHEMAS[schema]``: presence, rank, non-empty and
    agreeing sizes; arrays must be numeric or boolean except the text ones (``captions``,
    ``paired_captions``, ``class_names``)."""
    spec = ARRAY_SCHEMAS[schema]
    sizes: dict[str, int] = {}
    for name, dims in [*spec.required.items(), *spec.optional.items()]:
        if name not in arrays:
            if name in spec.required:
                raise DamagedRunError(path, f"is a missing array (has {', '.join(sorted(arrays))})", name)
            continue
        value = np.asarray(arrays[name])
        if value.ndim != len(dims):
            raise DamagedRunError(path, f"has shape {list(value.shape)}; expected {len(dims)} dimension(s)",
                                  name)
        if 0 in value.shape:
            raise DamagedRunError(path, f"has shape {list(value.shape)}; expected a non-empty array", name)
        textual = name in ("captions", "paired_captions", "class_names")
        if not textual and value.dtype.kind not in "biuf":
            raise DamagedRunError(path, f"has dtype {value.dtype}; expected numbers", name)
        for letter, size in zip(dims, value.shape, strict=True):
            if sizes.setdefault(letter, size) != size:
                raise DamagedRunError(path, f"has shape {list(value.shape)}, which disagrees with the other "
                                            f"arrays ({letter} = {sizes[letter]})", name)
    return dict(arrays)
