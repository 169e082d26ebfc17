"""Gradient-coding experiments: decoding error of a code, storage frontiers.

Both are thin adapters from scenario parameters to :mod:`aircomp_agc.coding`; all the
maths lives there. A code and a straggler model are each a name or a table with their
parameters (:mod:`.specs`), e.g. ``code = { name = "sgc", p = 0.2 }`` or
``stragglers = { name = "bernoulli", p = 0.1 }``. What the experiments do with a code
follows its registry tags, never its name:

- ``storage_param``: the scenario parameter that sets its storage (``row_weight`` or
  ``s``); a ``row_weight`` the code does not take is reported, and points that differ only
  in it are refused (they would be duplicate rows);
- ``randomized``: a fresh code per trial (so trials are i.i.d. over the construction too),
  or one code and a single batched decoding call for all trials;
- ``closed_form``: the expected least-squares error, reported next to the measurement.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_real
from ..coding import CODES, STRAGGLERS, decoding_errors, make_code, make_stragglers
from ..coding import codes as _builtin_codes  # noqa: F401  (registers the built-in codes)
from ..coding.decoders import METHODS
from ..coding.frontier import (
    exact_storage,
    log_storage,
    source_text_storage,
    storage_frontier,
    storage_lower_bound,
)
from .registry import register_experiment
from .specs import ModelSpec, model_spec

__all__ = ["decoding_error_experiment", "storage_frontier_experiment"]

#: What a code's factory receives from the experiment itself, not from the code table.
_SET_BY_EXPERIMENT = ("n", "s", "row_weight", "rng")


@dataclass(frozen=True)
class _CodeSetup:
    """A code choice resolved against its tags: how to build it, which parameters it uses."""

    spec: ModelSpec
    kwargs: dict[str, Any]
    randomized: bool
    closed_form: Any
    uses_s: bool
    uses_row_weight: bool

    def build(self, rng: Any) -> Any:
        return make_code(self.spec.name, rng=rng, **self.kwargs)


def _code_setup(code: Any, n: int, s: int, row_weight: int | None, owner: str, *,
                warn: bool = True) -> _CodeSetup:
    """Resolve ``code`` (name or table) with the experiment's ``n``, ``s``, ``row_weight``.

    ``warn``: report a ``row_weight`` the code ignores (the parameter check does, once).
    """
    spec = model_spec(code, "code", owner)
    tags = CODES.tags(spec.name)
    params = {p.name: p for p in CODES.parameters(spec.name)}
    for key in _SET_BY_EXPERIMENT:
        if key in spec.params:
            raise ValueError(
                f"The 'code' table of {owner} must not set {key!r}: the experiment sets it "
                f"(give it as the experiment parameter {key!r})."
            )
    kwargs = dict(spec.params)
    if "n" in params:
        kwargs["n"] = n
    storage = tags.get("storage_param")
    uses_s = storage == "s" or ("s" in params and params["s"].required)
    if uses_s:
        kwargs["s"] = s
    uses_row_weight = "row_weight" in params and (
        storage == "row_weight" or row_weight is not None
    )
    if uses_row_weight:
        if row_weight is None:
            raise ValueError(
                f"The 'row_weight' parameter of {owner} is required by code {spec.name!r} "
                "(its storage is set by row_weight); got none."
            )
        kwargs["row_weight"] = row_weight
    elif row_weight is not None and warn:
        what = f"its storage is set by {storage!r}" if storage else "it has no such parameter"
        warnings.warn(
            f"{owner}: code {spec.name!r} ignores row_weight ({what}).", stacklevel=3
        )
    CODES.check_params(spec.name, kwargs, ignore=("rng",), skip=("rng",))
    return _CodeSetup(spec, kwargs, bool(tags.get("randomized")), tags.get("closed_form"),
                      uses_s, uses_row_weight)


def _stragglers(stragglers: Any, s: int, owner: str) -> tuple[Any, bool, float]:
    """The straggler model of ``stragglers`` (name or table), whether it uses ``s``, and
    the expected straggler fraction per worker when its tags promise a closed-form marginal
    (``marginal``), else NaN (as a function of ``n``: see :func:`_straggler_fraction`)."""
    spec = model_spec(stragglers, "stragglers", owner)
    accepted = {p.name for p in STRAGGLERS.parameters(spec.name)}
    params = dict(spec.params)
    if "s" in params:
        raise ValueError(
            f"The 'stragglers' table of {owner} must not set 's': give it as the experiment "
            "parameter 's' (it is also the exact codes' tolerance)."
        )
    uses_s = "s" in accepted
    if uses_s:
        params["s"] = s
    marginal = bool(STRAGGLERS.tags(spec.name).get("marginal"))
    return make_stragglers(spec.name, **params), uses_s, marginal


def _straggler_fraction(model: Any, marginal: bool, n: int) -> float:
    """Expected fraction of stragglers from the model's closed-form marginal, else NaN."""
    if not marginal:
        return float("nan")
    return float(1.0 - np.mean(model.response_probability(n)))


