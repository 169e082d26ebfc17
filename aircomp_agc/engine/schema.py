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
import json
import re
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..experiments.registry import (
    RESERVED_PARAMETERS,
    experiment_curve_index,
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
    "FIGURE_CI",
    "FIGURE_KINDS",
    "FIGURE_LAYOUTS",
    "FIGURE_LEGENDS",
    "FIGURE_WIDTHS",
    "MAX_TRIALS",
    "SECTIONS",
    "FigureSpec",
    "ScenarioError",
    "TrialsSpec",
    "check_figure",
    "merge_quick",
    "same_value",
    "validate_tree",
    "value_keys",
    "without_labels",
]

#: Upper bound on trials per point (a typo guard; a study needing more splits its sweep).
MAX_TRIALS = 10**9

SECTIONS = ("scenario", "params", "sweep", "trials", "figure", "quick")
#: What a ``[quick]`` table may change (see :func:`merge_quick`).
QUICK_SECTIONS = ("params", "sweep", "trials")
SCENARIO_KEYS = ("name", "experiment", "description", "seed", "imports")
SWEEP_KEYS = ("mode", "axes")
TRIALS_KEYS = ("n", "rel_tol", "metric", "min", "max", "batch")
FIGURE_KEYS = (
    "x", "y", "hue", "style", "facet", "logx", "logy", "title", "kind", "xlabel", "ylabel", "ci",
    "reference", "width", "height", "labels", "legend_title", "style_title", "legend",
    "layout", "xlim", "ylim", "annotate", "errorbars", "points", "mark_min", "marks",
)
FIGURE_KINDS = ("line", "scatter")
#: How Monte-Carlo confidence intervals are drawn: shaded band, error bars, or not at all.
FIGURE_CI = ("band", "bars", "none")
#: Named figure widths in inches: one column and two columns of a two-column paper (IEEE).
FIGURE_WIDTHS = {"column": 3.5, "double": 7.16}
#: Where the legend goes ("outside": right of the axes, "below": under them).
FIGURE_LEGENDS = (
    "best", "upper right", "upper left", "lower left", "lower right", "center right",
    "center left", "upper center", "lower center", "outside", "below", "none",
)
#: Several panels (``y`` metrics, ``facet`` values): stacked in one column, side by side
#: in one row, or in a grid of two columns.
FIGURE_LAYOUTS = ("stack", "row", "grid")
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

    ``x``, ``hue`` and ``style`` name swept parameters: ``hue`` sets the colour (and the
    marker when there is no ``style``), ``style`` the line style and marker of a second
    grouping variable. ``y`` names metrics, one panel each; Monte-Carlo metrics get their
    95% confidence interval as a band, error bars or nothing (``ci``; default: a band for
    lines, bars for a scatter). ``kind`` is ``"line"`` or ``"scatter"``; ``reference`` names
    metrics drawn as dashed reference curves on every panel (theory values, closed forms):
    once in grey when every line has the same values, else per line in its colour.

    Presentation: ``width`` (``"column"`` = 3.5 in, ``"double"`` = 7.16 in, or inches) and
    ``height`` (inches, default from the panels); ``labels`` maps swept values, parameter
    names and metric names to legend / axis text (``{ optimal_power = "optimal power" }``);
    ``legend_title`` / ``style_title`` head the colour and style groups of the legend;
    ``legend`` places it (``"best"``, a corner, ``"outside"``, ``"below"``, ``"none"``);
    ``facet`` names a swept parameter that gets one panel per value (small multiples,
    sharing both axes); ``layout`` stacks several panels (``"stack"``), puts them in a
    row (``"row"``) or in a grid of two columns (``"grid"``);
    ``xlim`` / ``ylim`` are ``[low, high]``; ``ylabel`` is one text or one per panel;
    ``annotate`` writes each point's value next to it. Text values on ``x`` (code names)
    are categories, labelled through ``labels``.

    Curve figures: when the ``y`` metrics are an experiment's curve outputs (one value per
    round, say), the figure is drawn from ``curves.csv`` with ``x`` the curves' index
    column (``x = "round"``); ``curve_index`` (set by the validator, not a key of the
    table) names it then. ``y`` and ``reference`` may not mix curve and other metrics.

    ``reference`` may also be a table from ``y`` metrics to the references of their panel
    (``reference = { accuracy = "ideal_accuracy", loss = ["ideal_loss"] }``): each panel
    then draws only its own (``panel_references``; ``reference`` lists them all).
    ``x`` may also name a metric: each line is then a parametric curve over the one swept
    parameter that ``hue``, ``style`` and ``facet`` leave (its points joined in the order
    of that parameter's values), e.g. error on x and uplink reduction on y along the kept
    fraction; intervals are drawn as bars (a band has no meaning along a curve), the x
    metric's as horizontal bars, unless ``ci = "none"``.

    Monte-Carlo markers: ``points`` lists one metric per ``y`` panel (``""``: none there),
    drawn as markers only, in the colour and marker of the line they pair with, with their
    interval as error bars; the ``y`` lines of those panels lose their markers, and the
    legend gets one grey line entry (the ``y`` metric's label) and one grey marker entry
    (the ``points`` metric's label) instead of an entry per colour.

    Marked points: ``mark_min = true`` (or a legend text such as ``"co-design optimum"``)
    stars, per panel, the point of least mean ``y``; ``marks`` lists points picked by
    their swept values, each a table ``{ threshold = 0.0, row_weight = 8, label = "..." }``
    (keys: swept parameters, values on their axes, and a non-empty ``label``), drawn as a
    black ring. Both get a legend entry naming the point's values and its ``y`` value (in
    the figure's legend when it sits inside a single panel, else in the panel's own).
    """

    x: str
    y: tuple[str, ...]
    hue: str | None = None
    style: str | None = None
    facet: str | None = None
    logx: bool = False
    logy: bool = False
    title: str = ""
    kind: str = "line"
    xlabel: str | None = None
    ylabel: str | tuple[str, ...] | None = None
    ci: str | None = None
    reference: tuple[str, ...] = ()
    width: str | float = "column"
    height: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    legend_title: str | None = None
    style_title: str | None = None
    legend: str = "best"
    layout: str = "stack"
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    annotate: bool = False
    curve_index: str | None = None
    panel_references: Mapping[str, tuple[str, ...]] | None = None

    def references_of(self, y: str) -> tuple[str, ...]:
        """The reference metrics drawn on the panel(s) of metric ``y``."""
        if self.panel_references is None:
            return self.reference
        return tuple(self.panel_references.get(y, ()))
    points: tuple[str, ...] = ()
    mark_min: bool | str = False
    marks: tuple[Mapping[str, Any], ...] = ()

    @property
    def width_inches(self) -> float:
        """The width in inches (a named width resolved through :data:`FIGURE_WIDTHS`)."""
        return FIGURE_WIDTHS.get(self.width, self.width) if isinstance(self.width, str) \
            else float(self.width)

    def ci_style(self) -> str:
        """How confidence intervals are drawn: ``ci``, else a band for lines, bars for dots."""
        if self.ci is not None:
            return self.ci
        return "bars" if self.kind == "scatter" else "band"

    def to_dict(self) -> dict[str, Any]:
        """The ``[figure]`` table, without unset entries (tuples as lists)."""
        out: dict[str, Any] = {}
        for key in FIGURE_KEYS:
            value = getattr(self, key, None)
            if isinstance(value, tuple):
                value = list(value)
            if isinstance(value, Mapping):
                value = dict(value)
            if key == "marks":
                value = [dict(m) for m in value]
            if value is None or value == [] or value == {}:
                continue
            out[key] = value
        if self.panel_references is not None:  # the table form of 'reference'
            out["reference"] = {k: list(v) for k, v in self.panel_references.items()}
        return out


def value_keys(value: Any) -> tuple[str, ...]:
    """The texts a ``[figure] labels`` key may use to name a swept ``value``.

    A number: its shortest forms (``0.1``; ``10``, ``10.0`` for ``10.0``). A string: itself.
    A model table ``{name = "digital", bits = 2}`` (or its JSON text, as ``results.csv``
    stores it): ``digital(bits=2)``, with its parameters in the given and in sorted order,
    and its bare name. The first entry is the default legend text.
    """
    from ..experiments.specs import label

    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return (value,)
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        params = {k: v for k, v in value.items() if k != "name"}
        texts = [label(dict(value)), label({"name": value["name"], **dict(sorted(params.items()))}),
                 value["name"]]
        return tuple(dict.fromkeys(texts))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (label(value),)
    texts = [f"{value:g}", str(value)]
    if isinstance(value, float) and value.is_integer():
        texts += [str(int(value)), f"{value:.1f}"]
    return tuple(dict.fromkeys(texts))


def merge_quick(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario tree of ``--quick``: its ``[quick]`` table merged in, or trials scaled.

    ``[quick]`` holds the same sections as the scenario (``trials.n = 200``,
    ``params.search_draws = 50``, ``sweep.axes.snr_db = [0, 10, 20]``); its tables merge
    into the scenario's, other values replace. Without ``[quick]``, a fixed trial count
    becomes a tenth (at least 2; the batch shrinks with it) and an adaptive one gets a
    tenth of its ``max`` (at least its ``min``). The result has no ``[quick]`` table.
    """
    tree = {k: v for k, v in tree.items()}
    quick = tree.pop("quick", None)
    if quick is None:
        trials = dict(tree.get("trials") or {}) if isinstance(tree.get("trials"), Mapping) \
            else tree.get("trials")
        if isinstance(trials, dict):
            n = trials.get("n")
            if kind_of(n) == "int" and n > 0:
                trials["n"] = max(min(n, QUICK_MIN_TRIALS), -(-n // QUICK_DIVISOR))
                if kind_of(trials.get("batch")) == "int":
                    trials["batch"] = max(1, min(trials["batch"], trials["n"]))
            elif "rel_tol" in trials:
                low = trials.get("min", TrialsSpec.DEFAULT_MIN)
                high = trials.get("max", max(TrialsSpec.DEFAULT_MAX, low))
                if kind_of(low) == "int" and kind_of(high) == "int":
                    trials["max"] = max(low, -(-high // QUICK_DIVISOR))
            tree["trials"] = trials
        return tree
    if not isinstance(quick, Mapping):
        return tree  # the validator names the problem
    return _deep_merge(tree, quick)


def without_labels(tree: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` without ``[figure] labels``: a quick variant may sweep fewer values than the
    labels name (they are checked against the full scenario's axes)."""
    out = dict(tree)
    if isinstance(out.get("figure"), Mapping) and "labels" in out["figure"]:
        out["figure"] = {k: v for k, v in out["figure"].items() if k != "labels"}
    return out


#: Without a ``[quick]`` table, ``--quick`` divides trial counts by this (see merge_quick).
QUICK_DIVISOR = 10
QUICK_MIN_TRIALS = 2


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) \
                and not set(value) & set(AXIS_GENERATORS):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


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
    values: Mapping[str, Sequence[Any]] | None = None,
    curve_index: str | None = None,
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
    values : mapping of str to sequence, optional
        Swept parameter -> its values; the keys of ``labels`` must name one of them (see
        :func:`value_keys`), a swept parameter or a metric (None: not checked).
    curve_index : str, optional
        The index column of the ``"curve"`` metrics: a figure whose ``y`` are curve
        metrics must have it as ``x``.

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
    return validator.figure(dict(table), list(swept), metrics, owner, values=values,
                            curve_index=curve_index)


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
                f"experiment '{self.ref}'", values=sweep.axes,
                curve_index=self.curve_index(fn),
            )
        if "quick" in tree:
            self.quick(tree)
        return dict(head, params=params, sweep=sweep, trials=trials, figure=figure)

    def quick(self, tree: Mapping[str, Any]) -> None:
        """``[quick]`` must be a table of scenario sections, and the quick scenario valid."""
        self.table(tree, "quick", QUICK_SECTIONS)
        merged = without_labels(merge_quick(tree))  # checked above, against the full axes
        from_cli = {p[1:] for p in self.from_cli if p[:1] == ("quick",)}
        _Validator(f"{self.source} (with [quick])", from_cli).run(merged)

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

    def curve_index(self, fn) -> str | None:
        try:
            return experiment_curve_index(fn)
        except TypeError as exc:
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
        if outputs is not None and outputs.get(metric) == "curve":
            per_trial = [m for m, kind in outputs.items() if kind == "trial"]
            self.fail(("trials", "metric"),
                      f"names the curve metric {short(metric)}; a precision target watches a "
                      f"per-trial metric ({', '.join(per_trial) or 'none'}).")
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
               owner: str, values: Mapping[str, Sequence[Any]] | None = None,
               curve_index: str | None = None) -> FigureSpec:
        for key in ("x", "y"):
            if key not in f:
                self.fail(("figure", key), "is required in [figure].")
        out: dict[str, Any] = {}
        if self.curve_figure(f, metrics, curve_index):
            out["curve_index"] = curve_index
            swept = [*swept, curve_index]  # x only: 'hue' etc. must differ from x
        for key in ("x", "hue", "style", "facet"):
            if key not in f:
                continue
            value = self.str_(("figure", key), f[key])
            if key == "x" and value not in swept and (metrics is None or value in metrics):
                out[key] = value  # a metric on x: curves over the remaining swept axis
                continue
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
        if out.get("style") is not None and out["style"] in (out["x"], out.get("hue")):
            other = "x" if out["style"] == out["x"] else "hue"
            self.fail(("figure", "style"),
                      f"must differ from 'x' and 'hue'; '{other}' is {short(out['style'])} too.")
        if out.get("facet") is not None and out["facet"] in (out["x"], out.get("hue"),
                                                              out.get("style")):
            other = next(k for k in ("x", "hue", "style") if out.get(k) == out["facet"])
            self.fail(("figure", "facet"), f"must differ from 'x', 'hue' and 'style'; "
                                           f"'{other}' is {short(out['facet'])} too.")
        out["y"] = self.metric_names("y", f["y"], metrics, owner, "a metric name or a non-empty "
                                     "list of metric names")
        if isinstance(f.get("reference"), Mapping):
            out["panel_references"] = self.panel_references(f["reference"], out["y"], metrics,
                                                            owner)
            out["reference"] = tuple(dict.fromkeys(
                r for refs in out["panel_references"].values() for r in refs))
        elif "reference" in f:
            out["reference"] = self.metric_names("reference", f["reference"], metrics, owner,
                                                 "a metric name or a list of metric names")
        for key in ("logx", "logy", "annotate"):
            if key in f:
                out[key] = self.bool_(("figure", key), f[key])
        for key in ("title", "xlabel", "legend_title", "style_title"):
            if key in f:
                out[key] = self.str_(("figure", key), f[key], nonempty=False)
        if "ylabel" in f:
            out["ylabel"] = self.ylabel(f["ylabel"], len(out["y"]))
        for key, choices in (("kind", FIGURE_KINDS), ("ci", FIGURE_CI),
                             ("legend", FIGURE_LEGENDS), ("layout", FIGURE_LAYOUTS)):
            if key in f:
                out[key] = self.choice(("figure", key), f[key], choices)
        if "errorbars" in f:  # the older switch: false means ci = "none"
            if not self.bool_(("figure", "errorbars"), f["errorbars"]) and "ci" not in out:
                out["ci"] = "none"
        if "width" in f:
            w = f["width"]
            if isinstance(w, str):
                if w not in FIGURE_WIDTHS:
                    self.fail(("figure", "width"), "must be 'column', 'double' or a size in "
                              f"inches in [0.5, 20]; got str {short(w)}."
                              f"{_hint(w, list(FIGURE_WIDTHS))}")
                out["width"] = w
            else:
                out["width"] = self.inches(("figure", "width"), w, "'column', 'double' or ")
        if "height" in f:
            out["height"] = self.inches(("figure", "height"), f["height"])
        for key in ("xlim", "ylim"):
            if key in f:
                out[key] = self.limits(("figure", key), f[key],
                                       positive=bool(out.get("logx" if key == "xlim" else "logy")))
        if "labels" in f:
            out["labels"] = self.labels(f["labels"], swept, metrics, values)
        self.figure_marks(f, out, swept, metrics, owner, values)
        return FigureSpec(**out)

    def panel_references(self, table: Mapping, y: Sequence[str], metrics, owner: str
                         ) -> dict[str, tuple[str, ...]]:
        """``reference`` as a table: ``y`` metric -> the reference metrics of its panel."""
        out = {}
        for key, value in table.items():
            if key not in y:
                self.fail(("figure", "reference", key),
                          f"must name a 'y' metric ({', '.join(y)}) when 'reference' is a "
                          f"table; got {short(key)}.{_hint(key, list(y))}")
            out[key] = self.metric_names("reference", value, metrics, owner,
                                         "a metric name or a list of metric names per 'y' "
                                         "metric")
        return out

    def curve_figure(self, f: Mapping, metrics: Mapping[str, str] | None,
                     curve_index: str | None) -> bool:
        """Whether ``f`` draws curve metrics (then ``x`` must be the index and every ``y``
        and ``reference`` metric a curve); names are checked later by :meth:`metric_names`."""
        if metrics is None:
            return False
        named = {}
        for key in ("y", "reference"):
            value = f.get(key, [])
            if isinstance(value, Mapping):  # reference per panel
                value = [v for refs in value.values()
                         for v in ([refs] if isinstance(refs, str) else refs
                                   if isinstance(refs, list) else [])]
            for name in [value] if isinstance(value, str) else value if isinstance(value, list) \
                    else []:
                if isinstance(name, str) and name in metrics:
                    named[name] = key
        curves = [m for m in named if metrics[m] == "curve"]
        if not curves:
            return False
        others = [m for m in named if metrics[m] != "curve"]
        if others:
            self.fail(("figure", named[others[0]]),
                      f"mixes curve metrics ({', '.join(curves)}) with the {metrics[others[0]]} "
                      f"metric {short(others[0])}; a figure draws either curves (vs "
                      f"'{curve_index}') or per-point metrics.")
        if f["x"] != curve_index:
            self.fail(("figure", "x"),
                      f"must be the curves' index {short(curve_index)} when 'y' names curve "
                      f"metrics ({', '.join(curves)}); got {short(f['x'])}.")
        return True

    def figure_marks(self, f: dict, out: dict, swept: list[str],
                     metrics: Mapping[str, str] | None, owner: str,
                     values: Mapping[str, Sequence[Any]] | None) -> None:
        """``points``, ``mark_min``, ``marks`` and a metric on ``x`` (see FigureSpec)."""
        if out["x"] not in swept:
            free = [p for p in swept if p not in (out.get("hue"), out.get("style"),
                                                  out.get("facet"))]
            if len(free) != 1:
                self.fail(("figure", "x"), f"names the metric {short(out['x'])}, so each line is "
                          "a curve over the one swept parameter not named by 'hue', 'style' or "
                          f"'facet'; got {len(free)} such parameters "
                          f"({', '.join(free) or 'none'}).")
        if "points" in f:
            value, n = f["points"], len(out["y"])
            names = [value] if isinstance(value, str) else value
            if (kind_of(names) != "list" or len(names) != n
                    or not all(isinstance(v, str) for v in names)):
                self.bad(("figure", "points"), f"a list of {n} metric names (one per 'y' "
                         "panel, \"\" for none)", value)
            for name, y in zip(names, out["y"], strict=True):
                if not name:
                    continue
                if name == y:
                    self.fail(("figure", "points"), f"names {short(name)}, the 'y' metric of "
                              "its own panel; give the metric drawn as markers beside it.")
                if metrics is not None and name not in metrics:
                    self.fail(("figure", "points"), f"names {short(name)}, which is not a "
                              f"metric of {owner} (metrics: {', '.join(metrics)})."
                              f"{_hint(name, list(metrics))}")
            out["points"] = tuple(names)
        if "mark_min" in f:
            value = f["mark_min"]
            if kind_of(value) not in ("bool", "str") or (isinstance(value, str)
                                                         and not value.strip()):
                self.bad(("figure", "mark_min"), "true, false or a legend text", value)
            out["mark_min"] = value
        if "marks" in f:
            out["marks"] = tuple(self.figure_mark(i, m, swept, values)
                                 for i, m in enumerate(self.mark_list(f["marks"])))

    def mark_list(self, value) -> list:
        if kind_of(value) != "list" or not all(isinstance(m, Mapping) for m in value):
            self.bad(("figure", "marks"), "a list of tables { PARAMETER = value, ..., "
                     "label = \"text\" }", value)
        return value

    def figure_mark(self, i: int, mark: Mapping[str, Any], swept: list[str],
                    values: Mapping[str, Sequence[Any]] | None) -> dict[str, Any]:
        path = ("figure", "marks", i)
        if not isinstance(mark.get("label"), str) or not mark["label"].strip():
            self.fail((*path, "label"), f"must be a non-empty str (the legend text); got "
                      f"{kind_of(mark.get('label'))} {short(mark.get('label'))}.")
        params = [k for k in mark if k != "label"]
        if not params:
            self.fail(path, "must name at least one swept parameter and its value, e.g. "
                      f"{{ {swept[0] if swept else 'threshold'} = ..., label = \"...\" }}; "
                      f"got {short(dict(mark))}.")
        for key in params:
            if key not in swept:
                self.fail((*path, key), "must be a swept parameter "
                          f"({', '.join(swept) or 'none'}); got {short(key)}.{_hint(key, swept)}")
            axis = (values or {}).get(key)
            if axis is not None and not any(same_value(mark[key], v) for v in axis):
                known = ", ".join(value_keys(v)[0] for v in axis)
                known = known if len(known) <= 200 else known[:197] + "..."
                self.fail((*path, key), f"must be one of the swept values of {key!r} "
                          f"({known}); got {kind_of(mark[key])} {short(mark[key])}.")
        return dict(mark)

    def choice(self, path, value, choices: Sequence[str]) -> str:
        if kind_of(value) != "str" or value not in choices:
            hint = _hint(value, choices) if kind_of(value) == "str" else ""
            quoted = [repr(c) for c in choices]
            allowed = " or ".join(quoted) if len(quoted) == 2 else f"one of {', '.join(quoted)}"
            self.fail(path, f"must be {allowed}; got {kind_of(value)} {short(value)}.{hint}")
        return value

    def inches(self, path, value, also: str = "") -> float:
        if kind_of(value) not in ("int", "float") or not 0.5 <= value <= 20:
            numeric = kind_of(value) in ("int", "float")
            self.bad(path, f"{also}a size in inches in [0.5, 20]", value, show_kind=not numeric)
        return float(value)

    def limits(self, path, value, *, positive: bool) -> tuple[float, float]:
        ok = (kind_of(value) == "list" and len(value) == 2
              and all(kind_of(v) in ("int", "float") for v in value))
        if not ok or not value[0] < value[1] or (positive and value[0] <= 0):
            what = "[low, high] with 0 < low < high (a log axis)" if positive else \
                "[low, high] with low < high"
            self.bad(path, what, value)
        return (float(value[0]), float(value[1]))

    def ylabel(self, value, n_panels: int) -> str | tuple[str, ...]:
        if isinstance(value, str):
            return value
        if (kind_of(value) != "list" or len(value) != n_panels
                or not all(isinstance(v, str) for v in value)):
            self.bad(("figure", "ylabel"), f"a str or a list of {n_panels} str (one per 'y' "
                                           "metric)", value)
        return tuple(value)

    def labels(self, value, swept: list[str], metrics: Mapping[str, str] | None,
               values: Mapping[str, Sequence[Any]] | None) -> dict[str, str]:
        if not isinstance(value, Mapping):
            self.bad(("figure", "labels"), "a table of name = \"legend text\"", value)
        known: list[str] = list(swept)
        if metrics is not None:
            known += list(metrics)
        for axis in (values or {}).values():
            for v in axis:
                known += value_keys(v)
        known = list(dict.fromkeys(known))
        out = {}
        for key, text in value.items():
            path = ("figure", "labels", key)
            if values is not None and (metrics is not None) and key not in known:
                self.fail(path, "names no swept value, swept parameter or metric (known: "
                                f"{short(', '.join(known), 200)}).{_hint(key, known)}")
            out[key] = self.str_(path, text)
        return out

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


def same_value(a: Any, b: Any) -> bool:
    """Whether two swept values are the same point (``0`` and ``0.0``; a model table and its
    label)."""
    return bool(set(value_keys(a)) & set(value_keys(b)))


def _hint(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(value), list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
