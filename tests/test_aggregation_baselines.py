"""Baselines and layers on coded aggregation: digital transport, top-K, stateful rounds,
and the aggregator conformance checks."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from scipy import special

from aircomp_agc._checks import mean_ci
from aircomp_agc.aggregation import CodedAirComp, GradientModel, encode
from aircomp_agc.aggregation.compress import CommonSupportTopK, PerDeviceTopK
from aircomp_agc.aggregation.digital import (
    DigitalAggregation,
    payload_bits,
    quantization_variance,
    stochastic_quantize,
)
from aircomp_agc.aggregation.stateful import StatefulAggregator
from aircomp_agc.aggregation.testing import ConformanceError, check_aggregator
from aircomp_agc.coding import StragglerModel, decoding_vectors, make_code, make_stragglers
from channels import ChannelModel, complex_normal, make_channel


def _gradients(k=12, dim=32, ratio=0.5, seed=1):
    return GradientModel.from_ratio(ratio, energy=float(dim), dim=dim).sample(k, rng=seed)


@pytest.fixture(scope="module")
def code():
    return make_code("bgc", n=12, row_weight=3, rng=0)


def _analog(code, **kw):
    base = dict(code=code, channel="rayleigh", noise_var=0.1,
                stragglers=make_stragglers("fixed", s=2), threshold=0.1)
    base.update(kw)
    return CodedAirComp(**base)


def _digital(code, **kw):
    base = dict(code=code, channel="rayleigh", noise_var=0.1,
                stragglers=make_stragglers("fixed", s=2), threshold=0.1, bits=8)
    base.update(kw)
    return DigitalAggregation(**base)


def _h(batch, n, seed, n_rx_ant=1):
    return complex_normal((batch, n_rx_ant, n), rng=seed)


# ----------------------------------------------------------------------------- quantizer
def test_stochastic_quantizer_is_unbiased_with_the_closed_form_variance():
    x = np.random.default_rng(3).standard_normal(40) * 3.0
    bits, draws = 3, 20_000
    q, lo, hi = stochastic_quantize(np.broadcast_to(x, (draws, 40)), bits, rng=4)
    # The range is side information: float32 numbers that contain every entry.
    assert lo[0] == np.float32(lo[0]) and hi[0] == np.float32(hi[0])
    assert lo[0] <= x.min() and hi[0] >= x.max()
    step = (hi[0] - lo[0]) / (2**bits - 1)
    np.testing.assert_allclose((q - lo[0]) / step, np.round((q - lo[0]) / step), atol=1e-9)
    p = (x - lo[0]) / step - np.floor((x - lo[0]) / step)
    var = step**2 * p * (1 - p)  # per entry, <= step^2 / 4
    assert np.all(var <= step**2 / 4 + 1e-15)
    # Tolerances from the exact law of the error step (B - p), B ~ Bernoulli(p): 4.5 SE.
    assert np.all(np.abs(q.mean(axis=0) - x) <= 4.5 * np.sqrt(var / draws) + 1e-12)
    fourth = step**4 * (p * (1 - p) ** 4 + (1 - p) * p**4)
    emp = ((q - x) ** 2).mean(axis=0)
    assert np.all(np.abs(emp - var) <= 4.5 * np.sqrt((fourth - var**2) / draws) + 1e-12)
    np.testing.assert_allclose(quantization_variance(x, bits), var.sum(), rtol=1e-12)
    assert quantization_variance(x, bits, bound=True) == pytest.approx(40 * step**2 / 4)


def test_quantizer_with_a_mask_sends_only_the_masked_entries():
    x = np.array([[5.0, -1.0, 0.5, 100.0]])
    mask = np.array([[True, True, True, False]])
    q, lo, hi = stochastic_quantize(x, 8, mask=mask, rng=0)
    assert q[0, 3] == 0.0 and lo[0] <= -1.0 and 5.0 <= hi[0] < 5.001
    assert quantization_variance(x, 8, mask=mask) <= quantization_variance(x[:, :3], 8) + 1e-15


def test_payload_bits():
    assert payload_bits(1000, 8) == 8064
    assert payload_bits(1000, 8, n_sent=1000) == 8064
    assert payload_bits(1000, 8, n_sent=10, side_bits=0) == 10 * (8 + 10)
    with pytest.raises(ValueError, match="'n_sent' parameter of payload_bits must be an int in "
                                         r"\[1, 1000\]; got 1001"):
        payload_bits(1000, 8, n_sent=1001)


# ----------------------------------------------------------------------------- digital
def test_digital_round_parts_rates_and_latency_accounting(code):
    G = _gradients()
    h = _h(64, 12, 5)
    agg = _digital(code, power=2.0, bandwidth_hz=1e6)
    res = agg.round(G, batch=64, h=h, rng=0)
    assert set(res.error_parts) == {"coding", "quantization"}
    np.testing.assert_allclose(sum(res.error_parts.values()), res.error, atol=1e-12)
    np.testing.assert_allclose(res.exact, np.broadcast_to(G.sum(0), (64, 32)))
    gain2 = np.abs(h[:, 0]) ** 2
    rate = np.log2(1.0 + 2.0 * gain2 / 0.1)
    np.testing.assert_allclose(res.plan.rate, rate, rtol=1e-12)
    resp = res.responders
    assert np.array_equal(resp, res.plan.compute_responders & (gain2 >= 0.1))
    slot = (32 * 8 + 64) / rate
    np.testing.assert_allclose(res.channel_uses, np.where(resp, slot, 0).sum(1), rtol=1e-12)
    np.testing.assert_allclose(res.energy, 2.0 * res.channel_uses, rtol=1e-12)
    np.testing.assert_allclose(res.plan.latency_s, res.channel_uses / 1e6)
    np.testing.assert_allclose(res.decoder_weights, decoding_vectors(code, resp), atol=1e-12)
    # The coding part is the coding layer's error (c - 1)^T G.
    c = res.plan.coding_coefficients
    np.testing.assert_allclose(res.error_parts["coding"], c @ G - G.sum(0), atol=1e-12)


def test_digital_responders_with_zero_weight_stay_silent():
    # FRC with the exact decoder keeps one replica per group: the spare replicas would
    # add nothing, so they neither transmit nor take a slot; the estimate is unchanged.
    frc = make_code("frc", n=12, s=2)
    G = _gradients()
    h = _h(64, 12, 7)
    agg = _digital(frc, decoder="exact", stragglers=None, threshold=0.0)
    res = agg.round(G, batch=64, h=h, rng=3)
    a = res.decoder_weights
    assert np.array_equal(res.responders, a != 0)
    assert (res.responders.sum(1) == 12 // 3).all()   # one replica of each of the 4 groups
    rate = np.log2(1.0 + np.abs(h[:, 0]) ** 2 / 0.1)
    slot = (32 * 8 + 64) / rate
    np.testing.assert_allclose(res.channel_uses, np.where(a != 0, slot, 0).sum(1), rtol=1e-12)
    np.testing.assert_allclose(res.plan.power, np.where(a != 0, 1.0, 0.0))
    np.testing.assert_allclose(res.exact, np.broadcast_to(G.sum(0), res.exact.shape))
    assert np.abs(res.error_parts["coding"]).max() < 1e-12   # still exact decoding


def test_digital_multi_antenna_rate_is_maximum_ratio_combining(code):
    h = _h(8, 12, 6, n_rx_ant=3)
    agg = _digital(code, n_rx_ant=3, stragglers=None, threshold=0.0)
    res = agg.round(_gradients(), batch=8, h=h, rng=0)
    np.testing.assert_allclose(res.plan.rate,
                               np.log2(1 + np.sum(np.abs(h) ** 2, axis=1) / 0.1), rtol=1e-12)


def test_digital_rate_over_subcarriers_is_their_mean(code):
    h = complex_normal((8, 1, 12, 4), rng=7)  # [batch, rx_ant, device, subcarrier]
    agg = _digital(code, stragglers=None, threshold=0.0)
    res = agg.round(_gradients(), batch=8, h=h, rng=0)
    rate = np.log2(1 + np.abs(h[:, 0]) ** 2 / 0.1).mean(axis=-1)
    np.testing.assert_allclose(res.plan.rate, rate, rtol=1e-12)
    np.testing.assert_allclose(res.channel_uses, ((32 * 8 + 64) / rate).sum(1), rtol=1e-12)


def test_quantization_part_matches_its_closed_form_by_monte_carlo(code):
    G = _gradients()
    batch = 3000
    h = np.broadcast_to(_h(1, 12, 7), (batch, 1, 12))
    agg = _digital(code, stragglers=None, threshold=0.0, bits=3)
    res = agg.round(G, batch=batch, h=h, rng=1)
    a = res.decoder_weights[0]
    assert np.all(res.decoder_weights == a)  # one responder set: one closed form
    closed = a**2 @ quantization_variance(encode(code, G), 3)
    bound = a**2 @ quantization_variance(encode(code, G), 3, bound=True)
    mc = mean_ci(np.sum(res.error_parts["quantization"] ** 2, axis=1))
    assert mc.contains(closed), (mc, closed)
    assert closed <= bound


def test_digital_expected_mse_agrees_with_monte_carlo_of_round(code):
    G = _gradients()
    agg = _digital(code, bits=2)
    exp = agg.expected_mse(G, n_draws=3000, rng=2)
    mc = mean_ci(agg.round(G, batch=3000, rng=3).squared_error)
    tol = 4.5 * np.hypot(exp.total.std_err, mc.std_err)
    assert abs(exp.mean - mc.mean) <= tol
    assert exp.mean == pytest.approx(sum(exp.part_means().values()))
    assert exp.info["channel_uses"].mean > 0


def test_deadline_makes_devices_that_do_not_fit_stragglers(code):
    G = _gradients()
    h = _h(200, 12, 8)
    full = _digital(code).round(G, batch=200, h=h, rng=0)
    deadline = 0.5 * float(np.median(full.channel_uses))
    res = _digital(code, deadline=deadline).round(G, batch=200, h=h, rng=0)
    assert np.all(res.channel_uses <= deadline * (1 + 1e-12))
    assert np.all(res.responders <= full.responders)
    assert res.responders.sum() < full.responders.sum()
    # Shortest slots first: every candidate left out has a longer slot than every one in,
    # and would not have fit; then a device the decoder gives weight 0 stays silent.
    slot = (32 * 8 + 64) / res.plan.rate
    candidates = res.plan.compute_responders & res.plan.scheduled
    fit = np.zeros_like(candidates)
    for b in range(200):
        used = 0.0
        for i in np.argsort(np.where(candidates[b], slot[b], np.inf), kind="stable"):
            if candidates[b, i] and used + slot[b, i] <= deadline:
                fit[b, i], used = True, used + slot[b, i]
            elif candidates[b, i]:
                break
    a = decoding_vectors(code, fit)
    assert np.array_equal(res.responders, fit & (a != 0))
    np.testing.assert_allclose(res.decoder_weights, a, atol=1e-12)
    assert (np.mean(np.sum(res.error_parts["coding"] ** 2, 1))
            > np.mean(np.sum(full.error_parts["coding"] ** 2, 1)))


def test_digital_against_analog_latency_and_error():
    """b = 8 bits at 10 dB: digital costs ~2.5 n D channel uses against D for the analog
    round and has the smaller error; b = 1 at 30 dB with 5 devices: digital is faster but
    its quantization error dwarfs the gradient."""
    dim, out = 200, {}
    for n in (10, 40):
        code = make_code("bgc", n=n, row_weight=3, rng=0)
        G = GradientModel.from_ratio(0.5, energy=float(dim), dim=dim).sample(n, rng=1)
        kw = dict(code=code, snr_db=10.0, stragglers=make_stragglers("fixed", s=n // 10),
                  threshold=0.1)
        dig = DigitalAggregation(bits=8, **kw).expected_mse(G, n_draws=400, rng=2)
        ana = CodedAirComp(**kw).expected_mse(G, n_draws=400, rng=2)
        out[n] = (dig.info["channel_uses"].mean / dim, dig.normalized, ana.normalized)
        assert dig.normalized < ana.normalized
        assert out[n][0] > 10  # latency in units of the analog round (D channel uses)
    assert 3.4 < out[40][0] / out[10][0] < 4.6  # TDMA latency grows linearly in n
    code = make_code("bgc", n=5, row_weight=3, rng=0)
    G = GradientModel.from_ratio(0.5, energy=float(dim), dim=dim).sample(5, rng=1)
    kw = dict(code=code, snr_db=30.0, stragglers=None, threshold=0.1)
    dig = DigitalAggregation(bits=1, **kw).expected_mse(G, n_draws=400, rng=2)
    ana = CodedAirComp(**kw).expected_mse(G, n_draws=400, rng=2)
    assert dig.info["channel_uses"].mean < dim
    assert dig.normalized > 10 * ana.normalized


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bits": 0}, r"'bits' parameter of DigitalAggregation must be an int in \[1, 32\]; "
                      "got 0"),
        ({"bits": 33}, "'bits' parameter"),
        ({"deadline": -1.0}, r"'deadline' parameter of DigitalAggregation must be a finite "
                             r"real number in \(0, inf\); got -1.0"),
        ({"deadline": 0.0}, "'deadline' parameter"),
        ({"side_bits": -1}, "'side_bits' parameter"),
        ({"bandwidth_hz": 0.0}, "'bandwidth_hz' parameter"),
        ({"threshold": -0.1}, "'threshold' parameter"),
        ({"power": [1.0, 2.0]}, "'power' parameter"),
        ({"snr_db": 10.0}, "Exactly one of the 'noise_var' and 'snr_db'"),
    ],
)
def test_digital_bad_configuration_is_one_line_error(code, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        _digital(code, **kwargs)
    assert "\n" not in str(err.value)


def test_digital_bad_inputs(code):
    agg = _digital(code)
    with pytest.raises(TypeError, match="'code' parameter of DigitalAggregation"):
        DigitalAggregation(code="bgc", noise_var=0.1)
    with pytest.raises(ValueError, match=r"\[12, D\]"):
        agg.round(np.ones((11, 4)), rng=0)
    bad = np.ones((12, 4))
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="must be finite; got inf"):
        agg.round(bad, rng=0)
    with pytest.raises(ValueError, match="'h' parameter must be a complex array"):
        agg.round(np.ones((12, 4)), batch=2, h=np.ones((2, 12)), rng=0)


# ----------------------------------------------------------------------------- top-K
def test_topk_with_k_equal_d_reproduces_the_inner_aggregator_exactly(code):
    G = _gradients()
    for inner, wrapper in ((_analog(code), CommonSupportTopK), (_digital(code), PerDeviceTopK)):
        wrapped = wrapper(inner, keep=32)
        for seed in (0, 1):  # the second round runs with the state of the first
            res, ref = wrapped.round(G, batch=16, rng=seed), inner.round(G, batch=16, rng=seed)
            np.testing.assert_array_equal(res.estimate, ref.estimate)
            np.testing.assert_array_equal(res.exact, ref.exact)
            np.testing.assert_array_equal(res.responders, ref.responders)
            np.testing.assert_array_equal(res.decoder_weights, ref.decoder_weights)
            for name, part in ref.error_parts.items():
                np.testing.assert_array_equal(res.error_parts[name], part)
            assert not np.any(res.error_parts["sparsification"])
            np.testing.assert_array_equal(res.channel_uses,
                                          np.broadcast_to(ref.channel_uses, (16,)))
            np.testing.assert_array_equal(res.uplink_ratio, 1.0)


def test_analog_topk_uplink_accounting_and_support(code):
    G = _gradients()
    wrapped = CommonSupportTopK(_analog(code), keep=8)
    first = wrapped.round(G, batch=4, rng=0)
    assert np.all(first.channel_uses == 32) and first.downlink_bits == 0  # first="full"
    second = wrapped.round(G, batch=4, rng=1)
    np.testing.assert_array_equal(second.channel_uses, 8.0)
    np.testing.assert_array_equal(second.uncompressed_channel_uses, 32.0)
    np.testing.assert_array_equal(second.uplink_ratio, 0.25)
    assert second.downlink_bits == 8 * 5
    assert second.inner.estimate.shape == (4, 8)
    # The support is the top-8 of the previous aggregate; the estimate is zero off it.
    top = np.argsort(-np.abs(first.estimate), axis=1)[:, :8]
    expected = np.zeros((4, 32), dtype=bool)
    np.put_along_axis(expected, top, True, axis=1)
    np.testing.assert_array_equal(second.sent, expected)
    assert not np.any(second.estimate[~second.sent])
    np.testing.assert_allclose(sum(second.error_parts.values()), second.error, atol=1e-12)
    # Nested supports (same previous aggregate): the dropped energy shrinks as K grows.
    dropped = []
    for keep in (2, 4, 8, 16, 32):
        w = CommonSupportTopK(_analog(code), keep=keep)
        w.round(G, batch=4, rng=0)
        dropped.append(np.sum(w.round(G, batch=4, rng=1).error_parts["sparsification"] ** 2))
    assert all(a >= b for a, b in zip(dropped, dropped[1:], strict=False)) and dropped[-1] == 0


def test_digital_topk_uplink_accounting(code):
    G = _gradients()
    inner = _digital(code, bits=6)
    res = PerDeviceTopK(inner, keep=4).round(G, batch=16, h=_h(16, 12, 9), rng=0)
    per_device = 4 * (6 + 5) + 64
    assert per_device == payload_bits(32, 6, n_sent=4)
    n_resp = res.responders.sum(1)
    np.testing.assert_array_equal(res.uplink_bits, n_resp * per_device)
    np.testing.assert_array_equal(res.uncompressed_bits, n_resp * (32 * 6 + 64))
    rate = res.inner.plan.rate
    np.testing.assert_allclose(res.channel_uses,
                               np.where(res.responders, per_device / rate, 0).sum(1), rtol=1e-12)
    np.testing.assert_allclose(res.uplink_ratio, per_device / (32 * 6 + 64), rtol=1e-12)
    # Each device sends its own top-4 entries.
    F = encode(code, G)
    top = np.argsort(-np.abs(F), axis=1)[:, :4]
    expected = np.zeros((12, 32), dtype=bool)
    np.put_along_axis(expected, top, True, axis=1)
    np.testing.assert_array_equal(res.sent, np.broadcast_to(expected, (16, 12, 32)))
    assert set(res.error_parts) == {"coding", "sparsification", "quantization"}
    np.testing.assert_allclose(sum(res.error_parts.values()), res.error, atol=1e-12)


def test_analog_error_feedback_accumulates_what_was_dropped(code):
    rng = np.random.default_rng(11)
    seq = [_gradients(seed=s) for s in range(5)]
    wrapped = CommonSupportTopK(_analog(code), keep=6, first="random", explore=0.5,
                                error_feedback=True)
    sent_total = 0.0
    for t, G in enumerate(seq):
        res = wrapped.round(G, batch=3, rng=int(rng.integers(1000)))
        if t == 0:  # the residual is what the first (random) support left out, exactly
            np.testing.assert_array_equal(wrapped.residual,
                                          np.where(res.sent[:, None, :], 0.0, G[None]))
        # What entered the air this round: the sent part of gradients + residual.
        sent = np.zeros((3, 32))
        sent[res.sent] = res.inner.exact.ravel()  # supports are sorted by coordinate
        sent_total = sent_total + sent
    # Nothing is lost: sent + residual = all gradients ever computed.
    np.testing.assert_allclose(sent_total + wrapped.residual.sum(axis=1),
                               np.broadcast_to(sum(G.sum(0) for G in seq), (3, 32)),
                               atol=1e-12)
    wrapped.reset()
    assert wrapped.residual is None


def test_digital_error_feedback_accumulates_what_was_dropped(code):
    seq = [_gradients(seed=s) for s in range(4)]
    inner = _digital(code, stragglers=None, threshold=0.0)  # every device transmits
    wrapped = PerDeviceTopK(inner, keep=5, error_feedback=True)
    sent_total, previous = 0.0, 0.0
    for t, G in enumerate(seq):
        res = wrapped.round(G, batch=2, rng=t)
        assert res.responders.all()
        m = np.broadcast_to(encode(code, G) + previous, (2, 12, 32))
        np.testing.assert_allclose(np.where(res.sent, m, 0.0) + wrapped.residual, m,
                                   atol=1e-12)
        previous = wrapped.residual
        sent_total = sent_total + np.where(res.sent, m, 0.0)
    np.testing.assert_allclose(sent_total + wrapped.residual,
                               np.broadcast_to(sum(encode(code, G) for G in seq), (2, 12, 32)),
                               atol=1e-12)


def test_error_feedback_without_exploration_warns(code):
    with pytest.warns(UserWarning, match="locks in"):
        CommonSupportTopK(_analog(code), keep=4, error_feedback=True)


def test_topk_passes_the_observed_aggregate_to_the_inner_receiver_state(code):
    # An online gradient model inside a compressed round learns from the previous
    # aggregate on the coordinates this round sends (what the inner aggregator sees).
    from aircomp_agc.aggregation import OnlineGradientModel
    from aircomp_agc.learning import make_problem, train

    G = _gradients()
    online = OnlineGradientModel()
    inner = _analog(code, power_control="joint-model", gradient_model=online)
    topk = CommonSupportTopK(inner, keep=8, explore=0.25)
    first = topk.round(G, batch=4, rng=0)
    assert online.mean_energy is None          # nothing observed yet
    topk.observe(first.estimate)
    second = topk.round(G, batch=4, rng=1)
    k = code.n_partitions
    expected = np.sum(np.where(second.sent, first.estimate, 0.0) ** 2, axis=1) / k**2
    np.testing.assert_allclose(online.mean_energy, expected, rtol=1e-12)
    # train() drives it: the inner state follows every round.
    prob = make_problem("ridge", n_partitions=code.n_partitions, rng=0)
    online.reset()
    topk.reset()
    hist = train(prob, topk, rounds=3, reps=2, rng=2)
    assert online.mean_energy is not None and online.mean_energy.shape == (2,)
    assert np.all(np.isfinite(hist.loss))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep": 0}, r"'keep' parameter of CommonSupportTopK must be an int in \[1, inf\)"),
        ({"keep": 4, "fraction": 0.5}, "Exactly one of the 'keep' and 'fraction'"),
        ({}, "Exactly one of the 'keep' and 'fraction'"),
        ({"fraction": 0.0}, "'fraction' parameter"),
        ({"fraction": 1.5}, "'fraction' parameter"),
        ({"keep": 4, "first": "top"}, "'first' parameter of CommonSupportTopK must be one of"),
        ({"keep": 4, "explore": -0.1}, "'explore' parameter"),
    ],
)
def test_topk_bad_configuration_is_one_line_error(code, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        CommonSupportTopK(_analog(code), **kwargs)
    assert "\n" not in str(err.value)


def test_topk_bad_round_inputs(code):
    G = _gradients()
    with pytest.raises(ValueError, match=r"'keep' parameter of CommonSupportTopK must be an "
                                         r"int in \[1, D=32\]; got 40"):
        CommonSupportTopK(_analog(code), keep=40).round(G, rng=0)
    with pytest.raises(ValueError, match=r"'keep' parameter of PerDeviceTopK .* got 33"):
        PerDeviceTopK(_digital(code), keep=33).round(G, rng=0)
    wrapped = CommonSupportTopK(_analog(code), keep=4)
    wrapped.round(G, batch=4, rng=0)
    with pytest.raises(ValueError, match="Call reset"):
        wrapped.round(G, batch=5, rng=0)
    wrapped.reset()
    assert wrapped.round(G, batch=5, rng=0).estimate.shape == (5, 32)
    with pytest.raises(TypeError, match="'inner' parameter of PerDeviceTopK must be a "
                                        "DigitalAggregation"):
        PerDeviceTopK(_analog(code), keep=4)


# ----------------------------------------------------------------------------- stateful
def _lag_correlation(h: np.ndarray, lag: int) -> float:
    """``E[h_t h_{t+lag}^*] / E|h|^2`` over rounds (axis 0), trajectories and devices."""
    return float(np.mean(h[lag:] * h[:-lag].conj()).real / np.mean(np.abs(h) ** 2))


def test_gauss_markov_channel_state_has_the_ar1_jakes_correlation(code):
    channel = make_channel("gauss-markov", doppler_hz=10.0, round_s=0.01)
    rho = float(special.j0(2 * np.pi * 10.0 * 0.01))
    assert channel.rho == pytest.approx(rho)
    agg = StatefulAggregator(_analog(code, channel=channel, stragglers=None, threshold=0.0),
                             batch=200, rng=0)
    assert agg.channel_process == "ar1"
    G = _gradients()
    hs = []
    for _ in range(40):
        res = agg.step(G)
        np.testing.assert_allclose(res.gain2, np.abs(agg.h[:, 0]) ** 2)  # the state is used
        hs.append(agg.h[:, 0])
    hs = np.array(hs)  # [rounds, batch, n]: 40 * 200 * 12 = 96,000 samples
    # Standard error of a lag correlation over ~1e5 samples (effective fewer: rho ~ 0.9):
    # about 0.005; tolerance 0.02.
    assert np.mean(np.abs(hs) ** 2) == pytest.approx(1.0, abs=0.03)
    assert _lag_correlation(hs, 1) == pytest.approx(rho, abs=0.02)
    assert _lag_correlation(hs, 2) == pytest.approx(rho**2, abs=0.02)
    # The same law as the model's own multi-round draw.
    draw = channel.draw(200, 12, n_rounds=40, rng=1).h[:, :, 0]
    assert _lag_correlation(np.moveaxis(draw, 1, 0), 1) == pytest.approx(
        _lag_correlation(hs, 1), abs=0.02)


def test_block_fading_state_is_independent_across_rounds_with_a_fixed_drop(code):
    from channels import AnnulusDrop, LargeScale, LogDistancePathLoss

    ls = LargeScale(drop=AnnulusDrop(r_min_m=10.0, r_max_m=100.0),
                    path_loss=LogDistancePathLoss(exponent=3.0, ref_distance_m=10.0))
    channel = make_channel("rayleigh", large_scale=ls)
    agg = StatefulAggregator(_analog(code, channel=channel, stragglers=None, noise_var=1e-6),
                             batch=100, rng=0)
    assert agg.channel_process == "block"
    hs = []
    for _ in range(20):
        agg.step(_gradients())
        hs.append(agg.h[:, 0])
    hs = np.array(hs)
    small = hs / np.sqrt(np.mean(np.abs(hs) ** 2, axis=0, keepdims=True))
    assert abs(_lag_correlation(small, 1)) < 0.03
    power = np.mean(np.abs(hs) ** 2, axis=(0, 1))  # per device: the drop stays put
    assert power.max() / power.min() > 2


def test_markov_straggler_state_persists_like_the_chain(code):
    a, b = 0.1, 0.3
    model = make_stragglers("markov", p_fast_to_slow=a, p_slow_to_fast=b)
    agg = StatefulAggregator(_analog(code, stragglers=None), batch=300, stragglers=model,
                             rng=4)
    assert agg.straggler_process == "markov"
    G = _gradients()
    states = []
    for _ in range(30):
        res = agg.step(G)
        np.testing.assert_array_equal(res.plan.compute_responders, agg.responding)
        states.append(~agg.responding)
    slow = np.array(states)  # [rounds, batch, n]

    def within(observed, p, count):
        return abs(observed - p) <= 4.5 * np.sqrt(p * (1 - p) / count)

    assert within(slow.mean(), a / (a + b), slow.size / 5)  # correlated samples: fewer
    prev, nxt = slow[:-1], slow[1:]
    assert within((prev & nxt).sum() / prev.sum(), 1 - b, prev.sum())
    assert within((~prev & nxt).sum() / (~prev).sum(), a, (~prev).sum())
    # The same persistence as the model's own trajectories.
    ref = ~model.sample_rounds(300, 12, n_rounds=30, rng=5)
    stay = (ref[:, :-1] & ref[:, 1:]).sum() / ref[:, :-1].sum()
    assert abs(stay - (prev & nxt).sum() / prev.sum()) < 0.03


def test_stateful_rounds_are_reproducible(code):
    G = _gradients()

    def run(agg, rounds=4):
        return [agg.step(G).estimate for _ in range(rounds)]

    def make(seed):
        inner = _analog(code, channel=make_channel("gauss-markov", rho=0.8), stragglers=None)
        return StatefulAggregator(inner, batch=5, rng=seed, stragglers=make_stragglers(
            "markov", p_fast_to_slow=0.2, p_slow_to_fast=0.4))

    first, again = run(make(3)), run(make(3))
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    other = run(make(4))
    assert not np.array_equal(first[2], other[2])
    agg = make(3)
    run(agg, 2)
    agg.reset()
    assert agg.round_index == 0
    for x, y in zip(first, run(agg), strict=True):
        np.testing.assert_array_equal(x, y)
    # A per-step rng overrides the aggregator's stream.
    p, q = make(1), make(2)
    np.testing.assert_array_equal(p.step(G, rng=9).estimate, q.step(G, rng=9).estimate)


def test_stateful_carries_error_feedback_of_a_wrapped_compressor(code):
    inner = CommonSupportTopK(_analog(code, stragglers=None), keep=6, explore=0.5,
                              error_feedback=True)
    agg = StatefulAggregator(inner, batch=3, channel=make_channel("gauss-markov", rho=0.9),
                             rng=0)
    G = _gradients()
    res = [agg.step(G) for _ in range(3)]
    assert res[-1].channel_uses.tolist() == [6.0] * 3
    assert inner.residual is not None and np.any(inner.residual)
    np.testing.assert_allclose(res[-1].inner.gain2, np.abs(agg.h[:, 0]) ** 2)
    agg.reset()
    assert inner.residual is None


class _SlowlyRotating(ChannelModel):
    """A time-correlated test model without a one-step law (drawn in one piece)."""

    tags = {"time_correlated": True}

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        shape = self.shape(batch, n_devices, n_rx_ant, None)
        g = complex_normal(shape, rng=rng)
        if n_rounds is None:
            return g
        phase = np.exp(1j * 0.1 * np.arange(n_rounds))
        return (g[:, None] * phase[None, :, None, None]).astype(self.dtype)


class _Alternating(StragglerModel):
    """A stateful test model: worker i straggles in rounds t with t + i odd."""

    name = "alternating-test"
    tags = {"randomized": False, "stateful": True}

    def sample_rounds(self, batch, n_workers, *, n_rounds, rng=None):
        t = np.arange(n_rounds)[:, None] + np.arange(n_workers)[None, :]
        return np.broadcast_to(t % 2 == 0, (batch, n_rounds, n_workers)).copy()

    def sample(self, batch, n_workers, *, rng=None):
        return self.sample_rounds(batch, n_workers, n_rounds=1)[:, 0]


def test_processes_without_a_one_step_law_are_drawn_over_a_horizon(code):
    inner = _analog(code, channel=_SlowlyRotating(), stragglers=None)
    with pytest.raises(ValueError, match="'horizon' parameter of StatefulAggregator must be "
                                         "given for a channel and stragglers process"):
        StatefulAggregator(inner, stragglers=_Alternating())
    agg = StatefulAggregator(inner, batch=2, stragglers=_Alternating(), horizon=3, rng=0)
    assert (agg.channel_process, agg.straggler_process) == ("sequence", "sequence")
    G = _gradients()
    hs = []
    for t in range(3):
        agg.step(G)
        hs.append(agg.h)
        np.testing.assert_array_equal(agg.responding[0], (t + np.arange(12)) % 2 == 0)
    np.testing.assert_allclose(hs[1], hs[0] * np.exp(0.1j))
    with pytest.raises(ValueError, match="horizon.*exhausted"):
        agg.step(G)


def test_stateful_tells_the_receiver_each_aggregate(code):
    from aircomp_agc.aggregation import OnlineGradientModel

    online = OnlineGradientModel()
    agg = StatefulAggregator(_analog(code, gradient_model=online), batch=4, rng=0)
    res = agg.step(_gradients())
    np.testing.assert_allclose(online.mean_energy, np.sum(res.estimate**2, -1) / 12**2)
    agg.reset()
    assert online.mean_energy is None


def test_stateful_aggregator_drives_training_and_passes_the_conformance_checks(code):
    from aircomp_agc.learning import make_problem, train

    markov = make_stragglers("markov", p_fast_to_slow=0.1, p_slow_to_fast=0.5)
    inner = _analog(code, channel=make_channel("gauss-markov", rho=0.95), stragglers=None,
                    noise_var=0.01)
    agg = StatefulAggregator(inner, batch=3, stragglers=markov, rng=0)
    hist = train(make_problem("ridge", n_partitions=12, rng=0), agg, rounds=15, reps=3, rng=1)
    assert agg.round_index == 15
    assert np.all(hist.suboptimality[:, -1] < 0.1 * hist.suboptimality[:, 0])
    report = check_aggregator(StatefulAggregator(inner, batch=8, stragglers=markov, rng=0))
    assert report.ran("determinism") and report.ran("rng")


def test_stateful_bad_inputs(code):
    markov = make_stragglers("markov", p_fast_to_slow=0.1, p_slow_to_fast=0.5)
    with pytest.raises(ValueError, match="stateful straggler model.*stragglers=None"):
        StatefulAggregator(_analog(code, stragglers=markov))
    with pytest.raises(ValueError, match=r"'batch' parameter of StatefulAggregator must be an "
                                         r"int in \[1, inf\); got 0"):
        StatefulAggregator(_analog(code), batch=0)
    with pytest.raises(TypeError, match="'inner' parameter of StatefulAggregator"):
        StatefulAggregator(object())
    agg = StatefulAggregator(_analog(code), batch=2, rng=0)
    with pytest.raises(ValueError, match="batch of 3; the aggregator carries 2"):
        agg.step(np.broadcast_to(_gradients(), (3, 12, 32)))
    with pytest.raises(ValueError, match=r"\[12, D\]"):
        agg.step(np.ones((11, 4)))
    assert agg.round_index == 0  # bad input leaves the state alone
    with pytest.raises(ValueError, match="'batch' parameter of StatefulAggregator.round must "
                                         r"be the aggregator's \(2\); got 5"):
        agg.round(_gradients(), batch=5)
    # Digital aggregation takes the same state.
    dig = StatefulAggregator(_digital(code, stragglers=None), batch=2, stragglers=markov, rng=0)
    res = dig.step(_gradients())
    np.testing.assert_array_equal(res.plan.compute_responders, dig.responding)


# ----------------------------------------------------------------------------- conformance
def test_check_aggregator_passes_on_every_aggregator_here(code):
    analog, digital = _analog(code), _digital(code, bits=4, deadline=3000.0)
    for agg in (analog, digital, CommonSupportTopK(analog, keep=4),
                CommonSupportTopK(analog, fraction=0.25, first="random", explore=0.5,
                                  error_feedback=True),
                PerDeviceTopK(digital, keep=4, error_feedback=True)):
        report = check_aggregator(agg)
        for check in ("signature", "shapes", "parts", "responders", "inputs", "batched",
                      "determinism", "rng", "bad_input"):
            assert report.ran(check), (agg, check)


class _DropsNoise(CodedAirComp):
    def round(self, gradients, *, batch=1, available=None, h=None, rng=None):
        res = super().round(gradients, batch=batch, rng=rng)
        parts = {k: v for k, v in res.error_parts.items() if k != "noise"}
        return type(res)(res.estimate, res.exact, parts, res.plan)


class _IgnoresRng(CodedAirComp):
    def round(self, gradients, *, batch=1, available=None, h=None, rng=None):
        return super().round(gradients, batch=batch, rng=0)


class _HiddenState(CodedAirComp):
    """Draws from fresh OS entropy after its second call (hidden state, no reset)."""

    def round(self, gradients, *, batch=1, available=None, h=None, rng=None):
        self._calls = getattr(self, "_calls", 0) + 1
        return super().round(gradients, batch=batch, rng=rng if self._calls <= 2 else None)


class _PositionalRng(CodedAirComp):
    def round(self, gradients, batch=1, rng=None):  # rng not keyword-only
        return super().round(gradients, batch=batch, rng=rng)


class _WeightsEverywhere(CodedAirComp):
    def round(self, gradients, *, batch=1, available=None, h=None, rng=None):
        from dataclasses import replace

        res = super().round(gradients, batch=batch, rng=rng)
        w = np.where(res.responders, res.decoder_weights, 0.5)
        return type(res)(res.estimate, res.exact, res.error_parts,
                         replace(res.plan, decoder_weights=w))


class _Mutates(CodedAirComp):
    def round(self, gradients, *, batch=1, available=None, h=None, rng=None):
        res = super().round(gradients, batch=batch, rng=rng)
        if isinstance(gradients, np.ndarray) and gradients.flags.writeable:
            gradients *= 1.0 + 1e-3
        return res


class _AcceptsNaN(DigitalAggregation):
    def round(self, gradients, *, batch=1, available=None, h=None, rng=None):
        return super().round(np.nan_to_num(np.asarray(gradients, dtype=float)[:12]),
                             batch=batch, rng=rng)


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (_DropsNoise, "parts"),
        (_IgnoresRng, "rng"),
        (_HiddenState, "determinism"),
        (_PositionalRng, "signature"),
        (_WeightsEverywhere, "responders"),
        (_Mutates, "inputs"),
        (_AcceptsNaN, "bad_input"),
    ],
)
def test_check_aggregator_catches_broken_aggregators(code, cls, check):
    params = inspect.signature(cls.__init__).parameters
    kw = dict(code=code, noise_var=0.1, stragglers=make_stragglers("fixed", s=2))
    if "bits" in params:
        kw["bits"] = 4
    agg = cls(**kw)
    with pytest.raises(ConformanceError, match=f"check '{check}' failed"):
        check_aggregator(agg)
