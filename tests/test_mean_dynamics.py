"""Gradient descent on the mean aggregate (learning.mean_dynamics) against closed forms."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from aircomp_agc.aggregation import CodedAirComp
from aircomp_agc.coding import make_code, make_stragglers
from aircomp_agc.experiments.registry import get_experiment
from aircomp_agc.learning import make_problem, mean_aggregate_gd, train


class Weighted:
    """A deterministic, biased aggregator: ``sum_j c_j g_j`` with fixed weights ``c``."""

    def __init__(self, c):
        self.c = np.asarray(c, dtype=np.float64)

    def round(self, G, *, batch, rng=None):
        return SimpleNamespace(estimate=np.einsum("j,bjd->bd", self.c, G))


@pytest.fixture(scope="module")
def ridge():
    return make_problem("ridge", n_partitions=6, partition="quantity", alpha=0.5, rng=0)


def _affine_parts(prob):
    """``grad F_j(w) = A_j w - b_j`` of a quadratic problem, from its partition gradients."""
    zero = prob.partition_gradients(np.zeros((1, prob.dim)))[0]            # -b_j
    cols = prob.partition_gradients(np.eye(prob.dim))                      # [dim, k, dim]
    A = np.transpose(cols - zero[None], (1, 2, 0))                         # A_j[:, i]
    return A, -zero


def test_a_fixed_weighting_follows_its_linear_recursion_and_fixed_point(ridge):
    prob = ridge
    rng = np.random.default_rng(1)
    c = rng.uniform(0.6, 1.2, prob.n_partitions)
    A, b = _affine_parts(prob)
    Ac, bc = np.einsum("j,jdi->di", c, A), c @ b
    w0 = prob.initial(3, rng=2)
    lr = 1.0 / prob.L
    gaps = mean_aggregate_gd(prob, Weighted(c), w0, rounds=40, draws=3, rng=0)
    w = w0.copy()
    expected = [prob.loss(w) - prob.f_star]
    for _ in range(40):
        w = w - lr * (w @ Ac.T - bc)
        expected.append(prob.loss(w) - prob.f_star)
    np.testing.assert_allclose(gaps, np.array(expected).T, rtol=1e-9, atol=1e-12)
    # Its limit: the zero of sum_j c_j grad F_j, not w* (the partitions differ).
    w_fix = np.linalg.solve(Ac, bc)
    far = mean_aggregate_gd(prob, Weighted(c), w0[0], rounds=3000, rng=0)
    np.testing.assert_allclose(far[-1], prob.loss(w_fix) - prob.f_star, rtol=1e-6)
    assert far[-1] > 1e-6


def test_an_unbiased_aggregator_is_gradient_descent(ridge):
    prob = ridge
    w0 = prob.initial(2, rng=3)
    gaps = mean_aggregate_gd(prob, Weighted(np.ones(prob.n_partitions)), w0, rounds=30)
    exact = train(prob, "ideal", rounds=30, w0=w0[0], rng=0).suboptimality
    np.testing.assert_allclose(gaps[0], exact, rtol=1e-9, atol=1e-14)


def test_coded_aircomp_uses_the_same_realizations_every_round():
    prob = make_problem("logistic", dataset="breast-cancer", n_partitions=10,
                        partition="dirichlet", alpha=0.3, rng=0)
    agg = CodedAirComp(code=make_code("bgc", n=10, row_weight=3, rng=1), channel="rayleigh",
                       power_control="optimal_power", snr_db=10.0,
                       stragglers=make_stragglers("bernoulli", p=0.2))
    w0 = prob.initial(2, rng=4)
    first = mean_aggregate_gd(prob, agg, w0, rounds=15, draws=20, rng=5)
    again = mean_aggregate_gd(prob, agg, w0, rounds=15, draws=20, rng=5)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first[:, 0], prob.loss(w0) - prob.f_star)
    assert np.all(np.isfinite(first)) and np.all(first[:, -1] < first[:, 0])


def test_bad_inputs_are_one_line_errors(ridge):
    agg = Weighted(np.ones(ridge.n_partitions))
    with pytest.raises(ValueError, match="'w0'.*entries"):
        mean_aggregate_gd(ridge, agg, np.zeros(ridge.dim + 1), rounds=2)
    with pytest.raises(TypeError, match="'aggregator'.*round"):
        mean_aggregate_gd(ridge, "ideal", np.zeros(ridge.dim), rounds=2)
    with pytest.raises(ValueError, match="'draws'"):
        mean_aggregate_gd(ridge, agg, np.zeros(ridge.dim), rounds=2, draws=0)
    with pytest.raises(ValueError, match="'problem'.*convex"):
        mean_aggregate_gd(SimpleNamespace(convex=False, f_star=None), agg, np.zeros(3),
                          rounds=2)


def test_training_experiment_mean_curve_starts_where_the_runs_start():
    fn = get_experiment("training")
    out = fn(rng=np.random.default_rng(0), n_trials=2, problem="logistic",
             dataset="breast-cancer", n_partitions=10, partition="dirichlet", alpha=0.3,
             code="bgc", row_weight=3, p=0.2, snr_db=10.0, rounds=6, mean_draws=10)
    mean, runs = out["mean_suboptimality_curve"], out["suboptimality_curve"]
    assert mean.shape == runs.shape == (2, 7)
    np.testing.assert_allclose(mean[:, 0], runs[:, 0])   # the runs' own starting points
    assert np.all(np.isfinite(mean)) and np.all(mean[:, -1] < mean[:, 0])
    np.testing.assert_array_equal(out["mean_suboptimality"], mean[:, -1])
    # Without mean_draws nothing is computed; the other outputs are unchanged by it.
    plain = fn(rng=np.random.default_rng(0), n_trials=2, problem="logistic",
               dataset="breast-cancer", n_partitions=10, partition="dirichlet", alpha=0.3,
               code="bgc", row_weight=3, p=0.2, snr_db=10.0, rounds=6)
    assert "mean_suboptimality_curve" not in plain and "mean_suboptimality" not in plain
    np.testing.assert_array_equal(plain["suboptimality_curve"], runs)
    with pytest.raises(ValueError, match="'mean_draws'.*coded-aircomp"):
        fn.check(problem="logistic", dataset="", n_partitions=10, partition="iid", alpha=0.5,
                 reg=1e-2, aggregator="ideal", code="bgc", row_weight=3, s=2, p=0.1,
                 channel="rayleigh", policy="optimal_power", snr_db=10.0, threshold=0.0,
                 rounds=5, lr_scale=1.0, method="gd", target=1e-3, gradient_model="",
                 instance_seed=-1, ideal_reference=False, mean_draws=5)
