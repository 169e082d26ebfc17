"""Monte-Carlo stopping and aggregation: how many trials a sweep point gets, and what it reports.

A sweep point is computed by calling its experiment on trial batches,

.. code-block:: python

    fn(rng=default_rng(point_seed(master_seed, point_key, b)), n_trials=m_b, **point)

for ``b = 0, 1, ...``. The batch sizes ``m_b`` are a fixed function of the stopping rule, and
the stream of batch ``b`` depends only on the master seed, the point's key and ``b``
(:func:`aircomp_agc.engine.seeds.point_seed`), so a point's result is the same whatever
executor, worker or order computed it, and after any number of resumes.

Two stopping rules (:class:`StoppingRule`):

- **fixed**: ``n`` trials (in batches of ``batch`` when given, else in one call);
- **precision target**: batches of ``batch`` trials until, with at least ``min`` trials,
  the 95% confidence half-width of the chosen metric satisfies
  ``h <= rel_tol * |mean|``, or until ``max`` trials (the cap; the last batch is clipped).

Aggregation of per-trial samples (:func:`summarize`) gives the toolkit's one estimate
type, :class:`~aircomp_agc._checks.Estimate` (mean, standard error, Student-t interval).
Per-trial curves (``[n_trials, L]``, an experiment's ``"curve"`` outputs) are
concatenated along the trials and summarized column by column (:func:`summarize_curve`):
one :class:`~aircomp_agc._checks.Estimate` whose fields are length-``L`` arrays; their
index values (the experiment's ``curve_index`` output, else ``0..L-1``) are kept in
:attr:`PointResult.index_values`.
Scalar metrics are deterministic: they are taken from the first batch and reported
without an interval. Python warnings an experiment raises are recorded with the point
(:attr:`PointResult.warnings`) so that they reach the user even from worker processes.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from .._checks import Estimate, check_int, check_real, t_quantile
from .seeds import point_seed

__all__ = [
    "ExperimentError",
    "PointResult",
    "PointTask",
    "StoppingRule",
    "compute_point",
    "run_point",
    "summarize",
    "summarize_curve",
]

CONFIDENCE = 0.95


class ExperimentError(ValueError):
    """An experiment rejected its parameters or returned something outside the contract."""


@dataclass(frozen=True)
class StoppingRule:
    """How many trials a sweep point gets (the scenario's ``[trials]`` table).

    Parameters
    ----------
    n : int or None
        Fixed trial count (``>= 1``). Exactly one of ``n`` and ``rel_tol`` is set.
    rel_tol : float or None
        Precision target in ``(0, inf)``: stop once the 95% CI half-width of ``metric`` is
        at most ``rel_tol * |mean|``.
    metric : str or None
        The per-trial metric the precision target watches (required with ``rel_tol``).
    min : int
        Trials before the target is first checked (default 100).
    max : int
        Cap on trials (default 100000); reaching it stops the point with ``stop == "cap"``.
    batch : int or None
        Trials per experiment call. Default: ``n`` in fixed mode (one call), ``min`` in
        precision mode.
    """

    n: int | None = None
    rel_tol: float | None = None
    metric: str | None = None
    min: int = 100
    max: int = 100_000
    batch: int | None = None

    def __post_init__(self) -> None:
        owner = "the trials spec"
        if (self.n is None) == (self.rel_tol is None):
            raise ValueError(
                "The trials spec must set exactly one of 'n' (fixed count) and 'rel_tol' "
                f"(precision target); got n={self.n!r}, rel_tol={self.rel_tol!r}."
            )
        if self.n is not None:
            object.__setattr__(self, "n", check_int("n", self.n, low=1, owner=owner))
        else:
            rel_tol = check_real("rel_tol", self.rel_tol, low=0.0, low_open=True, owner=owner)
            object.__setattr__(self, "rel_tol", rel_tol)
            if not isinstance(self.metric, str) or not self.metric:
                raise ValueError(
                    "The 'metric' parameter of the trials spec must name a per-trial metric "
                    f"when 'rel_tol' is set; got {self.metric!r}."
                )
        lo = check_int("min", self.min, low=2, owner=owner)
        object.__setattr__(self, "min", lo)
        object.__setattr__(self, "max", check_int("max", self.max, low=lo, owner=owner))
        if self.batch is not None:
            object.__setattr__(self, "batch", check_int("batch", self.batch, low=1, owner=owner))

    @classmethod
    def from_spec(cls, spec: StoppingRule | Mapping[str, Any] | Any) -> StoppingRule:
        """Build a rule from a rule, a mapping, or any object with the same attribute names."""
        if isinstance(spec, cls):
            return spec
        names = ("n", "rel_tol", "metric", "min", "max", "batch")
        if isinstance(spec, Mapping):
            unknown = sorted(set(spec) - set(names))
            if unknown:
                raise ValueError(
                    f"Unknown trials key(s) {', '.join(map(repr, unknown))}; allowed: "
                    f"{', '.join(names)}."
                )
            values = {k: spec[k] for k in names if k in spec and spec[k] is not None}
        else:
            values = {k: getattr(spec, k) for k in names if getattr(spec, k, None) is not None}
        return cls(**values)

    @property
    def mode(self) -> str:
        """``"fixed"`` or ``"precision"``."""
        return "fixed" if self.n is not None else "precision"

    def batch_size(self, done: int) -> int:
        """Trials of the next batch after ``done`` trials (0 when no batch remains)."""
        if self.n is not None:
            return min(self.batch or self.n, self.n - done)
        return min(self.batch or self.min, self.max - done)

    def smallest_batch(self) -> int:
        """The fewest trials any experiment call of this rule can get (a clipped last batch)."""
        total, size = (self.n, self.batch or self.n) if self.n is not None else (
            self.max, self.batch or self.min)
        return min(size, total % size or size)

    def as_dict(self) -> dict[str, Any]:
        """The rule as plain JSON-able values (what the manifest and fingerprint record)."""
        fixed = ("n", "batch")
        keys = fixed if self.mode == "fixed" else ("rel_tol", "metric", "min", "max", "batch")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def summarize(samples: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    r"""Mean and two-sided Student-t confidence interval of 1-D per-trial ``samples``.

    .. math:: \bar x \pm t_{(1+c)/2,\,n-1}\, s / \sqrt{n},\qquad
              s^2 = \tfrac{1}{n-1}\sum_i (x_i - \bar x)^2

    The toolkit's one estimate, equal (bit for bit, tested) to
    :func:`aircomp_agc._checks.mean_ci`, computed in one pass of array work without its
    argument checks: the engine summarizes every metric of every point (measured at 1,000
    samples: 44 us against 183 us for ``mean_ci``, on a loaded 2-core machine). It also
    covers the two cases a sweep point can legitimately produce and ``mean_ci`` refuses:
    a single trial (``nan`` interval) and non-finite samples (an infinite MSE, say), which
    propagate into the mean with a ``nan`` interval.

    Parameters
    ----------
    samples : [n], float
        Per-trial values (``n >= 1``).
    confidence : float in (0, 1)

    Returns
    -------
    Estimate
    """
    x = np.asarray(samples, dtype=np.float64)
    n = int(x.size)
    if x.ndim != 1 or n == 0:
        raise ValueError(f"summarize needs a non-empty 1-D sample array; got shape {x.shape}.")
    with np.errstate(invalid="ignore"):
        mean = float(x.sum()) / n  # numpy's mean: the same pairwise sum, divided
        if n < 2 or not math.isfinite(mean):
            return Estimate(mean, math.nan, math.nan, math.nan, n, confidence)
        d = x - mean
        np.square(d, out=d)  # numpy's var: squared deviations, pairwise sum (no BLAS)
    se = math.sqrt(float(d.sum()) / (n - 1)) / math.sqrt(n)
    half = float(t_quantile(n - 1, 0.5 * (1 + confidence))) * se
    return Estimate(mean, se, mean - half, mean + half, n, confidence)


def summarize_curve(samples: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """:func:`summarize` of each column of per-trial curves ``samples[n, L]`` at once.

    Column ``j`` of the result's ``mean``, ``std_err``, ``ci_low`` and ``ci_high`` (arrays
    of length ``L``) equals ``summarize(samples[:, j])`` bit for bit (each column is summed
    as one contiguous row, as :func:`summarize` sums its samples), and
    :func:`aircomp_agc._checks.mean_ci` of a column of finite values; a column holding a
    non-finite value gets that mean (``nan`` or ``inf``) and a ``nan`` interval, a single
    trial ``nan`` intervals. ``n`` is the number of trials.

    Parameters
    ----------
    samples : [n, L], float
        One curve per trial (``n >= 1``, ``L >= 1``).
    confidence : float in (0, 1)

    Returns
    -------
    Estimate
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(
            f"summarize_curve needs a non-empty 2-D [trials, L] array; got shape {x.shape}."
        )
    n = x.shape[0]
    xt = np.ascontiguousarray(x.T)  # [L, n]: each column a contiguous row, summed pairwise
    with np.errstate(invalid="ignore", over="ignore"):
        mean = xt.sum(axis=1) / n
        if n < 2:
            nan = np.full_like(mean, math.nan)
            return Estimate(mean, nan, nan.copy(), nan.copy(), n, confidence)
        d = xt - mean[:, None]
        np.square(d, out=d)
        se = np.sqrt(d.sum(axis=1) / (n - 1)) / math.sqrt(n)
    se[~np.isfinite(mean)] = math.nan
    half = float(t_quantile(n - 1, 0.5 * (1 + confidence))) * se
    return Estimate(mean, se, mean - half, mean + half, n, confidence)


