"""Monte-Carlo decoding error: closed forms inside the CI, exact identities, determinism."""

from __future__ import annotations

import warnings
from math import comb

import numpy as np
import pytest
from scipy import stats

from aircomp_agc.coding import Code
from aircomp_agc.coding.decoders import decoding_errors
from aircomp_agc.coding.montecarlo import (
    Estimate,
    estimate_error,
    estimate_realized_error,
    mean_ci,
)
from aircomp_agc.coding.registry import make_code
from aircomp_agc.coding.stragglers import make_stragglers

# ----------------------------------------------------------------------------- mean_ci


def test_one_estimate_type_shared_with_the_rest_of_the_toolkit():
    import aircomp_agc._checks as checks
    import aircomp_agc.coding as coding

    assert Estimate is checks.Estimate is coding.Estimate
    assert mean_ci is checks.mean_ci is coding.mean_ci
    est = estimate_error(make_code("uncoded", n=6), make_stragglers("fixed", s=1), n_trials=20,
                         rng=0)
    assert type(est) is checks.Estimate and est.method == "monte-carlo"


def test_mean_ci_is_the_student_t_interval():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    est = mean_ci(x, 0.9)
    se = x.std(ddof=1) / np.sqrt(5)
    half = stats.t.ppf(0.95, 4) * se
    assert (est.mean, est.std_err) == (pytest.approx(5.0), pytest.approx(se))
    assert (est.ci_low, est.ci_high) == (pytest.approx(5 - half), pytest.approx(5 + half))
    assert est.n == est.n_independent == 5 and est.confidence == 0.9
    assert est.half_width == pytest.approx(half) and est.contains(5.0)


def test_mean_ci_covers_the_truth_at_its_nominal_rate():
    # 1500 replications of n=30 exponential samples (skewed): coverage of a 90% t-interval
    # is 0.9 up to a skewness error; the tolerance is 4.5 binomial SE plus 0.02 for skew.
    rng = np.random.default_rng(0)
    samples = rng.exponential(2.0, size=(1500, 30))
    hits = np.mean([mean_ci(row, 0.9).contains(2.0) for row in samples])
    assert abs(hits - 0.9) <= 4.5 * np.sqrt(0.9 * 0.1 / 1500) + 0.02


def test_mean_ci_constant_samples_give_a_zero_width_interval():
    est = mean_ci(np.full(7, 0.25))
    assert (est.ci_low, est.mean, est.ci_high) == (0.25, 0.25, 0.25)


# ----------------------------------------------------------------------------- closed forms


def test_approx_frc_error_matches_closed_form_within_ci():
    """Acceptance test: N=24, d=3, s=12 gives C(12,3)/C(24,3) = 0.10870."""
    truth = comb(12, 3) / comb(24, 3)
    assert round(truth, 5) == 0.10870
    code = make_code("approx-frc", n=24, row_weight=3)
    est = estimate_error(code, make_stragglers("fixed", s=12), n_trials=20_000, rng=2026)
    assert est.ci_low <= truth <= est.ci_high, est
    assert est.half_width < 0.01 * 0.5  # the CI is informative (relative half-width < 5%)


def test_bgc_one_step_error_over_random_encodings_matches_closed_form():
    # BGC, fixed row weight w, one-step decoder a_i = k/(w r): E||c-1||^2/k = (k - w)/(w r)
    # over random encodings and straggler sets (Charles, Papailiopoulos, Ellenberg 2017).
    n, w, s = 40, 4, 10
    truth = (n - w) / (w * (n - s))
    est = estimate_error(
        lambda g: make_code("bgc", n=n, row_weight=w, rng=g), make_stragglers("fixed", s=s),
        n_trials=6000, method="one-step", rng=3, batch_size=20,
    )
    assert est.n_independent == 300 and est.n == 6000
    assert est.ci_low <= truth <= est.ci_high, (est, truth)


def test_exact_code_within_tolerance_has_zero_error():
    code = make_code("frc", n=12, s=3)
    est = estimate_error(code, make_stragglers("fixed", s=3), n_trials=200, rng=0)
    assert est.mean == est.ci_low == est.ci_high == pytest.approx(0.0, abs=1e-20)


def test_uncoded_one_step_error_under_bernoulli_stragglers():
    # uncoded, plain sum of responders (one-step weight 1): err = (#stragglers)/n, mean p
    code = make_code("uncoded", n=30)
    est = estimate_error(code, make_stragglers("bernoulli", p=0.25), n_trials=4000,
                         method="one-step", rng=5, decoder_options={"weight": 1.0})
    assert est.contains(0.25), est


# ----------------------------------------------------------------------------- identities


def test_estimate_equals_the_mean_of_decoding_errors_on_the_same_draws():
    code = make_code("bgc", n=20, row_weight=3, rng=1)
    model = make_stragglers("fixed", s=5)
    est = estimate_error(code, model, n_trials=100, batch_size=25, rng=7)
    # reproduce the documented seeding: per batch spawn (code, stragglers, eval) children
    rng = np.random.default_rng(7)
    errs = []
    for _ in range(4):
        _, g_strag, _ = rng.spawn(3)
        errs.append(decoding_errors(code, model.sample(25, 20, rng=g_strag)))
    assert est.mean == pytest.approx(np.concatenate(errs).mean(), rel=1e-12)


