"""The built-in experiments: checked against closed forms and brute force, never against
their own formulas; every model parameter reachable from a scenario; bad points rejected
before any computation."""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from aircomp_agc.coding import decoding_errors, make_code
from aircomp_agc.engine.run import check_points, run_scenario
from aircomp_agc.engine.runner import ExperimentError
from aircomp_agc.engine.scenario import parse_scenario
from aircomp_agc.experiments import get_experiment

EULER_GAMMA = 0.5772156649015329
ROOT = Path(__file__).resolve().parents[1]


def _all_straggler_sets(n: int, s: int) -> np.ndarray:
    """Every responder mask with exactly ``s`` stragglers: bool [C(n, s), n]."""
    masks = np.ones((math.comb(n, s), n), dtype=bool)
    for row, stragglers in enumerate(itertools.combinations(range(n), s)):
        masks[row, list(stragglers)] = False
    return masks


def _exact_mean_error(code, n: int, s: int) -> float:
    """E[err] under s uniformly random stragglers by enumerating every straggler set."""
    return float(decoding_errors(code, _all_straggler_sets(n, s), method="lstsq").mean())


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(x.size))


# ------------------------------------------------------------------------- decoding-error


def test_decoding_error_agrees_with_brute_force_enumeration():
    n, s, d = 12, 6, 3
    exact = _exact_mean_error(make_code("approx-frc", n=n, row_weight=d), n, s)
    out = get_experiment("decoding-error")(
        rng=np.random.default_rng(0), n_trials=400, code="approx-frc", n=n, s=s, row_weight=d,
        sets_per_code=10,
    )
    assert out["closed_form"] == pytest.approx(exact, abs=1e-12)  # the code's tag
    assert abs(out["err"].mean() - exact) < 4.5 * _se(out["err"])  # 4.5 standard errors
    assert np.all(out["storage"] == 3.0) and out["uncoded_error"] == pytest.approx(0.5)


def test_decoding_error_of_a_randomized_code_draws_one_code_per_trial():
    # bgc, n = 10, s = 3: the exact E[err] of one code is an average over its 120 sets; a
    # fresh code per trial makes the experiment estimate the mean over codes, which brute
    # force over 200 codes pins down to about 1%.
    n, s, w = 10, 3, 2
    codes = [make_code("bgc", n=n, row_weight=w, rng=seed) for seed in range(200)]
    exact = np.mean([_exact_mean_error(c, n, s) for c in codes])
    out = get_experiment("decoding-error")(
        rng=np.random.default_rng(1), n_trials=300, code="bgc", n=n, s=s, row_weight=w,
        sets_per_code=20,
    )
    assert abs(out["err"].mean() - exact) < 4.5 * _se(out["err"]) + 0.01 * exact
    assert np.all(out["storage"] == w)


def test_decoding_error_signed_sparse_sits_at_the_uncoded_floor():
    # The source text's code: E[err] = s/n whatever the row weight (measured, see README).
    out = get_experiment("decoding-error")(
        rng=np.random.default_rng(1), n_trials=60, code="signed-sparse", n=40, s=10,
        row_weight=12, sets_per_code=5,
    )
    assert abs(out["err"].mean() - 0.25) < 4.5 * _se(out["err"]) + 0.01


def test_decoding_error_uses_only_the_generator_it_is_given():
    fn = get_experiment("decoding-error")
    kw = dict(n_trials=5, code="bgc", n=20, s=4, row_weight=3, sets_per_code=3)
    a = fn(rng=np.random.default_rng(5), **kw)
    b = fn(rng=np.random.default_rng(5), **kw)
    c = fn(rng=np.random.default_rng(6), **kw)
    assert np.array_equal(a["err"], b["err"]) and not np.array_equal(a["err"], c["err"])


