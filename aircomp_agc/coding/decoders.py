"""Decoders for gradient codes: least squares, one-step and exact.

A code ``B`` ([n_workers, k], sparse) and a responder set ``T`` give the coefficient
vector ``c = B_T^T a`` of the decoded sum ``Ghat = c^T g``. With i.i.d. zero-mean
isotropic partition gradients the normalized decoding error is

.. math::

    \\mathrm{err}(T) = \\frac{\\mathbb{E}\\|\\hat G - G\\|^2}{\\mathbb{E}\\|G\\|^2}
                    = \\frac{\\|B_T^T a - \\mathbf 1\\|_2^2}{k}.

One pipeline: :func:`decoding_vectors`, :func:`decoding_errors` and
:func:`realized_errors` take responder masks with any leading batch shape ``[..., n]``;
:func:`decode`, :func:`decoding_error` and :func:`realized_error` are the same calls on one
responder set (a batch of shape ``()``).

Three decoders (``method``):

- ``"lstsq"``: the optimal linear decoder ``a = argmin ||B_T^T a - 1||_2`` (minimum-norm
  solution). Solvers (``solver=``; ``"auto"`` picks, see :func:`decoding_vectors`):
  ``"normal"``, the masked normal equations ``(B_T B_T^T) a_T = B_T 1`` on the dense Gram
  matrix ``B B^T`` (kept per code), solved for a whole batch in cache-sized chunks with
  iterative refinement (:func:`aircomp_agc.coding.lstsq.normal_vectors`); ``"cgls"``, a
  batched CGLS on ``B_T^T`` itself (per-trial step sizes, shared sparse products);
  ``"lsmr"``, SciPy's LSMR trial by trial; ``"dense"``, stacked SVDs of ``B_T^T``, robust
  to the ill-conditioning of exact codes such as ``crc``.
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
worker ``i`` and partition ``j`` share a group) and get closed-form fast paths: the
minimum-norm least-squares decoder spreads weight ``1 / r_g`` over the ``r_g`` responders
of group ``g``, its error is the share of partitions in groups without a responder, and
the exact decoder takes one responder per group (the first) with weight 1.
"""

from __future__ import annotations

import math
import warnings
import weakref

import numpy as np
import scipy.sparse as sp

from .._checks import check_choice, check_int, check_real
from .base import Code
from .lstsq import (
    NormalSystem,
    cgls_batch,
    dense_vectors,
    lsmr_lstsq,
    normal_system,
    normal_vectors,
)

__all__ = [
    "BATCH_DENSE_MAX_ENTRIES",
    "DENSE_FALLBACK_ENTRIES",
    "DENSE_MAX_ENTRIES",
    "METHODS",
    "NORMAL_MAX_NULL_DIM",
    "NORMAL_MAX_WORKERS",
    "NORMAL_MIN_BATCH",
    "NotDecodableError",
    "SOLVERS",
    "coefficients",
    "decode",
    "decoding_error",
    "decoding_errors",
    "decoding_vectors",
    "prepare_decoding",
    "realized_error",
    "realized_errors",
    "responder_mask",
]

METHODS = ("lstsq", "one-step", "exact")
SOLVERS = ("auto", "normal", "cgls", "lsmr", "dense")

