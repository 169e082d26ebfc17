"""Receive beamforming: closed forms, max-min against exhaustive search, multi-antenna sums.

Exhaustive search (2 antennas): up to a common phase, a unit beamformer is
``m = (cos t, sin t e^{j s})`` with ``t in [0, pi/2]``, ``s in [0, 2 pi)``; an 800 x 1600
grid, refined by a 400 x 400 grid around its best point, gives the reference optimum.
"""

from __future__ import annotations

import numpy as np
import pytest

from channels.aircomp import aircomp_mse, over_the_air_sum
from channels.beamforming import (
    beamforming_mse,
    effective_channel,
    eigen_beamformer,
    maxmin_beamformer,
    maxmin_objective,
    mrc_beamformer,
)
from channels.power_control import optimal_power, zero_forcing

#: Accepted shortfall of the max-min beamformer against the exhaustive search (relative).
GRID_GAP = 5e-3


def rayleigh(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)


def _grid_value(t: np.ndarray, s: np.ndarray, h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """min_k w_k |m^H h_k|^2 on the grid t [n1, 1] x s [1, n2], m = (cos t, sin t e^{js}).

    |m^H h_k|^2 = cos^2 t |h_1k|^2 + sin^2 t |h_2k|^2 + sin 2t Re(h_1k^* h_2k e^{-js})
    (real arithmetic: the brute force stays cheap).
    """
    c2, s2, s2t = np.cos(t) ** 2, np.sin(t) ** 2, np.sin(2 * t)
    out = np.full(np.broadcast_shapes(t.shape, s.shape), np.inf)
    for k in range(h.shape[1]):
        cross = np.conj(h[0, k]) * h[1, k]
        v = c2 * abs(h[0, k]) ** 2 + s2 * abs(h[1, k]) ** 2 + s2t * abs(cross) * np.cos(
            s - np.angle(cross))
        np.minimum(out, w[k] * v, out=out)
    return out


def exhaustive_two_antennas(h: np.ndarray, w: np.ndarray) -> float:
    """max over unit m of min_k w_k |m^H h_k|^2 for h [2, K], by grid search."""
    t = np.linspace(0.0, np.pi / 2, 800)[:, None]
    s = np.linspace(0.0, 2 * np.pi, 1600, endpoint=False)[None, :]
    v = _grid_value(t, s, h, w)
    i, j = np.unravel_index(np.argmax(v), v.shape)
    t2 = np.linspace(t[i, 0] - 2 * t[1, 0], t[i, 0] + 2 * t[1, 0], 400)[:, None]
    s2 = np.linspace(s[0, j] - 2 * s[0, 1], s[0, j] + 2 * s[0, 1], 400)[None, :]
    return float(max(v.max(), _grid_value(t2, s2, h, w).max()))


def test_mrc_and_eigen_closed_forms():
    rng = np.random.default_rng(0)
    h = rayleigh(rng, (50, 4, 6))
    m = mrc_beamformer(h)
    s = h.sum(axis=-1)
    np.testing.assert_allclose(m, s / np.linalg.norm(s, axis=-1, keepdims=True), rtol=1e-12)
    u = eigen_beamformer(h)
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1.0, rtol=1e-12)
    # u maximizes sum_k |m^H h_k|^2: the value is the largest eigenvalue of H H^H.
    got = np.sum(np.abs(np.einsum("bn,bnk->bk", u.conj(), h)) ** 2, axis=-1)
    lam = np.linalg.eigvalsh(h @ h.conj().transpose(0, 2, 1))[:, -1]
    np.testing.assert_allclose(got, lam, rtol=1e-10)


def test_beamforming_mse_is_zero_forcing_on_the_effective_channel():
    rng = np.random.default_rng(1)
    h = rayleigh(rng, (40, 3, 5))
    a = np.array([1.0, -2.0, 0.5, 1.0, 0.0])
    p = rng.uniform(0.5, 2.0, (40, 5))
    for m in (mrc_beamformer(h), 3.0 * eigen_beamformer(h)):  # scale must not matter
        h_eff, norm2 = effective_channel(h, m)
        pc = zero_forcing(np.abs(h_eff) ** 2, power=p, noise_var=0.1 * norm2, target=a)
        expected = beamforming_mse(h, m, 0.1, power=p, target=a)
        np.testing.assert_allclose(pc.mse, expected, rtol=1e-10)
        np.testing.assert_allclose(aircomp_mse(h, pc, 0.1, beamformer=m).mean, expected,
                                   rtol=1e-10)
        # Yang et al.: max_k sigma^2 ||m||^2 a_k^2 / (P_k |m^H h_k|^2) over a_k != 0.
        ratio = 0.1 * norm2[:, None] * a**2 / (p * np.abs(h_eff) ** 2)
        np.testing.assert_allclose(expected, ratio[:, :4].max(axis=-1), rtol=1e-12)


def test_maxmin_single_device_is_matched_filter():
    rng = np.random.default_rng(2)
    h = rayleigh(rng, (20, 4, 1))
    res = maxmin_beamformer(h, power=2.0, rng=0)
    np.testing.assert_allclose(res.value, 2.0 * np.sum(np.abs(h[..., 0]) ** 2, -1), rtol=1e-9)
    np.testing.assert_allclose(res.upper_bound, res.value, rtol=1e-6)


