"""Imperfect CSI and phase misalignment: the draws, their moments, and their MSE terms.

Tolerances are stated per check; seeds are fixed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from channels.aircomp import aircomp_mse, over_the_air_sum
from channels.impairments import (
    draw_phase_offsets,
    lmmse_estimate,
    phase_moments,
    true_channel_from_estimate,
)
from channels.power_control import optimal_power


def rayleigh(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)


@pytest.mark.parametrize("phase_max", [1e-3, 0.3, 1.0, np.pi / 2, 2.5, np.pi])
def test_phase_moments_match_quadrature(phase_max):
    m1, m2 = phase_moments(phase_max)
    q1 = integrate.quad(np.cos, -phase_max, phase_max)[0] / (2 * phase_max)
    q2 = integrate.quad(lambda t: np.cos(t) ** 2, -phase_max, phase_max)[0] / (2 * phase_max)
    assert m1 == pytest.approx(q1, abs=1e-12)
    assert m2 == pytest.approx(q2, abs=1e-12)
    assert m1 == pytest.approx(np.sin(phase_max) / phase_max, rel=1e-12)


def test_phase_moments_limits():
    assert phase_moments(0.0) == (1.0, 1.0)
    m1, m2 = phase_moments(np.pi)
    assert m1 == pytest.approx(0.0, abs=1e-15) and m2 == pytest.approx(0.5)


def test_phase_offsets_are_uniform():
    phi = draw_phase_offsets((100_000,), 0.8, rng=0)
    assert phi.min() >= -0.8 and phi.max() <= 0.8
    # KS test against U[-0.8, 0.8] at significance 1e-3.
    assert stats.kstest(phi, stats.uniform(loc=-0.8, scale=1.6).cdf).pvalue > 1e-3
    # E cos(phi) = sin(0.8)/0.8; std error of the mean < 0.1 / sqrt(1e5).
    assert np.mean(np.cos(phi)) == pytest.approx(np.sin(0.8) / 0.8, abs=2e-3)
    np.testing.assert_array_equal(draw_phase_offsets((3, 2), 0.0, rng=0), 0.0)
    np.testing.assert_array_equal(draw_phase_offsets((7,), 1.0, rng=4),
                                  draw_phase_offsets((7,), 1.0, rng=4))


def test_true_channel_from_estimate_statistics():
    rng = np.random.default_rng(1)
    h_hat = rayleigh(rng, (200_000,))
    h = true_channel_from_estimate(h_hat, 0.25, rng=rng)
    e = h - h_hat
    # E|e|^2 = 0.25 (relative std error ~ 1/sqrt(2e5) = 0.22%); e independent of h_hat.
    assert np.mean(np.abs(e) ** 2) == pytest.approx(0.25, rel=0.01)
    assert abs(np.mean(e * h_hat.conj())) < 0.005
    assert abs(np.mean(e)) < 0.005
    single = true_channel_from_estimate(h_hat[:4].astype(np.complex64), 0.1, rng=rng)
    assert single.dtype == np.complex64
    np.testing.assert_array_equal(true_channel_from_estimate(h_hat[:4], 0.0, rng=rng), h_hat[:4])


def test_lmmse_estimate_error_model():
    rng = np.random.default_rng(2)
    h = 2.0 * rayleigh(rng, (200_000,))  # prior variance 4
    h_hat, err_var = lmmse_estimate(h, pilot_noise_var=1.0, rng=rng, prior_var=4.0)
    assert err_var == pytest.approx(4.0 * 1.0 / 5.0)
    e = h - h_hat
    assert np.mean(np.abs(e) ** 2) == pytest.approx(err_var, rel=0.01)
    # Orthogonality principle: E[e hhat^*] = 0 (std error ~ 0.004 here).
    assert abs(np.mean(e * h_hat.conj())) < 0.02
    assert np.mean(np.abs(h_hat) ** 2) == pytest.approx(4.0 - err_var, rel=0.01)


@pytest.mark.parametrize("symbols", ["real", "complex"])
def test_csi_error_mse_with_lmmse_estimates(symbols):
    # End to end: true channels, pilot-based estimates, power control on the estimates, the
    # over-the-air sum on the true channels. Averaged over channels and noise, the squared
    # error must match the closed form with sigma_e^2 from the estimator.
    rng = np.random.default_rng(3)
    batch, k, dim = 4000, 4, 16
    a = np.array([1.0, -1.0, 2.0, 0.5])
    h = rayleigh(rng, (batch, k))
    h_hat, err_var = lmmse_estimate(h, pilot_noise_var=0.1, rng=rng)
    # Optimal power keeps p_k <= P (bounded CSI term); zero forcing would be heavy-tailed.
    pc = optimal_power(np.abs(h_hat) ** 2, power=1.0, noise_var=0.05, target=a)
    x = rng.standard_normal((batch, k, dim))
    if symbols == "complex":
        x = (x + 1j * rng.standard_normal(x.shape)) / np.sqrt(2.0)
    est = over_the_air_sum(x, h_hat, pc, 0.05, h_true=h, rng=rng)
    sq = np.mean(np.abs(est - np.einsum("k,bkd->bd", a, x)) ** 2, axis=-1)

    def z(csi_error_var):
        diff = sq - aircomp_mse(h_hat, pc, 0.05, csi_error_var=csi_error_var,
                                symbols=symbols).mean
        return diff.mean() / (diff.std() / np.sqrt(batch))

    assert abs(z(err_var)) < 4.5
    # Power of the check: ignoring the CSI term, or overstating it by 30%, is rejected.
    assert z(0.0) > 10.0 and z(1.3 * err_var) < -4.5


def test_csi_error_formula_derivation_single_device():
    # One device, fixed estimate, deterministic check of the structure of the formula:
    # MSE = (c - |a|)^2 + (sigma^2 + sigma_e^2 p) / eta for complex symbols, half the noise
    # and CSI terms for real symbols.
    h = np.array([[0.8 * np.exp(0.4j), 1.3 * np.exp(-2.0j)]])
    pc = optimal_power(np.abs(h) ** 2, power=1.0, noise_var=0.3, target=[2.0, -1.0])
    c = np.sqrt(pc.power) * np.abs(h) / np.sqrt(pc.eta[:, None])
    mis = np.sum((c - np.array([2.0, 1.0])) ** 2)
    extra = (0.3 + 0.2 * pc.power.sum()) / pc.eta[0]
    got_c = aircomp_mse(h, pc, 0.3, csi_error_var=0.2).mean[0]
    got_r = aircomp_mse(h, pc, 0.3, csi_error_var=0.2, symbols="real").mean[0]
    assert got_c == pytest.approx(mis + extra, rel=1e-12)
    assert got_r == pytest.approx(mis + extra / 2, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: phase_moments(-0.1), ValueError, "'phase_max' parameter of phase_moments"),
        (lambda: draw_phase_offsets((3,), 3.5), ValueError, r"in \[0, 3.14159\]"),
        (lambda: true_channel_from_estimate(np.ones(3, complex), -1.0), ValueError,
         "'error_var' parameter"),
        (lambda: true_channel_from_estimate(np.array(["a"]), 0.1), TypeError,
         "'h_hat' parameter"),
        (lambda: true_channel_from_estimate(np.array([np.nan + 0j]), 0.1), ValueError,
         "must be finite"),
        (lambda: lmmse_estimate(np.ones(3, complex), 0.0), ValueError,
         "'pilot_noise_var' parameter"),
        (lambda: lmmse_estimate(np.ones(3, complex), 0.1, prior_var=-1.0), ValueError,
         "'prior_var' parameter"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
