"""Storage frontier: the smallest row weight that meets an error target, and theory curves.

For a family of approximate codes indexed by row weight ``w`` (partitions per worker),
:func:`storage_frontier` finds, for each tolerance ``epsilon``, the smallest feasible ``w``
whose Monte-Carlo decoding error passes the test

    ci_high(w) <= epsilon,

where ``ci_high`` is the upper end of the two-sided ``confidence`` Student-t interval on
``E[err]`` (so the one-sided level is ``(1 + confidence) / 2``): the measured mean plus its
uncertainty must be below the target.

Search. The error is only *roughly* decreasing in ``w`` (random codes, Monte-Carlo noise,
parity constraints), so the search is a heuristic with an honest final rule:

1. exponential search over the feasible weights (indices 0, 1, 3, 7, ...) to bracket the
   first pass, then bisection inside the bracket;
2. the reported storage is the smallest *measured* weight that passes; its feasible
   neighbour below is then measured and, while it also passes, the report moves down
   (so the weight just below the reported storage was measured and failed);
3. every measured weight above the reported storage that fails is listed in the notes
   (a visible sign of non-monotone noise). Each weight is measured once with its own seed
   (``SeedSequence(entropy, spawn_key=(w,))``), shared by all tolerances, so the frontier
   is non-increasing in ``epsilon`` by construction and does not depend on search order.

Theory curves (free functions; the source text's Theta/Omega constants are taken as 1):
exact codes need ``s + 1`` (Tandon et al., ICML 2017); the source text's signed-sparse code
``rho n = n / ((n - s) epsilon)`` and its ``log(n) / epsilon`` summary; the lower bound
``log(1/epsilon) / log(n/s)`` (Wang, Liu, Shroff 2019, an Omega() statement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .._checks import Estimate, check_int, check_real, resolve_rng
from .base import Code
from .montecarlo import estimate_error
from .registry import CODES, code_tags, list_codes, make_code
from .stragglers import FixedStragglers, StragglerModel, check_stragglers

__all__ = [
    "FrontierPoint",
    "FrontierResult",
    "exact_storage",
    "log_storage",
    "source_text_storage",
    "storage_frontier",
    "storage_lower_bound",
]


# ----------------------------------------------------------------------------- theory


def exact_storage(s: int) -> int:
    """Storage of an exact code tolerating ``s`` stragglers: ``s + 1`` (Tandon et al. 2017)."""
    return check_int("s", s, low=0, owner="exact_storage") + 1


def source_text_storage(n: int, s: Any, epsilon: Any) -> np.ndarray:
    r"""The source text's signed-sparse storage :math:`\rho n = n / ((n - s)\,\epsilon)`.

    From ``E[err] <= O(1/((n - s) rho))`` with the constant taken as 1. Array in ``epsilon``.
    """
    n = check_int("n", n, low=1, owner="source_text_storage")
    s = np.asarray(s, dtype=np.float64)
    eps = _check_eps(epsilon, "source_text_storage")
    if np.any((s < 0) | (s >= n)):
        raise ValueError(f"The 's' parameter of source_text_storage must be in [0, {n}); got {s}.")
    return n / ((n - s) * eps)


def log_storage(n: int, epsilon: Any) -> np.ndarray:
    r"""The source text's summary :math:`\log(n)/\epsilon` (Theta() with constant 1)."""
    n = check_int("n", n, low=1, owner="log_storage")
    return np.log(n) / _check_eps(epsilon, "log_storage")


def storage_lower_bound(n: int, s: Any, epsilon: Any) -> np.ndarray:
    r"""Lower bound :math:`\log(1/\epsilon)/\log(n/s)` (Wang, Liu, Shroff 2019).

    The paper states :math:`d \ge \Omega(\log(1/\epsilon)/\log(n/s))`; the constant is taken
    as 1, so this curve indicates the scaling, not a hard floor. ``s = 0`` gives 0.
    """
    n = check_int("n", n, low=2, owner="storage_lower_bound")
    s = np.asarray(s, dtype=np.float64)
    eps = _check_eps(epsilon, "storage_lower_bound")
    if np.any((s < 0) | (s >= n)):
        raise ValueError(f"The 's' parameter of storage_lower_bound must be in [0, {n}); got {s}.")
    with np.errstate(divide="ignore"):
        return np.log(1.0 / eps) / np.log(n / s)


