"""Benchmark: draw 100,000 x 100 Rayleigh gains with NumPy (double, single) and Sionna.

Run: ``python benchmarks/bench_channels.py [batch] [n_devices]``. One timed run per
backend (after a small warm-up draw, so the TensorFlow import and graph set-up are not
counted); rates are complex gains per second, in millions.

The "sionna-rayleigh (end to end)" rows include the conversion to NumPy and the reshape
to ``[batch, n_rx_ant, n_devices]``; the "raw" rows time Sionna's ``RayleighBlockFading``
call alone (TensorFlow tensors out).
"""

from __future__ import annotations

import sys
import time

from channels import make_channel


def _rate(n: int, seconds: float) -> float:
    return n / seconds / 1e6


def run(batch: int = 100_000, n_devices: int = 100) -> list[tuple[str, float, float]]:
    """``(label, seconds, M gains/s)`` for each backend and precision."""
    n = batch * n_devices
    rows = []
    for name in ("rayleigh", "sionna-rayleigh"):
        for precision in ("double", "single"):
            model = make_channel(name, precision=precision)
            model.draw(16, n_devices, rng=0)  # warm-up (imports TensorFlow for Sionna)
            t0 = time.perf_counter()
            model.draw(batch, n_devices, rng=1)
            dt = time.perf_counter() - t0
            label = f"{name} ({'NumPy' if name == 'rayleigh' else 'end to end'}), {precision}"
            rows.append((label, dt, _rate(n, dt)))
    from sionna.phy import config
    from sionna.phy.channel import RayleighBlockFading

    for precision in ("double", "single"):
        block = RayleighBlockFading(1, 1, n_devices, 1, precision=precision)
        block(16, 1)
        config.seed = 1
        t0 = time.perf_counter()
        a, _ = block(batch, 1)
        _ = a.shape  # eager: the tensor is computed on return
        dt = time.perf_counter() - t0
        rows.append((f"sionna RayleighBlockFading (raw TF), {precision}", dt, _rate(n, dt)))
    return rows


def main(argv: list[str]) -> None:
    batch = int(argv[0]) if argv else 100_000
    n_devices = int(argv[1]) if len(argv) > 1 else 100
    print(f"Rayleigh gains: batch {batch} x {n_devices} devices = {batch * n_devices:,} gains")
    for label, dt, rate in run(batch, n_devices):
        print(f"  {label:<48s} {dt * 1e3:9.1f} ms  {rate:8.1f} M gains/s")


if __name__ == "__main__":
    main(sys.argv[1:])
