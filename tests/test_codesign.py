"""Joint co-design of code, truncation threshold and policy (aggregation.codesign)."""

from __future__ import annotations

import numpy as np
import pytest

from aircomp_agc.aggregation import CodedAirComp, GradientModel
from aircomp_agc.aggregation.codesign import COLUMNS, DecodeCache, codesign, default_policies
from aircomp_agc.coding import decoding_vectors, make_code, make_stragglers
from channels.power_control import make_power_control

N = 16
STRAG = make_stragglers("bernoulli", p=0.25)
MODEL = GradientModel.from_ratio(0.4, dim=200)


def small(**kw):
    args = dict(n=N, stragglers=STRAG, snr_db=0.0, gradient_model=MODEL,
                codes=("approx-frc", "graph"), row_weights=(1, 2, 4),
                thresholds=(0.0, 0.1, 0.3), policies=("optimal_power", "zero_forcing"),
                n_draws=200, rng=3)
    args.update(kw)
    return codesign(**args)


#: A one-point grid for the bad-input tests (the errors that need a search stay cheap).
TINY = dict(codes=("graph",), row_weights=(2,), thresholds=(0.1,), policies=("optimal_power",),
            n_draws=20)


@pytest.fixture(scope="module")
def result():
    return small()


def test_surface_is_a_tidy_table(result):
    table = result.table()
    assert len(table) == len(result.surface) == 2 * 3 * 3 * 2
    assert all(tuple(row) == COLUMNS for row in table)
    cols = result.columns()
    assert cols["mean"].shape == (len(table),)
    # Parts add up to the mean of every point.
    parts = (cols["coding"] + cols["misalignment"] + cols["noise"]
             + cols["coding*misalignment"])
    np.testing.assert_allclose(parts, cols["mean"], rtol=1e-9, atol=1e-15)
    assert np.all(cols["ci_low"] <= cols["mean"]) and np.all(cols["mean"] <= cols["ci_high"])
    assert result.samples.shape == (len(table), 200)
    np.testing.assert_allclose(result.samples.mean(axis=1), cols["mean"], rtol=1e-12)
    # Every grid combination is there exactly once.
    keys = {p.key for p in result.surface}
    assert len(keys) == len(table)
    assert result.point("graph", 2, 0.1, "zero_forcing").key == ("graph", 2, 0.1, "zero_forcing")
    with pytest.raises(ValueError, match="No grid point"):
        result.point("graph", 3, 0.1, "zero_forcing")
    assert "code" in result.format(top=3) and "ratio" in result.summary()


def test_best_is_the_argmin_of_the_table(result):
    cols = result.columns()
    i = int(np.argmin(cols["mean"]))
    assert result.best is result.surface[i]
    assert result.best.mean == cols["mean"].min()
    assert result.mode == "error"


def test_per_layer_choice_is_a_surface_point_and_never_beats_joint(result):
    code, chan = result.code_choice, result.channel_choice
    # Each layer's choice is the argmin of what that layer sees (coding ties: least storage).
    least = min(p.mean for p in result.coding_layer)
    tied = [p for p in result.coding_layer if p.mean <= least + 1e-12]
    assert code is min(tied, key=lambda p: (p.storage, p.mean))
    assert chan.mean == min(p.mean for p in result.channel_layer)
    assert all(p.code == "uncoded" for p in result.channel_layer)
    assert len(result.channel_layer) == 3 * 2 and len(result.coding_layer) == 2 * 3
    # The per-layer pair is a point of the surface, evaluated on the same draws.
    key = (code.code, code.row_weight, chan.threshold, chan.policy)
    assert result.per_layer.key == key
    assert result.per_layer is result.point(*key)
    # Common random numbers: joint <= per-layer holds exactly, not only up to MC noise.
    assert result.best.mean <= result.per_layer.mean
    assert result.ratio >= 1.0
    assert result.ratio == pytest.approx(result.per_layer.mean / result.best.mean)
    diff = result.samples[result.per_layer.index] - result.samples[result.best.index]
    assert result.gap.mean == pytest.approx(diff.mean())


def test_common_random_numbers_are_deterministic_and_shared():
    a = small(codes=("graph",), row_weights=(2,), thresholds=(0.0, 0.2))
    b = small(codes=("graph",), row_weights=(2,), thresholds=(0.2, 0.0))
    np.testing.assert_array_equal(a.point("graph", 2, 0.2, "optimal_power").error.mean,
                                  b.point("graph", 2, 0.2, "optimal_power").error.mean)
    # Thresholds only drop devices: on the same draws, fewer transmit at a higher one.
    lo = a.point("graph", 2, 0.0, "optimal_power")
    hi = a.point("graph", 2, 0.2, "optimal_power")
    assert hi.n_transmitting < lo.n_transmitting


