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
  the mean row *sum* of ``B`` (the row weight for 0/1 codes; Charles, Papailiopoulos,
  Ellenberg, "Approximate gradient coding via sparse random graphs", 2017), which makes
  ``E[c] = 1`` under uniformly random responders for every code with balanced columns:
  ``n / |T|`` for graph codes (``B = A/d``) and for the uncoded baseline (``B = I``),
  ``1 / (d (1 - p))`` for SGC on average. Codes whose rows sum to zero have no such
  weight (pass ``weight=``); for signed codes it is meaningless. For the uncoded baseline
  the least-squares decoder gives weight 1 (it ignores the stragglers).
- ``"exact"``: solves ``B_T^T a = 1`` and raises :class:`NotDecodableError` when the
  responder set cannot decode (Tandon, Lei, Dimakis, Karampatziakis, "Gradient coding",
  ICML 2017).

Codes built from replica groups (``frc``, ``approx-frc``, ``uncoded``) carry
:attr:`Code.groups <aircomp_agc.coding.Code>` (int array [n_workers]; ``B[i, j] = 1`` iff
worker ``i`` and partition ``j`` share a group) and get closed-form fast paths: the minimum-norm
least-squares decoder spreads weight ``1 / r_g`` over the ``r_g`` responders of group
``g``, and the exact decoder needs one responder per group.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp

from .._checks import check_choice, check_int, check_real
from .base import Code
from .lstsq import block_lsmr_vectors, cgls_batch, dense_vectors, lsmr_lstsq, svd_lstsq

__all__ = [
    "BATCH_DENSE_MAX_ENTRIES",
    "DENSE_FALLBACK_ENTRIES",
    "DENSE_MAX_ENTRIES",
    "METHODS",
    "NotDecodableError",
    "coefficients",
    "decode",
    "decoding_error",
    "decoding_errors",
    "decoding_vectors",
    "realized_error",
    "realized_errors",
    "responder_mask",
]

METHODS = ("lstsq", "one-step", "exact")
SOLVERS = ("auto", "lsmr", "cgls", "dense", "block-lsmr")

#: ``solver="auto"`` solves one least-squares decode densely when ``k * |T|`` is at most
#: this many entries, with sparse LSMR above it. Measured on 2 cores for BGC-like codes
#: (w = 2 ln n, 20% stragglers): dense 20 ms vs LSMR 37 ms at n = 200, dense 50 ms vs
#: LSMR 25 ms at n = 300.
DENSE_MAX_ENTRIES = 50_000
#: Above :data:`DENSE_MAX_ENTRIES`, ``solver="auto"`` still solves densely when LSMR fails
#: to converge (ill-conditioned exact codes) and ``k * |T|`` is at most this many entries;
#: the exact decoder uses the dense solver up to this size.
DENSE_FALLBACK_ENTRIES = 2048 * 2048
#: :func:`decoding_errors` with ``solver="auto"`` uses the stacked dense SVD when
#: ``k * n_workers`` is at most this many entries, batched CGLS above it (measured: CGLS
#: is 4.7x faster than the stacked SVD already at n = 30, batch 1000).
BATCH_DENSE_MAX_ENTRIES = 32 * 32


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
    return code.groups


# --------------------------------------------------------------------------- solvers


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
        sol, ok = cgls_batch(code.B, mask[None], opts)
        if not ok[0]:
            warnings.warn(
                f"CGLS did not converge for code {code.name!r} ({idx.size} responders).",
                RuntimeWarning,
                stacklevel=3,
            )
        return sol[0]
    if solver in ("lsmr", "block-lsmr"):
        a[idx], converged = lsmr_lstsq(At, ones, opts)
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
    a[idx] = svd_lstsq(At.toarray()[None], ones[None])[0][0]
    return a


