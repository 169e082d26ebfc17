r"""Stochastic gradient coding (SGC): d-fold random replication with an unbiased decoder.

Bitar, Wootters, El Rouayheb, "Stochastic gradient coding for straggler mitigation in
distributed learning", IEEE JSAIT 2020. Every partition is stored by exactly ``d``
distinct workers; worker ``i`` sends the plain sum of its partitions' gradients
(``B`` is 0/1). Each worker straggles independently with probability ``p``, and the
master scales every received message by ``1 / (d (1 - p))``:

.. math:: c_j = \frac{1}{d (1-p)} \sum_{i \in T} B_{ij}
          = \frac{\mathrm{Bin}(d, 1-p)}{d (1-p)}, \qquad
          \mathbb{E}[c] = 1, \qquad
          \frac{\mathbb{E}\|c - 1\|^2}{k} = \frac{p}{d (1-p)}.

Both identities need only that every column of ``B`` has exactly ``d`` ones and that
stragglers are i.i.d. Bernoulli(p); they hold for every realization of the assignment.

Assignment ("balanced random replication"). ``k d`` (worker, partition) slots: partition
``j`` gets ``d`` slots and worker loads differ by at most one (``floor(k d / n)`` or
``ceil(k d / n)``, the larger loads on a random set of workers). Worker labels are paired
with the slots by one random permutation; the few repeated (worker, partition) pairs are
removed by random label swaps, then vectorized swap passes mix the assignment (each pass
is symmetric, so the uniform law on balanced simple assignments is stationary); graph
codes share these two steps (:mod:`.switching`). The SGC
paper's analysis favours *pairwise-balanced* assignments (every pair of workers shares
about the same number of partitions); a uniformly random balanced assignment achieves
that in expectation, and ``info["max_pair_overlap"]`` reports the worst pair (computed
for ``n <= 2000``). For ``d > n/2`` the complement of an ``(n - d)``-fold assignment is
used.

The unbiased decoder is reachable as
``code.decode(T, method="one-step", weight=code.info["one_step_weight"])`` or via
:func:`sgc_weight`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._checks import check_int, check_real, resolve_rng
from ..base import Code
from ..registry import register_code
from .switching import repair_duplicates, switch_pass

__all__ = ["balanced_replication", "sgc", "sgc_expected_error", "sgc_weight"]

_MIXING_PASSES = 10
_MAX_RESTARTS = 100
_OVERLAP_MAX_N = 2000


def balanced_replication(n: int, n_partitions: int, d: int, rng=None) -> sp.csr_matrix:
    """Random 0/1 assignment: each partition on ``d`` distinct workers, balanced loads.

    Parameters
    ----------
    n : int
        Workers, ``>= 1``.
    n_partitions : int
        Partitions ``k``, ``>= 1``.
    d : int
        Replication in ``[1, n]``.
    rng : None, int or numpy.random.Generator
        Randomness.

    Returns
    -------
    scipy.sparse.csr_matrix, [n, k], float64
        0/1 matrix; every column sums to ``d``; row sums are ``floor(k d / n)`` or
        ``ceil(k d / n)``.
    """
    owner = "balanced_replication"
    n = check_int("n", n, low=1, owner=owner)
    k = check_int("n_partitions", n_partitions, low=1, owner=owner)
    d = check_int("d", d, low=1, high=n, owner=owner)
    gen = resolve_rng(rng)
    if 2 * d > n:
        comp = balanced_replication(n, k, n - d, gen) if d < n else sp.csr_matrix((n, k))
        return sp.csr_matrix(np.ones((n, k)) - comp.toarray())
    total = k * d
    loads = np.full(n, total // n, dtype=np.int64)
    loads[gen.permutation(n)[: total % n]] += 1
    for _ in range(_MAX_RESTARTS):
        W = gen.permutation(np.repeat(np.arange(n, dtype=np.int64), loads))
        P = np.repeat(np.arange(k, dtype=np.int64), d)
        if _repair(W, P, k, gen):
            for _ in range(_MIXING_PASSES):
                _swap_pass(W, P, k, gen)
            return sp.csr_matrix((np.ones(total), (W, P)), shape=(n, k))
    raise RuntimeError(f"balanced_replication: repair failed (n={n}, k={k}, d={d}).")


def _slot_key(k: int):
    def key(p: np.ndarray, w: np.ndarray) -> np.ndarray:
        return w * k + p

    return key


def _repair(W: np.ndarray, P: np.ndarray, k: int, gen: np.random.Generator) -> bool:
    """Swap worker labels of repeated (worker, partition) slots until all are distinct."""
    return repair_duplicates(P, W, _slot_key(k), gen, undirected=False)


def _swap_pass(W: np.ndarray, P: np.ndarray, k: int, gen: np.random.Generator) -> None:
    """Vectorized pass of worker-label swaps between random slot pairs (in place).

    Slots ``(w, p), (w', p')`` become ``(w', p), (w, p')`` under the exclusivity rule of
    :func:`~aircomp_agc.coding.codes.switching.switch_pass` (the pass is symmetric).
    Column counts and worker loads are unchanged.
    """
    switch_pass(P, W, _slot_key(k), gen, undirected=False)


def sgc_weight(row_weight: int, p: float) -> float:
    """SGC's unbiased one-step weight ``1 / (d (1 - p))``.

    Parameters
    ----------
    row_weight : int
        Replication ``d >= 1``.
    p : float
        Straggle probability in ``[0, 1)``.
    """
    d = check_int("row_weight", row_weight, low=1, owner="sgc_weight")
    p = check_real("p", p, low=0.0, high=1.0, high_open=True, owner="sgc_weight")
    return 1.0 / (d * (1.0 - p))


def sgc_expected_error(row_weight: int, p: float) -> float:
    """Normalized error ``E||c - 1||^2 / k = p / (d (1 - p))`` of SGC's unbiased decoder.

    Under i.i.d. Bernoulli(p) stragglers, for any assignment with every partition on
    exactly ``d`` workers (each ``c_j`` is ``Bin(d, 1 - p) / (d (1 - p))``).
    """
    d = check_int("row_weight", row_weight, low=1, owner="sgc_expected_error")
    p = check_real("p", p, low=0.0, high=1.0, high_open=True, owner="sgc_expected_error")
    return p / (d * (1.0 - p))


@register_code(
    "sgc",
    family="approximate",
    randomized=True,
    storage_param="row_weight",
    summary="Stochastic gradient coding (Bitar et al. 2020): d-fold random replication",
)
def sgc(
    *,
    n: int,
    row_weight: int,
    p: float,
    n_partitions: int | None = None,
    rng=None,
) -> Code:
    """Stochastic gradient code: each partition on ``d`` random workers, balanced loads.

    Parameters
    ----------
    n : int
        Workers, ``>= 1``.
    row_weight : int
        Replication ``d`` in ``[1, n]``: workers per partition (with ``k = n`` it is also
        every worker's load).
    p : float
        Straggle probability in ``[0, 1)`` the decoder is built for (recorded).
    n_partitions : int, optional
        Partitions ``k`` (default ``n``); loads are then ``floor(k d/n)`` or ``ceil(k d/n)``.
    rng : None, int or numpy.random.Generator
        Randomness for the assignment.

    Returns
    -------
    Code
        ``name="sgc"``, 0/1 entries, every column with exactly ``d`` ones. ``info``:
        ``"one_step_weight"`` (``1 / (d (1 - p))``: pass it as
        ``code.decode(T, method="one-step", weight=...)``), ``"expected_error"``
        (``p / (d (1 - p))`` under Bernoulli(p) stragglers) and ``"max_pair_overlap"``
        (most partitions shared by two workers; ``None`` when ``n > 2000``).

    Examples
    --------
    >>> code = sgc(n=20, row_weight=3, p=0.2, rng=0)
    >>> code.info["one_step_weight"]
    0.41666666666666663
    """
    owner = "make_code('sgc')"
    n = check_int("n", n, low=1, owner=owner)
    k = n if n_partitions is None else check_int("n_partitions", n_partitions, low=1, owner=owner)
    d = check_int("row_weight", row_weight, low=1, high=n, owner=owner)
    p = check_real("p", p, low=0.0, high=1.0, high_open=True, owner=owner)
    B = balanced_replication(n, k, d, resolve_rng(rng))
    overlap = None
    if n <= _OVERLAP_MAX_N and n > 1:
        gram = (B @ B.T).toarray()
        np.fill_diagonal(gram, 0)
        overlap = int(gram.max())
    info = {
        "one_step_weight": sgc_weight(d, p),
        "expected_error": sgc_expected_error(d, p),
        "max_pair_overlap": overlap,
    }
    params = {"n": n, "n_partitions": k, "row_weight": d, "p": p}
    if isinstance(rng, int | np.integer):
        params["rng"] = int(rng)
    return Code(name="sgc", B=B, params=params, info=info)
