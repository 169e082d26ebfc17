"""Benchmark: per-partition gradients and coded over-the-air training rounds (issue 9, §6).

Run ``python benchmarks/bench_learning.py`` (``--quick`` for smaller sizes). One run prints
three tables of wall-clock times (``time.perf_counter``; every contender of a table is run
in turn, ``--repeat`` times, and the best and the median are kept, so that a load change
on a shared machine hits all of them alike) and their ratios against the targets:

(a) **Per-partition gradients** of a ``LinearProblem`` (one pass over the data in
    cache-sized chunks: scores, residuals, then one sparse-dense product that sums
    ``x_i r_i`` within every partition, BLAS on one thread) against one plain full-batch
    gradient of the same model (``r = residual(X w)``, ``r^T X``: two passes over the data;
    target: close to 1x) and against a Python loop over partitions (slice the partition's
    rows, its scores, residuals and ``r_j^T X_j``). The plain gradient is timed with the
    default BLAS threads and with BLAS on one thread; ratios are against the faster of the
    two (on a loaded 2-core machine, multi-threaded OpenBLAS is often the slower).
    Logistic regression with ``k = 200`` partitions, ``D = 1,000`` parameters,
    ``N = 100,000`` samples (and a batch of 4 models at once); softmax regression on
    ``digits`` (``k = 100``); the logistic data again with ``k = 5,000`` partitions of 20
    samples, where a loop over partitions pays its per-partition overhead.

(b) **A coded over-the-air round for logistic regression** (same data, ``k = n = 200``,
    ``bgc`` row weight 5, 10% Bernoulli stragglers, Rayleigh at 20 dB, optimal power
    control): partition gradients + ``CodedAirComp.round`` against one plain full-batch
    gradient (target: within 1.5x).

(c) **The same for a Keras MLP on digits** with ``k = n = 100``: partition gradients
    (per-sample gradients in one vectorized pass, then segment sums) + the round, against
    one plain full-batch gradient (assign the weights, one compiled ``GradientTape``
    gradient of the mean loss; target: within 5x). For reference: the CNN, and the
    previous method (a ``pfor`` Jacobian of the ``k`` partition losses, about ``k``
    backward passes).

The data of (a) and (b) are synthetic (``N`` standard normal feature vectors, labels from a
logistic model with a random weight vector): the cost does not depend on their values.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from aircomp_agc.aggregation import CodedAirComp
from aircomp_agc.coding import make_code, make_stragglers
from aircomp_agc.learning import Dataset, make_problem, partition
from aircomp_agc.learning.problems import LinearProblem


def race(repeat: int, contenders: dict) -> dict[str, tuple[float, float]]:
    """``{name: (best, median)}`` seconds; the contenders take turns ``repeat`` times."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # warm-up (compilation, caches)
        fn()
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (min(t), float(np.median(t))) for name, t in times.items()}


