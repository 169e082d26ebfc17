"""Decoders for gradient codes: least squares, one-step and exact.

A code ``B`` ([n_workers, k], sparse) and a responder set ``T`` give the coefficient
vector ``c = B_T^T a`` of the decoded sum ``Ghat = c^T g``. With i.i.d. zero-mean
isotropic partition gradients the normalized decoding error is

.. math::

    \\mathrm{err}(T) = \\frac{\\mathbb{E}\\|\\hat G - G\\|^2}{\\mathbb{E}\\|G\\|^2}
                    = \\frac{\\|B_T^T a - \\mathbf 1\\|_2^2}{k}.

Three decoders (``method``):

- ``"lstsq"``: the optimal linear decoder ``a = argmin ||B_T^T a - 1||_2`` (minimum-norm
  solution). Large systems use SciPy's sparse LSMR; small ones (``k * |T| <=``
  :data:`DENSE_MAX_ENTRIES`) a dense SVD solve, which is robust to the ill-conditioning
  of exact codes such as ``crc``. Pick with ``solver=``. :func:`decoding_errors` solves
  a whole Monte-Carlo batch at once with a batched CGLS (per-trial step sizes, shared
  sparse products), falling back to stacked dense SVDs for trials that do not converge.
- ``"one-step"``: a constant weight on responders, by default ``k / (w |T|)`` with ``w``
  the mean row weight (Charles, Papailiopoulos, Ellenberg, "Approximate gradient coding
  via sparse random graphs", 2017). For the uncoded baseline (``B = I``) this is the
  unbiased rescaling ``n / |T|``; the least-squares decoder gives weight 1 (it ignores
  the stragglers).
- ``"exact"``: solves ``B_T^T a = 1`` and raises :class:`NotDecodableError` when the
  responder set cannot decode (Tandon, Lei, Dimakis, Karampatziakis, "Gradient coding",
  ICML 2017).

Codes built from replica groups (``frc``, ``approx-frc``, ``uncoded``) advertise
``info["frc_groups"]`` (int array [n_workers]; ``B[i, j] = 1`` iff worker ``i`` and
partition ``j`` share a group) and get closed-form fast paths: the minimum-norm
least-squares decoder spreads weight ``1 / r_g`` over the ``r_g`` responders of group
``g``, and the exact decoder needs one responder per group.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import lsmr

from .._checks import check_choice, check_int, check_real
from .base import Code

__all__ = [
    "BATCH_DENSE_MAX_ENTRIES",
    "DENSE_FALLBACK_ENTRIES",
    "DENSE_MAX_ENTRIES",
    "METHODS",
    "NotDecodableError",
    "coefficients",
    "conditioning",
    "decode",
    "decoding_error",
    "decoding_errors",
    "realized_error",
    "responder_mask",
]

METHODS = ("lstsq", "one-step", "exact")
SOLVERS = ("auto", "lsmr", "cgls", "dense", "block-lsmr")

#: ``solver="auto"`` solves least squares densely when ``k * |T|`` is at most this many
#: entries (about 128 x 128), with sparse LSMR above it; measured crossover in
#: ``benchmarks/bench_decoding.py``.
DENSE_MAX_ENTRIES = 128 * 128
#: Above :data:`DENSE_MAX_ENTRIES`, ``solver="auto"`` still solves densely when LSMR fails
#: to converge (ill-conditioned exact codes) and ``k * |T|`` is at most this many entries;
#: the exact decoder uses the dense solver up to this size.
DENSE_FALLBACK_ENTRIES = 2048 * 2048
#: :func:`decoding_errors` with ``solver="auto"`` uses the stacked dense SVD when
#: ``k * n_workers`` is at most this many entries, batched CGLS above it.
BATCH_DENSE_MAX_ENTRIES = 32 * 32

# Memory cap (float64 entries) for one chunk of the batched dense solver.
_DENSE_CHUNK_ENTRIES = 1 << 23
# Memory cap (nonzeros) for one chunk of the batched block-diagonal LSMR solver.
_SPARSE_CHUNK_NNZ = 1 << 22

_OPTIONS = {
    "lstsq": ("solver", "atol", "btol", "maxiter"),
    "one-step": ("weight",),
    "exact": ("solver", "tol", "atol", "btol", "maxiter"),
}


class NotDecodableError(ValueError):
    """The responder set cannot recover the full gradient exactly (``1`` not in
    ``rowspan(B_T)`` to the stated tolerance)."""


# --------------------------------------------------------------------------- inputs


def responder_mask(code: Code, responders) -> np.ndarray:
    """Boolean mask [n_workers] of the responders.

    Parameters
    ----------
    code : Code
    responders : sequence of int or bool array [n_workers]
        Either distinct worker indices in ``[0, n_workers)`` or a boolean mask.

    Returns
    -------
    mask : bool ndarray [n_workers]
    """
    n = code.n_workers
    arr = np.asarray(responders)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(
                f"The 'responders' parameter, given as a boolean mask, must have shape "
                f"({n},) (one entry per worker); got shape {arr.shape}."
            )
        return arr.copy()
    if arr.size == 0:
        return np.zeros(n, dtype=bool)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            "The 'responders' parameter must be a 1-D sequence of distinct int worker "
            f"indices in [0, {n - 1}] or a boolean mask of length {n}; got "
            f"{arr.dtype} array of shape {arr.shape}."
        )
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ValueError(
            f"The 'responders' parameter must hold worker indices in [0, {n - 1}]; "
            f"got {int(arr[bad][0])}."
        )
    mask = np.zeros(n, dtype=bool)
    mask[arr] = True
    if mask.sum() != arr.size:
        values, counts = np.unique(arr, return_counts=True)
        raise ValueError(
            "The 'responders' parameter must not repeat a worker index in "
            f"[0, {n - 1}]; got {int(values[counts > 1][0])} more than once."
        )
    return mask


def _batch_mask(code: Code, responders_mask) -> np.ndarray:
    arr = np.asarray(responders_mask)
    if arr.dtype != bool:
        raise TypeError(
            "The 'responders_mask' parameter must be a bool array [batch, "
            f"{code.n_workers}]; got dtype {arr.dtype}."
        )
    if arr.ndim != 2 or arr.shape[1] != code.n_workers:
        raise ValueError(
            "The 'responders_mask' parameter must have shape [batch, "
            f"{code.n_workers}]; got {arr.shape}."
        )
    return arr


def _options(method: str, options: dict) -> dict:
    allowed = _OPTIONS[method]
    for key in options:
        if key not in allowed:
            raise TypeError(
                f"Unknown option {key!r} for decoding method {method!r}; allowed: "
                f"{', '.join(allowed)}."
            )
    out = dict(options)
    if "solver" in out:
        check_choice("solver", out["solver"], SOLVERS, owner="decode")
    for key in ("atol", "btol", "tol"):
        if key in out:
            out[key] = check_real(key, out[key], low=0.0, low_open=True, owner="decode")
    if "maxiter" in out:
        out["maxiter"] = check_int("maxiter", out["maxiter"], low=1, owner="decode")
    if out.get("weight") is not None:
        out["weight"] = check_real("weight", out["weight"], owner="decode")
    return out


def _frc_groups(code: Code) -> np.ndarray | None:
    groups = code.info.get("frc_groups")
    if groups is None or code.n_partitions != code.n_workers:
        return None
    return np.asarray(groups)


# --------------------------------------------------------------------------- solvers


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


def _svd_solve(
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


def _lstsq_dense(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return _svd_solve(A, rhs)[0]


def _lsmr(A, rhs: np.ndarray, opts: dict) -> tuple[np.ndarray, bool]:
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


def _cgls_batch(code: Code, mask: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Batched CGLS: minimum-norm ``argmin ||B^T diag(m_b) a_b - 1||`` for every trial.

    Each trial keeps its own step sizes (this is CGLS, mathematically LSQR, run on all
    trials at once); a step costs two sparse-times-dense products with the shared ``B``,
    ``(B^T (M * P)^T)^T`` and ``M * (B R^T)^T``, for all active trials. Starting from
    ``a = 0`` the iterates stay in ``range(A_b^T)``, so ``a`` is zero off the responders
    and the limit is the minimum-norm solution. A trial stops when
    ``||r|| <= btol ||1|| + atol ||A|| ||a||`` or ``||A^T r|| <= atol ||A|| ||r||``
    (``||A||`` its Frobenius norm), as in LSQR.

    Returns
    -------
    a : float64 [batch, n_workers]
    converged : bool [batch]
    """
    k, n = code.n_partitions, code.n_workers
    B = code.B
    Bt = B.T.tocsr()
    atol = opts.get("atol", 1e-12)
    btol = opts.get("btol", 1e-12)
    maxiter = opts.get("maxiter", max(200, 4 * min(k, n)))
    M = mask.astype(np.float64)
    batch = M.shape[0]
    normA = np.sqrt(M @ np.asarray(B.multiply(B).sum(axis=1)).ravel())  # Frobenius
    normb = math.sqrt(k)
    x = np.zeros((batch, n))
    r = np.ones((batch, k))
    s = M * (B @ r.T).T
    p = s.copy()
    gamma = np.sum(s * s, axis=1)
    converged = gamma <= 0.0  # no responders: a = 0 is the solution
    act = np.flatnonzero(~converged)
    for _ in range(maxiter):
        if act.size == 0:
            break
        Ma, pa = M[act], p[act]
        q = (Bt @ (Ma * pa).T).T
        qq = np.sum(q * q, axis=1)
        alpha = np.where(qq > 0, gamma[act] / np.where(qq > 0, qq, 1.0), 0.0)
        x[act] += alpha[:, None] * pa
        r[act] -= alpha[:, None] * q
        sa = Ma * (B @ r[act].T).T
        g_new = np.sum(sa * sa, axis=1)
        rnorm = np.linalg.norm(r[act], axis=1)
        xnorm = np.linalg.norm(x[act], axis=1)
        done = (rnorm <= btol * normb + atol * normA[act] * xnorm) | (
            np.sqrt(g_new) <= atol * normA[act] * rnorm
        )
        beta = g_new / np.where(gamma[act] > 0, gamma[act], 1.0)
        p[act] = sa + beta[:, None] * pa
        gamma[act] = g_new
        converged[act[done]] = True
        act = act[~done]
    return x, converged


