"""Correlation-aware and joint policies: never worse than the standard pipeline (oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from aircomp_agc.aggregation import CodedAirComp, GradientModel
from aircomp_agc.coding import make_code, make_stragglers


def _setup(ratio=0.2, dim=50, n=30, seed=0):
    code = make_code("bgc", n=n, row_weight=4, rng=seed)
    G = GradientModel.from_ratio(ratio, energy=float(dim), dim=dim).sample(n, rng=seed + 1)
    return code, G


def _agg(code, policy, **kw):
    base = dict(code=code, channel="rayleigh", power_control=policy, power=1.0, snr_db=10.0,
                stragglers=make_stragglers("bernoulli", p=0.1))
    base.update(kw)
    return CodedAirComp(**base)


@pytest.mark.parametrize("ratio", [0.05, 0.5, 1.0])
def test_joint_with_oracle_gram_is_never_worse_than_standard(ratio):
    code, G = _setup(ratio)
    std = _agg(code, "optimal_power").expected_mse(G, n_draws=300, batch_size=300, rng=4)
    joint = _agg(code, "joint")
    plan_std = _agg(code, "optimal_power").plan(
        np.ones(30), batch=1, rng=0)  # warm the code path
    del plan_std
    from aircomp_agc.aggregation import encode, normalize

    _, s = normalize(encode(code, G))
    S = G @ G.T
    p_std = _agg(code, "optimal_power").plan(s, batch=300, second_moments=S, dim=50, rng=7)
    p_joint = joint.plan(s, batch=300, second_moments=S, dim=50, rng=7)
    from aircomp_agc.aggregation import conditional_error

    e_std = conditional_error(p_std.coding_coefficients, p_std.coefficients,
                              p_std.noise_std**2 * 50, S)["total"]
    e_joint = conditional_error(p_joint.coding_coefficients, p_joint.coefficients,
                                p_joint.noise_std**2 * 50, S)["total"]
    assert np.all(e_joint <= e_std * (1 + 1e-7) + 1e-9), np.max(e_joint - e_std)
    assert e_joint.mean() < e_std.mean()
    assert std.mean > 0


def test_joint_power_respects_budget_and_responders():
    code, G = _setup(0.3)
    res = _agg(code, "joint", threshold=0.1).round(G, batch=100, rng=2)
    assert np.all(res.power <= 1.0 + 1e-12)
    plan = res.plan
    assert np.all(res.responders <= (plan.compute_responders & plan.scheduled))
    total = sum(res.error_parts.values())
    np.testing.assert_allclose(total, res.error, atol=1e-9 * np.abs(res.exact).max())


def test_correlation_aware_keeps_decoder_weights_and_beats_independent_symbol_power():
    code, G = _setup(0.1)
    S = G @ G.T
    from aircomp_agc.aggregation import conditional_error, encode, normalize

    _, s = normalize(encode(code, G))
    p_std = _agg(code, "optimal_power").plan(s, batch=200, second_moments=S, dim=50, rng=3)
    p_ca = _agg(code, "correlation-aware").plan(s, batch=200, second_moments=S, dim=50, rng=3)
    mis_std = conditional_error(p_std.coding_coefficients, p_std.coefficients,
                                p_std.noise_std**2 * 50, S)
    mis_ca = conditional_error(p_ca.coding_coefficients, p_ca.coefficients,
                               p_ca.noise_std**2 * 50, S)
    true_std = mis_std["misalignment"] + mis_std["noise"]
    true_ca = mis_ca["misalignment"] + mis_ca["noise"]
    assert np.all(true_ca <= true_std * (1 + 1e-7) + 1e-9)


def test_model_policy_needs_only_two_numbers():
    code, G = _setup(0.2)
    model = GradientModel.fit(G)
    agg = _agg(code, "joint", gradient_model=model)
    exp_model = agg.expected_mse(G, n_draws=200, rng=5)
    exp_std = _agg(code, "optimal_power").expected_mse(G, n_draws=200, rng=5)
    assert exp_model.mean < exp_std.mean


def test_joint_without_second_moments_is_a_clear_error():
    code, _ = _setup()
    agg = _agg(code, "joint")
    with pytest.raises(ValueError, match="second moments"):
        agg.plan(np.ones(30), batch=2, rng=0)


def test_online_gradient_model_tracks_mean_energy_and_heterogeneity():
    from aircomp_agc.aggregation import OnlineGradientModel

    code, G = _setup(0.3, dim=400)
    from aircomp_agc.aggregation import encode, normalize

    _, s = normalize(encode(code, G))
    online = OnlineGradientModel()
    online.observe(G.sum(0)[None], 30)  # a perfect previous aggregate
    model = online.model(code, s[None], 400)
    truth = GradientModel.fit(G)
    assert abs(float(model.mean_energy[0]) - truth.mean_energy) < 0.05 * truth.mean_energy
    assert abs(float(model.heterogeneity[0]) - truth.heterogeneity) < 0.15 * truth.heterogeneity


def test_training_with_the_online_joint_policy_lowers_the_aggregation_error():
    from aircomp_agc.aggregation import OnlineGradientModel
    from aircomp_agc.learning import make_problem, train

    prob = make_problem("logistic", n_partitions=12, rng=0, reg=0.1)
    code = make_code("bgc", n=12, row_weight=3, rng=0)
    runs = {}
    for name, kw in {"standard": ("optimal_power", {}),
                     "online": ("joint", {"gradient_model": OnlineGradientModel()})}.items():
        agg = _agg(code, kw[0], **kw[1])
        runs[name] = train(prob, agg, rounds=12, reps=3, rng=1).aggregation_error
    assert runs["online"].mean() < 0.5 * runs["standard"].mean()
