"""Benchmark: batched box-constrained QP solver against a per-realization lsq_linear loop.

The problem of joint decoding and power control, built like the real one: ``--batch``
realizations of a random 0/1 code ``B`` (``n`` workers x ``n`` partitions, each entry 1 with
probability ``row_weight / n``), partition-gradient second moments ``S = m2 11^T + v I``,
``M = B S B^T``, ``q = B S 1``, message RMS ``s_i = sqrt(M_ii)``; 10% compute stragglers and
workers that store nothing are fixed at 0 (``lo = hi = 0``); the others get the power box
``|u_i| <= sqrt(P g_i / eta) / s_i`` with ``g_i ~ Exp(1)``. For each ``eta`` in ``--etas``:

* ``batched``: :func:`aircomp_agc.aggregation.boxqp.solve_box_qp` on the whole batch, cold
  start (best of ``--repeat``);
* ``lsq_linear loop``: ``scipy.optimize.lsq_linear`` once per realization on the same problem
  written as least squares (``A = S^{1/2} B^T`` restricted to the non-fixed workers,
  ``b = S^{1/2} 1``), with its default method ``trf`` and with ``bvls``; the loop runs on the
  first ``--loop-subset`` realizations and its time is scaled linearly to the batch.

Objectives are compared realization by realization (``max rel gap`` = largest
``(f_batched - f_lsq) / |f_lsq|``; negative means the batched solver found a lower value).
Then one warm-started sweep over a grid of ``eta`` (how the joint policy uses the solver)
against the same sweep cold.

Both sides run with BLAS limited to one thread. Times are reported as CPU time of this
process (robust on a shared machine) and wall-clock; the speed-up targets (>= 10x, objective
within 1e-6 relative) are checked on CPU time.

Run: ``python benchmarks/bench_boxqp.py [--batch 2000 --n 50 --loop-subset 2000]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy.optimize import lsq_linear
from threadpoolctl import threadpool_limits

from aircomp_agc.aggregation.boxqp import solve_box_qp


def build(args, rng):
    n, k = args.n, args.n
    B = (rng.random((args.batch, n, k)) < args.row_weight / k).astype(float)
    S = args.m2 * np.ones((k, k)) + args.v * np.eye(k)
    half = (np.sqrt(args.v) * np.eye(k)
            + (np.sqrt(args.v + k * args.m2) - np.sqrt(args.v)) / k * np.ones((k, k)))
    M = B @ S @ B.transpose(0, 2, 1)
    q = B @ S.sum(axis=1)
    s = np.sqrt(np.diagonal(M, axis1=1, axis2=2))
    silent = (rng.random((args.batch, n)) < args.stragglers) | (s == 0)
    with np.errstate(divide="ignore"):
        radius = np.where(silent, 0.0, np.sqrt(args.power * rng.exponential(size=(args.batch, n)))
                          / np.where(s > 0, s, 1.0))
    return B, half, M, q, radius


def lsq_loop(B, half, M, q, hi, rows, method):
    """One lsq_linear call per realization; returns the objectives ``u^T M u - 2 q^T u``."""
    k = half.shape[0]
    b = half @ np.ones(k)
    out = np.empty(rows)
    for r in range(rows):
        free = hi[r] > 0
        u = np.zeros(hi.shape[1])
        if free.any():
            A = half @ B[r][free].T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kw = {"tol": 1e-12} if method == "bvls" else {}
                u[free] = lsq_linear(A, b, bounds=(-hi[r, free], hi[r, free]), method=method,
                                     **kw).x
        out[r] = u @ M[r] @ u - 2.0 * q[r] @ u
    return out


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--row-weight", type=float, default=4.0)
    parser.add_argument("--stragglers", type=float, default=0.1)
    parser.add_argument("--m2", type=float, default=1.0, help="mean-gradient energy")
    parser.add_argument("--v", type=float, default=0.1, help="heterogeneity variance")
    parser.add_argument("--power", type=float, default=1.0)
    parser.add_argument("--etas", type=str, default="0.03,0.3,3")
    parser.add_argument("--loop-subset", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    B, half, M, q, radius = build(args, rng)
    rows = min(args.loop_subset, args.batch)
    scale = args.batch / rows
    etas = [float(e) for e in args.etas.split(",")]

    print(f"box QP of joint decoding and power control: {args.batch:,} realizations, n = {args.n}, "
          f"row weight ~{args.row_weight:g}, {args.stragglers:.0%} stragglers, "
          f"S = {args.m2:g} 11^T + {args.v:g} I, P = {args.power:g}")
    print(f"  lsq_linear loops timed on {rows:,} realizations, x{scale:g}; "
          f"CPU and wall seconds for the whole batch; BLAS on one thread")
    ok = True
    with threadpool_limits(1, user_api="blas"):
        solve_box_qp(M[:4], q[:4], -radius[:4], radius[:4])  # warm-up
        for eta in etas:
            hi = radius / np.sqrt(eta)
            best = None
            for _ in range(args.repeat):
                res, cpu, wall = timed(lambda hi=hi: solve_box_qp(M, q, -hi, hi))
                if best is None or cpu < best[1]:
                    best = (res, cpu, wall)
            res, cpu_b, wall_b = best
            at_bound = np.mean((np.abs(res.x) == hi)[hi > 0])
            print(f"\n  eta = {eta:g}: {at_bound:.0%} of the free variables end on their bound, "
                  f"converged {res.converged.mean():.0%}, {res.iterations} iterations (max)")
            print(f"    batched              cpu {cpu_b:8.3f} s   wall {wall_b:8.3f} s")
            for method in ("trf", "bvls"):
                f_ref, cpu_l, wall_l = timed(
                    lambda method=method, hi=hi: lsq_loop(B, half, M, q, hi, rows, method))
                f = res.objective[:rows]
                gap = (f - f_ref) / np.abs(f_ref)
                ratio = cpu_l * scale / cpu_b
                good = ratio >= 10 and gap.max() <= 1e-6
                ok &= good
                print(f"    lsq_linear {method:4s}      cpu {cpu_l * scale:8.3f} s   wall "
                      f"{wall_l * scale:8.3f} s   speed-up {ratio:6.1f}x (wall "
                      f"{wall_l * scale / wall_b:5.1f}x)   max rel gap {gap.max():+.1e} "
                      f"(min {gap.min():+.1e})   {'ok' if good else 'MISSED'}")

        grid = 10.0 ** np.linspace(-2, 2, 17)

        def sweep(warm):
            x, iters = None, 0
            for eta in grid:
                hi = radius / np.sqrt(eta)
                r = solve_box_qp(M, q, -hi, hi, x0=x if warm else None)
                x, iters = r.x, iters + r.iterations
            return r.objective, iters

        (f_cold, it_cold), cpu_c, wall_c = timed(lambda: sweep(False))
        (f_warm, it_warm), cpu_w, wall_w = timed(lambda: sweep(True))
        diff = np.max(np.abs(f_warm - f_cold) / np.abs(f_cold))
    print(f"\n  sweep over {grid.size} values of eta (1e-2..1e2): cold cpu {cpu_c:.3f} s "
          f"({it_cold} iterations summed), warm-started cpu {cpu_w:.3f} s ({it_warm}); "
          f"{cpu_c / cpu_w:.1f}x; objectives agree to {diff:.1e}")
    print(f"  targets (>= 10x on CPU time, objective within 1e-6): "
          f"{'met' if ok else 'NOT met'}")
    print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