def _solver(code: Code, n_resp: int, opts: dict, method: str) -> str:
    solver = opts.get("solver", "auto")
    if solver == "auto":
        limit = DENSE_MAX_ENTRIES if method == "lstsq" else DENSE_FALLBACK_ENTRIES
        return "dense" if code.n_partitions * n_resp <= limit else "lsmr"
    return solver


def _lstsq_single(code: Code, mask: np.ndarray, opts: dict, method: str = "lstsq") -> np.ndarray:
    n = code.n_workers
    a = np.zeros(n)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return a
    groups = _frc_groups(code)
    if groups is not None:
        # Minimum-norm LS for replica groups: weight 1/r_g on each of the r_g responders.
        r = np.bincount(groups[idx], minlength=int(groups.max()) + 1)
        a[idx] = 1.0 / r[groups[idx]]
        return a
    At = code.B[idx].T.tocsr()  # [k, |T|]
    ones = np.ones(code.n_partitions)
    solver = _solver(code, idx.size, opts, method)
    if solver == "cgls":
        sol, ok = _cgls_batch(code, mask[None], opts)
        if not ok[0]:
            warnings.warn(
                f"CGLS did not converge for code {code.name!r} ({idx.size} responders).",
                RuntimeWarning,
                stacklevel=3,
            )
        return sol[0]
    if solver in ("lsmr", "block-lsmr"):
        a[idx], converged = _lsmr(At, ones, opts)
        if converged or opts.get("solver", "auto") != "auto":
            return a
        if code.n_partitions * idx.size > DENSE_FALLBACK_ENTRIES:
            warnings.warn(
                f"LSMR did not converge for code {code.name!r} ({idx.size} responders); "
                "the least-squares decoder may be inaccurate (ill-conditioned B_T).",
                RuntimeWarning,
                stacklevel=3,
            )
            return a
    a[idx] = _lstsq_dense(At.toarray()[None], ones[None])[0]
    return a


