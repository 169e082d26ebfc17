"""Exact codes (frc, crc, cyclic-mds), approximate FRC and the uncoded baseline.

Exhaustive checks at small n; property-based checks beyond; closed forms checked by
brute force over all straggler sets.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircomp_agc.coding import (
    NotDecodableError,
    decode,
    decoding_error,
    decoding_errors,
    make_code,
    realized_error,
)
from aircomp_agc.coding.codes.cyclic import cyclic_mds_blocks, mds_generator
from aircomp_agc.coding.codes.frc import approx_frc_expected_error, group_sizes

EXACT = ("frc", "crc", "cyclic-mds")


def _build(name: str, n: int, s: int, seed: int = 0):
    if name == "crc":
        return make_code("crc", n=n, s=s, rng=seed, cond_sets=0)
    if name == "cyclic-mds":
        return make_code("cyclic-mds", n=n, s=s, cond_sets=0)
    return make_code(name, n=n, s=s)


def _all_masks(n: int, n_stragglers: int) -> np.ndarray:
    """Responder masks [C(n, n_stragglers), n] for every straggler set of that size."""
    sets = np.array(list(itertools.combinations(range(n), n_stragglers)), dtype=np.int64)
    mask = np.ones((len(sets), n), dtype=bool)
    if n_stragglers:
        mask[np.arange(len(sets))[:, None], sets] = False
    return mask


def _exact_residual(code, mask: np.ndarray) -> float:
    a = decode(code, mask, method="exact")
    assert np.all(a[~mask] == 0)
    return float(np.linalg.norm(code.B.T @ a - 1.0) / math.sqrt(code.n_partitions))


# ----------------------------------------------------------------- exhaustive exactness


@pytest.mark.parametrize("name", EXACT)
def test_exact_codes_decode_every_straggler_set_n12_s3(name):
    n, s = 12, 3
    code = _build(name, n, s)
    assert code.storage == s + 1 and code.exact_s == s
    assert code.n_workers == code.n_partitions == n
    for n_strag in range(s + 1):
        masks = _all_masks(n, n_strag)
        # batched exact decoding: relative residual ||c - 1|| / sqrt(k) <= 1e-9
        err = decoding_errors(code, masks, method="exact")
        assert np.sqrt(err.max()) <= 1e-9
        # single-set decoder on every set as well (max over all sets)
        worst = max(_exact_residual(code, m) for m in masks)
        assert worst <= 1e-9, (name, n_strag, worst)


@pytest.mark.parametrize("n, s", [(15, 4), (14, 4), (12, 2), (13, 0), (9, 8), (10, 1)])
def test_cyclic_mds_exhaustive_beyond(n, s):
    code = _build("cyclic-mds", n, s)
    assert code.storage == s + 1
    masks = np.concatenate([_all_masks(n, q) for q in range(s + 1)])
    err = decoding_errors(code, masks, method="exact")
    assert np.sqrt(err.max()) <= 1e-9


@pytest.mark.parametrize("name", EXACT)
def test_s_plus_one_stragglers_raise_exactly_when_not_decodable(name):
    n, s = 12, 3
    code = _build(name, n, s)
    masks = _all_masks(n, s + 1)
    lstsq = decoding_errors(code, masks, method="lstsq")
    decodable = np.sqrt(lstsq) <= 1e-6
    for m, ok in zip(masks, decodable, strict=True):
        if ok:
            decode(code, m, method="exact")
        else:
            with pytest.raises(NotDecodableError, match=r"Not decodable: 8 of 12 workers"):
                decode(code, m, method="exact")
    if name == "crc":
        assert not decodable.any()  # generic random code: no (s+1)-set decodes
    if name == "frc":
        # lost exactly when the 4 stragglers form one whole group: 3 of the 495 sets
        assert (~decodable).sum() == 3
    with pytest.raises(NotDecodableError, match=r"trials cannot decode exactly"):
        decoding_errors(code, masks, method="exact")


def test_frc_exact_error_names_lost_group():
    code = make_code("frc", n=12, s=3)
    with pytest.raises(NotDecodableError, match=r"replica group\(s\) \[1\]") as info:
        decode(code, [0, 1, 2, 3, 8, 9, 10, 11], method="exact")
    assert isinstance(info.value, ValueError)
    a = decode(code, [1, 5, 6, 11], method="exact")
    np.testing.assert_array_equal(np.flatnonzero(a), [1, 5, 11])
    np.testing.assert_array_equal(code.B.T @ a, np.ones(12))


# ----------------------------------------------------------------- property-based


@st.composite
def _exact_case(draw):
    name = draw(st.sampled_from(EXACT))
    n = draw(st.integers(2, 30))
    if name == "frc":
        s = draw(st.sampled_from([q - 1 for q in range(1, n + 1) if n % q == 0]))
    elif name == "crc":
        s = draw(st.integers(0, min(n - 1, 6)))
    else:
        # cyclic-mds: keep to s <= n/3 where cond(B_T) stays below ~1e6 (measured); the
        # code exists beyond but its conditioning degrades quickly (see the benchmark).
        valid = []
        for q in range(0, n // 3 + 1):
            try:
                cyclic_mds_blocks(n, q)
            except ValueError:
                continue
            valid.append(q)
        s = draw(st.sampled_from(valid))
    stragglers = draw(st.lists(st.integers(0, n - 1), max_size=s, unique=True))
    seed = draw(st.integers(0, 2**16))
    return name, n, s, stragglers, seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_exact_case())
def test_exact_codes_property(case):
    name, n, s, stragglers, seed = case
    code = _build(name, n, s, seed)
    mask = np.ones(n, dtype=bool)
    mask[stragglers] = False
    # crc is ill-conditioned (cond up to ~1e6 here): allow a correspondingly larger residual
    tol = 1e-7 if name == "crc" else 1e-9
    assert _exact_residual(code, mask) <= tol


# ----------------------------------------------------------------- crc structure


def test_crc_structure_and_reproducibility():
    n, s = 20, 5
    code = make_code("crc", n=n, s=s, rng=3)
    B = code.B.toarray()
    for i in range(n):
        support = np.flatnonzero(B[i])
        np.testing.assert_array_equal(np.sort(support), np.sort((i + np.arange(s + 1)) % n))
        assert B[i, i] == 1.0
    assert np.linalg.matrix_rank(B) == n - s  # rows span null(H), dimension n - s
    np.testing.assert_array_equal(make_code("crc", n=n, s=s, rng=3).B.toarray(), B)
    assert not np.allclose(make_code("crc", n=n, s=s, rng=4).B.toarray(), B)
    info = code.info
    assert info["cond_sets"] == n + 256 and not info["cond_exhaustive"]
    assert info["cond_worst"] > 1e3 and info["max_abs_a"] > 10  # ill-conditioned


def test_crc_info_exhaustive_at_small_n():
    code = make_code("crc", n=12, s=3, rng=0)
    assert code.info["cond_exhaustive"] and code.info["cond_sets"] == math.comb(12, 3)


@pytest.mark.parametrize("n, s", [(20, 5), (50, 10)])
def test_cyclic_mds_better_conditioned_than_crc(n, s):
    mds = make_code("cyclic-mds", n=n, s=s, rng=0)
    for seed in range(3):
        crc = make_code("crc", n=n, s=s, rng=seed)
        # same straggler sets examined (cyclic windows + 256 random from seed 0 / seed)
        assert mds.info["cond_worst"] < crc.info["cond_worst"]
        assert mds.info["max_abs_a"] < crc.info["max_abs_a"]


def test_float32_decoding_exposes_crc_conditioning():
    """Coded messages and decoding in float32: crc loses precision, the others do not."""
    n, s = 12, 3
    rng = np.random.default_rng(7)
    g = rng.standard_normal((n, 2000))
    sets = list(itertools.combinations(range(n), s))
    worst = {}
    for name in EXACT:
        code = _build(name, n, s)
        e32 = [
            realized_error(
                code, np.setdiff1d(np.arange(n), S), g.astype(np.float32), method="exact"
            )
            for S in sets
        ]
        e64 = [realized_error(code, np.setdiff1d(np.arange(n), S), g, method="exact") for S in sets]
        assert max(e64) <= 1e-20
        worst[name] = max(e32)
    eps32 = float(np.finfo(np.float32).eps)
    # frc / cyclic-mds: float32 rounding level, (100 eps32)^2
    assert worst["frc"] <= (100 * eps32) ** 2
    assert worst["cyclic-mds"] <= (100 * eps32) ** 2
    # crc: decoding weights up to ~4e3 amplify float32 rounding by orders of magnitude
    assert worst["crc"] > 100 * worst["cyclic-mds"]
    assert worst["crc"] <= 1e-4


# ----------------------------------------------------------------- cyclic-mds structure


@pytest.mark.parametrize("m, s", [(12, 3), (25, 10), (15, 4), (8, 1), (7, 6)])
def test_mds_generator_zeros_and_normalization(m, s):
    g = mds_generator(m, s)
    assert g.shape == (s + 1,) and g.sum() == pytest.approx(s + 1)
    row = np.zeros(m)
    row[: s + 1] = g
    spectrum = np.abs(np.fft.fft(row))
    L = (m - s - 1) // 2
    Z = np.arange(L + 1, m - L)
    assert Z.size == s
    np.testing.assert_allclose(spectrum[Z], 0.0, atol=1e-9 * np.abs(g).max())
    assert spectrum[np.setdiff1d(np.arange(m), Z)].min() > 1e-6


def test_cyclic_mds_blocks_rule():
    assert cyclic_mds_blocks(12, 3) == [12]
    assert cyclic_mds_blocks(50, 10) == [25, 25]
    assert cyclic_mds_blocks(12, 2) == [5, 7]
    assert cyclic_mds_blocks(8, 0) == [8]
    code = make_code("cyclic-mds", n=50, s=10)
    assert code.storage == 11 and code.info["blocks"] == (25, 25)
    with pytest.raises(ValueError, match=r"must make n - s odd.*got n=11, s=3.*use 'crc'"):
        make_code("cyclic-mds", n=11, s=3)
    with pytest.raises(ValueError, match=r"got n=10, s=6"):
        make_code("cyclic-mds", n=10, s=6)


def test_cyclic_mds_n50_s10_random_sets():
    code = make_code("cyclic-mds", n=50, s=10, cond_sets=0)
    rng = np.random.default_rng(11)
    mask = np.ones((400, 50), dtype=bool)
    strag = np.argsort(rng.random((400, 50)), axis=1)[:, :10]
    mask[np.arange(400)[:, None], strag] = False
    # worst case: all 10 stragglers in one 25-block (cyclic window)
    window = np.ones((1, 50), dtype=bool)
    window[0, 3:13] = False
    err = decoding_errors(code, np.concatenate([mask, window]), method="exact")
    assert np.sqrt(err.max()) <= 1e-9


# ----------------------------------------------------------------- FRC and approximate FRC


def test_frc_bad_n_message():
    with pytest.raises(ValueError, match=r"multiple of s\+1 = 4 \(e\.g\. 8 or 12\); got n=10"):
        make_code("frc", n=10, s=3)
    with pytest.raises(ValueError, match=r"s in \[0, 1, 4, 9\] work"):
        make_code("frc", n=10, s=3)


def test_approx_frc_closed_form_reference_value():
    assert approx_frc_expected_error(24, 3, 12) == pytest.approx(0.10869565, abs=1e-8)
    assert approx_frc_expected_error(24, 3, 12) == math.comb(12, 3) / math.comb(24, 3)


@pytest.mark.parametrize("n, d, s", [(12, 3, 4), (12, 3, 6), (14, 3, 5), (10, 4, 5), (7, 5, 3)])
def test_approx_frc_closed_form_by_brute_force(n, d, s):
    """Mean LS error over ALL C(n, s) straggler sets equals the closed form."""
    code = make_code("approx-frc", n=n, row_weight=d, s=s)
    err = decoding_errors(code, _all_masks(n, s), method="lstsq")
    assert err.mean() == pytest.approx(approx_frc_expected_error(n, d, s), rel=1e-12)
    assert code.info["expected_error"] == approx_frc_expected_error(n, d, s)
    sizes = group_sizes(n, d)
    assert code.storage == sizes.max() <= d and sizes.sum() == n
    assert sizes.max() - sizes.min() <= 1 and sizes.size == -(-n // d)


def test_approx_frc_group_rule_when_d_does_not_divide_n():
    np.testing.assert_array_equal(group_sizes(14, 3), [3, 3, 3, 3, 2])
    np.testing.assert_array_equal(group_sizes(10, 4), [4, 3, 3])
    np.testing.assert_array_equal(group_sizes(12, 3), [3, 3, 3, 3])
    code = make_code("approx-frc", n=14, row_weight=3)
    np.testing.assert_array_equal(np.sort(code.replication), [2, 2] + [3] * 12)
    with pytest.raises(
        ValueError,
        match=r"'row_weight' parameter of make_code\('approx-frc'\) "
        r"must be an int in \[1, 14\]; got 15",
    ):
        make_code("approx-frc", n=14, row_weight=15)
    with pytest.raises(ValueError, match=r"'row_weight'.*got 0"):
        make_code("approx-frc", n=14, row_weight=0)


# ----------------------------------------------------------------- uncoded


def test_uncoded_decoders():
    n = 10
    code = make_code("uncoded", n=n)
    assert code.storage == 1 and code.exact_s == 0
    T = [0, 2, 3, 5, 6, 7, 9]  # s = 3
    np.testing.assert_array_equal(decode(code, T, method="lstsq")[T], 1.0)
    assert decoding_error(code, T, method="lstsq") == pytest.approx(3 / 10, abs=1e-15)
    np.testing.assert_allclose(decode(code, T, method="one-step")[T], n / len(T))
    assert decoding_error(code, T, method="one-step") == pytest.approx(3 / 7, rel=1e-12)
    assert decoding_error(code, T, method="one-step", weight=1.0) == pytest.approx(0.3)
    with pytest.raises(NotDecodableError):
        decode(code, T, method="exact")
    np.testing.assert_array_equal(decode(code, range(n), method="exact"), np.ones(n))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_approx_frc_closed_form_property(data):
    """Brute force over all C(n, s) sets for random small (n, d, s), any divisibility."""
    n = data.draw(st.integers(1, 11))
    d = data.draw(st.integers(1, n))
    s = data.draw(st.integers(0, n - 1))
    code = make_code("approx-frc", n=n, row_weight=d)
    err = decoding_errors(code, _all_masks(n, s), method="lstsq")
    assert err.mean() == pytest.approx(approx_frc_expected_error(n, d, s), rel=1e-12, abs=1e-15)
    # LS on replica groups: error = (partitions of fully lost groups) / n, exactly
    sizes = code.info["group_sizes"]
    assert set(np.round(err * n).astype(int)) <= {
        int(sum(c)) for r in range(len(sizes) + 1) for c in itertools.combinations(sizes, r)
    }


def test_mds_generator_bad_input():
    with pytest.raises(ValueError, match=r"must make m - s odd.*got m=12, s=2"):
        mds_generator(12, 2)
    with pytest.raises(ValueError, match=r"'s' parameter of mds_generator must be an int in"):
        mds_generator(5, 5)
