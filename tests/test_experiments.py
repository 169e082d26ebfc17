"""The built-in experiments: right numbers on real inputs, bad points rejected up front."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from aircomp_agc.engine.run import check_points, run_scenario
from aircomp_agc.engine.runner import ExperimentError
from aircomp_agc.engine.scenario import parse_scenario
from aircomp_agc.experiments import get_experiment


def test_decoding_error_matches_the_approx_frc_closed_form():
    fn = get_experiment("decoding-error")
    out = fn(rng=np.random.default_rng(0), n_trials=400, code="approx-frc", n=24, s=12,
             row_weight=3, sets_per_code=10)
    exact = comb(12, 3) / comb(24, 3)  # 0.10870
    assert out["closed_form"] == pytest.approx(exact)
    err = out["err"]
    se = err.std(ddof=1) / np.sqrt(err.size)
    assert abs(err.mean() - exact) < 4.5 * se  # 4.5 standard errors
    assert out["storage"] == 3.0 and out["s_over_n"] == 0.5


def test_decoding_error_signed_sparse_sits_at_the_uncoded_floor():
    # The source text's code: E[err] = s/n whatever the row weight (measured, see README).
    fn = get_experiment("decoding-error")
    out = fn(rng=np.random.default_rng(1), n_trials=60, code="signed-sparse", n=40, s=10,
             row_weight=12, sets_per_code=5)
    se = out["err"].std(ddof=1) / np.sqrt(out["err"].size)
    assert abs(out["err"].mean() - 0.25) < 4.5 * se + 0.01


def test_aircomp_mse_closed_form_agrees_with_its_monte_carlo_check():
    fn = get_experiment("aircomp-mse")
    out = fn(rng=np.random.default_rng(2), n_trials=50, policy="optimal_power", n_devices=8,
             snr_db=5.0, monte_carlo_check=True)
    assert out["mse"].shape == (50,)
    # 200 simulated trials x 8 symbols per realization: relative sd of the MC mean ~ 5%;
    # averaged over 50 realizations the mean agrees within 3%.
    assert out["mse_mc"].mean() == pytest.approx(out["mse"].mean(), rel=0.03)
    assert np.allclose(out["mse_db"], 10 * np.log10(out["mse"]))


def test_storage_frontier_finds_the_closed_form_row_weight():
    # approx-frc, n = 24, s = 12: C(12,d)/C(24,d) <= 0.1 first at d = 4 (0.0365; d = 3: 0.109).
    fn = get_experiment("storage-frontier")
    out = fn(rng=np.random.default_rng(3), n_trials=600, family="approx-frc", n=24, s=12,
             epsilon=0.1, batch_size=50)
    assert out["storage"] == 4.0
    assert out["exact"] == 13.0 and out["source_text"] == pytest.approx(24 / (12 * 0.1))


@pytest.mark.parametrize(
    ("params", "codes", "message"),
    [
        ("n = 0\ns = 6", '["bgc"]', "'n' parameter"),
        ("n = 24\ns = 200", '["bgc"]', "'s' parameter"),
        ("n = 24\ns = 6", '["bgcc"]', "Did you mean 'bgc'"),
        ("n = 24\ns = 6\nsets_per_code = 0", '["bgc"]', "'sets_per_code'"),
        ("n = 25\ns = 6", '["graph"]', "row_weight"),  # graph codes need n*d even
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
        check_points(fn, [{"power": -1.0}])


def test_storage_frontier_rejects_families_needing_more_parameters():
    fn = get_experiment("storage-frontier")
    with pytest.raises(ExperimentError, match="'sgc' also requires 'p'"):
        check_points(fn, [{"family": "sgc", "n": 50, "s": 10, "epsilon": 0.1}])
