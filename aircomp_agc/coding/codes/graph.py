r"""Graph (expander) codes: ``B = A_G / d`` for a random ``d``-regular graph ``G``.

Worker ``i`` stores the partitions of its ``d`` neighbours in ``G`` and sends their
average, ``gt_i = (1/d) sum_{j ~ i} g_j`` (Raviv, Tamo, Tandon, Dimakis, "Gradient coding
from cyclic MDS codes and expander graphs", ICML 2018; Glasgow & Wootters, "Approximate
gradient coding with optimal decoding", IEEE JSAIT 2021). Convention: **no self-loops** --
a worker does not store its own partition (``B[i, i] = 0``), so the row weight (storage)
is exactly ``d``; the graph is simple (no multi-edges) and ``k = n``.

Linear-decoder bound. With responders ``T`` (``|T| = r = n - s``) and the one-step decoder
``a_i = n / r`` on ``T``, write ``1_T = (r/n) 1 + v`` with ``v \perp 1``,
``\|v\|^2 = r s / n``; since ``A 1 = d 1``,

.. math:: c - 1 = \frac{n}{r d} A v, \qquad
          \|c - 1\| \le \frac{\lambda}{d} \sqrt{\frac{n s}{n - s}},

with ``lambda`` the second largest adjacency eigenvalue magnitude (:func:`graph_decoder_bound`);
the least-squares decoder can only do better. Note the one-step weight is ``n / |T|``
(rows of ``B`` sum to 1), not ``k / (d |T|)`` as for 0/1 codes:
``code.info["one_step_weight_times_responders"] = n``.

Generator. A configuration model in NumPy: the ``n d`` half-edges are paired by one random
permutation, then the ``O(d^2)`` self-loops and repeated edges are removed by random
double-edge switches (``{u,v},{x,y} -> {u,x},{v,y}``, accepted only when both new edges
are new and not loops; SGC's assignment uses the same rule, :mod:`.switching`); for
``d > (n-1)/2`` the complement of a random ``(n-1-d)``-regular graph is used. The result
is a simple ``d``-regular graph whose law is close to, but not exactly, uniform (the
configuration model conditioned on simplicity is uniform; the repair perturbs that law on
the ``O(d^2)`` repaired edges). networkx is not a dependency.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from ..._checks import check_int, check_real, resolve_rng
from ..base import Code
from ..registry import register_code
from .switching import exclusive_switches, repair_duplicates, switch_pass

__all__ = [
    "exclusive_switches",
    "graph_code",
    "graph_decoder_bound",
    "random_regular_graph",
    "second_eigenvalue",
]

# Dense eigendecomposition up to this many vertices, Lanczos (eigsh) beyond.
_DENSE_EIG_MAX_N = 1500
_MAX_RESTARTS = 100
# Vectorized double-edge-switch passes after the repair (mixing towards the uniform law).
_MIXING_PASSES = 10


def random_regular_graph(n: int, d: int, rng=None) -> sp.csr_matrix:
    """Adjacency matrix of a random simple ``d``-regular graph on ``n`` vertices.

    Parameters
    ----------
    n : int
        Vertices, ``>= 2``.
    d : int
        Degree in ``[1, n - 1]`` with ``n * d`` even.
    rng : None, int or numpy.random.Generator
        Randomness.

    Returns
    -------
    scipy.sparse.csr_matrix, [n, n], float64
        Symmetric 0/1 adjacency, zero diagonal, every row sum equal to ``d``.
    """
    owner = "random_regular_graph"
    n = check_int("n", n, low=2, owner=owner)
    d = check_int("d", d, low=1, high=n - 1, owner=owner)
    _check_parity(n, d, "d", owner)
    gen = resolve_rng(rng)
    if d > (n - 1) // 2:
        comp = random_regular_graph(n, n - 1 - d, gen) if d < n - 1 else sp.csr_matrix((n, n))
        dense = np.ones((n, n)) - np.eye(n) - comp.toarray()
        return sp.csr_matrix(dense)
    u, v = _pair_half_edges(n, d, gen)
    data = np.ones(2 * u.size)
    A = sp.csr_matrix((data, (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))
    A.sort_indices()
    return A


def _check_parity(n: int, d: int, name: str, owner: str) -> None:
    if (n * d) % 2:
        raise ValueError(
            f"The '{name}' parameter of {owner} must make n*{name} even (a {name}-regular graph "
            f"on n vertices has n*{name}/2 edges); got n={n}, {name}={d}: use an even "
            f"{name} or an even n."
        )


def _pair_half_edges(n: int, d: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Configuration-model pairing, then switch away loops and repeated edges.

    A repair can get stuck (no valid switch for a bad edge, possible at tiny ``n``); the
    pairing is then redrawn.
    """
    for _ in range(_MAX_RESTARTS):
        edges = _try_pairing(n, d, gen)
        if edges is not None:
            u, v = edges
            for _ in range(_MIXING_PASSES):
                _switch_pass(u, v, n, gen)
            return u, v
    raise RuntimeError(
        f"random_regular_graph: no simple graph after {_MAX_RESTARTS} pairings (n={n}, d={d})."
    )