def test_decodes_are_reused(result):
    info = result.info
    assert info["decodes_run"] < info["decodes_requested"]
    # Policies share the truncation: at most one decode per (code, threshold, draw) plus
    # re-decodes and the uncoded channel layer.
    assert info["grid_points"] == len(result.surface)


def test_decode_cache_matches_the_decoder():
    code = make_code("graph", n=N, row_weight=3, rng=1)
    rng = np.random.default_rng(0)
    masks = rng.random((50, N)) < 0.7
    masks = np.concatenate([masks, masks[:20], masks[5:10]])
    cache = DecodeCache("lstsq")
    got = cache(code, masks)
    np.testing.assert_allclose(got, decoding_vectors(code, masks), atol=1e-12)
    assert cache.requested == 75 and cache.decoded == len(np.unique(masks, axis=0))
    again = cache(code, masks[::-1])
    np.testing.assert_array_equal(again, got[::-1])
    assert cache.decoded == len(np.unique(masks, axis=0))
    # A callable decoder is wrapped too (and zeroed off the mask).
    calls = []

    def ones(code, m):
        calls.append(len(m))
        return np.ones(m.shape)

    c2 = DecodeCache(ones)
    np.testing.assert_array_equal(c2(code, masks), masks.astype(float))
    assert calls == [len(np.unique(masks, axis=0))]


def test_agrees_with_coded_aircomp_expected_mse():
    code = make_code("graph", n=N, row_weight=3, rng=2)
    res = codesign(n=N, stragglers=STRAG, snr_db=5.0, gradient_model=MODEL, codes=(code,),
                   thresholds=(0.1,), policies=("optimal_power",), n_draws=3000, rng=4)
    p = res.surface[0]
    agg = CodedAirComp(code=code, channel="rayleigh", power_control="optimal_power",
                       snr_db=5.0, stragglers=STRAG, threshold=0.1)
    e = agg.expected_mse(MODEL, n_draws=3000, rng=9)
    ref = e.normalized
    half = (e.ci_high - e.ci_low) / 2 / e.exact_energy + (p.ci_high - p.ci_low) / 2
    assert abs(p.mean - ref) <= half
    assert p.n_transmitting == pytest.approx(e.n_transmitting, rel=0.02)


def test_given_gradients_enter_through_their_gram_matrix_only():
    rng = np.random.default_rng(5)
    g = MODEL.sample(N, rng=6)
    q, _ = np.linalg.qr(rng.standard_normal((200, 200)))  # rotate the coordinates
    kw = dict(gradient_model=None, codes=("graph",), row_weights=(3,),
              thresholds=(0.0, 0.2), n_draws=50)
    a = small(gradients=g, **kw)
    b = small(gradients=g @ q, **kw)
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-7, atol=1e-14)
    assert a.info["dim"] == 200


def test_storage_budget_is_respected():
    res = small(storage_budget=2)
    assert {p.storage for p in res.surface} <= {1, 2}
    assert res.best.storage <= 2 and res.per_layer.storage <= 2
    assert all(p.storage <= 2 for p in res.coding_layer)
    assert ("graph", 4, "storage 4 above the budget 2") in res.skipped
    assert res.storage_budget == 2


def test_target_mode_returns_the_least_storage_meeting_it(result):
    means = result.columns()["mean"]
    target = float(np.quantile(means, 0.3))
    res = small(target_error=target)
    assert res.mode == "target"
    assert res.best.mean <= target
    meeting = [p for p in res.surface if p.mean <= target]
    assert res.best.storage == min(p.storage for p in meeting)
    assert res.best.mean == min(p.mean for p in meeting if p.storage == res.best.storage)
    # Same draws as the error-mode search.
    np.testing.assert_array_equal(res.samples, result.samples)
    assert res.storage_ratio == res.per_layer.storage / res.best.storage


def test_codes_with_an_s_parameter_and_failed_constructions():
    res = small(codes=("frc", "uncoded"), row_weights=(2, 3, 5), thresholds=(0.1,),
                policies=("optimal_power",))
    built = {(p.code, p.row_weight, p.storage) for p in res.surface}
    assert built == {("frc", 2, 2), ("uncoded", 1, 1)}  # 16 is not a multiple of 3 or 5
    assert {(c, w) for c, w, _ in res.skipped} == {("frc", 3), ("frc", 5)}


