"""Registry of experiments: the only way the scenario engine knows what to run.

An experiment is a plain function

.. code-block:: python

    fn(*, rng: numpy.random.Generator, n_trials: int, **params) -> dict[str, array_like]

returning, for each metric, either per-trial samples (1-D, length ``n_trials``; the engine
computes mean, 95% confidence interval and count), a scalar (a deterministic metric), or
per-trial curves (2-D, ``[n_trials, L]``: one curve per trial, e.g. a value per training
round; the engine summarizes each of the ``L`` columns like per-trial samples and writes
them to ``curves.csv``, one row per point and index value).
Built-in experiments register themselves with :func:`register_experiment`; a scenario may
also name a user's function as ``"package.module:function"``.

An experiment may declare two things the engine uses before computing anything (as
arguments of :func:`register_experiment`, or as the attributes ``fn.check`` and
``fn.outputs`` of a ``module:function`` experiment):

- ``check(**params)``: rejects parameter values it cannot run with (``ValueError``), warns
  about odd ones, and may return the parameters that matter at that point, so that two
  points differing only in an ignored parameter are refused instead of giving duplicate
  rows;
- ``outputs``: ``{metric: "trial" | "scalar" | "curve"}``, every metric it may return, so
  that a scenario's ``[figure]`` and ``trials.metric`` are checked against them at load
  time;
- ``curve_index`` (``fn.curve_index``): the name of the index column of its curves
  (``"round"``), required when it declares a ``"curve"`` output. The experiment may return
  the index values under that name (1-D, length ``L``, the same for every trial: say the
  rounds ``0, 5, 10, ...`` at which a model was evaluated); without them they are
  ``0, 1, ..., L - 1``.

Examples
--------
>>> @register_experiment("my-study", summary="Mean of a Gaussian")  # doctest: +SKIP
... def my_study(*, rng, n_trials, mu=0.0):
...     return {"x": rng.normal(mu, 1.0, size=n_trials)}
>>> get_experiment("tests.engine_fixtures:cheap").__name__
'cheap'
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._checks import Entry, Registry, suggest

__all__ = [
    "EXPERIMENTS",
    "OUTPUT_KINDS",
    "RESERVED_PARAMETERS",
    "Experiment",
    "experiment_curve_index",
    "experiment_outputs",
    "experiment_parameters",
    "get_experiment",
    "import_modules",
    "list_experiments",
    "register_experiment",
]

Experiment = Callable[..., dict[str, Any]]

#: Keyword arguments the engine supplies itself; a scenario may not set them.
RESERVED_PARAMETERS = ("rng", "n_trials")

#: Kinds of metric an experiment declares in ``outputs``.
OUTPUT_KINDS = ("trial", "scalar", "curve")

EXPERIMENTS: Registry[Experiment] = Registry(
    "experiment", default_tags={"outputs": None, "curve_index": None})

# "package.module:function" with Python identifiers only, so a scenario cannot make the
# engine import something that is not a module path (and typos fail before any import).
_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

# Modules of this package that hold registries' plumbing rather than experiments.
_NOT_EXPERIMENT_MODULES = frozenset({"registry", "specs"})


def register_experiment(
    name: str,
    *,
    summary: str = "",
    overwrite: bool = False,
    check: Callable[..., Mapping[str, Any] | None] | None = None,
    outputs: Mapping[str, str] | None = None,
    curve_index: str | None = None,
) -> Callable[[Experiment], Experiment]:
    """Decorator registering ``fn`` as the experiment ``name``.

    Parameters
    ----------
    name : str
        The name scenarios use in ``[scenario] experiment``.
    summary : str, optional
        One line for ``aircomp-agc list experiments`` (default: the docstring's first line).
    overwrite : bool, optional
        Replace an experiment already registered under ``name``.
    check : callable, optional
        ``check(**params)`` raising ``ValueError``/``TypeError`` for parameter values the
        experiment cannot run with (ranges, names, combinations), and warning
        (``warnings.warn``) about legal but odd ones. The engine calls it on every sweep
        point before computing anything, with the experiment's full keyword arguments (its
        defaults filled in, ``rng`` left out; ``n_trials``, the fewest trials one call
        will get, only if the check takes that keyword). It may return the parameters the
        point really uses (the others ignored): two points with equal returns would
        compute the same thing, and the engine refuses such a sweep. Stored as
        ``fn.check``.
    outputs : mapping of str to {"trial", "scalar", "curve"}, optional
        Every metric the experiment may return, with its kind. Stored as ``fn.outputs``;
        the engine checks scenarios' figures and ``trials.metric`` against it before
        running, and every returned metric against it while running.
    curve_index : str, optional
        Name of the index column of the ``"curve"`` outputs (``"round"``); required with
        them, refused without them. Stored as ``fn.curve_index``.

    Raises
    ------
    TypeError
        If ``fn`` does not accept the keyword arguments ``rng`` and ``n_trials`` or has
        positional-only parameters without defaults, or ``outputs`` / ``curve_index`` is
        malformed.
    """
    declared = None if outputs is None else _check_outputs(outputs, f"experiment '{name}'")
    index = _check_curve_index(declared, curve_index, f"experiment '{name}'")

    def add(fn: Experiment) -> Experiment:
        _check_signature(fn, f"experiment '{name}'")
        if check is not None:
            fn.check = check  # type: ignore[attr-defined]
        if declared is not None:
            fn.outputs = declared  # type: ignore[attr-defined]
        if index is not None:
            if index in experiment_parameters(fn):
                raise TypeError(
                    f"The 'curve_index' of experiment '{name}' must differ from its parameter "
                    f"names (curves.csv has a column for each); got {index!r}."
                )
            fn.curve_index = index  # type: ignore[attr-defined]
        EXPERIMENTS.register(name, fn, summary=summary, overwrite=overwrite,
                             tags={"outputs": declared, "curve_index": index})
        return fn

    return add


def experiment_outputs(fn: Experiment) -> dict[str, str] | None:
    """The metrics ``fn`` declares (``{name: "trial" | "scalar" | "curve"}``), or None.

    Raises
    ------
    TypeError
        If ``fn.outputs`` is not a mapping of metric names to ``"trial"``, ``"scalar"`` or
        ``"curve"``.
    """
    outputs = getattr(fn, "outputs", None)
    if outputs is None:
        return None
    return _check_outputs(outputs, f"experiment {getattr(fn, '__name__', fn)!r}")


def _check_outputs(outputs: Any, what: str) -> dict[str, str]:
    if not isinstance(outputs, Mapping) or not outputs or not all(
        isinstance(k, str) and k and v in OUTPUT_KINDS for k, v in outputs.items()
    ):
        raise TypeError(
            f"The 'outputs' of the {what} must be a non-empty mapping of metric names to "
            f"'trial', 'scalar' or 'curve'; got {outputs!r}."
        )
    return dict(outputs)


def experiment_curve_index(fn: Experiment) -> str | None:
    """The index column of ``fn``'s curve outputs (``fn.curve_index``), or None without them.

    Raises
    ------
    TypeError
        If ``fn`` declares curve outputs without a valid ``curve_index``, or one without
        curve outputs.
    """
    outputs = experiment_outputs(fn)
    return _check_curve_index(outputs, getattr(fn, "curve_index", None),
                              f"experiment {getattr(fn, '__name__', fn)!r}")


_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


def _check_curve_index(outputs: Mapping[str, str] | None, index: Any, what: str) -> str | None:
    curves = sorted(m for m, kind in (outputs or {}).items() if kind == "curve")
    if index is None:
        if curves:
            raise TypeError(
                f"The {what} declares curve outputs ({', '.join(curves)}) and must name their "
                "index column with 'curve_index' (e.g. curve_index='round'); got none."
            )
        return None
    if not curves:
        raise TypeError(
            f"The 'curve_index' of the {what} needs at least one 'curve' output; got "
            f"curve_index={index!r} with outputs {outputs!r}."
        )
    if not isinstance(index, str) or not _IDENTIFIER.match(index) or index in (outputs or {}) \
            or index in RESERVED_PARAMETERS:
        raise TypeError(
            f"The 'curve_index' of the {what} must be an identifier that is not a metric or "
            f"a reserved parameter (e.g. 'round'); got {index!r}."
        )
    return index


def get_experiment(ref: str) -> Experiment:
    """Return the experiment function for a registered name or a ``"module:function"`` ref.

    For a ``module:function`` ref the module is imported normally; if its top-level
    package cannot be found, the current directory is tried as well (so that
    ``tests.engine_fixtures:cheap`` works from the repository root, also through the
    ``aircomp-agc`` console script, whose ``sys.path`` does not contain it).

    Raises
    ------
    TypeError
        If ``ref`` is not a string, or the function does not follow the experiment
        contract.
    ValueError
        If the name is not registered (close names are suggested), the ref is malformed,
        or the module or attribute cannot be found or imported.
    """
    if not isinstance(ref, str):
        raise TypeError(
            "The 'experiment' parameter must be a registered name or 'module:function'; "
            f"got {type(ref).__name__} {ref!r}."
        )
    if ":" not in ref:
        _load_builtin()
        return EXPERIMENTS.get(ref)
    if not _REF.match(ref):
        raise ValueError(
            "The 'experiment' parameter must be a registered name or 'package.module:function' "
            f"(Python identifiers); got {ref!r}."
        )
    module_name, attr_path = ref.split(":")
    module = _import(module_name, ref)
    obj: Any = module
    for attr in attr_path.split("."):
        if not hasattr(obj, attr):
            names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n))]
            raise ValueError(
                f"Experiment {ref!r}: module '{module_name}' has no '{attr_path}'."
                f"{suggest(attr, names)}"
            )
        obj = getattr(obj, attr)
    if not callable(obj):
        raise TypeError(f"Experiment {ref!r} is not callable; got {type(obj).__name__}.")
    _check_signature(obj, f"experiment {ref!r}")
    return obj


def experiment_parameters(fn: Experiment) -> dict[str, inspect.Parameter]:
    """The parameters a scenario may set: ``fn``'s keyword parameters minus ``rng``/``n_trials``.

    Returns
    -------
    dict[str, inspect.Parameter]
        In signature order. Annotations are evaluated when possible (so postponed
        ``from __future__ import annotations`` strings become types); a ``**kwargs``
        parameter is included under its own name with kind ``VAR_KEYWORD``, meaning that
        any extra key is accepted.
    """
    sig = _signature(fn)
    return {
        name: p
        for name, p in sig.parameters.items()
        if name not in RESERVED_PARAMETERS
        and p.kind
        in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.VAR_KEYWORD,
        )
    }


def list_experiments() -> list[Entry]:
    """:class:`~aircomp_agc._checks.Entry` records of every registered experiment, sorted.

    Built-ins included; ``entry.parameters`` are what a scenario may set (``rng`` and
    ``n_trials`` left out), ``entry.tags["outputs"]`` the declared metrics.
    """
    _load_builtin()
    return EXPERIMENTS.entries(skip=RESERVED_PARAMETERS)


def import_modules(modules: Sequence[str], *, what: str = "imports") -> None:
    """Import ``modules`` (a scenario's ``imports``), so that the models they register exist.

    A module whose top-level package is not on ``sys.path`` is also looked up in the
    working directory (as for ``module:function`` experiments); ``sys.path`` is left as it
    was.

    Raises
    ------
    ValueError
        One line naming the module that cannot be imported and why.
    """
    for name in modules:
        if not isinstance(name, str) or not _MODULE.match(name):
            raise ValueError(
                f"Every entry of '{what}' must be a module path such as 'mypkg.models'; "
                f"got {name!r}."
            )
        _import(name, name)


def _signature(fn: Callable) -> inspect.Signature:
    try:
        return inspect.signature(fn, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable annotation strings: keep them as strings
        return inspect.signature(fn)


def _check_signature(fn: Callable, what: str) -> None:
    try:
        params = _signature(fn).parameters
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The {what} has no inspectable signature ({exc}).") from None
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for reserved in RESERVED_PARAMETERS:
        p = params.get(reserved)
        if p is None and not has_var_kw:
            raise TypeError(
                f"The {what} must accept the keyword argument '{reserved}' "
                "(signature fn(*, rng, n_trials, **params))."
            )
        if p is not None and p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"The {what} takes '{reserved}' positional-only; make it a keyword.")
    for p in params.values():
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is inspect.Parameter.empty:
            raise TypeError(
                f"The {what} has a required positional-only parameter '{p.name}'; experiments "
                "are called with keyword arguments only."
            )


def _import(module_name: str, ref: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name != module_name.split(".")[0] or cwd in sys.path:
            raise _import_error(module_name, ref, exc) from None
    except Exception as exc:  # noqa: BLE001 - any failure in the user's module: one line
        raise _import_error(module_name, ref, exc) from None
    # The top-level package is not on sys.path: try the working directory, as `python -m` would.
    sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001
        raise _import_error(module_name, ref, exc) from None
    finally:
        sys.path.remove(cwd)


def _import_error(module_name: str, ref: str, exc: BaseException) -> ValueError:
    where = f"Experiment {ref!r}: cannot" if ref != module_name else "Cannot"
    return ValueError(
        f"{where} import '{module_name}' ({type(exc).__name__}: {_first_line(exc)})."
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _load_builtin() -> None:
    """Import every module of :mod:`aircomp_agc.experiments` (each registers its experiments).

    Done on first use rather than on ``import aircomp_agc.experiments``, so importing the
    package stays cheap; modules already imported are skipped by Python itself.
    """
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in _NOT_EXPERIMENT_MODULES:
            continue
        importlib.import_module(f"{__package__}.{info.name}")