@pytest.mark.parametrize("n_dev", [2, 3, 5, 8, 12])
def test_maxmin_against_exhaustive_search_two_antennas(n_dev):
    rng = np.random.default_rng(10 + n_dev)
    h = rayleigh(rng, (8, 2, n_dev))
    p = rng.uniform(0.5, 2.0, (8, n_dev))
    a = rng.choice([-2.0, -1.0, 0.5, 1.0, 1.5], size=(8, n_dev))
    res = maxmin_beamformer(h, p, a, rng=1)
    w = p / a**2
    best = np.array([exhaustive_two_antennas(h[b], w[b]) for b in range(8)])
    np.testing.assert_allclose(maxmin_objective(h, res.beamformer, p, a), res.value, rtol=1e-9)
    assert np.all(res.value >= best * (1.0 - GRID_GAP)), res.value / best - 1.0
    assert np.all(res.value <= res.upper_bound * (1 + 1e-9))
    assert np.all(best <= res.upper_bound * (1 + 1e-9))  # the SDR bound is a valid bound


def test_maxmin_beats_simple_beamformers_and_random_search():
    rng = np.random.default_rng(3)
    h = rayleigh(rng, (6, 4, 6))
    res = maxmin_beamformer(h, rng=2)
    for m in (mrc_beamformer(h), eigen_beamformer(h)):
        assert np.all(res.value >= maxmin_objective(h, m) * (1 - 1e-12))
    cand = rayleigh(rng, (20_000, 6, 4))
    cand /= np.linalg.norm(cand, axis=-1, keepdims=True)
    vals = np.min(np.abs(np.einsum("rbn,bnk->rbk", cand.conj(), h)) ** 2, axis=-1).max(axis=0)
    assert np.all(res.value >= vals)
    assert np.all(res.gap >= -1e-9) and np.all(res.gap < 1)


def test_maxmin_ignores_zero_targets():
    rng = np.random.default_rng(4)
    h = rayleigh(rng, (5, 3, 4))
    a = np.array([1.0, 0.0, -1.0, 0.0])
    res = maxmin_beamformer(h, target=a, rng=0)
    sub = maxmin_beamformer(h[..., [0, 2]], rng=0)
    np.testing.assert_allclose(res.value, sub.value, rtol=1e-6)


def test_multi_antenna_sum_monte_carlo_with_maxmin_beamformer():
    # Vector noise at every antenna, combined by m: the simulation must agree with the scalar
    # closed form (noise sigma^2 ||m||^2, CSI error sigma_e^2 ||m||^2) for every setting.
    rng = np.random.default_rng(5)
    h = rayleigh(rng, (4, 3, 5))
    a = np.array([1.0, -1.0, 2.0, 0.5, 1.0])
    m = 2.0 * maxmin_beamformer(h, target=a, rng=0).beamformer  # non-unit on purpose
    h_eff, norm2 = effective_channel(h, m)
    for policy in (zero_forcing, optimal_power):
        pc = policy(np.abs(h_eff) ** 2, power=1.0, noise_var=0.3 * norm2, target=a)
        for kw in ({}, dict(symbols="real", csi_error_var=0.05, phase_max=0.5)):
            ana = aircomp_mse(h, pc, 0.3, beamformer=m, **kw)
            mc = aircomp_mse(h, pc, 0.3, beamformer=m, method="monte-carlo", n_trials=1000,
                             rng=rng, **kw)
            z = (mc.mean - ana.mean) / mc.std_err
            assert np.all(np.abs(z) < 4.5), (policy.__name__, kw, z)
    # Noiseless limit: the beamformed sum is exact.
    pc = zero_forcing(np.abs(h_eff) ** 2, power=1.0, noise_var=1e-30, target=a)
    x = rng.standard_normal((4, 5, 7))
    np.testing.assert_allclose(over_the_air_sum(x, h, pc, 1e-30, beamformer=m, rng=rng),
                               np.einsum("k,bkd->bd", a, x), atol=1e-9)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: mrc_beamformer(np.ones((2, 3))), TypeError, "'h' parameter of mrc_beamformer"),
        (lambda: eigen_beamformer(np.ones((2, 3), complex)), ValueError,
         r"shape \[\.\.\., n_rx_ant, K\] with at least one batch axis"),
        (lambda: maxmin_beamformer(np.ones((2, 2, 3), complex), power=-1.0), ValueError,
         "'power' parameter of maxmin_beamformer"),
        (lambda: maxmin_beamformer(np.ones((2, 2, 3), complex), target=[1.0, 2.0]), ValueError,
         "'target' parameter of maxmin_beamformer must broadcast"),
        (lambda: maxmin_beamformer(np.ones((2, 2, 3), complex), target=[0.0, 0.0, 0.0]),
         ValueError, "non-zero entry"),
        (lambda: maxmin_beamformer(np.ones((2, 2, 3), complex), n_starts=0), ValueError,
         "'n_starts' parameter"),
        (lambda: beamforming_mse(np.ones((2, 2, 3), complex), np.ones((2, 2)), 0.0), ValueError,
         "'noise_var' parameter of beamforming_mse"),
        (lambda: aircomp_mse(np.ones((2, 2, 3), complex),
                             zero_forcing(np.ones((2, 3)), power=1.0, noise_var=0.1), 0.1,
                             beamformer=np.zeros((2, 2))),
         ValueError, "'beamformer' parameter of aircomp_mse must be non-zero"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_exhaustive_helper_matches_direct_evaluation():
    rng = np.random.default_rng(6)
    h, w = rayleigh(rng, (2, 4)), rng.uniform(0.5, 2.0, 4)
    t, s = rng.uniform(0, np.pi / 2, (5, 1)), rng.uniform(0, 2 * np.pi, (1, 7))
    m = np.stack(np.broadcast_arrays(np.cos(t) + 0j, np.sin(t) * np.exp(1j * s)), -1)
    direct = np.min(np.abs(np.einsum("...n,nk->...k", m.conj(), h)) ** 2 * w, axis=-1)
    np.testing.assert_allclose(_grid_value(t, s, h, w), direct, rtol=1e-12)
