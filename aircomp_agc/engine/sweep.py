"""Sweeps: the axes of a study, their expansion into points, and canonical point keys.

A scenario's ``[sweep]`` table names a ``mode`` and the swept experiment parameters:

.. code-block:: toml

    [sweep]
    mode = "grid"                               # full product, or "zip" (element-wise)
    [sweep.axes]
    code = ["bgc", "approx-frc"]                # an explicit list
    row_weight = { range = [2, 20, 2] }         # start, stop (inclusive), step
    snr_db = { linspace = [0, 30, 7] }          # start, stop, num
    epsilon = { logspace = [-3, -1, 5] }        # 10**start .. 10**stop, num

Generated float values are rounded (``range``/``linspace``: to 12 digits relative to the
axis' largest magnitude, so ``0.1 * 3`` gives ``0.3`` and not ``0.30000000000000004``;
``logspace``: to 12 significant digits) so that point keys read well and do not depend on
the last bit of a platform's floating-point arithmetic. ``range`` with integer start, stop
and step gives integers.

An axis may also sweep one parameter of a model given as a table: the axis
``"channel.k_factor" = [0, 1, 4]`` (TOML's dotted key ``channel.k_factor = [...]`` means
the same) sets ``k_factor`` inside the ``channel`` table of every point, so that a point is
``{"channel": {"name": "rician", "k_factor": 4}, ...}`` and the results table has a
``channel.k_factor`` column.

Errors are plain ``ValueError``/``TypeError`` naming the dotted key (``sweep.axes.snr_db``);
:mod:`aircomp_agc.engine.scenario` adds the file name.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AXIS_GENERATORS",
    "MAX_POINTS",
    "SWEEP_MODES",
    "Sweep",
    "expand_axis",
    "point_key",
    "point_value",
]

SWEEP_MODES = ("grid", "zip")
AXIS_GENERATORS = ("range", "linspace", "logspace")

#: Upper bound on the points of one sweep (and the values of one axis): a typo such as
#: ``range = [0, 1e9, 1]`` fails at load time instead of exhausting memory.
MAX_POINTS = 100_000

_ROUND_DIGITS = 12


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _triple(key: str, gen: str, args: Any, what: str) -> tuple[float, float, float]:
    if not isinstance(args, list) or len(args) != 3 or not all(_is_real(a) for a in args):
        raise TypeError(
            f"'{key}' {{{gen} = [...]}} must be 3 numbers [{what}]; got {_short(args)}."
        )
    if not all(math.isfinite(a) for a in args):
        raise ValueError(f"'{key}' {{{gen} = [...]}} must be 3 finite numbers; got {_short(args)}.")
    return args[0], args[1], args[2]


def _round_linear(values: np.ndarray, scale: float) -> list[float]:
    digits = _ROUND_DIGITS - (math.ceil(math.log10(scale)) if scale > 0 else 0)
    return [float(v) + 0.0 for v in np.round(values, digits)]  # + 0.0 turns -0.0 into 0.0


def _count(key: str, gen: str, n: Any) -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise TypeError(f"'{key}' {{{gen}}}: num must be an int in [1, {MAX_POINTS}]; got {n!r}.")
    if not 1 <= n <= MAX_POINTS:
        raise ValueError(f"'{key}' {{{gen}}}: num must be an int in [1, {MAX_POINTS}]; got {n}.")
    return int(n)


def expand_axis(key: str, spec: Any) -> list:
    """The values of one sweep axis.

    Parameters
    ----------
    key : str
        Dotted name used in messages (``"sweep.axes.snr_db"``).
    spec : list or dict
        A non-empty list of values, or a one-entry table ``{range = [start, stop, step]}``
        (``stop`` included when reached), ``{linspace = [start, stop, num]}`` or
        ``{logspace = [start, stop, num]}`` (``10**start .. 10**stop``).

    Returns
    -------
    list
        Python scalars (``int`` for an all-integer ``range``, else ``float``), or the list
        itself for an explicit list.

    Examples
    --------
    >>> expand_axis("a", {"range": [2, 8, 2]})
    [2, 4, 6, 8]
    >>> expand_axis("b", {"range": [0, 0.3, 0.1]})
    [0.0, 0.1, 0.2, 0.3]
    >>> expand_axis("c", {"logspace": [-2, 0, 3]})
    [0.01, 0.1, 1.0]
    """
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"'{key}' must be a non-empty list of values or a generator; got [].")
        if len(spec) > MAX_POINTS:
            raise ValueError(f"'{key}' has {len(spec)} values; at most {MAX_POINTS} are allowed.")
        return list(spec)
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"'{key}' must be a list of values or a table with one of "
            f"{', '.join(AXIS_GENERATORS)}; got {type(spec).__name__} {_short(spec)}."
        )
    if len(spec) != 1 or next(iter(spec)) not in AXIS_GENERATORS:
        names = [str(k) for k in spec]
        close = difflib.get_close_matches(names[0], AXIS_GENERATORS, n=1) if names else []
        hint = f"; did you mean '{close[0]}'?" if len(names) == 1 and close else "."
        raise ValueError(
            f"'{key}' must be a table with exactly one of {', '.join(AXIS_GENERATORS)}; "
            f"got keys {_short(names)}{hint}"
        )
    gen, args = next(iter(spec.items()))
    if gen == "range":
        start, stop, step = _triple(key, gen, args, "start, stop, step")
        if step == 0 or (stop - start) * step < 0:
            raise ValueError(
                f"'{key}' {{range = [start, stop, step]}} needs a step that moves start "
                f"towards stop; got {_short(args)}."
            )
        if all(isinstance(a, numbers.Integral) for a in args):
            n = (int(stop) - int(start)) // int(step) + 1
        else:
            ratio = (stop - start) / step
            n = math.floor(ratio * (1 + 1e-12) + 1e-9) + 1 if ratio <= MAX_POINTS else ratio
        if n > MAX_POINTS:
            raise ValueError(
                f"'{key}' {{range}} has {n:.4g} values; at most {MAX_POINTS} are allowed."
            )
        if all(isinstance(a, numbers.Integral) for a in args):
            return list(range(int(start), int(stop) + (1 if step > 0 else -1), int(step)))
        values = start + step * np.arange(n, dtype=np.float64)
        return _round_linear(values, max(abs(start), abs(stop), abs(step)))
    start, stop, num = _triple(key, gen, args, "start, stop, num")
    n = _count(key, gen, num)
    if gen == "linspace":
        values = np.linspace(start, stop, n)
        return _round_linear(values, max(abs(start), abs(stop)))
    if max(start, stop) > 300 or min(start, stop) < -300:
        raise ValueError(
            f"'{key}' {{logspace = [start, stop, num]}} exponents must lie in [-300, 300]; "
            f"got {_short(args)}."
        )
    return [float(f"{v:.{_ROUND_DIGITS}g}") for v in np.logspace(start, stop, n)]


def point_key(point: Mapping[str, Any]) -> str:
    """Canonical id of a point: its JSON with sorted keys, no spaces, ASCII only.

    Stable across processes and platforms (floats print as their shortest round-trip
    ``repr``); used to derive the point's seeds (:func:`aircomp_agc.engine.seeds.point_seed`)
    and to recognise finished points on ``--resume``. ``1`` and ``1.0`` give different
    keys: the scenario loader converts integers given for float parameters first.

    Examples
    --------
    >>> point_key({"snr_db": 10.0, "code": "bgc", "n": 20})
    '{"code":"bgc","n":20,"snr_db":10.0}'
    """
    if not isinstance(point, Mapping):
        raise TypeError(f"The 'point' parameter must be a mapping; got {type(point).__name__}.")
    return json.dumps(
        point,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_json_default,
    )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple | np.ndarray):
        return list(obj)
    raise TypeError(f"A sweep point value must be a TOML-like value; got {type(obj).__name__}.")


@dataclass(frozen=True)
class Sweep:
    """The swept axes of a study and how they combine.

    Parameters
    ----------
    mode : {"grid", "zip"}
        ``"grid"``: every combination, the first axis varying slowest (row-major, like
        nested loops in axis order). ``"zip"``: the i-th values of all axes together
        (all axes must have the same length).
    axes : mapping of str to sequence
        Parameter name -> its values (already expanded, see :func:`expand_axis`), in
        order. No axis may be empty or repeat a value; an empty mapping is one point.

    Examples
    --------
    >>> sw = Sweep("grid", {"code": ["a", "b"], "n": [10, 20]})
    >>> len(sw), sw.points({"s": 2})[1]
    (4, {'s': 2, 'code': 'a', 'n': 20})
    """

    mode: str = "grid"
    axes: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in SWEEP_MODES:
            raise ValueError(
                f"'sweep.mode' must be one of {', '.join(map(repr, SWEEP_MODES))}; "
                f"got {_short(self.mode)}."
            )
        axes = {}
        for name, values in dict(self.axes).items():
            key = f"sweep.axes.{name}"
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise TypeError(f"'{key}' must be a sequence of values; got {_short(values)}.")
            values = tuple(values)
            if not values:
                raise ValueError(f"'{key}' must have at least one value; got [].")
            seen: dict[str, int] = {}
            for i, v in enumerate(values):
                canon = point_key({"v": v})
                if canon in seen:
                    raise ValueError(
                        f"'{key}' repeats the value {_short(v)} (positions {seen[canon]} and {i}); "
                        "each point must be distinct."
                    )
                seen[canon] = i
            axes[name] = values
        object.__setattr__(self, "axes", axes)
        lengths = [len(v) for v in axes.values()]
        if self.mode == "zip" and len(set(lengths)) > 1:
            detail = ", ".join(f"{n}: {len(v)}" for n, v in axes.items())
            raise ValueError(
                f"'sweep.axes' must all have the same length in zip mode; got {detail}."
            )
        if len(self) > MAX_POINTS:
            raise ValueError(
                f"'sweep.axes' give {len(self)} points in {self.mode} mode; at most {MAX_POINTS} "
                "are allowed."
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The swept parameter names, in axis order."""
        return tuple(self.axes)

    def __len__(self) -> int:
        lengths = [len(v) for v in self.axes.values()]
        if not lengths:
            return 1
        return math.prod(lengths) if self.mode == "grid" else lengths[0]

    def combinations(self) -> list[tuple]:
        """The swept values of each point, in sweep order, as tuples aligned with ``names``."""
        values = list(self.axes.values())
        if self.mode == "grid":
            return list(itertools.product(*values))
        return list(zip(*values, strict=True)) if values else [()]

    def points(self, base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Full keyword dicts: ``base`` (the fixed parameters) updated with each combination.

        A dotted axis name ``"a.b"`` sets key ``b`` of the table ``base["a"]`` (a copy per
        point); the table must exist in ``base``.
        """
        base = dict(base or {})
        if not any("." in name for name in self.names):
            return [
                {**base, **dict(zip(self.names, combo, strict=True))}
                for combo in self.combinations()
            ]
        out = []
        for combo in self.combinations():
            point = copy.deepcopy(base)
            for name, value in zip(self.names, combo, strict=True):
                _assign(point, name, value)
            out.append(point)
        return out


def _assign(point: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = point
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            raise ValueError(
                f"'sweep.axes.{dotted}' sets a key inside '{part}', which must be a table; "
                f"got {_short(child)}."
            )
        node = child
    node[last] = value


def point_value(point: Mapping[str, Any], name: str) -> Any:
    """The value of the swept parameter ``name`` in ``point`` (``"a.b"``: ``point["a"]["b"]``).

    Returns None when the point has no such value.
    """
    if name in point:
        return point[name]
    node: Any = point
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