def test_realized_error_on_identity_gradients_equals_decoding_error():
    # g = I_k: ||(c - 1)^T I||^2 / ||1^T I||^2 = ||c - 1||^2 / k exactly, trial by trial
    code = make_code("graph", n=16, row_weight=3, rng=4)
    model = make_stragglers("fixed", s=4)
    a = estimate_error(code, model, n_trials=60, batch_size=20, rng=9)
    b = estimate_realized_error(code, model, gradients=np.eye(16), n_trials=60, batch_size=20,
                                rng=9)
    assert b.mean == pytest.approx(a.mean, rel=1e-9)
    assert b.ci_high == pytest.approx(a.ci_high, rel=1e-9)


def test_realized_error_on_random_gaussian_gradients_agrees_with_decoding_error():
    # E over isotropic gradients of ||(c-1)^T g||^2 / ||1^T g||^2 ~= ||c-1||^2 / k; with
    # D = 64 the ratio bias is O(1/D), so agreement is checked within the two CIs + 5%.
    code = make_code("bgc", n=20, row_weight=3, rng=1)
    model = make_stragglers("fixed", s=5)
    dec = estimate_error(code, model, n_trials=1000, rng=1)
    real = estimate_realized_error(code, model, dim=64, n_trials=400, rng=2)
    assert abs(real.mean - dec.mean) <= real.half_width + dec.half_width + 0.05 * dec.mean


# ----------------------------------------------------------------------------- modes


def test_same_seed_same_estimate_and_redraw_changes_the_code():
    code = make_code("bgc", n=20, row_weight=3, rng=1)
    model = make_stragglers("fixed", s=5)
    a = estimate_error(code, model, n_trials=100, rng=3)
    b = estimate_error(code, model, n_trials=100, rng=np.random.default_rng(3))
    assert a == b
    c = estimate_error(code, model, n_trials=100, rng=3, redraw_code=True, batch_size=10)
    assert c.n_independent == 10 and c.mean != a.mean


def test_precision_target_mode_meets_its_tolerance():
    code = make_code("approx-frc", n=24, row_weight=3)
    est = estimate_error(code, make_stragglers("fixed", s=12), n_trials=200, rng=1,
                         rel_tol=0.05, batch_size=200)
    assert est.converged and est.half_width <= 0.05 * est.mean and est.n > 200


def test_precision_target_mode_warns_when_capped():
    code = make_code("approx-frc", n=24, row_weight=3)
    with pytest.warns(RuntimeWarning, match="rel_tol=0.001 after max_trials=400"):
        est = estimate_error(code, make_stragglers("fixed", s=12), n_trials=200, rng=1,
                             rel_tol=1e-3, max_trials=400, batch_size=100)
    assert not est.converged and est.n == 400


def test_redraw_rebuilds_from_params():
    code = make_code("bgc", n=10, row_weight=2, rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = estimate_error(code, make_stragglers("fixed", s=2), n_trials=20, rng=0,
                             redraw_code=True, batch_size=5)
    assert isinstance(est, Estimate) and est.n_independent == 4 and est.n == 20


def test_redraw_of_a_deterministic_code_keeps_it_fixed_with_a_warning():
    code = make_code("frc", n=12, s=3)
    with pytest.warns(RuntimeWarning, match=r"redraw_code=True for the deterministic code "
                                            r"'frc'.*used as a fixed code"):
        est = estimate_error(code, make_stragglers("fixed", s=5), n_trials=20,
                             redraw_code=True, batch_size=5, rng=0)
    assert est == estimate_error(code, make_stragglers("fixed", s=5), n_trials=20,
                                 batch_size=5, rng=0)
    assert est.n_independent == 20


def test_redraw_of_an_unregistered_code_fails_clearly():
    base = make_code("bgc", n=12, row_weight=3, rng=0)
    code = Code("my-own", base.B, params={"n": 12})
    with pytest.raises(ValueError, match=r"'redraw_code'.*make_code\('my-own'.*pass a factory"):
        estimate_error(code, make_stragglers("fixed", s=2), n_trials=20, redraw_code=True,
                       batch_size=5)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"stragglers": "fixed"}, TypeError, r"'stragglers' parameter of estimate_error"),
        ({"n_trials": 1}, ValueError, r"'n_trials' parameter.*\[2, inf\); got 1"),
        ({"batch_size": 0}, ValueError, r"'batch_size'"),
        ({"confidence": 1.0}, ValueError, r"'confidence' parameter.*\(0, 1\); got 1.0"),
        ({"rel_tol": -0.1}, ValueError, r"'rel_tol'"),
        ({"rel_tol": 0.1, "max_trials": 5}, ValueError, r"'max_trials'.*\[10, inf\)"),
        ({"redraw_code": True, "batch_size": 10}, ValueError,
         r"'batch_size' parameter of estimate_error must be below n_trials=10 when the code "
         r"is redrawn"),
        ({"redraw_code": True, "batch_size": 40, "rel_tol": 0.1, "max_trials": 40}, ValueError,
         r"'batch_size'.*must be below max_trials=40"),
        ({"method": "lsqr"}, ValueError, r"'method'.*'lstsq'"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, exc, match):
    code = make_code("bgc", n=10, row_weight=2, rng=0)
    args = {"stragglers": make_stragglers("fixed", s=2), "n_trials": 10, **kwargs}
    with pytest.raises(exc, match=match):
        estimate_error(code, **args)


def test_bad_code_and_samples():
    with pytest.raises(TypeError, match=r"'code_or_factory'.*Code or a callable"):
        estimate_error(3, make_stragglers("fixed", s=1), n_trials=10)
    with pytest.raises(ValueError, match=r"'samples' parameter of mean_ci.*at least 2"):
        mean_ci([1.0])
    with pytest.raises(ValueError, match=r"'gradients'.*\[n_partitions, D\]"):
        estimate_realized_error(make_code("uncoded", n=4), make_stragglers("fixed", s=1),
                                gradients=np.ones(4))