def _check_decoding_error(
    *, code, n, s, row_weight, stragglers, method, sets_per_code
) -> dict[str, Any]:
    """Reject a point before any computation; return the parameters it really uses."""
    owner = "experiment 'decoding-error'"
    check_choice("method", method, METHODS, owner=owner)
    check_int("sets_per_code", sets_per_code, low=1, owner=owner)
    n = check_int("n", n, low=1, owner=owner)
    s = check_int("s", s, low=0, high=n - 1, owner=owner)
    if row_weight is not None:
        check_int("row_weight", row_weight, low=1, high=n, owner=owner)
    setup = _code_setup(code, n, s, row_weight, owner)
    model, model_uses_s, _ = _stragglers(stragglers, s, owner)
    model.sample(1, n, rng=0)  # the model's own rules for this n (validation only)
    setup.build(0)  # construction-specific rules: divisibility, parity (validation only)
    used = {"code": code, "n": n, "stragglers": stragglers, "method": method,
            "sets_per_code": sets_per_code}
    if setup.uses_s or model_uses_s:
        used["s"] = s
    if setup.uses_row_weight:
        used["row_weight"] = row_weight
    return used


DECODING_OUTPUTS = {
    "err": "trial",
    "storage": "trial",
    "closed_form": "scalar",
    "uncoded_error": "scalar",
    "source_text_rate": "scalar",
}


@register_experiment(
    "decoding-error",
    summary="Normalized decoding error ||B_T^T a - 1||^2/k of a code under random stragglers",
    check=_check_decoding_error,
    outputs=DECODING_OUTPUTS,
)
def decoding_error_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    code: str | dict = "bgc",
    n: int = 100,
    s: int = 20,
    row_weight: int | None = None,
    stragglers: str | dict = "fixed",
    method: str = "lstsq",
    sets_per_code: int = 20,
) -> dict:
    """Decoding error of ``code`` with ``n`` workers under a straggler model.

    One trial averages the error over ``sets_per_code`` straggler sets of one encoding;
    randomized constructions (tag ``randomized``) draw a fresh encoding per trial, so
    trials are i.i.d. and the engine's confidence interval covers both sources of
    randomness. Deterministic codes are decoded for all trials in one batched call.

    Parameters
    ----------
    code : str or table
        A code name (``aircomp-agc list codes``) or a table with its own parameters,
        e.g. ``{ name = "sgc", p = 0.2 }``.
    n : int
        Workers (= partitions).
    s : int
        Stragglers of the "fixed" model, and the tolerance of exact codes.
    row_weight : int
        Storage of codes whose storage parameter is row_weight.
    stragglers : str or table
        Straggler model: "fixed" (s uniformly random stragglers) or a table such as
        { name = "bernoulli", p = 0.1 }.
    method : str
        Decoder: "lstsq", "one-step" or "exact".
    sets_per_code : int
        Straggler sets averaged per trial (per encoding).

    Returns
    -------
    dict
        ``err`` [n_trials] per-trial mean error, ``storage`` [n_trials] (the encoding's
        largest load), and scalars ``closed_form`` (the code's closed-form E[err] of the
        least-squares decoder for this straggler model, NaN where none is known or
        ``method`` is not ``"lstsq"``), ``uncoded_error`` (the expected straggler
        fraction: the error of losing the stragglers' share, ``s/n`` for fixed
        stragglers) and ``source_text_rate`` = ``n / (E|T| row_weight)`` (the source
        text's O(1/((n-s) rho)) with constant 1; NaN without a row weight).
    """
    owner = "experiment 'decoding-error'"
    setup = _code_setup(code, n, s, row_weight, owner, warn=False)
    model, _, marginal = _stragglers(stragglers, s, owner)
    g_code, g_sets = rng.spawn(2)
    if setup.randomized:
        codes = [setup.build(g) for g in g_code.spawn(n_trials)]
        sets = g_sets.spawn(n_trials)
        # One encoding per trial (a loop over codes is inherent); its sets are batched.
        err = np.array([
            decoding_errors(c, model.sample(sets_per_code, n, rng=g), method=method).mean()
            for c, g in zip(codes, sets, strict=True)
        ])
        storage = np.array([c.storage for c in codes], dtype=float)
        first = codes[0]
    else:
        first = setup.build(g_code)
        masks = model.sample(n_trials * sets_per_code, n, rng=g_sets)
        err = decoding_errors(first, masks, method=method).reshape(n_trials, -1).mean(axis=1)
        storage = np.full(n_trials, float(first.storage))
    fraction = _straggler_fraction(model, marginal, n)
    return {
        "err": err,
        "storage": storage,
        "closed_form": _closed_form(setup, first, model, method),
        "uncoded_error": fraction,
        # The source text's claim E[err] <= O(1/((n-s) rho)), rho n = row weight, constant 1.
        "source_text_rate": (n / ((1.0 - fraction) * n * row_weight)
                             if setup.uses_row_weight else float("nan")),
    }


def _closed_form(setup: _CodeSetup, code: Any, model: Any, method: str) -> float:
    if setup.closed_form is None or method != "lstsq":
        return float("nan")
    value = setup.closed_form(code, model)
    return float("nan") if value is None else float(value)