def _try_pairing(n: int, d: int, gen: np.random.Generator):
    stubs = gen.permutation(np.repeat(np.arange(n, dtype=np.int64), d))
    u, v = stubs[0::2].copy(), stubs[1::2].copy()
    return (u, v) if repair_duplicates(u, v, _edge_key(n), gen, undirected=True) else None


def _edge_key(n: int):
    def key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.minimum(a, b) * n + np.maximum(a, b)

    return key


def _switch_pass(u: np.ndarray, v: np.ndarray, n: int, gen: np.random.Generator) -> None:
    """One vectorized pass of random double-edge switches on a simple graph (in place);
    see :func:`~aircomp_agc.coding.codes.switching.switch_pass`."""
    switch_pass(u, v, _edge_key(n), gen, undirected=True)


def second_eigenvalue(adjacency) -> float:
    r"""Second largest adjacency eigenvalue magnitude ``lambda`` of a ``d``-regular graph.

    ``lambda = max(|lambda_2|, |lambda_n|)`` with ``d = lambda_1 >= ... >= lambda_n``
    (``lambda = d`` for a disconnected or bipartite graph). Dense ``eigvalsh`` up to
    1,500 vertices; beyond, Lanczos (``scipy.sparse.linalg.eigsh``) on the deflated
    operator ``A - (d/n) 1 1^T`` whose extreme eigenvalues are ``lambda_2`` and ``lambda_n``.

    Parameters
    ----------
    adjacency : scipy.sparse matrix or ndarray, [n, n]
        Symmetric adjacency of a regular graph.

    Returns
    -------
    float
    """
    A = sp.csr_matrix(adjacency, dtype=np.float64)
    n = A.shape[0]
    deg = np.asarray(A.sum(axis=1)).ravel()
    if A.shape != (n, n) or n < 2 or np.ptp(deg) > 1e-9 or abs(A - A.T).max() > 1e-12:
        raise ValueError(
            "The 'adjacency' parameter of second_eigenvalue must be a symmetric [n, n] "
            f"adjacency matrix of a regular graph with n >= 2; got shape {A.shape} with "
            f"row sums in [{deg.min(initial=0):g}, {deg.max(initial=0):g}]."
        )
    return _second_eigenvalue(A, dense=n <= _DENSE_EIG_MAX_N)