def _check_eps(epsilon: Any, owner: str) -> np.ndarray:
    eps = np.asarray(epsilon, dtype=np.float64)
    if eps.ndim > 1 or eps.size == 0 or not np.all(np.isfinite(eps)) or np.any(eps <= 0):
        raise ValueError(
            f"The 'epsilon' parameter of {owner} must be a positive float or a 1-D array of "
            f"them; got {epsilon!r}."
        )
    return eps


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FrontierPoint:
    """The frontier at one tolerance.

    Attributes
    ----------
    epsilon : float
    row_weight : int or None
        Smallest measured row weight with ``ci_high <= epsilon``; ``None`` if no feasible
        weight up to ``max_storage`` passed.
    storage : int or None
        The code's storage (maximum partitions per worker) at ``row_weight``; equal to it
        for fixed-row-weight codes, possibly smaller (``approx-frc`` with uneven groups)
        or random (Bernoulli rows; the first code draw's value).
    estimate : Estimate or None
        Measured error at ``row_weight``.
    weight_below : int or None
        The feasible row weight just below ``row_weight`` (``row_weight - 1`` unless
        infeasible).
    estimate_below : Estimate or None
        Measured error at ``weight_below`` (it failed the test).
    notes : tuple of str
        Non-monotone observations and skipped weights.
    """

    epsilon: float
    row_weight: int | None
    storage: int | None
    estimate: Estimate | None
    weight_below: int | None
    estimate_below: Estimate | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrontierResult:
    """Output of :func:`storage_frontier`.

    Attributes
    ----------
    family : str
        Registered code name.
    n : int
        Workers (= partitions).
    s : float or None
        Stragglers used for the theory curves: ``s`` of a fixed model, else the expected
        number of stragglers ``n - sum(response_probability)`` when known.
    method : str
        Decoder.
    criterion : str
        The pass test, in words.
    points : tuple of FrontierPoint
        One per epsilon, in the order given.
    measured : mapping int -> Estimate
        Every row weight measured during the search.
    infeasible : tuple of int
        Row weights the construction rejected (e.g. odd ``n * d`` for ``graph``).
    """

    family: str
    n: int
    s: float | None
    method: str
    confidence: float
    criterion: str
    points: tuple[FrontierPoint, ...]
    measured: Mapping[int, Estimate] = field(default_factory=dict)
    infeasible: tuple[int, ...] = ()

    @property
    def epsilons(self) -> np.ndarray:
        return np.array([p.epsilon for p in self.points])

    @property
    def storage(self) -> np.ndarray:
        """Measured storage per epsilon, float64 (``nan`` where none passed)."""
        return np.array([np.nan if p.storage is None else p.storage for p in self.points])

    @property
    def row_weight(self) -> np.ndarray:
        """Chosen row weight per epsilon, float64 (``nan`` where none passed)."""
        return np.array([np.nan if p.row_weight is None else p.row_weight for p in self.points])

    def theory(self) -> dict[str, np.ndarray]:
        """Theory curves at ``epsilons`` (constants 1); empty when ``s`` is unknown."""
        if self.s is None:
            return {}
        eps = self.epsilons
        return {
            "exact s+1": np.full(eps.shape, self.s + 1.0),
            "n/((n-s)eps)": source_text_storage(self.n, self.s, eps),
            "log(n)/eps": log_storage(self.n, eps),
            "log(1/eps)/log(n/s)": storage_lower_bound(self.n, self.s, eps),
        }

    def table(self) -> str:
        """A plain-text table: measured storage, its error CI, the weight below, theory."""
        theory = self.theory()
        head = ["epsilon", "row_weight w", "storage", "E[err] [CI] at w", "w below",
                "E[err] [CI] below"]
        head += list(theory)
        rows = []
        for i, p in enumerate(self.points):
            def fmt(e: Estimate | None) -> str:
                return "-" if e is None else f"{e.mean:.4g} [{e.ci_low:.3g}, {e.ci_high:.3g}]"

            row = [f"{p.epsilon:g}", "none" if p.row_weight is None else str(p.row_weight),
                   "-" if p.storage is None else str(p.storage),
                   fmt(p.estimate), "-" if p.weight_below is None else str(p.weight_below),
                   fmt(p.estimate_below)]
            row += [f"{theory[k][i]:.3g}" for k in theory]
            rows.append(row)
        widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                 for r in [head, *rows]]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- search


