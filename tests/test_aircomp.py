"""Over-the-air sum and its MSE: closed forms, Monte-Carlo agreement for every policy, noise.

Statistical checks use fixed seeds. A Monte-Carlo estimate is compared with the closed form
through its z-score ``(mc - analytic) / stderr``; with at most a few hundred z-scores per
test, the acceptance bound ``|z| < 4.5`` is crossed by chance with probability < 1e-3, while
the wrong-convention check below shows that a formula error of the size that matters
(half vs full noise) gives z-scores far above it.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from scipy.special import stdtrit

from channels import Estimate, complex_normal
from channels.aircomp import aircomp_mse, over_the_air_sum
from channels.expected_mse import truncated_inversion_expected_mse
from channels.impairments import phase_moments
from channels.noise import (
    NOISE_FORMS,
    db_to_linear,
    dbm_to_watt,
    linear_to_db,
    make_noise_var,
    noise_var_from_psd,
    noise_var_from_snr_db,
    snr_db_from_noise_var,
    watt_to_dbm,
)
from channels.power_control import (
    expected_truncation_mse,
    full_power,
    make_power_control,
    optimal_power,
    threshold_scheduling,
    truncated_inversion,
    zero_forcing,
)

Z_MAX = 4.5


def rayleigh(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)


def zscores(mc: Estimate, analytic: Estimate) -> np.ndarray:
    return (mc.mean - analytic.mean) / mc.std_err


POLICIES = {
    "full_power": lambda g, **kw: full_power(g, **kw),
    "zero_forcing": lambda g, **kw: zero_forcing(g, **kw),
    "truncated_inversion": lambda g, **kw: truncated_inversion(
        g, gain_threshold=0.4, constraint="peak", **kw
    ),
    "optimal_power": lambda g, **kw: optimal_power(g, **kw),
    "threshold_scheduling": lambda g, **kw: threshold_scheduling(g, keep=3, **kw),
}
TARGETS = {"ones": None, "signed": np.array([1.0, -2.0, 0.5, 1.5, -0.7])}


# ----------------------------------------------------------------------------- noise


def test_noise_var_from_snr_db_closed_forms():
    assert noise_var_from_snr_db(20.0) == pytest.approx(0.01, rel=1e-12)
    assert noise_var_from_snr_db(10.0, power_w=0.2) == pytest.approx(0.02, rel=1e-12)
    assert snr_db_from_noise_var(0.01) == pytest.approx(20.0, rel=1e-12)
    assert snr_db_from_noise_var(noise_var_from_snr_db(-3.7, 2.5), 2.5) == pytest.approx(-3.7)


def test_noise_var_from_psd_link_budget():
    # -174 dBm/Hz + 60 dB(Hz) = -114 dBm = 10^-14.4 W.
    assert noise_var_from_psd(1e6) == pytest.approx(10.0 ** -14.4, rel=1e-12)
    # NF 9 dB over 20 MHz: -174 + 9 + 73.0103 = -91.9897 dBm.
    expected = dbm_to_watt(-174.0 + 9.0 + 10.0 * np.log10(20e6))
    assert noise_var_from_psd(20e6, noise_figure_db=9.0) == pytest.approx(expected, rel=1e-12)
    assert watt_to_dbm(noise_var_from_psd(20e6, 9.0)) == pytest.approx(-91.9897, abs=1e-4)


def test_db_conversions_roundtrip():
    x = np.array([1e-3, 0.5, 2.0, 1e4])
    np.testing.assert_allclose(db_to_linear(linear_to_db(x)), x, rtol=1e-12)
    assert dbm_to_watt(30.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'value' parameter of linear_to_db"):
        linear_to_db(-1.0)


def test_complex_normal_statistics():
    n = complex_normal((200_000,), var=0.3, rng=0)
    # E|n|^2 = 0.3, Var(Re n) = Var(Im n) = 0.15; std error of these means ~ 0.3 * 0.0032.
    assert np.mean(np.abs(n) ** 2) == pytest.approx(0.3, rel=0.015)
    assert np.var(n.real) == pytest.approx(0.15, rel=0.015)
    assert np.var(n.imag) == pytest.approx(0.15, rel=0.015)
    assert abs(np.mean(n.real * n.imag)) < 0.005
    assert complex_normal((4,), "single", rng=0).dtype == np.complex64
    np.testing.assert_array_equal(complex_normal((5,), rng=3), complex_normal((5,), rng=3))
    # A per-row variance broadcasts over the trailing axis; zero variance gives zeros.
    rows = complex_normal((3, 50_000), var=np.array([[0.0], [1.0], [4.0]]), rng=1)
    np.testing.assert_array_equal(rows[0], 0.0)
    np.testing.assert_allclose(np.mean(np.abs(rows[1:]) ** 2, axis=-1), [1.0, 4.0], rtol=0.03)


def test_make_noise_var_accepts_each_form_and_rejects_mixtures():
    assert make_noise_var(noise_var=0.25) == 0.25
    assert make_noise_var(snr_db=20.0, power_w=0.5) == pytest.approx(0.005, rel=1e-12)
    # The scenario table of the issue: -174 dBm/Hz + 7 dB + 60 dB(Hz) = -107 dBm.
    budget = make_noise_var(psd_dbm_hz=-174.0, bandwidth_hz=1e6, noise_figure_db=7.0)
    assert budget == pytest.approx(dbm_to_watt(-107.0), rel=1e-12)
    assert make_noise_var(bandwidth_hz=2e6) == noise_var_from_psd(2e6)
    assert set(NOISE_FORMS) == {"noise_var", "snr_db", "bandwidth_hz"}
    with pytest.raises(ValueError,
                       match=r"exactly one form.*got keys \['bandwidth_hz', 'snr_db'\]"):
        make_noise_var(snr_db=10.0, bandwidth_hz=1e6)
    with pytest.raises(ValueError, match="exactly one form.*got keys none"):
        make_noise_var()
    with pytest.raises(ValueError,
                       match="takes only snr_db, power_w; got the extra key.*noise_fig"):
        make_noise_var(snr_db=10.0, noise_figure_db=7.0)
    with pytest.raises(ValueError, match=r"'noise_var' parameter of make_noise_var.*got -1"):
        make_noise_var(noise_var=-1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: noise_var_from_snr_db(float("nan")), "'snr_db' parameter"),
        (lambda: noise_var_from_snr_db(10.0, power_w=0.0), "'power_w' parameter"),
        (lambda: noise_var_from_psd(-1.0), "'bandwidth_hz' parameter"),
        (lambda: noise_var_from_psd(1e6, noise_figure_db=-2.0), "'noise_figure_db' parameter"),
        (lambda: snr_db_from_noise_var(0.0), "'noise_var' parameter"),
        (lambda: complex_normal((3,), var=-1.0), "'var' parameter of complex_normal"),
        (lambda: complex_normal((3,), "half"), "'precision' parameter of complex_normal"),
    ],
)
def test_noise_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- closed forms


def test_analytic_equals_power_control_mse_for_every_policy():
    rng = np.random.default_rng(1)
    h = rayleigh(rng, (200, 5))
    for name, policy in POLICIES.items():
        for target in TARGETS.values():
            pc = policy(np.abs(h) ** 2, power=1.0, noise_var=0.05, target=target)
            est = aircomp_mse(h, pc, 0.05)
            np.testing.assert_allclose(est.mean, pc.mse, rtol=1e-10, err_msg=name)
            real = aircomp_mse(h, pc, 0.05, symbols="real").mean
            noise = np.where(np.isinf(pc.eta), 0.0, 0.05 / pc.eta)
            np.testing.assert_allclose(real, pc.mse - noise / 2.0, rtol=1e-10, err_msg=name)


def test_textbook_examples():
    # |h|^2 = {1, .6, .3, .1}, P = 1, sigma^2 = .01: ZF MSE 0.1, optimal 0.0909 (science.md).
    h = np.sqrt(np.array([[1.0, 0.6, 0.3, 0.1]])) * np.exp(1j * np.array([0.3, -2.0, 1.0, 2.9]))
    zf = zero_forcing(np.abs(h) ** 2, power=1.0, noise_var=0.01)
    assert aircomp_mse(h, zf, 0.01).mean[0] == pytest.approx(0.1, rel=1e-9)
    opt = optimal_power(np.abs(h) ** 2, power=1.0, noise_var=0.01)
    assert aircomp_mse(h, opt, 0.01).mean[0] == pytest.approx(0.0909, abs=5e-5)


def test_sum_is_exact_without_noise():
    # Zero forcing, negligible noise: the estimate is sum_k a_k x_k (real and complex x).
    rng = np.random.default_rng(2)
    h = rayleigh(rng, (6, 5))
    a = TARGETS["signed"]
    pc = zero_forcing(np.abs(h) ** 2, power=1.0, noise_var=1e-30, target=a)
    x = rng.standard_normal((6, 5, 11))
    est = over_the_air_sum(x, h, pc, 1e-30, rng=rng)
    assert est.dtype == np.float64 and est.shape == (6, 11)
    np.testing.assert_allclose(est, np.einsum("k,bkd->bd", a, x), atol=1e-9)
    xc = x + 1j * rng.standard_normal(x.shape)
    est_c = over_the_air_sum(xc, h, pc, 1e-30, rng=rng)
    assert np.iscomplexobj(est_c)
    np.testing.assert_allclose(est_c, np.einsum("k,bkd->bd", a, xc), atol=1e-9)
    # The [batch, 1, K] channel of a single-antenna draw is accepted as well.
    np.testing.assert_allclose(over_the_air_sum(x, h[:, None, :], pc, 1e-30, rng=0), est, atol=1e-9)


def test_leading_batch_shapes_match_the_flat_batch():
    # Any leading batch shape [...] (that of pc.eta), single realizations included.
    rng = np.random.default_rng(10)
    h = rayleigh(rng, (2, 3, 5))
    a = TARGETS["signed"]
    pc = optimal_power(np.abs(h) ** 2, power=1.0, noise_var=0.2, target=a)
    flat_pc = optimal_power(np.abs(h.reshape(6, 5)) ** 2, power=1.0, noise_var=0.2, target=a)
    kw = dict(phase_max=0.3, csi_error_var=0.1, symbols="real")
    est = aircomp_mse(h, pc, 0.2, **kw)
    assert est.mean.shape == (2, 3)
    np.testing.assert_allclose(est.mean.reshape(-1),
                               aircomp_mse(h.reshape(6, 5), flat_pc, 0.2, **kw).mean, rtol=1e-12)
    mc = aircomp_mse(h, pc, 0.2, method="monte-carlo", n_trials=100, rng=2)
    assert mc.mean.shape == mc.ci_high.shape == (2, 3)
    x = rng.standard_normal((2, 3, 5, 4))
    out = over_the_air_sum(x, h, pc, 0.2, rng=1)
    ref = over_the_air_sum(x.reshape(6, 5, 4), h.reshape(6, 5), flat_pc, 0.2, rng=1)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out.reshape(6, 4), ref, rtol=1e-12)
    # One realization without a batch axis: h [K], x [K, D] -> [D]; the MSE is a float.
    one = zero_forcing(np.abs(h[0, 0]) ** 2, power=1.0, noise_var=0.2, target=a)
    mse = aircomp_mse(h[0, 0], one, 0.2).mean
    assert isinstance(mse, float) and mse == pytest.approx(float(one.mse), rel=1e-12)
    assert over_the_air_sum(x[0, 0], h[0, 0], one, 0.2, rng=0).shape == (4,)
    # Several receive antennas: h [..., n_rx_ant, K] with a beamformer [..., n_rx_ant].
    from channels.beamforming import effective_channel, mrc_beamformer

    hm = rayleigh(rng, (2, 3, 4, 5))
    m = mrc_beamformer(hm)
    h_eff, norm2 = effective_channel(hm, m)
    assert m.shape == (2, 3, 4) and h_eff.shape == (2, 3, 5) and norm2.shape == (2, 3)
    pcm = zero_forcing(np.abs(h_eff) ** 2, power=1.0, noise_var=0.2 * norm2, target=a)
    np.testing.assert_allclose(aircomp_mse(hm, pcm, 0.2, beamformer=m).mean, pcm.mse, rtol=1e-10)
    assert over_the_air_sum(rng.standard_normal((2, 3, 5, 7)), hm, pcm, 0.2, beamformer=m,
                            rng=3).shape == (2, 3, 7)
    with pytest.raises(ValueError, match=r"'h' parameter of aircomp_mse must have shape "
                                         r"\[\.\.\., K\] or \[\.\.\., n_rx_ant, K\].*got shape "
                                         r"\(2, 3, 1, 1, 5\)"):
        aircomp_mse(h[:, :, None, None, :], pc, 0.2)


def test_silent_receiver_outputs_zero():
    # Everybody below the threshold: eta = inf, the estimate is 0 and the MSE is sum a_k^2.
    h = np.full((2, 3), 0.1 + 0.0j)
    pc = threshold_scheduling(np.abs(h) ** 2, power=1.0, noise_var=0.1, gain_threshold=0.5)
    assert np.all(np.isinf(pc.eta))
    est = over_the_air_sum(np.ones((2, 3, 4)), h, pc, 0.1, rng=0)
    np.testing.assert_array_equal(est, 0.0)
    np.testing.assert_allclose(aircomp_mse(h, pc, 0.1, symbols="real").mean, 3.0)


def test_phase_floor_is_snr_independent():
    rng = np.random.default_rng(3)
    h = rayleigh(rng, (4, 5))
    a = TARGETS["signed"]
    phi = 0.6
    m1, m2 = phase_moments(phi)
    floors = {"complex": np.sum(a**2) * (2 - 2 * m1), "real": np.sum(a**2) * (1 - 2 * m1 + m2)}
    for symbols, floor in floors.items():
        for noise_var in (1e-8, 1e-12):
            pc = zero_forcing(np.abs(h) ** 2, power=1.0, noise_var=noise_var, target=a)
            mse = aircomp_mse(h, pc, noise_var, phase_max=phi, symbols=symbols).mean
            np.testing.assert_allclose(mse, floor, rtol=1e-4)


# ----------------------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_monte_carlo_agrees_with_analytic(policy, target):
    rng = np.random.default_rng(zlib.crc32(f"{policy}/{target}".encode()))
    h = rayleigh(rng, (5, 5))
    noise_var = 0.2
    pc = POLICIES[policy](np.abs(h) ** 2, power=1.0, noise_var=noise_var, target=TARGETS[target])
    for symbols in ("complex", "real"):
        for csi, phi in ((0.0, 0.0), (0.1, 0.0), (0.0, 0.7), (0.1, 0.7)):
            kw = dict(csi_error_var=csi, phase_max=phi, symbols=symbols)
            ana = aircomp_mse(h, pc, noise_var, **kw)
            mc = aircomp_mse(h, pc, noise_var, method="monte-carlo", n_trials=800, rng=rng, **kw)
            assert mc.method == "monte-carlo" and ana.method == "analytic"
            z = zscores(mc, ana)
            assert np.all(np.abs(z) < Z_MAX), (symbols, csi, phi, z)


def test_monte_carlo_rejects_the_wrong_noise_convention():
    # The check above has power: real symbols scored against the complex-noise formula fail.
    rng = np.random.default_rng(4)
    h = rayleigh(rng, (5, 4))
    pc = zero_forcing(np.abs(h) ** 2, power=1.0, noise_var=0.5)
    mc = aircomp_mse(h, pc, 0.5, symbols="real", method="monte-carlo", n_trials=800, rng=rng)
    wrong = aircomp_mse(h, pc, 0.5, symbols="complex")
    assert np.all(np.abs(zscores(mc, wrong)) > 10.0)


def test_monte_carlo_interval_and_reproducibility():
    rng = np.random.default_rng(5)
    h = rayleigh(rng, (3, 4))
    pc = optimal_power(np.abs(h) ** 2, power=1.0, noise_var=0.1)
    a = aircomp_mse(h, pc, 0.1, method="monte-carlo", n_trials=50, rng=7)
    b = aircomp_mse(h, pc, 0.1, method="monte-carlo", n_trials=50, rng=7)
    assert isinstance(a, Estimate)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert np.all(a.ci_low < a.mean) and np.all(a.mean < a.ci_high)
    assert a.n == 50 and a.n_independent == 50 and a.confidence == 0.99
    # Student-t interval over the 50 trials: half-width t_{0.995, 49} * std_err.
    np.testing.assert_allclose(a.half_width, stdtrit(49, 0.995) * a.std_err, rtol=1e-12)
    auto = aircomp_mse(h, pc, 0.1)
    assert auto.method == "analytic" and auto.n == 0
    np.testing.assert_array_equal(auto.ci_low, auto.mean)
    np.testing.assert_array_equal(auto.std_err, 0.0)


def test_over_the_air_sum_error_matches_mse_on_vectors():
    # The estimate of a long real vector: the per-coordinate squared error averages to the MSE.
    rng = np.random.default_rng(6)
    h = rayleigh(rng, (3, 5))
    a = TARGETS["signed"]
    pc = optimal_power(np.abs(h) ** 2, power=1.0, noise_var=0.3, target=a)
    x = rng.standard_normal((3, 5, 200_000))
    err = over_the_air_sum(x, h, pc, 0.3, rng=rng) - np.einsum("k,bkd->bd", a, x)
    mse = aircomp_mse(h, pc, 0.3, symbols="real").mean
    # Per-coordinate squared errors are (scaled) chi^2_1: relative std sqrt(2 / D) = 0.32%.
    np.testing.assert_allclose(np.mean(err**2, axis=-1), mse, rtol=0.015)


def test_truncated_inversion_expected_mse_against_fading_average():
    rng = np.random.default_rng(8)
    a = np.array([1.0, -1.5, 0.5, 1.0])
    g_th, noise_var = 0.3, 0.2
    ideal = truncated_inversion_expected_mse(g_th, power=1.0, noise_var=noise_var, target=a)
    ref = expected_truncation_mse(g_th, power=1.0, noise_var=noise_var, target=a)
    assert float(ideal) == pytest.approx(float(ref), rel=1e-12)
    h = rayleigh(rng, (400_000, 4))
    pc = truncated_inversion(np.abs(h) ** 2, power=1.0, noise_var=noise_var, target=a,
                             gain_threshold=g_th)
    for kw in ({}, dict(symbols="real", phase_max=0.8), dict(csi_error_var=0.05),
               dict(symbols="real", csi_error_var=0.05, phase_max=1.2)):
        closed = float(truncated_inversion_expected_mse(
            g_th, power=1.0, noise_var=noise_var, target=a, **kw))
        per = aircomp_mse(h, pc, noise_var, **kw).mean
        z = (per.mean() - closed) / (per.std() / np.sqrt(per.size))
        assert abs(z) < Z_MAX, (kw, closed, per.mean(), z)


# ----------------------------------------------------------------------------- bad input


def _pc(batch=2, k=3):
    return zero_forcing(np.ones((batch, k)), power=1.0, noise_var=0.1)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: aircomp_mse(np.ones((2, 3), complex), _pc(), 0.1, method="montecarlo"),
         ValueError, "Did you mean 'monte-carlo'"),
        (lambda: aircomp_mse(np.ones((2, 3), complex), _pc(), 0.1, symbols="float"),
         ValueError, "'symbols' parameter of aircomp_mse"),
        (lambda: aircomp_mse(np.ones((2, 3), complex), _pc(), -0.1),
         ValueError, "'noise_var' parameter of aircomp_mse must be > 0"),
        (lambda: aircomp_mse(np.ones((2, 3), complex), _pc(), 0.1, csi_error_var=-1.0),
         ValueError, "'csi_error_var' parameter"),
        (lambda: aircomp_mse(np.ones((2, 3), complex), _pc(), 0.1, phase_max=4.0),
         ValueError, "'phase_max' parameter"),
        (lambda: aircomp_mse(np.ones((2, 3)), _pc(), 0.1),
         TypeError, "'h' parameter of aircomp_mse must be a complex array"),
        (lambda: aircomp_mse(np.full((2, 3), np.nan + 0j), _pc(), 0.1),
         ValueError, "'h' parameter of aircomp_mse must be finite"),
        (lambda: aircomp_mse(np.ones((2, 4), complex), _pc(), 0.1),
         ValueError, "'pc.power' parameter of aircomp_mse must broadcast"),
        (lambda: aircomp_mse(np.ones((2, 2, 3), complex), _pc(), 0.1),
         ValueError, "'beamformer' parameter of aircomp_mse is required"),
        (lambda: aircomp_mse(np.ones((2, 3), complex), object(), 0.1),
         TypeError, "'pc' parameter of aircomp_mse must be a PowerControl"),
        (lambda: aircomp_mse(np.ones((2, 3), complex), _pc(), 0.1, method="monte-carlo",
                             n_trials=1),
         ValueError, "'n_trials' parameter"),
        (lambda: over_the_air_sum(np.ones((2, 4, 5)), np.ones((2, 3), complex), _pc(), 0.1),
         ValueError, r"'x' parameter of over_the_air_sum must have shape \[\.\.\., K, D\] "
                     r"= \[2, 3, D\]"),
        (lambda: over_the_air_sum(np.ones((2, 3, 5)), np.ones((2, 3), complex), _pc(), 0.1,
                                  h_true=np.ones((2, 3), complex), csi_error_var=0.1),
         ValueError, "'csi_error_var' parameter of over_the_air_sum must be 0"),
        (lambda: over_the_air_sum(np.ones((2, 3, 5)), np.ones((2, 3), complex), _pc(), 0.1,
                                  h_true=np.ones((2, 4), complex)),
         ValueError, "'h_true' parameter"),
        (lambda: truncated_inversion_expected_mse(0.3, power=1.0, noise_var=0.1, n_devices=3,
                                                  symbols="x"),
         ValueError, "'symbols' parameter"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_registry_policy_feeds_the_sum():
    # Policies picked by name produce results the sum accepts.
    rng = np.random.default_rng(9)
    h = rayleigh(rng, (4, 5))
    policy = make_power_control("threshold_scheduling", keep=4, inner="optimal_power")
    pc = policy(np.abs(h) ** 2, power=1.0, noise_var=0.1)
    est = over_the_air_sum(rng.standard_normal((4, 5, 3)), h, pc, 0.1, rng=rng)
    assert est.shape == (4, 3) and np.all(np.isfinite(est))
    np.testing.assert_allclose(aircomp_mse(h, pc, 0.1).mean, pc.mse, rtol=1e-10)


# ----------------------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_dev=st.integers(3, 6),
    noise_var=st.floats(1e-6, 10.0),
    phases=st.tuples(st.floats(0.0, np.pi), st.floats(0.0, np.pi)),
    csi=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    symbols=st.sampled_from(["complex", "real"]),
)
def test_mse_is_nonnegative_and_grows_with_impairments(seed, n_dev, noise_var, phases, csi,
                                                       symbols):
    # For any channel: MSE >= 0; more CSI error never lowers it (linear, non-negative
    # slope); a wider phase range never lowers it when no device overshoots its target
    # (c_k <= |a_k|: every policy but full power; proof in channels.aircomp's docstring).
    rng = np.random.default_rng(seed)
    h = rayleigh(rng, (3, n_dev))
    a = rng.choice([-2.0, -1.0, 0.0, 0.5, 1.0], size=n_dev)
    lo_phi, hi_phi = sorted(phases)
    lo_csi, hi_csi = sorted(csi)
    for name, policy in POLICIES.items():
        pc = policy(np.abs(h) ** 2, power=1.0, noise_var=noise_var, target=a)

        def mse(phi, csi_var, pc=pc):
            return aircomp_mse(h, pc, noise_var, phase_max=phi, csi_error_var=csi_var,
                               symbols=symbols).mean

        base = mse(lo_phi, lo_csi)
        assert np.all(base >= -1e-12)
        assert np.all(mse(lo_phi, hi_csi) >= base - 1e-9 * (1 + np.abs(base)))
        if name != "full_power":
            assert np.all(mse(hi_phi, lo_csi) >= base - 1e-9 * (1 + np.abs(base)))


def test_real_symbols_overshoot_can_benefit_from_phase_error():
    # The exception above, shown: one device arriving at 3x its target (c = 3, a = 1), real
    # symbols: the MSE c^2 m2 - 2 c m1 + 1 is 4 at phi_max = 0 and lower at phi_max = 1.
    h = np.array([[1.0 + 0j]])

    class Overshoot:  # a deliberately bad allocation; any object with these fields works
        power = np.array([[9.0]])
        eta = np.array([1.0])
        target = np.array([[1.0]])

    at0 = aircomp_mse(h, Overshoot, 1e-9, symbols="real").mean[0]
    m1, m2 = phase_moments(1.0)
    at1 = aircomp_mse(h, Overshoot, 1e-9, symbols="real", phase_max=1.0).mean[0]
    assert at0 == pytest.approx(4.0, abs=1e-8)
    assert at1 == pytest.approx(9 * m2 - 6 * m1 + 1, abs=1e-8) and at1 < at0