def _one_step_weights(code: Code, n_resp: np.ndarray, weight: float | None) -> np.ndarray:
    if weight is not None:
        return np.full(n_resp.shape, float(weight))
    w = code.B.nnz / code.n_workers  # mean row weight
    with np.errstate(divide="ignore"):
        return np.where(n_resp > 0, code.n_partitions / (w * np.maximum(n_resp, 1)), 0.0)


# --------------------------------------------------------------------------- public API


def coefficients(code: Code, responders, a) -> np.ndarray:
    """Coefficients ``c = B_T^T a`` of the decoded sum ``Ghat = c^T g``.

    Parameters
    ----------
    code : Code
    responders : sequence of int or bool array [n_workers]
    a : array_like [n_workers]
        Decoding vector; entries off the responders are ignored (treated as zero).

    Returns
    -------
    c : float64 ndarray [n_partitions]
    """
    mask = responder_mask(code, responders)
    a = np.asarray(a, dtype=np.float64)
    if a.shape != (code.n_workers,):
        raise ValueError(f"The 'a' parameter must have shape ({code.n_workers},); got {a.shape}.")
    return code.B.T @ np.where(mask, a, 0.0)


def decode(code: Code, responders, method: str = "lstsq", **options) -> np.ndarray:
    """Decoding vector ``a`` for the responder set ``T``.

    Parameters
    ----------
    code : Code
    responders : sequence of int or bool array [n_workers]
        Distinct worker indices or a boolean mask of the workers that responded.
    method : {"lstsq", "one-step", "exact"}
        ``"lstsq"``: minimum-norm ``argmin_a ||B_T^T a - 1||_2``; options ``solver``
        (``"auto"``: dense SVD when ``k |T| <=`` :data:`DENSE_MAX_ENTRIES`, else LSMR
        with a dense fallback if LSMR stalls and ``k |T| <=``
        :data:`DENSE_FALLBACK_ENTRIES`; ``"lsmr"``, ``"cgls"``, ``"dense"``;
        ``"block-lsmr"`` acts as ``"lsmr"`` here), ``atol``, ``btol`` (iterative
        tolerances, default 1e-12), ``maxiter``. Replica-group codes (``frc``,
        ``approx-frc``, ``uncoded``) use their closed form whatever the solver.
        ``"one-step"``: ``a_i = weight`` on responders, default ``k / (w |T|)`` with
        ``w = nnz(B) / n_workers``; option ``weight``.
        ``"exact"``: ``B_T^T a = 1``; option ``tol`` (default 1e-6) on the relative
        residual ``||B_T^T a - 1|| / sqrt(k)``, plus the ``lstsq`` solver options.

    Returns
    -------
    a : float64 ndarray [n_workers]
        Zero off the responders.

    Raises
    ------
    NotDecodableError
        ``method="exact"`` and the responders cannot decode.

    Examples
    --------
    >>> from aircomp_agc.coding import make_code
    >>> code = make_code("frc", n=6, s=2)
    >>> decode(code, [0, 4], method="exact").tolist()
    [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """
    method = check_choice("method", method, METHODS, owner="decode")
    opts = _options(method, options)
    mask = responder_mask(code, responders)
    if method == "one-step":
        weight = _one_step_weights(code, np.array([mask.sum()]), opts.get("weight"))[0]
        return np.where(mask, weight, 0.0)
    if method == "lstsq":
        return _lstsq_single(code, mask, opts)
    return _exact_single(code, mask, opts)


