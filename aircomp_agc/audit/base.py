"""Types of the audit: a claim, what measuring it gives, its verdict, and the run context.

A :class:`Claim` pairs one quantitative statement of the source text (written here, in the
package, with its section) with a measurement (a function of an :class:`AuditContext`
returning a :class:`Measurement`) and a verdict rule (a function of the measurement
returning a :class:`Verdict`). Verdicts are ``"holds"``, ``"fails"`` or
``"holds only under <condition>"``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import check_int, resolve_rng

__all__ = [
    "HOLDS",
    "FAILS",
    "HOLDS_ONLY_UNDER",
    "VERDICTS",
    "AuditContext",
    "Budget",
    "Claim",
    "ClaimResult",
    "Measurement",
    "Table",
    "Verdict",
    "is_verdict",
]

HOLDS = "holds"
FAILS = "fails"
HOLDS_ONLY_UNDER = "holds only under"
#: The three verdict forms (the third is followed by its condition).
VERDICTS = (HOLDS, FAILS, HOLDS_ONLY_UNDER)


def is_verdict(status: str) -> bool:
    """Whether ``status`` is ``"holds"``, ``"fails"`` or ``"holds only under <condition>"``."""
    if status in (HOLDS, FAILS):
        return True
    prefix = HOLDS_ONLY_UNDER + " "
    return status.startswith(prefix) and bool(status[len(prefix):].strip())


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim.

    Attributes
    ----------
    status : str
        ``"holds"``, ``"fails"`` or ``"holds only under <condition>"``.
    reason : str
        One or two sentences: the measured numbers the rule looked at.
    """

    status: str
    reason: str

    def __post_init__(self) -> None:
        if not is_verdict(self.status):
            raise ValueError(
                f"The 'status' parameter of Verdict must be 'holds', 'fails' or "
                f"'holds only under <condition>'; got {self.status!r}."
            )

    @classmethod
    def only_under(cls, condition: str, reason: str) -> Verdict:
        return cls(f"{HOLDS_ONLY_UNDER} {condition}", reason)

    @property
    def kind(self) -> str:
        """``"holds"``, ``"fails"`` or ``"holds only under"`` (without the condition)."""
        return self.status if self.status in (HOLDS, FAILS) else HOLDS_ONLY_UNDER


@dataclass(frozen=True)
class Table:
    """An evidence table: a title, column names and rows of formatted cells."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Measurement:
    """What measuring a claim produced.

    Attributes
    ----------
    summary : str
        One line of the measured numbers (the report table's "Measured" column).
    data : dict
        The numbers the verdict rule reads (floats, tuples, dicts of them).
    tables : tuple of Table
        Evidence.
    notes : tuple of str
        Remarks: definitions used, what would make the claim true, caveats.
    """

    summary: str
    data: dict[str, Any]
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Claim:
    """One quantitative claim of the source text and how it is checked.

    Attributes
    ----------
    id : str
        Short stable name (``"signed-sparse-bound"``).
    text : str
        The claim in one line, quoting or paraphrasing the source text, with its section.
    section : str
        Where in the source text it is stated.
    test : str
        How it is tested, in one or two sentences.
    rule : str
        The verdict rule in words.
    measure : callable ``AuditContext -> Measurement``
    verdict : callable ``Measurement -> Verdict``
    """

    id: str
    text: str
    section: str
    test: str
    rule: str
    measure: Callable[[AuditContext], Measurement]
    verdict: Callable[[Measurement], Verdict]


@dataclass(frozen=True)
class ClaimResult:
    """A claim, its measurement and verdict, and the seconds the check took."""

    claim: Claim
    measurement: Measurement
    verdict: Verdict
    seconds: float


@dataclass(frozen=True)
class Budget:
    """Trial counts and problem sizes of one audit mode (quick or full).

    Attributes
    ----------
    trials : int
        Straggler sets per Monte-Carlo error estimate (fresh code every 50 for random codes).
    frontier_trials : int
        Straggler sets per row weight in storage searches.
    realized_trials : int
        Straggler sets per realized-error estimate on real gradients.
    reps, rounds : int
        Training repetitions and rounds for the convergence checks (gradient descent).
    sgd_reps : int
        Repetitions of the SGD runs (run one at a time, so fewer).
    sparse_rounds : int
        Training rounds for the sparsification check.
    scaling_n : tuple of int
        Worker counts of the scaling checks.
    full_families : bool
        Also measure the slower code families and settings (graph and sgc in the N = 100
        example, graph and bgc in the 6x check, s = 20 on real gradients, Dirichlet
        partitions, the Keras MLP).
    """

    trials: int
    frontier_trials: int
    realized_trials: int
    reps: int
    rounds: int
    sgd_reps: int
    sparse_rounds: int
    scaling_n: tuple[int, ...]
    full_families: bool


QUICK = Budget(trials=100, frontier_trials=100, realized_trials=100, reps=8, rounds=200,
               sgd_reps=4, sparse_rounds=100, scaling_n=(50, 100, 200), full_families=False)
FULL = Budget(trials=400, frontier_trials=300, realized_trials=300, reps=24, rounds=300,
              sgd_reps=12, sparse_rounds=300, scaling_n=(50, 100, 200, 400),
              full_families=True)


@dataclass
class AuditContext:
    """Mode, seeds and a cache shared by the checks of one audit run.

    Every random quantity is drawn from :meth:`rng` with a key naming it, so a number does
    not depend on which claims run or in which order (checking one claim alone reproduces
    its row of the full audit). Expensive shared results (problems, storage searches,
    training runs) are computed once per run through :meth:`cached`.

    Parameters
    ----------
    quick : bool
        Reduced trial counts (:data:`QUICK`) instead of :data:`FULL`.
    rng : int or numpy SeedSequence
        The audit's seed.
    """

    quick: bool = False
    rng_seed: Any = 0
    budget: Budget = field(init=False)
    entropy: int = field(init=False)
    _cache: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.quick, bool):
            raise TypeError(f"The 'quick' parameter of the audit must be a bool; got "
                            f"{self.quick!r}.")
        self.budget = QUICK if self.quick else FULL
        if isinstance(self.rng_seed, np.random.SeedSequence):
            self.entropy = int(self.rng_seed.generate_state(2, np.uint64)[0])
        else:
            seed = check_int("rng", self.rng_seed, low=0, owner="run_audit")
            self.entropy = int(resolve_rng(seed).integers(0, 2**63))

    def rng(self, key: str) -> np.random.Generator:
        """A generator for the quantity named ``key`` (same key, same draws)."""
        spawn = zlib.crc32(key.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(spawn,)))

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per run for ``key``."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]
