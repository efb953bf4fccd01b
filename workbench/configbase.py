"""Machinery for frozen, validated configuration dataclasses.

A config section is a frozen dataclass deriving from :class:`Section`. Its fields are plain scalars
(``bool``, ``int``, ``float``, ``str``) or nested sections; field metadata may restrict a value with
``choices`` or bounds (``ge``, ``gt``, ``le``, ``lt``); float fields must be finite (``inf`` and ``nan``
are refused). Construction validates every field, so an invalid config cannot exist. :func:`from_dict` builds a config from nested mappings and rejects unknown keys with a
suggestion; :func:`apply_overrides` applies ``key=value`` strings (the command line's ``--set`` and the
notebooks' parameters) where ``key`` is either a dotted path (``model.embed_size``) or a leaf name that is
unique in the config (``mrate``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from workbench.errors import ConfigError

__all__ = [
    "Section",
    "choice",
    "bounded",
    "from_dict",
    "to_dict",
    "apply_overrides",
    "leaf_paths",
    "parse_assignment",
]

S = TypeVar("S", bound="Section")

_SCALARS = (bool, int, float, str)


def choice(default: str, *choices: str, doc: str = "") -> Any:
    """A string field restricted to ``choices`` (``default`` must be one of them)."""
    if default not in choices:
        raise ValueError(f"default {default!r} not among choices {choices}")
    return dataclasses.field(default=default, metadata={"choices": tuple(choices), "doc": doc})


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None, doc: str = "") -> Any:
    """A numeric field with inclusive (``ge``/``le``) or strict (``gt``/``lt``) bounds."""
    return dataclasses.field(default=default, metadata={"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc})


class Section:
    """Base of every config dataclass: validates field types, choices and bounds on construction."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            expected = hints[f.name]
            where = f"{type(self).__name__}.{f.name}"
            if isinstance(expected, type) and issubclass(expected, Section):
                if not isinstance(value, expected):
                    raise ConfigError(f"{where} must be a {expected.__name__}, got {type(value).__name__}")
                continue
            coerced = _coerce(value, expected, where)
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
            _check_metadata(coerced, f.metadata, where)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, expected: Any, where: str) -> Any:
    """Return ``value`` as ``expected`` (bool/int/float/str), converting only where lossless."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in _SCALARS:
        if expected is int and isinstance(value, bool):
            raise ConfigError(f"{where} must be an int, got the bool {value!r}")
        if not isinstance(value, expected):
            raise ConfigError(f"{where} must be {expected.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {expected!r}")  # a programming error


def _check_metadata(value: Any, meta: Mapping[str, Any], where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} = {value!r} must be a finite number")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where} = {value!r} is not one of {', '.join(map(repr, choices))}")
    for key, ok, text in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"{where} = {value!r} must be {text} {bound}")


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def from_dict(cls: type[S], data: Mapping[str, Any], *, where: str = "") -> S:
    """Build ``cls`` from a nested mapping; unknown keys raise :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}{_suggest(key, names)}")
        expected = hints[key]
        if isinstance(expected, type) and issubclass(expected, Section):
            kwargs[key] = from_dict(expected, value, where=path)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def to_dict(cfg: Section) -> dict[str, Any]:
    """The config as nested plain dicts (JSON-serialisable)."""
    return dataclasses.asdict(cfg)  # type: ignore[call-overload]


def leaf_paths(cls: type[Section], prefix: str = "") -> dict[str, tuple[str, ...]]:
    """Map every dotted leaf path of ``cls`` to its tuple of attribute names."""
    out: dict[str, tuple[str, ...]] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = f"{prefix}.{f.name}" if prefix else f.name
        expected = hints[f.name]
        if isinstance(expected, type) and issubclass(expected, Section):
            for sub, parts in leaf_paths(expected, path).items():
                out[sub] = parts
        else:
            out[path] = tuple(path.split("."))
    return out


def _resolve_key(cls: type[Section], key: str) -> tuple[str, ...]:
    paths = leaf_paths(cls)
    if key in paths:
        return paths[key]
    matches = [p for p in paths if p.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return paths[matches[0]]
    if len(matches) > 1:
        raise ConfigError(f"config key {key!r} is ambiguous: use one of {', '.join(sorted(matches))}")
    leaves = {p.rsplit(".", 1)[-1] for p in paths} | set(paths)
    raise ConfigError(f"unknown config key {key!r}{_suggest(key, leaves)}")


def _parse_value(text: str, expected: Any, key: str) -> Any:
    if expected is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} expects a boolean (true/false), got {text!r}")
    if expected is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key} expects an integer, got {text!r}") from None
    if expected is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key} expects a number, got {text!r}") from None
    return text


def parse_assignment(item: str) -> tuple[str, str]:
    """Split ``"key=value"``; raise :class:`ConfigError` when there is no ``=``."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value")
    key, value = item.split("=", 1)
    return key.strip(), value


def apply_overrides(cfg: S, overrides: Mapping[str, Any] | Iterable[str]) -> S:
    """Return a copy of ``cfg`` with overrides applied.

    Args:
        cfg: a config section.
        overrides: either ``{"key": value}`` (values of the right type, or strings parsed by the field's
            type) or an iterable of ``"key=value"`` strings. Keys are dotted paths or unique leaf names.
    """
    items: list[tuple[str, Any]]
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = [parse_assignment(s) for s in overrides]
    data = to_dict(cfg)
    for key, value in items:
        parts = _resolve_key(type(cfg), key)
        full = ".".join(parts)
        section: Any = type(cfg)
        for name in parts[:-1]:
            section = _hints(section)[name]
        expected = _hints(section)[parts[-1]]
        if isinstance(value, str) and expected is not str:
            value = _parse_value(value, expected, full)
        target = data
        for name in parts[:-1]:
            target = target[name]
        target[parts[-1]] = value
    # one construction at the end: checks that involve several fields see every override at once
    return from_dict(type(cfg), data)
