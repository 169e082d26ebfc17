"""Worst-case stragglers for a given code and decoder: a HEURISTIC search, and brute force.

The exact worst case of ``s`` stragglers needs ``C(n, s)`` decodings.
:class:`AdversarialStragglers` (registered as ``"adversarial"`` in
:data:`~aircomp_agc.coding.stragglers.STRAGGLERS`) runs a greedy + local-swap search with
random restarts and always says it is a heuristic (``heuristic=True`` in its results): the
error it reports is a lower bound on the true worst case. :func:`worst_stragglers_exhaustive`
is the brute-force reference for small ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any, ClassVar

import numpy as np

from .._checks import check_choice, check_int, check_real, resolve_rng
from .base import Code
from .stragglers import STRAGGLERS, StragglerModel

__all__ = ["AdversarialSearchResult", "AdversarialStragglers", "worst_stragglers_exhaustive"]


@dataclass(frozen=True)
class AdversarialSearchResult:
    """Outcome of a worst-case straggler search.

    Attributes
    ----------
    stragglers : int64 array [s]
        Sorted indices of the straggling workers found.
    mask : bool array [n_workers]
        Responder mask (``False`` at ``stragglers``).
    error : float
        Normalized decoding error ``||B_T^T a - 1||^2 / k`` of that set.
    heuristic : bool
        ``True`` for the greedy/swap search (a lower bound on the true worst error),
        ``False`` for the exhaustive search.
    n_evaluations : int
        Number of straggler sets whose decoding error was computed.
    """

    stragglers: np.ndarray
    mask: np.ndarray
    error: float
    heuristic: bool
    n_evaluations: int


def _errors(code: Code, masks: np.ndarray, method: str) -> np.ndarray:
    from .decoders import decoding_errors

    return np.asarray(decoding_errors(code, masks, method=method), dtype=np.float64)


def _masks_from_sets(n: int, sets: np.ndarray) -> np.ndarray:
    masks = np.ones((sets.shape[0], n), dtype=bool)
    if sets.shape[1]:
        np.put_along_axis(masks, sets, False, axis=1)
    return masks


def worst_stragglers_exhaustive(
    code: Code, s: int, *, method: str = "lstsq", chunk: int = 4096
) -> AdversarialSearchResult:
    """Exact worst case: decoding error of every ``s``-subset (brute force, small ``n`` only).

    Cost ``C(n, s)`` decodings, evaluated in chunks of ``chunk`` through ``decoding_errors``.
    Refuses more than 2,000,000 subsets.
    """
    from itertools import combinations, islice

    n = code.n_workers
    s = check_int("s", s, low=0, high=n, owner="worst_stragglers_exhaustive")
    total = comb(n, s)
    if total > 2_000_000:
        raise ValueError(
            f"The 's' parameter of worst_stragglers_exhaustive gives C({n}, {s}) = {total} "
            "subsets; at most 2,000,000 are allowed (use AdversarialStragglers)."
        )
    best_err, best_set = -np.inf, None
    it = combinations(range(n), s)
    while True:
        sets = np.array(list(islice(it, chunk)), dtype=np.int64).reshape(-1, s)
        if sets.shape[0] == 0:
            break
        errs = _errors(code, _masks_from_sets(n, sets), method)
        j = int(np.argmax(errs))
        if errs[j] > best_err:
            best_err, best_set = float(errs[j]), sets[j]
    mask = _masks_from_sets(n, best_set[None, :])[0]
    return AdversarialSearchResult(np.sort(best_set), mask, best_err, False, total)


@STRAGGLERS.register(
    "adversarial",
    summary="HEURISTIC worst-case s stragglers for a code (greedy + local swaps + restarts)",
    # sample() ignores rng: ties and restarts follow the configured seed
    tags={"randomized": False, "stateful": False, "marginal": False},
)
class AdversarialStragglers(StragglerModel):
    """Worst-case ``s`` stragglers for one code and decoder -- a HEURISTIC search.

    The exact worst case needs ``C(n, s)`` decodings; this search is a lower bound on it:

    1. greedy: add, one at a time, the straggler that maximizes the decoding error (all
       ``n - |S|`` candidates evaluated in one batched ``decoding_errors`` call; ties broken
       at random);
    2. local search: repeatedly apply the best improving swap (one straggler out, one
       responder in; all ``s (n - s)`` swaps in one batch) until none improves the error by
       more than ``tol`` (relative) or ``max_swaps`` swaps were made; when
       ``s (n - s)`` exceeds ``max_batch``, a uniformly random subset of ``max_batch``
       swaps is tried per step (a stochastic local search; it stops after the first step
       whose sampled swaps bring no improvement);
    3. ``n_restarts`` extra local searches from uniformly random ``s``-sets.

    Cost: about ``n s`` decodings for the greedy start plus up to
    ``min(s (n - s), max_batch)`` per swap step. At n = 200, s = 40 that is thousands of
    least-squares decodings (tens of seconds); keep ``n`` moderate or lower ``max_batch``.

    The best set over all starts is returned. :func:`worst_stragglers_exhaustive` gives the
    exact answer for small ``n``.

    Parameters
    ----------
    s : int >= 0
        Number of stragglers.
    code : Code
        The code under attack.
    method : {"lstsq", "one-step"}
        Decoder (see ``decoders.decoding_errors``); ``"exact"`` is refused because it
        raises on the undecodable sets the search is looking for.
    n_restarts : int >= 0
        Random-start local searches in addition to the greedy start.
    max_swaps : int >= 0
        Cap on improving swaps per start.
    max_batch : int >= 1
        Most swaps evaluated per local-search step.
    tol : float >= 0
        Relative improvement a swap must make to be taken.
    seed : int >= 0
        Seed of the tie-breaking and random restarts of :meth:`sample`, which ignores its
        ``rng``: the model is deterministic given its configuration (tag
        ``randomized=False``). :meth:`search` takes an ``rng`` to explore other seeds.
    """

    name = "adversarial"
    heuristic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        s: int,
        code: Code,
        method: str = "lstsq",
        n_restarts: int = 3,
        max_swaps: int = 50,
        max_batch: int = 2048,
        tol: float = 1e-9,
        seed: int = 0,
    ) -> None:
        owner = "make_stragglers('adversarial')"
        if not isinstance(code, Code):
            raise TypeError(
                f"The 'code' parameter of {owner} must be a Code; got {type(code).__name__}."
            )
        self.code = code
        self.s = check_int("s", s, low=0, high=code.n_workers, owner=owner)
        # the exact decoder raises on undecodable sets, precisely the ones an adversary seeks
        self.method = check_choice("method", method, ("lstsq", "one-step"), owner=owner)
        self.n_restarts = check_int("n_restarts", n_restarts, low=0, owner=owner)
        self.max_swaps = check_int("max_swaps", max_swaps, low=0, owner=owner)
        self.max_batch = check_int("max_batch", max_batch, low=1, owner=owner)
        self.tol = check_real("tol", tol, low=0.0, owner=owner)
        self.seed = check_int("seed", seed, low=0, owner=owner)

    def _local_search(
        self, start: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, float, int]:
        n, s = self.code.n_workers, self.s
        cur = start.copy()
        cur_err = float(_errors(self.code, _masks_from_sets(n, cur[None, :]), self.method)[0])
        evals = 1
        if s == 0 or s == n:
            return cur, cur_err, evals
        for _ in range(self.max_swaps):
            outside = np.setdiff1d(np.arange(n), cur)
            # (position in cur, replacement) pairs, all of them or a random subset
            n_pairs = s * outside.size
            pairs = (np.arange(n_pairs) if n_pairs <= self.max_batch
                     else rng.choice(n_pairs, self.max_batch, replace=False))
            sets = np.repeat(cur[None, :], pairs.size, axis=0)
            sets[np.arange(pairs.size), pairs // outside.size] = outside[pairs % outside.size]
            errs = _errors(self.code, _masks_from_sets(n, sets), self.method)
            evals += sets.shape[0]
            best = errs.max()
            if best <= cur_err * (1 + self.tol) + 1e-15:
                break
            j = rng.choice(np.flatnonzero(errs == best))
            cur, cur_err = sets[j], float(best)
        return np.sort(cur), cur_err, evals

    def _greedy(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        n = self.code.n_workers
        chosen = np.empty(0, dtype=np.int64)
        evals = 0
        for _ in range(self.s):  # s sequential steps, each one batched over the candidates
            cand = np.setdiff1d(np.arange(n), chosen)
            sets = np.concatenate([np.repeat(chosen[None, :], cand.size, axis=0), cand[:, None]], 1)
            errs = _errors(self.code, _masks_from_sets(n, sets), self.method)
            evals += cand.size
            chosen = np.append(chosen, cand[rng.choice(np.flatnonzero(errs == errs.max()))])
        return chosen, evals

    def search(self, *, rng: Any = None) -> AdversarialSearchResult:
        """Run the heuristic search; returns the worst set found (``heuristic=True``).

        ``rng`` (default: the configured ``seed``) breaks ties and draws the restarts.
        """
        rng = resolve_rng(self.seed if rng is None else rng)
        n = self.code.n_workers
        start, evals = self._greedy(rng)
        best_set, best_err, e = self._local_search(start, rng)
        evals += e
        for _ in range(self.n_restarts):
            start = rng.permutation(n)[: self.s]
            cand_set, cand_err, e = self._local_search(start, rng)
            evals += e
            if cand_err > best_err:
                best_set, best_err = cand_set, cand_err
        mask = _masks_from_sets(n, best_set[None, :])[0]
        return AdversarialSearchResult(np.sort(best_set), mask, best_err, True, evals)

    def sample(self, batch: int, n_workers: int, *, rng: Any = None) -> np.ndarray:
        """The worst set found by :meth:`search`, repeated over the batch ``[batch, n_workers]``.

        The search runs on every call (no cached state) with the configured ``seed``;
        ``rng`` is accepted for the common signature and ignored (a deterministic model).
        """
        b, n = self._check_shape(batch, n_workers)
        if n != self.code.n_workers:
            raise ValueError(
                f"The 'n_workers' parameter of {self._owner()} must equal the code's "
                f"n_workers ({self.code.n_workers}); got {n}."
            )
        return np.repeat(self.search(rng=self.seed).mask[None, :], b, axis=0)

    def response_probability(self, n_workers: int) -> np.ndarray:
        raise NotImplementedError("The adversarial model is deterministic given the code.")
