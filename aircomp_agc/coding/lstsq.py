"""Least-squares solvers behind the decoders (dense SVD stacks, LSMR, batched CGLS).

Also :func:`conditioning`, the worst-case conditioning of exact codes over straggler
sets. All solvers find ``min_a ||A a - 1||_2`` for ``A = B_T^T`` (minimum-norm solution), singly or
for a Monte-Carlo batch of responder masks ``A_b = B^T diag(m_b)`` sharing one sparse
``B`` [n_workers, k]. Used by :mod:`aircomp_agc.coding.decoders`; the choice between
them is measured in ``benchmarks/bench_decoding.py``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsmr

from .._checks import check_int, check_real
from .base import Code

__all__ = [
    "block_lsmr_vectors",
    "cgls_batch",
    "conditioning",
    "dense_vectors",
    "lsmr_lstsq",
    "svd_lstsq",
]

# Memory cap (float64 entries) for one chunk of the batched dense solver.
_DENSE_CHUNK_ENTRIES = 1 << 23
# Memory cap (nonzeros) for one chunk of the batched block-diagonal LSMR solver.
_SPARSE_CHUNK_NNZ = 1 << 22

_BLAS_CONTROLLER = None


def _single_thread_blas():
    """Context limiting BLAS to one thread (threadpoolctl, a scikit-learn dependency).

    OpenBLAS's threaded SVD is pathologically slow on the small stacked matrices used here
    (measured on 2 cores: 300 SVDs of 50 x 40 take 1.2 s threaded, 0.13 s on one thread).
    """
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional speed-up only
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


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


def block_lsmr_vectors(
    B: sp.csr_matrix, mask: np.ndarray, opts: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Decoders ``a`` [batch, n_workers] from one block-diagonal system
    ``blockdiag_b(B^T diag(m_b))`` solved by LSMR, and convergence flags [batch] (one flag
    per chunk).

    Kept for comparison: a Krylov method on a block-diagonal matrix converges like the
    union of the blocks' spectra, so this is slower than :func:`cgls_batch`.
    """
    n, k = B.shape
    Bt = B.T.tocsr()  # [k, n]
    nnz = Bt.nnz
    chunk = max(1, _SPARSE_CHUNK_NNZ // max(nnz, 1))
    out = np.empty(mask.shape, dtype=np.float64)
    converged = np.empty(mask.shape[0], dtype=bool)
    for start in range(0, mask.shape[0], chunk):
        m = mask[start : start + chunk]
        nb = m.shape[0]
        offs = np.arange(nb)
        # blockdiag_b(B^T diag(mask_b)) built directly in CSR form (no per-trial loop).
        indices = (Bt.indices[None, :] + n * offs[:, None]).ravel()
        data = (Bt.data[None, :] * m[:, Bt.indices]).ravel()
        indptr = np.concatenate(
            [(Bt.indptr[:-1][None, :] + nnz * offs[:, None]).ravel(), [nnz * nb]]
        )
        A = sp.csr_matrix((data, indices, indptr), shape=(k * nb, n * nb))
        a, ok = lsmr_lstsq(A, np.ones(k * nb), opts)
        out[start : start + nb] = a.reshape(nb, n)
        converged[start : start + nb] = ok
    return out, converged


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
