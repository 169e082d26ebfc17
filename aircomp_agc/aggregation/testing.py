r"""Conformance checks for aggregators: the contract any aggregator (ours or a user's) meets.

Like scikit-learn's ``check_estimator`` (and :mod:`aircomp_agc.coding.testing` for codes and
straggler models), :func:`check_aggregator` runs an aggregator on a few rounds and checks
what the rest of the toolkit relies on::

    from aircomp_agc.aggregation.testing import check_aggregator
    check_aggregator(CodedAirComp(code=code, noise_var=0.1))
    check_aggregator(CommonSupportTopK(CodedAirComp(code=code, noise_var=0.1), keep=8))

An aggregator is an object with ``round(gradients, *, batch=1, ..., rng=None)`` returning
a result with ``estimate``, ``exact`` and ``error_parts`` ``[batch, D]``, ``responders`` and
``decoder_weights`` ``[batch, n]``. A stateful aggregator (a compressor with error
feedback) has ``reset()``; the checks call it before every run they compare. An
aggregator whose output does not depend on ``rng`` says so with ``randomized = False``.

A failed check raises :class:`~aircomp_agc.coding.testing.ConformanceError` naming it; a
passed run returns a :class:`~aircomp_agc.coding.testing.ConformanceReport`.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._checks import check_int, check_real
from ..coding.testing import ConformanceError, ConformanceReport
from .messages import GradientModel

__all__ = ["ConformanceError", "ConformanceReport", "check_aggregator"]

#: Seeds of the determinism checks.
_SEEDS = (0, 1, 2)


def _fail(entry: str, check: str, message: str) -> None:
    raise ConformanceError(f"{entry}: check '{check}' failed: {message}")


def _run(agg, g, batch: int, rng):
    if callable(getattr(agg, "reset", None)):
        agg.reset()
    return agg.round(g, batch=batch, rng=rng)


def _arrays(res) -> dict[str, np.ndarray]:
    out = {"estimate": res.estimate, "exact": res.exact, "responders": res.responders,
           "decoder_weights": res.decoder_weights}
    out.update({f"error_parts[{k!r}]": v for k, v in res.error_parts.items()})
    return {k: np.asarray(v) for k, v in out.items()}


def check_aggregator(agg: Any, gradients=None, *, batch: int = 8,
                     rtol: float = 1e-9) -> ConformanceReport:
    r"""Check that an aggregator follows the aggregation contract.

    Parameters
    ----------
    agg : aggregator
        A configured instance (``round``; ``code`` when ``gradients`` is omitted).
    gradients : float [k, D], optional
        Partition gradients (default: 16 coordinates from a
        :class:`~aircomp_agc.aggregation.GradientModel` with heterogeneity ratio 0.5,
        ``k = agg.code.n_partitions``).
    batch : int >= 2
        Rounds per call.
    rtol : float > 0
        Relative tolerance of the identities (parts add up to the error; ``exact`` is the
        sum of the partition gradients): ``|x - y| <= rtol (||estimate|| + ||exact||)``
        per row.

    Returns
    -------
    ConformanceReport

    Raises
    ------
    ConformanceError
        Naming the failed check:

        - ``signature``: ``round(gradients, *, batch, ..., rng)`` with ``batch`` and ``rng``
          keyword-only and ``rng`` last;
        - ``shapes``: ``estimate`` and ``exact`` finite float ``[batch, D]``; ``exact`` is
          ``sum_j g_j``;
        - ``parts``: ``error_parts`` a non-empty dict of ``[batch, D]`` arrays adding up to
          ``estimate - exact`` (to ``rtol``);
        - ``responders``: ``responders`` bool ``[batch, n]``, ``decoder_weights`` finite
          ``[batch, n]`` and zero off the responders (``n = code.n_workers`` when known);
        - ``channel_uses`` (when present): finite, ``>= 0``, a scalar or ``[batch]``;
        - ``inputs``: the gradients are not modified;
        - ``batched``: gradients ``[batch, k, D]`` give ``[batch, D]`` results with the
          per-row exact sums;
        - ``determinism``: the same ``rng`` (int or Generator) gives identical results;
          stateful aggregators replay the same two rounds after ``reset()``;
        - ``rng``: other seeds give other estimates, and the rows of a batch differ
          (unless ``randomized`` is False);
        - ``bad_input``: NaN gradients, and gradients with the wrong number of partitions,
          raise a one-line ``ValueError``.
    """
    entry = type(agg).__name__
    batch = check_int("batch", batch, low=2, owner="check_aggregator")
    rtol = check_real("rtol", rtol, low=0.0, low_open=True, owner="check_aggregator")
    if not callable(getattr(agg, "round", None)):
        raise TypeError("The 'agg' parameter of check_aggregator must have a 'round' method; "
                        f"got {type(agg).__name__}.")
    code = getattr(agg, "code", None)
    if gradients is None:
        if code is None:
            raise ValueError("The 'gradients' parameter of check_aggregator must be given for "
                             "an aggregator without a 'code'; got None.")
        gradients = GradientModel.from_ratio(0.5, energy=16.0, dim=16).sample(
            code.n_partitions, rng=12345)
    g = np.asarray(gradients, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError("The 'gradients' parameter of check_aggregator must have shape "
                         f"[k, D]; got {g.shape}.")
    k, dim = g.shape
    done: list[str] = []

    _check_signature(entry, agg)
    done.append("signature")

    original = g.copy()
    res = _run(agg, g, batch, _SEEDS[0])
    exact = np.broadcast_to(original.sum(axis=0), (batch, dim))
    _check_result(entry, res, exact, batch, dim, rtol, code)
    done += ["shapes", "parts", "responders"]
    if hasattr(res, "channel_uses"):
        uses = np.asarray(res.channel_uses, dtype=np.float64)
        if uses.shape not in ((), (batch,)) or not np.all(np.isfinite(uses)) \
                or np.any(uses < 0):
            _fail(entry, "channel_uses", f"channel_uses {uses!r}; expected finite values "
                                         f">= 0, a scalar or [{batch}]")
        done.append("channel_uses")
    if not np.array_equal(g, original):
        _fail(entry, "inputs", "round modified the gradients it was given")
    done.append("inputs")

    rng_g = np.random.default_rng(7)
    gb = g[None] * (1.0 + 0.1 * rng_g.standard_normal((batch, 1, 1)))
    res_b = _run(agg, gb, batch, _SEEDS[0])
    _check_result(entry, res_b, gb.sum(axis=1), batch, dim, rtol, code, check="batched")
    done.append("batched")

    first = _arrays(res)
    for again in (_run(agg, g, batch, _SEEDS[0]),
                  _run(agg, g, batch, np.random.default_rng(_SEEDS[0]))):
        other = _arrays(again)
        if other.keys() != first.keys():
            _fail(entry, "determinism", f"two runs with rng={_SEEDS[0]} report different "
                                        f"fields: {sorted(first)} vs {sorted(other)}")
        for name, value in first.items():
            if not np.array_equal(value, other[name]):
                _fail(entry, "determinism", f"two runs with rng={_SEEDS[0]} differ in {name}")
    if callable(getattr(agg, "reset", None)):  # the state carried to a second round
        second = []
        for _ in range(2):
            _run(agg, g, batch, _SEEDS[0])
            second.append(_arrays(agg.round(g, batch=batch, rng=_SEEDS[1])))
        for name, value in second[0].items():
            if not np.array_equal(value, second[1][name]):
                _fail(entry, "determinism", f"after reset(), the second round with the same "
                                            f"seeds differs in {name}")
    done.append("determinism")

    if getattr(agg, "randomized", True):
        same = [np.array_equal(res.estimate, _run(agg, g, batch, s).estimate)
                for s in _SEEDS[1:]]
        if all(same):
            _fail(entry, "rng", f"seeds {list(_SEEDS)} give the same estimates (an aggregator "
                                f"that ignores rng must say randomized = False)")
        est = np.asarray(res.estimate)
        if all(np.array_equal(est[0], est[i]) for i in range(1, batch)):
            _fail(entry, "rng", f"the {batch} rows of a batch are identical; rows must be "
                                f"independent realizations")
        done.append("rng")

    _check_bad_input(entry, agg, g, batch, k)
    done.append("bad_input")
    if callable(getattr(agg, "reset", None)):
        agg.reset()
    return ConformanceReport(entry, tuple(done))


def _check_signature(entry: str, agg) -> None:
    sig = inspect.signature(agg.round)
    params = list(sig.parameters.values())
    kinds = {p.name: p.kind for p in params}
    ok = (
        bool(params) and params[-1].name == "rng"
        and kinds.get("rng") is inspect.Parameter.KEYWORD_ONLY
        and kinds.get("batch") is inspect.Parameter.KEYWORD_ONLY
    )
    if not ok:
        _fail(entry, "signature", f"round{sig}; expected round(gradients, *, batch=1, ..., "
                                  "rng=None)")


def _check_result(entry: str, res, exact, batch: int, dim: int, rtol: float, code,
                  check: str = "shapes") -> None:
    for name in ("estimate", "exact", "error_parts", "responders", "decoder_weights"):
        if not hasattr(res, name):
            _fail(entry, check, f"the result has no '{name}'")
    est, ex = np.asarray(res.estimate), np.asarray(res.exact)
    for name, arr in (("estimate", est), ("exact", ex)):
        if arr.shape != (batch, dim) or not np.issubdtype(arr.dtype, np.floating):
            _fail(entry, check, f"{name} is {arr.dtype} {arr.shape}; expected float "
                                f"[{batch}, {dim}]")
        if not np.all(np.isfinite(arr)):
            _fail(entry, check, f"{name} has non-finite entries")
    scale = np.linalg.norm(est, axis=1) + np.linalg.norm(ex, axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    worst = np.max(np.linalg.norm(ex - exact, axis=1) / scale)
    if worst > rtol:
        _fail(entry, check, f"exact differs from the sum of the partition gradients by "
                            f"{worst:.3g} (relative)")
    parts = res.error_parts
    if not isinstance(parts, dict) or not parts:
        _fail(entry, "parts", "error_parts must be a non-empty dict of [batch, D] arrays")
    for name, p in parts.items():
        if np.shape(p) != (batch, dim):
            _fail(entry, "parts", f"error_parts[{name!r}] has shape {np.shape(p)}; expected "
                                  f"[{batch}, {dim}]")
    gap = np.linalg.norm(sum(np.asarray(p, dtype=np.float64) for p in parts.values())
                         - (est - ex), axis=1) / scale
    if not np.all(gap <= rtol):
        _fail(entry, "parts", f"the error parts {sorted(parts)} miss estimate - exact by "
                              f"{np.max(gap):.3g} (relative; tolerance {rtol:g})")
    resp, w = np.asarray(res.responders), np.asarray(res.decoder_weights)
    n = code.n_workers if code is not None else resp.shape[-1] if resp.ndim else 0
    if resp.dtype != bool or resp.shape != (batch, n):
        _fail(entry, "responders", f"responders is {resp.dtype} {resp.shape}; expected bool "
                                   f"[{batch}, {n}]")
    if w.shape != (batch, n) or not np.all(np.isfinite(w)):
        _fail(entry, "responders", f"decoder_weights is {w.dtype} {w.shape}; expected finite "
                                   f"float [{batch}, {n}]")
    if np.any(w[~resp] != 0):
        _fail(entry, "responders", "decoder_weights are nonzero for devices that did not "
                                   "respond")


def _check_bad_input(entry: str, agg, g: np.ndarray, batch: int, k: int) -> None:
    bad = g.copy()
    bad[0, 0] = np.nan
    wrong = np.zeros((k + 1, g.shape[1]))
    for what, value in (("NaN gradients", bad), (f"gradients with {k + 1} partitions", wrong)):
        try:
            _run(agg, value, batch, _SEEDS[0])
        except ValueError as err:
            if "\n" in str(err).strip():
                _fail(entry, "bad_input", f"{what}: the ValueError message spans several "
                                          f"lines: {str(err)!r}")
        except Exception as err:  # noqa: BLE001 - reporting the wrong exception type
            _fail(entry, "bad_input", f"{what} raised {type(err).__name__}: {err}; expected a "
                                      "ValueError")
        else:
            _fail(entry, "bad_input", f"{what} were accepted; expected a ValueError")