def _exact_single(code: Code, mask: np.ndarray, opts: dict) -> np.ndarray:
    groups = _frc_groups(code)
    n_resp = int(mask.sum())
    if groups is not None:
        n_groups = int(groups.max()) + 1
        covered = np.bincount(groups[mask], minlength=n_groups) > 0
        if not covered.all():
            lost = np.flatnonzero(~covered)
            raise NotDecodableError(
                f"Not decodable: {n_resp} of {code.n_workers} workers responded and "
                f"replica group(s) {lost.tolist()} of code {code.name!r} lost every "
                f"member (stragglers: {np.flatnonzero(~mask).tolist()})."
            )
        # One responder per group (the first), weight 1.
        idx = np.flatnonzero(mask)
        first = idx[np.unique(groups[idx], return_index=True)[1]]
        a = np.zeros(code.n_workers)
        a[first] = 1.0
        return a
    a = _lstsq_single(code, mask, opts, method="exact")
    residual = np.linalg.norm(code.B.T @ a - 1.0) / math.sqrt(code.n_partitions)
    tol = opts.get("tol", 1e-6)
    if not residual <= tol:
        raise NotDecodableError(
            f"Not decodable: {n_resp} of {code.n_workers} workers responded "
            f"(stragglers: {np.flatnonzero(~mask).tolist()}); the relative residual "
            f"||B_T^T a - 1||/sqrt(k) = {residual:.3g} exceeds tol={tol:g}."
        )
    return a


