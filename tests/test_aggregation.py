"""Coded over-the-air aggregation: exact error parts, expectations, re-decoding, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from aircomp_agc.aggregation import CodedAirComp, GradientModel, encode, normalize
from aircomp_agc.coding import decoding_vectors, make_code, make_stragglers
from channels import ChannelModel
from channels.power_control import make_power_control


class IndependentSubcarriers(ChannelModel):
    """Rayleigh fading, independent over 4 subcarriers (a test model with an extra axis)."""

    extra_axes = ("subcarrier",)

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        shape = (*self.shape(batch, n_devices, n_rx_ant, n_rounds), 4)
        z = rng.standard_normal((*shape, 2)) * np.sqrt(0.5)
        return (z[..., 0] + 1j * z[..., 1]).astype(self.dtype)


def _gradients(k=30, dim=64, ratio=0.5, seed=1):
    return GradientModel.from_ratio(ratio, energy=float(dim), dim=dim).sample(k, rng=seed)


@pytest.fixture(scope="module")
def code():
    return make_code("bgc", n=30, row_weight=4, rng=0)


def _agg(code, **kw):
    base = dict(code=code, channel="rayleigh", power_control="optimal_power", power=1.0,
                noise_var=0.1, stragglers=make_stragglers("fixed", s=5), threshold=0.2)
    base.update(kw)
    return CodedAirComp(**base)


def test_round_shapes_and_parts_add_up_exactly(code):
    G = _gradients()
    res = _agg(code).round(G, batch=64, rng=0)
    assert res.estimate.shape == res.exact.shape == (64, 64)
    assert res.responders.shape == res.decoder_weights.shape == res.power.shape == (64, 30)
    assert res.eta.shape == (64,)
    total = sum(res.error_parts.values())
    np.testing.assert_allclose(total, res.error, atol=1e-12 * np.abs(res.exact).max())
    energies = res.part_energies
    np.testing.assert_allclose(sum(energies.values()), res.squared_error, rtol=1e-10)
    np.testing.assert_allclose(res.exact, np.broadcast_to(G.sum(0), (64, 64)))


def test_messages_path_equals_partition_coefficients(code):
    G = _gradients()
    agg = _agg(code, csi_error_var=0.05, phase_max=0.4)
    plan = agg.round(G, batch=32, rng=3).plan
    a = agg.apply(plan, G, rng=9)
    b = agg.apply(plan, G, via="messages", rng=9)
    np.testing.assert_allclose(a.estimate, b.estimate, atol=1e-10)
    # The misalignment part is sum_i (r_i - a_i s_i) x_i computed from the messages.
    x, s = normalize(encode(code, G))
    delta = plan.received - plan.decoder_weights * s
    np.testing.assert_allclose(a.error_parts["misalignment"], delta @ x, atol=1e-10)


def test_decoder_weights_are_those_of_the_transmitting_devices(code):
    G = _gradients()
    agg = _agg(code, power_control=make_power_control("truncated_inversion", gain_threshold=0.5),
               threshold=0.0)
    res = agg.round(G, batch=200, rng=4)
    plan = res.plan
    assert not np.any(res.decoder_weights[~res.responders])
    assert np.all(res.responders <= (plan.compute_responders & plan.scheduled))
    # Truncated inversion silences devices the decoder first counted on: decoded again.
    assert plan.n_decodes >= 2
    expected = decoding_vectors(code, res.responders, method="lstsq")
    np.testing.assert_allclose(res.decoder_weights, expected, atol=1e-9)


def test_power_budget_is_honoured_and_truncation_applies(code):
    G = _gradients()
    power = np.linspace(0.5, 2.0, 30)
    res = _agg(code, power=power, threshold=0.3).round(G, batch=300, rng=5)
    assert np.all(res.power <= power * (1 + 1e-12))
    assert not np.any(res.responders & (res.gain2 < 0.3))


def test_ideal_channel_and_no_stragglers_recovers_the_sum():
    code = make_code("uncoded", n=10)
    G = _gradients(k=10)
    agg = CodedAirComp(code=code, channel="awgn", power_control="zero_forcing", noise_var=1e-12)
    res = agg.round(G, batch=4, rng=0)
    np.testing.assert_allclose(res.estimate, res.exact, atol=1e-4)
    assert np.allclose(res.scale, 1.0, atol=1e-6) and np.allclose(res.cosine, 1.0, atol=1e-9)


def test_coding_part_is_the_coding_layer_error(code):
    G = _gradients()
    res = _agg(code, noise_var=1e-9, threshold=0.0).round(G, batch=50, rng=6)
    c = (code.B.T @ res.decoder_weights.T).T
    np.testing.assert_allclose(res.error_parts["coding"], (c - 1.0) @ G, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"decoder": "one-step", "power_control": "zero_forcing", "threshold": 0.1},
        {"csi_error_var": 0.1, "phase_max": 0.6},
        {"n_rx_ant": 4, "beamformer": "eigen", "channel": "rician"},
        {"channel": IndependentSubcarriers(), "threshold": 0.1},
    ],
    ids=["optimal", "one-step-zf", "impairments", "4-antennas", "subcarriers"],
)
def test_expected_mse_agrees_with_monte_carlo_of_round(code, kwargs):
    """The Gram-matrix expectation (noise in closed form) and the Monte-Carlo mean of
    ``round`` estimate the same quantity: their 99.9% intervals overlap."""
    G = _gradients(dim=40)
    agg = _agg(code, **kwargs)
    exp = agg.expected_mse(G, n_draws=3000, rng=1)
    mc = agg.round(G, batch=3000, rng=2).squared_error
    se = np.sqrt(exp.total.std_err**2 + mc.var(ddof=1) / mc.size)
    assert abs(exp.mean - mc.mean()) < 3.3 * se, (exp.mean, mc.mean(), se)
    parts = exp.part_means()
    assert abs(sum(parts.values()) - exp.mean) < 1e-9 * exp.mean


def test_noise_follows_the_real_gradient_convention():
    """In-phase noise: E||n||^2 = D sigma^2 / (2 eta) (half the complex noise)."""
    code = make_code("uncoded", n=8)
    G = _gradients(k=8, dim=500)
    agg = CodedAirComp(code=code, channel="rayleigh", power_control="zero_forcing", noise_var=0.3)
    res = agg.round(G, batch=400, rng=8)
    predicted = G.shape[1] * 0.3 / (2 * res.eta)
    ratio = np.sum(res.error_parts["noise"] ** 2, -1) / predicted
    # chi-square with 500 degrees of freedom / 500 per row, averaged over 400 rows
    assert abs(ratio.mean() - 1.0) < 4 * np.sqrt(2 / 500 / 400)


def test_isotropic_model_coding_part_is_the_source_texts_normalized_error(code):
    model = GradientModel(0.0, 1.0, dim=10)
    agg = _agg(code, noise_var=1e-12, power_control="zero_forcing", threshold=0.0)
    exp = agg.expected_mse(model, n_draws=400, rng=3)
    plan = agg.plan(np.ones(30), batch=400, rng=np.random.default_rng(3).spawn(1)[0])
    direct = np.sum((plan.coding_coefficients - 1) ** 2, -1)  # ||c - 1||^2 = k err(T)
    assert exp.parts["coding"].ci_low <= direct.mean() * 1.2
    np.testing.assert_allclose(exp.parts["coding"].mean / 30, direct.mean() / 30, rtol=0.2)


def test_correlated_messages_make_the_independent_symbol_formula_wrong(code):
    """Misalignment energy delta^T X X^T delta vs the channel layer's D sum delta_i^2."""
    G = _gradients(ratio=0.05)  # strongly shared mean gradient
    res = _agg(code, noise_var=2.0).round(G, batch=200, rng=7)
    x, s = normalize(encode(code, G))
    delta = res.plan.received - res.decoder_weights * s
    true = np.sum((delta @ x) ** 2, -1)
    naive = G.shape[1] * np.sum(delta**2, -1)
    np.testing.assert_allclose(true, res.part_energies["misalignment"], rtol=1e-9)
    assert np.mean(true / np.maximum(naive, 1e-300)) > 2.0


