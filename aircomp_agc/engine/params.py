"""Experiment parameter types: what a scenario may give for each keyword of an experiment.

The scenario schema (:mod:`aircomp_agc.engine.schema`) reads an experiment's signature
with :func:`param_type` -- the annotation if there is one, else the default's type -- and
checks each value from ``[params]`` or ``[sweep.axes]`` with :func:`coerce_value`:
``float`` accepts an ``int`` (converted, so ``1`` and ``1.0`` give the same point key),
``X | None`` means ``X`` (TOML has no null), ``Literal[...]`` restricts to its values and
``list[X]`` checks the elements. Dates/times and non-finite floats are refused everywhere
(:func:`check_plain`): a point must serialize to canonical JSON.
"""

from __future__ import annotations

import collections.abc
import datetime
import inspect
import json
import math
import numbers
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ParamMismatch",
    "ParamType",
    "check_plain",
    "coerce_value",
    "fmt_path",
    "MAX_DEPTH",
    "kind_of",
    "param_type",
    "short",
]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_DATETIME = (datetime.datetime, datetime.date, datetime.time)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (messages stay one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_path(parts: Sequence[str | int]) -> str:
    """Dotted key, list indices in brackets: ``params.weights[1]``.

    Parts that are not bare TOML keys are quoted (``params."a b"``), with any control
    character escaped, so a key never breaks a message line.
    """
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            text = p if _BARE_KEY.fullmatch(p) else json.dumps(str(p)[:40])
            out += f".{text}" if out else text
    return out


def kind_of(value: Any) -> str:
    """The TOML kind of a parsed value: bool, int, float, str, list, table or datetime."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, _DATETIME):
        return "datetime"
    return type(value).__name__


_ARTICLE = {
    "int": "an int",
    "float": "a float",
    "str": "a str",
    "bool": "a bool",
    "list": "a list",
    "table": "a table",
}
_SIMPLE = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list",
    tuple: "list",
    dict: "table",
}


@dataclass(frozen=True)
class ParamType:
    """What a scenario may give for one experiment parameter.

    ``kinds``: accepted TOML kinds (``None``: anything); an ``int`` given where ``float``
    is accepted (and ``int`` is not) becomes a float. ``choices``: a ``Literal``'s values.
    ``item``: element type of a list.
    """

    kinds: frozenset[str] | None = None
    choices: tuple | None = None
    item: ParamType | None = None

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(short(c, 30) for c in self.choices)
        if self.kinds is None:
            return "any TOML value"
        order = [k for k in ("bool", "int", "float", "str", "list", "table") if k in self.kinds]
        text = " or ".join(_ARTICLE[k] for k in order)
        if self.item is not None and self.item.kinds is not None:
            text += f" of {self.item.describe().split(' ', 1)[1]}s"
        return text


def param_type(p: inspect.Parameter) -> ParamType:
    """The :class:`ParamType` of an experiment parameter: annotation first, else the default.

    ``float`` accepts ints; ``X | None`` is ``X`` (TOML has no null); ``Literal[...]``
    restricts to its values; ``list[X]``/``tuple[X, ...]``/``Sequence[X]`` are lists of
    ``X``; an annotation it does not understand, or neither annotation nor default (or a
    ``None`` default), accepts anything.
    """
    if p.annotation is not inspect.Parameter.empty:
        return _from_annotation(p.annotation) or ParamType()
    if p.default is not inspect.Parameter.empty and type(p.default) in _SIMPLE:
        return ParamType(frozenset({_SIMPLE[type(p.default)]}))
    return ParamType()


def _from_annotation(ann: Any) -> ParamType | None:
    if ann in _SIMPLE:
        return ParamType(frozenset({_SIMPLE[ann]}))
    if ann in (numbers.Real, numbers.Number):
        return ParamType(frozenset({"int", "float"}))
    if ann is numbers.Integral:
        return ParamType(frozenset({"int"}))
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Union or origin is types.UnionType:
        subs = [_from_annotation(a) for a in args if a is not type(None)]
        if not subs or any(s is None or s.kinds is None for s in subs):
            return None
        if len(subs) == 1:
            return subs[0]
        if any(s.choices is not None for s in subs):
            return None
        return ParamType(frozenset().union(*(s.kinds for s in subs)))
    if origin is typing.Literal:
        return ParamType(frozenset(kind_of(a) for a in args), choices=tuple(args))
    if origin in (list, collections.abc.Sequence, tuple):
        item_ann = args[0] if args and (origin is not tuple or args[-1] is Ellipsis) else None
        item = _from_annotation(item_ann) if item_ann is not None else None
        return ParamType(frozenset({"list"}), item=item)
    if origin in (dict, collections.abc.Mapping):
        return ParamType(frozenset({"table"}))
    return None


class ParamMismatch(Exception):
    """A value does not fit a :class:`ParamType`: ``path`` of the offending (sub)value."""

    def __init__(self, path: tuple[str | int, ...], expected: str, value: Any) -> None:
        super().__init__()
        self.path, self.expected, self.value = path, expected, value


#: Deepest nesting of lists/tables accepted in a parameter value.
MAX_DEPTH = 16


def check_plain(value: Any, path: tuple[str | int, ...], depth: int = 0) -> None:
    """Refuse what a point may not hold: dates/times, non-finite floats, deep nesting.

    Raises
    ------
    ParamMismatch
        Naming the offending sub-value's path.
    """
    kind = kind_of(value)
    if depth > MAX_DEPTH:
        raise ParamMismatch(path, f"nested at most {MAX_DEPTH} levels deep", value)
    if kind == "datetime":
        raise ParamMismatch(path, "a number, str, bool, list or table (not a date/time)", value)
    if kind == "float" and not math.isfinite(value):
        raise ParamMismatch(path, "a finite number", value)
    if kind == "list":
        for i, v in enumerate(value):
            check_plain(v, (*path, i), depth + 1)
    elif kind == "table":
        for k, v in value.items():
            check_plain(v, (*path, str(k)), depth + 1)


def coerce_value(value: Any, ptype: ParamType, path: tuple[str | int, ...]) -> Any:
    """``value`` checked against ``ptype`` (an int given for a float becomes a float).

    Raises
    ------
    ParamMismatch
        Naming the offending (sub)value's path and what was expected.
    """
    kind = kind_of(value)
    if ptype.choices is not None:
        if not any(kind_of(c) == kind and c == value for c in ptype.choices):
            raise ParamMismatch(path, ptype.describe(), value)
        return value
    if ptype.kinds is None or kind in ptype.kinds:
        if kind == "list" and ptype.item is not None:
            return [coerce_value(v, ptype.item, (*path, i)) for i, v in enumerate(value)]
        return value
    if kind == "int" and "float" in ptype.kinds:
        return float(value)
    raise ParamMismatch(path, ptype.describe(), value)
