"""Storage frontier: theory curves, search vs closed form, monotonicity, consistency."""

from __future__ import annotations

import numpy as np
import pytest

from aircomp_agc.coding.codes.frc import approx_frc_expected_error
from aircomp_agc.coding.frontier import (
    FrontierResult,
    exact_storage,
    log_storage,
    source_text_storage,
    storage_frontier,
    storage_lower_bound,
)
from aircomp_agc.coding.montecarlo import estimate_error
from aircomp_agc.coding.registry import make_code
from aircomp_agc.coding.stragglers import make_stragglers

# ----------------------------------------------------------------------------- theory


def test_theory_curves_at_the_source_texts_parameters():
    n, s, eps = 200, 40, np.array([0.1, 0.03, 0.01])
    assert exact_storage(s) == 41
    np.testing.assert_allclose(source_text_storage(n, s, eps), 200 / (160 * eps))
    assert source_text_storage(n, s, 0.01) == pytest.approx(125.0)
    np.testing.assert_allclose(log_storage(n, eps), np.log(200) / eps)
    np.testing.assert_allclose(storage_lower_bound(n, s, eps), np.log(1 / eps) / np.log(5))
    assert storage_lower_bound(n, s, 0.01) == pytest.approx(2.861353116)
    # the source text's example N=100, s=50, eps=0.01
    assert source_text_storage(100, 50, 0.01) == pytest.approx(200.0)
    assert storage_lower_bound(100, 50, 0.01) == pytest.approx(np.log(100) / np.log(2))
    assert storage_lower_bound(100, 0, 0.01) == 0.0


# ----------------------------------------------------------------------------- search


@pytest.fixture(scope="module")
def frc_frontier() -> FrontierResult:
    return storage_frontier("approx-frc", [0.3, 0.1, 0.03, 0.01], 24,
                            make_stragglers("fixed", s=12), n_trials=2000, rng=0)


def test_approx_frc_frontier_matches_the_closed_form(frc_frontier):
    # the smallest d with E[err] = sum_g m_g C(s,m_g)/C(n,m_g)/n <= eps: at these epsilons
    # no closed-form value lies within the CI half-width of eps, so the search must find it
    closed = {d: approx_frc_expected_error(24, d, 12) for d in range(1, 25)}
    for p in frc_frontier.points:
        truth = min(d for d, e in closed.items() if e <= p.epsilon)
        assert p.row_weight == truth, (p.epsilon, p.row_weight, truth)
        assert p.storage == make_code("approx-frc", n=24, row_weight=truth).storage
    np.testing.assert_array_equal(frc_frontier.row_weight, [2, 4, 5, 6])


def test_frontier_is_monotone_and_consistent_with_its_own_monte_carlo(frc_frontier):
    r = frc_frontier
    order = np.argsort(r.epsilons)
    assert np.all(np.diff(r.storage[order]) <= 0)  # smaller epsilon never needs less
    for p in r.points:
        assert p.estimate is r.measured[p.row_weight]
        assert p.estimate.ci_high <= p.epsilon  # the stated criterion
        if p.weight_below is not None:
            assert p.estimate_below is r.measured[p.weight_below]
            assert p.estimate_below.ci_high > p.epsilon  # the neighbour below was checked
    # an independent Monte Carlo at the chosen weight agrees with the recorded one
    p = r.points[1]
    again = estimate_error(make_code("approx-frc", n=24, row_weight=p.row_weight),
                           make_stragglers("fixed", s=12), n_trials=2000, rng=99)
    assert abs(again.mean - p.estimate.mean) <= again.half_width + p.estimate.half_width
    assert "Student-t" in r.criterion and "one-sided 97.5%" in r.criterion


def test_table_lists_measured_and_theory_columns(frc_frontier):
    text = frc_frontier.table()
    lines = text.splitlines()
    assert len(lines) == 5
    for col in ("row_weight", "exact s+1", "n/((n-s)eps)", "log(n)/eps", "log(1/eps)/log(n/s)"):
        assert col in lines[0]
    assert set(frc_frontier.theory()) == {
        "exact s+1", "n/((n-s)eps)", "log(n)/eps", "log(1/eps)/log(n/s)",
    }


def test_graph_frontier_skips_infeasible_weights():
    # n = 15 odd: a d-regular graph needs n*d even, so odd d are infeasible
    r = storage_frontier("graph", [0.1, 0.03], 15, make_stragglers("fixed", s=3),
                         n_trials=300, rng=0)
    assert 1 in r.infeasible and all(w % 2 == 1 for w in r.infeasible)
    for p in r.points:
        assert p.row_weight % 2 == 0
        assert p.weight_below is None or p.weight_below % 2 == 0
    assert any("infeasible row weights skipped" in note for p in r.points for note in p.notes)


def test_randomized_family_frontier_is_reproducible_and_monotone():
    kw = {"n_trials": 200, "batch_size": 20, "rng": 5}
    a = storage_frontier("bgc", [0.1, 0.03], 24, make_stragglers("fixed", s=5), **kw)
    b = storage_frontier("bgc", [0.03, 0.1], 24, make_stragglers("fixed", s=5), **kw)
    # each row weight gets its own seed, so the order of epsilons does not matter
    assert list(a.row_weight) == list(b.row_weight[::-1])
    assert a.row_weight[0] <= a.row_weight[1]
    assert a.measured[a.points[0].row_weight] == b.measured[a.points[0].row_weight]


def test_unreachable_target_reports_none():
    r = storage_frontier("approx-frc", 1e-6, 12, make_stragglers("fixed", s=6), n_trials=100,
                         rng=0, max_storage=4)
    p = r.points[0]
    assert p.row_weight is None and p.storage is None and np.isnan(r.storage[0])
    assert "no feasible row weight <= 4 met the target" in p.notes[0]