def pinned(fn):
    """``fn`` with BLAS limited to one thread (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    def run():
        with threadpool_limits(1, user_api="blas"):
            return fn()

    return run


def table(title: str, res: dict, references: list[str], targets: dict[str, str]) -> None:
    """Ratios against the faster reference (by best and by median time)."""
    best_ref = min(res[r][0] for r in references)
    med_ref = min(res[r][1] for r in references)
    print(f"\n{title}")
    print(f"{'':48s} {'best ms':>9s} {'median ms':>10s} {'best ratio':>10s} "
          f"{'median ratio':>12s}  target")
    for name, (best, med) in res.items():
        print(f"{name:48s} {1e3 * best:9.2f} {1e3 * med:10.2f} {best / best_ref:10.2f} "
              f"{med / med_ref:12.2f}  {targets.get(name, '')}")


def binary_data(n_samples: int, n_features: int, rng) -> Dataset:
    gen = np.random.default_rng(rng)
    X = gen.standard_normal((n_samples, n_features))
    w = gen.standard_normal(n_features) / np.sqrt(n_features)
    y = (X @ w + gen.logistic(size=n_samples) > 0).astype(np.int64)
    n_test = max(n_samples // 100, 10)
    return Dataset(X[n_test:], y[n_test:], X[:n_test], y[:n_test], "binary", 2,
                   "synthetic-binary")


def partition_loop(prob: LinearProblem, w: np.ndarray) -> np.ndarray:
    """Per-partition gradients with a Python loop over partitions (the baseline)."""
    ends = np.cumsum(prob.sizes)
    out = np.empty((prob.n_partitions, prob.dim))
    for j, (a, b) in enumerate(zip(ends - prob.sizes, ends, strict=True)):
        Xj = prob.X[a:b]
        r = prob._residual(prob._scores(Xj, w), slice(a, b))
        g = (r @ Xj if r.ndim == 1 else (Xj.T @ r).ravel()) / prob.n_samples
        out[j] = g + prob.reg * (prob.sizes[j] / prob.n_samples) * w
    return out


def linear_tables(n_samples: int, repeat: int) -> None:
    """Tables (a) and (b)."""
    t0 = time.perf_counter()
    data = binary_data(n_samples + n_samples // 100, 999, rng=0)
    assign = partition(data.y_train, 200, "iid", rng=1)
    prob = LinearProblem("logistic", data, assign, reg=1e-3)
    print(f"setup: logistic problem N = {prob.n_samples}, D = {prob.dim}, k = "
          f"{prob.n_partitions} in {time.perf_counter() - t0:.1f} s (L and mu from X^T X; "
          "the optimum is not needed and not solved)")
    w = 0.01 * np.random.default_rng(2).standard_normal(prob.dim)
    W4 = 0.01 * np.random.default_rng(3).standard_normal((4, prob.dim))
    G = prob.partition_gradients(w)
    np.testing.assert_allclose(G, partition_loop(prob, w), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(G.sum(0), prob.gradient(w), rtol=1e-9, atol=1e-12)
    soft = make_problem("softmax", dataset="digits", n_partitions=100, rng=0)
    ws = 0.01 * np.random.default_rng(4).standard_normal(soft.dim)
    np.testing.assert_allclose(soft.partition_gradients(ws), partition_loop(soft, ws),
                               rtol=1e-9, atol=1e-12)

    full = ["full-batch gradient", "full-batch gradient, BLAS on 1 thread"]
    res = race(repeat, {
        full[0]: lambda: prob.gradient(w),
        full[1]: pinned(lambda: prob.gradient(w)),
        "partition gradients, one pass": lambda: prob.partition_gradients(w),
        "partition gradients, Python loop (BLAS 1 thread)": pinned(
            lambda: partition_loop(prob, w)),
        "4 models: 4 full-batch gradients": lambda: [prob.gradient(v) for v in W4],
        "4 models: partition gradients, one pass": lambda: prob.partition_gradients(W4),
    })
    table(f"(a) logistic regression, N = {prob.n_samples}, D = {prob.dim}, k = 200", res,
          full, {"partition gradients, one pass": "close to 1x"})
    res = race(repeat * 3, {
        full[0]: lambda: soft.gradient(ws),
        full[1]: pinned(lambda: soft.gradient(ws)),
        "partition gradients, one pass": lambda: soft.partition_gradients(ws),
        "partition gradients, Python loop (BLAS 1 thread)": pinned(
            lambda: partition_loop(soft, ws)),
    })
    table(f"(a) softmax regression on digits, N = {soft.n_samples}, D = {soft.dim}, k = 100",
          res, full, {"partition gradients, one pass": "close to 1x"})

    agg = CodedAirComp(code=make_code("bgc", n=200, row_weight=5, rng=0), channel="rayleigh",
                       snr_db=20.0, stragglers=make_stragglers("bernoulli", p=0.1))
    gen = np.random.default_rng(5)
    res = race(repeat, {
        full[0]: lambda: prob.gradient(w),
        full[1]: pinned(lambda: prob.gradient(w)),
        "partition gradients + coded round": lambda: agg.round(prob.partition_gradients(w),
                                                               rng=gen),
        "  partition gradients": lambda: prob.partition_gradients(w),
        "  coded round (CodedAirComp.round)": lambda: agg.round(G, rng=gen),
    })
    table("(b) coded over-the-air round, logistic, k = n = 200, bgc w = 5, 10% stragglers, "
          "Rayleigh 20 dB", res, full,
          {"partition gradients + coded round": "<= 1.5x"})

    # many small partitions: where a loop over partitions pays its Python overhead
    assign = partition(data.y_train, 5000, "iid", rng=1)
    small = LinearProblem("logistic", data, assign, reg=1e-3)
    res = race(max(repeat // 2, 2), {
        full[0]: lambda: small.gradient(w),
        full[1]: pinned(lambda: small.gradient(w)),
        "partition gradients, one pass": lambda: small.partition_gradients(w),
        "partition gradients, Python loop (BLAS 1 thread)": pinned(
            lambda: partition_loop(small, w)),
    })
    table(f"(a) logistic regression, N = {small.n_samples}, D = {small.dim}, k = 5,000 "
          "(20 samples per partition)", res, full,
          {"partition gradients, one pass": "close to 1x"})


def keras_table(name: str, repeat: int) -> None:
    """Table (c) for one Keras model."""
    kp = make_problem(name, dataset="digits", n_partitions=100, rng=0)
    tf = kp.tf
    wk = kp.initial(rng=1)
    gen = np.random.default_rng(6)

    @tf.function
    def full_grad():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(kp._sample_losses(kp.X, kp.y))
        grads = tape.gradient(loss, kp.model.trainable_variables)
        return tf.concat([tf.reshape(g, [-1]) for g in grads], 0)

    def plain():
        kp._assign(wk)
        return full_grad().numpy() + kp.reg * wk

    @tf.function
    def jacobian():
        k = kp.n_partitions
        with tf.GradientTape() as tape:
            per = kp._sample_losses(kp.X, kp.y)
            losses = tf.math.unsorted_segment_sum(per, kp._seg, k) / kp.n_samples
        jac = tape.jacobian(losses, kp.model.trainable_variables, experimental_use_pfor=True)
        return tf.concat([tf.reshape(j, (k, -1)) for j in jac], axis=1)

    def previous():
        kp._assign(wk)
        return jacobian().numpy()

    Gk = kp.partition_gradients(wk)
    np.testing.assert_allclose(Gk.sum(0), plain(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Gk, previous() + kp.reg * (kp.sizes / kp.n_samples)[:, None]
                               * wk, rtol=1e-9, atol=1e-13)
    agg = CodedAirComp(code=make_code("bgc", n=100, row_weight=3, rng=0), channel="rayleigh",
                       snr_db=20.0, stragglers=make_stragglers("bernoulli", p=0.1))
    contenders = {
        "full-batch gradient": plain,
        "partition gradients + coded round": lambda: agg.round(kp.partition_gradients(wk),
                                                               rng=gen),
        "  partition gradients": lambda: kp.partition_gradients(wk),
        "  coded round (CodedAirComp.round)": lambda: agg.round(Gk, rng=gen),
        "  previous: pfor Jacobian of the k losses": previous,
    }
    res = race(repeat * 3 if name == "mlp" else max(repeat // 2, 2), contenders)
    table(f"(c) Keras {name.upper()} on digits, N = {kp.n_samples}, D = {kp.dim}, "
          "k = n = 100, bgc w = 3", res, ["full-batch gradient"],
          {"partition gradients + coded round": "<= 5x" if name == "mlp" else "(reference)"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 20,000 instead of 100,000")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-keras", action="store_true", help="skip table (c)")
    args = ap.parse_args()
    n_samples = 20_000 if args.quick else 100_000
    print(f"cores: {os.cpu_count()}, N = {n_samples}, repeat = {args.repeat}")
    linear_tables(n_samples, args.repeat)
    if not args.no_keras:
        for name in ("mlp", "cnn"):
            keras_table(name, args.repeat)


if __name__ == "__main__":
    main()