def storage_frontier(
    family: str,
    epsilon: float | Any,
    n: int,
    stragglers: StragglerModel,
    *,
    method: str = "lstsq",
    confidence: float = 0.95,
    n_trials: int = 1000,
    batch_size: int = 50,
    max_storage: int | None = None,
    code_params: Mapping[str, Any] | None = None,
    rng: Any = None,
) -> FrontierResult:
    """Smallest row weight of an approximate code family meeting ``E[err] <= epsilon``.

    A row weight ``w`` passes when the upper end of the two-sided ``confidence`` Student-t
    interval of its Monte-Carlo error is at most ``epsilon`` (see the module docstring for
    the search and its handling of non-monotone measurements).

    Parameters
    ----------
    family : str
        A registered code whose storage is set by ``row_weight`` (tag
        ``storage_param="row_weight"``: ``"bgc"``, ``"approx-frc"``, ``"signed-sparse"``,
        ``"graph"``, ``"sgc"`` with ``code_params={"p": ...}``, ...).
    epsilon : float or 1-D array of floats in (0, 1)
        Error tolerance(s); an array gives a frontier curve. The normalized error of
        decoding nothing is 1, so ``epsilon >= 1`` is refused.
    n : int >= 2
        Workers (= partitions).
    stragglers : StragglerModel
        Straggler model for the Monte Carlo.
    method : str
        Decoder (``decoders.decoding_errors``).
    confidence : float in (0, 1)
    n_trials : int >= 2
        Straggler sets per row weight; for a randomized family more than ``batch_size``
        (at least two code draws per weight).
    batch_size : int
        Straggler sets per code draw (randomized families draw a fresh code per batch, so
        ``n_trials / batch_size`` codes per weight).
    max_storage : int, optional
        Largest row weight tried (default ``n``).
    code_params : mapping, optional
        Extra keyword arguments for ``make_code`` (checked against the family's
        parameters before anything is computed).
    rng : None, int, SeedSequence or Generator
        The only source of randomness.

    Returns
    -------
    FrontierResult
    """
    setup = _validate(family, epsilon, n, stragglers, method=method, confidence=confidence,
                      n_trials=n_trials, batch_size=batch_size, max_storage=max_storage,
                      code_params=code_params)
    meter = _WeightMeter(setup, entropy=int(resolve_rng(rng).integers(0, 2**63)))
    for e in sorted(setup.epsilons, reverse=True):
        _search(meter.weights, lambda w, e=e: meter.passes(w, e))
    _settle_neighbours(meter, setup.epsilons)
    points = tuple(_frontier_point(meter, e) for e in setup.epsilons)
    level = 100 * (1 + setup.confidence) / 2
    criterion = (f"upper end of the two-sided {100 * setup.confidence:g}% Student-t CI "
                 f"(one-sided {level:g}%) of E[err] <= epsilon, {setup.n_trials} straggler sets "
                 "per row weight")
    return FrontierResult(
        family, setup.n, _theory_stragglers(stragglers, setup.n), method, setup.confidence,
        criterion, points, MappingProxyType(dict(sorted(meter.cache.items()))),
        tuple(sorted(meter.infeasible)),
    )


