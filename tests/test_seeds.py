"""Seeds per (point, batch): stable hashing, exact derivation, order independence."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from aircomp_agc.engine.seeds import (
    point_rng,
    point_seed,
    point_spawn_key,
    stable_hash32,
    stable_hash64,
)
from aircomp_agc.engine.sweep import Sweep, point_key


def test_stable_hash_matches_sha256_test_vector():
    # FIPS 180-2 test vector: SHA-256("abc") = ba7816bf 8f01cfea 414140de ...
    assert stable_hash32("abc") == 0xBA7816BF
    assert stable_hash64("abc") == 0xBA7816BF8F01CFEA
    # SHA-256("") = e3b0c442 98fc1c14 ...
    assert stable_hash64("") == 0xE3B0C44298FC1C14


def test_stable_hash_does_not_depend_on_the_process_hash_salt():
    code = "from aircomp_agc.engine.seeds import stable_hash32 as h; print(h('{\"n\":10}'))"
    outs = set()
    for salt in ("1", "2", "random"):
        env = {"PYTHONHASHSEED": salt, "PATH": ""}
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        outs.add(int(run.stdout))
    assert outs == {stable_hash32('{"n":10}')}


def test_point_seed_is_the_documented_seed_sequence():
    key = '{"code":"bgc","n":20}'
    ss = point_seed(2026, key, 7)
    h = stable_hash64(key)
    assert ss.entropy == 2026
    assert ss.spawn_key == (h >> 32, h & 0xFFFFFFFF, 7)
    assert point_spawn_key(key, 7)[0] == stable_hash32(key)
    expected = np.random.default_rng(np.random.SeedSequence(2026, spawn_key=ss.spawn_key))
    np.testing.assert_array_equal(point_rng(2026, key, 7).random(5), expected.random(5))


def _draw(master: int, key: str, batch: int) -> np.ndarray:
    return point_rng(master, key, batch).standard_normal(4)


def test_streams_do_not_depend_on_visit_order_or_interleaving():
    points = Sweep("grid", {"code": ["a", "b", "c"], "n": [10, 20, 30, 40]}).points({"s": 1})
    jobs = [(point_key(p), b) for p in points for b in range(3)]
    in_order = {job: _draw(11, *job) for job in jobs}
    perm = np.random.default_rng(0).permutation(len(jobs))
    shuffled = {jobs[i]: _draw(11, *jobs[i]) for i in perm}
    # Interleave draws from other streams: a stream must not be affected by its neighbours.
    for job in jobs:
        point_rng(11, job[0], job[1] + 100).random(1000)
        np.testing.assert_array_equal(in_order[job], shuffled[job])
        np.testing.assert_array_equal(in_order[job], _draw(11, *job))


def test_points_batches_and_master_seeds_give_distinct_streams():
    keys = [point_key({"n": n, "snr_db": float(s)}) for n in range(10) for s in range(5)]
    firsts = {
        tuple(point_rng(m, k, b).integers(0, 2**63, size=2))
        for m in (0, 1, 2026)
        for k in keys
        for b in range(4)
    }
    assert len(firsts) == 3 * len(keys) * 4


def test_neighbouring_streams_are_uncorrelated():
    # Sample correlation of independent N(0,1) streams has sd 1/sqrt(m); 5 sd tolerance.
    m = 20_000
    key = point_key({"n": 100})
    base = point_rng(5, key, 0).standard_normal(m)
    others = [
        point_rng(5, key, 1).standard_normal(m),
        point_rng(6, key, 0).standard_normal(m),
        point_rng(5, point_key({"n": 101}), 0).standard_normal(m),
    ]
    for other in others:
        assert abs(np.corrcoef(base, other)[0, 1]) < 5 / np.sqrt(m)


@pytest.mark.parametrize(
    ("args", "exc", "match"),
    [
        ((-1, "{}", 0), ValueError, r"'master_seed' parameter of point_seed must be an int"),
        ((1.5, "{}", 0), TypeError, r"'master_seed'"),
        ((0, "{}", -2), ValueError, r"'batch_index' parameter of point_seed .* got -2"),
        ((0, {"n": 1}, 0), TypeError, r"'point_key' parameter of point_seed must be a str"),
    ],
)
def test_bad_arguments_are_named(args, exc, match):
    with pytest.raises(exc, match=match):
        point_seed(*args)


def test_stable_hash_rejects_non_strings():
    with pytest.raises(TypeError, match="'text' parameter must be a str"):
        stable_hash32(b"abc")
