"""Straggler models: who responds in a round.

Every model is a small class that only holds configuration;
``sample(batch, n_workers, *, rng=None)`` returns a boolean mask ``[batch, n_workers]``
(``True`` = the worker responds), drawn vectorized over the batch from the single ``rng``
argument; rows of a batch are independent draws. Models are picked by name from
:data:`STRAGGLERS` with :func:`make_stragglers`; each registration carries tags:
``randomized`` (the draw depends on ``rng``), ``stateful`` (correlated across rounds) and
``marginal`` (:meth:`StragglerModel.response_probability` has a closed form).

- ``"fixed"``: ``s`` stragglers chosen uniformly at random;
- ``"bernoulli"``: each worker straggles independently with probability ``p``;
- ``"shifted-exponential"``: compute times ``T_i = shift + Exp(rate_i)`` with a deadline or a
  wait-for-the-first-``k`` rule (Lee et al., "Speeding up distributed machine learning using
  codes", IEEE Trans. IT 2018; Tandon et al., ICML 2017), exposing the round latency;
- ``"markov"``: persistent stragglers, a two-state (fast/slow) Markov chain per worker across
  rounds, started from its stationary distribution;
- ``"adversarial"``: a worst-case set of ``s`` stragglers for a given code and decoder, found
  by a HEURISTIC search; it lives in :mod:`.adversarial` (registered here when the package
  is imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .._checks import Entry, Registry, check_int, check_real, resolve_rng

__all__ = [
    "STRAGGLERS",
    "BernoulliStragglers",
    "FixedStragglers",
    "MarkovStragglers",
    "ShiftedExponentialStragglers",
    "StragglerModel",
    "check_stragglers",
    "list_stragglers",
    "make_stragglers",
    "straggler_tags",
]

STRAGGLERS: Registry[type[StragglerModel]] = Registry(
    "straggler model",
    default_tags={"randomized": True, "stateful": False, "marginal": False},
)


def make_stragglers(name: str, **params: Any) -> StragglerModel:
    """Build the straggler model registered as ``name`` with keyword ``params``.

    Unknown or missing parameters raise a ``ValueError`` listing the accepted ones.

    Examples
    --------
    >>> model = make_stragglers("fixed", s=3)
    >>> model.sample(2, 12, rng=0).sum(axis=1)
    array([9, 9])
    """
    return STRAGGLERS.build(name, **params)


def list_stragglers() -> list[Entry]:
    """:class:`~aircomp_agc._checks.Entry` records of every straggler model, sorted by name."""
    return STRAGGLERS.entries()


def check_stragglers(stragglers: Any, owner: str) -> StragglerModel:
    """Validate that ``stragglers`` is a :class:`StragglerModel` instance."""
    if not isinstance(stragglers, StragglerModel):
        raise TypeError(
            f"The 'stragglers' parameter of {owner} must be a StragglerModel (see "
            f"make_stragglers); got {type(stragglers).__name__}."
        )
    return stragglers


def straggler_tags(model: StragglerModel) -> Mapping[str, Any]:
    """Tags of a straggler model instance.

    The tags of its registration (or, for an unregistered class, its ``tags`` class
    attribute over the defaults), refined by the instance where its configuration changes
    them (e.g. no closed-form marginal for the wait-for rule with per-worker rates).
    """
    cls = type(model)
    if cls.name in STRAGGLERS and STRAGGLERS.get(cls.name) is cls:
        tags = dict(STRAGGLERS.tags(cls.name))
    else:
        tags = {**STRAGGLERS.default_tags, **dict(getattr(cls, "tags", {}) or {})}
    return MappingProxyType({**tags, **model._tag_overrides()})


class StragglerModel:
    """Base class: configuration only; ``sample`` draws responder masks.

    Subclasses set ``name`` and implement :meth:`sample` with the signature
    ``sample(batch, n_workers, *, rng=None)``; they implement
    :meth:`response_probability` when the marginal has a closed form (tag ``marginal``).
    :func:`aircomp_agc.coding.testing.check_straggler_model` checks the contract.
    """

    name: ClassVar[str] = ""

    def sample(
        self, batch: int, n_workers: int, *, rng: Any = None
    ) -> np.ndarray:  # pragma: no cover - abstract
        """Responder masks, bool ``[batch, n_workers]`` (``True`` = responds)."""
        raise NotImplementedError

    def response_probability(self, n_workers: int) -> np.ndarray:
        """Closed-form marginal ``P(worker i responds)``, float64 ``[n_workers]``."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form marginal.")

    def _tag_overrides(self) -> dict[str, Any]:
        """Tags this configuration changes from its registration's (none by default)."""
        return {}

    def _owner(self, method: str = "sample") -> str:
        return f"{type(self).__name__}.{method}"

    def _check_shape(self, batch: int, n_workers: int, method: str = "sample") -> tuple[int, int]:
        b = check_int("batch", batch, low=1, owner=self._owner(method))
        n = check_int("n_workers", n_workers, low=1, owner=self._owner(method))
        return b, n

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


