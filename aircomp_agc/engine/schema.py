"""The scenario schema: what a valid scenario tree is, checked before any computation.

:func:`validate_tree` walks a parsed TOML tree section by section and either returns the
validated fields of a :class:`~aircomp_agc.engine.scenario.Scenario` or raises
:class:`ScenarioError` with one line naming the file, the dotted key, the allowed values
and the value received. Experiment parameters are checked against the experiment's
signature (:func:`param_type`): annotations first, the default's type otherwise; the
``[figure]`` metrics and ``trials.metric`` against the metrics the experiment declares
(its ``outputs``), so a typo costs a second, not a run.
"""

from __future__ import annotations

import difflib
import inspect
import re
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ..experiments.registry import (
    RESERVED_PARAMETERS,
    experiment_outputs,
    experiment_parameters,
    get_experiment,
    import_modules,
)
from .params import (
    ParamMismatch,
    ParamType,
    check_plain,
    coerce_value,
    fmt_path,
    kind_of,
    param_type,
    short,
)
from .sweep import AXIS_GENERATORS, Sweep, expand_axis

__all__ = [
    "FIGURE_KINDS",
    "MAX_TRIALS",
    "SECTIONS",
    "FigureSpec",
    "ScenarioError",
    "TrialsSpec",
    "check_figure",
    "validate_tree",
]

#: Upper bound on trials per point (a typo guard; a study needing more splits its sweep).
MAX_TRIALS = 10**9

SECTIONS = ("scenario", "params", "sweep", "trials", "figure")
SCENARIO_KEYS = ("name", "experiment", "description", "seed", "imports")
SWEEP_KEYS = ("mode", "axes")
TRIALS_KEYS = ("n", "rel_tol", "metric", "min", "max", "batch")
FIGURE_KEYS = (
    "x", "y", "hue", "logx", "logy", "title", "kind", "xlabel", "ylabel", "errorbars",
    "reference",
)
FIGURE_KINDS = ("line", "scatter")
_SLUG = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# Characters str.splitlines() breaks on: none may appear raw in a message.
_LINE_BREAKS = frozenset(map(ord, "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"))


