"""Scenario files: loading, ``--set`` overrides and complete validation before any computation.

One TOML file describes one study (see ``scenarios/`` and the README):

.. code-block:: toml

    [scenario]
    name = "coding-study"          # slug: results go to results/<name>/
    experiment = "decoding-error"  # registered name, or "package.module:function"
    description = "Normalized decoding error vs row weight"
    seed = 2026                    # master seed (int >= 0)
    imports = ["mypkg.models"]     # optional: modules that register a user's models

    [params]                       # fixed experiment parameters
    n = 100

    [sweep]                        # optional: mode = "grid" (default) or "zip"
    [sweep.axes]
    row_weight = { range = [2, 20, 2] }

    [trials]                       # n = 2000, or rel_tol (+ metric, min, max, batch)
    n = 2000

    [figure]                       # optional
    x = "row_weight"
    y = "err"

Every problem -- unknown keys at any level (the closest valid key is suggested), unknown
experiment parameters (checked against the experiment's signature), wrong types, values
out of range, TOML syntax errors, unreadable files -- raises :class:`ScenarioError` with
ONE line naming the file, the key, the allowed values and the value received, e.g.::

    scenarios/x.toml: [trials] 'rel_tol' must be a float in (0, 1); got -0.1.
    scenarios/x.toml: unknown key 'sweep.axis'; did you mean 'sweep.axes'?
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiments.registry import Experiment, get_experiment, import_modules
from .schema import (
    FigureSpec,
    ScenarioError,
    TrialsSpec,
    fmt_path,
    kind_of,
    short,
    validate_tree,
)
from .sweep import Sweep
from .sweep import point_key as _point_key

__all__ = [
    "FigureSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioListing",
    "TrialsSpec",
    "apply_overrides",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "scenario_from_dict",
]


@dataclass(frozen=True)
class Scenario:
    """A validated study: what to run, over which points, how many trials, how to plot.

    Build it with :func:`load_scenario` (or :func:`parse_scenario`,
    :func:`scenario_from_dict`); the constructor itself does not validate.

    Attributes
    ----------
    name : str
        Slug; results go to ``results/<name>/``.
    experiment : str
        Registered experiment name or ``"module:function"``.
    description : str
    seed : int
        Master seed (see :func:`aircomp_agc.engine.seeds.point_seed`).
    params : dict
        Fixed experiment parameters (integers given for float parameters are floats).
    sweep : Sweep
        Swept axes and mode.
    trials : TrialsSpec
    figure : FigureSpec or None
    imports : tuple of str
        Modules imported before the run (``[scenario] imports``): a user's models register
        themselves there. Worker processes import them too.
    source : pathlib.Path or None
        The file it was read from.
    """

    name: str
    experiment: str
    description: str
    seed: int
    params: dict[str, Any]
    sweep: Sweep
    trials: TrialsSpec
    figure: FigureSpec | None = None
    imports: tuple[str, ...] = ()
    source: Path | None = field(default=None, compare=False)

    @property
    def mode(self) -> str:
        """``"grid"`` or ``"zip"``."""
        return self.sweep.mode

    @property
    def axes(self) -> Mapping[str, tuple]:
        """Swept parameter -> its values, in axis order."""
        return self.sweep.axes

    @property
    def n_points(self) -> int:
        return len(self.sweep)

    def points(self) -> list[dict[str, Any]]:
        """The full keyword dict (fixed + swept parameters) of every point, in sweep order."""
        return self.sweep.points(self.params)

    @staticmethod
    def point_key(point: Mapping[str, Any]) -> str:
        """Canonical id of a point (:func:`aircomp_agc.engine.sweep.point_key`)."""
        return _point_key(point)

    def experiment_fn(self) -> Experiment:
        """The experiment function (:func:`aircomp_agc.experiments.get_experiment`), after
        importing the scenario's ``imports``."""
        import_modules(self.imports)
        return get_experiment(self.experiment)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as a TOML-like tree (axes expanded); loads back identically."""
        out: dict[str, Any] = {
            "scenario": {
                "name": self.name,
                "experiment": self.experiment,
                "description": self.description,
                "seed": self.seed,
                **({"imports": list(self.imports)} if self.imports else {}),
            },
            "params": copy.deepcopy(self.params),
            "sweep": {"mode": self.mode, "axes": {k: list(v) for k, v in self.axes.items()}},
            "trials": self.trials.to_dict(),
        }
        if self.figure is not None:
            out["figure"] = self.figure.to_dict()
        return out


@dataclass(frozen=True)
class ScenarioListing:
    """One entry of :func:`list_scenarios`: ``problem`` is the one-line error of a bad file."""

    path: Path
    name: str
    experiment: str
    description: str
    problem: str | None = None


# ---------------------------------------------------------------------------- entry points


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Parameters
    ----------
    path : str or path-like
        The TOML file.
    overrides : sequence of str
        ``"dotted.key=value"`` items (the CLI's ``--set``), applied in order before
        validation; ``value`` is parsed as a TOML value (``500``, ``0.1``, ``true``,
        ``['bgc']``, ``{ range = [1, 5, 1] }``), or taken as a bare string if it is not one.

    Raises
    ------
    ScenarioError
        One line naming the file and the problem.

    Examples
    --------
    >>> sc = load_scenario("scenarios/coding-study.toml", ["trials.n=500"])  # doctest: +SKIP
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{source}: no such scenario file.") from None
    except IsADirectoryError:
        raise ScenarioError(f"{source}: is a directory, not a scenario file.") from None
    except (OSError, TypeError, ValueError) as exc:
        raise ScenarioError(
            f"{source}: cannot read the file ({type(exc).__name__}: {exc})."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{source}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})."
        ) from None
    return parse_scenario(text, source=source, overrides=overrides, path=Path(path))


def parse_scenario(
    text: str, *, source: str = "<string>", overrides: Sequence[str] = (), path: Path | None = None
) -> Scenario:
    """Like :func:`load_scenario` for TOML ``text``; ``source`` names it in messages."""
    try:
        tree = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: invalid TOML: {exc}.") from None
    except RecursionError:
        raise ScenarioError(
            f"{source}: invalid TOML: arrays or tables nested too deeply."
        ) from None
    return scenario_from_dict(tree, source=source, overrides=overrides, path=path)


def scenario_from_dict(
    tree: Mapping[str, Any],
    *,
    source: str = "<dict>",
    overrides: Sequence[str] = (),
    path: Path | None = None,
) -> Scenario:
    """Validate a parsed TOML tree (``tomllib`` output or :meth:`Scenario.to_dict`)."""
    if not isinstance(tree, Mapping):
        raise ScenarioError(
            f"{source}: a scenario must be a TOML table; got {type(tree).__name__}."
        )
    tree, from_cli = apply_overrides(tree, overrides, source=source)
    return Scenario(**validate_tree(tree, source=source, from_cli=from_cli), source=path)


def apply_overrides(
    tree: Mapping[str, Any], overrides: Sequence[str], *, source: str = "<string>"
) -> tuple[dict[str, Any], set[tuple[str, ...]]]:
    """Apply ``"dotted.key=value"`` overrides to a copy of ``tree``.

    Returns
    -------
    (dict, set of tuple of str)
        The new tree and the key paths the overrides set (so that validation errors can
        say a value came from ``--set``).
    """
    tree = copy.deepcopy(dict(tree))
    if isinstance(overrides, str):
        overrides = [overrides]
    paths: set[tuple[str, ...]] = set()
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ScenarioError(f"{source}: --set expects 'dotted.key=value'; got {short(item)}.")
        key, value_text = item.split("=", 1)
        parts = tuple(p.strip() for p in key.strip().split("."))
        if not all(parts):
            raise ScenarioError(
                f"{source}: --set key must be dotted names like 'trials.n'; got {short(key)}."
            )
        node = tree
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = fmt_path(parts[: depth + 1])
                raise ScenarioError(
                    f"{source}: --set {fmt_path(parts)}: '{where}' is a "
                    f"{kind_of(child)}, not a table."
                )
            node = child
        node[parts[-1]] = _parse_value(value_text)
        paths.add(parts)
    return tree, paths


def list_scenarios(directory: str | Path = "scenarios") -> list[ScenarioListing]:
    """The scenario files (``*.toml``) in ``directory``, sorted by file name, validated.

    A file that does not validate is listed with its one-line error in ``problem`` rather
    than stopping the listing.

    Raises
    ------
    ScenarioError
        If ``directory`` does not exist or is not a directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: no such scenario directory.")
    out = []
    for path in sorted(directory.glob("*.toml")):
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            head = _peek_header(path)
            out.append(
                ScenarioListing(
                    path=path,
                    name=head.get("name", path.stem),
                    experiment=head.get("experiment", ""),
                    description=head.get("description", ""),
                    problem=str(exc),
                )
            )
        else:
            out.append(ScenarioListing(path, sc.name, sc.experiment, sc.description))
    return out


def _peek_header(path: Path) -> dict[str, str]:
    try:
        table = tomllib.loads(path.read_text("utf-8")).get("scenario", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(v, str)}


def _parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML value if ``text`` is one, else the bare (stripped) string."""
    try:
        doc = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text.strip()
    # "1\nx = 2" parses but sets a second key: not a single value, so take it literally.
    return doc["v"] if list(doc) == ["v"] else text.strip()