@STRAGGLERS.register(
    "fixed",
    summary="s stragglers drawn uniformly at random",
    tags={"randomized": True, "stateful": False, "marginal": True},
)
class FixedStragglers(StragglerModel):
    """Exactly ``s`` stragglers, a uniformly random ``s``-subset of the workers per trial.

    Drawn by ``argpartition`` of i.i.d. uniform keys (a random permutation's first ``s``),
    vectorized over the batch. Marginal response probability ``(n - s) / n``.

    Parameters
    ----------
    s : int >= 0
        Number of stragglers; must not exceed ``n_workers`` at sampling time.
    """

    name = "fixed"

    def __init__(self, *, s: int) -> None:
        self.s = check_int("s", s, low=0, owner="make_stragglers('fixed')")

    def _tag_overrides(self) -> dict[str, Any]:
        return {"randomized": False} if self.s == 0 else {}

    def sample(self, batch: int, n_workers: int, *, rng: Any = None) -> np.ndarray:
        b, n = self._check_shape(batch, n_workers)
        self._check_s(n)
        rng = resolve_rng(rng)
        mask = np.ones((b, n), dtype=bool)
        if self.s == 0:
            return mask
        keys = rng.random((b, n))
        slow = np.argpartition(keys, self.s - 1, axis=1)[:, : self.s]
        np.put_along_axis(mask, slow, False, axis=1)
        return mask

    def response_probability(self, n_workers: int) -> np.ndarray:
        _, n = self._check_shape(1, n_workers, "response_probability")
        self._check_s(n)
        return np.full(n, (n - self.s) / n)

    def _check_s(self, n: int) -> None:
        check_int("s", self.s, low=0, high=n, owner=f"make_stragglers('fixed') with {n} workers")


@STRAGGLERS.register(
    "bernoulli",
    summary="each worker straggles independently with prob. p",
    tags={"randomized": True, "stateful": False, "marginal": True},
)
class BernoulliStragglers(StragglerModel):
    """Each worker straggles independently with probability ``p`` (responds w.p. ``1 - p``).

    Parameters
    ----------
    p : float in [0, 1]
        Straggling probability.
    """

    name = "bernoulli"

    def __init__(self, *, p: float) -> None:
        self.p = check_real("p", p, low=0.0, high=1.0, owner="make_stragglers('bernoulli')")

    def _tag_overrides(self) -> dict[str, Any]:
        return {"randomized": False} if self.p in (0.0, 1.0) else {}

    def sample(self, batch: int, n_workers: int, *, rng: Any = None) -> np.ndarray:
        b, n = self._check_shape(batch, n_workers)
        return resolve_rng(rng).random((b, n)) >= self.p

    def response_probability(self, n_workers: int) -> np.ndarray:
        _, n = self._check_shape(1, n_workers, "response_probability")
        return np.full(n, 1.0 - self.p)