#: ``solver="auto"`` solves every trial with stacked dense SVDs when ``k * n_workers`` is
#: at most this many entries (tiny codes; measured: CGLS is 4.7x faster than the stacked
#: SVD already at n = 30, batch 1000).
BATCH_DENSE_MAX_ENTRIES = 32 * 32
#: ``solver="auto"`` uses the normal equations for codes that are not exact by
#: construction with at most this many workers and ``n_workers <= n_partitions`` (the
#: dense Gram matrix ``B B^T`` and its inverse are ``n_workers^2`` each).
NORMAL_MAX_WORKERS = 1000
#: ... and whose Gram matrix ``B B^T`` has a null space of at most this dimension
#: (dependent rows: an uncovered partition, repeated rows); each trial pays one extra
#: solve per null direction.
NORMAL_MAX_NULL_DIM = 8
#: A code's Gram system (``n_workers^3`` work, kept per code) is built by the first batch
#: of at least ``max(NORMAL_MIN_BATCH, n_workers // 10)`` trials; until then smaller
#: batches use the rules below.
NORMAL_MIN_BATCH = 16
#: For the other codes (exact codes such as ``crc``, whose ``cond(B_T)`` reaches 1e9, or
#: more workers than partitions) ``solver="auto"`` solves densely when
#: ``batch * k * n_workers`` is at most this many entries (a single decode up to about
#: n = 220), else with batched CGLS. Measured on 2 cores for one BGC-like decode
#: (w = 2 ln n, 20% stragglers): dense 20 ms vs LSMR 37 ms at n = 200.
DENSE_MAX_ENTRIES = 50_000
#: Trials that the iterative solvers do not converge on (ill-conditioned exact codes) are
#: redone with the dense SVD when ``k * n_workers`` is at most this many entries; the
#: exact decoder (``method="exact"``) of those codes is dense up to this size.
DENSE_FALLBACK_ENTRIES = 2048 * 2048


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
            "The 'responders_mask' parameter must be a bool array [..., "
            f"{code.n_workers}]; got dtype {arr.dtype}."
        )
    if arr.ndim == 0 or arr.shape[-1] != code.n_workers:
        raise ValueError(
            "The 'responders_mask' parameter must have shape [..., "
            f"{code.n_workers}] (one entry per worker, any leading batch shape); got "
            f"{arr.shape}."
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


# --------------------------------------------------------------------------- solvers

_NORMAL_SYSTEMS: weakref.WeakKeyDictionary[Code, NormalSystem] = weakref.WeakKeyDictionary()


def _normal_system(code: Code) -> NormalSystem:
    system = _NORMAL_SYSTEMS.get(code)
    if system is None:
        system = _NORMAL_SYSTEMS[code] = normal_system(code.B)
    return system


def prepare_decoding(code: Code) -> bool:
    """Build ``code``'s Gram system now, once, if ``solver="auto"`` can use it.

    An aggregator decodes the same code every round, often in batches too small to pay for
    the ``n_workers^3`` build on their own (``batch < max(NORMAL_MIN_BATCH, n // 10)``), so
    they would run batched CGLS round after round. Built up front, every least-squares
    decode of the code takes the normal equations from the first call (one solver for all
    rounds, whatever was decoded before). Returns whether it will.
    """
    k, n = code.n_partitions, code.n_workers
    if k * n <= BATCH_DENSE_MAX_ENTRIES or code.is_exact or n > min(k, NORMAL_MAX_WORKERS):
        return False
    return _normal_system(code).null_dim <= NORMAL_MAX_NULL_DIM


def _auto_solver(code: Code, batch: int, method: str) -> str:
    k, n = code.n_partitions, code.n_workers
    if k * n <= BATCH_DENSE_MAX_ENTRIES:
        return "dense"
    if not code.is_exact and n <= min(k, NORMAL_MAX_WORKERS):
        # Building the Gram system costs n^3 once per code: worth it for a batch, not for
        # one decode of a code decoded once.
        system = _NORMAL_SYSTEMS.get(code)
        if system is None and batch >= max(NORMAL_MIN_BATCH, n // 10):
            system = _normal_system(code)
        if system is not None and system.null_dim <= NORMAL_MAX_NULL_DIM:
            return "normal"
    if method == "exact":
        return "dense" if k * n <= DENSE_FALLBACK_ENTRIES else "cgls"
    return "dense" if batch * k * n <= DENSE_MAX_ENTRIES else "cgls"


def _lsmr_vectors(B: sp.csr_matrix, mask: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """SciPy LSMR trial by trial on ``B_T^T``."""
    out = np.zeros(mask.shape)
    converged = np.ones(mask.shape[0], dtype=bool)
    ones = np.ones(B.shape[1])
    for b, m in enumerate(mask):
        idx = np.flatnonzero(m)
        if idx.size:
            out[b, idx], converged[b] = lsmr_lstsq(B[idx].T.tocsr(), ones, opts)
    return out, converged


def _solve(code: Code, mask: np.ndarray, opts: dict, method: str) -> np.ndarray:
    """Least-squares decoders [batch, n] for a 2-D mask (codes without replica groups)."""
    auto = opts.get("solver", "auto") == "auto"
    solver = _auto_solver(code, mask.shape[0], method) if auto else opts["solver"]
    if solver == "dense":
        return dense_vectors(code.B, mask)
    if solver != "normal":
        return _iterative(code, mask, opts, solver, fallback=auto)
    a, converged = normal_vectors(_normal_system(code), mask)
    redo = ~converged
    if redo.any() and auto:
        # Rank-deficient or ill-conditioned B_T B_T^T: solve those trials on B_T^T itself.
        a[redo] = _iterative(code, mask[redo], opts, "cgls", fallback=True)
    elif redo.any():
        _warn_unconverged(code, "normal equations", int(redo.sum()), mask.shape[0])
    return a


def _iterative(code: Code, mask: np.ndarray, opts: dict, solver: str, fallback: bool) -> np.ndarray:
    """CGLS or LSMR; with ``fallback``, the dense SVD for trials that do not converge."""
    solve = _lsmr_vectors if solver == "lsmr" else cgls_batch
    a, converged = solve(code.B, mask, opts)
    redo = ~converged
    if not redo.any():
        return a
    if fallback and code.n_partitions * code.n_workers <= DENSE_FALLBACK_ENTRIES:
        a[redo] = dense_vectors(code.B, mask[redo])
    else:
        _warn_unconverged(code, f"iterative solver {solver!r}", int(redo.sum()), mask.shape[0])
    return a


def _warn_unconverged(code: Code, what: str, n_bad: int, batch: int) -> None:
    warnings.warn(
        f"The {what} did not converge for code {code.name!r} on {n_bad} of {batch} trials "
        "(ill-conditioned or rank-deficient B_T); the decoders may be inaccurate or not of "
        "minimum norm, and the least-squares errors overestimated.",
        RuntimeWarning,
        stacklevel=5,
    )


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


def _vectors(
    code: Code, mask: np.ndarray, method: str, opts: dict, single: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoders [batch, n] for a 2-D mask, and the errors when they were needed (exact)."""
    if mask.shape[0] == 0:
        return np.zeros((0, code.n_workers)), np.zeros(0)
    if method == "one-step":
        w = _one_step_weights(code, np.count_nonzero(mask, axis=1), opts.get("weight"))
        return mask * w[:, None], None
    groups = code.groups
    if groups is not None:
        if method == "exact":
            err = _group_errors(mask, groups, code.n_partitions)
            _check_exact(code, mask, err, opts.get("tol", 1e-6), single)
            return _group_first_responders(mask, groups), err
        return _group_vectors(mask, groups), None
    a = _solve(code, mask, opts, method)
    if method != "exact":
        return a, None
    err = _errors(code, a)
    _check_exact(code, mask, err, opts.get("tol", 1e-6), single)
    return a, err


def _errors(code: Code, a: np.ndarray) -> np.ndarray:
    c = (code.B.T @ a.T).T  # [batch, k]
    return np.sum((c - 1.0) ** 2, axis=1) / code.n_partitions


def _check_exact(code: Code, mask: np.ndarray, err: np.ndarray, tol: float, single: bool) -> None:
    failed = np.flatnonzero(~(np.sqrt(err) <= tol))
    if not failed.size:
        return
    b = int(failed[0])
    n_resp = int(mask[b].sum())
    stragglers = np.flatnonzero(~mask[b]).tolist()
    if single and code.groups is not None:
        covered = np.bincount(code.groups[mask[b]], minlength=code.n_groups) > 0
        raise NotDecodableError(
            f"Not decodable: {n_resp} of {code.n_workers} workers responded and replica "
            f"group(s) {np.flatnonzero(~covered).tolist()} of code {code.name!r} lost every "
            f"member (stragglers: {stragglers})."
        )
    if single:
        raise NotDecodableError(
            f"Not decodable: {n_resp} of {code.n_workers} workers responded (stragglers: "
            f"{stragglers}); the relative residual ||B_T^T a - 1||/sqrt(k) = "
            f"{math.sqrt(err[b]):.3g} exceeds tol={tol:g}."
        )
    raise NotDecodableError(
        f"Not decodable: {failed.size} of {mask.shape[0]} trials cannot decode "
        f"exactly; first is trial {b} with {n_resp} of {code.n_workers} responders "
        f"(stragglers: {stragglers}), relative residual {math.sqrt(err[b]):.3g} > "
        f"tol={tol:g}."
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


def _group_first_responders(mask: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Exact decoder for replica groups: weight 1 on the first responder of each group."""
    order = np.argsort(groups, kind="stable")  # workers by group, by index within a group
    sorted_groups = groups[order]
    seen = np.cumsum(mask[:, order], axis=1)  # responders up to each position
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    before = np.where(starts > 0, seen[:, np.maximum(starts - 1, 0)], 0)  # [batch, n_groups]
    first = mask[:, order] & (seen - before[:, sorted_groups] == 1)
    a = np.zeros(mask.shape)
    a[:, order] = first
    return a


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


def decoding_vectors(code: Code, responders_mask, method: str = "lstsq", **options) -> np.ndarray:
    """Decoding vectors for a batch of responder sets, vectorized.

    Parameters
    ----------
    code : Code
    responders_mask : bool array [..., n_workers]
        The responders of each trial; any leading batch shape (``[n_workers]`` alone is one
        trial).
    method : {"lstsq", "one-step", "exact"}
        ``"lstsq"``: minimum-norm ``argmin_a ||B_T^T a - 1||_2`` for every trial. Replica
        group codes (:attr:`Code.groups`) use their closed form whatever the solver
        (weight ``1/h`` on each of a covered group's ``h`` responders). Options:

        - ``solver``: ``"auto"`` (default) picks, in this order: stacked dense SVDs when
          ``k * n_workers <=`` :data:`BATCH_DENSE_MAX_ENTRIES`; the normal equations
          (``"normal"``) for codes that are not exact by construction
          (``code.exact_s is None``) with ``n_workers <= min(k,``
          :data:`NORMAL_MAX_WORKERS` ``)`` and a Gram matrix ``B B^T`` with a null space
          of dimension at most :data:`NORMAL_MAX_NULL_DIM` (built per code by the first
          batch of at least ``max(``:data:`NORMAL_MIN_BATCH` ``, n_workers // 10)``
          trials, so one-off single decodes skip it), redoing with CGLS the trials
          where they do not converge (rank-deficient or ill-conditioned
          ``B_T B_T^T``); otherwise
          dense SVDs when ``batch * k * n_workers <=`` :data:`DENSE_MAX_ENTRIES` and
          batched CGLS above it, redoing with the dense SVD the trials that do not
          converge (ill-conditioned exact codes: normal equations would square
          ``cond(B_T)``, up to 1e9 for ``crc``) when ``k * n_workers <=``
          :data:`DENSE_FALLBACK_ENTRIES`. ``"normal"``, ``"cgls"``, ``"lsmr"`` (SciPy's
          LSMR, trial by trial) or ``"dense"`` force a solver, without fallback: a forced
          solver that does not converge on some trials warns.
        - ``atol``, ``btol`` (CGLS/LSMR tolerances, default 1e-12), ``maxiter``.

        ``"one-step"``: ``a_i = weight`` on responders, default ``k / (w |T|)`` with
        ``w = sum(B) / n_workers`` (mean row sum); option ``weight``.
        ``"exact"``: ``B_T^T a = 1``; option ``tol`` (default 1e-6) on the relative
        residual ``||B_T^T a - 1|| / sqrt(k)``, plus the ``lstsq`` options (``solver="auto"``
        is dense up to :data:`DENSE_FALLBACK_ENTRIES` for exact codes). Replica groups:
        weight 1 on the first responder of each group.

    Returns
    -------
    a : float64 ndarray [..., n_workers]
        Zero off each trial's responders.

    Raises
    ------
    NotDecodableError
        ``method="exact"`` and some trial cannot decode.
    """
    method = check_choice("method", method, METHODS, owner="decoding_vectors")
    opts = _options(method, options)
    mask = _batch_mask(code, responders_mask)
    flat = mask.reshape(-1, code.n_workers)
    a, _ = _vectors(code, flat, method, opts, single=mask.ndim == 1)
    return a.reshape(mask.shape)


def decoding_errors(code: Code, responders_mask, method: str = "lstsq", **options) -> np.ndarray:
    """Normalized decoding errors ``||B_T^T a - 1||^2 / k`` for a batch of responder sets.

    The Monte-Carlo workhorse: :func:`decoding_vectors` (same parameters), then
    ``c = B^T a`` for the whole batch in one sparse product. Replica-group codes use the
    exact closed form (partitions of groups without a responder, over ``k``).

    Returns
    -------
    err : float64 ndarray [...]
        One error per trial (the leading shape of ``responders_mask``).
    """
    method = check_choice("method", method, METHODS, owner="decoding_errors")
    opts = _options(method, options)
    mask = _batch_mask(code, responders_mask)
    flat = mask.reshape(-1, code.n_workers)
    single = mask.ndim == 1
    if method == "lstsq" and code.groups is not None:
        # Summing the 1/h weights back would leave rounding residue (3 * (1/3) != 1).
        err = _group_errors(flat, code.groups, code.n_partitions)
    else:
        a, err = _vectors(code, flat, method, opts, single)
        if err is None:
            err = _errors(code, a)
    return err.reshape(mask.shape[:-1])


def decode(code: Code, responders, method: str = "lstsq", **options) -> np.ndarray:
    """Decoding vector ``a`` for one responder set ``T``: :func:`decoding_vectors` of it.

    Parameters
    ----------
    code : Code
    responders : sequence of int or bool array [n_workers]
        Distinct worker indices or a boolean mask of the workers that responded.
    method : {"lstsq", "one-step", "exact"}
        And ``**options``: see :func:`decoding_vectors`.

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
    return decoding_vectors(code, responder_mask(code, responders), method, **options)


def decoding_error(code: Code, responders, method: str = "lstsq", **options) -> float:
    """Normalized decoding error ``||B_T^T a - 1||^2 / k`` of one responder set (float).

    Equals ``E||Ghat - G||^2 / E||G||^2`` for i.i.d. zero-mean isotropic partition
    gradients. :func:`decoding_errors` of one trial; see :func:`decoding_vectors` for
    ``method`` and ``options``.
    """
    return float(decoding_errors(code, responder_mask(code, responders), method, **options))


def realized_error(code: Code, responders, gradients, method: str = "lstsq", **options) -> float:
    """Relative error ``||Ghat - G||^2 / ||G||^2`` on actual partition gradients.

    :func:`realized_errors` of one responder set.

    Parameters
    ----------
    code : Code
    responders : sequence of int or bool array [n_workers]
    gradients : float array [n_partitions, D]
        Partition gradients ``g_j``; ``G = sum_j g_j`` must be nonzero.
    method, **options
        As in :func:`decoding_vectors`.

    Returns
    -------
    float
    """
    mask = responder_mask(code, responders)
    return float(realized_errors(code, mask, gradients, method, **options))


def realized_errors(
    code: Code, responders_mask, gradients, method: str = "lstsq", **options
) -> np.ndarray:
    """Relative errors ``||Ghat_b - G_b||^2 / ||G_b||^2`` for a batch of trials, vectorized.

    The workers' coded messages ``gt_i = sum_j B[i, j] g_j`` and the decoded sum
    ``Ghat = sum_{i in T} a_i gt_i`` are computed in the dtype of ``gradients`` (so
    float32 gradients expose the precision loss of large decoding weights).

    Parameters
    ----------
    code : Code
    responders_mask : bool array [..., n_workers]
    gradients : float array [..., n_partitions, D] or [n_partitions, D]
        Partition gradients per trial (same leading shape as the masks) or shared by all
        trials; ``G = sum_j g_j`` must be nonzero.
    method, **options
        As in :func:`decoding_vectors`.

    Returns
    -------
    float64 ndarray [...]
    """
    mask = _batch_mask(code, responders_mask)
    lead, k = mask.shape[:-1], code.n_partitions
    g = np.asarray(gradients)
    if g.ndim == 2:
        g = np.broadcast_to(g, (*lead, *g.shape))
    if g.ndim < 2 or g.shape[:-1] != (*lead, k):
        shapes = f"[{k}, D]" if not lead else f"[{', '.join(map(str, lead))}, {k}, D] or [{k}, D]"
        raise ValueError(
            f"The 'gradients' parameter must have shape {shapes}; got {np.shape(gradients)}."
        )
    if not np.issubdtype(g.dtype, np.floating):
        raise TypeError(f"The 'gradients' parameter must be a float array; got dtype {g.dtype}.")
    G = g.sum(axis=-2, dtype=np.float64)  # [..., D]
    denom = np.sum(G**2, axis=-1)
    if np.any(denom == 0.0):
        raise ValueError("The 'gradients' parameter must have a nonzero sum G = sum_j g_j.")
    a = decoding_vectors(code, mask, method, **options).reshape(-1, code.n_workers)
    dtype = g.dtype
    batch, dim = a.shape[0], g.shape[-1]
    g = g.reshape(batch, k, dim)
    # The workers' messages for every trial in one sparse product: [n_workers, batch * D].
    flat = np.ascontiguousarray(np.moveaxis(g, 0, 1)).reshape(k, batch * dim)
    coded = (code.B.astype(dtype) @ flat).reshape(code.n_workers, batch, dim)
    g_hat = np.einsum("bn,nbd->bd", a.astype(dtype), coded)
    out = np.sum((g_hat.astype(np.float64) - G.reshape(batch, dim)) ** 2, axis=1)
    return out.reshape(lead) / denom