def test_policies_default_and_bound():
    assert default_policies()[:2] == ("optimal_power", "zero_forcing")
    res = small(codes=("graph",), row_weights=(2,), thresholds=(0.0,),
                policies=("optimal_power",
                          make_power_control("truncated_inversion", gain_threshold=0.2),
                          {"name": "threshold_scheduling", "keep": 8}))
    labels = [p.policy for p in res.surface]
    assert labels == ["optimal_power", "truncated_inversion(gain_threshold=0.2)",
                      "threshold_scheduling(keep=8)"]
    assert res.point("graph", 2, 0.0, "threshold_scheduling(keep=8)").n_transmitting <= 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(storage_budget=0.5), "'storage_budget' parameter of codesign must be a number >= 1"),
        (dict(target_error=1e-9), r"No setting reaches target_error=1e-09.*best reachable is"),
        (dict(codes=(make_code("graph", n=N + 1, row_weight=2, rng=0),)),
         "holds a code with 17 workers but n=16"),
        (dict(thresholds=(0.1, -0.2)), "'thresholds' parameter of codesign"),
        (dict(snr_db=None), "Exactly one of the 'noise_var' and 'snr_db'"),
        (dict(noise_var=1.0), "Exactly one of the 'noise_var' and 'snr_db'"),
        (dict(gradients=np.ones((N, 5))), "Exactly one of the 'gradients' and 'gradient_model'"),
        (dict(gradient_model=None, gradients=np.ones((N + 1, 5))), r"shape \[16, D\]"),
        (dict(gradient_model=None, gradients=np.full((N, 5), np.nan)), "must be finite"),
        (dict(codes=("nope",)), "Unknown code 'nope'"),
        (dict(codes=()), "'codes' parameter of codesign must list at least one code"),
        (dict(row_weights=(0,)), "'row_weights' parameter of codesign"),
        (dict(policies=("nope",)), "'policies' parameter of codesign holds an unusable"),
        (dict(storage_budget=1, codes=("graph",), row_weights=(2,)), "No code of the 'codes'"),
        (dict(channel="sionna-tdl"), "must be flat"),
        (dict(round_options={"bogus": 1}), "'round_options' parameter of codesign accepts"),
        (dict(n_draws=1), "'n_draws' parameter of codesign"),
        (dict(target_error=-1.0), "'target_error' parameter of codesign"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as err:
        small(**{**TINY, **kwargs})
    assert "\n" not in str(err.value)


def test_channel_layer_may_see_the_compute_stragglers(result):
    res = small(channel_layer_stragglers=True)
    np.testing.assert_array_equal(res.samples, result.samples)  # the surface is unchanged
    blind = {(p.threshold, p.policy): p.mean for p in result.channel_layer}
    seeing = {(p.threshold, p.policy): p.mean for p in res.channel_layer}
    assert blind.keys() == seeing.keys() and blind != seeing
    assert res.best.mean <= res.per_layer.mean
    with pytest.raises(TypeError, match="'channel_layer_stragglers' parameter of codesign"):
        small(channel_layer_stragglers="yes")


def test_registered_aggregation_policies_join_the_default_grid():
    from aircomp_agc.aggregation import AGGREGATION_POLICIES
    from aircomp_agc.aggregation.standard import standard_allocation
    from channels.power_control import optimal_power

    def factory():
        return lambda ctx: standard_allocation(ctx, optimal_power, name="tmp-opc")

    with AGGREGATION_POLICIES.temporary("tmp-opc", factory, summary="test",
                                        tags={"needs_second_moments": False}):
        assert "tmp-opc" in default_policies()
        assert set(AGGREGATION_POLICIES.names()) <= set(default_policies())
        res = small(codes=("graph",), row_weights=(2,), thresholds=(0.1,),
                    policies=("optimal_power", "tmp-opc"))
    a, b = res.surface
    assert (a.policy, b.policy) == ("optimal_power", "tmp-opc")
    np.testing.assert_array_equal(res.samples[0], res.samples[1])  # the same allocation
    assert "tmp-opc" not in default_policies()


def test_joint_policy_in_the_search_never_loses_to_the_standard_pipeline():
    from aircomp_agc.aggregation import AGGREGATION_POLICIES

    if "joint" not in AGGREGATION_POLICIES:
        pytest.skip("no 'joint' aggregation policy registered")
    res = small(codes=("graph",), row_weights=(3,), thresholds=(0.0, 0.2),
                policies=("optimal_power", "joint"), n_draws=10)
    for thr in (0.0, 0.2):
        std = res.point("graph", 3, thr, "optimal_power")
        joint = res.point("graph", 3, thr, "joint")
        # Oracle second moments: least squares + peak power is feasible for the joint
        # problem, draw by draw (common random numbers make this a per-draw check).
        assert np.all(res.samples[joint.index] <= res.samples[std.index] * (1 + 1e-6) + 1e-12)
