"""The figure experiments (threshold-scheduling, cell-aggregation, digital-vs-analog,
topk-coding, codesign) against closed forms and independent computations; their shipped
scenarios load; bad parameters are refused before any computation in one line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from aircomp_agc.engine.run import check_points
from aircomp_agc.engine.runner import ExperimentError
from aircomp_agc.engine.scenario import load_scenario
from aircomp_agc.experiments import get_experiment
from channels import make_channel
from channels.power_control import scheduling_frontier

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("threshold-scheduling", "codesign", "codesign-gain", "umi-cell", "topk-coding",
             "digital-vs-analog")


def _within(samples: np.ndarray, value: float, k: float = 4.5) -> bool:
    """The sample mean is within ``k`` standard errors of ``value``."""
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    return abs(samples.mean() - value) <= k * se


# ------------------------------------------------------------------ threshold-scheduling


def _inverse_order_statistic_mean(k: int, r: int) -> float:
    """``E[1 / X_(r)]`` for the ``r``-th smallest of ``k`` i.i.d. Exp(1), ``r >= 2``.

    ``f_(r)(x) = C (1 - e^-x)^(r-1) e^-(k-r+1)x``; expanding the binomial and using
    Frullani's integral, ``E[1/X_(r)] = C sum_j C(r-1, j) (-1)^(j+1) ln(k - r + 1 + j)``.
    """
    c = math.factorial(k) / (math.factorial(r - 1) * math.factorial(k - r))
    return c * sum(math.comb(r - 1, j) * (-1) ** (j + 1) * math.log(k - r + 1 + j)
                   for j in range(r))


def test_threshold_scheduling_matches_the_order_statistics_of_rayleigh_gains():
    # Zero forcing on the m strongest of K: MSE = (K - m) + sigma^2 / (P g_(m)), g_(m) the
    # m-th largest gain, i.e. the (K - m + 1)-th smallest of K exponentials.
    k, m, snr_db = 20, 12, 10.0
    fn = get_experiment("threshold-scheduling")
    out = fn(rng=np.random.default_rng(3), n_trials=20000, n_devices=k, snr_db=snr_db, keep=m)
    sigma2 = 10.0 ** (-snr_db / 10.0)
    expected = sigma2 * _inverse_order_statistic_mean(k, k - m + 1)
    assert np.all(out["misses"] == k - m) and np.all(out["n_scheduled"] == m)
    assert _within(out["inner_mse"], expected)
    assert np.allclose(out["mse"], out["inner_mse"] + (k - m))


def test_threshold_scheduling_endpoints_and_the_frontier_on_the_same_draws():
    k, trials, snr_db = 8, 500, 5.0
    fn = get_experiment("threshold-scheduling")
    runs = {m: fn(rng=np.random.default_rng(7), n_trials=trials, n_devices=k, snr_db=snr_db,
                  keep=m) for m in range(k + 1)}
    # keep = 0: every device missed, MSE = K exactly; keep = K: zero forcing over everyone.
    assert np.all(runs[0]["mse"] == k) and np.all(runs[0]["n_scheduled"] == 0)
    assert np.array_equal(runs[k]["mse_db"], runs[k]["all_devices_db"])
    # The same draws through scheduling_frontier (the keep = 0..K sweep of the channel layer).
    h = make_channel("rayleigh").draw(trials, k, rng=np.random.default_rng(7)).h
    gain2 = np.abs(np.asarray(h)[:, 0, :]) ** 2
    front = scheduling_frontier(gain2, power=1.0, noise_var=10.0 ** (-snr_db / 10.0))
    for m in range(k + 1):
        assert np.allclose(runs[m]["mse"], front.mse_per_draw[:, m], rtol=1e-12)
    best = front.best
    assert np.all(front.pareto[best:]) and not np.any(front.pareto[:best])


# --------------------------------------------------------------------- digital-vs-analog


def test_digital_latency_is_the_sum_of_the_slots_at_shannon_rate():
    # No stragglers, Rayleigh |h|^2 ~ Exp(1), truncation t: every device above t sends
    # D b + 64 bits at log2(1 + rho |h|^2), so E[uses] = n (D b + 64) int_t^inf e^-x / log2(1
    # + rho x) dx.
    n, dim, bits, t, snr_db = 6, 200, 4, 0.1, 10.0
    rho = 10.0 ** (snr_db / 10.0)
    tail, _ = integrate.quad(lambda x: math.exp(-x) / math.log2(1.0 + rho * x), t, np.inf)
    expected = n * (dim * bits + 64) * tail
    out = get_experiment("digital-vs-analog")(
        rng=np.random.default_rng(1), n_trials=20000, scheme={"name": "digital", "bits": bits},
        n=n, code="approx-frc", row_weight=2, stragglers="none", snr_db=snr_db, threshold=t,
        dim=dim)
    assert _within(out["channel_uses"], expected)
    assert np.allclose(out["latency_ratio"], out["channel_uses"] / dim)
    assert _within(out["transmitting"], n * math.exp(-t))


def test_analog_round_costs_d_channel_uses_and_a_deadline_bounds_digital_latency():
    fn = get_experiment("digital-vs-analog")
    kw = dict(n=10, code="bgc", row_weight=3, p=0.1, dim=300)
    analog = fn(rng=np.random.default_rng(2), n_trials=200, scheme="analog", **kw)
    assert np.all(analog["channel_uses"] == 300) and np.all(analog["latency_ratio"] == 1)
    assert np.allclose(analog["error"], analog["coding"] + analog["channel_error"])
    late = fn(rng=np.random.default_rng(2), n_trials=200,
              scheme={"name": "digital", "bits": 4, "deadline_factor": 2.0}, **kw)
    free = fn(rng=np.random.default_rng(2), n_trials=200, scheme={"name": "digital", "bits": 4},
              **kw)
    assert np.all(late["channel_uses"] <= 2.0 * 300 + 1e-9)
    assert late["transmitting"].mean() < free["transmitting"].mean()
    # Fine quantization: the digital error is the decoding error alone (to 16-bit rounding).
    fine = fn(rng=np.random.default_rng(2), n_trials=200, scheme={"name": "digital", "bits": 16},
              **kw)
    assert np.all(fine["channel_error"] <= 1e-7 * np.maximum(fine["error"], 1e-3))


# ---------------------------------------------------------------------------- topk-coding

TOPK = dict(problem="logistic", n=8, code="approx-frc", row_weight=2, p=0.1, iterate=3,
            snr_db=15.0)


@pytest.mark.parametrize("transport", ["analog", "digital"])
def test_topk_with_every_coordinate_is_the_inner_aggregator(transport):
    out = get_experiment("topk-coding")(rng=np.random.default_rng(4), n_trials=100,
                                        transport=transport, fraction=1.0, **TOPK)
    assert np.array_equal(out["error"], out["dense_error"])
    assert np.all(out["sparsification"] == 0) and np.all(out["uplink_ratio"] == 1)
    assert out["keep"] == out["dim"] == 31  # breast-cancer: 30 features and a bias


def test_topk_uplink_accounting():
    fn = get_experiment("topk-coding")
    analog = fn(rng=np.random.default_rng(5), n_trials=50, transport="analog", fraction=0.1,
                **TOPK)
    assert analog["keep"] == 3 and np.allclose(analog["uplink_ratio"], 3 / 31)
    assert np.allclose(analog["uplink_reduction"], 31 / 3)
    digital = fn(rng=np.random.default_rng(5), n_trials=50, transport="digital", fraction=0.1,
                 bits=8, **TOPK)
    # K (b + ceil(log2 D)) + 64 bits per device instead of D b + 64, at the same rates.
    assert np.allclose(digital["uplink_ratio"], (3 * (8 + 5) + 64) / (31 * 8 + 64))
    assert np.all(digital["sparsification"] > 0) and np.all(digital["cosine"] <= 1 + 1e-12)


# -------------------------------------------------------------------------------- codesign


def test_codesign_on_awgn_with_zero_forcing_matches_the_closed_form():
    # AWGN, no stragglers, approx-frc (no coding error), zero forcing: every device sends
    # its group sum at full power, a_i = 1/w, eta = P w^2 / s^2 with s^2 = (m2 w^2 + v w) / D,
    # so the normalized error is sigma^2 (m2 + v / w) / (2 P (m2 n^2 + v n)). The joint
    # design takes the largest row weight, the coding layer alone the least storage (w = 1).
    n, dim, het, snr_db = 6, 50, 0.4, 5.0
    out = get_experiment("codesign")(
        rng=np.random.default_rng(6), n_trials=20, n=n, snr_db=snr_db, stragglers="none",
        heterogeneity=het, dim=dim, channel="awgn", codes=["approx-frc"], row_weights=[1, 2, 3],
        thresholds=[0.0], policies=["zero_forcing"], search_draws=10)
    m2, v, sigma2 = (1 - het) * dim, het * dim, 10.0 ** (-snr_db / 10.0)

    def error(w):
        return sigma2 * (m2 + v / w) / (2.0 * (m2 * n * n + v * n))

    assert out["joint_row_weight"] == 3 and out["per_layer_row_weight"] == 1
    assert np.allclose(out["joint"], error(3), rtol=1e-10)
    assert np.allclose(out["per_layer"], error(1), rtol=1e-10)
    assert out["ratio"] == pytest.approx(error(1) / error(3), rel=1e-10)
    assert out["search_ratio"] == pytest.approx(out["ratio"], rel=1e-10)


def test_codesign_ratio_is_at_least_one_on_fresh_draws():
    out = get_experiment("codesign")(
        rng=np.random.default_rng(8), n_trials=400, n=12, snr_db=5.0, p=0.15,
        codes=["approx-frc", "bgc"], row_weights=[1, 2, 3], thresholds=[0.0, 0.1, 0.3],
        search_draws=200)
    assert out["search_ratio"] >= 1.0  # exact: both choices are points of the same grid
    gap = out["gap"]
    assert gap.mean() >= -4.5 * gap.std(ddof=1) / math.sqrt(gap.size)
    assert out["ratio"] >= 1.0 - 4.5 * gap.std(ddof=1) / math.sqrt(gap.size) / out["joint"].mean()
    assert out["joint_storage"] <= 3 and out["grid_points"] == 2 * 3 * 3


# ------------------------------------------------------------------------ cell-aggregation


@pytest.mark.sionna
def test_cell_link_budget_and_a_threshold_above_every_device():
    from channels.noise import watt_to_dbm

    fn = get_experiment("cell-aggregation")
    out = fn(rng=np.random.default_rng(9), n_trials=4, n_devices=4, code="approx-frc",
             row_weight=2, bandwidth_hz=20e6, noise_figure_db=7.0, power_dbm=20.0,
             min_snr_db=300.0)
    noise_dbm = -174.0 + 10.0 * math.log10(20e6) + 7.0
    assert out["noise_dbm"] == pytest.approx(noise_dbm, abs=1e-9)
    ref = make_channel("sionna-3gpp", scenario="umi").reference_gain
    assert out["edge_snr_db"] == pytest.approx(20.0 + 10 * math.log10(ref) - noise_dbm, abs=1e-9)
    assert float(watt_to_dbm(1e-3)) == pytest.approx(0.0)
    # Nobody is received 300 dB above the noise: nobody transmits, the estimate is 0.
    assert np.all(out["transmitting"] == 0)
    assert np.allclose(out["error"], 1.0) and np.allclose(out["uncoded_error"], 1.0)


# ------------------------------------------------------------------ scenarios, bad input


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenarios_load_and_their_points_pass_the_checks(name):
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    fn = get_experiment(scenario.experiment)
    points = list(scenario.points())
    check_points(fn, points)
    assert scenario.figure is not None and len(points) >= 4


@pytest.mark.parametrize(
    ("experiment", "params", "message"),
    [
        ("threshold-scheduling", {}, "exactly one of 'keep'"),
        ("threshold-scheduling", {"keep": 30}, r"'keep' parameter .* \[0, 20\]; got 30"),
        ("threshold-scheduling", {"keep": 3, "inner": "full"}, "'inner' parameter"),
        ("threshold-scheduling", {"keep": 3, "channel": {
            "name": "rayleigh", "large_scale": {"drop": {"r_min_m": 10, "r_max_m": 250},
                                                "path_loss": {"exponent": 3.5}}}},
         "'snr_db' .* no reference gain"),
        ("threshold-scheduling", {"keep": 3, "channel": {"name": "sionna-tdl",
                                                         "n_subcarriers": 4}},
         "must be flat"),
        ("digital-vs-analog", {"scheme": "hybrid"}, "'scheme' parameter .* 'analog', 'digital'"),
        ("digital-vs-analog", {"scheme": {"name": "digital", "bitz": 4}}, "takes bits"),
        ("digital-vs-analog", {"scheme": {"name": "digital", "bits": 0}}, "'scheme.bits'"),
        ("digital-vs-analog", {"p": 1.0}, "'p' parameter"),
        ("digital-vs-analog", {"stragglers": "sometimes"}, "'stragglers' parameter"),
        ("topk-coding", {"fraction": 0.0}, "'fraction' parameter"),
        ("topk-coding", {"transport": "smoke"}, "'transport' parameter"),
        ("topk-coding", {"partition": "random"}, "'partition' parameter"),
        ("topk-coding", {"iterate": 0}, "'iterate' parameter"),
        ("codesign", {"row_weights": []}, "'row_weights' parameter .* non-empty"),
        ("codesign", {"thresholds": [-0.1]}, "'thresholds' parameter"),
        ("codesign", {"policies": ["max_power"]}, "max_power"),
        ("codesign", {"codes": ["bgcc"]}, "bgcc"),
        ("codesign", {"storage_budget": 0.5}, "'storage_budget' parameter"),
        ("codesign", {"row_weights": [3, 4], "storage_budget": 2}, "least storage is 3"),
        ("cell-aggregation", {"power_dbm": float("nan")}, "'power_dbm' parameter"),
        ("cell-aggregation", {"n_devices": 1}, "'n_devices' parameter"),
        ("cell-aggregation", {"bandwidth_hz": -1.0}, "bandwidth_hz"),
        ("cell-aggregation", {"scenario": "umx"}, "'scenario' parameter"),
    ],
)
def test_bad_parameters_are_refused_in_one_line_before_computing(experiment, params, message):
    with pytest.raises(ExperimentError, match=message) as info:
        check_points(get_experiment(experiment), [params])
    assert "\n" not in str(info.value)


def test_checks_return_only_the_parameters_a_point_uses():
    # Points that differ only in an ignored parameter would be duplicate rows: refused.
    dva = get_experiment("digital-vs-analog")
    with pytest.raises(ExperimentError, match="same thing"):
        check_points(dva, [{"scheme": "digital", "policy": "zero_forcing"},
                           {"scheme": "digital", "policy": "optimal_power"}])
    check_points(dva, [{"scheme": "analog", "policy": "zero_forcing"},
                       {"scheme": "analog", "policy": "optimal_power"}])
    topk = get_experiment("topk-coding")
    with pytest.raises(ExperimentError, match="same thing"):
        check_points(topk, [{"transport": "analog", "bits": 4}, {"transport": "analog", "bits": 8}])
