"""Straggler models: closed-form marginals, order statistics, Markov run lengths, adversary.

Statistical checks use fixed seeds; a tolerance of ``Z`` standard errors (``Z = 4.5``,
two-sided false-alarm probability about 7e-6 per check under the model) is stated per test.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aircomp_agc._checks import Entry
from aircomp_agc.coding.adversarial import AdversarialStragglers, worst_stragglers_exhaustive
from aircomp_agc.coding.registry import make_code
from aircomp_agc.coding.stragglers import (
    STRAGGLERS,
    MarkovStragglers,
    ShiftedExponentialStragglers,
    list_stragglers,
    make_stragglers,
    straggler_tags,
)

Z = 4.5


def _within(mean_hat, p, n_samples, z=Z):
    """|p_hat - p| <= z * sqrt(p (1 - p) / n) for a Bernoulli frequency (elementwise)."""
    se = np.sqrt(np.maximum(p * (1 - p), 1e-12) / n_samples)
    return np.all(np.abs(np.asarray(mean_hat) - p) <= z * se)


# ----------------------------------------------------------------------------- registry


def test_registry_lists_all_models_and_marks_the_adversary_as_heuristic():
    entries = list_stragglers()
    assert all(isinstance(e, Entry) for e in entries)
    assert [e.name for e in entries] == [
        "adversarial", "bernoulli", "fixed", "markov", "shifted-exponential",
    ]
    assert "HEURISTIC" in STRAGGLERS.summary("adversarial")
    assert AdversarialStragglers.heuristic is True
    tags = {e.name: (e.tags["randomized"], e.tags["stateful"], e.tags["marginal"])
            for e in entries}
    assert tags == {
        "adversarial": (False, False, False),
        "bernoulli": (True, False, True),
        "fixed": (True, False, True),
        "markov": (True, True, True),
        "shifted-exponential": (True, False, True),
    }
    fixed = {p.name: p for p in next(e for e in entries if e.name == "fixed").parameters}
    assert set(fixed) == {"s"} and fixed["s"].required


def test_instance_tags_refine_the_registration():
    per_worker = make_stragglers("shifted-exponential", rate=[1.0, 2.0], wait_for=1)
    assert straggler_tags(per_worker)["marginal"] is False
    assert straggler_tags(make_stragglers("shifted-exponential", rate=[1.0, 2.0],
                                          deadline=1.0))["marginal"] is True
    assert straggler_tags(make_stragglers("markov", p_fast_to_slow=0.1,
                                          p_slow_to_fast=0.2))["stateful"] is True


def test_unknown_model_suggests_close_name():
    with pytest.raises(ValueError, match=r"Unknown straggler model 'bernouli'.*'bernoulli'"):
        make_stragglers("bernouli", p=0.1)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("fixed", {}, r"requires the parameter\(s\) 's'.*Accepted: s \(required\)"),
        ("bernoulli", {"p": 0.1, "q": 2}, r"has no parameter 'q'; accepted: p"),
        ("markov", {"p_fast_to_slow": 0.1}, r"requires the parameter\(s\) 'p_slow_to_fast'"),
        ("adversarial", {"s": 2}, r"requires the parameter\(s\) 'code'"),
        ("shifted-exponential", {"rate": 1.0, "dead_line": 2.0},
         r"has no parameter 'dead_line'.*Did you mean 'deadline'"),
    ],
)
def test_unknown_or_missing_parameters_list_the_accepted_ones(name, params, match):
    with pytest.raises(ValueError, match=rf"The straggler model '{name}' " + match):
        make_stragglers(name, **params)


# ----------------------------------------------------------------------------- fixed


@pytest.mark.parametrize("s", [0, 1, 5, 12])
def test_fixed_draws_exactly_s_stragglers(s):
    mask = make_stragglers("fixed", s=s).sample(500, 12, rng=1)
    assert mask.shape == (500, 12) and mask.dtype == bool
    assert np.all((~mask).sum(axis=1) == s)


def test_fixed_marginal_and_pair_frequencies_match_uniform_subsets():
    n, s, batch = 10, 3, 40_000
    model = make_stragglers("fixed", s=s)
    mask = model.sample(batch, n, rng=2)
    assert _within(mask.mean(axis=0), model.response_probability(n), batch)
    # P(i and j both straggle) = C(n-2, s-2) / C(n, s) for a uniform s-subset
    slow = (~mask).astype(float)
    pair = (slow.T @ slow / batch)[np.triu_indices(n, 1)]
    assert _within(pair, comb(n - 2, s - 2) / comb(n, s), batch)


# ----------------------------------------------------------------------------- bernoulli


def test_bernoulli_marginal_and_independence():
    n, p, batch = 8, 0.3, 40_000
    model = make_stragglers("bernoulli", p=p)
    mask = model.sample(batch, n, rng=3)
    assert _within(mask.mean(axis=0), 1 - p, batch)
    both = (mask[:, :, None] & mask[:, None, :]).mean(axis=0)[np.triu_indices(n, 1)]
    assert _within(both, (1 - p) ** 2, batch)


# ----------------------------------------------------------------------------- shifted exp


def test_shifted_exponential_deadline_probability_per_worker_rates():
    rates = np.array([0.5, 1.0, 2.0, 4.0])
    shift, deadline, batch = 0.2, 0.9, 40_000
    model = make_stragglers("shifted-exponential", rate=rates, shift=shift, deadline=deadline)
    expected = 1 - np.exp(-rates * (deadline - shift))
    np.testing.assert_allclose(model.response_probability(4), expected, rtol=1e-15)
    mask, latency = model.sample_with_latency(batch, 4, rng=4)
    assert _within(mask.mean(axis=0), expected, batch)
    assert np.all(latency <= deadline) and np.all(latency >= shift)


def test_shifted_exponential_deadline_before_shift_means_nobody_responds():
    model = make_stragglers("shifted-exponential", rate=1.0, shift=2.0, deadline=1.0)
    assert not model.sample(100, 5, rng=0).any()
    assert np.all(model.response_probability(5) == 0)


def test_wait_for_first_k_latency_is_the_order_statistic_and_its_mean_the_closed_form():
    n, k, rate, shift, batch = 20, 16, 2.0, 0.5, 20_000
    model = make_stragglers("shifted-exponential", rate=rate, shift=shift, wait_for=k)
    mask, latency = model.sample_with_latency(batch, n, rng=5)
    assert np.all(mask.sum(axis=1) == k)
    # same seed, same times: the responders are exactly the k fastest, latency = T_(k)
    times = model.sample_times(batch, n, rng=5)
    kth = np.sort(times, axis=1)[:, k - 1]
    np.testing.assert_array_equal(latency, kth)
    assert np.all(np.where(mask, times, -np.inf).max(axis=1) == kth)
    assert np.all(np.where(mask, np.inf, times).min(axis=1) > kth)
    # E[T_(k)] = shift + (1/rate) sum_{j<k} 1/(n-j); Z standard errors of the mean
    expected = shift + sum(1 / (n - j) for j in range(k)) / rate
    assert model.expected_latency(n) == pytest.approx(expected, rel=1e-14)
    se = latency.std(ddof=1) / np.sqrt(batch)
    assert abs(latency.mean() - expected) <= Z * se


def test_shifted_exponential_rates_must_match_workers():
    model = make_stragglers("shifted-exponential", rate=[1.0, 2.0], deadline=1.0)
    with pytest.raises(ValueError, match=r"'n_workers'.*per-worker rates \(2\); got 3"):
        model.sample(1, 3, rng=0)


# ----------------------------------------------------------------------------- markov


def test_markov_stationary_distribution_run_lengths_and_transitions():
    a, b = 0.1, 0.4  # fast->slow, slow->fast
    model = make_stragglers("markov", p_fast_to_slow=a, p_slow_to_fast=b)
    assert model.stationary_slow == pytest.approx(a / (a + b))
    assert model.mean_slow_run == pytest.approx(1 / b)
    assert model.mean_fast_run == pytest.approx(1 / a)
    batch, rounds, n = 200, 400, 10
    resp = model.sample_rounds(batch, n, n_rounds=rounds, rng=6)
    assert resp.shape == (batch, rounds, n)
    slow = ~resp
    # stationary start: the first round and the time average both have P(slow) = a/(a+b).
    # Rounds are correlated, so the time-average tolerance uses the chain's variance
    # inflation (1 + lam) / (1 - lam), lam = 1 - a - b (lag-one autocorrelation).
    pi = a / (a + b)
    assert _within(slow[:, 0].mean(), pi, batch * n)
    lam = 1 - a - b
    assert _within(slow.mean(), pi, batch * n * rounds / ((1 + lam) / (1 - lam)))
    # one-step transition frequencies
    prev, nxt = slow[:, :-1], slow[:, 1:]
    f_to_s = (nxt & ~prev).sum() / (~prev).sum()
    s_to_f = (~nxt & prev).sum() / prev.sum()
    assert _within(f_to_s, a, (~prev).sum()) and _within(s_to_f, b, prev.sum())
    # completed slow runs (bounded on both sides by fast rounds) have mean length 1/b
    x = slow.transpose(0, 2, 1).reshape(-1, rounds).astype(np.int8)
    d = np.diff(x, axis=1)
    starts, ends = np.nonzero(d == 1), np.nonzero(d == -1)
    runs = []
    for row in np.unique(starts[0]):  # test-side bookkeeping only
        st = starts[1][starts[0] == row]
        en = ends[1][ends[0] == row]
        en = en[en > st[0]]
        m = min(st.size, en.size)
        runs.append(en[:m] - st[:m])
    runs = np.concatenate(runs)
    assert abs(runs.mean() - 1 / b) <= Z * runs.std(ddof=1) / np.sqrt(runs.size)


def test_markov_single_round_sample_is_stationary():
    model = MarkovStragglers(p_fast_to_slow=0.2, p_slow_to_fast=0.3)
    mask = model.sample(30_000, 6, rng=7)
    assert _within(mask.mean(axis=0), model.response_probability(6), 30_000)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40), frac=st.floats(0, 1), batch=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_count_rules_hold_for_all_sizes(n, frac, batch, seed):
    s = int(round(frac * n))
    fixed = make_stragglers("fixed", s=s).sample(batch, n, rng=seed)
    assert fixed.shape == (batch, n) and np.all((~fixed).sum(axis=1) == s)
    k = max(1, n - s)
    model = make_stragglers("shifted-exponential", rate=1.5, shift=0.1, wait_for=k)
    mask, latency = model.sample_with_latency(batch, n, rng=seed)
    assert np.all(mask.sum(axis=1) == k) and np.all(latency >= 0.1)


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fixed", {"s": 3}),
        ("bernoulli", {"p": 0.2}),
        ("shifted-exponential", {"rate": 1.0, "wait_for": 7}),
        ("markov", {"p_fast_to_slow": 0.1, "p_slow_to_fast": 0.5}),
    ],
)
def test_seeded_draws_are_reproducible(name, params):
    model = make_stragglers(name, **params)
    a = model.sample(50, 10, rng=11)
    b = model.sample(50, 10, rng=np.random.default_rng(11))
    c = model.sample(50, 10, rng=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ----------------------------------------------------------------------------- adversarial


def test_adversary_finds_the_true_worst_set_on_approx_frc():
    code = make_code("approx-frc", n=12, row_weight=2)
    exact = worst_stragglers_exhaustive(code, 3)
    assert exact.heuristic is False and exact.n_evaluations == comb(12, 3)
    # the worst 3-set contains one whole group of 2: 2 of 12 partitions lost
    assert exact.error == pytest.approx(2 / 12)
    found = AdversarialStragglers(s=3, code=code).search(rng=0)
    assert found.heuristic is True
    assert found.error == pytest.approx(exact.error)
    assert (~found.mask).sum() == 3 and set(np.flatnonzero(~found.mask)) == set(found.stragglers)


@pytest.mark.parametrize(("family", "w", "seed"), [("bgc", 2, 0), ("signed-sparse", 3, 1)])
def test_adversary_beats_random_sets_and_compares_with_exhaustive(family, w, seed):
    from aircomp_agc.coding.decoders import decoding_errors

    code = make_code(family, n=12, row_weight=w, rng=seed)
    s = 3
    found = AdversarialStragglers(s=s, code=code).search(rng=seed)
    random_sets = make_stragglers("fixed", s=s).sample(300, 12, rng=seed)
    assert found.error >= decoding_errors(code, random_sets).max() - 1e-12
    exact = worst_stragglers_exhaustive(code, s)
    assert found.error <= exact.error + 1e-12
    # on these small codes greedy + swaps + 3 restarts reaches the exhaustive optimum
    assert found.error == pytest.approx(exact.error, rel=1e-9)


def test_sampled_swap_search_stays_between_random_sets_and_the_optimum():
    from aircomp_agc.coding.decoders import decoding_errors

    code = make_code("graph", n=14, row_weight=3, rng=2)
    exact = worst_stragglers_exhaustive(code, 4)
    found = AdversarialStragglers(s=4, code=code, max_batch=7, n_restarts=1).search(rng=3)
    random_sets = make_stragglers("fixed", s=4).sample(300, 14, rng=3)
    assert np.median(decoding_errors(code, random_sets)) <= found.error <= exact.error + 1e-12


def test_adversarial_sample_repeats_the_found_set():
    code = make_code("approx-frc", n=12, row_weight=2)
    model = make_stragglers("adversarial", s=3, code=code)
    mask = model.sample(4, 12, rng=0)
    assert mask.shape == (4, 12) and np.all(mask == mask[0]) and (~mask[0]).sum() == 3
    with pytest.raises(ValueError, match=r"'n_workers'.*must equal the code's n_workers \(12\)"):
        model.sample(1, 13, rng=0)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: make_stragglers("fixed", s=-1), ValueError, r"'s' parameter.*\[0, inf\); got -1"),
        (lambda: make_stragglers("fixed", s=1.5), TypeError, r"'s' parameter.*got float 1.5"),
        (lambda: make_stragglers("fixed", s=5).sample(1, 4), ValueError,
         r"'s' parameter.*with 4 workers must be an int in \[0, 4\]; got 5"),
        (lambda: make_stragglers("bernoulli", p=1.2), ValueError, r"'p' parameter.*\[0, 1\]"),
        (lambda: make_stragglers("bernoulli", p=0.1).sample(1, 0), ValueError, r"'n_workers'"),
        (lambda: make_stragglers("bernoulli", p=0.1).sample(0, 3), ValueError, r"'batch'"),
        (lambda: make_stragglers("shifted-exponential", rate=1.0), ValueError,
         r"exactly one of 'deadline'.*'wait_for'"),
        (lambda: make_stragglers("shifted-exponential", rate=0.0, deadline=1.0), ValueError,
         r"'rate' parameter.*\(0, inf\); got 0.0"),
        (lambda: make_stragglers("shifted-exponential", rate=[1.0, -1.0], deadline=1.0),
         ValueError, r"'rate' parameter.*positive"),
        (lambda: make_stragglers("shifted-exponential", wait_for=9).sample(1, 8), ValueError,
         r"'wait_for' parameter.*\[1, 8\]; got 9"),
        (lambda: make_stragglers("markov", p_fast_to_slow=0, p_slow_to_fast=0), ValueError,
         r"must not both be 0"),
        (lambda: make_stragglers("markov", p_fast_to_slow=0.1, p_slow_to_fast=0.1)
         .sample_rounds(1, 3, n_rounds=0), ValueError, r"'n_rounds'"),
        (lambda: make_stragglers("adversarial", s=1, code="frc"), TypeError,
         r"'code' parameter.*must be a Code; got str"),
        (lambda: make_stragglers("bernoulli", p=0.1).sample(1, 3, rng=-1), ValueError, r"'rng'"),
        (lambda: make_stragglers("adversarial", s=1, code=make_code("uncoded", n=3),
                                 max_batch=0), ValueError, r"'max_batch' parameter"),
        (lambda: make_stragglers("adversarial", s=1, code=make_code("uncoded", n=3),
                                 method="exact"), ValueError,
         r"'method' parameter.*'lstsq', 'one-step'; got 'exact'"),
    ],
)
def test_bad_input_names_the_parameter(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_closed_forms_that_do_not_exist_say_so():
    with pytest.raises(NotImplementedError, match="closed form"):
        ShiftedExponentialStragglers(rate=1.0, deadline=1.0).expected_latency(4)
    with pytest.raises(NotImplementedError, match="closed-form"):
        ShiftedExponentialStragglers(rate=[1.0, 2.0], wait_for=1).response_probability(2)


def test_wait_for_above_n_is_refused_alike_by_sample_and_response_probability():
    model = make_stragglers("shifted-exponential", rate=1.0, wait_for=9)
    match = r"'wait_for' parameter of make_stragglers\('shifted-exponential'\) with 8 workers " \
            r"must be an int in \[1, 8\]; got 9"
    for call in (lambda: model.sample(1, 8, rng=0), lambda: model.response_probability(8),
                 lambda: model.sample_with_latency(1, 8, rng=0),
                 lambda: model.expected_latency(8)):
        with pytest.raises(ValueError, match=match):
            call()
    np.testing.assert_allclose(model.response_probability(9), 1.0)  # k = n: everybody
    assert model.sample(3, 9, rng=0).all()


def test_fixed_marginal_refuses_more_stragglers_than_workers_like_sample():
    model = make_stragglers("fixed", s=5)
    for call in (lambda: model.sample(1, 4, rng=0), lambda: model.response_probability(4)):
        with pytest.raises(ValueError, match=r"'s' parameter.*with 4 workers.*got 5"):
            call()


def test_rng_is_keyword_only():
    model = make_stragglers("bernoulli", p=0.1)
    with pytest.raises(TypeError):
        model.sample(2, 3, 0)
    with pytest.raises(TypeError):
        make_stragglers("markov", p_fast_to_slow=0.1, p_slow_to_fast=0.2).sample_rounds(2, 3, 4)


def test_adversarial_sample_ignores_rng_and_follows_its_seed():
    code = make_code("approx-frc", n=12, row_weight=2)  # many equally bad sets: ties matter
    model = make_stragglers("adversarial", s=3, code=code)
    masks = [model.sample(1, 12, rng=seed)[0] for seed in (0, 1, 2)]
    assert all(np.array_equal(masks[0], m) for m in masks)
    assert np.array_equal(masks[0], model.search(rng=0).mask)  # seed 0 by default
    seeds = {tuple(make_stragglers("adversarial", s=3, code=code, seed=k).sample(1, 12)[0])
             for k in range(6)}
    assert len(seeds) > 1  # ties broken by the configured seed