@dataclass(frozen=True)
class _Setup:
    """Validated arguments of :func:`storage_frontier`."""

    family: str
    epsilons: tuple[float, ...]
    n: int
    stragglers: StragglerModel
    method: str
    confidence: float
    n_trials: int
    batch_size: int
    max_storage: int
    code_params: Mapping[str, Any]
    randomized: bool


def _validate(family, epsilon, n, stragglers, *, method, confidence, n_trials, batch_size,
              max_storage, code_params) -> _Setup:
    """Check every argument of :func:`storage_frontier` before anything is computed."""
    owner = "storage_frontier"
    tags = code_tags(family)
    if tags["storage_param"] != "row_weight":
        sweepable = [e.name for e in list_codes() if e.tags["storage_param"] == "row_weight"]
        raise ValueError(
            f"The 'family' parameter of {owner} must name an approximate code whose storage "
            f"is set by row_weight ({', '.join(sweepable)}); got {family!r} (family "
            f"{tags['family']!r}, storage_param={tags['storage_param']!r})."
        )
    n = check_int("n", n, low=2, owner=owner)
    eps = _check_eps(epsilon, owner)
    if np.any(eps >= 1):
        raise ValueError(
            f"The 'epsilon' parameter of {owner} must be a float in (0, 1) or a 1-D array of "
            f"them (decoding nothing has normalized error 1); got {epsilon!r}."
        )
    confidence = check_real("confidence", confidence, low=0, high=1, low_open=True,
                            high_open=True, owner=owner)
    max_storage = n if max_storage is None else check_int(
        "max_storage", max_storage, low=1, high=n, owner=owner
    )
    check_stragglers(stragglers, owner)
    n_trials = check_int("n_trials", n_trials, low=2, owner=owner)
    batch_size = check_int("batch_size", batch_size, low=1, owner=owner)
    randomized = bool(tags["randomized"])
    if randomized and n_trials <= batch_size:
        raise ValueError(
            f"The 'n_trials' parameter of {owner} must exceed batch_size={batch_size} for the "
            f"randomized family {family!r} (a fresh code serves every batch_size straggler "
            f"sets and the interval needs >= 2 codes; or lower batch_size); got {n_trials}."
        )
    extra = dict(code_params or {})
    reserved = sorted(set(extra) & {"n", "row_weight", "rng"})
    if reserved:
        raise ValueError(
            f"The 'code_params' parameter of {owner} must not set {', '.join(reserved)} "
            f"(the frontier sets n, sweeps row_weight and draws rng); got {extra!r}."
        )
    CODES.check_params(family, {"n": n, "row_weight": 1, **extra}, ignore=("rng",))
    return _Setup(family, tuple(float(e) for e in np.atleast_1d(eps)), n, stragglers,
                  method, confidence, n_trials, batch_size, max_storage,
                  MappingProxyType(extra), randomized)


class _WeightMeter:
    """Measures the error at one row weight once (own seed), caching estimates.

    Weight ``w`` uses ``SeedSequence(entropy, spawn_key=(w,))`` whatever the order in
    which weights are measured, so every tolerance sees the same measurements.
    """

    def __init__(self, setup: _Setup, entropy: int) -> None:
        self.setup = setup
        self.entropy = entropy
        self.weights = list(range(1, setup.max_storage + 1))
        self.cache: dict[int, Estimate] = {}
        self.infeasible: dict[int, str] = {}
        self.storages: dict[int, int] = {}

    def _make(self, w: int, rng) -> Code:
        s = self.setup
        return make_code(s.family, n=s.n, row_weight=w, **s.code_params, rng=rng)

    def measure(self, w: int) -> Estimate | None:
        """The estimate at ``w``; None when the construction rejects ``w``."""
        if w in self.cache or w in self.infeasible:
            return self.cache.get(w)
        s = self.setup
        seed = np.random.SeedSequence(self.entropy, spawn_key=(w,))
        build_rng = np.random.default_rng(seed.spawn(1)[0]) if s.randomized else None
        try:
            code = self._make(w, build_rng)
        except ValueError as err:  # e.g. graph codes need n * row_weight even
            self.infeasible[w] = str(err)
            return None
        self.storages[w] = code.storage
        source = (lambda g: self._make(w, g)) if s.randomized else code
        self.cache[w] = estimate_error(source, s.stragglers, n_trials=s.n_trials,
                                       method=s.method, batch_size=s.batch_size,
                                       confidence=s.confidence, rng=seed)
        return self.cache[w]

    def passes(self, w: int, e: float) -> bool | None:
        est = self.measure(w)
        return None if est is None else est.ci_high <= e