# ------------------------------------------------------------------------- storage frontier


def _frontier_family(family: Any, n: int, owner: str) -> ModelSpec:
    """A code whose storage is its row weight, with every other required parameter given."""
    spec = model_spec(family, "family", owner)
    tags = CODES.tags(spec.name)
    if tags.get("family") != "approximate" or tags.get("storage_param") != "row_weight":
        raise ValueError(
            f"The 'family' parameter of {owner} must be an approximate code whose storage is "
            f"its row_weight (tags family='approximate', storage_param='row_weight'); "
            f"{spec.name!r} has family={tags.get('family')!r}, "
            f"storage_param={tags.get('storage_param')!r}."
        )
    for key in _SET_BY_EXPERIMENT:
        if key in spec.params:
            raise ValueError(
                f"The 'family' table of {owner} must not set {key!r}: the frontier sets it."
            )
    CODES.check_params(spec.name, {"n": n, "row_weight": 1, **spec.params},
                       ignore=("rng",), skip=("rng",))
    return spec


def _check_storage_frontier(
    *, family, n, s, stragglers, epsilon, method, confidence, batch_size, n_trials=None
) -> None:
    owner = "experiment 'storage-frontier'"
    n = check_int("n", n, low=2, owner=owner)
    spec = _frontier_family(family, n, owner)
    batch_size = check_int("batch_size", batch_size, low=2, owner=owner)
    if (n_trials is not None and CODES.tags(spec.name).get("randomized")
            and n_trials <= batch_size):
        raise ValueError(
            f"The trials of {owner} ([trials] n, or a batch of it: {n_trials}) are the "
            f"straggler sets per row weight; the randomized family {spec.name!r} draws a "
            f"fresh code every batch_size = {batch_size} of them and needs at least 2 codes: "
            f"give more trials than batch_size, or a smaller batch_size."
        )
    s = check_int("s", s, low=1, high=n - 1, owner=owner)
    model, _, _ = _stragglers(stragglers, s, owner)
    model.sample(1, n, rng=0)  # the model's own rules for this n (validation only)
    check_real("epsilon", epsilon, low=0.0, high=1.0, low_open=True, high_open=True,
               owner=owner)
    check_choice("method", method, METHODS, owner=owner)
    check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True,
               owner=owner)


FRONTIER_OUTPUTS = {
    name: "scalar"
    for name in ("storage", "err_mean", "err_ci_high", "exact", "source_text",
                 "log_n_over_eps", "lower_bound")
}


@register_experiment(
    "storage-frontier",
    summary="Smallest storage meeting E[err] <= epsilon, with the theory curves",
    check=_check_storage_frontier,
    outputs=FRONTIER_OUTPUTS,
)
def storage_frontier_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    family: str | dict = "bgc",
    n: int = 200,
    s: int = 40,
    stragglers: str | dict = "fixed",
    epsilon: float = 0.01,
    method: str = "lstsq",
    confidence: float = 0.95,
    batch_size: int = 50,
) -> dict:
    """Measured storage frontier of ``family`` at one ``epsilon`` (``n_trials`` sets per weight).

    Parameters
    ----------
    family : str or table
        An approximate code whose storage is its row weight, by name or as a table with
        its other parameters, e.g. { name = "sgc", p = 0.2 }.
    n : int
        Workers (= partitions).
    s : int
        Stragglers of the "fixed" model; the theory curves use it.
    stragglers : str or table
        Straggler model (default "fixed": s uniformly random stragglers).
    epsilon : float
        Target expected error, in (0, 1).
    method : str
        Decoder: "lstsq", "one-step" or "exact".
    confidence : float
        Level of the upper confidence bound that must meet epsilon.
    batch_size : int
        Straggler sets per code draw.

    Returns
    -------
    dict
        Scalars: ``storage`` (smallest storage whose upper confidence bound on E[err] is at
        most ``epsilon``; NaN when no row weight up to ``n`` meets it), ``err_mean`` and
        ``err_ci_high`` at that storage, and the theory values ``exact`` (s+1),
        ``source_text`` (n/((n-s) epsilon)), ``log_n_over_eps`` (log(n)/epsilon) and
        ``lower_bound`` (log(1/epsilon)/log(n/s), constants set to 1).
    """
    owner = "experiment 'storage-frontier'"
    spec = _frontier_family(family, n, owner)
    model, _, _ = _stragglers(stragglers, s, owner)
    result = storage_frontier(
        spec.name, epsilon, n, model, method=method, confidence=confidence,
        n_trials=n_trials, batch_size=batch_size, rng=rng, code_params=spec.params or None,
    )
    point = result.points[0]
    found = point.storage is not None
    return {
        "storage": float(point.storage) if found else float("nan"),
        "err_mean": float(point.estimate.mean) if found else float("nan"),
        "err_ci_high": float(point.estimate.ci_high) if found else float("nan"),
        "exact": float(exact_storage(s)),
        "source_text": float(source_text_storage(n, s, epsilon)),
        "log_n_over_eps": float(log_storage(n, epsilon)),
        "lower_bound": float(storage_lower_bound(n, s, epsilon)),
    }
