"""Least-squares solvers behind the decoders (normal equations, dense SVD stacks, LSMR,
batched CGLS).

Also :func:`conditioning`, the worst-case conditioning of exact codes over straggler
sets. All solvers find ``min_a ||A a - 1||_2`` for ``A = B_T^T`` (minimum-norm solution), singly or
for a Monte-Carlo batch of responder masks ``A_b = B^T diag(m_b)`` sharing one sparse
``B`` [n_workers, k]. Used by :mod:`aircomp_agc.coding.decoders`; the choice between
them is measured in ``benchmarks/bench_decoding.py``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsmr

from .._blas import single_thread_blas as _single_thread_blas
from .._checks import check_int, check_real
from .base import Code

__all__ = [
    "NORMAL_RTOL",
    "NormalSystem",
    "cgls_batch",
    "conditioning",
    "dense_vectors",
    "lsmr_lstsq",
    "normal_system",
    "normal_vectors",
    "svd_lstsq",
]

#: :func:`normal_vectors` reports a trial as converged when the last iterative-refinement
#: update is at most this fraction of ``max |a|``.
NORMAL_RTOL = 1e-9
#: Threads used by :func:`normal_vectors` on large batches (each with single-threaded
#: BLAS); ``None``: every core this process may use.
NORMAL_THREADS: int | None = None

# Memory cap (float64 entries) for one chunk of the batched dense solver.
_DENSE_CHUNK_ENTRIES = 1 << 23
# Trials per chunk of the normal-equation solver: this many entries of a [chunk, n] array
# (the chunk's working set then stays in the L2 cache).
_NORMAL_CHUNK_ENTRIES = 1 << 15
# Eigenvalues of B B^T below _GRAM_RCOND * the largest span its (numerical) null space,
# lifted in NormalSystem and removed per trial by a Woodbury correction.
_GRAM_RCOND = 1e-8
# A trial whose Woodbury capacitance has a singular value below this, relative to the size
# 1/lift of its terms, has (numerically) dependent responder rows: reported as not converged.
_CAPACITANCE_RTOL = 1e-9
# Iterative refinement: at most this many steps; a trial stops when its update falls below
# _REFINE_FLOOR * max|a| or stops halving.
_REFINE_MAX_STEPS = 8
_REFINE_FLOOR = 1e-10


def svd_lstsq(
    A: np.ndarray, rhs: np.ndarray, cond_rtol: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least-squares solutions of a stack ``A`` [batch, m, p] (SVD).

    Singular values below ``max(m, p) * eps * s_max`` are treated as zero (NumPy's
    ``lstsq`` default). Returns the solutions [batch, p] and the condition numbers
    ``s_max / s_min`` over the singular values above ``max(cutoff, cond_rtol * s_max)``
    [batch].
    """
    with _single_thread_blas():
        U, S, Vt = np.linalg.svd(A, full_matrices=False)
    smax = S[..., :1]
    cutoff = max(A.shape[-2:]) * np.finfo(A.dtype).eps * smax
    keep = S > cutoff
    inv = np.where(keep, 1.0 / np.where(keep, S, 1.0), 0.0)
    proj = np.einsum("bmr,bm->br", U, rhs) * inv
    smin = np.where(keep & (S > cond_rtol * smax), S, np.inf).min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(np.isfinite(smin), smax[..., 0] / smin, np.inf)
    return np.einsum("brp,br->bp", Vt, proj), cond


def lsmr_lstsq(A, rhs: np.ndarray, opts: dict) -> tuple[np.ndarray, bool]:
    """LSMR solve; returns the solution and whether LSMR reported convergence."""
    # conlim is lifted: exact codes are legitimately ill-conditioned (crc: cond ~1e8).
    out = lsmr(
        A,
        rhs,
        atol=opts.get("atol", 1e-12),
        btol=opts.get("btol", 1e-12),
        conlim=1e16,
        maxiter=opts.get("maxiter", max(200, 4 * min(A.shape))),
    )
    return out[0], out[1] in (1, 2, 4, 5)