@dataclass(frozen=True)
class PointResult:
    """What one sweep point produced.

    Attributes
    ----------
    key : str
        The point's canonical key.
    metrics : dict[str, Estimate | float | int]
        Per-trial metrics summarized; scalar metrics as returned (first batch).
    n_trials, n_batches : int
        Trials and experiment calls spent.
    stop : str
        ``"fixed"``, ``"converged"`` (precision target met) or ``"cap"`` (``max`` reached).
    seconds : float
        Compute time of the point (wall clock, in the worker).
    warnings : tuple of str
        Distinct Python warnings the experiment raised at this point (``Category: text``).
    index_values : tuple or None
        The index values of the curve metrics (length ``L``), None without curves. A curve
        metric is an :class:`Estimate` whose fields are arrays (see :meth:`curves`).
    """

    key: str
    metrics: dict[str, Estimate | float | int]
    n_trials: int
    n_batches: int
    stop: str
    seconds: float = field(default=0.0, compare=False)
    warnings: tuple[str, ...] = ()
    index_values: tuple[float | int, ...] | None = None

    def curves(self) -> dict[str, Estimate]:
        """The curve metrics (Estimates with array fields), in output order."""
        return {name: m for name, m in self.metrics.items() if _is_curve(m)}

    def to_record(self) -> dict[str, Any]:
        """JSON-able form (floats survive ``json`` round trips exactly)."""
        metrics = {
            name: {f: _plain(getattr(m, f)) for f in _ESTIMATE_FIELDS}
            if isinstance(m, Estimate)
            else {"value": m}
            for name, m in self.metrics.items()
        }
        record = {
            "key": self.key,
            "metrics": metrics,
            "n_trials": self.n_trials,
            "n_batches": self.n_batches,
            "stop": self.stop,
            "seconds": self.seconds,
        }
        if self.warnings:
            record["warnings"] = list(self.warnings)
        if self.index_values is not None:
            record["index_values"] = list(self.index_values)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PointResult:
        metrics: dict[str, Estimate | float | int] = {}
        for name, m in record["metrics"].items():
            if set(m) == {"value"}:
                metrics[name] = m["value"]
            elif isinstance(m["mean"], list):  # a curve: its arrays back as float64
                metrics[name] = Estimate(**{
                    f: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v
                    for f, v in m.items()})
            else:
                metrics[name] = Estimate(**m)
        index = record.get("index_values")
        return cls(
            key=record["key"],
            metrics=metrics,
            n_trials=int(record["n_trials"]),
            n_batches=int(record["n_batches"]),
            stop=str(record["stop"]),
            seconds=float(record.get("seconds", 0.0)),
            warnings=tuple(record.get("warnings", ())),
            index_values=None if index is None else tuple(index),
        )