def test_code_and_straggler_tables_reach_their_own_parameters():
    # sgc needs its own p; Bernoulli(p) stragglers. Every partition sits on d distinct
    # workers; with r responders (uniform given r) the one-step decoder's coefficient of a
    # partition is n X / (d r), X ~ Hypergeometric(n, r, d), so
    #   E[err | r] = (n/(d r))^2 Var X = (n - r)(n - d) / (d r (n - 1)),   r ~ Bin(n, 1 - p).
    from scipy.stats import binom

    fn = get_experiment("decoding-error")
    n, p, d = 40, 0.2, 4
    r = np.arange(1, n + 1)
    exact = float(binom.pmf(r, n, 1 - p) @ ((n - r) * (n - d) / (d * r * (n - 1))))
    out = fn(rng=np.random.default_rng(3), n_trials=300, code={"name": "sgc", "p": p}, n=n,
             s=8, row_weight=d, stragglers={"name": "bernoulli", "p": p}, method="one-step",
             sets_per_code=20)
    assert abs(out["err"].mean() - exact) < 4.5 * _se(out["err"])
    assert out["uncoded_error"] == pytest.approx(p)


def test_a_row_weight_the_code_ignores_is_reported_and_never_a_duplicate_row(tmp_path):
    fn = get_experiment("decoding-error")
    found = check_points(fn, [{"code": "crc", "n": 12, "s": 3, "row_weight": 4}])
    assert found == {"UserWarning: experiment 'decoding-error': code 'crc' ignores row_weight "
                     "(its storage is set by 's').": 1}
    scenario = parse_scenario("""
[scenario]
name = "dup"
experiment = "decoding-error"
seed = 1
[params]
n = 12
s = 3
[sweep.axes]
code = ["bgc", "crc"]
row_weight = [2, 3]
[trials]
n = 2
""")
    with pytest.raises(ExperimentError, match=r'"code":"crc".*"code":"crc".*would compute the '
                       r"same thing: they differ only in 'row_weight'"):
        run_scenario(scenario, results_dir=tmp_path, executor="serial")
    assert not (tmp_path / "dup").exists()


# ------------------------------------------------------------------------- aircomp-mse


def test_zero_forcing_over_awgn_is_exactly_the_noise_over_the_power():
    # |h| = 1 for every device: eta = P, MSE = sigma^2 / eta = 10^(-SNR/10).
    out = get_experiment("aircomp-mse")(
        rng=np.random.default_rng(2), n_trials=5, channel="awgn", policy="zero_forcing",
        n_devices=7, snr_db=13.0, power=2.0,
    )
    np.testing.assert_allclose(out["mse"], 10 ** (-1.3), rtol=1e-12)
    np.testing.assert_allclose(out["rx_snr_db"], 13.0, rtol=1e-12)
    assert np.all(out["scheduled"] == 1.0)


def test_zero_forcing_under_rayleigh_matches_the_minimum_of_exponentials():
    # MSE = sigma^2 / (P min_k |h_k|^2) and min_k |h_k|^2 ~ Exp(K), so
    # E[10 log10 MSE] = -SNR_dB + (10 / ln 10) (gamma + ln K)   (E ln Exp(K) = -gamma - ln K).
    k, snr = 20, 10.0
    out = get_experiment("aircomp-mse")(
        rng=np.random.default_rng(3), n_trials=4000, policy="zero_forcing", n_devices=k,
        snr_db=snr,
    )
    expected = -snr + 10 / math.log(10) * (EULER_GAMMA + math.log(k))
    assert abs(out["mse_db"].mean() - expected) < 4.5 * _se(out["mse_db"])


@pytest.mark.parametrize("channel", ["rayleigh", {"name": "rician", "k_factor": 4.0}])
@pytest.mark.parametrize("policy", [
    "full_power", "zero_forcing", {"name": "truncated_inversion", "gain_threshold": 0.1},
    {"name": "threshold_scheduling", "keep": 6}, "optimal_power"])
def test_aircomp_mse_closed_form_agrees_with_its_monte_carlo_check(channel, policy):
    out = get_experiment("aircomp-mse")(
        rng=np.random.default_rng(2), n_trials=300, policy=policy, channel=channel,
        n_devices=8, snr_db=5.0, monte_carlo_check=True,
    )
    np.testing.assert_allclose(out["mse_mc_db"], 10 * np.log10(out["mse_mc"]))
    # The check draws realizations of its own (no shared random numbers): per trial the
    # two differ by the fading, so the means agree within their standard errors only.
    assert not np.allclose(out["mse_mc"], out["mse"], rtol=0.2)
    # (E[mse] is infinite for zero forcing under Rayleigh fading: its dB mean only.)
    pairs = [("mse_db", "mse_mc_db")]
    if not (policy == "zero_forcing" and channel == "rayleigh"):
        pairs.append(("mse", "mse_mc"))
    for closed, mc in pairs:
        se = math.hypot(_se(out[closed]), _se(out[mc]))
        assert abs(out[mc].mean() - out[closed].mean()) < 4.5 * se, (closed, mc)


