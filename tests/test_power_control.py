"""Tests for channels.power_control: closed forms, brute force, statistics, contract, errors."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from channels.power_control import (
    POLICIES,
    expected_truncation_mse,
    expected_truncation_power,
    full_power,
    list_power_control,
    make_power_control,
    mse_at_eta,
    optimal_power,
    optimal_truncation_threshold,
    phase_aligned_mse,
    register_power_control,
    regularized_inversion,
    scheduling_frontier,
    threshold_scheduling,
    truncated_inversion,
    zero_forcing,
)
from channels.power_control.base import PowerControl, prepare_inputs
from channels.power_control.conformance import check_power_control

EXAMPLE_G = np.array([1.0, 0.6, 0.3, 0.1])


def random_instances(rng, n, k_low=1, k_high=8, signed=False):
    """Random static instances (gain2, power, noise_var, target) of varying K."""
    out = []
    for _ in range(n):
        k = int(rng.integers(k_low, k_high + 1))
        g = rng.exponential(1.0, size=k) * 10 ** rng.uniform(-1.5, 1.0)
        p = rng.uniform(0.2, 3.0, size=k)
        s2 = 10 ** rng.uniform(-3, 0.5)
        a = rng.uniform(0.2, 2.0, size=k)
        if signed:
            a *= rng.choice([-1.0, 1.0], size=k)
        out.append((g, p, s2, a))
    return out


# --------------------------------------------------------------------------- closed forms

def test_zero_forcing_example():
    pc = zero_forcing(EXAMPLE_G, power=1.0, noise_var=0.01)
    assert pc.mse == pytest.approx(0.1, rel=1e-12)
    assert pc.eta == pytest.approx(0.1, rel=1e-12)
    # Every device arrives with exactly coefficient 1: no misalignment.
    np.testing.assert_allclose(pc.received, 1.0, rtol=1e-12)
    np.testing.assert_allclose(pc.power, 0.1 / EXAMPLE_G, rtol=1e-12)


def test_optimal_power_example():
    pc = optimal_power(EXAMPLE_G, power=1.0, noise_var=0.01)
    assert pc.eta == pytest.approx(0.121, rel=1e-12)
    assert pc.mse == pytest.approx(1 / 11, rel=1e-12)  # 0.0909...
    # Weakest device at full power, the others invert to sqrt(eta).
    np.testing.assert_allclose(pc.power, [0.121, 0.121 / 0.6, 0.121 / 0.3, 1.0], rtol=1e-12)


def test_full_power_closed_form_matches_scalar_minimization():
    rng = np.random.default_rng(1)
    for g, p, s2, a in random_instances(rng, 30, signed=True):
        pc = full_power(g, power=p, noise_var=s2, target=a)
        res = minimize_scalar(
            lambda t, g=g, p=p, s2=s2, a=a: np.sum((t * np.sqrt(p * g) - np.abs(a)) ** 2)
            + s2 * t * t,
            bounds=(0.0, 1e3), method="bounded", options={"xatol": 1e-12},
        )
        assert pc.mse <= res.fun + 1e-12
        assert pc.mse == pytest.approx(res.fun, abs=1e-9)
        assert np.all(pc.power == p)


def test_mse_is_phase_aligned_mse_of_reported_powers():
    rng = np.random.default_rng(2)
    g = rng.exponential(size=(500, 7))
    a = rng.normal(size=(500, 7))
    for name in ("full_power", "zero_forcing", "optimal_power"):
        pc = POLICIES.get(name)(g, power=1.5, noise_var=0.05, target=a)
        np.testing.assert_allclose(pc.mse, phase_aligned_mse(g, pc.power, pc.eta, 0.05, a),
                                   rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------- optimal power: optimality

def _brute_eta(g, p, s2, a):
    """Minimize MSE(eta) by bounded Brent in t = 1/sqrt(eta) (convex in t)."""
    qe = p * g / a**2
    t_max = 1.0 / np.sqrt(qe.min())  # beyond, everyone inverts and MSE = s2 t^2 grows
    res = minimize_scalar(
        lambda t: float(mse_at_eta(1.0 / t**2, g, power=p, noise_var=s2, target=a)),
        bounds=(1e-12, t_max), method="bounded", options={"xatol": 1e-13},
    )
    return res.fun


def test_optimal_power_matches_scalar_minimization_on_random_draws():
    rng = np.random.default_rng(3)
    worst = 0.0
    for g, p, s2, a in random_instances(rng, 300, signed=True):
        pc = optimal_power(g, power=p, noise_var=s2, target=a)
        brute = _brute_eta(g, p, s2, a)
        assert pc.mse <= brute + 1e-12
        worst = max(worst, brute - pc.mse)
        # The reported MSE is also the value of the objective at the reported eta.
        assert float(mse_at_eta(pc.eta, g, power=p, noise_var=s2, target=a)) == pytest.approx(
            float(pc.mse), rel=1e-10)
    assert worst < 1e-7


def test_optimal_power_matches_fine_grid():
    rng = np.random.default_rng(4)
    g = rng.exponential(size=(200, 5))
    pc = optimal_power(g, power=1.0, noise_var=0.1)
    etas = np.geomspace(1e-4, 1e2, 20001)
    curve = mse_at_eta(etas[:, None], g[None], power=1.0, noise_var=0.1)  # [grid, batch]
    assert np.all(pc.mse <= curve.min(axis=0) + 1e-12)
    np.testing.assert_allclose(pc.mse, curve.min(axis=0), rtol=1e-5)


@pytest.mark.parametrize("k", [6, 40])  # 40 > the 16-device window: exercises the fallback
def test_optimal_power_bracket_condition_and_boundary_cases(k):
    rng = np.random.default_rng(5)
    g = rng.exponential(size=(2000, k))
    p = rng.uniform(0.5, 2.0, size=(2000, k))
    s2 = 10 ** rng.uniform(-3, 1, size=2000) * (k / 6)
    pc = optimal_power(g, power=p, noise_var=s2)
    q = np.sort(p * g, axis=-1)
    k_star = np.sum(np.isclose(pc.power, p, rtol=1e-12), axis=-1)  # devices at full power
    # sigma^2 > 0: the weakest device always transmits at full power (k* = 0 never optimal).
    assert np.all(k_star >= 1)
    assert np.all(pc.eta > q[:, 0])
    idx = np.arange(len(q))
    cs = np.cumsum(q, axis=-1)
    cr = np.cumsum(np.sqrt(q), axis=-1)
    eta_tilde = ((s2 + cs[idx, k_star - 1]) / cr[idx, k_star - 1]) ** 2
    np.testing.assert_allclose(pc.eta, eta_tilde, rtol=1e-10)
    q_next = np.concatenate([q, np.full((len(q), 1), np.inf)], axis=-1)[idx, k_star]
    assert np.all(q[idx, k_star - 1] <= pc.eta * (1 + 1e-12))
    assert np.all(pc.eta <= q_next * (1 + 1e-12))
    # Both ends occur in this sample: everyone at full power, and only the weakest.
    assert np.any(k_star == k) and np.any(k_star <= 4)
    if k > 16:
        assert np.mean(k_star > 16) > 0.2
    # Weighted targets take the same path (argsort + gather); compare with Brent.
    a = rng.uniform(0.5, 2.0, size=(60, k))
    pcw = optimal_power(g[:60], power=p[:60], noise_var=s2[:60], target=a)
    brute = np.array([_brute_eta(g[i], p[i], s2[i], a[i]) for i in range(60)])
    assert np.all(pcw.mse <= brute + 1e-12)
    np.testing.assert_allclose(pcw.mse, brute, rtol=1e-9)


def _wrong_rule_mse(g, p, s2):
    """The flawed rule of a public reproduction: k* = largest k with eta~(k) < q_(k)."""
    q = np.sort(p * g)
    eta_t = ((s2 + np.cumsum(q)) / np.cumsum(np.sqrt(q))) ** 2
    ok = np.nonzero(eta_t < q)[0]
    k = ok[-1] if ok.size else 0
    eta = eta_t[k]
    power = np.minimum(p, eta / g)
    return float(phase_aligned_mse(g, power, eta, s2))


def test_wrong_selection_rule_is_suboptimal():
    # On the worked example the wrong rule picks k = 4 (eta~(4) = 0.580 instead of 0.121):
    # MSE 0.438 against the optimum 1/11.
    wrong = _wrong_rule_mse(EXAMPLE_G, np.ones(4), 0.01)
    assert wrong == pytest.approx(0.43828, abs=1e-5)
    rng = np.random.default_rng(6)
    gaps = []
    for g, p, s2, _ in random_instances(rng, 300, k_low=3):
        best = float(optimal_power(g, power=p, noise_var=s2).mse)
        wrong = _wrong_rule_mse(g, p, s2)
        assert wrong >= best - 1e-12
        gaps.append(wrong - best)
    gaps = np.array(gaps)
    assert np.mean(gaps > 1e-6) > 0.5  # suboptimal in most draws (measured: 300 of 300)


# --------------------------------------------------------------------- weighted targets

def _brute_force_joint(g, p, s2, a, rng, starts=4):
    """min over signed amplitudes s_k in [-sqrt(P_k), sqrt(P_k)] and t >= 0 of
    sum_k (s_k sqrt(g_k) t - a_k)^2 + s2 t^2  (t = 1/sqrt(eta)), by multistart L-BFGS-B."""
    k = len(g)
    sg = np.sqrt(g)

    def f(x):
        s, t = x[:k], x[k]
        e = s * sg * t - a
        val = np.sum(e**2) + s2 * t * t
        grad = np.concatenate([2 * e * sg * t, [np.sum(2 * e * s * sg) + 2 * s2 * t]])
        return val, grad

    bounds = [(-np.sqrt(pk), np.sqrt(pk)) for pk in p] + [(0.0, None)]
    best = np.inf
    for _ in range(starts):
        x0 = np.concatenate([rng.uniform(-1, 1, k) * np.sqrt(p), [rng.uniform(0.1, 5.0)]])
        res = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 2000})
        best = min(best, res.fun)
    return best


def test_weighted_signed_targets_against_joint_brute_force():
    rng = np.random.default_rng(7)
    worst = 0.0
    for g, p, s2, a in random_instances(rng, 16, k_low=3, k_high=4, signed=True):
        pc = optimal_power(g, power=p, noise_var=s2, target=a)
        brute = _brute_force_joint(g, p, s2, a, rng)
        assert pc.mse <= brute + 1e-9  # closed form at least as good
        worst = max(worst, brute - float(pc.mse))
        # The signed amplitudes deliver the signed targets: received = a_k for inverters.
        inverting = pc.power < p * (1 - 1e-12)
        np.testing.assert_allclose(pc.received[inverting], a[inverting], rtol=1e-9)
    assert worst < 1e-6


def test_weighted_is_unweighted_problem_in_effective_quality():
    # a_k scales: MSE with (q, a) equals the a^2-weighted objective in q~ = q / a^2.
    rng = np.random.default_rng(8)
    g = rng.exponential(size=(100, 5))
    a = rng.uniform(0.5, 2.0, size=(100, 5))
    c = 3.0  # scaling every target by c and the noise by c^2 scales the MSE by c^2
    pc1 = optimal_power(g, power=1.0, noise_var=0.1, target=a)
    pc2 = optimal_power(g, power=c**2, noise_var=0.1 * c**2, target=c * a)
    np.testing.assert_allclose(pc2.mse, c**2 * pc1.mse, rtol=1e-10)


def test_zero_targets_are_silent_and_free():
    g = np.array([[1.0, 0.6, 0.3, 0.1, 0.05]])
    a = np.array([[1.0, 1.0, 1.0, 1.0, 0.0]])
    for policy in (optimal_power, zero_forcing, full_power):
        pc = policy(g, power=1.0, noise_var=0.01, target=a)
        ref = policy(g[:, :4], power=1.0, noise_var=0.01)
        assert pc.power[0, 4] == 0 and not pc.scheduled[0, 4]
        assert pc.mse[0] == pytest.approx(float(ref.mse[0]), rel=1e-12)
    every = optimal_power(g, power=1.0, noise_var=0.01, target=np.zeros((1, 5)))
    assert every.mse[0] == 0 and np.isinf(every.eta[0]) and not every.scheduled.any()


def test_zero_gain_edge_cases():
    # A dead channel (|h|^2 = 0) with a non-zero target is a sure miss of a_k^2.
    g = np.array([[1.0, 0.0, 0.3], [0.0, 0.0, 0.0]])
    pc = optimal_power(g, power=1.0, noise_var=0.01)
    ref = optimal_power(g[:1, [0, 2]], power=1.0, noise_var=0.01)
    assert pc.mse[0] == pytest.approx(1.0 + float(ref.mse[0]), rel=1e-12)
    assert pc.mse[1] == 3.0 and np.isinf(pc.eta[1]) and np.all(np.isfinite(pc.power))
    zf = zero_forcing(g, power=1.0, noise_var=0.01)
    assert np.all(np.isinf(zf.mse)) and np.all(zf.power == 0)
    fp = full_power(g, power=1.0, noise_var=0.01)
    assert fp.mse[1] == 3.0


def test_float32_keeps_relative_accuracy_at_high_snr():
    # K = 100 devices at high SNR: MSE ~1e-4 while sum a_k^2 = 100; a prefix-sum MSE
    # formula would lose it to cancellation in float32 (eps 6e-8 x 100).
    rng = np.random.default_rng(19)
    g = rng.exponential(size=(500, 100))
    ref = optimal_power(g, power=1.0, noise_var=1e-6)
    pc32 = optimal_power(g.astype(np.float32), power=1.0, noise_var=1e-6)
    assert np.median(ref.mse) < 1e-2
    np.testing.assert_allclose(pc32.mse, ref.mse, rtol=1e-4)


def test_transmit_coefficients_realize_the_received_coefficients():
    rng = np.random.default_rng(9)
    h = (rng.normal(size=(50, 6)) + 1j * rng.normal(size=(50, 6))) / np.sqrt(2)
    a = rng.normal(size=(50, 6))
    pc = optimal_power(np.abs(h) ** 2, power=1.0, noise_var=0.1, target=a)
    b = pc.transmit_coefficients(h)
    np.testing.assert_allclose(np.abs(b) ** 2, pc.power, rtol=1e-12)
    eff = h * b / np.sqrt(pc.eta[:, None])  # coefficient of x_k in y / sqrt(eta)
    np.testing.assert_allclose(eff.imag, 0.0, atol=1e-12)
    np.testing.assert_allclose(eff.real, pc.received, rtol=1e-10, atol=1e-12)
    mc_free = np.sum((eff.real - a) ** 2, axis=-1) + 0.1 / pc.eta
    np.testing.assert_allclose(mc_free, pc.mse, rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1e-4, 1e2), min_size=1, max_size=7),
    st.floats(1e-3, 10.0),
    st.floats(0.1, 10.0),
)
def test_optimal_dominates_other_peak_policies(gains, noise_var, power):
    g = np.array(gains)
    best = float(optimal_power(g, power=power, noise_var=noise_var).mse)
    for policy in (zero_forcing, full_power):
        assert best <= float(policy(g, power=power, noise_var=noise_var).mse) * (1 + 1e-12) + 1e-15
    for eta in (1e-3, 0.1, 1.0, 10.0):
        assert best <= float(mse_at_eta(eta, g, power=power, noise_var=noise_var)) + 1e-12


# ----------------------------------------------------------------- truncated inversion

def test_truncated_inversion_single_realization():
    g = np.array([1.0, 0.6, 0.3, 0.1])
    pc = truncated_inversion(g, power=1.0, noise_var=0.01, gain_threshold=0.2, constraint="peak")
    rho0 = 1.0 * 0.2  # peak: the worst admitted channel is g_th
    assert pc.eta == pytest.approx(rho0)
    np.testing.assert_array_equal(pc.scheduled, [True, True, True, False])
    np.testing.assert_allclose(pc.power[:3], rho0 / g[:3])
    assert pc.mse == pytest.approx(1.0 + 0.01 / rho0)
    a = np.array([2.0, -1.0, 0.5, 3.0])
    pcw = truncated_inversion(g, power=1.0, noise_var=0.01, target=a, gain_threshold=0.2,
                              constraint="peak")
    rho_w = min(1.0 * 0.2 / a**2)
    assert pcw.eta == pytest.approx(rho_w)
    assert pcw.mse == pytest.approx(9.0 + 0.01 / rho_w)
    np.testing.assert_allclose(pcw.received[:3], a[:3])


def test_truncated_inversion_rayleigh_statistics():
    """Monte Carlo over 40,000 x 8 Rayleigh gains; tolerances are 5 standard errors."""
    rng = np.random.default_rng(10)
    k, n, g_th, p0, s2 = 8, 40_000, 0.3, 2.0, 0.05
    omega = np.linspace(0.5, 2.0, k)
    g = rng.exponential(omega, size=(n, k))
    pc = truncated_inversion(g, power=p0, noise_var=s2, gain_threshold=g_th, mean_gain=omega)
    n_trunc = np.sum(~pc.scheduled, axis=-1)
    expected_trunc = np.sum(1 - np.exp(-g_th / omega))
    assert abs(n_trunc.mean() - expected_trunc) < 5 * n_trunc.std() / np.sqrt(n)
    emse = float(expected_truncation_mse(g_th, power=p0, noise_var=s2, n_devices=k,
                                         mean_gain=omega))
    assert abs(pc.mse.mean() - emse) < 5 * pc.mse.std() / np.sqrt(n)
    # Average power: the binding device (smallest Omega / E1) uses P0 on average.
    ep = expected_truncation_power(g_th, power=p0, n_devices=k, mean_gain=omega)
    assert np.max(ep) == pytest.approx(p0, rel=1e-12)
    np.testing.assert_array_less(np.abs(pc.power.mean(0) - ep), 5 * pc.power.std(0) / np.sqrt(n))
    assert np.all(pc.power.mean(0) <= p0 + 5 * pc.power.std(0) / np.sqrt(n))
    assert pc.constraint == "average" and np.any(pc.power > p0)  # peak is NOT enforced


def test_truncated_inversion_unit_rayleigh_count_formula():
    # E[#truncated] = K (1 - e^{-g_th}) for unit-mean Rayleigh and unit targets.
    k, g_th = 10, 0.5
    emse = expected_truncation_mse(g_th, power=1.0, noise_var=1e-30, n_devices=k)
    assert float(emse) == pytest.approx(k * (1 - np.exp(-g_th)), rel=1e-9)


def test_optimal_truncation_threshold_matches_grid():
    # Closed form, average power, K unit devices: d/dg [K (1 - e^-g) + s2 E1(g) / P] = 0
    # gives K e^-g = s2 e^-g / (g P), i.e. g_th* = s2 / (K P).
    for s2, k, p0 in ((0.01, 10, 1.0), (0.5, 4, 2.0), (2.0, 30, 0.5)):
        th = optimal_truncation_threshold(power=p0, noise_var=s2, n_devices=k)
        assert th == pytest.approx(s2 / (k * p0), rel=1e-6)
    for constraint in ("average", "peak"):
        for s2 in (0.01, 0.3):
            kw = dict(power=1.0, noise_var=s2, n_devices=10, constraint=constraint)
            th = optimal_truncation_threshold(**kw)
            grid = np.geomspace(1e-4, 10, 2001)
            vals = np.array([float(expected_truncation_mse(t, **kw)) for t in grid])
            assert float(expected_truncation_mse(th, **kw)) <= vals.min() + 1e-12
            assert th == pytest.approx(grid[np.argmin(vals)], rel=1e-2)


def test_truncated_inversion_peak_holds_every_realization():
    rng = np.random.default_rng(11)
    g = rng.exponential(size=(20_000, 6))
    p = rng.uniform(0.5, 2.0, size=6)
    a = rng.normal(size=6)
    pc = truncated_inversion(g, power=p, noise_var=0.1, target=a, gain_threshold=0.1,
                             constraint="peak")
    assert pc.constraint == "peak"
    assert np.all(pc.power <= p * (1 + 1e-12))
    # Its expected power is the E1 formula with the peak-constraint rho0.
    ep = expected_truncation_power(0.1, power=p, target=a, constraint="peak")
    np.testing.assert_array_less(np.abs(pc.power.mean(0) - ep), 5 * pc.power.std(0) / 141.4)


# ----------------------------------------------------------------- threshold scheduling

def test_threshold_scheduling_limits():
    rng = np.random.default_rng(12)
    g = rng.exponential(size=(100, 5))
    a = rng.normal(size=(100, 5))
    all_ = threshold_scheduling(g, power=1.0, noise_var=0.1, target=a, keep=5)
    np.testing.assert_allclose(all_.mse, zero_forcing(g, power=1.0, noise_var=0.1, target=a).mse)
    none = threshold_scheduling(g, power=1.0, noise_var=0.1, target=a, keep=0)
    np.testing.assert_allclose(none.mse, np.sum(a**2, -1))
    opt = threshold_scheduling(g, power=1.0, noise_var=0.1, target=a, gain_threshold=0.0,
                               inner="optimal_power")
    np.testing.assert_allclose(opt.mse, optimal_power(g, power=1.0, noise_var=0.1, target=a).mse)
    thr = threshold_scheduling(g, power=1.0, noise_var=0.1, target=a, gain_threshold=0.5)
    assert np.all(thr.scheduled == ((g >= 0.5) & (a != 0)))


def test_keep_best_m_is_the_best_subset_of_size_m():
    """Unit targets, zero forcing: keeping the m strongest beats every other m-subset."""
    rng = np.random.default_rng(13)
    k = 5
    g = rng.exponential(size=(40, k))
    for m in range(1, k + 1):
        kept = threshold_scheduling(g, power=1.0, noise_var=0.2, keep=m).mse
        brute = np.full(len(g), np.inf)
        for subset in itertools.combinations(range(k), m):
            mask = np.zeros(k, bool)
            mask[list(subset)] = True
            val = (k - m) + 0.2 / g[:, mask].min(axis=-1)
            brute = np.minimum(brute, val)
        np.testing.assert_allclose(kept, brute, rtol=1e-12)


def test_scheduling_frontier():
    rng = np.random.default_rng(14)
    g = rng.exponential(size=(3000, 8))
    fr = scheduling_frontier(g, power=1.0, noise_var=0.3)
    assert fr.parameter.tolist() == list(range(9))
    np.testing.assert_allclose(fr.n_scheduled, np.arange(9))
    # Each point equals the direct call.
    for m in (0, 3, 8):
        direct = threshold_scheduling(g, power=1.0, noise_var=0.3, keep=m).mse
        np.testing.assert_allclose(fr.mse_per_draw[:, m], direct)
        assert fr.mse[m] == pytest.approx(direct.mean())
    # Pareto mask by definition (brute force), and full participation is on it.
    n, e = fr.n_scheduled, fr.mse
    for i in range(9):
        dominated = any((n[j] >= n[i] and e[j] <= e[i]) and (n[j] > n[i] or e[j] < e[i])
                        for j in range(9))
        assert fr.pareto[i] == (not dominated)
    assert fr.pareto[8] and fr.pareto[fr.best]
    th = scheduling_frontier(g, power=1.0, noise_var=0.3, gain_thresholds=[0.0, 0.1, 1.0],
                             inner="optimal_power")
    assert th.n_scheduled[0] == 8 and th.n_scheduled[2] < th.n_scheduled[1]
    assert th.mse[0] == pytest.approx(optimal_power(g, power=1.0, noise_var=0.3).mse.mean())


# ---------------------------------------------------------------- contract, registry, misc

_PARAMS = {
    "truncated_inversion": [dict(gain_threshold=0.3), dict(gain_threshold=0.3,
                                                           constraint="peak")],
    "threshold_scheduling": [dict(keep=4), dict(gain_threshold=0.3, inner="optimal_power"),
                             dict(quality_threshold=0.5)],
}


@pytest.mark.parametrize(
    "name,params",
    [(n, p) for n in sorted(POLICIES) for p in _PARAMS.get(n, [{}])],
)
def test_conformance(name, params):
    check_power_control(make_power_control(name, **params), rng=0)


def _zf_without_empty_rows(gain2, *, power, noise_var, target=None):
    """Zero forcing whose all-zero target rows get a finite eta (and a noise-only MSE)."""
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner="test")
    eta = np.min(p * g / np.where(a != 0, a * a, 1.0), axis=-1)
    pw = np.minimum(np.where(a != 0, eta[..., None] * a * a / g, 0.0), p)
    return PowerControl(power=pw, eta=eta, mse=s2 / eta, target=a, gain2=g, noise_var=s2,
                        constraint="peak", policy="test")


def _zf_with_leaky_zeros(gain2, *, power, noise_var, target=None):
    """Zero forcing in which devices with a_k = 0 still bound eta (their gains leak)."""
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner="test")
    eta = np.min(p * g / np.where(a != 0, a * a, 1.0), axis=-1)
    eta = np.where(np.any(a != 0, axis=-1), eta, np.inf)
    with np.errstate(invalid="ignore"):
        pw = np.where(a != 0, eta[..., None] * a * a / g, 0.0)
    return PowerControl(power=pw, eta=eta, mse=s2 / eta, target=a, gain2=g, noise_var=s2,
                        constraint="peak", policy="test")


def _over_average_budget(gain2, *, power, noise_var, target=None):
    """Truncated inversion that spends twice its average budget."""
    return truncated_inversion(gain2, power=2.0 * np.asarray(power), noise_var=noise_var,
                               target=target, gain_threshold=0.3)


@pytest.mark.parametrize(
    "policy, tags, match",
    [
        (_zf_without_empty_rows, None, "a row with all targets 0 must have eta = inf"),
        (_zf_with_leaky_zeros, None, "changing the gain of a device with target 0 changed"),
        (_over_average_budget, None, r"average constraint E\[p_k\] <= P_k violated"),
        (make_power_control("truncated_inversion", gain_threshold=0.3),
         {"constraint": "peak-or-average", "schedules": False},
         "tagged schedules=False but silenced"),
        (make_power_control("truncated_inversion", gain_threshold=0.3),
         {"constraint": "peak", "schedules": True},
         "result constraint 'average' but the policy is tagged 'peak'"),
    ],
)
def test_conformance_rejects_broken_policies(policy, tags, match):
    # The suite has power: each of these breaks one rule the composition relies on.
    with pytest.raises(AssertionError, match=match):
        check_power_control(policy, tags=tags, rng=0)


def test_registry():
    entries = list_power_control()
    names = [e.name for e in entries]
    assert names == sorted(names)
    assert set(names) >= {"full_power", "zero_forcing", "optimal_power",
                          "truncated_inversion", "threshold_scheduling"}
    with pytest.raises(ValueError, match="Did you mean 'optimal_power'"):
        make_power_control("optimal_powr")
    with pytest.raises(ValueError, match="no parameter 'gain_treshold'; accepted: "
                                         "gain_threshold, constraint, mean_gain.*'gain_threshold'"):
        make_power_control("truncated_inversion", gain_treshold=0.1)
    with pytest.raises(ValueError, match="requires the parameter.*'gain_threshold'"):
        make_power_control("truncated_inversion")
    with pytest.raises(ValueError, match="pass 'power' when calling"):
        make_power_control("optimal_power", power=1.0)
    with pytest.raises(ValueError, match="has no parameter 'keep'; accepted: none"):
        make_power_control("optimal_power", keep=3)


def test_entries_carry_tags_and_parameters():
    entries = {e.name: e for e in list_power_control()}
    assert dict(entries["truncated_inversion"].tags) == {"constraint": "peak-or-average",
                                                         "schedules": True}
    assert dict(entries["threshold_scheduling"].tags) == {"constraint": "peak",
                                                          "schedules": True}
    for name in ("full_power", "zero_forcing", "optimal_power"):
        assert dict(entries[name].tags) == {"constraint": "peak", "schedules": False}
        assert entries[name].parameters == ()  # the call arguments are not parameters
    params = {p.name: p for p in entries["truncated_inversion"].parameters}
    assert list(params) == ["gain_threshold", "constraint", "mean_gain"]
    assert params["gain_threshold"].required and params["constraint"].default == "average"
    assert "Truncation threshold" in params["gain_threshold"].doc
    policy = make_power_control("threshold_scheduling", keep=2)
    assert policy.tags["schedules"] and policy.name == "threshold_scheduling"


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("threshold_scheduling", {}, "exactly one of 'keep'.*got none"),
        ("threshold_scheduling", {"keep": 2, "gain_threshold": 0.1},
         r"exactly one of 'keep'.*\['keep', 'gain_threshold'\]"),
        ("threshold_scheduling", {"keep": -1}, r"'keep'.*\[0, inf\); got -1"),
        ("threshold_scheduling", {"quality_threshold": -0.5}, r"'quality_threshold'.*got -0.5"),
        ("threshold_scheduling", {"keep": 1, "inner": "full"}, "'inner'"),
        ("truncated_inversion", {"gain_threshold": 0.0}, r"'gain_threshold'.*\(0, inf\)"),
        ("truncated_inversion", {"gain_threshold": 0.1, "constraint": "mean"}, "'constraint'"),
    ],
)
def test_policy_values_are_checked_when_bound(name, params, match):
    # A scenario's policy parameters fail before any computation, not mid-run.
    with pytest.raises(ValueError, match=match):
        make_power_control(name, **params)


def test_register_power_control_checks_tags_and_leaves_nothing_behind():
    with pytest.raises(ValueError, match="'constraint' tag.*got 'sometimes'"):
        register_power_control("bad", full_power, tags={"constraint": "sometimes"})
    with pytest.raises(ValueError, match=r"Unknown tag\(s\) \['family'\]"):
        register_power_control("bad", full_power, tags={"family": "x"})
    assert "bad" not in POLICIES
    with POLICIES.temporary("mine", full_power, tags={"schedules": False}):
        check_power_control(make_power_control("mine"))
    assert "mine" not in POLICIES


def test_user_policy_by_module_reference():
    policy = make_power_control("channels.power_control.zero_forcing:zero_forcing")
    pc = policy(EXAMPLE_G, power=1.0, noise_var=0.01)
    assert pc.mse == pytest.approx(0.1, rel=1e-12) and dict(policy.tags)["constraint"] == "peak"


def test_float32_and_broadcasting():
    rng = np.random.default_rng(15)
    g = rng.exponential(size=(4, 3, 6))
    pc64 = optimal_power(g, power=np.linspace(0.5, 1.5, 6), noise_var=np.array([0.1, 0.2, 0.3]))
    pc32 = optimal_power(g.astype(np.float32), power=np.float32(1.0),
                         noise_var=np.float32(0.1))
    assert pc64.power.shape == (4, 3, 6) and pc64.mse.shape == (4, 3)
    assert pc32.power.dtype == np.float32 and pc32.mse.dtype == np.float32
    ref = optimal_power(g, power=1.0, noise_var=0.1)
    np.testing.assert_allclose(pc32.mse, ref.mse, rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(gain2=[1.0, -0.1], power=1.0, noise_var=0.1), ValueError,
         r"'gain2' parameter of optimal_power .* \[0, inf\); got -0.1"),
        (dict(gain2=[1.0, np.nan], power=1.0, noise_var=0.1), ValueError,
         "'gain2' .* finite values; got nan"),
        (dict(gain2=[1.0, np.inf], power=1.0, noise_var=0.1), ValueError, "'gain2'.*finite"),
        (dict(gain2=[1.0 + 1j], power=1.0, noise_var=0.1), TypeError, "'gain2'.*real"),
        (dict(gain2=1.0, power=1.0, noise_var=0.1), ValueError, "'gain2'.*at least one dim"),
        (dict(gain2=[1.0], power=0.0, noise_var=0.1), ValueError, r"'power'.*\(0, inf\); got 0"),
        (dict(gain2=[1.0], power=1.0, noise_var=-1), ValueError, r"'noise_var'.*got -1"),
        (dict(gain2=[1.0, 2.0], power=[1.0, 1.0, 1.0], noise_var=0.1), ValueError,
         r"'power'.*broadcastable to gain2's shape \(2,\); got shape \(3,\)"),
        (dict(gain2=[[1.0, 2.0]], power=1.0, noise_var=[0.1, 0.2]), ValueError,
         r"'noise_var'.*batch shape \(1,\); got shape \(2,\)"),
        (dict(gain2=[1.0, 2.0], power=1.0, noise_var=0.1, target=[1.0, np.nan]), ValueError,
         "'target'.*finite"),
    ],
)
def test_invalid_input(kwargs, exc, match):
    g = kwargs.pop("gain2")
    with pytest.raises(exc, match=match):
        optimal_power(g, **kwargs)


def test_invalid_policy_parameters():
    with pytest.raises(ValueError, match=r"'gain_threshold' .*truncated_inversion.*\(0, inf"):
        truncated_inversion([1.0], power=1.0, noise_var=0.1, gain_threshold=0.0)
    with pytest.raises(ValueError, match="'constraint'.*'average', 'peak'; got 'mean'"):
        truncated_inversion([1.0], power=1.0, noise_var=0.1, gain_threshold=0.1,
                            constraint="mean")
    with pytest.raises(ValueError, match="'mean_gain'.*got -1"):
        truncated_inversion([1.0], power=1.0, noise_var=0.1, gain_threshold=0.1, mean_gain=-1)
    with pytest.raises(ValueError, match="exactly one of 'keep'"):
        threshold_scheduling([1.0], power=1.0, noise_var=0.1, keep=1, gain_threshold=0.1)
    with pytest.raises(ValueError, match=r"'keep'.*\[0, 2\]; got 3"):
        threshold_scheduling([1.0, 2.0], power=1.0, noise_var=0.1, keep=3)
    with pytest.raises(ValueError, match="'inner'.*Did you mean 'zero_forcing'"):
        threshold_scheduling([1.0], power=1.0, noise_var=0.1, keep=1, inner="zero_forcin")
    with pytest.raises(ValueError, match="'gain_thresholds'"):
        scheduling_frontier([1.0], power=1.0, noise_var=0.1, gain_thresholds=[-1.0])
    with pytest.raises(ValueError, match="exactly one of 'n_devices'"):
        expected_truncation_mse(0.1, power=1.0, noise_var=0.1)


def test_import_does_not_load_tensorflow():
    code = ("import sys, channels.power_control; "
            "assert 'tensorflow' not in sys.modules; assert 'aircomp_agc' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------- regularized inversion (average power)

def test_regularized_inversion_budgets_and_dominance():
    rng = np.random.default_rng(16)
    g = rng.exponential(size=(400, 6))
    p = rng.uniform(0.5, 2.0, size=6)
    a = rng.normal(size=6)
    pc = regularized_inversion(g, power=p, noise_var=0.1, target=a, rtol=1e-8)
    assert pc.constraint == "average" and pc.power.shape == (400, 6) and pc.eta.shape == (400,)
    avg = pc.power.mean(axis=0)
    assert np.all(avg <= p * (1 + 1e-7))
    # Each budget binds, or the device inverts exactly in every slot (slack budget).
    slack = np.max(pc.misalignment, axis=0) < 1e-12
    assert np.all(np.isclose(avg, p, rtol=1e-7) | slack)
    # Average power is a looser constraint than peak power P: never worse than optimal_power.
    static = optimal_power(g, power=p, noise_var=0.1, target=a)
    assert pc.mse.mean() < static.mse.mean()
    np.testing.assert_allclose(pc.mse, phase_aligned_mse(g, pc.power, pc.eta, 0.1, a),
                               rtol=1e-10)
    # Regularized-inversion structure: sqrt(p) = |a| sqrt(eta g) / (g + lambda_k eta), so
    # lambda_k = (|a| sqrt(eta g / p) - g) / eta is the same in every slot.
    lam = (np.abs(a) * np.sqrt(pc.eta[:, None] * g / pc.power) - g) / pc.eta[:, None]
    np.testing.assert_allclose(lam, np.broadcast_to(np.median(lam, 0), lam.shape),
                               rtol=1e-6, atol=1e-9)
    flipped = regularized_inversion(g, power=p, noise_var=0.1, target=-a, rtol=1e-8)
    np.testing.assert_allclose(flipped.power, pc.power, rtol=1e-9)
    assert np.all(np.sign(flipped.amplitude) == -np.sign(a))


def test_regularized_inversion_against_brute_force():
    """N = 3 fading states, K = 2 devices: SLSQP over powers and per-slot eta, 6 starts."""
    rng = np.random.default_rng(17)
    worst = 0.0
    n, k = 3, 2
    for _ in range(6):
        g = rng.exponential(size=(n, k))
        p = rng.uniform(0.5, 2.0, size=k)
        a = rng.uniform(0.5, 1.5, size=k)
        s2 = 10 ** rng.uniform(-2, 0)
        pc = regularized_inversion(g, power=p, noise_var=s2, target=a, rtol=1e-10)

        def f(x, g=g, a=a, s2=s2):
            s, t = x[: n * k].reshape(n, k), x[n * k:]
            return np.mean(np.sum((s * np.sqrt(g) * t[:, None] - a) ** 2, -1) + s2 * t**2)

        cons = [{"type": "ineq", "fun": lambda x, j=j, p=p: p[j] - np.mean(
            x[: n * k].reshape(n, k)[:, j] ** 2)} for j in range(k)]
        best = np.inf
        for _ in range(6):
            x0 = np.concatenate([rng.uniform(0, 1, n * k), rng.uniform(0.2, 3, n)])
            res = minimize(f, x0, method="SLSQP", constraints=cons,
                           bounds=[(0, None)] * (n * k + n),
                           options={"ftol": 1e-14, "maxiter": 1000})
            if res.success and all(c["fun"](res.x) > -1e-9 for c in cons):
                best = min(best, res.fun)
        ours = float(pc.mse.mean())
        assert ours <= best + 1e-7
        worst = max(worst, best - ours)
    assert worst < 1e-5


def test_regularized_inversion_errors():
    with pytest.raises(ValueError, match=r"'gain2' .*\[\.\.\., N, K\]"):
        regularized_inversion([1.0, 2.0], power=1.0, noise_var=0.1)
    rng = np.random.default_rng(18)
    with pytest.raises(RuntimeError, match="did not converge in max_iter=1"):
        regularized_inversion(rng.exponential(size=(50, 3)), power=1.0, noise_var=0.1,
                              max_iter=1)