def _settle_neighbours(meter: _WeightMeter, epsilons: tuple[float, ...]) -> None:
    """Measure the feasible neighbour below each tolerance's smallest passing weight.

    Repeated until stable: a neighbour measured for one tolerance may lower another's
    minimum.
    """
    while True:
        size = len(meter.cache)
        for e in epsilons:
            best = _smallest_passing(meter.cache, e)
            if best is not None:
                _feasible_below(best, meter.weights, meter.measure)
        if len(meter.cache) == size:
            return


def _frontier_point(meter: _WeightMeter, e: float) -> FrontierPoint:
    """The reported point at tolerance ``e`` from the settled measurements."""
    best = _smallest_passing(meter.cache, e)
    notes: list[str] = []
    infeasible = meter.infeasible
    if best is None:
        notes.append(f"no feasible row weight <= {meter.setup.max_storage} met the target")
        if infeasible:
            w0 = min(infeasible)
            notes.append(f"{len(infeasible)} weights rejected, e.g. {w0}: {infeasible[w0]}")
        return FrontierPoint(e, None, None, None, None, None, tuple(notes))
    below = _feasible_below(best, meter.weights, meter.measure)
    bad = sorted(w for w, est in meter.cache.items() if w > best and est.ci_high > e)
    if bad:
        notes.append(f"non-monotone: row weights {bad} above the reported storage fail")
    skipped = sorted(w for w in infeasible if w < best)
    if skipped:
        notes.append(f"infeasible row weights skipped: {skipped} "
                     f"(first reason: {infeasible[skipped[0]]})")
    return FrontierPoint(e, best, meter.storages[best], meter.cache[best], below,
                         None if below is None else meter.cache[below], tuple(notes))


def _theory_stragglers(stragglers: StragglerModel, n: int) -> float | None:
    """Stragglers for the theory curves: ``s`` of a fixed model, else the expected number
    ``n - sum(response_probability)`` when the marginal is known."""
    if isinstance(stragglers, FixedStragglers):
        return float(stragglers.s)
    try:
        return float(n - np.sum(stragglers.response_probability(n)))
    except NotImplementedError:
        return None


def _search(weights: list[int], passes) -> None:
    """Exponential search then bisection over ``weights`` (measurements land in the cache).

    ``passes(w)`` returns True/False, or None for a weight the construction rejects; such
    weights are stepped over (the nearest feasible index to the midpoint is used).
    """
    lo, hi, i = -1, None, 0
    while i < len(weights):
        ok = passes(weights[i])
        if ok:
            hi = i
            break
        if ok is False:
            lo = i
        i = 2 * i + 1
    if hi is None:
        for j in range(len(weights) - 1, lo, -1):
            ok = passes(weights[j])
            if ok is not None:
                if ok:
                    hi = j
                break
        if hi is None:
            return
    while hi - lo > 1:
        mid = (lo + hi) // 2
        for j in sorted(range(lo + 1, hi), key=lambda j: (abs(j - mid), j)):
            ok = passes(weights[j])
            if ok is not None:
                break
        else:
            return  # everything strictly inside the bracket is infeasible
        if ok:
            hi = j
        else:
            lo = j


def _smallest_passing(cache: Mapping[int, Estimate], e: float) -> int | None:
    ok = [w for w, est in cache.items() if est.ci_high <= e]
    return min(ok) if ok else None


def _feasible_below(w: int, weights: list[int], measure) -> int | None:
    for v in range(w - 1, 0, -1):
        if v in weights and measure(v) is not None:
            return v
    return None
