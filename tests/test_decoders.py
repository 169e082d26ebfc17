"""Decoders: least squares vs dense NumPy, one-step closed forms, batching, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from aircomp_agc.coding import (
    Code,
    NotDecodableError,
    coefficients,
    decode,
    decoding_error,
    decoding_errors,
    decoding_vectors,
    make_code,
    realized_error,
    realized_errors,
)
from aircomp_agc.coding.decoders import DENSE_MAX_ENTRIES, responder_mask
from aircomp_agc.coding.lstsq import conditioning, normal_system, normal_vectors


def random_code(n: int, w: int, seed: int, k: int | None = None, signed: bool = False) -> Code:
    """A local random sparse code (row weight ``w``), independent of other constructions."""
    rng = np.random.default_rng(seed)
    k = n if k is None else k
    cols = np.argsort(rng.random((n, k)), axis=1)[:, :w]
    vals = rng.choice([-1.0, 1.0], size=(n, w)) if signed else np.ones((n, w))
    B = sp.csr_matrix((vals.ravel(), (np.repeat(np.arange(n), w), cols.ravel())), shape=(n, k))
    return Code("test-random", B, params={"n": n, "w": w})


def dense_reference(code: Code, T) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm LS decoder and coefficients from numpy.linalg.lstsq."""
    T = np.asarray(T)
    A = code.B.toarray()[T].T
    aT = np.linalg.lstsq(A, np.ones(code.n_partitions), rcond=None)[0]
    a = np.zeros(code.n_workers)
    a[T] = aT
    return a, A @ aT


def random_masks(n: int, batch: int, p_straggle: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, n)) >= p_straggle


# ----------------------------------------------------------------- least squares


