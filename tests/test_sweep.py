"""Sweep axes (lists and generators), grid/zip expansion and canonical point keys."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aircomp_agc.engine.sweep import MAX_POINTS, Sweep, expand_axis, point_key

# ------------------------------------------------------------------------- axis generators


def test_integer_range_includes_stop_and_stays_int():
    values = expand_axis("row_weight", {"range": [2, 20, 2]})
    assert values == list(range(2, 21, 2))
    assert all(type(v) is int for v in values)
    assert expand_axis("k", {"range": [10, 1, -3]}) == [10, 7, 4, 1]
    assert expand_axis("k", {"range": [2, 19, 2]}) == list(range(2, 19, 2))  # stop not reached


def test_float_range_is_rounded_to_clean_values():
    values = expand_axis("p", {"range": [0, 1, 0.1]})
    assert len(values) == 11
    assert values == [round(0.1 * i, 12) for i in range(11)]
    assert values[3] == 0.3  # not 0.30000000000000004
    assert expand_axis("p", {"range": [-0.3, 0.3, 0.1]})[3] == 0.0
    assert math.copysign(1.0, expand_axis("p", {"range": [-0.3, 0.3, 0.1]})[3]) == 1.0


def test_linspace_and_logspace_match_numpy():
    assert expand_axis("snr_db", {"linspace": [0, 30, 7]}) == [0, 5, 10, 15, 20, 25, 30]
    lin = expand_axis("x", {"linspace": [0.1, 0.9, 9]})
    np.testing.assert_allclose(lin, np.linspace(0.1, 0.9, 9), rtol=0, atol=1e-12)
    log = expand_axis("eps", {"logspace": [-3, -1, 5]})
    np.testing.assert_allclose(log, np.logspace(-3, -1, 5), rtol=1e-11)
    assert log[0] == 0.001 and log[-1] == 0.1
    assert expand_axis("x", {"linspace": [4, 9, 1]}) == [4.0]


def test_explicit_list_is_kept():
    assert expand_axis("code", ["bgc", "frc"]) == ["bgc", "frc"]


@pytest.mark.parametrize(
    ("spec", "exc", "match"),
    [
        ([], ValueError, r"'ax' must be a non-empty list"),
        (3, TypeError, r"'ax' must be a list of values or a table .*got int 3"),
        ({"rang": [1, 2, 1]}, ValueError, r"exactly one of range.*did you mean 'range'\?"),
        ({"range": [1, 2, 1], "linspace": [1, 2, 3]}, ValueError, r"exactly one of"),
        ({"range": [1, 2]}, TypeError, r"must be 3 numbers \[start, stop, step\]; got \[1, 2\]"),
        ({"range": [1, 2, True]}, TypeError, r"must be 3 numbers"),
        ({"range": [1, "2", 1]}, TypeError, r"must be 3 numbers"),
        ({"range": [0, 1, 0]}, ValueError, r"step that moves start towards stop"),
        ({"range": [0, 1, -0.1]}, ValueError, r"step that moves start towards stop"),
        ({"range": [0, math.inf, 1]}, ValueError, r"3 finite numbers"),
        ({"range": [0, 1e300, 1e-300]}, ValueError, r"at most 100000"),
        ({"range": [0, 10**9, 1]}, ValueError, r"at most 100000"),
        ({"linspace": [0, 1, 0]}, ValueError, r"num must be an int in \[1, 100000\]; got 0"),
        ({"linspace": [0, 1, 2.5]}, TypeError, r"num must be an int"),
        ({"logspace": [0, 400, 3]}, ValueError, r"exponents must lie in \[-300, 300\]"),
    ],
)
def test_bad_axis_specs_name_the_key(spec, exc, match):
    with pytest.raises(exc, match=match) as info:
        expand_axis("ax", spec)
    assert "'ax'" in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------------- sweeps


def test_grid_is_the_full_product_first_axis_slowest():
    sw = Sweep("grid", {"code": ["a", "b"], "n": [10, 20, 30]})
    assert len(sw) == 6 and sw.names == ("code", "n")
    assert sw.points({"s": 2}) == [
        {"s": 2, "code": c, "n": n} for c in ("a", "b") for n in (10, 20, 30)
    ]


def test_zip_pairs_values_and_checks_lengths():
    sw = Sweep("zip", {"n": [10, 20], "s": [1, 2]})
    assert sw.points() == [{"n": 10, "s": 1}, {"n": 20, "s": 2}]
    with pytest.raises(ValueError, match=r"same length in zip mode; got n: 2, s: 3"):
        Sweep("zip", {"n": [10, 20], "s": [1, 2, 3]})


def test_no_axes_is_one_point():
    assert Sweep("grid", {}).points({"n": 5}) == [{"n": 5}]
    assert Sweep("zip", {}).points() == [{}]


def test_sweep_rejects_bad_mode_duplicates_and_huge_grids():
    with pytest.raises(ValueError, match=r"'sweep.mode' must be one of 'grid', 'zip'; got 'grd'"):
        Sweep("grd", {})
    with pytest.raises(ValueError, match=r"'sweep.axes.n' repeats the value 2 \(positions 1 and 2"):
        Sweep("grid", {"n": [1, 2, 2]})
    with pytest.raises(ValueError, match=r"'sweep.axes.n' must have at least one value"):
        Sweep("grid", {"n": []})
    big = list(range(1000))
    with pytest.raises(ValueError, match=rf"1000000 points in grid mode; at most {MAX_POINTS}"):
        Sweep("grid", {"a": big, "b": big})


@settings(max_examples=60, deadline=None)
@given(
    axes=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.lists(st.integers(-50, 50), min_size=1, max_size=4, unique=True),
        max_size=4,
    ),
    base=st.dictionaries(st.sampled_from(["x", "y"]), st.integers(), max_size=2),
)
def test_grid_matches_brute_force_nested_loops(axes, base):
    sw = Sweep("grid", axes)
    brute = [
        dict(base, **dict(zip(axes, combo, strict=True)))
        for combo in itertools.product(*axes.values())
    ]
    assert sw.points(base) == brute
    assert len(sw) == len(brute) == math.prod(len(v) for v in axes.values())
    keys = [point_key(p) for p in brute]
    assert len(set(keys)) == len(keys)


# ------------------------------------------------------------------------- point keys


def test_point_key_is_canonical_json():
    a = point_key({"snr_db": 10.0, "code": "bgc", "n": 20, "w": {"b": 1, "a": [1, 2.5]}})
    b = point_key({"w": {"a": [1, 2.5], "b": 1}, "n": 20, "code": "bgc", "snr_db": 10.0})
    assert a == b == '{"code":"bgc","n":20,"snr_db":10.0,"w":{"a":[1,2.5],"b":1}}'
    assert json.loads(a)["w"]["a"] == [1, 2.5]
    assert point_key({"x": 1}) != point_key({"x": 1.0})
    assert point_key({"x": 0.1 + 0.2}) == '{"x":0.30000000000000004}'  # shortest repr
    assert point_key({"name": "ñ"}) == '{"name":"\\u00f1"}'  # ASCII only
    assert point_key({"x": np.float64(2.5), "t": (1, 2)}) == '{"t":[1,2],"x":2.5}'


def test_point_key_rejects_nan_and_non_mappings():
    with pytest.raises(ValueError):
        point_key({"x": math.nan})
    with pytest.raises(TypeError, match="'point' parameter must be a mapping"):
        point_key([1, 2])