def _second_eigenvalue(A: sp.csr_matrix, *, dense: bool) -> float:
    n = A.shape[0]
    d = float(A[0].sum())
    if dense or n < 4:
        mags = np.sort(np.abs(np.linalg.eigvalsh(A.toarray())))[::-1]
        return float(mags[1])
    op = spla.LinearOperator(
        (n, n), matvec=lambda x: A @ x - (d / n) * x.sum(axis=0), dtype=np.float64
    )
    v0 = np.random.default_rng(0).standard_normal(n)  # fixed start: deterministic result
    top = spla.eigsh(op, k=1, which="LA", v0=v0, return_eigenvectors=False)[0]
    bottom = spla.eigsh(op, k=1, which="SA", v0=v0, return_eigenvectors=False)[0]
    return float(max(abs(top), abs(bottom)))


def graph_decoder_bound(*, n: int, s: int, row_weight: int, lam: float) -> float:
    r"""Linear-decoder bound on ``||c - 1||`` for the graph code (Glasgow & Wootters 2021).

    .. math:: \|c - 1\| \le \frac{\lambda}{d} \sqrt{\frac{n s}{n - s}}

    for **every** responder set of size ``n - s``, attained-or-beaten by the one-step decoder
    ``a_i = n / (n - s)``; the normalized decoding error is at most ``bound**2 / n``.

    Parameters
    ----------
    n : int
        Workers (= partitions), ``>= 2``.
    s : int
        Stragglers, in ``[0, n - 1]``.
    row_weight : int
        Degree ``d`` in ``[1, n - 1]``.
    lam : float
        Second largest adjacency eigenvalue magnitude, in ``[0, d]``.

    Returns
    -------
    float
    """
    owner = "graph_decoder_bound"
    n = check_int("n", n, low=2, owner=owner)
    s = check_int("s", s, low=0, high=n - 1, owner=owner)
    d = check_int("row_weight", row_weight, low=1, high=n - 1, owner=owner)
    lam = check_real("lam", lam, low=0.0, high=d, owner=owner)
    return lam / d * math.sqrt(n * s / (n - s))


@register_code(
    "graph",
    family="approximate",
    randomized=True,
    storage_param="row_weight",
    summary="Random d-regular graph code B = A_G/d (expander; Glasgow & Wootters 2021)",
)
def graph_code(*, n: int, row_weight: int, rng=None) -> Code:
    """Graph code ``B = A_G / d`` for a random simple ``d``-regular graph (no self-loops).

    Parameters
    ----------
    n : int
        Workers = partitions, ``>= 2``.
    row_weight : int
        Degree ``d`` in ``[1, n - 1]``; ``n * d`` must be even.
    rng : None, int or numpy.random.Generator
        Randomness for the graph.

    Returns
    -------
    Code
        ``name="graph"``; ``B`` has ``d`` entries ``1/d`` per row and per column.
        ``info``: ``"lambda"`` (second largest adjacency eigenvalue magnitude),
        ``"ramanujan_lambda"`` (``2 sqrt(d - 1)``), ``"connected"``, ``"n_components"``,
        ``"one_step_weight_times_responders"`` (``n``: the one-step weight is ``n / |T|``).

    Examples
    --------
    >>> code = graph_code(n=100, row_weight=6, rng=0)
    >>> code.storage
    6
    """
    owner = "make_code('graph')"
    n = check_int("n", n, low=2, owner=owner)
    d = check_int("row_weight", row_weight, low=1, high=n - 1, owner=owner)
    _check_parity(n, d, "row_weight", owner)
    A = random_regular_graph(n, d, resolve_rng(rng))
    n_comp = int(csgraph.connected_components(A, directed=False)[0])
    info = {
        "lambda": _second_eigenvalue(A, dense=n <= _DENSE_EIG_MAX_N),
        "ramanujan_lambda": 2.0 * math.sqrt(d - 1),
        "connected": n_comp == 1,
        "n_components": n_comp,
        "one_step_weight_times_responders": float(n),
    }
    params = {"n": n, "n_partitions": n, "row_weight": d}
    if isinstance(rng, int | np.integer):
        params["rng"] = int(rng)
    return Code(name="graph", B=A / d, params=params, info=info)
