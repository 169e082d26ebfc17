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

Aggregation of per-trial samples ``x_1..x_n`` (:func:`summarize`): the mean
``xbar``, and the Student-t interval ``xbar -/+ t_{0.975, n-1} s / sqrt(n)`` with ``s`` the
sample standard deviation (``ddof=1``). ``n = 1`` gives ``nan`` bounds. Scalar metrics are
deterministic: they are taken from the first batch and reported without an interval.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .._checks import check_int, check_real
from .seeds import point_seed

__all__ = [
    "ExperimentError",
    "MetricSummary",
    "PointResult",
    "PointTask",
    "StoppingRule",
    "compute_point",
    "run_point",
    "summarize",
    "t_quantile",
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

    def as_dict(self) -> dict[str, Any]:
        """The rule as plain JSON-able values (what the manifest and fingerprint record)."""
        fixed = ("n", "batch")
        keys = fixed if self.mode == "fixed" else ("rel_tol", "metric", "min", "max", "batch")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass(frozen=True)
class MetricSummary:
    """Mean and Student-t 95% confidence interval of ``n`` per-trial samples."""

    mean: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def half_width(self) -> float:
        return 0.5 * (self.ci_high - self.ci_low)


def _t_two_sided(t: float, df: int) -> float:
    """``P(|T| < t)`` for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2 == 0:
        term = total = 1.0
        for k in range(2, df, 2):  # 1 + (1/2) c^2 + (1*3)/(2*4) c^4 + ...
            term *= c2 * (k - 1) / k
            total += term
        return s * total
    if df == 1:
        return 2.0 * theta / math.pi
    term = total = math.cos(theta)
    for k in range(3, df - 1, 2):  # cos + (2/3) cos^3 + (2*4)/(3*5) cos^5 + ...
        term *= c2 * (k - 1) / k
        total += term
    return 2.0 / math.pi * (theta + s * total)


@lru_cache(maxsize=4096)
def t_quantile(df: int, p: float = 0.5 + CONFIDENCE / 2) -> float:
    """Quantile ``t_{p, df}`` of Student's t distribution (``p`` in (0.5, 1), integer ``df``).

    Exact series CDF inverted by Newton's method for ``df <= 200``; above, the
    Cornish-Fisher expansion in ``1/df`` to fourth order (Abramowitz & Stegun 26.7.5),
    whose truncation error is below 1e-12 there. (``scipy.special`` would cost 0.6 s of
    import in every worker process.)
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(p)
    g = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    t = z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))
    if df > 200:
        return t
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    target = 2 * p - 1
    t = min(t, 1e3) if df > 1 else math.tan(math.pi * (p - 0.5))
    for _ in range(100):
        pdf = math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))
        step = (_t_two_sided(t, df) - target) / (2 * pdf)
        t -= step
        if abs(step) <= 1e-14 * t:
            break
    return t