def test_rician_k_factor_is_reachable_and_a_strong_line_of_sight_is_awgn():
    fn = get_experiment("aircomp-mse")
    kw = dict(rng=np.random.default_rng(4), n_trials=200, policy="zero_forcing", n_devices=5,
              snr_db=10.0)
    strong = fn(channel={"name": "rician", "k_factor": 1e6}, **kw)
    # |h|^2 -> 1 as K -> inf: zero forcing's MSE -> sigma^2 / P = 0.1 (within 0.1%).
    np.testing.assert_allclose(strong["mse"], 0.1, rtol=1e-2)
    weak = fn(channel={"name": "rician", "k_factor": 0.0}, **kw)
    assert weak["mse_db"].mean() > strong["mse_db"].mean() + 5  # deep fades without LoS


def test_gauss_markov_large_scale_and_link_budget_are_reachable():
    fn = get_experiment("aircomp-mse")
    out = fn(rng=np.random.default_rng(5), n_trials=20, channel={"name": "gauss-markov",
             "rho": 0.9}, snr_db=10.0)
    assert out["mse"].shape == (20,)
    # Path loss 60 dB at 10 m, exponent 3.5, devices at 10-100 m; 23 dBm over 1 MHz with a
    # 7 dB noise figure (-107 dBm): received SNR at 10 m = 23 - 60 + 107 = 70 dB.
    channel = {"name": "awgn", "large_scale": {
        "drop": {"r_min_m": 10.0, "r_max_m": 10.000001},
        "path_loss": {"exponent": 3.5, "ref_distance_m": 10.0, "ref_loss_db": 60.0}}}
    out = fn(rng=np.random.default_rng(6), n_trials=3, channel=channel, policy="zero_forcing",
             noise={"bandwidth_hz": 1e6, "noise_figure_db": 7.0}, power_dbm=23.0)
    np.testing.assert_allclose(out["rx_snr_db"], 70.0, atol=1e-3)
    np.testing.assert_allclose(out["mse_db"], -70.0, atol=1e-3)  # zero forcing: sigma^2/eta


def test_a_transmit_snr_is_refused_where_gains_include_path_loss_without_a_reference():
    fn = get_experiment("aircomp-mse")
    channel = {"name": "rayleigh", "large_scale": {
        "drop": {"r_min_m": 10, "r_max_m": 50}, "path_loss": {"ref_distance_m": 10}}}
    with pytest.raises(ExperimentError, match=r"'snr_db'.*means nothing for channel 'rayleigh'"
                       r".*path loss \(large_scale.path_loss\).*Give a link budget"):
        check_points(fn, [{"channel": channel, "snr_db": 10.0}])
    check_points(fn, [{"channel": channel, "noise": {"bandwidth_hz": 1e6}, "power_dbm": 20.0}])
    with pytest.raises(ExperimentError, match="needs the transmit power in the same unit"):
        check_points(fn, [{"channel": channel, "noise": {"bandwidth_hz": 1e6}}])


@pytest.mark.sionna
def test_with_3gpp_path_loss_snr_db_is_the_received_snr_at_the_cell_edge():
    # sionna-3gpp defines its reference gain (mean large-scale gain at the cell edge):
    # every dB of snr_db is a dB of received SNR for every device, and at 10 dB the sum is
    # far from the MSE = K of a signal lost in noise.
    fn = get_experiment("aircomp-mse")
    kw = dict(n_trials=10, channel="sionna-3gpp", n_devices=8, policy="optimal_power")
    low = fn(rng=np.random.default_rng(1), snr_db=0.0, **kw)
    high = fn(rng=np.random.default_rng(1), snr_db=10.0, **kw)
    np.testing.assert_allclose(high["rx_snr_db"] - low["rx_snr_db"], 10.0, atol=1e-9)
    assert np.all(high["mse_per_device"] < 0.5)