#: The :class:`Estimate` fields a record keeps (the rest are constant for the engine).
_ESTIMATE_FIELDS = ("mean", "std_err", "ci_low", "ci_high", "n", "converged")


def _is_curve(m: Any) -> bool:
    return isinstance(m, Estimate) and np.ndim(m.mean) > 0


def _plain(value: Any) -> Any:
    """A record's field: arrays as lists of Python floats (``json`` round-trips them exactly,
    ``nan`` and ``inf`` included)."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def _split_metrics(
    ref: str, key: str, out: Any, n_trials: int, declared: Mapping[str, str] | None,
    curve_index: str | None = None,
) -> tuple[dict, dict, dict, np.ndarray | None]:
    """Separate an experiment's output into per-trial arrays, scalars and curves, checking
    shapes.

    ``declared`` (the experiment's ``outputs``, when it declares them) must name every
    metric with its kind, ``"trial"``, ``"scalar"`` or ``"curve"``; a curve (``[n_trials,
    L]``) must be declared. ``out[curve_index]``, when present, holds the curves' index
    values (1-D, length ``L``); it is returned last (None when absent).
    """
    if not isinstance(out, Mapping) or not out:
        raise ExperimentError(
            f"Experiment {ref!r} must return a non-empty dict of metrics; got "
            f"{type(out).__name__} at point {key}."
        )
    samples: dict[str, np.ndarray] = {}
    scalars: dict[str, float | int] = {}
    curves: dict[str, np.ndarray] = {}
    index = None
    for name, value in out.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ExperimentError(
                f"Metric {name!r} of experiment {ref!r} must be numeric; got dtype {arr.dtype} "
                f"at point {key}."
            )
        if curve_index is not None and name == curve_index:
            if arr.ndim != 1 or arr.size == 0:
                raise ExperimentError(
                    f"The curve index {name!r} of experiment {ref!r} must be a non-empty 1-D "
                    f"array of index values; got shape {arr.shape} at point {key}."
                )
            index = arr
            continue
        if arr.ndim == 0:
            item = arr.item()
            scalars[name] = float(item) if arr.dtype.kind in "bf" else int(item)
            kind = "scalar"
        elif arr.shape == (n_trials,) and (declared or {}).get(name) != "curve":
            samples[name] = arr.astype(np.float64, copy=False)
            kind = "trial"
        elif arr.ndim == 2 and arr.shape[0] == n_trials and arr.shape[1] >= 1 \
                and (declared or {}).get(name) == "curve":
            curves[name] = arr.astype(np.float64, copy=False)
            kind = "curve"
        else:
            what = f"be a scalar or have shape (n_trials,) = ({n_trials},)" \
                if (declared or {}).get(name) != "curve" else \
                f"have shape (n_trials, L) = ({n_trials}, L) (a 'curve' output)"
            hint = (" (a per-trial curve must be declared as a 'curve' output, with a "
                    "curve_index)" if arr.ndim == 2 and arr.shape[0] == n_trials
                    and (declared or {}).get(name) != "curve" else "")
            raise ExperimentError(
                f"Metric {name!r} of experiment {ref!r} must {what}; got shape {arr.shape} at "
                f"point {key}{hint}."
            )
        if declared is not None and declared.get(name) != kind:
            what = f"declared {declared[name]!r}" if name in declared else "not declared"
            raise ExperimentError(
                f"Metric {name!r} of experiment {ref!r} is a {kind} metric but {what} in "
                f"its outputs ({', '.join(sorted(declared))}) at point {key}."
            )
    lengths = {a.shape[1] for a in curves.values()}
    if len(lengths) > 1:
        raise ExperimentError(
            f"The curves of experiment {ref!r} must share one length L (one index); got "
            f"lengths {sorted(lengths)} at point {key}."
        )
    if index is not None and (not curves or index.size not in lengths):
        raise ExperimentError(
            f"The curve index {curve_index!r} of experiment {ref!r} must have the curves' "
            f"length {sorted(lengths) or 'none (no curve returned)'}; got {index.size} "
            f"values at point {key}."
        )
    return samples, scalars, curves, index


class _RunningMoments:
    """Count, mean and centred sum of squares merged batch by batch (Chan et al. 1979).

    Checking the precision target after every batch from the concatenated samples would
    copy O(n^2 / batch) numbers; merging per-batch moments costs O(batch) and is as stable
    as the two-pass formula.
    """

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray) -> None:
        nb = x.size
        mb = float(x.sum()) / nb
        d = x - mb
        np.square(d, out=d)
        m2b = float(d.sum())
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n

    def mean_half_width(self) -> tuple[float, float]:
        if self.n < 2:
            return self.mean, math.nan
        t = float(t_quantile(self.n - 1, 0.5 + CONFIDENCE / 2))
        return self.mean, t * math.sqrt(self.m2 / (self.n - 1) / self.n)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def run_point(
    fn: Callable[..., Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    key: str,
    master_seed: int,
    rule: StoppingRule,
    ref: str = "experiment",
) -> PointResult:
    """Compute one sweep point: call ``fn`` on seeded trial batches until ``rule`` stops.

    Parameters
    ----------
    fn : callable
        The experiment, ``fn(*, rng, n_trials, **params) -> dict``.
    params : dict
        The point's full keyword arguments.
    key : str
        The point's canonical key (selects the seeds).
    master_seed : int
        The scenario's seed.
    rule : StoppingRule
        Fixed count or precision target.
    ref : str, optional
        The experiment's name, for messages.

    Returns
    -------
    PointResult

    Raises
    ------
    ExperimentError
        If ``fn`` raises ``ValueError``/``TypeError`` (it rejected the parameters), returns
        something outside the contract, or the precision metric is missing or scalar.
    """
    start = time.perf_counter()
    declared = getattr(fn, "outputs", None)
    curve_index = getattr(fn, "curve_index", None)
    curve_chunks: dict[str, list[np.ndarray]] = {}
    index_values: np.ndarray | None = None
    chunks: dict[str, list[np.ndarray]] = {}
    scalars: dict[str, float | int] = {}
    order: list[str] = []
    seen_warnings: dict[str, None] = {}
    done = batch_index = 0
    stop = "fixed" if rule.mode == "fixed" else "cap"
    watch = _RunningMoments()
    while (size := rule.batch_size(done)) > 0:
        rng = np.random.default_rng(point_seed(master_seed, key, batch_index))
        out = _call(fn, rng, size, params, key, ref, seen_warnings)
        samples, batch_scalars, curves, index = _split_metrics(ref, key, out, size, declared,
                                                               curve_index)
        if batch_index == 0:
            order, scalars = [m for m in out if m != curve_index], batch_scalars
            if curves:
                length = next(iter(curves.values())).shape[1]
                index_values = index if index is not None else np.arange(length)
        elif curves and (index_values is None
                         or next(iter(curves.values())).shape[1] != len(index_values)
                         or (index is not None and not np.array_equal(index, index_values))):
            raise ExperimentError(
                f"The curves of experiment {ref!r} must have the same index in every batch "
                f"at point {key}; batch {batch_index} differs from batch 0."
            )
        for name, arr in samples.items():
            chunks.setdefault(name, []).append(arr)
        for name, arr in curves.items():
            curve_chunks.setdefault(name, []).append(arr)
        done += size
        batch_index += 1
        if rule.mode == "precision" and _target_met(rule, chunks, watch, done, ref):
            stop = "converged"
            break
    metrics: dict[str, Estimate | float | int] = {}
    for name in order:
        if name in curve_chunks:
            metrics[name] = summarize_curve(_joined(curve_chunks[name]))
        else:
            metrics[name] = summarize(_joined(chunks[name])) if name in chunks else scalars[name]
    if rule.mode == "precision" and stop == "cap":
        metrics[rule.metric] = replace(metrics[rule.metric], converged=False)
    return PointResult(key, metrics, done, batch_index, stop, time.perf_counter() - start,
                       tuple(seen_warnings),
                       None if index_values is None else tuple(index_values.tolist()))


def _call(fn, rng, size, params, key, ref, seen_warnings: dict[str, None]) -> Any:
    """One experiment call, its Python warnings recorded (workers cannot print them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(rng=rng, n_trials=size, **params)
        except (ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ExperimentError(
                f"Experiment {ref!r} failed at point {key}: {type(exc).__name__}: {first}"
            ) from exc
    for w in caught:
        seen_warnings.setdefault(f"{w.category.__name__}: {w.message}", None)
    return out


def _target_met(rule: StoppingRule, chunks, watch: _RunningMoments, done: int, ref: str) -> bool:
    """Feed the watched metric's newest batch; whether the precision target now holds."""
    if rule.metric not in chunks:  # a scalar or curve metric, or none
        raise ExperimentError(
            f"The trials 'metric' {rule.metric!r} is not a per-trial metric of "
            f"experiment {ref!r}; per-trial metrics: {sorted(chunks) or 'none'}."
        )
    watch.add(chunks[rule.metric][-1])
    if done < rule.min:
        return False
    mean, half = watch.mean_half_width()
    return half <= rule.rel_tol * abs(mean)


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to compute one point; picklable, experiment referenced by name.

    ``imports`` are the scenario's modules to import first (a user's registrations).
    """

    experiment: str
    params: dict[str, Any]
    key: str
    master_seed: int
    rule: StoppingRule
    imports: tuple[str, ...] = ()


@lru_cache(maxsize=64)
def _resolve(ref: str, imports: tuple[str, ...]) -> Callable[..., Mapping[str, Any]]:
    from ..experiments.registry import get_experiment, import_modules

    import_modules(imports)
    return get_experiment(ref)


def compute_point(task: PointTask) -> PointResult:
    """Worker entry point: resolve the experiment by reference and run the point."""
    return run_point(
        _resolve(task.experiment, tuple(task.imports)),
        task.params,
        key=task.key,
        master_seed=task.master_seed,
        rule=task.rule,
        ref=task.experiment,
    )