def _one_step_weights(code: Code, n_resp: np.ndarray, weight: float | None) -> np.ndarray:
    if weight is not None:
        return np.full(n_resp.shape, float(weight))
    w = float(code.B.sum()) / code.n_workers  # mean row sum: row weight for 0/1 codes
    if abs(w) <= 1e-12 * max(code.B.nnz, 1) / code.n_workers:
        raise ValueError(
            f"The one-step decoder of code {code.name!r} needs an explicit 'weight': its rows "
            f"sum to {w:.3g} on average, so no constant weight k/(w|T|) exists; got "
            "weight=None."
        )
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
        ``w = sum(B) / n_workers`` (mean row sum); option ``weight``.
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


def decoding_vectors(code: Code, responders_mask, method: str = "lstsq", **options) -> np.ndarray:
    """Decoding vectors for a batch of responder sets, vectorized.

    Parameters
    ----------
    code : Code
    responders_mask : bool array [batch, n_workers]
        Row ``b`` marks the responders of trial ``b``.
    method : {"lstsq", "one-step", "exact"}
        As in :func:`decode`. ``"lstsq"`` solves all trials together: replica-group codes
        in closed form (weight ``1/h`` on each of a covered group's ``h`` responders);
        otherwise (``solver="auto"``) a stacked dense SVD when ``k * n_workers <=``
        :data:`BATCH_DENSE_MAX_ENTRIES`, else a batched CGLS over
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
    a : float64 ndarray [batch, n_workers]
        Zero off each trial's responders.
    """
    method = check_choice("method", method, METHODS, owner="decoding_vectors")
    opts = _options(method, options)
    mask = _batch_mask(code, responders_mask)
    if mask.shape[0] == 0:
        return np.zeros((0, code.n_workers))
    if method == "one-step":
        w = _one_step_weights(code, mask.sum(axis=1), opts.get("weight"))
        return mask * w[:, None]
    groups = _frc_groups(code)
    if groups is not None:
        a = _group_vectors(mask, groups)
    else:
        a = _solve_batch(code, mask, opts, method)
    if method == "exact":
        _check_exact(code, mask, _errors(code, a), opts.get("tol", 1e-6))
    return a


def decoding_errors(code: Code, responders_mask, method: str = "lstsq", **options) -> np.ndarray:
    """Normalized decoding errors ``||B_T^T a - 1||^2 / k`` for a batch of responder sets.

    The Monte-Carlo workhorse: :func:`decoding_vectors` (same parameters), then
    ``c = B^T a`` for the whole batch in one sparse product.

    Returns
    -------
    err : float64 ndarray [batch]
    """
    if method != "one-step" and _frc_groups(code) is not None:
        # Replica groups: the error is exactly (partitions of uncovered groups) / k; summing
        # the 1/h weights back would leave rounding residue (3 * (1/3) != 1 in floating point).
        check_choice("method", method, METHODS, owner="decoding_errors")
        opts = _options(method, options)
        mask = _batch_mask(code, responders_mask)
        err = _group_errors(mask, _frc_groups(code), code.n_partitions)
        if method == "exact":
            _check_exact(code, mask, err, opts.get("tol", 1e-6))
        return err
    return _errors(code, decoding_vectors(code, responders_mask, method, **options))


def _errors(code: Code, a: np.ndarray) -> np.ndarray:
    c = (code.B.T @ a.T).T  # [batch, k]
    return np.sum((c - 1.0) ** 2, axis=1) / code.n_partitions