def cgls_batch(B: sp.csr_matrix, mask: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Batched CGLS: minimum-norm ``argmin ||B^T diag(m_b) a_b - 1||`` for every trial.

    Each trial keeps its own step sizes (this is CGLS, mathematically LSQR, run on all
    trials at once); a step costs two sparse-times-dense products with the shared ``B``,
    ``(B^T (M * P)^T)^T`` and ``M * (B R^T)^T``, for all active trials. Starting from
    ``a = 0`` the iterates stay in ``range(A_b^T)``, so ``a`` is zero off the responders
    and the limit is the minimum-norm solution. A trial stops when
    ``||r|| <= btol ||1|| + atol ||A|| ||a||`` or ``||A^T r|| <= atol ||A|| ||r||``
    (``||A||`` its Frobenius norm), as in LSQR.

    Parameters
    ----------
    B : csr_matrix [n_workers, k]
    mask : bool [batch, n_workers]
    opts : dict
        ``atol``, ``btol`` (default 1e-12), ``maxiter`` (default ``max(200, 4 min(k, n))``).

    Returns
    -------
    a : float64 [batch, n_workers]
    converged : bool [batch]
    """
    n, k = B.shape
    Bt = B.T.tocsr()
    atol = opts.get("atol", 1e-12)
    btol = opts.get("btol", 1e-12)
    maxiter = opts.get("maxiter", max(200, 4 * min(k, n)))
    M = mask.astype(np.float64)
    batch = M.shape[0]
    normA = np.sqrt(M @ np.asarray(B.multiply(B).sum(axis=1)).ravel())  # Frobenius
    normb = math.sqrt(k)
    out = np.zeros((batch, n))
    converged = ~mask.any(axis=1)  # no responders: a = 0 is the solution
    cols = np.flatnonzero(~converged)
    # Trials are columns ([n, width], [k, width]) so the sparse products need no copies;
    # finished trials are frozen (zero step) and compacted away once half are done.
    Mt = np.ascontiguousarray(M[cols].T)
    nA = normA[cols]
    X = np.zeros((n, cols.size))
    R = np.ones((k, cols.size))
    S = Mt * (B @ R)
    P = S.copy()
    gamma = np.sum(S * S, axis=0)
    live = np.ones(cols.size, dtype=bool)
    for _ in range(maxiter):
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live <= cols.size // 2:
            out[cols[~live]] = X[:, ~live].T
            cols, Mt, nA = cols[live], Mt[:, live], nA[live]
            X, R, P, gamma = X[:, live], R[:, live], P[:, live], gamma[live]
            live = np.ones(cols.size, dtype=bool)
        Q = Bt @ (Mt * P)
        qq = np.sum(Q * Q, axis=0)
        alpha = np.where(live & (qq > 0), gamma / np.where(qq > 0, qq, 1.0), 0.0)
        X += alpha * P
        R -= alpha * Q
        S = Mt * (B @ R)
        g_new = np.sum(S * S, axis=0)
        rnorm = np.linalg.norm(R, axis=0)
        xnorm = np.linalg.norm(X, axis=0)
        done = live & (
            (rnorm <= btol * normb + atol * nA * xnorm) | (np.sqrt(g_new) <= atol * nA * rnorm)
        )
        beta = np.where(gamma > 0, g_new / np.where(gamma > 0, gamma, 1.0), 0.0)
        P = S + beta * P
        gamma = g_new
        converged[cols[done]] = True
        live &= ~done
    out[cols] = X.T
    return out, converged


def dense_vectors(B: sp.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """Minimum-norm decoders ``a`` [batch, n_workers] via stacked SVDs of ``B^T diag(m_b)``."""
    n, k = B.shape
    Bt = B.T.toarray()  # [k, n]
    ones = np.ones(k)
    chunk = max(1, _DENSE_CHUNK_ENTRIES // (k * n))
    out = np.empty(mask.shape, dtype=np.float64)
    for start in range(0, mask.shape[0], chunk):
        m = mask[start : start + chunk]
        A = Bt[None, :, :] * m[:, None, :]
        a = svd_lstsq(A, np.broadcast_to(ones, (m.shape[0], k)))[0]
        # Exactly zero off the responders (the SVD leaves rounding noise on A's zero
        # columns, which B's large entries would turn into a spurious residual).
        out[start : start + chunk] = np.where(m, a, 0.0)
    return out


@dataclass(frozen=True, eq=False)
class NormalSystem:
    """What every responder set of one code shares in the normal equations.

    For responders ``T`` the least-squares decoder solves ``(B_T B_T^T) a_T = B_T 1``: the
    principal submatrix ``G_TT`` of the Gram matrix ``G = B B^T`` with the right-hand side
    ``r_T``, ``r = B 1``. Built by :func:`normal_system`.

    ``G`` is singular when the rows of ``B`` are dependent (an uncovered partition,
    repeated rows, more workers than partitions). Its null space ``N`` ([n, d], the
    eigenvectors with eigenvalues below ``1e-8`` of the largest) is then lifted:
    ``G_lift = G + N diag(lift - mu_N) N^T`` (``lift``: the largest eigenvalue) is as well
    conditioned as ``G`` on its range, and each trial removes the lift again with a rank-``d``
    (Woodbury) correction.

    Attributes
    ----------
    gram : float64 [n, n]
        ``G = B B^T``.
    rhs : float64 [n]
        ``r = B 1`` (row sums).
    lifted : float64 [n, n]
        ``G_lift`` (``G`` itself when ``d = 0``).
    inverse : float64 [n, n]
        ``G_lift^-1``.
    null : float64 [n, d]
        Orthonormal basis ``N`` of the (numerical) null space of ``G``.
    null_lift : float64 [d]
        ``lift - mu_N``, the eigenvalues added along ``N``.
    """

    gram: np.ndarray
    rhs: np.ndarray
    lifted: np.ndarray
    inverse: np.ndarray
    null: np.ndarray
    null_lift: np.ndarray

    @property
    def n(self) -> int:
        return int(self.rhs.size)

    @property
    def null_dim(self) -> int:
        return int(self.null.shape[1])

    def padded(self, which: str) -> np.ndarray:
        """``G_lift`` (``"lifted"``) or its inverse (``"inverse"``) with an extra zero row and
        column (index ``n``: the padding of gathered index sets)."""
        cache = self.__dict__.setdefault("_padded", {})
        if which not in cache:
            n = self.n
            out = np.zeros((n + 1, n + 1))
            out[:n, :n] = getattr(self, which)
            cache[which] = out
        return cache[which]


def normal_system(B: sp.csr_matrix) -> NormalSystem:
    """Gram matrix, row sums and the lifted inverse of ``G = B B^T`` for a code ``B``
    (see :class:`NormalSystem`).

    Costs one dense symmetric eigendecomposition of ``G`` (``n_workers^3``); the decoders
    keep the result per code.
    """
    G = np.asarray((B @ B.T).toarray(), dtype=np.float64)
    G = (G + G.T) / 2  # exactly symmetric (sparse products may round G_ij and G_ji apart)
    r = np.asarray(B.sum(axis=1), dtype=np.float64).ravel()
    with _single_thread_blas():  # threaded OpenBLAS is slower here too (measured, n = 200)
        mu, V = np.linalg.eigh(G)
        lift = float(mu[-1]) if mu.size and mu[-1] > 0 else 1.0
        null = mu < _GRAM_RCOND * lift
        N = np.ascontiguousarray(V[:, null])
        null_lift = lift - mu[null]
        lifted = G
        if null.any():
            lifted = G + (N * null_lift) @ N.T
            lifted = (lifted + lifted.T) / 2
        H = (V / np.where(null, lift, mu)) @ V.T
    return NormalSystem(
        gram=G,
        rhs=r,
        lifted=lifted,
        inverse=(H + H.T) / 2,
        null=N,
        null_lift=null_lift,
    )


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def normal_vectors(
    system: NormalSystem, mask: np.ndarray, *, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares decoders from the masked normal equations, for a batch of masks.

    For each trial, solves ``G_TT a_T = r_T`` (``G = B B^T``, ``r = B 1``; see
    :class:`NormalSystem`) by iterative refinement in float64,
    ``a <- a + G_TT^-1 (r_T - G_TT a)``, where ``G_TT^-1`` is applied through the explicit
    inverse of whichever index set is smaller: the responders (``(G_lift)_TT^-1``) or the
    stragglers ``S``, by the Schur complement
    ``(G_lift)_TT^-1 = H_TT - H_TS H_SS^-1 H_ST`` of ``H = G_lift^-1`` (``|S|^3`` work
    instead of ``|T|^3``: 20 stragglers of 100 workers cost 1/64 of the direct solve).
    When ``G`` has a null space (``d > 0``) a rank-``d`` Woodbury correction turns
    ``(G_lift)_TT^-1`` into ``G_TT^-1``. The first solve is accurate to about
    ``eps * cond(G_TT)``; refinement stops when a step is below ``1e-10 * max|a|`` or stops
    halving.

    Normal equations square the condition number of ``B_T``; the least-squares error
    ``||B_T^T a - 1||^2`` is nevertheless accurate to second order in the error of ``a``
    (``B_T^T`` of that error is orthogonal to the optimal residual). A trial is reported not
    converged when its last refinement step exceeds :data:`NORMAL_RTOL` ``* max|a|``
    (ill-conditioned ``G_TT``) or when ``G_TT`` is singular (dependent responder rows, seen
    as a singular Woodbury capacitance), where the minimum-norm decoder needs another
    solver. When ``G`` is nonsingular every ``G_TT`` is too (with ``cond(G_TT) <= cond(G)``),
    and the solution is unique.

    Trials are sorted by straggler count and solved in chunks that fit in cache, on
    ``threads`` threads (default :data:`NORMAL_THREADS`) with single-threaded BLAS; results
    do not depend on the number of threads.

    Parameters
    ----------
    system : NormalSystem
    mask : bool [batch, n_workers]
    threads : int, optional

    Returns
    -------
    a : float64 [batch, n_workers]
        Zero off each trial's responders.
    converged : bool [batch]
    """
    batch, n = mask.shape
    out = np.zeros((batch, n))
    converged = np.ones(batch, dtype=bool)
    if batch == 0:
        return out, converged
    n_strag = n - np.count_nonzero(mask, axis=1)
    order = np.argsort(n_strag, kind="stable")
    size = max(8, _NORMAL_CHUNK_ENTRIES // max(n, 1))
    # Chunks of similar straggler counts, none mixing trials with more stragglers than
    # responders (inverted through the stragglers) and the others.
    split = int(np.searchsorted(n_strag[order], n / 2, side="right"))
    chunks = [
        part[i : i + size]
        for part in (order[:split], order[split:])
        for i in range(0, part.size, size)
    ]

    def work(rows: np.ndarray) -> None:
        out[rows], converged[rows] = _normal_chunk(system, mask[rows])

    # The padded matrices the chunks gather from, built once before any thread reads them.
    if split:
        system.padded("inverse")
    if split < batch:
        system.padded("lifted")
    if threads is None:
        threads = NORMAL_THREADS if NORMAL_THREADS is not None else _usable_cores()
    threads = max(1, min(int(threads), len(chunks)))
    with _single_thread_blas():
        if threads == 1:
            for rows in chunks:
                work(rows)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(work, chunks))
    return out, converged


def _padded_indices(sel: np.ndarray, width: int, pad: int) -> np.ndarray:
    """Column indices of the True entries of each row of ``sel``, padded with ``pad``."""
    rows, cols = np.nonzero(sel)
    counts = np.count_nonzero(sel, axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    idx = np.full((sel.shape[0], width), pad, dtype=np.intp)
    idx[rows, np.arange(rows.size) - starts[rows]] = cols
    return idx


class _ChunkInverse:
    """``(G_lift)_TT^-1`` for the trials of one chunk (see :func:`normal_vectors`)."""

    def __init__(self, system: NormalSystem, m: np.ndarray) -> None:
        C, n = m.shape
        self.n, self.H, self.mf = n, system.inverse, m.astype(np.float64)
        n_resp = np.count_nonzero(m, axis=1)
        s_max, t_max = int(n - n_resp.min()), int(n_resp.max())
        self.schur = s_max <= t_max  # factor the smaller principal submatrix
        width = s_max if self.schur else t_max
        self.idx = _padded_indices(~m if self.schur else m, width, n)
        self.L = None
        if width:
            P = system.padded("inverse" if self.schur else "lifted")
            K = P.ravel()[self.idx[:, :, None] * (n + 1) + self.idx[:, None, :]]
            diag = np.arange(width)
            K[:, diag, diag] += self.idx == n  # identity on the padding
            # SPD blocks of a well-conditioned matrix. The factor is stored [k, k, C] so
            # that the substitutions below run on contiguous length-C rows.
            L = np.linalg.cholesky(K)
            self.L = np.ascontiguousarray(L.transpose(1, 2, 0))
            self.d_inv = 1.0 / np.ascontiguousarray(L[:, diag, diag].T)  # [k, C]

    def _small_solve(self, b: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """``K^-1 b`` for ``b`` [k, c, q] by forward and back substitution, in place."""
        if sel.size == self.d_inv.shape[1]:  # the whole chunk (sel is then arange)
            L, d_inv = self.L[..., None], self.d_inv[..., None]
        else:
            L, d_inv = self.L[:, :, sel, None], self.d_inv[:, sel, None]
        k = b.shape[0]
        for i in range(k):  # L y = b
            b[i] *= d_inv[i]
            b[i + 1 :] -= L[i + 1 :, i] * b[i]
        for i in range(k - 1, -1, -1):  # L^T x = y
            b[i] *= d_inv[i]
            b[:i] -= L[i, :i] * b[i]
        return b

    def __call__(self, res: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """``(G_lift)_TT^-1 res_T`` for trials ``sel``; ``res`` [len(sel), q, n] (q right-hand
        sides per trial), zero off the responders."""
        c, q, n = res.shape
        if self.L is None:
            return res @ self.H * self.mf[sel, None, :] if self.schur else np.zeros_like(res)
        X = (res.reshape(c * q, n) @ self.H).reshape(c, q, n) if self.schur else res
        idx = self.idx[sel]  # [c, k]
        rows = np.arange(c)[:, None]
        buf = np.zeros((c, n + 1, q))
        buf[:, :n, :] = X.transpose(0, 2, 1)
        y = self._small_solve(np.ascontiguousarray(buf[rows, idx].transpose(1, 0, 2)), sel)
        buf[:] = 0.0
        buf[rows, idx] = y.transpose(1, 0, 2)
        Y = buf[:, :n, :].transpose(0, 2, 1)  # [c, q, n]
        if not self.schur:
            return np.ascontiguousarray(Y)
        X = X - (np.ascontiguousarray(Y).reshape(c * q, n) @ self.H).reshape(c, q, n)
        return X * self.mf[sel, None, :]


def _normal_chunk(system: NormalSystem, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normal_vectors` on one chunk (see there)."""
    C, n = m.shape
    try:
        inv = _ChunkInverse(system, m)
    except np.linalg.LinAlgError:
        return np.zeros((C, n)), np.zeros(C, dtype=bool)
    ok = np.ones(C, dtype=bool)
    solve = inv
    if system.null_dim:
        # G_TT = (G_lift)_TT - N_T diag(l) N_T^T: Woodbury with the d x d capacitance
        # diag(1/l) - N_T^T (G_lift)_TT^-1 N_T, singular exactly when G_TT is.
        NT = system.null.T[None, :, :] * inv.mf[:, None, :]  # [C, d, n]
        Z = inv(NT, np.arange(C))  # (G_lift)_TT^-1 N_T, [C, d, n]
        cap = np.diag(1.0 / system.null_lift) - Z @ NT.transpose(0, 2, 1)
        # Its terms are of size 1/lift; relative to that, a (near) zero singular value
        # means (nearly) dependent responder rows.
        sv_min = np.linalg.svd(cap, compute_uv=False)[:, -1]
        bad = ~(sv_min * system.null_lift.max() > _CAPACITANCE_RTOL)
        ok &= ~bad
        cap[bad] = np.eye(system.null_dim)
        cap_inv = np.linalg.inv(cap)

        def solve(res: np.ndarray, sel: np.ndarray) -> np.ndarray:
            u = inv(res, sel)  # [c, 1, n]
            w = (u @ NT[sel].transpose(0, 2, 1)) @ cap_inv[sel]  # [c, 1, d]
            return u + w @ Z[sel]

    rhs = inv.mf * system.rhs
    live = np.arange(C)
    a = solve(rhs[:, None, :], live)[:, 0, :]
    last = np.full(C, np.inf)
    for _ in range(_REFINE_MAX_STEPS):
        res = (rhs[live] - a[live] @ system.gram) * inv.mf[live]
        step = solve(res[:, None, :], live)[:, 0, :]
        size = np.abs(step).max(axis=1)
        a[live] += step
        going = (size > _REFINE_FLOOR * np.abs(a[live]).max(axis=1)) & (size <= 0.5 * last[live])
        last[live] = size
        live = live[going]
        if not live.size:
            break
    return a, ok & (last <= NORMAL_RTOL * np.abs(a).max(axis=1))


def conditioning(
    code: Code,
    n_stragglers: int,
    *,
    sets: Sequence | np.ndarray | None = None,
    rtol: float = 1e-12,
) -> dict:
    """Worst conditioning of an exact code over straggler sets (dense SVD).

    For each straggler set ``S`` (``|S| = n_stragglers``) with responders ``T``, computes
    ``cond(B_T)`` and the minimum-norm least-squares decoder of ``B_T^T a = 1``, and
    reports the worst values seen. ``cond(B_T)`` is the ratio of the largest to the
    smallest *nonzero* singular value, counting as zero those below ``rtol * s_max``
    (default 1e-12, well above the ~1e-15 rounding noise of an exactly rank-deficient
    ``B_T``): the condition number of the map the decoder inverts, finite also when
    ``B_T`` has more rows than rank (e.g. a block of ``cyclic-mds`` without stragglers).
    Condition numbers beyond ``1 / rtol`` are therefore not resolved.

    Parameters
    ----------
    code : Code
    n_stragglers : int
    sets : int array [n_sets, n_stragglers], optional
        Straggler sets to examine; default all ``C(n, n_stragglers)`` sets (only sensible
        for small codes).
    rtol : float
        Relative singular-value cutoff for ``cond`` (see above).

    Returns
    -------
    dict
        ``cond_worst`` (float), ``max_abs_a`` (float, largest ``|a_i|``),
        ``residual_worst`` (float, largest ``||B_T^T a - 1|| / sqrt(k)``), ``n_sets``.
    """
    n = code.n_workers
    s = check_int("n_stragglers", n_stragglers, low=0, high=n - 1, owner="conditioning")
    rtol = check_real("rtol", rtol, low=0.0, high=1.0, owner="conditioning")
    if sets is None:
        from itertools import combinations

        sets = list(combinations(range(n), s))
    sets = np.asarray(sets, dtype=np.int64)
    if sets.ndim != 2 or sets.shape[1] != s:
        raise ValueError(
            f"The 'sets' parameter of conditioning must have shape [n_sets, {s}]; got {sets.shape}."
        )
    B = code.B.toarray()
    k = code.n_partitions
    out = {"cond_worst": 1.0, "max_abs_a": 0.0, "residual_worst": 0.0, "n_sets": len(sets)}
    chunk = max(1, _DENSE_CHUNK_ENTRIES // (k * n))
    for start in range(0, len(sets), chunk):
        strag = sets[start : start + chunk]
        keep = np.ones((len(strag), n), dtype=bool)
        keep[np.arange(len(strag))[:, None], strag] = False
        idx = np.nonzero(keep)[1].reshape(len(strag), n - s)
        At = np.transpose(B[idx], (0, 2, 1))  # [sets, k, n - s]
        a, cond = svd_lstsq(At, np.ones((len(strag), k)), cond_rtol=rtol)
        res = np.linalg.norm(np.einsum("bkt,bt->bk", At, a) - 1.0, axis=1) / math.sqrt(k)
        out["cond_worst"] = max(out["cond_worst"], float(cond.max()))
        out["max_abs_a"] = max(out["max_abs_a"], float(np.abs(a).max()))
        out["residual_worst"] = max(out["residual_worst"], float(res.max()))
    return out