def test_every_device_drowned_in_noise_is_warned_about():
    channel = {"name": "rayleigh", "large_scale": {
        "drop": {"r_min_m": 500, "r_max_m": 1000},
        "path_loss": {"exponent": 3.7, "ref_distance_m": 1, "ref_loss_db": 30}}}
    from channels.received_snr import LowReceivedSNRWarning

    with pytest.warns(LowReceivedSNRWarning, match="below -10 dB for every device"):
        out = get_experiment("aircomp-mse")(
            rng=np.random.default_rng(7), n_trials=10, channel=channel, n_devices=4,
            noise={"bandwidth_hz": 20e6, "noise_figure_db": 9.0}, power_dbm=0.0)
    assert np.all(out["rx_snr_db"] < -10)


def test_threshold_scheduling_needs_its_rule_before_anything_runs(tmp_path):
    fn = get_experiment("aircomp-mse")
    with pytest.raises(ExperimentError, match="threshold_scheduling needs exactly one of 'keep'"):
        check_points(fn, [{"policy": "threshold_scheduling", "snr_db": 0.0}])
    out = fn(rng=np.random.default_rng(8), n_trials=10, n_devices=10, snr_db=10.0,
             policy={"name": "threshold_scheduling", "keep": 7})
    np.testing.assert_allclose(out["scheduled"], 0.7)
    with pytest.raises(ExperimentError, match="'optimal_power' has no parameter 'keep'"):
        check_points(fn, [{"policy": {"name": "optimal_power", "keep": 3}, "snr_db": 0.0}])


@pytest.mark.sionna
def test_subcarriers_are_summed_separately_not_mistaken_for_antennas():
    # sionna-tdl appends a subcarrier axis: each subcarrier is one over-the-air sum.
    out = get_experiment("aircomp-mse")(
        rng=np.random.default_rng(9), n_trials=4, policy="zero_forcing", n_devices=3,
        snr_db=20.0, channel={"name": "sionna-tdl", "n_subcarriers": 8},
    )
    assert out["mse"].shape == (4,) and np.all(np.isfinite(out["mse"]))
    assert out["scheduled"].shape == (4,) and out["rx_snr_db"].shape == (4,)


# ------------------------------------------------------------------------- storage-frontier


def test_storage_frontier_agrees_with_brute_force_enumeration():
    n, s, eps = 12, 6, 0.05
    exact = {w: _exact_mean_error(make_code("approx-frc", n=n, row_weight=w), n, s)
             for w in range(1, n + 1)}
    smallest = min(make_code("approx-frc", n=n, row_weight=w).storage
                   for w, e in exact.items() if e <= eps)
    assert smallest == 4  # exact errors 0.0909 at 3 and 0.0303 at 4: far from eps
    out = get_experiment("storage-frontier")(
        rng=np.random.default_rng(3), n_trials=600, family="approx-frc", n=n, s=s, epsilon=eps,
        batch_size=50,
    )
    assert out["storage"] == smallest
    assert out["exact"] == s + 1 and out["source_text"] == pytest.approx(n / ((n - s) * eps))


def test_storage_frontier_families_by_tags_and_tables():
    fn = get_experiment("storage-frontier")
    base = {"n": 50, "s": 10, "epsilon": 0.1}
    with pytest.raises(ExperimentError, match="The code 'sgc' requires the parameter.*'p'"):
        check_points(fn, [{**base, "family": "sgc"}])
    check_points(fn, [{**base, "family": {"name": "sgc", "p": 0.2}}])
    with pytest.raises(ExperimentError, match="'crc' has family='exact'"):
        check_points(fn, [{**base, "family": "crc"}])
    with pytest.raises(ExperimentError, match=r"'epsilon'.*\(0, 1\); got 1.0"):
        check_points(fn, [{**base, "family": "bgc", "epsilon": 1.0}])
    # Too few trials for a randomized family: said before computing, naming [trials].
    with pytest.raises(ExperimentError, match=r"\[trials\] n, or a batch of it: 10.*fresh "
                       r"code every batch_size = 50"):
        check_points(fn, [{**base, "family": "bgc"}], n_trials=10)
    check_points(fn, [{**base, "family": "approx-frc"}], n_trials=10)  # deterministic: fine