def _solve_batch(code: Code, mask: np.ndarray, opts: dict, method: str) -> np.ndarray:
    k = code.n_partitions
    solver = opts.get("solver", "auto")
    if solver == "auto":
        limit = BATCH_DENSE_MAX_ENTRIES if method == "lstsq" else DENSE_FALLBACK_ENTRIES
        solver = "dense" if k * code.n_workers <= limit else "cgls"
    if solver == "dense":
        return dense_vectors(code.B, mask)
    if solver == "block-lsmr":
        a, converged = block_lsmr_vectors(code.B, mask, opts)
    else:  # "cgls" and "lsmr": batched CGLS (a per-trial LSMR loop is slower)
        a, converged = cgls_batch(code.B, mask, opts)
    redo = ~converged & (opts.get("solver", "auto") == "auto")
    if redo.any() and k * code.n_workers <= DENSE_FALLBACK_ENTRIES:
        a[redo] = dense_vectors(code.B, mask[redo])
    elif (~converged).any():
        warnings.warn(
            f"The iterative solver did not converge for code {code.name!r} on "
            f"{int((~converged).sum())} of {mask.shape[0]} trials; the "
            "least-squares errors may be overestimated (ill-conditioned B_T).",
            RuntimeWarning,
            stacklevel=3,
        )
    return a


def _check_exact(code: Code, mask: np.ndarray, err: np.ndarray, tol: float) -> None:
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


def _group_hits(mask: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Responders per (trial, group) [batch, n_groups] via a sparse worker->group indicator."""
    n_groups = int(groups.max()) + 1
    G = sp.csr_matrix(
        (np.ones(groups.size), (np.arange(groups.size), groups)), shape=(groups.size, n_groups)
    )
    return np.asarray((G.T @ mask.T.astype(np.float64)).T)


def _group_errors(mask: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Exact replica-group error: partitions of groups with no responder, over ``k``."""
    sizes = np.bincount(groups, minlength=int(groups.max()) + 1)
    return ((_group_hits(mask, groups) == 0) @ sizes) / k


def _group_vectors(mask: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Closed-form least squares for replica groups: ``1/h`` on each of ``h`` responders."""
    per_worker = _group_hits(mask, groups)[:, groups]  # [batch, n_workers]
    with np.errstate(divide="ignore"):
        return np.where(mask, 1.0 / np.where(per_worker > 0, per_worker, 1.0), 0.0)


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


def realized_errors(
    code: Code, responders_mask, gradients, method: str = "lstsq", **options
) -> np.ndarray:
    """Relative errors ``||Ghat_b - G_b||^2 / ||G_b||^2`` for a batch of trials, vectorized.

    Parameters
    ----------
    code : Code
    responders_mask : bool array [batch, n_workers]
    gradients : float array [batch, n_partitions, D] or [n_partitions, D]
        Partition gradients per trial (or shared by all trials). Messages and the decoded
        sum are computed in their dtype, as in :func:`realized_error`.
    method, **options
        As in :func:`decoding_vectors`.

    Returns
    -------
    float64 ndarray [batch]
    """
    a = decoding_vectors(code, responders_mask, method, **options)
    g = np.asarray(gradients)
    if g.ndim == 2:
        g = np.broadcast_to(g, (a.shape[0], *g.shape))
    if g.ndim != 3 or g.shape[:2] != (a.shape[0], code.n_partitions):
        raise ValueError(
            f"The 'gradients' parameter must have shape [{a.shape[0]}, {code.n_partitions}, D] "
            f"or [{code.n_partitions}, D]; got {np.shape(gradients)}."
        )
    if not np.issubdtype(g.dtype, np.floating):
        raise TypeError(f"The 'gradients' parameter must be a float array; got dtype {g.dtype}.")
    dtype = g.dtype
    batch, k, dim = g.shape
    # The workers' messages for every trial in one sparse product: [n_workers, batch * D].
    flat = np.ascontiguousarray(np.moveaxis(g, 0, 1)).reshape(k, batch * dim)
    coded = (code.B.astype(dtype) @ flat).reshape(code.n_workers, batch, dim)
    g_hat = np.einsum("bn,nbd->bd", a.astype(dtype), coded)
    G = g.sum(axis=1, dtype=np.float64)
    denom = np.sum(G**2, axis=1)
    if np.any(denom == 0.0):
        raise ValueError("The 'gradients' parameter must have a nonzero sum G = sum_j g_j.")
    return np.sum((g_hat.astype(np.float64) - G) ** 2, axis=1) / denom
