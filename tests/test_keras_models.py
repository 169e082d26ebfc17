"""Keras problems: partition gradients (batched Jacobian) against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from aircomp_agc.learning import applicable, make_problem, train

pytestmark = pytest.mark.sionna  # imports TensorFlow


@pytest.fixture(scope="module")
def mlp():
    return make_problem("mlp", n_partitions=10, reg=1e-4, rng=0)


def test_partition_gradients_add_up_to_the_finite_difference_gradient(mlp):
    w = mlp.initial(rng=1)
    G = mlp.partition_gradients(w)
    assert G.shape == (10, mlp.dim)
    idx = np.random.default_rng(0).choice(mlp.dim, 6, replace=False)
    h = 1e-6
    fd = [(mlp.loss(w + h * e) - mlp.loss(w - h * e)) / (2 * h) for e in np.eye(mlp.dim)[idx]]
    np.testing.assert_allclose(fd, G.sum(0)[idx], rtol=1e-5, atol=1e-9)


def test_training_is_reproducible_and_learns(mlp):
    a = train(mlp, rounds=15, lr=0.5, rng=3)
    b = train(mlp, rounds=15, lr=0.5, rng=3)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.loss[-1] < 0.5 * a.loss[0] and a.test_accuracy[-1] > 0.5
    assert np.all(np.isnan(a.suboptimality))
    assert "not strongly convex" in applicable(mlp)


def test_cnn_needs_images():
    with pytest.raises(ValueError, match="8x8 images"):
        make_problem("cnn", dataset="wine", n_partitions=5, rng=0)
    cnn = make_problem("cnn", n_partitions=5, rng=0)
    assert cnn.partition_gradients(cnn.initial(rng=0)).shape == (5, cnn.dim)