# ------------------------------------------------------------------------- rejected points


@pytest.mark.parametrize(
    ("params", "codes", "message"),
    [
        ("n = 0\ns = 6", '["bgc"]', "'n' parameter"),
        ("n = 24\ns = 200", '["bgc"]', "'s' parameter"),
        ("n = 24\ns = 6", '["bgcc"]', "Did you mean 'bgc'"),
        ("n = 24\ns = 6\nsets_per_code = 0", '["bgc"]', "'sets_per_code'"),
        ("n = 25\ns = 6", '["graph"]', "row_weight"),  # graph codes need n*d even
        ("n = 24\ns = 6", '[{ name = "sgc" }]', "requires the parameter.*'p'"),
        ("n = 24\ns = 6", '[{ name = "sgc", p = 0.1, q = 1 }]', "has no parameter 'q'"),
    ],
)
def test_bad_points_are_rejected_before_any_computation(tmp_path, params, codes, message):
    scenario = parse_scenario(f"""
[scenario]
name = "bad"
experiment = "decoding-error"
seed = 1
[params]
{params}
[sweep.axes]
code = {codes}
row_weight = [2, 3]
[trials]
n = 4
""")
    with pytest.raises(ExperimentError, match=message):
        run_scenario(scenario, results_dir=tmp_path, executor="serial")
    assert not (tmp_path / "bad").exists()  # nothing created, nothing overwritten


def test_check_points_names_the_point():
    fn = get_experiment("aircomp-mse")
    with pytest.raises(ExperimentError, match=r'Point \{.*"power":-1.*\(0, inf\)'):
        check_points(fn, [{"power": -1.0, "snr_db": 0.0}])
    with pytest.raises(ExperimentError, match="exactly one of 'snr_db'.*and 'noise'"):
        check_points(fn, [{}])


SCENARIO = """
[scenario]
name = "reach"
experiment = "aircomp-mse"
seed = 3
[params]
n_devices = 6
snr_db = 10.0
{params}
[sweep.axes]
{axes}
[trials]
n = 20
[figure]
x = "{x}"
y = ["mse_db"]
"""


@pytest.mark.parametrize(
    ("params", "axes", "x"),
    [
        ('channel = { name = "rician" }', '"channel.k_factor" = [0.0, 4.0]', "channel.k_factor"),
        ('channel = { name = "gauss-markov", rho = 0.5 }', "n_devices = [2, 4]", "n_devices"),
        ("", 'policy = [{ name = "threshold_scheduling", keep = 3 }, "optimal_power"]',
         "policy"),
    ],
)
def test_scenarios_reach_every_model_parameter(tmp_path, params, axes, x):
    text = SCENARIO.format(params=params, axes=axes, x=x)
    if "n_devices = [" in axes:
        text = text.replace("n_devices = 6\n", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_scenario(parse_scenario(text), results_dir=tmp_path, executor="serial")
    assert result.computed == 2 and result.header[0] == x and not result.warnings


@pytest.mark.parametrize(
    ("imports", "channel"),
    [
        ('imports = ["examples.my_channel"]', '{ name = "weibull", shape = 3.0 }'),
        ("", '{ name = "examples.my_channel:WeibullChannel", shape = 3.0 }'),
    ],
)
def test_a_users_channel_model_runs_from_a_scenario_in_worker_processes(
        tmp_path, monkeypatch, imports, channel):
    from channels import CHANNELS

    monkeypatch.chdir(ROOT)  # examples/ is found from the working directory
    registered = "weibull" in CHANNELS
    text = f"""
[scenario]
name = "mine"
experiment = "aircomp-mse"
seed = 2
{imports}
[params]
channel = {channel}
policy = "zero_forcing"
n_devices = 4
[sweep.axes]
snr_db = [0.0, 10.0]
[trials]
n = 50
"""
    try:
        result = run_scenario(parse_scenario(text), results_dir=tmp_path, executor="processes",
                              workers=2)
    finally:
        if "weibull" in CHANNELS and not registered:
            CHANNELS.unregister("weibull")  # leave no registration behind
    assert result.computed == 2
    assert result.header[:2] == ["snr_db", "mse_mean"]
    assert all(np.isfinite(row[1]) for row in result.rows)