class ScenarioError(ValueError):
    """A scenario file (or a ``--set`` override) is invalid; the message is one line.

    Any line-break character that reaches the message (say, in a file name) is escaped,
    so ``str(err)`` never spans several lines.
    """

    def __init__(self, message: str) -> None:
        text = "".join(
            repr(ch)[1:-1] if ord(ch) in _LINE_BREAKS else ch for ch in str(message)
        ).strip()
        super().__init__(text or "invalid scenario")


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class TrialsSpec:
    """How many trials each sweep point gets (the ``[trials]`` table).

    Exactly one of ``n`` (fixed count) and ``rel_tol`` (adaptive) is set.

    Parameters
    ----------
    n : int or None
        Fixed number of trials per point, in ``[1, MAX_TRIALS]``.
    rel_tol : float or None
        Adaptive: add batches until the 95% CI half-width of ``metric`` is at most
        ``rel_tol * |mean|``; in ``(0, 1)``.
    metric : str or None
        The metric ``rel_tol`` watches (required with ``rel_tol``, forbidden with ``n``).
    min, max : int or None
        Adaptive bounds on the trial count, ``2 <= min <= max <= MAX_TRIALS`` (defaults
        :attr:`DEFAULT_MIN` and ``max(DEFAULT_MAX, min)``).
    batch : int
        Trials per experiment call: the unit of seeding (each batch has its own seed, see
        :func:`aircomp_agc.engine.seeds.point_seed`) and of parallel work. In ``[1, n]``
        (default ``n``) for a fixed count, ``[1, max]`` (default ``min``) when adaptive.
    """

    n: int | None = None
    rel_tol: float | None = None
    metric: str | None = None
    min: int | None = None
    max: int | None = None
    batch: int = 1

    DEFAULT_MIN: typing.ClassVar[int] = 100
    DEFAULT_MAX: typing.ClassVar[int] = 100_000

    @property
    def adaptive(self) -> bool:
        """True when the trial count is chosen by ``rel_tol``."""
        return self.rel_tol is not None

    def fixed_batches(self) -> list[int]:
        """Trial counts of the batches of a fixed-``n`` point: full batches, then the rest."""
        if self.n is None:
            raise ValueError("fixed_batches() needs a fixed trial count ([trials] n).")
        full, rest = divmod(self.n, self.batch)
        return [self.batch] * full + ([rest] if rest else [])

    def to_dict(self) -> dict[str, Any]:
        """The ``[trials]`` table, without unset entries."""
        keys = ("rel_tol", "metric", "min", "max", "batch") if self.adaptive else ("n", "batch")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class FigureSpec:
    """The ``[figure]`` table: what ``aircomp-agc plot`` draws from ``results.csv``.

    ``x`` and ``hue`` name swept parameters; ``y`` names metrics (error bars from the CI
    columns when present and ``errorbars`` is true); ``kind`` is ``"line"`` or ``"scatter"``;
    ``reference`` names metrics drawn as dashed reference curves on every panel (theory
    values, closed forms): once in grey when every line has the same values, else per line.
    """

    x: str
    y: tuple[str, ...]
    hue: str | None = None
    logx: bool = False
    logy: bool = False
    title: str = ""
    kind: str = "line"
    xlabel: str | None = None
    ylabel: str | None = None
    errorbars: bool = True
    reference: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``[figure]`` table, without unset entries (``y`` and ``reference`` as lists)."""
        out = {k: getattr(self, k) for k in FIGURE_KEYS}
        out["y"] = list(self.y)
        out["reference"] = list(self.reference) or None
        return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------------- validation


def validate_tree(
    tree: Mapping[str, Any], *, source: str, from_cli: Collection[tuple[str, ...]] = ()
) -> dict[str, Any]:
    """Validate a scenario tree; return the fields of a ``Scenario`` (all but ``source``).

    Parameters
    ----------
    tree : mapping
        Parsed TOML (overrides already applied).
    source : str
        File name used at the start of every message.
    from_cli : collection of tuple of str
        Key paths set by ``--set``; errors under them say so.

    Raises
    ------
    ScenarioError
    """
    return _Validator(source, from_cli).run(tree)


def check_figure(
    table: Mapping[str, Any],
    *,
    swept: Sequence[str],
    metrics: Mapping[str, str] | None = None,
    source: str = "<figure>",
    from_cli: Collection[tuple[str, ...]] = (),
    owner: str = "the experiment",
) -> FigureSpec:
    """Validate a ``[figure]`` table against the swept parameters and the metrics.

    Parameters
    ----------
    table : mapping
        The ``[figure]`` table.
    swept : sequence of str
        Swept parameter names (``x`` and ``hue`` must be among them).
    metrics : mapping of str to str, optional
        Metric name -> kind; ``y`` and ``reference`` must be among them (None: not checked).
    source : str
        Prefix of messages (the scenario file or the results folder).
    owner : str
        What the metrics belong to, for messages (``"experiment 'aircomp-mse'"``).

    Raises
    ------
    ScenarioError
    """
    validator = _Validator(source, from_cli)
    if not isinstance(table, Mapping):
        validator.bad(("figure",), "a table", table)
    for key in table:
        if key not in FIGURE_KEYS:
            validator.unknown(("figure", key), FIGURE_KEYS)
    return validator.figure(dict(table), list(swept), metrics, owner)


class _Validator:
    def __init__(self, source: str, from_cli: Collection[tuple[str, ...]]) -> None:
        self.source = source
        self.from_cli = set(from_cli)

    # -- messages ------------------------------------------------------------------------
    def tag(self, path: Sequence[str | int]) -> str:
        """`` (from --set)`` when an override set ``path``, a table above it or a key below."""
        path = tuple(path)
        hit = any(path[: len(p)] == p or p[: len(path)] == path for p in self.from_cli)
        return " (from --set)" if hit else ""

    def fail(self, path: Sequence[str | int], message: str) -> NoReturn:
        path = tuple(path)
        last = max(i for i, p in enumerate(path) if isinstance(p, str))  # list indices stay
        head, tail = path[:last], path[last:]
        where = f"[{fmt_path(head)}] '{fmt_path(tail)}'" if head else f"'{fmt_path(tail)}'"
        raise ScenarioError(f"{self.source}: {where}{self.tag(path)} {message}")

    def bad(self, path, expected: str, value: Any, *, show_kind: bool = True) -> NoReturn:
        got = f"{kind_of(value)} {short(value)}" if show_kind else short(value)
        self.fail(path, f"must be {expected}; got {got}.")

    def unknown(self, path: Sequence[str], valid: Sequence[str], what: str = "") -> NoReturn:
        dotted = fmt_path(path)
        close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{fmt_path((*path[:-1], close[0]))}'?"
        else:
            hint = f"allowed: {', '.join(valid)}." if valid else "nothing is allowed here."
        raise ScenarioError(f"{self.source}: unknown key '{dotted}'{self.tag(path)}{what}; {hint}")

    def table(self, tree: Mapping, section: str, keys: Sequence[str] | None) -> dict:
        value = tree.get(section, {})
        if not isinstance(value, Mapping):
            self.bad((section,), "a table", value)
        for k in value:
            if keys is not None and k not in keys:
                self.unknown((section, k), keys)
        return dict(value)

    # -- scalar checks -------------------------------------------------------------------
    def int_(self, path, value, low: int, high: int | None = None) -> int:
        if kind_of(value) != "int" or value < low or (high is not None and value > high):
            expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
            self.bad(path, expected, value, show_kind=kind_of(value) != "int")
        return int(value)

    def str_(self, path, value, *, nonempty: bool = True) -> str:
        if kind_of(value) != "str" or (nonempty and not value.strip()):
            self.bad(path, "a non-empty str" if nonempty else "a str", value)
        return value

    def bool_(self, path, value) -> bool:
        if kind_of(value) != "bool":
            self.bad(path, "true or false", value)
        return value

    # -- sections ------------------------------------------------------------------------
    def run(self, tree: Mapping[str, Any]) -> dict[str, Any]:
        for k in tree:
            if k not in SECTIONS:
                self.unknown((k,), SECTIONS)
        for section in ("scenario", "trials"):
            if section not in tree:
                self.fail((section,), "section is missing (see the README for the schema).")
        head = self.header(self.table(tree, "scenario", SCENARIO_KEYS))
        fn = self.experiment(head["experiment"])
        sig = experiment_parameters(fn)
        self.open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values())
        self.named = {k: p for k, p in sig.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
        self.types = {k: param_type(p) for k, p in self.named.items()}
        self.ref = head["experiment"]
        params = {}
        for key, value in self.table(tree, "params", None).items():
            self.check_key(("params", key))
            params[key] = self.value(("params", key), value, self.types.get(key, ParamType()))
        sweep = self.sweep(self.table(tree, "sweep", SWEEP_KEYS), params)
        for key, p in self.named.items():
            if p.default is inspect.Parameter.empty and key not in params and key not in sweep.axes:
                self.fail(
                    ("params", key),
                    f"is required by experiment '{self.ref}' (set it in "
                    "[params] or sweep it in [sweep.axes]).",
                )
        outputs = self.outputs(fn)
        trials = self.trials(self.table(tree, "trials", TRIALS_KEYS), outputs)
        figure = None
        if "figure" in tree:
            figure = self.figure(
                self.table(tree, "figure", FIGURE_KEYS), list(sweep.names), outputs,
                f"experiment '{self.ref}'",
            )
        return dict(head, params=params, sweep=sweep, trials=trials, figure=figure)

    def header(self, head: dict) -> dict[str, Any]:
        for key in ("name", "experiment", "seed"):
            if key not in head:
                self.fail(("scenario", key), "is required.")
        name = head["name"]
        if kind_of(name) != "str" or not _SLUG.fullmatch(name):
            self.bad(("scenario", "name"), "a slug of 1-100 letters, digits, '-' or '_'", name)
        imports = head.get("imports", [])
        if kind_of(imports) != "list" or not all(kind_of(m) == "str" for m in imports):
            self.bad(("scenario", "imports"), "a list of module names", imports)
        try:
            import_modules(imports)
        except ValueError as exc:
            self.fail(("scenario", "imports"), f"failed: {exc}")
        return dict(
            name=name,
            experiment=self.str_(("scenario", "experiment"), head["experiment"]),
            description=self.str_(
                ("scenario", "description"), head.get("description", ""), nonempty=False
            ),
            seed=self.int_(("scenario", "seed"), head["seed"], 0),
            imports=tuple(imports),
        )

    def experiment(self, ref: str):
        try:
            return get_experiment(ref)
        except (ValueError, TypeError) as exc:
            self.fail(("scenario", "experiment"), f"is not usable: {exc}")

    def outputs(self, fn) -> dict[str, str] | None:
        try:
            return experiment_outputs(fn)
        except TypeError as exc:
            self.fail(("scenario", "experiment"), f"is not usable: {exc}")

    def check_key(self, path) -> None:
        key = path[-1]
        if key in RESERVED_PARAMETERS:
            self.fail(
                path,
                f"is set by the engine, not the scenario (reserved: "
                f"{', '.join(RESERVED_PARAMETERS)}).",
            )
        if key not in self.named and not self.open_ended:
            self.unknown(path, list(self.named), f", not a parameter of experiment '{self.ref}'")

    def value(self, path, value, ptype: ParamType):
        try:
            check_plain(value, tuple(path))
            return coerce_value(value, ptype, tuple(path))
        except ParamMismatch as m:
            self.bad(m.path, m.expected, m.value)

    def sweep(self, table, params) -> Sweep:
        mode = table.get("mode", "grid")
        if mode not in ("grid", "zip"):
            self.bad(("sweep", "mode"), "'grid' or 'zip'", mode)
        axes_table = table.get("axes", {})
        if not isinstance(axes_table, Mapping):
            self.bad(("sweep", "axes"), "a table of parameter = values", axes_table)
        axes = {}
        for name, spec in self.flat_axes(axes_table):
            root = name.split(".")[0]
            self.check_key(("sweep", "axes", root))
            if "." in name:
                axes[name] = self.inner_axis(name, spec, params, axes)
                continue
            if name in params:
                self.fail(("params", name), "is also swept in [sweep.axes]; set it in one place.")
            values = self.expand(("sweep", "axes", name), spec)
            ptype = self.types.get(name, ParamType())
            path = ("sweep", "axes", name)
            axes[name] = [self.value((*path, i), v, ptype) for i, v in enumerate(values)]
        for name in axes:
            if "." in name and name.split(".")[0] in axes:
                self.fail(("sweep", "axes", name),
                          f"sweeps a key of '{name.split('.')[0]}', which is swept whole too.")
        try:
            return Sweep(mode, axes)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: {exc}") from None

    def flat_axes(self, table: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
        """``(dotted name, spec)`` of every axis; tables of axes nest (``channel.k_factor``).

        A table is an axis generator when one of its keys is a generator name, or when the
        parameter cannot be a table; otherwise it holds axes of the parameter's keys.
        """
        out = []
        for key, spec in table.items():
            name = f"{prefix}{key}"
            root = name.split(".")[0]
            kinds = self.types.get(root, ParamType()).kinds
            nested = (
                isinstance(spec, Mapping)
                and bool(spec)
                and not set(spec) & set(AXIS_GENERATORS)
                and (kinds is None or "table" in kinds)
            )
            if nested:
                out += self.flat_axes(spec, f"{name}.")
            else:
                out.append((name, spec))
        return out

    def expand(self, path, spec) -> list:
        try:
            return expand_axis(fmt_path(path), spec)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{self.source}: {exc}") from None

    def inner_axis(self, name: str, spec, params: dict, axes) -> list:
        """An axis over one key of a model table (``channel.k_factor``): the table is made
        explicit in ``params`` (a model name becomes ``{name = ...}``)."""
        path = ("sweep", "axes", *name.split("."))
        root, *inner = name.split(".")
        base = params.get(root)
        if base is None and root in self.named:
            default = self.named[root].default
            base = None if default is inspect.Parameter.empty else default
        if isinstance(base, str):
            base = {"name": base}
        if not isinstance(base, Mapping):
            self.fail(path, f"sweeps a key inside '{root}', which must then be a table or a "
                            f"model name; '{root}' is {short(base)}.")
        node = params[root] = dict(base)
        for part in inner[:-1]:
            child = node.get(part)
            if not isinstance(child, Mapping):
                self.fail(path, f"sweeps a key inside '{root}.{part}', which is not a table.")
            node[part] = node = dict(child)
        if inner[-1] in node:
            self.fail(path, f"is also set in [params] ({root} has {inner[-1]} = "
                            f"{short(node[inner[-1]])}); set it in one place.")
        values = self.expand(path, spec)
        out = []
        for i, v in enumerate(values):
            try:
                check_plain(v, (*path, i))
            except ParamMismatch as m:
                self.bad(m.path, m.expected, m.value)
            out.append(v)
        return out

    def trials(self, t: dict, outputs: Mapping[str, str] | None) -> TrialsSpec:
        if ("n" in t) == ("rel_tol" in t):
            self.fail(
                ("trials",),
                "must set exactly one of 'n' (fixed count) or 'rel_tol' "
                f"(adaptive); got keys {short(sorted(t))}.",
            )
        if "n" in t:
            for key in ("metric", "min", "max"):
                if key in t:
                    self.fail(("trials", key), "is only valid with 'rel_tol' (adaptive trials).")
            n = self.int_(("trials", "n"), t["n"], 1, MAX_TRIALS)
            batch = self.int_(("trials", "batch"), t.get("batch", n), 1, n)
            return TrialsSpec(n=n, batch=batch)
        rel_tol = t["rel_tol"]
        if kind_of(rel_tol) not in ("int", "float") or not 0 < rel_tol < 1:
            numeric = kind_of(rel_tol) in ("int", "float")
            self.bad(("trials", "rel_tol"), "a float in (0, 1)", rel_tol, show_kind=not numeric)
        if "metric" not in t:
            self.fail(("trials", "metric"), "is required with 'rel_tol' (the metric it watches).")
        metric = self.str_(("trials", "metric"), t["metric"])
        if outputs is not None and outputs.get(metric) != "trial":
            per_trial = [m for m, kind in outputs.items() if kind == "trial"]
            self.fail(
                ("trials", "metric"),
                f"must be a per-trial metric of experiment '{self.ref}' "
                f"({', '.join(per_trial) or 'none'}); got {short(metric)}."
                f"{_hint(metric, per_trial)}",
            )
        low = self.int_(("trials", "min"), t.get("min", TrialsSpec.DEFAULT_MIN), 2, MAX_TRIALS)
        high = self.int_(
            ("trials", "max"), t.get("max", max(TrialsSpec.DEFAULT_MAX, low)), low, MAX_TRIALS
        )
        batch = self.int_(("trials", "batch"), t.get("batch", low), 1, high)
        return TrialsSpec(rel_tol=float(rel_tol), metric=metric, min=low, max=high, batch=batch)

    def figure(self, f: dict, swept: list[str], metrics: Mapping[str, str] | None,
               owner: str) -> FigureSpec:
        for key in ("x", "y"):
            if key not in f:
                self.fail(("figure", key), "is required in [figure].")
        out: dict[str, Any] = {}
        for key in ("x", "hue"):
            if key not in f:
                continue
            value = self.str_(("figure", key), f[key])
            if value not in swept:
                allowed = (
                    f"one of the swept parameters ({', '.join(swept)})"
                    if swept
                    else ("a swept parameter, but [sweep.axes] is empty")
                )
                self.fail(("figure", key), f"must be {allowed}; got {short(value)}."
                                           f"{_hint(value, swept)}")
            out[key] = value
        if out.get("hue") is not None and out["hue"] == out["x"]:
            self.fail(("figure", "hue"), f"must differ from 'x'; both are {short(out['x'])}.")
        out["y"] = self.metric_names("y", f["y"], metrics, owner, "a metric name or a non-empty "
                                     "list of metric names")
        if "reference" in f:
            out["reference"] = self.metric_names("reference", f["reference"], metrics, owner,
                                                 "a metric name or a list of metric names")
        for key in ("logx", "logy", "errorbars"):
            if key in f:
                out[key] = self.bool_(("figure", key), f[key])
        for key in ("title", "xlabel", "ylabel"):
            if key in f:
                out[key] = self.str_(("figure", key), f[key], nonempty=False)
        if "kind" in f:
            if f["kind"] not in FIGURE_KINDS:
                self.bad(("figure", "kind"), "'line' or 'scatter'", f["kind"])
            out["kind"] = f["kind"]
        return FigureSpec(**out)

    def metric_names(self, key: str, value, metrics, owner: str, expected: str) -> tuple:
        names = [value] if isinstance(value, str) else value
        if (
            not isinstance(names, list)
            or (key == "y" and not names)
            or not all(isinstance(v, str) and v.strip() for v in names)
        ):
            self.bad(("figure", key), expected, value)
        if len(set(names)) != len(names):
            self.bad(("figure", key), "distinct metric names", value)
        for name in names:
            if metrics is not None and name not in metrics:
                self.fail(
                    ("figure", key),
                    f"names {short(name)}, which is not a metric of {owner} (metrics: "
                    f"{', '.join(metrics)}).{_hint(name, list(metrics))}",
                )
        return tuple(names)


def _hint(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(value), list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