def decoding_error(code: Code, responders, method: str = "lstsq", **options) -> float:
    """Normalized decoding error ``||B_T^T a - 1||^2 / k`` (float).

    Equals ``E||Ghat - G||^2 / E||G||^2`` for i.i.d. zero-mean isotropic partition
    gradients. See :func:`decode` for ``method`` and ``options``.
    """
    a = decode(code, responders, method=method, **options)
    c = code.B.T @ a
    return float(np.sum((c - 1.0) ** 2) / code.n_partitions)


def decoding_errors(code: Code, responders_mask, method: str = "lstsq", **options) -> np.ndarray:
    """Normalized decoding errors for a batch of responder sets, vectorized.

    Parameters
    ----------
    code : Code
    responders_mask : bool array [batch, n_workers]
        Row ``b`` marks the responders of trial ``b``.
    method : {"lstsq", "one-step", "exact"}
        As in :func:`decode`. ``"lstsq"`` solves all trials together: replica-group codes
        in closed form; otherwise (``solver="auto"``) a stacked dense SVD when
        ``k * n_workers <=`` :data:`BATCH_DENSE_MAX_ENTRIES`, else a batched CGLS over
        ``A_b = B^T diag(mask_b)`` (``"cgls"``, also used for ``"lsmr"``), redoing the
        trials that fail to converge with the dense SVD (ill-conditioned exact codes) when
        ``k * n_workers <=`` :data:`DENSE_FALLBACK_ENTRIES`. ``"block-lsmr"`` solves one
        block-diagonal system ``blockdiag_b(A_b)`` with LSMR: kept for comparison, it is
        slower (a Krylov method on a block-diagonal matrix converges like the union of
        the blocks' spectra; see ``benchmarks/bench_decoding.py``). ``"exact"`` (solver
        ``"auto"``: dense up to :data:`DENSE_FALLBACK_ENTRIES`) raises
        :class:`NotDecodableError` if any trial is not decodable.

    Returns
    -------
    err : float64 ndarray [batch]
        ``||B_T^T a - 1||^2 / k`` per trial.
    """
    method = check_choice("method", method, METHODS, owner="decoding_errors")
    opts = _options(method, options)
    mask = _batch_mask(code, responders_mask)
    k = code.n_partitions
    if mask.shape[0] == 0:
        return np.zeros(0)
    if method == "one-step":
        w = _one_step_weights(code, mask.sum(axis=1), opts.get("weight"))
        a = mask * w[:, None]
        c = (code.B.T @ a.T).T  # [batch, k]
        return np.sum((c - 1.0) ** 2, axis=1) / k
    groups = _frc_groups(code)
    if groups is not None:
        err = _group_errors(code, mask, groups)
    else:
        solver = opts.get("solver", "auto")
        if solver == "auto":
            limit = BATCH_DENSE_MAX_ENTRIES if method == "lstsq" else DENSE_FALLBACK_ENTRIES
            solver = "dense" if k * code.n_workers <= limit else "cgls"
        if solver == "dense":
            err = _errors_dense(code, mask)
        else:
            if solver == "block-lsmr":
                err, converged = _errors_block_lsmr(code, mask, opts)
            else:  # "cgls" and "lsmr": batched CGLS (a per-trial LSMR loop is slower)
                a, converged = _cgls_batch(code, mask, opts)
                c = (code.B.T @ a.T).T
                err = np.sum((c - 1.0) ** 2, axis=1) / k
            redo = ~converged & (opts.get("solver", "auto") == "auto")
            if redo.any() and k * code.n_workers <= DENSE_FALLBACK_ENTRIES:
                err[redo] = _errors_dense(code, mask[redo])
            elif (~converged).any():
                warnings.warn(
                    f"The iterative solver did not converge for code {code.name!r} on "
                    f"{int((~converged).sum())} of {mask.shape[0]} trials; the "
                    "least-squares errors may be overestimated (ill-conditioned B_T).",
                    RuntimeWarning,
                    stacklevel=2,
                )
    if method == "exact":
        tol = opts.get("tol", 1e-6)
        failed = np.flatnonzero(~(np.sqrt(err) <= tol))
        if failed.size:
            b = int(failed[0])
            raise NotDecodableError(
                f"Not decodable: {failed.size} of {mask.shape[0]} trials cannot decode "
                f"exactly; first is trial {b} with {int(mask[b].sum())} of "
                f"{code.n_workers} responders (stragglers: "
                f"{np.flatnonzero(~mask[b]).tolist()}), relative residual "
                f"{math.sqrt(err[b]):.3g} > tol={tol:g}."
            )
    return err


