"""Theory beside measurement: bound tables, floors of coding and channel error, joint policy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aircomp_agc.learning import make_problem
from aircomp_agc.learning.theory import (
    Setting,
    bound_table,
    joint_policies,
    joint_training_table,
    predicted_floor,
    wireless_floor,
)

CODING = dict(p=0.2, channel="awgn", snr_db=100.0)


@pytest.fixture(scope="module")
def dirichlet_problem():
    return make_problem("logistic", dataset="breast-cancer", n_partitions=10,
                        partition="dirichlet", alpha=0.3, reg=0.3, rng=0)


@pytest.fixture(scope="module")
def table(dirichlet_problem):
    settings = [Setting("coding w=1", row_weight=1, **CODING),
                Setting("coding w=4", row_weight=4, **CODING),
                Setting("channel 10 dB", code="uncoded", channel="rayleigh", snr_db=10.0)]
    return bound_table(dirichlet_problem, settings=settings, rounds=100, reps=3, tail=25,
                       draws=400, rng=1)


def test_bound_table_entries_are_finite_and_the_recursion_holds(table):
    assert [r.kind for r in table.rows] == ["coding only", "coding only", "channel only"]
    for row in table.rows:
        assert not row.not_applicable
        for name in ("error_energy", "epsilon", "epsilon_tail", "sigma2", "epsilon_code",
                     "sigma2_partitions"):
            assert math.isfinite(getattr(row, name)), (row.label, name)
        for est in (row.floor, row.distance, row.final_loss):
            assert np.isfinite([est.mean, est.ci_low, est.ci_high]).all()
        for check in (row.source, row.source_floor, row.source_variance, row.recursion,
                      row.inexact_floor, row.wireless, row.wireless_distance):
            assert math.isfinite(check.bound) and check.bound >= 0, row.label
            assert math.isfinite(check.measured)
        # L-smoothness makes the recursion hold in every run and every round (step 1/L)
        assert row.recursion.holds, (row.label, row.recursion)
        assert row.recursion.ratio > 0.01  # and it is not vacuous
        # the source text's theorem with the run's epsilon and sigma^2 holds on the curve
        assert row.source.holds and row.source.at >= 1
        assert row.prediction is not None and row.prediction.floor > 0
    assert table.problem["ideal_tail"] < 1e-7  # error-free descent has converged
    text = table.to_markdown()
    assert "coding w=4" in text and ("holds" in text)
    assert set(table.failing()) <= {r.label for r in table.rows}


def test_coding_floor_is_positive_with_heterogeneous_partitions_and_shrinks_with_row_weight(
        table):
    w1, w4, channel = table.rows
    ideal = table.problem["ideal_tail"]
    for row in (w1, w4, channel):
        # coding error is multiplicative on partition gradients, channel noise scales with
        # the messages: neither vanishes at the optimum of heterogeneous partitions
        assert row.floor.mean > 100 * ideal, row.label
        assert row.error_energy > 0
        assert row.epsilon_tail > row.epsilon  # relative error grows as grad F -> 0
    assert w1.floor.ci_low > 0 and w4.floor.ci_low > 0
    assert w4.floor.ci_high < w1.floor.ci_low
    assert w4.epsilon_code < w1.epsilon_code
    assert channel.epsilon_code == 0.0  # uncoded, everyone responds: no coding error
    # the inexact-gradient floor bounds the measurement; the linearized prediction is close
    for row in (w1, w4, channel):
        assert row.inexact_floor.holds
        assert 0.5 < row.floor.mean / row.prediction.floor < 2.0, row.label


def test_prediction_of_the_ideal_aggregator_is_zero(dirichlet_problem):
    pred = predicted_floor(dirichlet_problem, "ideal")
    assert pred.floor == pred.distance == 0.0


def test_wireless_floor_in_package_units():
    assert wireless_floor(0.5, 0.1, 2e-3) == pytest.approx(0.5 * 2e-3 / 0.2)
    assert wireless_floor(0.5, 0.1, 2e-3, 1e-3) == pytest.approx(0.5 * 3e-3 / 0.2)


@pytest.mark.sionna  # imports TensorFlow
def test_nonconvex_models_are_marked_not_applicable():
    mlp = make_problem("mlp", n_partitions=4, rng=0)
    tab = bound_table(mlp, settings=[Setting("coding", row_weight=2, **CODING)], rounds=2,
                      reps=1, tail=1)
    row = tab.rows[0]
    assert "not strongly convex" in row.not_applicable
    assert row.source is None and row.recursion is None and row.floor is None
    assert math.isfinite(row.final_loss.mean)
    assert "not applicable" in tab.to_markdown()
    with pytest.raises(ValueError, match="not strongly convex"):
        predicted_floor(mlp, "ideal")


def test_joint_policy_against_the_standard_pipeline_in_training():
    policies = [p for p in joint_policies() if p[1] != "joint-model"]
    tab = joint_training_table(n_partitions=8, row_weight=3, policies=policies, rounds=6,
                               reps=2, early=3, late=3, rng=0)
    labels = [r.label for r in tab.rows]
    assert labels[0].startswith("standard") and len(labels) == 3
    std, oracle = tab.rows[0], tab.rows[1]
    assert std.early_gain == pytest.approx(1.0) and std.late_gain == pytest.approx(1.0)
    # the standard plan is feasible for the joint problem: with the oracle Gram matrix the
    # joint policy lowers the aggregation error
    assert oracle.early_gain > 1.0
    for r in tab.rows:
        assert 0 <= r.rounds_to_target.mean <= 7
        assert np.isfinite([r.final_suboptimality.mean, r.test_accuracy.mean, r.early_error,
                            r.late_error, r.early_heterogeneity, r.late_heterogeneity]).all()
        assert 0 <= r.early_heterogeneity <= 1
    assert "joint (online model)" in tab.to_markdown()


def test_fused_partition_gradients_do_not_depend_on_the_chunking():
    # chunks of 37 samples cut through partitions of unequal sizes (quantity skew)
    prob = make_problem("softmax", dataset="wine", n_partitions=9, partition="quantity",
                        alpha=0.5, rng=2)
    W = 0.1 * np.random.default_rng(0).standard_normal((3, prob.dim))
    whole = prob.partition_gradients(W)
    prob.chunk_bytes = 37 * prob.n_features * prob.X.itemsize
    np.testing.assert_allclose(prob.partition_gradients(W), whole, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(whole.sum(1), prob.gradient(W), rtol=1e-12, atol=1e-14)
