"""Batched box-constrained convex quadratic programs (active-set Newton, NumPy only).

::

    minimize_u   f(u) = u^T M u - 2 q^T u      subject to   lo <= u <= hi   (elementwise)

for a stack of problems at once: ``M`` [..., n, n] symmetric positive semidefinite (singular
and badly conditioned ``M`` are fine, e.g. ``M = B S B^T`` with ``S = m2 11^T + v I`` and tiny
``v``), ``q`` [..., n], bounds [..., n] with ``lo <= hi``; a bound may be infinite, and
``lo_i == hi_i`` fixes ``u_i`` (e.g. ``0`` for a silent device). This is the problem that
joint decoding and power control solves once per realization and per ``eta``
(:mod:`aircomp_agc.aggregation.joint`).

Method: a primal active-set method with Newton steps on the free variables and a projected
search, vectorized over the batch (loops run over iterations, never over rows).

* Variables are Jacobi-scaled (``y = sqrt(diag M) u``), so ``M`` has a unit diagonal and
  nothing depends on the units of the individual variables.
* A *working set* ``W`` holds fixed variables and variables held at a bound; the rest are
  free. Each iteration solves the reduced Newton system ``(M_FF + 1e-12 I) d_F = -g_F`` for
  all rows at once (the free variables of each row gathered first, rows grouped by their
  free count, one ``numpy.linalg.solve`` per group). The tiny ridge makes singular ``M_FF``
  solvable; repeated steps act as iterated Tikhonov refinement, so the *objective* converges
  to its optimum even where the minimizer is not unique.
* Two candidate steps: the longest feasible step along ``d`` (at most 1; the variables that
  block it join ``W``, as in a classical active-set method) and the projected Newton step
  ``P(y + d)`` (the variables it clips join ``W``; this changes many bounds in one
  iteration). The one with the lower objective is taken; the first never increases it.
  (Shorter points on the projection arc, or its exact first local minimizer, cost more than
  they save on these problems.)
* Variables leave ``W`` when their multiplier has the wrong sign (gradient pointing into the
  box): at first eagerly, every iteration (except bounds the last step has just reached);
  a row whose release is followed by no decrease falls back to releasing only at a subspace
  minimum (after a full Newton step), and then to one variable at a time (the classical,
  anti-cycling rule).

Objective changes are computed from the gradient (``g^T s + s^T M s / 2``), never by
subtracting two objective values, so comparisons stay meaningful when ``f`` is large and the
change tiny. A row stops when the Newton decrement on the free set plus the first-order bound
on what the wrong-signed multipliers can still gain (by convexity
``f(u) - f* <= g^T (u - u*)``, each term at most ``|g_i| (hi_i - lo_i)``) is at most ``tol``
times the objective's scale ``|u^T M u| + 2 |q^T u|`` at that point: a KKT test in objective
units. After a full Newton step the next decrement is at most ``|g_F|^2 / ridge`` (the reduced
system is ``>= ridge I``), which certifies most rows without a confirming solve. Finished rows
leave the batch. Rows are processed in chunks of about 8 MB of ``M``,
with BLAS limited to one thread (multi-threaded LAPACK is far slower on stacks of small
systems).

Coordinates whose row and column of ``M`` are exactly zero are linear and separable; they go
straight to the bound that the sign of ``q_i`` selects. A problem that is unbounded below (an
infinite bound in a direction of zero curvature and descent) is reported with
``converged = False``; when the unboundedness is in such a separable coordinate, its
``objective`` is ``-inf``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._blas import single_thread_blas as _single_thread_blas

__all__ = ["BoxQPResult", "solve_box_qp"]

# Ridge added to the reduced Newton system (relative: M has a unit diagonal after scaling).
_RIDGE = 1e-12
# Step lengths tried along the projection arc P(y + a d) (one batched evaluation).
_ARC = np.array([1.0])
# Reduced systems are padded to a multiple of this size and solved in groups.
_GROUP = 8
# Finished rows are dropped from the working block when fewer than this fraction is live.
_COMPACT = 0.7
# The gradient is updated with each step and recomputed every this many iterations.
_REFRESH = 8
# Memory cap (float64 entries of M) for one chunk of rows.
_CHUNK_ENTRIES = 1 << 20


@dataclass(frozen=True)
class BoxQPResult:
    """Solutions of a stack of box-constrained QPs.

    Attributes:
        x: [..., n] minimizers (within the box; a minimizer where it is not unique).
        objective: [...] ``x^T M x - 2 q^T x``.
        converged: [...] bool, the KKT test of :func:`solve_box_qp` passed.
        iterations: the most iterations any problem took (each one batched Newton solve).
    """

    x: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    iterations: int


def _as_real(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real; got dtype {arr.dtype}.")
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == bool
    ):
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}.")
    return arr.astype(np.float64, copy=False)


def _unbroadcast(arr: np.ndarray, core: int) -> np.ndarray:
    """Leading axes with stride 0 (``numpy.broadcast_to`` views) cut to length 1, so that a
    matrix shared by the whole batch is checked and stored once, not once per row."""
    lead = arr.ndim - core
    index = tuple(
        slice(0, 1) if arr.strides[a] == 0 and arr.shape[a] > 1 else slice(None)
        for a in range(max(lead, 0))
    )
    return arr[index] if index else arr


def _matvec(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.matmul(M, x[..., None])[..., 0]


def solve_box_qp(
    M,
    q,
    lo,
    hi,
    *,
    x0=None,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> BoxQPResult:
    """Minimize ``u^T M u - 2 q^T u`` subject to ``lo <= u <= hi``, for a stack of problems.

    Args:
        M: [..., n, n] symmetric positive semidefinite matrices (only the symmetric part
            ``(M + M^T) / 2`` enters the objective and is used). Broadcast views are fine.
        q: [..., n] linear terms.
        lo, hi: [..., n] bounds (scalars or anything broadcastable to the batch), ``lo <= hi``;
            ``-inf``/``+inf`` allowed; ``lo == hi`` fixes the variable.
        x0: optional [..., n] warm start (e.g. the solution of a neighbouring problem); it is
            clipped into the box. Default: the point of the box nearest to 0.
        tol: relative KKT tolerance in objective units (see the module notes), in (0, 1).
            The default asks for about ten significant digits of ``f``.
        max_iter: most iterations per problem.

    The leading batch shapes of ``M``, ``q``, ``lo``, ``hi`` and ``x0`` broadcast together.

    Returns:
        :class:`BoxQPResult` with ``x`` [..., n], ``objective`` [...], ``converged`` [...] and
        ``iterations``.
    """
    M = _unbroadcast(_as_real("M", M), 2)
    q = _unbroadcast(_as_real("q", q), 1)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2] or M.shape[-1] == 0:
        raise ValueError(f"M must have shape [..., n, n] with n >= 1; got shape {M.shape}.")
    n = M.shape[-1]
    if q.ndim < 1 or q.shape[-1] != n:
        raise ValueError(f"q must have shape [..., n] with n = {n} (from M); got shape "
                         f"{q.shape}.")
    if not (isinstance(tol, (int, float, np.floating, np.integer)) and 0 < tol < 1):
        raise ValueError(f"tol must be a number in (0, 1); got {tol!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) \
            or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}.")
    named = {"lo": _unbroadcast(_as_real("lo", lo), 1),
             "hi": _unbroadcast(_as_real("hi", hi), 1)}
    if x0 is not None:
        named["x0"] = _unbroadcast(_as_real("x0", x0), 1)
    shapes = {"M": M.shape[:-2], "q": q.shape[:-1]}
    for name, arr in named.items():
        if arr.ndim and arr.shape[-1] not in (1, n):
            raise ValueError(f"{name} must have shape [..., n] with n = {n} (from M), or "
                             f"broadcast to it; got shape {arr.shape}.")
        shapes[name] = arr.shape[:-1]
    try:
        batch = np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(
            "The leading batch shapes must broadcast together; got "
            + ", ".join(f"{k} {v}" for k, v in shapes.items()) + "."
        ) from None

    if not np.all(np.isfinite(M)):
        raise ValueError("M must be finite; got NaN or infinite entries.")
    diag = np.diagonal(M, axis1=-2, axis2=-1)
    neg = diag < -1e-12 * np.max(np.abs(M), axis=(-2, -1))[..., None]
    if np.any(neg):
        raise ValueError("M must be positive semidefinite; got a negative diagonal entry "
                         f"{diag[neg].min()!r}.")
    if not np.all(np.isfinite(q)):
        raise ValueError("q must be finite; got NaN or infinite entries.")
    lo_a, hi_a = named["lo"], named["hi"]
    if np.any(np.isnan(lo_a)) or np.any(lo_a == np.inf):
        raise ValueError("lo must be a number or -inf (not NaN or +inf); got such entries.")
    if np.any(np.isnan(hi_a)) or np.any(hi_a == -np.inf):
        raise ValueError("hi must be a number or +inf (not NaN or -inf); got such entries.")
    if "x0" in named and not np.all(np.isfinite(named["x0"])):
        raise ValueError("x0 must be finite; got NaN or infinite entries.")

    rows = int(np.prod(batch, dtype=np.int64))
    full = (*batch, n)
    lo_f = np.broadcast_to(lo_a, full).reshape(rows, n)
    hi_f = np.broadcast_to(hi_a, full).reshape(rows, n)
    bad = lo_f > hi_f
    if np.any(bad):
        r, i = np.argwhere(bad)[0]
        raise ValueError(f"lo must be <= hi elementwise; got lo = {lo_f[r, i]!r} > hi = "
                         f"{hi_f[r, i]!r} (row {r}, entry {i}).")
    q_f = np.broadcast_to(q, full).reshape(rows, n)
    if "x0" in named:
        u = np.broadcast_to(named["x0"], full).reshape(rows, n)
    else:
        u = np.zeros((rows, n))
    u = np.clip(u, lo_f, hi_f)  # a fresh array

    # rows of M index into its own (un-broadcast) stack: no copy of a shared matrix
    m_batch = M.shape[:-2]
    m_flat = np.ascontiguousarray(M).reshape(-1, n, n)
    m_index = np.broadcast_to(
        np.arange(m_flat.shape[0]).reshape(m_batch), batch).reshape(rows)

    x = np.empty((rows, n))
    objective = np.empty(rows)
    converged = np.empty(rows, dtype=bool)
    iterations = 0
    chunk = max(1, _CHUNK_ENTRIES // (n * n))
    with _single_thread_blas():
        for start in range(0, rows, chunk):
            sl = slice(start, min(rows, start + chunk))
            Mc = m_flat[m_index[sl]]
            Mc = 0.5 * (Mc + Mc.transpose(0, 2, 1))
            xs, fs, cs, its = _solve_chunk(Mc, q_f[sl], lo_f[sl], hi_f[sl], u[sl], tol,
                                           int(max_iter))
            x[sl], objective[sl], converged[sl] = xs, fs, cs
            iterations = max(iterations, its)
    return BoxQPResult(
        x=x.reshape(full), objective=objective.reshape(batch),
        converged=converged.reshape(batch), iterations=iterations,
    )


def _newton_step(M, g, free):
    """``d`` with ``(M_FF + ridge I) d_F = -g_F`` and ``d = 0`` off the free set ``F``.

    ``M`` has a unit diagonal (Jacobi-scaled). The free variables of each row are gathered
    first, and rows are grouped by their free count rounded up to a multiple of
    ``_GROUP``, so each group solves systems only as large as it needs.
    """
    k, n = g.shape
    d = np.zeros_like(g)
    nf = np.sum(free, axis=1)
    perm = np.argsort(~free, axis=1, kind="stable")  # free variables first
    size = np.minimum(-(-nf // _GROUP) * _GROUP, n)
    for m in np.unique(size[nf > 0]):
        rows = np.flatnonzero((size == m) & (nf > 0))
        idx = perm[rows, :m]  # [r, m]
        valid = np.arange(m) < nf[rows, None]
        lin = (rows * (n * n))[:, None, None] + idx[:, :, None] * n + idx[:, None, :]
        H = np.take(M, lin)  # M is C-contiguous: a flat gather
        # padding rows become unit rows (d = 0 there); their columns then do not matter
        H *= valid[:, :, None]
        diag = np.arange(m)
        H[:, diag, diag] = np.where(valid, 1.0 + _RIDGE, 1.0)
        rhs = np.where(valid, -g[rows[:, None], idx], 0.0)
        sol = np.linalg.solve(H, rhs[..., None])[..., 0]
        d[rows[:, None], idx] = np.where(valid, sol, 0.0)
    return d


def _solve_chunk(M, q, lo, hi, u, tol, max_iter):
    """Active-set Newton on one chunk [rows, n, n]; returns (x, objective, converged, iters)."""
    rows, n = q.shape
    fixed = lo == hi
    u = np.where(fixed, lo, u)
    # Linear, separable coordinates (zero row and column of M): straight to a bound.
    zero = np.all(M == 0.0, axis=2) & ~fixed
    unbounded = np.zeros(rows, dtype=bool)
    if np.any(zero):
        to_hi = zero & (q > 0)
        to_lo = zero & (q < 0)
        unbounded = np.any((to_hi & np.isinf(hi)) | (to_lo & np.isinf(lo)), axis=1)
        u = np.where(to_hi & np.isfinite(hi), hi, np.where(to_lo & np.isfinite(lo), lo, u))
        fixed = fixed | zero

    # Jacobi scaling y = sqrt(diag M) u: unit diagonal, the objective is unchanged
    diag = np.diagonal(M, axis1=1, axis2=2)
    root = np.sqrt(np.where(diag > 0, diag, 1.0))
    Ms = M / root[:, :, None]
    Ms /= root[:, None, :]
    qs, ls, hs = q / root, lo * root, hi * root
    y = np.where(lo == hi, ls, np.clip(u * root, ls, hs))

    g = _matvec(Ms, y) - qs  # half the gradient of f (in y), updated with every step
    # working set: fixed variables and variables at a bound with the gradient pointing out
    work = fixed | ((y == ls) & (g > 0)) | ((y == hs) & (g < 0))
    full_step = np.zeros(rows, dtype=bool)
    mode = np.full(rows, 2, dtype=np.int8)  # release mode: 2 eager, 1 all, 0 one at a time
    recent = np.zeros((rows, n), dtype=bool)  # bounds reached by the last step
    pending = np.zeros(rows, dtype=bool)  # released several, no decrease since
    converged = np.zeros(rows, dtype=bool)

    # the block of rows held in Mb; finished rows stay in it (idle) until it is compacted
    blk = np.flatnonzero(~unbounded)
    Mb = Ms[blk]
    live = np.ones(blk.size, dtype=bool)
    iters = 0
    for it in range(max_iter):
        n_live = int(np.sum(live))
        if n_live == 0:
            break
        iters = it + 1
        if n_live < _COMPACT * blk.size:
            Mb, blk, live = Mb[live], blk[live], live[live]
        if it % _REFRESH == _REFRESH - 1:  # recompute the gradient from scratch
            g[blk] = _matvec(Mb, y[blk]) - qs[blk]
        k = blk.size
        qa, la, ha, fa = qs[blk], ls[blk], hs[blk], fixed[blk]
        ya, ga, wa = y[blk], g[blk], work[blk]
        lv = live[:, None]

        # multipliers of the working set: a bound whose gradient points into the box
        wrong = lv & wa & ~fa & (((ya == la) & (ga < 0)) | ((ya == ha) & (ga > 0)) |
                                 ((ya > la) & (ya < ha)))
        # first-order bound on what the violators can still gain: by convexity,
        # f(u) - f* <= g^T (u - u*), and each term is at most |g_i| (hi_i - lo_i)
        with np.errstate(invalid="ignore"):
            violation = np.sum(np.where(wrong & (ga != 0), np.abs(ga) * (ha - la), 0.0),
                               axis=1)
        # release violators: eagerly (every iteration, except bounds that the last step
        # reached; after a full step, all of them), after a full step only (all at once), or
        # after a full step one at a time (the steepest); a row falls back to the next, more
        # careful mode when a release is followed by no decrease (anti-cycling)
        md = mode[blk]
        full_prev = full_step[blk]
        one = np.zeros_like(wa)
        one[np.arange(k), np.argmax(np.where(wrong, np.abs(ga), -1.0), axis=1)] = True
        released = wrong & (
            ((md == 2)[:, None] & (~recent[blk] | full_prev[:, None]))
            | ((md == 1) & full_prev)[:, None]
            | ((md == 0) & full_prev)[:, None] & one
        )
        wa &= ~released
        free = ~wa & lv

        d = _newton_step(Mb, ga, free)

        # KKT test in objective units (h = f / 2): what the model still promises
        decrement = -0.5 * np.sum(ga * d, axis=1)
        uMu = np.sum(ya * (ga + qa), axis=1)
        scale = 0.5 * np.abs(uMu) + np.abs(np.sum(qa * ya, axis=1))
        done = live & (decrement + violation <= tol * scale)

        # candidate 0: the longest feasible step along d (at most 1), blockers join the set
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(d > 0, (ha - ya) / d, np.where(d < 0, (la - ya) / d, np.inf))
        ratio = np.where(free, np.maximum(ratio, 0.0), np.inf)
        alpha = np.minimum(np.min(ratio, axis=1), 1.0)
        full = alpha >= 1.0
        hit = free & ~full[:, None] & (ratio <= alpha[:, None])
        y_t = np.where(hit, np.where(d > 0, ha, la), np.clip(ya + alpha[:, None] * d, la, ha))
        # candidates 1...: points P(y + a d) of the projection arc, a in _ARC (where the
        # full step is infeasible); the variables they clip join the set
        trial = ya[..., None] + np.where(full[:, None], 0.0, d)[..., None] * _ARC
        cand = np.concatenate(
            [y_t[..., None], np.clip(trial, la[..., None], ha[..., None])], axis=-1)
        added = np.concatenate([hit[..., None], free[..., None] & (trial != cand[..., 1:])],
                               axis=-1)
        steps = cand - ya[..., None]  # [k, n, 1 + m]
        Msteps = np.matmul(Mb, steps)
        dh = np.sum(steps * (ga[..., None] + 0.5 * Msteps), axis=1)
        dh[full, 1:] = np.inf
        best = np.argmin(dh, axis=1)
        rk = np.arange(k)
        gain = dh[rk, best]
        take = live & (~done | (gain <= 0.0))
        tk = take[:, None]
        y_new = np.where(tk, cand[rk, :, best], ya)
        g_new = np.where(tk, ga + Msteps[rk, :, best], ga)
        y[blk], g[blk] = y_new, g_new
        added = added[rk, :, best] & tk
        work[blk] = wa | added

        # a full step minimizes the model on its face, so the next decrement is at most
        # |g_F|^2 / (2 ridge) (the reduced system is >= ridge I): certify rows right away
        post = full & take & ~done
        if np.any(post):
            wrong = wa & ~fa & (((y_new == la) & (g_new < 0)) | ((y_new == ha) & (g_new > 0)))
            with np.errstate(invalid="ignore"):
                violation = np.sum(
                    np.where(wrong & (g_new != 0), np.abs(g_new) * (ha - la), 0.0), axis=1)
            bound = 0.5 * np.sum(np.where(free, g_new, 0.0) ** 2, axis=1) / _RIDGE
            uMu = np.sum(y_new * (g_new + qa), axis=1)
            scale = 0.5 * np.abs(uMu) + np.abs(np.sum(qa * y_new, axis=1))
            certified = post & (bound + violation <= tol * scale)
            done = done | certified

        progress = take & (gain < 0.0)
        n_rel = np.sum(released, axis=1)
        eager_fail = (md == 2) & (n_rel > 0) & ~progress
        pa = (pending[blk] | (n_rel > 1)) & (md == 1)
        multi_fail = pa & full & ~progress
        mode[blk] = np.where(eager_fail, 1, np.where(multi_fail, 0, md))
        pending[blk] = pa & ~progress & ~full
        recent[blk] = added
        full_step[blk] = full & take
        converged[blk[done]] = True
        live &= ~done

    # back to u; variables at a bound in y are exactly at that bound in u
    x = np.where(y <= ls, lo, np.where(y >= hs, hi, np.clip(y / root, lo, hi)))
    Mu = _matvec(M, x)
    objective = np.sum(x * (Mu - 2.0 * q), axis=1)
    objective[unbounded] = -np.inf
    return x, objective, converged, iters
