"""Benchmark: Monte-Carlo AirComp MSE over Rayleigh fading against bare normal generation.

The pipeline is one fading average of the over-the-air MSE: draw ``batch x K`` Rayleigh
gains (``channels.make_channel("rayleigh")``), run optimal power control (Cao et al.,
TWC 2020) on every realization, evaluate the per-realization MSE in closed form
(``channels.aircomp_mse``) and reduce to a mean with a 99% confidence interval. Its floor
is generating the same number of complex normals (``2 x batch x K`` standard normals with
the same NumPy generator): the channel draw alone cannot be cheaper. Target: the whole
pipeline within 3x of that floor. One run, wall-clock time (``time.perf_counter``).

Run: ``python benchmarks/bench_aircomp.py [--batch 100000] [--devices 100]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import ndtri

from channels import make_channel
from channels.aircomp import aircomp_mse
from channels.noise import noise_var_from_snr_db
from channels.power_control import optimal_power


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    batch, k = args.batch, args.devices
    noise_var = noise_var_from_snr_db(args.snr_db)

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    normals = rng.standard_normal((batch, k, 2))
    t_floor = time.perf_counter() - t0
    del normals

    channel = make_channel("rayleigh")
    rng = np.random.default_rng(args.seed)
    stages = {}
    t0 = time.perf_counter()
    draw = channel.draw(batch, k, rng=rng)
    stages["draw"] = time.perf_counter() - t0
    t = time.perf_counter()
    pc = optimal_power(draw.gain2, power=1.0, noise_var=noise_var)
    stages["optimal_power"] = time.perf_counter() - t
    t = time.perf_counter()
    mse = aircomp_mse(draw.h, pc, noise_var).mean
    mean = float(mse.mean())
    half = float(ndtri(0.995)) * float(mse.std(ddof=1)) / np.sqrt(batch)
    stages["aircomp_mse + mean/CI"] = time.perf_counter() - t
    t_total = time.perf_counter() - t0

    print(f"AirComp MSE, Rayleigh, optimal power control, {batch:,} x {k} devices, "
          f"SNR {args.snr_db:g} dB")
    print(f"  E[MSE] over fading = {mean:.6g} +- {half:.2g} (99% CI)")
    print(f"  floor: {2 * batch * k:,} standard normals     {t_floor:8.3f} s")
    for name, sec in stages.items():
        print(f"  {name:<42s}{sec:8.3f} s")
    print(f"  pipeline total                            {t_total:8.3f} s")
    print(f"  ratio pipeline / floor = {t_total / t_floor:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
