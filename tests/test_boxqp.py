"""Batched box-constrained QP solver against SciPy's lsq_linear and exhaustive enumeration.

Problems are built as least squares, ``M = A^T A`` and ``q = A^T b``, so that
``f(u) = u^T M u - 2 q^T u = ||A u - b||^2 - ||b||^2`` and ``scipy.optimize.lsq_linear``
(BVLS) solves the same problem one realization at a time. Reference objectives are evaluated
in the least-squares form, which stays accurate where a reference returns a huge ``u`` in a
null direction of ``A``.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from aircomp_agc.aggregation.boxqp import BoxQPResult, solve_box_qp

REL = 1e-8  # objective agreement required (relative)


# ----------------------------------------------------------------------------- references
def lsq_reference(A, b, lo, hi):
    """lsq_linear (BVLS) on the non-fixed variables; returns ``u`` or None if untrustworthy."""
    fixed = lo == hi
    u = np.where(fixed, lo, 0.0)
    free = ~fixed
    if free.any():
        rhs = b - A[:, fixed] @ lo[fixed]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = lsq_linear(A[:, free], rhs, bounds=(lo[free], hi[free]), method="bvls",
                             tol=1e-14, lsq_solver="exact")
        u[free] = np.clip(sol.x, lo[free], hi[free])
    # a reference far out along a null direction cannot be evaluated in double precision
    if np.linalg.norm(A, 2) * np.abs(u).max(initial=0.0) > 1e6 * (np.linalg.norm(b) + 1e-300):
        return None
    return u


def ls_objective(A, b, u):
    return float(np.sum((A @ u - b) ** 2) - b @ b)


def enumerate_reference(M, q, lo, hi):
    """Exact minimum for small n: every face (lower / upper / free per variable)."""
    n = q.size
    best = np.inf
    for pattern in itertools.product((0, 1, 2), repeat=n):
        pattern = np.array(pattern)
        if np.any((pattern == 1) & ~np.isfinite(lo)) or np.any((pattern == 2) & ~np.isfinite(hi)):
            continue
        x = np.where(pattern == 1, lo, np.where(pattern == 2, hi, 0.0))
        F = pattern == 0
        if F.any():
            rhs = q[F] - M[np.ix_(F, ~F)] @ x[~F]
            x[F] = np.linalg.lstsq(M[np.ix_(F, F)], rhs, rcond=None)[0]
            if np.any(x < lo - 1e-12) or np.any(x > hi + 1e-12):
                continue
            x = np.clip(x, lo, hi)
        best = min(best, float(x @ M @ x - 2.0 * q @ x))
    return best


def kkt_residual(M, q, x, lo, hi):
    """Largest projected-gradient entry relative to the size of the terms that make it."""
    g = M @ x - q
    pg = np.where(x <= lo, np.minimum(g, 0.0), np.where(x >= hi, np.maximum(g, 0.0), g))
    pg = np.where(lo == hi, 0.0, pg)
    scale = np.abs(M) @ np.abs(x) + np.abs(q) + 1e-300
    return float(np.max(np.abs(pg) / scale))


# ----------------------------------------------------------------------------- problems
def code_factor(rng, n, v, m2=1.0, row_weight=4):
    """``A = S^{1/2} B^T`` and ``b = S^{1/2} 1`` for a random 0/1 code ``B`` and
    ``S = m2 11^T + v I``: ``M = B S B^T`` is nearly rank one plus ``v B B^T``."""
    k = n
    B = (rng.random((n, k)) < min(1.0, row_weight / k)).astype(float)
    half = np.sqrt(v) * np.eye(k) + (np.sqrt(v + k * m2) - np.sqrt(v)) / k * np.ones((k, k))
    return half @ B.T, half @ np.ones(k)


def factor(rng, kind, n):
    m = int(rng.integers(1, 2 * n + 2))
    if kind == "dense":
        return rng.standard_normal((m, n)), rng.standard_normal(m)
    if kind == "rank-deficient":
        r = int(rng.integers(1, n + 1))
        return rng.standard_normal((r, n)), rng.standard_normal(r)
    if kind == "badly-scaled":
        A = rng.standard_normal((m, n)) * 10.0 ** rng.uniform(-3, 3, n)
        return A, rng.standard_normal(m)
    if kind == "duplicate-columns":
        A0 = rng.standard_normal((m, max(1, n // 2)))
        return A0[:, rng.integers(0, A0.shape[1], n)], rng.standard_normal(m)
    if kind == "rank-one-plus-small":
        return code_factor(rng, n, 10.0 ** rng.uniform(-10, 0))
    raise AssertionError(kind)


def bounds(rng, style, n):
    if style == "box":
        r = np.abs(rng.standard_normal(n)) * 10.0 ** rng.uniform(-2, 1)
        lo, hi = -r, r.copy()
    elif style == "mixed-infinite":
        lo = rng.standard_normal(n) * 0.5 - 0.5
        hi = lo + np.abs(rng.standard_normal(n))
        lo[rng.random(n) < 0.3] = -np.inf
        hi[rng.random(n) < 0.3] = np.inf
    elif style == "nonnegative":
        lo, hi = np.zeros(n), np.full(n, np.inf)
    elif style == "away-from-zero":
        lo = rng.uniform(0.1, 1.0, n)
        hi = lo + rng.uniform(0.0, 1.0, n)
    elif style == "unbounded":
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    else:
        raise AssertionError(style)
    fixed = rng.random(n) < 0.15  # e.g. silent devices
    value = np.where(np.isfinite(lo), lo, np.where(np.isfinite(hi), hi, 0.0))
    return np.where(fixed, value, lo), np.where(fixed, value, hi)


KINDS = ["dense", "rank-deficient", "badly-scaled", "duplicate-columns", "rank-one-plus-small"]
STYLES = ["box", "mixed-infinite", "nonnegative", "away-from-zero", "unbounded"]


def check_against_lsq(A_list, b_list, lo, hi, res):
    """Row by row: feasible, KKT, never worse than lsq_linear, and equal where it is exact."""
    M = np.stack([A.T @ A for A in A_list])
    q = np.stack([A.T @ b for A, b in zip(A_list, b_list, strict=True)])
    assert res.x.shape == q.shape and res.objective.shape == q.shape[:1]
    assert np.all(res.converged)
    assert np.all(res.x >= lo) and np.all(res.x <= hi)
    assert np.all(res.x[lo == hi] == lo[lo == hi])
    for r, (A, b) in enumerate(zip(A_list, b_list, strict=True)):
        f = ls_objective(A, b, res.x[r])
        scale = max(abs(f), 1e-12 * float(b @ b), 1e-300)
        assert abs(res.objective[r] - f) <= 1e-9 * max(abs(f), float(b @ b))
        assert kkt_residual(M[r], q[r], res.x[r], lo[r], hi[r]) < 1e-7
        ref = lsq_reference(A, b, lo[r], hi[r])
        if ref is None:
            continue
        f_ref = ls_objective(A, b, ref)
        assert f <= f_ref + REL * scale, (r, f, f_ref)
        if kkt_residual(M[r], q[r], ref, lo[r], hi[r]) < 1e-10:  # the reference is exact
            assert abs(f - f_ref) <= REL * scale, (r, f, f_ref)


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 7, 23, 60])
def test_matches_lsq_linear(kind, n):
    rng = np.random.default_rng([KINDS.index(kind), n])
    A_list, b_list, lo, hi = [], [], [], []
    for style in STYLES:
        A, b = factor(rng, kind, n)
        lo_r, hi_r = bounds(rng, style, n)
        A_list.append(A)
        b_list.append(b)
        lo.append(lo_r)
        hi.append(hi_r)
    lo, hi = np.array(lo), np.array(hi)
    M = np.stack([A.T @ A for A in A_list])
    q = np.stack([A.T @ b for A, b in zip(A_list, b_list, strict=True)])
    res = solve_box_qp(M, q, lo, hi)
    check_against_lsq(A_list, b_list, lo, hi, res)


@pytest.mark.parametrize("v", [1e-12, 1e-8, 1e-4, 1.0])
@pytest.mark.parametrize("eta", [0.01, 1.0, 100.0])
def test_joint_power_control_structure(v, eta):
    """The problem of joint decoding and power control: ``M = B S B^T`` (nearly rank one
    for small ``v``), 10% silent devices fixed at 0, boxes ``sqrt(P g / eta) / s``."""
    rng = np.random.default_rng([int(-np.log10(v)), int(np.log10(eta)) + 2])
    n, batch = 30, 6
    A_list, b_list = zip(*(code_factor(rng, n, v) for _ in range(batch)), strict=True)
    M = np.stack([A.T @ A for A in A_list])
    q = np.stack([A.T @ b for A, b in zip(A_list, b_list, strict=True)])
    s = np.sqrt(np.diagonal(M, axis1=1, axis2=2))
    silent = (rng.random((batch, n)) < 0.1) | (s == 0)
    gain = rng.exponential(size=(batch, n))
    with np.errstate(divide="ignore"):
        hi = np.where(silent, 0.0, np.sqrt(gain / eta) / s)
    res = solve_box_qp(M, q, -hi, hi)
    check_against_lsq(list(A_list), list(b_list), -hi, hi, res)


def test_general_q_against_enumeration():
    """q outside the range of a singular M, finite boxes: exact minimum by enumeration."""
    rng = np.random.default_rng(7)
    for _ in range(80):
        n = int(rng.integers(1, 6))
        A = rng.standard_normal((int(rng.integers(0, n + 1)), n)) * 10.0 ** rng.uniform(-2, 2, n)
        M, q = A.T @ A, 3.0 * rng.standard_normal(n)
        lo = rng.standard_normal(n) - 1.0
        hi = lo + np.abs(rng.standard_normal(n)) * rng.integers(0, 2, n)  # some fixed
        res = solve_box_qp(M, q, lo, hi)
        best = enumerate_reference(M, q, lo, hi)
        assert res.converged
        assert abs(res.objective - best) <= 1e-10 * max(abs(best), np.abs(M).sum(), 1e-300)


def test_unconstrained_rank_deficient_matches_least_squares():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((8, 20))  # rank 8 of 20: the minimizer is not unique
    b = rng.standard_normal(8)
    res = solve_box_qp(A.T @ A, A.T @ b, -np.inf, np.inf)
    best = -float(b @ b)  # A has full row rank: the residual can be 0
    assert res.converged
    assert abs(res.objective - best) <= 1e-10 * abs(best)


def test_exact_bounds_and_fixed_variables():
    rng = np.random.default_rng(11)
    A, b = factor(rng, "rank-one-plus-small", 40)
    M, q = A.T @ A, A.T @ b
    hi = np.full(40, 0.05)
    hi[::7] = 0.0
    res = solve_box_qp(M, q, -hi, hi)
    x = res.x
    assert np.all(x[::7] == 0.0)
    at_bound = np.isclose(np.abs(x), hi, rtol=1e-9, atol=0) & (hi > 0)
    assert np.any(at_bound)
    assert np.all(np.abs(x[at_bound]) == hi[at_bound])  # exactly on the bound, not 1 ulp off
    assert np.all(np.abs(x) <= hi)


# ----------------------------------------------------------------------------- warm start
def test_warm_start_gives_the_same_answer():
    rng = np.random.default_rng(5)
    n, batch = 50, 40
    A_list, b_list = zip(*(code_factor(rng, n, 0.1) for _ in range(batch)), strict=True)
    M = np.stack([A.T @ A for A in A_list])
    q = np.stack([A.T @ b for A, b in zip(A_list, b_list, strict=True)])
    s = np.sqrt(np.maximum(np.diagonal(M, axis1=1, axis2=2), 1e-300))
    gain = rng.exponential(size=(batch, n))
    radius = np.where(rng.random((batch, n)) < 0.1, 0.0, np.sqrt(gain) / s)
    cold_total = warm_total = 0
    x = None
    for eta in 10.0 ** np.linspace(-2, 2, 9):  # hi scales like 1 / sqrt(eta)
        hi = radius / np.sqrt(eta)
        cold = solve_box_qp(M, q, -hi, hi)
        warm = solve_box_qp(M, q, -hi, hi, x0=None if x is None else x)  # clipped inside
        x = warm.x
        assert np.all(cold.converged) and np.all(warm.converged)
        scale = np.maximum(np.abs(cold.objective), 1e-300)
        assert np.all(np.abs(warm.objective - cold.objective) <= 1e-9 * scale)
        cold_total += cold.iterations
        warm_total += warm.iterations
    assert warm_total < cold_total
    # starting at the solution: one iteration confirms it
    again = solve_box_qp(M, q, -hi, hi, x0=x)
    assert again.iterations == 1
    np.testing.assert_array_equal(again.x, x)


def test_warm_start_from_a_bad_point():
    rng = np.random.default_rng(6)
    A, b = factor(rng, "dense", 12)
    M, q = A.T @ A, A.T @ b
    base = solve_box_qp(M, q, -0.3, 0.3)
    for x0 in (rng.standard_normal(12) * 100, np.full(12, 0.3), -np.full(12, 0.3)):
        res = solve_box_qp(M, q, -0.3, 0.3, x0=x0)
        assert abs(res.objective - base.objective) <= 1e-10 * abs(base.objective)


# ----------------------------------------------------------------------------- shapes
def test_batch_shapes_and_broadcasting():
    rng = np.random.default_rng(9)
    n = 6
    A = rng.standard_normal((2, 3, 4, n))
    b = rng.standard_normal((2, 3, 4))
    M = np.einsum("...ki,...kj->...ij", A, A)
    q = np.einsum("...ki,...k->...i", A, b)
    hi = rng.uniform(0.1, 1.0, n)
    res = solve_box_qp(M, q, -1.0, hi)  # scalar lo, hi [n]
    assert isinstance(res, BoxQPResult)
    assert res.x.shape == (2, 3, n)
    assert res.objective.shape == res.converged.shape == (2, 3)
    assert res.converged.dtype == bool and isinstance(res.iterations, int)
    for i, j in itertools.product(range(2), range(3)):
        one = solve_box_qp(M[i, j], q[i, j], -np.ones(n), hi)
        assert one.x.shape == (n,) and one.objective.shape == ()
        assert abs(one.objective - res.objective[i, j]) <= 1e-12 * abs(one.objective)
    # one matrix shared by a batch of q, also as a broadcast view
    shared = solve_box_qp(M[0, 0], q.reshape(6, n), -1.0, hi)
    view = solve_box_qp(np.broadcast_to(M[0, 0], (6, n, n)), q.reshape(6, n), -1.0, hi)
    assert shared.x.shape == (6, n)
    np.testing.assert_array_equal(shared.x, view.x)
    # an empty batch
    empty = solve_box_qp(np.zeros((0, n, n)), np.zeros((0, n)), -1.0, 1.0)
    assert empty.x.shape == (0, n) and empty.objective.shape == (0,)


def test_only_the_symmetric_part_of_M_matters():
    rng = np.random.default_rng(12)
    A, b = factor(rng, "dense", 9)
    M, q = A.T @ A, A.T @ b
    skew = rng.standard_normal((9, 9))
    skew -= skew.T
    a = solve_box_qp(M, q, -0.5, 0.5)
    c = solve_box_qp(M + skew, q, -0.5, 0.5)
    assert abs(a.objective - c.objective) <= 1e-12 * abs(a.objective)


# ----------------------------------------------------------------------------- edge cases
def test_linear_coordinates_and_unbounded_problems():
    inf = np.inf
    # zero row/column: linear and separable, goes to the bound the sign of q selects
    res = solve_box_qp(np.zeros((2, 2)), np.array([1.0, -2.0]), -1.0, 1.0)
    np.testing.assert_array_equal(res.x, [1.0, -1.0])
    assert res.converged and res.objective == -6.0
    # ...or is unbounded
    res = solve_box_qp(np.zeros((2, 2)), np.array([1.0, 0.0]), -inf, inf)
    assert not res.converged and res.objective == -np.inf and np.all(np.isfinite(res.x))
    # a direction of zero curvature and descent with infinite bounds: reported, no crash
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve_box_qp(np.ones((2, 2)), np.array([1.0, -1.0]), -inf, inf, max_iter=30)
    assert not res.converged
    # everything fixed
    res = solve_box_qp(np.eye(3), np.ones(3), [0.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(res.x, [0.0, 1.0, 2.0])
    assert res.converged and res.objective == 5.0 - 6.0


def test_max_iter_caps_the_work_and_reports_it():
    rng = np.random.default_rng(13)
    A_list, b_list = zip(*(code_factor(rng, 40, 0.1) for _ in range(20)), strict=True)
    M = np.stack([A.T @ A for A in A_list])
    q = np.stack([A.T @ b for A, b in zip(A_list, b_list, strict=True)])
    full = solve_box_qp(M, q, -0.1, 0.1)
    short = solve_box_qp(M, q, -0.1, 0.1, max_iter=1)
    assert short.iterations == 1 and full.iterations > 1
    assert not np.all(short.converged)
    assert np.all(np.abs(short.x) <= 0.1)
    assert np.all(short.objective >= full.objective - 1e-9 * np.abs(full.objective))


# ----------------------------------------------------------------------------- bad input
M2 = np.eye(2)
Q2 = np.ones(2)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(M=np.ones((2, 3)), q=Q2, lo=0, hi=1), "M"),
        (dict(M=np.ones((2, 0, 0)), q=np.ones((2, 0)), lo=0, hi=1), "M"),
        (dict(M=M2, q=np.ones(3), lo=0, hi=1), "q"),
        (dict(M=M2, q=Q2, lo=np.zeros(3), hi=1), "lo"),
        (dict(M=M2, q=Q2, lo=0, hi=1, x0=np.zeros(3)), "x0"),
        (dict(M=np.stack([M2] * 3), q=np.ones((2, 2)), lo=0, hi=1), "batch shapes"),
        (dict(M=M2, q=Q2, lo=[0.0, 2.0], hi=[1.0, 1.0]), "lo"),
        (dict(M=np.array([[1.0, np.nan], [np.nan, 1.0]]), q=Q2, lo=0, hi=1), "M"),
        (dict(M=M2, q=np.array([1.0, np.inf]), lo=0, hi=1), "q"),
        (dict(M=M2, q=Q2, lo=[np.nan, 0.0], hi=1), "lo"),
        (dict(M=M2, q=Q2, lo=0, hi=[1.0, np.nan]), "hi"),
        (dict(M=M2, q=Q2, lo=np.inf, hi=np.inf), "lo"),
        (dict(M=M2, q=Q2, lo=-np.inf, hi=-np.inf), "hi"),
        (dict(M=M2, q=Q2, lo=0, hi=1, x0=[np.nan, 0.0]), "x0"),
        (dict(M=-M2, q=Q2, lo=0, hi=1), "M"),
        (dict(M=M2, q=Q2, lo=0, hi=1, tol=0.0), "tol"),
        (dict(M=M2, q=Q2, lo=0, hi=1, tol=1.5), "tol"),
        (dict(M=M2, q=Q2, lo=0, hi=1, max_iter=0), "max_iter"),
        (dict(M=M2, q=Q2, lo=0, hi=1, max_iter=2.5), "max_iter"),
    ],
)
def test_bad_input_gives_one_line_errors_naming_the_parameter(kwargs, name):
    M, q, lo, hi = (kwargs.pop(k) for k in ("M", "q", "lo", "hi"))
    with pytest.raises(ValueError) as err:
        solve_box_qp(M, q, lo, hi, **kwargs)
    message = str(err.value)
    assert "\n" not in message and name in message, message


@pytest.mark.parametrize("name", ["M", "q", "lo"])
def test_non_real_input_is_a_type_error(name):
    args = {"M": M2, "q": Q2, "lo": 0.0, "hi": 1.0}
    args[name] = np.asarray(args[name]) * (1 + 1j)
    with pytest.raises(TypeError, match=name):
        solve_box_qp(args["M"], args["q"], args["lo"], args["hi"])
    args[name] = "abc"
    with pytest.raises(TypeError, match=name):
        solve_box_qp(args["M"], args["q"], args["lo"], args["hi"])
