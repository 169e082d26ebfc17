"""Gradient-coding experiments: decoding error of a code, storage frontiers.

Both are thin adapters from scenario parameters to :mod:`aircomp_agc.coding`; all the
maths lives there.
"""

from __future__ import annotations

from math import comb

import numpy as np

from .._checks import check_choice, check_int, check_real
from ..coding import decoding_errors, list_codes, make_code
from ..coding.decoders import METHODS
from ..coding.frontier import (
    exact_storage,
    log_storage,
    source_text_storage,
    storage_frontier,
    storage_lower_bound,
)
from ..coding.registry import code_family, code_parameters
from ..coding.stragglers import make_stragglers
from .registry import register_experiment

__all__ = ["decoding_error_experiment", "closed_form_error", "storage_frontier_experiment"]


def closed_form_error(code: str, n: int, s: int, row_weight: int, method: str) -> float:
    """Known closed form of E[err] under ``s`` uniformly random stragglers, else NaN.

    - exact codes (``s`` within their tolerance): 0;
    - ``approx-frc`` with ``row_weight | n``: ``C(s, d) / C(n, d)`` (a group is lost only when
      all its ``d`` members straggle);
    - ``uncoded`` with the one-step (sum of responders) decoder: ``s / n``.
    """
    family = code_family(code)
    if family == "exact":
        return 0.0
    if code == "approx-frc" and n % row_weight == 0:
        return comb(s, row_weight) / comb(n, row_weight)
    if code == "uncoded":
        return s / n
    return float("nan")


def _builder(code: str, n: int, s: int, row_weight: int):
    """``rng -> Code`` for the named construction with the scenario's parameters."""
    params = set(code_parameters(code))
    kwargs: dict = {"n": n}
    if "row_weight" in params:
        kwargs["row_weight"] = row_weight
    if "s" in params and code_family(code) == "exact":
        kwargs["s"] = s
    randomized = "rng" in params and code != "cyclic-mds"
    if not randomized:
        fixed = make_code(code, **kwargs)
        return (lambda _rng: fixed), False
    return (lambda rng: make_code(code, rng=rng, **kwargs)), True


_STRAGGLER_MODELS = ("fixed", "bernoulli")


def _check_decoding_error(
    *, code, n, s, row_weight, stragglers, p, method, sets_per_code
) -> None:
    """Reject a point before any computation: build its code once and check the rest."""
    owner = "experiment 'decoding-error'"
    check_choice("stragglers", stragglers, _STRAGGLER_MODELS, owner=owner)
    check_choice("method", method, METHODS, owner=owner)
    check_int("sets_per_code", sets_per_code, low=1, owner=owner)
    n = check_int("n", n, low=1, owner=owner)
    if stragglers == "fixed":
        check_int("s", s, low=0, high=n - 1, owner=owner)
    else:
        check_real("p", p, low=0.0, high=1.0, high_open=True, owner=owner)
    build, _ = _builder(code, n, s, row_weight)
    build(np.random.default_rng(0))  # construction-specific rules (divisibility, parity)