@pytest.mark.parametrize("solver", ["normal", "lsmr", "cgls", "dense", "auto"])
@pytest.mark.parametrize(
    "n, w, signed", [(40, 4, False), (60, 6, True), (300, 11, False), (300, 11, True)]
)
def test_lstsq_matches_dense_numpy(n, w, signed, solver):
    code = random_code(n, w, seed=n + w, signed=signed)
    T = np.sort(np.random.default_rng(1).permutation(n)[: n - n // 5])
    a = decode(code, T, method="lstsq", solver=solver)
    a_ref, c_ref = dense_reference(code, T)
    c = coefficients(code, T, a)
    np.testing.assert_allclose(c, c_ref, atol=1e-8)
    err_ref = np.sum((c_ref - 1.0) ** 2) / n
    assert decoding_error(code, T, method="lstsq", solver=solver) == pytest.approx(
        err_ref, rel=1e-8, abs=1e-14
    )
    assert np.all(a[np.setdiff1d(np.arange(n), T)] == 0)
    # B_T has full row rank here, so the LS decoder is unique
    np.testing.assert_allclose(a, a_ref, atol=1e-6)


def test_lstsq_minimum_norm_when_rank_deficient():
    # Duplicate rows (rank-deficient B_T): LSMR and CGLS from zero, the SVD, and the
    # default (normal equations are not used with more workers than partitions) give the
    # min-norm a.
    base = random_code(30, 4, seed=5)
    B = sp.vstack([base.B, base.B[:10]]).tocsr()  # 40 workers, 30 partitions
    code = Code("dup", B)
    T = np.arange(0, 40, 1)[np.random.default_rng(2).random(40) < 0.8]
    a_ref, c_ref = dense_reference(code, T)
    for solver in ("lsmr", "cgls", "dense", "auto"):
        a = decode(code, T, method="lstsq", solver=solver)
        np.testing.assert_allclose(coefficients(code, T, a), c_ref, atol=1e-8)
        np.testing.assert_allclose(a, a_ref, atol=1e-7)


def test_lstsq_replica_groups_closed_form_is_min_norm():
    # frc fast path: weight 1/r_g on the r_g responders of group g (numpy agrees)
    code = make_code("approx-frc", n=12, row_weight=3)
    T = [0, 1, 2, 4, 8]  # group 0: 3 responders, group 1: 1, group 2: 1, group 3: none
    a = decode(code, T, method="lstsq")
    a_ref, c_ref = dense_reference(code, T)
    np.testing.assert_allclose(a, a_ref, atol=1e-12)
    np.testing.assert_allclose(a[T], [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    assert decoding_error(code, T) == pytest.approx(3 / 12)


def test_lstsq_auto_falls_back_to_dense_when_cgls_stalls():
    # crc at n=300 (k*n above DENSE_MAX_ENTRIES) is too ill-conditioned for CGLS
    code = make_code("crc", n=300, s=5, rng=0, cond_sets=0)
    T = np.arange(5, 300)
    assert 300 * T.size > DENSE_MAX_ENTRIES
    a = decode(code, T, method="lstsq")
    assert np.linalg.norm(code.B.T @ a - 1) / np.sqrt(300) <= 1e-9
    assert decoding_error(code, T, method="lstsq") <= 1e-18


def test_empty_responders():
    code = random_code(20, 3, seed=0)
    for method in ("lstsq", "one-step"):
        np.testing.assert_array_equal(decode(code, [], method=method), np.zeros(20))
        assert decoding_error(code, np.zeros(20, dtype=bool), method=method) == 1.0
    with pytest.raises(NotDecodableError, match=r"0 of 20 workers responded"):
        decode(code, [], method="exact")


# ----------------------------------------------------------------- one-step


def test_one_step_default_weight_and_closed_form():
    code = random_code(50, 5, seed=3)
    T = np.flatnonzero(np.random.default_rng(4).random(50) < 0.7)
    a = decode(code, T, method="one-step")
    w = code.B.nnz / 50
    np.testing.assert_allclose(a[T], 50 / (w * T.size))
    assert np.count_nonzero(a) == T.size
    # brute force: c_j = weight * sum_{i in T} B[i, j]
    c = a[T] @ code.B.toarray()[T]
    assert decoding_error(code, T, method="one-step") == pytest.approx(
        np.sum((c - 1) ** 2) / 50, rel=1e-12
    )
    a2 = decode(code, T, method="one-step", weight=0.25)
    np.testing.assert_array_equal(a2[T], 0.25)


def test_one_step_exact_on_frc_without_stragglers():
    code = make_code("frc", n=12, s=3)
    a = decode(code, np.ones(12, dtype=bool), method="one-step")
    np.testing.assert_allclose(a, 1 / 4)
    assert decoding_error(code, np.arange(12), method="one-step") == pytest.approx(0, abs=1e-30)


# ----------------------------------------------------------------- batched errors


@pytest.mark.parametrize(
    "code_args",
    [
        ("random", 30, 4, None),  # dense stacked SVD path
        ("random", 200, 8, None),  # normal equations
        ("random", 200, 8, "dense"),
        ("random", 200, 8, "normal"),
        ("random", 60, 5, "cgls"),
        ("random", 60, 5, "lsmr"),
        ("crc", 50, 10, None),  # CGLS stalls (cond ~1e8): dense fallback per trial
        ("frc", 12, 3, None),  # replica-group closed form
        ("crc", 20, 5, None),
        ("cyclic-mds", 20, 5, None),
    ],
)
@pytest.mark.parametrize("method", ["lstsq", "one-step"])
def test_decoding_errors_matches_single_decodes(code_args, method):
    kind, n, x, solver = code_args
    if kind == "random":
        code = random_code(n, x, seed=n)
    else:
        code = make_code(kind, n=n, s=x, **({"rng": 0} if kind == "crc" else {}))
    masks = random_masks(n, 25, 0.3, seed=n)
    masks[0] = False  # no responders
    masks[1] = True  # everyone
    opts = {"solver": solver} if (solver and method == "lstsq") else {}
    batch = decoding_errors(code, masks, method=method, **opts)
    single = np.array([decoding_error(code, m, method=method, **opts) for m in masks])
    assert batch.shape == (25,)
    assert batch[0] == 1.0
    np.testing.assert_allclose(batch, single, rtol=1e-7, atol=1e-12)


def test_decoding_errors_exact_and_empty_batch():
    code = make_code("crc", n=12, s=3, rng=1)
    masks = np.ones((5, 12), dtype=bool)
    masks[:, :3] = False
    assert np.all(decoding_errors(code, masks, method="exact") <= 1e-18)
    masks[3, 5] = False
    with pytest.raises(NotDecodableError, match=r"1 of 5 trials.*first is trial 3"):
        decoding_errors(code, masks, method="exact")
    assert decoding_errors(code, np.zeros((0, 12), dtype=bool)).shape == (0,)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 40),
    w=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    p=st.floats(0.0, 0.9),
)
def test_lstsq_never_worse_than_one_step_property(n, w, seed, p):
    code = random_code(n, min(w, n), seed=seed)
    masks = random_masks(n, 4, p, seed=seed)
    ls = decoding_errors(code, masks, method="lstsq")
    one = decoding_errors(code, masks, method="one-step")
    assert np.all(ls <= one + 1e-10)  # least squares is optimal among linear decoders
    assert np.all((ls >= -1e-15) & (ls <= 1 + 1e-12))  # a = 0 gives err = 1


# ----------------------------------------------------------------- realized error


def test_realized_error_identity_and_statistics():
    code = random_code(40, 4, seed=9)
    T = np.flatnonzero(np.random.default_rng(3).random(40) < 0.75)
    rng = np.random.default_rng(10)
    g = rng.standard_normal((40, 20_000))
    a = decode(code, T)
    c = coefficients(code, T, a)
    direct = np.sum(((c - 1) @ g) ** 2) / np.sum(g.sum(axis=0) ** 2)
    assert realized_error(code, T, g) == pytest.approx(direct, rel=1e-10)
    # i.i.d. isotropic gradients: realized ~ ||c - 1||^2 / k. Relative sd about
    # sqrt(2/D) * (1 + ...) ~ 1.5% at D = 20000: a 6% tolerance.
    assert realized_error(code, T, g) == pytest.approx(decoding_error(code, T), rel=0.06)


def test_realized_error_bad_input():
    code = random_code(10, 2, seed=0)
    with pytest.raises(ValueError, match=r"'gradients' parameter must have shape \[10, D\]"):
        realized_error(code, [0, 1], np.ones((9, 3)))
    with pytest.raises(TypeError, match=r"'gradients' parameter must be a float array"):
        realized_error(code, [0, 1], np.ones((10, 3), dtype=int))


# ----------------------------------------------------------------- conditioning


def test_conditioning_orthogonal_and_frc():
    out = conditioning(make_code("uncoded", n=6), 0)
    assert out["cond_worst"] == pytest.approx(1.0) and out["max_abs_a"] == pytest.approx(1.0)
    frc = conditioning(make_code("frc", n=6, s=1), 1)
    # each surviving pair of identical rows: nonzero singular values 2 (group of two
    # responders) and sqrt(2) (one responder): cond sqrt(2); min-norm a: 1/2 or 1
    assert frc["n_sets"] == 6 and frc["cond_worst"] == pytest.approx(np.sqrt(2))
    assert frc["max_abs_a"] == pytest.approx(1.0) and frc["residual_worst"] < 1e-14


# ----------------------------------------------------------------- bad input


def test_responders_validation():
    code = random_code(10, 2, seed=0)
    with pytest.raises(
        ValueError,
        match=r"'responders' parameter must hold worker indices "
        r"in \[0, 9\]; got 10",
    ):
        decode(code, [0, 10])
    with pytest.raises(ValueError, match=r"'responders'.*got -1"):
        decode(code, [-1, 2])
    with pytest.raises(ValueError, match=r"must not repeat a worker index in \[0, 9\]; got 3"):
        decode(code, [1, 3, 3])
    with pytest.raises(ValueError, match=r"boolean mask, must have shape \(10,\).*got shape"):
        decode(code, np.ones(9, dtype=bool))
    with pytest.raises(TypeError, match=r"'responders' parameter must be a 1-D sequence"):
        decode(code, [0.5, 1.0])
    np.testing.assert_array_equal(responder_mask(code, (2, 0)), np.isin(np.arange(10), [0, 2]))


def test_method_and_option_validation():
    code = random_code(10, 2, seed=0)
    with pytest.raises(
        ValueError,
        match=r"'method'.*'lstsq', 'one-step', 'exact'.*"
        r"got 'lstqs'.*Did you mean 'lstsq'",
    ):
        decode(code, [0], method="lstqs")
    with pytest.raises(ValueError, match=r"Did you mean 'one-step'"):
        decoding_error(code, [0], method="one_step")
    with pytest.raises(ValueError, match=r"Did you mean 'exact'"):
        decoding_errors(code, np.ones((1, 10), dtype=bool), method="exakt")
    with pytest.raises(TypeError, match=r"Unknown option 'weight' for decoding method 'lstsq'"):
        decode(code, [0], method="lstsq", weight=2.0)
    with pytest.raises(ValueError, match=r"'solver'.*Did you mean 'lsmr'"):
        decode(code, [0], solver="lsqr")
    with pytest.raises(ValueError, match=r"'tol' parameter of decode.*got -1"):
        decode(code, [0], method="exact", tol=-1)
    with pytest.raises(TypeError, match=r"'responders_mask'.*bool array \[\.\.\., 10\]"):
        decoding_errors(code, np.ones((2, 10)))
    with pytest.raises(ValueError, match=r"'responders_mask'.*shape \[\.\.\., 10\].*got \(2, 9\)"):
        decoding_errors(code, np.ones((2, 9), dtype=bool))
    with pytest.raises(ValueError, match=r"'responders_mask'.*got \(\)"):
        decoding_vectors(code, np.bool_(True))
    with pytest.raises(ValueError, match=r"'solver'.*got 'block-lsmr'"):
        decoding_errors(code, np.ones((1, 10), dtype=bool), solver="block-lsmr")
    with pytest.raises(ValueError, match=r"'a' parameter must have shape \(10,\)"):
        coefficients(code, [0], np.ones(3))


def test_one_step_default_weight_is_unbiased_for_non_01_codes():
    # Graph codes have B = A/d (rows sum to 1, not to d): the default one-step weight must
    # be n/|T| so that E[c] = 1 over uniformly random responders (was off by a factor d).
    from aircomp_agc.coding import coefficients, decode, make_stragglers

    code = make_code("graph", n=60, row_weight=4, rng=3)
    masks = make_stragglers("fixed", s=15).sample(4000, 60, rng=4)
    cs = np.array([coefficients(code, m, decode(code, m, method="one-step")) for m in masks[:400]])
    mean_c = cs.mean(axis=0)
    # c_j = (n/|T|) * (#responding neighbours)/d has std <= sqrt(d)*(n/|T|)/d ~ 0.67 per draw;
    # over 400 draws a per-partition mean is within 5 SE = 5 * 0.67 / 20 = 0.17 of 1.
    assert np.abs(mean_c - 1.0).max() < 0.17
    assert abs(mean_c.mean() - 1.0) < 1e-12  # every responder's row sums to 1: exact on average


@pytest.mark.parametrize(
    ("name", "params"),
    [("approx-frc", {"n": 12, "row_weight": 3}), ("bgc", {"n": 40, "row_weight": 4, "rng": 1}),
     ("graph", {"n": 30, "row_weight": 4, "rng": 2}), ("cyclic-mds", {"n": 15, "s": 4})],
)
def test_decoding_vectors_and_realized_errors_match_single_calls(name, params):
    from aircomp_agc.coding import (
        coefficients,
        decode,
        decoding_vectors,
        make_stragglers,
        realized_error,
        realized_errors,
    )

    code = make_code(name, **params)
    n = code.n_workers
    masks = make_stragglers("fixed", s=3).sample(25, n, rng=5)
    a = decoding_vectors(code, masks, method="lstsq")
    assert a.shape == (25, n) and np.all(a[~masks] == 0.0)  # zero off the responders
    for b in range(25):  # the fit c = B_T^T a is unique even where a is not
        c_batch = coefficients(code, masks[b], a[b])
        c_single = coefficients(code, masks[b], decode(code, masks[b], method="lstsq"))
        np.testing.assert_allclose(c_batch, c_single, atol=1e-8)
    g = np.random.default_rng(6).standard_normal((25, code.n_partitions, 7))
    batched = realized_errors(code, masks, g)
    single = [realized_error(code, masks[b], g[b]) for b in range(25)]
    np.testing.assert_allclose(batched, single, rtol=1e-7, atol=1e-12)
    shared = realized_errors(code, masks, g[0])  # gradients shared by every trial
    np.testing.assert_allclose(shared[3], realized_error(code, masks[3], g[0]), rtol=1e-7,
                               atol=1e-12)


def test_replica_group_vectors_split_the_weight_among_responders():
    from aircomp_agc.coding import decoding_vectors

    code = make_code("frc", n=6, s=2)  # groups {0,1,2}, {3,4,5}
    mask = np.array([[True, True, False, True, False, False]])
    np.testing.assert_allclose(decoding_vectors(code, mask)[0], [0.5, 0.5, 0, 1, 0, 0])


def test_replica_group_errors_are_exactly_zero_when_every_group_responds():
    # 1/h weights summed back (3 * (1/3)) leave rounding residue; the closed form does not.
    code = make_code("approx-frc", n=12, row_weight=3)
    mask = np.ones((4, 12), dtype=bool)
    mask[:, [0, 4, 8]] = False  # one straggler per group of 3
    assert np.all(decoding_errors(code, mask) == 0.0)


# ----------------------------------------------------------------- one pipeline


def _null_dim(code: Code) -> int:
    return normal_system(code.B).null_dim


def _codes_for_equality() -> list[tuple[str, Code]]:
    codes = [
        ("bgc", make_code("bgc", n=60, row_weight=4, rng=1)),
        ("graph", make_code("graph", n=60, row_weight=4, rng=2)),
        ("sgc", make_code("sgc", n=60, row_weight=4, p=0.2, rng=3)),
        ("signed-sparse", make_code("signed-sparse", n=60, row_weight=4, rng=4)),
        ("crc", make_code("crc", n=40, s=8, rng=5, cond_sets=0)),
        ("cyclic-mds", make_code("cyclic-mds", n=40, s=8, cond_sets=0)),
    ]
    # A BGC draw with an uncovered partition: B B^T is singular (lifted null space).
    seed = next(s for s in range(100) if _null_dim(make_code("bgc", n=60, row_weight=4, rng=s)))
    codes.append(("bgc-uncovered", make_code("bgc", n=60, row_weight=4, rng=seed)))
    # Repeated rows: B_T B_T^T singular whenever both copies respond.
    base = random_code(60, 4, seed=6)
    codes.append(("repeated-rows", Code("rep", sp.vstack([base.B[:52], base.B[:8]]).tocsr())))
    return codes


@pytest.mark.parametrize(("name", "code"), _codes_for_equality(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_default_solver_equals_svd_over_many_masks(name, code):
    # The default pipeline (normal equations for the random codes, the SVD/CGLS path for the
    # exact ones) against stacked SVDs, over straggler rates from none to most, singular
    # cases included: errors equal to 1e-9 relative, decoders to 1e-7 (minimum norm).
    n = code.n_workers
    rng = np.random.default_rng(11)
    masks = np.concatenate([rng.random((120, n)) >= p for p in (0.0, 0.05, 0.2, 0.5, 0.9)])
    err = decoding_errors(code, masks)
    ref = decoding_errors(code, masks, solver="dense")
    # Exact codes keep the CGLS path, which stops at its tolerance (btol = 1e-12) on
    # nearly decodable sets of these ill-conditioned codes: 1e-12 absolute near err = 0.
    np.testing.assert_allclose(err, ref, rtol=1e-9, atol=2e-12 if code.is_exact else 1e-15)
    a = decoding_vectors(code, masks)
    a_ref = decoding_vectors(code, masks, solver="dense")
    scale = np.abs(a_ref).max(axis=1, keepdims=True)
    assert np.all(np.abs(a - a_ref) <= 1e-7 * scale + 1e-12)
    assert np.all(a[~masks] == 0.0)


def test_normal_equations_flag_dependent_rows_and_lifted_null_space():
    # Repeated rows: exactly the trials where both copies respond are flagged (B_T B_T^T
    # singular); the others converge to the SVD decoder, although B B^T itself is singular.
    base = random_code(60, 4, seed=6)
    code = Code("rep", sp.vstack([base.B[:58], base.B[:2]]).tocsr())
    system = normal_system(code.B)
    assert system.null_dim >= 2  # the two repeated rows (plus any dependency of base)
    masks = np.random.default_rng(3).random((300, 60)) >= 0.5
    a, ok = normal_vectors(system, masks)
    both = (masks[:, :2] & masks[:, 58:]).any(axis=1)
    np.testing.assert_array_equal(ok, ~both)
    assert 50 < ok.sum() < 250
    a_ref = decoding_vectors(code, masks[ok], solver="dense")
    np.testing.assert_allclose(a[ok], a_ref, rtol=0, atol=1e-9 * np.abs(a_ref).max())
    with pytest.warns(RuntimeWarning, match=r"normal equations did not converge.*on \d+ of 300"):
        decoding_vectors(code, masks, solver="normal")


def test_normal_equations_threads_do_not_change_results():
    code = make_code("bgc", n=100, row_weight=6, rng=1)
    masks = np.random.default_rng(4).random((2500, 100)) >= 0.2
    system = normal_system(code.B)
    a1, ok1 = normal_vectors(system, masks, threads=1)
    a2, ok2 = normal_vectors(system, masks, threads=2)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(ok1, ok2)
    assert ok1.all()


def test_auto_solver_is_chosen_by_code_properties():
    from aircomp_agc.coding.decoders import _auto_solver

    bgc = make_code("bgc", n=100, row_weight=6, rng=1)
    assert _auto_solver(bgc, 1, "lstsq") == "dense"  # one decode: no Gram system built
    assert _auto_solver(bgc, 1000, "lstsq") == "normal"  # a batch builds it ...
    assert _auto_solver(bgc, 1, "lstsq") == "normal"  # ... and later decodes reuse it
    crc = make_code("crc", n=100, s=5, rng=0, cond_sets=0)  # exact: cond(B_T) far too large
    assert _auto_solver(crc, 1000, "lstsq") == "cgls"
    assert _auto_solver(crc, 1, "lstsq") == "dense"
    assert _auto_solver(crc, 1000, "exact") == "dense"
    wide = make_code("signed-sparse", n=120, n_partitions=100, row_weight=6, rng=1)
    assert _auto_solver(wide, 1000, "lstsq") == "cgls"  # more workers than partitions
    assert _auto_solver(random_code(20, 3, seed=0), 1000, "lstsq") == "dense"  # tiny


@pytest.mark.parametrize("name", ["bgc", "approx-frc"])
def test_leading_batch_shapes(name):
    code = make_code(name, n=30, row_weight=3, **({"rng": 2} if name == "bgc" else {}))
    masks = np.random.default_rng(5).random((3, 4, 30)) >= 0.3
    a = decoding_vectors(code, masks)
    err = decoding_errors(code, masks)
    assert a.shape == (3, 4, 30) and err.shape == (3, 4)
    np.testing.assert_allclose(a.reshape(12, 30), decoding_vectors(code, masks.reshape(12, 30)),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(err.ravel(), decoding_errors(code, masks.reshape(12, 30)),
                               rtol=1e-12, atol=1e-15)
    # A single mask [n] is a batch of shape (): what decode and decoding_error return.
    assert decoding_vectors(code, masks[1, 2]).shape == (30,)
    assert decoding_errors(code, masks[1, 2]).shape == ()
    np.testing.assert_array_equal(decode(code, masks[1, 2]), decoding_vectors(code, masks[1, 2]))
    assert decoding_error(code, masks[1, 2]) == float(decoding_errors(code, masks[1, 2]))
    g = np.random.default_rng(6).standard_normal((3, 4, 30, 5))
    r = realized_errors(code, masks, g)
    assert r.shape == (3, 4)
    assert r[2, 1] == pytest.approx(realized_error(code, masks[2, 1], g[2, 1]), rel=1e-12)
    with pytest.raises(ValueError, match=r"'gradients'.*\[3, 4, 30, D\] or \[30, D\]"):
        realized_errors(code, masks, g[0])


def test_single_exact_messages_and_batched_exact_on_replica_groups():
    code = make_code("frc", n=6, s=2)  # groups {0,1,2}, {3,4,5}
    masks = np.array([[1, 1, 0, 0, 1, 1], [0, 1, 1, 1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(
        decoding_vectors(code, masks, method="exact"),
        [[1, 0, 0, 0, 1, 0], [0, 1, 0, 1, 0, 0]],  # first responder of each group
    )
    with pytest.raises(NotDecodableError, match=r"1 of 1 trials.*first is trial 0"):
        decoding_vectors(code, np.array([[True, True, True, False, False, False]]), method="exact")
    with pytest.raises(NotDecodableError, match=r"3 of 6 workers responded and replica group"):
        decoding_vectors(code, np.array([True, True, True, False, False, False]), method="exact")


def test_code_groups_are_typed_and_checked():
    code = make_code("approx-frc", n=10, row_weight=4)
    assert "frc_groups" not in code.info
    np.testing.assert_array_equal(code.groups, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert code.n_groups == 3 and not code.groups.flags.writeable
    assert make_code("bgc", n=10, row_weight=2, rng=0).groups is None
    np.testing.assert_array_equal(make_code("uncoded", n=4).groups, np.arange(4))
    B = code.B
    Code("copy", B, groups=list(code.groups))  # same groups: accepted
    with pytest.raises(ValueError, match=r"'groups'.*does not match B"):
        Code("bad", B, groups=np.r_[code.groups[:-1], 1])
    with pytest.raises(ValueError, match=r"'groups'.*shape \(10,\)"):
        Code("bad", B, groups=code.groups[:5])
    with pytest.raises(ValueError, match=r"'groups'.*labels 0 \.\. n_groups - 1"):
        Code("bad", B, groups=code.groups * 2)
    with pytest.raises(ValueError, match=r"'groups'.*n_partitions == n_workers"):
        Code("bad", sp.csr_matrix(np.ones((2, 3))), groups=[0, 0])
