"""The learning layer: data, partitions, problems (against independent solvers), training."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from aircomp_agc.aggregation import CodedAirComp
from aircomp_agc.coding import make_code, make_stragglers
from aircomp_agc.learning import (
    inexact_gd_bound,
    load_dataset,
    make_problem,
    partition,
    source_text_bound,
    train,
)


@pytest.fixture(scope="module", params=["ridge", "logistic", "softmax"])
def problem(request):
    kw = {"dataset": "wine"} if request.param == "softmax" else {}
    return make_problem(request.param, n_partitions=12, reg=1e-2, rng=0, **kw)


def test_partition_gradients_add_up_and_match_finite_differences(problem):
    rng = np.random.default_rng(1)
    w = 0.1 * rng.standard_normal((3, problem.dim))
    G = problem.partition_gradients(w)
    assert G.shape == (3, problem.n_partitions, problem.dim)
    np.testing.assert_allclose(G.sum(1), problem.gradient(w), atol=1e-12)
    v, h = w[0], 1e-6
    idx = rng.choice(problem.dim, 5, replace=False)
    fd = [(problem.loss(v + h * e) - problem.loss(v - h * e)) / (2 * h)
          for e in np.eye(problem.dim)[idx]]
    np.testing.assert_allclose(fd, problem.gradient(v)[idx], rtol=1e-5, atol=1e-8)
    # each partition evaluated at its own model (FedAvg local steps): same at a common w
    local = problem.partition_gradients(np.repeat(w[:, None], problem.n_partitions, 1),
                                        per_partition=True)
    np.testing.assert_allclose(local, G, atol=1e-14)


def test_optimum_agrees_with_an_independent_solver(problem):
    res = minimize(lambda v: float(problem.loss(v)), np.zeros(problem.dim),
                   jac=problem.gradient, method="BFGS", options={"gtol": 1e-10})
    assert problem.f_star <= res.fun + 1e-10
    assert res.fun - problem.f_star < 1e-8
    assert problem.f_star_tol < 1e-12
    # L and mu bracket the Hessian's spectrum at w* (finite-difference Hessian)
    h = 1e-5
    H = np.array([(problem.gradient(problem.w_star + h * e) - problem.gradient(
        problem.w_star - h * e)) / (2 * h) for e in np.eye(problem.dim)])
    eig = np.linalg.eigvalsh((H + H.T) / 2)
    assert eig[-1] <= problem.L * (1 + 1e-6) and eig[0] >= problem.mu * (1 - 1e-6)


def test_minibatch_gradients_are_unbiased():
    prob = make_problem("logistic", n_partitions=8, rng=3)
    w = np.full(prob.dim, 0.05)
    gen = np.random.default_rng(0)
    draws = np.stack([prob.minibatch_partition_gradients(w, 16, rng=gen) for _ in range(4000)])
    mean, se = draws.mean(0), draws.std(0) / np.sqrt(len(draws))
    # coordinates of one partition's estimate are strongly correlated, so no "fraction
    # of |z| < 3" rule: every |z| below 4.5 (false alarm < 1e-3 even for 248 entries)
    z = np.abs(mean - prob.partition_gradients(w)) / np.maximum(se, 1e-12)
    assert z.max() < 4.5


def test_gradient_descent_converges_at_the_linear_rate():
    prob = make_problem("ridge", n_partitions=10, rng=0)
    hist = train(prob, rounds=60, rng=0)
    bound = source_text_bound(hist.suboptimality[0], prob.L, prob.mu, 60, 0.0, 0.0)
    assert np.all(hist.suboptimality <= bound * (1 + 1e-9) + 1e-15)
    assert hist.loss.shape == (61,) and hist.lr == pytest.approx(1 / prob.L)


def test_coded_aircomp_training_obeys_the_inexact_gradient_bound():
    prob = make_problem("logistic", n_partitions=20, rng=0)
    code = make_code("bgc", n=20, row_weight=3, rng=0)
    agg = CodedAirComp(code=code, channel="rayleigh", power_control="optimal_power",
                       snr_db=20.0, stragglers=make_stragglers("bernoulli", p=0.1))
    hist = train(prob, agg, rounds=80, reps=4, rng=5)
    assert hist.loss.shape == (4, 81)
    bound = inexact_gd_bound(hist.suboptimality[:, 0], prob.L, prob.mu,
                             hist.aggregation_error)
    assert np.all(hist.suboptimality <= bound * (1 + 1e-9) + 1e-12)
    assert np.all(np.isfinite(hist.error_parts["coding"]))
    assert np.all(hist.transmitting <= 20)
    # the error parts add up to the aggregation error (cross terms included)
    total = sum(hist.error_parts[k] for k in hist.error_parts)
    assert total.shape == hist.aggregation_error.shape


def test_fedavg_with_one_local_step_is_gradient_descent():
    prob = make_problem("softmax", dataset="wine", n_partitions=6, rng=2)
    a = train(prob, rounds=20, method="gd", rng=0)
    b = train(prob, rounds=20, method="fedavg", local_steps=1, rng=0)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10)
    c = train(prob, rounds=20, method="fedavg", local_steps=3, rng=0)
    assert c.loss[-1] < c.loss[0]


def test_divergence_stops_with_the_round_and_keeps_the_history():
    prob = make_problem("ridge", n_partitions=5, rng=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = train(prob, rounds=2000, lr=50.0 / prob.L, rng=0)
    # Exactly the toolkit's two warnings: no NumPy overflow noise from the diverging run.
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert "above 2/L" in messages[0] and "at round" in messages[1]
    assert 0 < hist.rounds_run < 2000 and "round" in hist.stopped
    assert hist.loss.shape == (hist.rounds_run + 1,)


def test_datasets_are_standardized_on_the_training_part_only():
    data = load_dataset("breast-cancer", rng=0)
    np.testing.assert_allclose(data.X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(0), 1, atol=1e-12)
    assert np.abs(data.X_test.mean(0)).max() > 1e-3
    assert data.task == "binary" and data.n_classes == 2
    with pytest.raises(ValueError, match="Did you mean 'digits'"):
        load_dataset("digit")
    lin = load_dataset("linear", condition_number=1000.0, n_features=10, rng=1)
    assert lin.task == "regression"
    fed = load_dataset("fedprox", n_clients=5, n_samples=500, rng=2)
    assert fed.groups is not None and fed.task == "multiclass"


def test_partitions():
    y = np.repeat(np.arange(10), 100)
    iid = partition(y, 20, "iid", rng=0)
    assert np.bincount(iid).min() == np.bincount(iid).max() == 50
    skew = partition(y, 20, "dirichlet", alpha=0.1, rng=0)
    assert np.bincount(skew, minlength=20).min() >= 1

    def mean_classes(assign):
        return np.mean([np.unique(y[assign == j]).size for j in range(20)])

    assert mean_classes(skew) < 0.6 * mean_classes(iid)
    qty = partition(y, 20, "quantity", alpha=0.3, rng=0)
    assert np.bincount(qty).max() > 3 * np.bincount(qty).min()
    with pytest.raises(ValueError, match="at most the number of samples 1000"):
        partition(y, 1001)
    with pytest.raises(ValueError, match="more partitions|at most the"):
        make_problem("logistic", n_partitions=10_000, rng=0)


def test_sgd_repetitions_draw_their_own_minibatches():
    prob = make_problem("logistic", n_partitions=6, rng=0)
    hist = train(prob, rounds=30, method="sgd", batch_size=4, reps=3, rng=2)
    assert np.unique(hist.loss[:, -1]).size == 3