def summarize(samples: np.ndarray) -> MetricSummary:
    """Mean and two-sided 95% Student-t confidence interval of 1-D ``samples``.

    .. math:: \\bar x \\pm t_{0.975,\\,n-1}\\, s / \\sqrt{n},\\qquad
              s^2 = \\tfrac{1}{n-1}\\sum_i (x_i - \\bar x)^2

    Parameters
    ----------
    samples : [n], float
        Per-trial values (``n >= 1``). Non-finite values propagate into the result.

    Returns
    -------
    MetricSummary
        ``ci_low = ci_high = nan`` when ``n == 1``.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = int(x.size)
    if x.ndim != 1 or n == 0:
        raise ValueError(f"summarize needs a non-empty 1-D sample array; got shape {x.shape}.")
    mean = float(x.sum()) / n  # the same pairwise sum as x.mean(), without its overhead
    if n == 1:
        return MetricSummary(mean, math.nan, math.nan, 1)
    d = x - mean
    np.square(d, out=d)  # in place: one temporary, two passes (no BLAS: its order varies)
    half = t_quantile(n - 1) * math.sqrt(float(d.sum()) / (n - 1) / n)
    return MetricSummary(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PointResult:
    """What one sweep point produced.

    Attributes
    ----------
    key : str
        The point's canonical key.
    metrics : dict[str, MetricSummary | float | int]
        Per-trial metrics summarized; scalar metrics as returned (first batch).
    n_trials, n_batches : int
        Trials and experiment calls spent.
    stop : str
        ``"fixed"``, ``"converged"`` (precision target met) or ``"cap"`` (``max`` reached).
    seconds : float
        Compute time of the point (wall clock, in the worker).
    """

    key: str
    metrics: dict[str, MetricSummary | float | int]
    n_trials: int
    n_batches: int
    stop: str
    seconds: float = field(default=0.0, compare=False)

    def to_record(self) -> dict[str, Any]:
        """JSON-able form (floats survive ``json`` round trips exactly)."""
        metrics = {
            name: {"mean": m.mean, "ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n}
            if isinstance(m, MetricSummary)
            else {"value": m}
            for name, m in self.metrics.items()
        }
        return {
            "key": self.key,
            "metrics": metrics,
            "n_trials": self.n_trials,
            "n_batches": self.n_batches,
            "stop": self.stop,
            "seconds": self.seconds,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PointResult:
        metrics: dict[str, MetricSummary | float | int] = {}
        for name, m in record["metrics"].items():
            metrics[name] = m["value"] if set(m) == {"value"} else MetricSummary(**m)
        return cls(
            key=record["key"],
            metrics=metrics,
            n_trials=int(record["n_trials"]),
            n_batches=int(record["n_batches"]),
            stop=str(record["stop"]),
            seconds=float(record.get("seconds", 0.0)),
        )


def _split_metrics(ref: str, key: str, out: Any, n_trials: int) -> tuple[dict, dict]:
    """Separate an experiment's output into per-trial arrays and scalars, checking shapes."""
    if not isinstance(out, Mapping) or not out:
        raise ExperimentError(
            f"Experiment {ref!r} must return a non-empty dict of metrics; got "
            f"{type(out).__name__} at point {key}."
        )
    samples: dict[str, np.ndarray] = {}
    scalars: dict[str, float | int] = {}
    for name, value in out.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ExperimentError(
                f"Metric {name!r} of experiment {ref!r} must be numeric; got dtype {arr.dtype} "
                f"at point {key}."
            )
        if arr.ndim == 0:
            item = arr.item()
            scalars[name] = float(item) if arr.dtype.kind in "bf" else int(item)
        elif arr.shape == (n_trials,):
            samples[name] = arr.astype(np.float64, copy=False)
        else:
            raise ExperimentError(
                f"Metric {name!r} of experiment {ref!r} must be a scalar or have shape "
                f"(n_trials,) = ({n_trials},); got shape {arr.shape} at point {key}."
            )
    return samples, scalars


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
        return self.mean, t_quantile(self.n - 1) * math.sqrt(self.m2 / (self.n - 1) / self.n)


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
    chunks: dict[str, list[np.ndarray]] = {}
    scalars: dict[str, float | int] = {}
    order: list[str] = []
    done = batch_index = 0
    stop = "fixed" if rule.mode == "fixed" else "cap"
    watch = _RunningMoments()
    while (size := rule.batch_size(done)) > 0:
        rng = np.random.default_rng(point_seed(master_seed, key, batch_index))
        try:
            out = fn(rng=rng, n_trials=size, **params)
        except (ValueError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise ExperimentError(
                f"Experiment {ref!r} failed at point {key}: {type(exc).__name__}: {first}"
            ) from exc
        samples, batch_scalars = _split_metrics(ref, key, out, size)
        if batch_index == 0:
            order = list(out)
            scalars = batch_scalars
        for name, arr in samples.items():
            chunks.setdefault(name, []).append(arr)
        done += size
        batch_index += 1
        if rule.mode == "precision":
            if rule.metric not in chunks:
                raise ExperimentError(
                    f"The trials 'metric' {rule.metric!r} is not a per-trial metric of "
                    f"experiment {ref!r}; per-trial metrics: {sorted(chunks) or 'none'}."
                )
            watch.add(chunks[rule.metric][-1])
            if done >= rule.min:
                mean, half = watch.mean_half_width()
                if half <= rule.rel_tol * abs(mean):
                    stop = "converged"
                    break
    metrics: dict[str, MetricSummary | float | int] = {}
    for name in order:
        metrics[name] = summarize(_joined(chunks[name])) if name in chunks else scalars[name]
    return PointResult(key, metrics, done, batch_index, stop, time.perf_counter() - start)


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to compute one point; picklable, experiment referenced by name."""

    experiment: str
    params: dict[str, Any]
    key: str
    master_seed: int
    rule: StoppingRule


@lru_cache(maxsize=64)
def _resolve(ref: str) -> Callable[..., Mapping[str, Any]]:
    from ..experiments.registry import get_experiment

    return get_experiment(ref)


def compute_point(task: PointTask) -> PointResult:
    """Worker entry point: resolve the experiment by reference and run the point."""
    return run_point(
        _resolve(task.experiment),
        task.params,
        key=task.key,
        master_seed=task.master_seed,
        rule=task.rule,
        ref=task.experiment,
    )