def test_gradient_model_fit_recovers_its_moments():
    model = GradientModel(3.0, 2.0, dim=4000)
    fitted = GradientModel.fit(model.sample(200, rng=0))
    assert abs(fitted.mean_energy - 3.0) < 0.15 and abs(fitted.heterogeneity - 2.0) < 0.05
    assert GradientModel.from_ratio(0.25, energy=8.0).heterogeneity == pytest.approx(2.0)


def test_seeded_rounds_are_reproducible(code):
    G = _gradients()
    agg = _agg(code)
    a, b = agg.round(G, batch=8, rng=11), agg.round(G, batch=8, rng=11)
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert not np.array_equal(a.estimate, agg.round(G, batch=8, rng=12).estimate)


def test_batched_gradients(code):
    G = np.stack([_gradients(seed=s) for s in range(3)])
    res = _agg(code).round(G, rng=0)
    assert res.estimate.shape == (3, 64)
    np.testing.assert_allclose(res.exact, G.sum(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": -0.1}, "'threshold' parameter"),
        ({"noise_var": None}, "Exactly one of the 'noise_var' and 'snr_db'"),
        ({"snr_db": 10.0}, "Exactly one of"),
        ({"power": -1.0}, "'power' parameter"),
        ({"power_control": "optimal_powr"}, "Did you mean 'optimal_power'"),
        ({"n_devices": 20}, "has 30 workers but n_devices=20"),
    ],
)
def test_bad_configuration_is_one_line_error(code, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _agg(code, **kwargs)


def test_bad_gradients_are_one_line_errors(code):
    agg = _agg(code)
    with pytest.raises(ValueError, match=r"\[30, D\]"):
        agg.round(np.ones((29, 5)), rng=0)
    bad = np.ones((30, 5))
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="must be finite; got nan at index \\[3, 2\\]"):
        agg.round(bad, rng=0)


@pytest.mark.parametrize("dim", [1, 511, 512, 1300])
def test_coded_rms_equals_the_rms_of_the_encoded_messages(dim):
    from aircomp_agc.aggregation import coded_rms, encode, message_rms

    code = make_code("bgc", n=20, row_weight=3, rng=0)
    G = np.random.default_rng(dim).standard_normal((20, dim))
    np.testing.assert_allclose(coded_rms(code, G), message_rms(encode(code, G)), rtol=1e-12)
    batched = np.stack([G, 2 * G])
    np.testing.assert_allclose(coded_rms(code, batched), message_rms(encode(code, batched)))
    np.testing.assert_allclose(coded_rms(code, G.astype(np.float32)),
                               message_rms(encode(code, G)), rtol=1e-5)