def _group_errors(code: Code, mask: np.ndarray, groups: np.ndarray) -> np.ndarray:
    n_groups = int(groups.max()) + 1
    sizes = np.bincount(groups, minlength=n_groups)
    # responders per (trial, group) via a sparse worker->group indicator
    G = sp.csr_matrix(
        (np.ones(groups.size), (np.arange(groups.size), groups)), shape=(groups.size, n_groups)
    )
    hits = np.asarray((G.T @ mask.T.astype(np.float64)).T)  # [batch, n_groups]
    return ((hits == 0) @ sizes) / code.n_partitions


def _errors_dense(code: Code, mask: np.ndarray) -> np.ndarray:
    k, n = code.n_partitions, code.n_workers
    Bt = code.B.T.toarray()  # [k, n]
    ones = np.ones(k)
    chunk = max(1, _DENSE_CHUNK_ENTRIES // (k * n))
    out = np.empty(mask.shape[0])
    for start in range(0, mask.shape[0], chunk):
        m = mask[start : start + chunk]
        A = Bt[None, :, :] * m[:, None, :]
        a = _lstsq_dense(A, np.broadcast_to(ones, (m.shape[0], k)))
        c = np.einsum("bkn,bn->bk", A, a)
        out[start : start + chunk] = np.sum((c - 1.0) ** 2, axis=1) / k
    return out


def _errors_block_lsmr(code: Code, mask: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Errors [batch] and per-trial convergence flags [batch] (one flag per chunk)."""
    k, n = code.n_partitions, code.n_workers
    Bt = code.B.T.tocsr()  # [k, n]
    nnz = Bt.nnz
    chunk = max(1, _SPARSE_CHUNK_NNZ // max(nnz, 1))
    out = np.empty(mask.shape[0])
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
        a, ok = _lsmr(A, np.ones(k * nb), opts)
        c = (A @ a).reshape(nb, k)
        out[start : start + nb] = np.sum((c - 1.0) ** 2, axis=1) / k
        converged[start : start + nb] = ok
    return out, converged


def realized_error(code: Code, responders, gradients, method: str = "lstsq", **options) -> float:
    """Relative error ``||Ghat - G||^2 / ||G||^2`` on actual partition gradients.

    The workers' coded messages ``gt_i = sum_j B[i, j] g_j`` and the decoded sum
    ``Ghat = sum_{i in T} a_i gt_i`` are computed in the dtype of ``gradients`` (so
    float32 gradients expose the precision loss of large decoding weights).

    Parameters
    ----------
    code : Code
    responders : sequence of int or bool array [n_workers]
    gradients : float array [n_partitions, D]
        Partition gradients ``g_j``; ``G = sum_j g_j`` must be nonzero.
    method, **options
        As in :func:`decode`.

    Returns
    -------
    float
    """
    g = np.asarray(gradients)
    if g.ndim != 2 or g.shape[0] != code.n_partitions:
        raise ValueError(
            f"The 'gradients' parameter must have shape [{code.n_partitions}, D]; got {g.shape}."
        )
    if not np.issubdtype(g.dtype, np.floating):
        raise TypeError(f"The 'gradients' parameter must be a float array; got dtype {g.dtype}.")
    a = decode(code, responders, method=method, **options)
    dtype = g.dtype
    coded = code.B.astype(dtype) @ g  # [n_workers, D], the workers' messages
    idx = np.flatnonzero(a)
    g_hat = a[idx].astype(dtype) @ coded[idx]
    G = g.sum(axis=0, dtype=np.float64)
    denom = float(np.sum(G**2))
    if denom == 0.0:
        raise ValueError("The 'gradients' parameter must have a nonzero sum G = sum_j g_j.")
    return float(np.sum((g_hat.astype(np.float64) - G) ** 2) / denom)


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
        a, cond = _svd_solve(At, np.ones((len(strag), k)), cond_rtol=rtol)
        res = np.linalg.norm(np.einsum("bkt,bt->bk", At, a) - 1.0, axis=1) / math.sqrt(k)
        out["cond_worst"] = max(out["cond_worst"], float(cond.max()))
        out["max_abs_a"] = max(out["max_abs_a"], float(np.abs(a).max()))
        out["residual_worst"] = max(out["residual_worst"], float(res.max()))
    return out