def test_theory_uses_expected_stragglers_for_random_models():
    r = storage_frontier("approx-frc", 0.2, 12, make_stragglers("bernoulli", p=0.25),
                         n_trials=200, rng=0)
    assert r.s == pytest.approx(3.0)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (("frc", 0.1, 12), {}, ValueError,
         r"'family'.*storage is set by row_weight \(approx-frc, bgc.*got 'frc' \(family "
         r"'exact', storage_param='s'\)"),
        (("bibd", 0.1, 13), {}, ValueError, r"'family'.*got 'bibd'.*storage_param=None"),
        (("bgcc", 0.1, 12), {}, ValueError, r"Unknown code 'bgcc'.*'bgc'"),
        (("bgc", 0.0, 12), {}, ValueError, r"'epsilon' parameter.*positive"),
        (("bgc", [[0.1]], 12), {}, ValueError, r"'epsilon' parameter"),
        (("approx-frc", 1.0, 12), {}, ValueError,
         r"'epsilon' parameter of storage_frontier must be a float in \(0, 1\).*got 1.0"),
        (("approx-frc", [0.1, 2.0], 12), {}, ValueError, r"'epsilon'.*\(0, 1\)"),
        (("sgc", 0.1, 12), {"batch_size": 5}, ValueError,
         r"code 'sgc' requires the parameter\(s\) 'p'"),
        (("bgc", 0.1, 12), {"batch_size": 5, "code_params": {"modle": "fixed"}}, ValueError,
         r"code 'bgc' has no parameter 'modle'.*Did you mean 'model'"),
        (("bgc", 0.1, 12), {"batch_size": 5, "code_params": {"row_weight": 2}}, ValueError,
         r"'code_params'.*must not set row_weight"),
        (("bgc", 0.1, 1), {}, ValueError, r"'n' parameter.*\[2, inf\); got 1"),
        (("bgc", 0.1, 12), {"max_storage": 13}, ValueError, r"'max_storage'.*\[1, 12\]"),
        (("bgc", 0.1, 12), {"confidence": 0}, ValueError, r"'confidence'"),
    ],
)
def test_bad_input_names_the_parameter(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        storage_frontier(*args, make_stragglers("fixed", s=2), n_trials=10, **kwargs)


def test_too_few_trials_for_a_randomized_family_names_n_trials():
    with pytest.raises(ValueError, match=r"^The 'n_trials' parameter of storage_frontier must "
                                         r"exceed batch_size=50 for the randomized family "
                                         r"'bgc'.*got 10\.$"):
        storage_frontier("bgc", 0.1, 12, make_stragglers("fixed", s=2), n_trials=10)
    # a deterministic family needs no code draws: 10 trials are fine
    r = storage_frontier("approx-frc", 0.5, 12, make_stragglers("fixed", s=2), n_trials=10,
                         rng=0)
    assert r.points[0].estimate.n == 10


def test_sgc_frontier_takes_its_p_through_code_params():
    r = storage_frontier("sgc", 0.3, 12, make_stragglers("bernoulli", p=0.2), n_trials=40,
                         batch_size=10, rng=1, code_params={"p": 0.2})
    assert r.points[0].row_weight is not None


def test_same_rng_same_frontier_and_the_rng_is_the_only_source():
    kw = {"n_trials": 60, "batch_size": 10}
    a = storage_frontier("bgc", 0.2, 16, make_stragglers("fixed", s=3), rng=11, **kw)
    b = storage_frontier("bgc", 0.2, 16, make_stragglers("fixed", s=3),
                         rng=np.random.default_rng(11), **kw)
    c = storage_frontier("bgc", 0.2, 16, make_stragglers("fixed", s=3), rng=12, **kw)
    assert dict(a.measured) == dict(b.measured)
    assert dict(a.measured) != dict(c.measured)


def test_bad_stragglers_and_theory_inputs():
    with pytest.raises(TypeError, match=r"'stragglers' parameter of storage_frontier"):
        storage_frontier("bgc", 0.1, 12, 3)
    with pytest.raises(ValueError, match=r"'s' parameter of source_text_storage"):
        source_text_storage(10, 10, 0.1)
    with pytest.raises(ValueError, match=r"'epsilon' parameter of log_storage"):
        log_storage(10, -1.0)
    with pytest.raises(ValueError, match=r"'s' parameter of exact_storage"):
        exact_storage(-1)


@pytest.mark.slow
def test_source_text_parameters_table():
    """n = 200, s = 40 (the source text's example), 1000 sets per weight: 1-2 minutes.

    Measured (seed 2026): bgc 4 / 10 / 24 at eps 0.1 / 0.03 / 0.01; approx-frc 2 / 3 / 3;
    signed-sparse none (its error stays near s/n = 0.2 for every row weight up to 200).
    """
    eps = [0.1, 0.03, 0.01]
    fixed = make_stragglers("fixed", s=40)
    kw = {"n_trials": 1000, "batch_size": 50, "rng": 2026}
    exact = exact_storage(40)
    for family in ("bgc", "approx-frc"):
        r = storage_frontier(family, eps, 200, fixed, **kw)
        assert np.all(np.diff(r.row_weight) >= 0)
        assert np.all(r.storage <= exact)
        assert np.all(r.storage >= np.floor(storage_lower_bound(200, 40, eps)))
    closed = {d: approx_frc_expected_error(200, d, 40) for d in (2, 3)}
    assert closed[2] > 0.03 >= closed[3]
    r = storage_frontier("signed-sparse", eps, 200, fixed, **kw)
    assert all(p.row_weight is None for p in r.points)
    assert all(abs(e.mean - 0.2) < 0.06 for w, e in r.measured.items() if w >= 4)