@STRAGGLERS.register(
    "shifted-exponential",
    summary="compute times shift + Exp(rate) with a deadline or wait-for-first-k rule",
    tags={"randomized": True, "stateful": False, "marginal": True},
)
class ShiftedExponentialStragglers(StragglerModel):
    r"""Random compute times with a deadline or a wait-for-the-first-``k`` rule.

    Worker ``i`` finishes at :math:`T_i = \text{shift} + E_i/\text{rate}_i`,
    :math:`E_i \sim \text{Exp}(1)` i.i.d. (the shifted-exponential model of Lee et al.,
    IEEE Trans. IT 2018). Exactly one rule is given:

    - ``deadline``: worker ``i`` responds iff :math:`T_i \le \text{deadline}`, so
      :math:`P(\text{respond}) = 1 - e^{-\text{rate}_i(\text{deadline} - \text{shift})}`
      (0 when the deadline precedes the shift). The round latency is
      :math:`\min(\text{deadline}, \max_i T_i)` (the master stops early if everyone is in).
    - ``wait_for = k``: the master waits for the first ``k`` workers (``k = n - s``); the
      round latency is the ``k``-th order statistic :math:`T_{(k)}`; for equal rates
      :math:`E[T_{(k)}] = \text{shift} + \frac{1}{\text{rate}}\sum_{j=0}^{k-1}\frac{1}{n-j}`;
      ``k`` must not exceed the number of workers (``sample`` and
      ``response_probability`` raise the same error otherwise).

    The marginal ``response_probability`` has a closed form except for the wait-for rule
    with per-worker rates (then the instance's ``marginal`` tag is False).

    Parameters
    ----------
    rate : float > 0 or array_like [n_workers]
        Exponential rate(s) in 1/time unit; an array gives per-worker rates.
    shift : float >= 0
        Minimum compute time (same time unit).
    deadline : float >= 0, optional
        Deadline rule (time unit).
    wait_for : int >= 1, optional
        Number of responders the master waits for.
    """

    name = "shifted-exponential"

    def __init__(
        self,
        *,
        rate: float | np.ndarray = 1.0,
        shift: float = 0.0,
        deadline: float | None = None,
        wait_for: int | None = None,
    ) -> None:
        owner = "make_stragglers('shifted-exponential')"
        if np.ndim(rate) == 0:
            self.rate: float | np.ndarray = check_real(
                "rate", rate, low=0.0, low_open=True, owner=owner
            )
        else:
            arr = np.asarray(rate, dtype=np.float64)
            if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(
                    f"The 'rate' parameter of {owner} must be a positive finite float or a 1-D "
                    f"array of them (one per worker); got {rate!r}."
                )
            self.rate = arr
        self.shift = check_real("shift", shift, low=0.0, owner=owner)
        if (deadline is None) == (wait_for is None):
            raise ValueError(
                f"{owner} needs exactly one of 'deadline' (float) or 'wait_for' (int); got "
                f"deadline={deadline!r}, wait_for={wait_for!r}."
            )
        self.deadline = None if deadline is None else check_real(
            "deadline", deadline, low=0.0, owner=owner
        )
        self.wait_for = None if wait_for is None else check_int(
            "wait_for", wait_for, low=1, owner=owner
        )

    def _rates(self, n: int, method: str) -> np.ndarray:
        if np.ndim(self.rate) == 0:
            return np.full(n, float(self.rate))
        if self.rate.shape[0] != n:
            raise ValueError(
                f"The 'n_workers' parameter of {self._owner(method)} must equal the number of "
                f"per-worker rates ({self.rate.shape[0]}); got {n}."
            )
        return self.rate

    def _check_wait_for(self, n: int) -> int | None:
        if self.wait_for is None:
            return None
        return check_int(
            "wait_for", self.wait_for, low=1, high=n,
            owner=f"make_stragglers('shifted-exponential') with {n} workers",
        )

    def _tag_overrides(self) -> dict[str, Any]:
        if self.wait_for is not None and np.ndim(self.rate) != 0:
            return {"marginal": False}
        if self.deadline is not None and self.deadline <= self.shift:
            return {"randomized": False}  # nobody can finish: every mask is all False
        return {}

    def sample_times(self, batch: int, n_workers: int, *, rng: Any = None) -> np.ndarray:
        """Compute times ``T``, float64 ``[batch, n_workers]`` (time unit of ``shift``)."""
        b, n = self._check_shape(batch, n_workers, "sample_times")
        rates = self._rates(n, "sample_times")
        return self.shift + resolve_rng(rng).standard_exponential((b, n)) / rates

    def sample_with_latency(
        self, batch: int, n_workers: int, *, rng: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Responder masks bool ``[batch, n_workers]`` and round latencies float ``[batch]``."""
        b, n = self._check_shape(batch, n_workers, "sample_with_latency")
        self._check_wait_for(n)
        times = self.sample_times(b, n, rng=rng)
        if self.deadline is not None:
            mask = times <= self.deadline
            latency = np.minimum(self.deadline, times.max(axis=1))
            return mask, latency
        k = self.wait_for
        first = np.argpartition(times, k - 1, axis=1)[:, :k]
        mask = np.zeros((b, n), dtype=bool)
        np.put_along_axis(mask, first, True, axis=1)
        latency = np.take_along_axis(times, first, axis=1).max(axis=1)
        return mask, latency

    def sample(self, batch: int, n_workers: int, *, rng: Any = None) -> np.ndarray:
        return self.sample_with_latency(batch, n_workers, rng=rng)[0]

    def response_probability(self, n_workers: int) -> np.ndarray:
        _, n = self._check_shape(1, n_workers, "response_probability")
        rates = self._rates(n, "response_probability")
        if self.deadline is not None:
            return -np.expm1(-rates * max(self.deadline - self.shift, 0.0))
        k = self._check_wait_for(n)
        if np.ndim(self.rate) != 0:
            raise NotImplementedError(
                "The wait-for rule with per-worker rates has no closed-form marginal."
            )
        return np.full(n, k / n)

    def expected_latency(self, n_workers: int) -> float:
        r"""Closed-form mean round latency (wait-for rule, equal rates).

        :math:`E[T_{(k)}] = \text{shift} + \frac{1}{\text{rate}}\sum_{j=0}^{k-1}\frac{1}{n-j}`
        (Renyi's representation of exponential order statistics).
        """
        _, n = self._check_shape(1, n_workers, "expected_latency")
        if self.wait_for is None or np.ndim(self.rate) != 0:
            raise NotImplementedError(
                "expected_latency has a closed form only for the wait-for rule with equal rates."
            )
        k = self._check_wait_for(n)
        return self.shift + float(np.sum(1.0 / (n - np.arange(k)))) / float(self.rate)


@STRAGGLERS.register(
    "markov",
    summary="persistent stragglers: two-state Markov chain per worker",
    tags={"randomized": True, "stateful": True, "marginal": True},
)
class MarkovStragglers(StragglerModel):
    r"""Persistent stragglers: each worker is a two-state (fast/slow) Markov chain over rounds.

    Transition probabilities per round: fast -> slow with ``p_fast_to_slow`` (:math:`a`),
    slow -> fast with ``p_slow_to_fast`` (:math:`b`); workers are independent and start
    from the stationary distribution :math:`P(\text{slow}) = a/(a+b)`. Run lengths are
    geometric: mean slow run :math:`1/b`, mean fast run :math:`1/a` rounds. ``sample``
    draws a single round (a stationary snapshot); ``sample_rounds`` draws whole trajectories.

    Parameters
    ----------
    p_fast_to_slow, p_slow_to_fast : float in [0, 1], not both 0
    """

    name = "markov"

    def __init__(self, *, p_fast_to_slow: float, p_slow_to_fast: float) -> None:
        owner = "make_stragglers('markov')"
        self.p_fast_to_slow = check_real(
            "p_fast_to_slow", p_fast_to_slow, low=0, high=1, owner=owner
        )
        self.p_slow_to_fast = check_real(
            "p_slow_to_fast", p_slow_to_fast, low=0, high=1, owner=owner
        )
        if self.p_fast_to_slow + self.p_slow_to_fast == 0:
            raise ValueError(
                f"The 'p_fast_to_slow' and 'p_slow_to_fast' parameters of {owner} must not both "
                "be 0 (the chain would have no unique stationary distribution); got 0 and 0."
            )

    def _tag_overrides(self) -> dict[str, Any]:
        return {"randomized": False} if self.stationary_slow in (0.0, 1.0) else {}

    @property
    def stationary_slow(self) -> float:
        """Stationary straggling probability :math:`a / (a + b)`."""
        return self.p_fast_to_slow / (self.p_fast_to_slow + self.p_slow_to_fast)

    @property
    def mean_slow_run(self) -> float:
        """Mean number of consecutive slow rounds, :math:`1/b` (inf if ``b = 0``)."""
        return np.inf if self.p_slow_to_fast == 0 else 1.0 / self.p_slow_to_fast

    @property
    def mean_fast_run(self) -> float:
        """Mean number of consecutive fast rounds, :math:`1/a` (inf if ``a = 0``)."""
        return np.inf if self.p_fast_to_slow == 0 else 1.0 / self.p_fast_to_slow

    def sample_rounds(
        self, batch: int, n_workers: int, *, n_rounds: int, rng: Any = None
    ) -> np.ndarray:
        """Responder masks over rounds, bool ``[batch, n_rounds, n_workers]``.

        Each batch row is an independent trajectory started from the stationary law.
        """
        b, n = self._check_shape(batch, n_workers, "sample_rounds")
        r = check_int("n_rounds", n_rounds, low=1, owner=self._owner("sample_rounds"))
        rng = resolve_rng(rng)
        u = rng.random((b, r, n))
        slow = np.empty((b, r, n), dtype=bool)
        slow[:, 0] = u[:, 0] < self.stationary_slow
        for t in range(1, r):  # the chain is sequential in time; batch and workers vectorized
            slow[:, t] = np.where(
                slow[:, t - 1], u[:, t] >= self.p_slow_to_fast, u[:, t] < self.p_fast_to_slow
            )
        return ~slow

    def sample(self, batch: int, n_workers: int, *, rng: Any = None) -> np.ndarray:
        """One stationary round per batch row, bool ``[batch, n_workers]``."""
        return self.sample_rounds(batch, n_workers, n_rounds=1, rng=rng)[:, 0, :]

    def response_probability(self, n_workers: int) -> np.ndarray:
        _, n = self._check_shape(1, n_workers, "response_probability")
        return np.full(n, 1.0 - self.stationary_slow)