@register_experiment(
    "decoding-error",
    summary="Normalized decoding error ||B_T^T a - 1||^2/k of a code under random stragglers",
    check=_check_decoding_error,
)
def decoding_error_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    code: str = "bgc",
    n: int = 100,
    s: int = 20,
    row_weight: int = 5,
    stragglers: str = "fixed",
    p: float = 0.2,
    method: str = "lstsq",
    sets_per_code: int = 20,
) -> dict:
    """Decoding error of ``code`` with ``n`` workers under a straggler model.

    One trial draws a fresh encoding (for randomized constructions) and averages the error
    over ``sets_per_code`` straggler sets, so trials are i.i.d. and the engine's confidence
    interval covers both sources of randomness. ``stragglers`` is ``"fixed"`` (``s``
    uniformly random stragglers) or ``"bernoulli"`` (each worker straggles with
    probability ``p``). Exact codes use ``s`` as their design tolerance.

    Returns
    -------
    dict
        ``err`` [n_trials] per-trial mean error, ``storage`` (scalar), ``closed_form``
        (scalar: the known E[err] for this setting, NaN where none is implemented), and two
        reference scalars: ``source_text_rate`` = ``n / ((n - s) row_weight)`` (the source
        text's O(1/((n-s) rho)) with constant 1) and ``s_over_n`` (the error of decoding
        as if uncoded, i.e. of losing the stragglers' share).
    """
    model = make_stragglers("fixed", s=s) if stragglers == "fixed" else make_stragglers(
        "bernoulli", p=p)
    build, randomized = _builder(code, n, s, row_weight)
    seeds = rng.spawn(n_trials)
    err = np.empty(n_trials)
    code_obj = build(None) if not randomized else None
    for t, g in enumerate(seeds):  # one encoding per trial; the sets are batched
        c = build(g) if randomized else code_obj
        masks = model.sample(c.n_workers, sets_per_code, g)
        err[t] = decoding_errors(c, masks, method=method).mean()
    storage = (code_obj or build(np.random.default_rng(0))).storage
    closed = (
        closed_form_error(code, n, s, row_weight, method)
        if stragglers == "fixed" and (code != "uncoded" or method == "one-step")
        else float("nan")
    )
    fixed = stragglers == "fixed"
    return {
        "err": err,
        "storage": float(storage),
        "closed_form": closed,
        # References for the source text's claim E[err] <= O(1/((n-s) rho)), rho n = row
        # weight (constant 1), and the error of ignoring the stragglers, s/n.
        "source_text_rate": n / ((n - s) * row_weight) if fixed else float("nan"),
        "s_over_n": s / n if fixed else p,
    }


def _check_storage_frontier(
    *, family, n, s, epsilon, method, confidence, batch_size
) -> None:
    owner = "experiment 'storage-frontier'"
    approximate = [c for c, fam, _ in list_codes() if fam == "approximate"]
    check_choice("family", family, approximate, owner=owner)
    required = [
        name for name, prm in code_parameters(family).items()
        if prm.default is prm.empty and name not in ("n", "row_weight")
    ]
    if required:
        raise ValueError(
            f"The 'family' parameter of {owner} must be a code built from n and row_weight "
            f"alone; {family!r} also requires {', '.join(repr(r) for r in required)}."
        )
    n = check_int("n", n, low=2, owner=owner)
    check_int("s", s, low=1, high=n - 1, owner=owner)
    check_real("epsilon", epsilon, low=0.0, high=1.0, low_open=True, owner=owner)
    check_choice("method", method, METHODS, owner=owner)
    check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True,
               owner=owner)
    check_int("batch_size", batch_size, low=2, owner=owner)


@register_experiment(
    "storage-frontier",
    summary="Smallest storage meeting E[err] <= epsilon, with the theory curves",
    check=_check_storage_frontier,
)
def storage_frontier_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    family: str = "bgc",
    n: int = 200,
    s: int = 40,
    epsilon: float = 0.01,
    method: str = "lstsq",
    confidence: float = 0.95,
    batch_size: int = 50,
) -> dict:
    """Measured storage frontier of ``family`` at one ``epsilon`` (``n_trials`` sets per weight).

    Returns scalars: ``storage`` (smallest storage whose upper confidence bound on E[err] is at
    most ``epsilon``; NaN when no row weight up to ``n`` meets it), ``err_mean`` and
    ``err_ci_high`` at that storage, and the theory values ``exact`` (s+1),
    ``source_text`` (n/((n-s) epsilon)), ``log_n_over_eps`` (log(n)/epsilon) and
    ``lower_bound`` (log(1/epsilon)/log(n/s), constants set to 1).
    """
    result = storage_frontier(
        family, epsilon, n, make_stragglers("fixed", s=s), method=method,
        confidence=confidence, n_trials=n_trials, batch_size=batch_size, rng=rng,
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
