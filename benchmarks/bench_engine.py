"""Engine benchmarks: the cost of the engine itself, and what worker processes buy.

Run from the repository root::

    python benchmarks/bench_engine.py            # both parts, about a minute on 2 cores
    python benchmarks/bench_engine.py --quick    # smaller sizes

1. **Overhead** (serial executor): ``run_scenario`` over 1,000 cheap points (the
   ``tests.engine_fixtures:cheap`` experiment, ``n_trials`` normal samples per point) against
   a hand-written loop calling the experiment directly with one generator. The engine adds
   per-point seeding (``SeedSequence``), the Student-t summary, the atomic record write
   (temp file + ``os.replace``; ``fsync`` on a background thread), the CSV and the
   manifest. Printed as ``engine / direct - 1`` for several trial counts, with the absolute
   per-point overhead.
2. **Speed-up** of the process executor (all cores) over serial on a CPU-bound scenario
   (``tests.engine_fixtures:busy``: GOE eigenvalues, matrix size swept). BLAS is pinned to
   one thread per process so that the serial baseline does not already use every core.

Each timing is one run (the best of ``--repeat`` runs for the overhead part).
"""

from __future__ import annotations

import os

# Before NumPy loads: one BLAS thread per process (serial must not use both cores itself).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.engine_fixtures
os.chdir(ROOT)

from aircomp_agc.engine.run import run_scenario  # noqa: E402
from aircomp_agc.engine.scenario import parse_scenario  # noqa: E402
from tests.engine_fixtures import busy, cheap  # noqa: E402

CHEAP = """
[scenario]
name = "bench-overhead"
experiment = "tests.engine_fixtures:cheap"
description = "engine overhead"
seed = 1
[sweep.axes]
mu = {{ linspace = [0, 1, {points}] }}
[trials]
n = {trials}
"""

BUSY = """
[scenario]
name = "bench-busy"
experiment = "tests.engine_fixtures:busy"
description = "CPU-bound points"
seed = 1
[sweep.axes]
size = {{ range = [{size}, {last}, 1] }}
[trials]
n = {trials}
"""


BUSY_POINTS = """
[scenario]
name = "bench-overhead-busy"
experiment = "tests.engine_fixtures:busy"
description = "engine overhead, points of a few ms"
seed = 1
[params]
size = {size}
[sweep]
mode = "zip"
[sweep.axes]
tag = {{ range = [0, {last}, 1] }}
[trials]
n = {trials}
"""


def busy_tagged(*, rng, n_trials, size=200, tag=0):
    """``busy`` with a dummy ``tag`` so 1,000 points can share one matrix size."""
    return busy(rng=rng, n_trials=n_trials, size=size)


def overhead(
    points: int, trials: int, repeat: int, *, size: int | None = None
) -> tuple[float, float, float, float]:
    """Best-of-``repeat`` wall and CPU seconds: direct loop, and the engine (serial).

    ``size=None`` times the ``cheap`` experiment (Gaussian samples: the engine's CI costs as
    much per sample as drawing them); a ``size`` times ``busy`` (eigensolves of that size,
    i.e. points whose cost is the work, as in real studies).

    CPU time (``time.process_time``, this process and its threads) is reported too because
    wall time is at the mercy of other load on a shared machine.
    """
    if size is None:
        sc = parse_scenario(CHEAP.format(points=points, trials=trials))
        fn = cheap
    else:
        text = BUSY_POINTS.format(size=size, last=points - 1, trials=trials)
        sc = parse_scenario(text.replace("tests.engine_fixtures:busy", "__main__:busy_tagged"))
        fn = busy_tagged
    params = sc.points()
    direct = engine = direct_cpu = engine_cpu = float("inf")
    for _ in range(repeat):
        rng = np.random.default_rng(1)
        t0, c0 = time.perf_counter(), time.process_time()
        for p in params:
            fn(rng=rng, n_trials=trials, **p)
        direct = min(direct, time.perf_counter() - t0)
        direct_cpu = min(direct_cpu, time.process_time() - c0)
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            run_scenario(sc, results_dir=tmp, executor="serial")
            engine = min(engine, time.perf_counter() - t0)
            engine_cpu = min(engine_cpu, time.process_time() - c0)
    return direct, engine, direct_cpu, engine_cpu


def speedup(points: int, trials: int, size: int) -> tuple[float, float, int]:
    """Seconds of the serial and the process executor on the busy scenario."""
    sc = parse_scenario(BUSY.format(size=size, last=size + points - 1, trials=trials))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        serial = run_scenario(sc, results_dir=Path(tmp) / "s", executor="serial")
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        procs = run_scenario(sc, results_dir=Path(tmp) / "p", executor="processes")
        t_procs = time.perf_counter() - t0
        if serial.csv_path.read_text() != procs.csv_path.read_text():
            raise RuntimeError("serial and process executors disagree")
    return t_serial, t_procs, os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--repeat", type=int, default=3, help="overhead runs (best kept)")
    args = parser.parse_args(argv)
    load = f"{os.getloadavg()[0]:.1f}"
    points = 1000
    trial_counts = (1_000, 10_000, 100_000) if not args.quick else (1_000, 10_000)
    print(f"1) engine overhead, serial, {points} points (best of {args.repeat})")
    print(
        f"   {'points, trials':>16}  {'direct s':>9}  {'engine s':>9}  {'overhead':>9}"
        f"  {'us/point':>9}  {'CPU overhead':>12}  {'CPU us/point':>12}"
    )
    rows = [(f"cheap {t}", t, None) for t in trial_counts]
    rows.append(("busy 60x60 x20", 20, 60))  # points of a few ms, cost = work
    for label, trials, size in rows:
        direct, engine, direct_cpu, engine_cpu = overhead(points, trials, args.repeat, size=size)
        ratio, cpu_ratio = engine / direct - 1, engine_cpu / direct_cpu - 1
        per_point = (engine - direct) / points * 1e6
        cpu_per_point = (engine_cpu - direct_cpu) / points * 1e6
        print(
            f"   {label:>16}  {direct:>9.3f}  {engine:>9.3f}  {ratio:>8.1%}  {per_point:>9.0f}"
            f"  {cpu_ratio:>11.1%}  {cpu_per_point:>12.0f}"
        )
    n_points, trials, size = (8, 10, 150) if args.quick else (40, 40, 200)
    t_serial, t_procs, cores = speedup(n_points, trials, size)
    print(
        f"2) process executor vs serial, {n_points} CPU-bound points ({trials} eigensolves of "
        f"{size}x{size} to {size + n_points - 1}x{size + n_points - 1} each), {cores} cores:"
    )
    ratio = t_serial / t_procs
    print(f"   serial {t_serial:.2f} s, processes {t_procs:.2f} s, speed-up {ratio:.2f}x")
    print(f"   (load average before/after: {load}, {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
