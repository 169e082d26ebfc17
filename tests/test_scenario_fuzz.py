"""Property-based fuzzing of scenario files: every input loads or fails with one line.

Inputs are random TOML trees (random keys, types and values, missing sections), trees
that are nearly valid, their TOML text, mutated valid files, random bytes and random
``--set`` overrides. Each case must either load -- and then give distinct, canonical
point keys and survive a ``to_dict`` round trip -- or raise :class:`ScenarioError` whose
message is one non-empty line starting with the file name. Any other exception fails.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aircomp_agc.engine import Scenario, ScenarioError, load_scenario, scenario_from_dict
from aircomp_agc.engine.scenario import parse_scenario
from aircomp_agc.engine.schema import (
    FIGURE_KEYS,
    SCENARIO_KEYS,
    SECTIONS,
    SWEEP_KEYS,
    TRIALS_KEYS,
)

N_CASES = 600

REFS = [f"tests.engine_fixtures:{f}" for f in ("cheap", "typed", "deterministic", "open_ended")]
BAD_REFS = ["nope", "tests.engine_fixtures:nope", "no_such_mod_q:f", "tests.engine_fixtures"]
PARAMS = ["mu", "sigma", "n", "code", "snr_db", "flag", "weights", "mode", "label", "scale"]
WORDS = sorted(
    set(SECTIONS + SCENARIO_KEYS + SWEEP_KEYS + TRIALS_KEYS + FIGURE_KEYS)
    | set(PARAMS)
    | {"range", "linspace", "logspace", "rng", "n_trials", "grid", "zip", "x", "value"}
)

keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=8))
scalars = st.one_of(
    st.booleans(),
    st.integers(-3, 30),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(WORDS + REFS + BAD_REFS + ["line", "scatter", "fast", "exact", "bgc"]),
    st.datetimes(timezones=st.none() | st.just(datetime.UTC)),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a plausible value, sometimes anything."""
    return st.one_of(valid, valid, valid, values)


small_num = st.one_of(st.integers(-5, 40), st.floats(-5, 40, allow_nan=False))
axis_spec = st.one_of(
    st.lists(st.one_of(small_num, st.sampled_from(["bgc", "frc", "fast", "exact"])), max_size=4),
    st.builds(
        lambda g, a: {g: a},
        st.sampled_from(["range", "linspace", "logspace", "rnge"]),
        st.lists(small_num, min_size=3, max_size=3),
    ),
)
scenario_table = st.fixed_dictionaries(
    {},
    optional={
        "name": maybe(st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)),
        "experiment": maybe(st.sampled_from(REFS + REFS + BAD_REFS)),
        "description": maybe(st.text(max_size=20)),
        "seed": maybe(st.integers(-2, 2**63 - 1)),
    },
)
params_table = st.dictionaries(
    st.sampled_from(PARAMS + ["rng", "bogus"]), maybe(small_num), max_size=4
)
sweep_table = st.fixed_dictionaries(
    {},
    optional={
        "mode": maybe(st.sampled_from(["grid", "zip"])),
        "axes": maybe(st.dictionaries(st.sampled_from(PARAMS), axis_spec, max_size=3)),
    },
)
trials_table = st.fixed_dictionaries(
    {},
    optional={
        k: maybe(v)
        for k, v in {
            "n": st.integers(-1, 5000),
            "rel_tol": st.floats(-0.5, 1.5),
            "metric": st.sampled_from(["x", "value", ""]),
            "min": st.integers(0, 500),
            "max": st.integers(0, 5000),
            "batch": st.integers(0, 600),
        }.items()
    },
)
figure_table = st.fixed_dictionaries(
    {},
    optional={
        "x": maybe(st.sampled_from(PARAMS)),
        "y": maybe(st.one_of(st.sampled_from(["x", "value"]), st.lists(st.text(max_size=4)))),
        "hue": maybe(st.sampled_from(PARAMS)),
        "logy": maybe(st.booleans()),
        "kind": maybe(st.sampled_from(["line", "scatter", "bar"])),
        "title": maybe(st.text(max_size=10)),
    },
)
structured_trees = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries(
        {},
        optional={
            "scenario": maybe(scenario_table),
            "params": maybe(params_table),
            "sweep": maybe(sweep_table),
            "trials": maybe(trials_table),
            "figure": maybe(figure_table),
        },
    ),
    st.dictionaries(keys, values, max_size=1),
)
random_trees = st.dictionaries(keys, values, max_size=6)

VALID_TEXT = """\
[scenario]
name = "fuzz"
experiment = "tests.engine_fixtures:typed"
description = "fuzz base"
seed = 3

[params]
n = 4
weights = [1, 2]

[sweep]
mode = "grid"
[sweep.axes]
code = ["bgc", "frc"]
snr_db = { range = [0, 10, 5] }

[trials]
rel_tol = 0.1
metric = "value"
min = 10
max = 100

[figure]
x = "snr_db"
y = "value"
hue = "code"
"""


BASE_TREE = tomllib.loads(VALID_TEXT)
edit_values = st.one_of(
    small_num,
    st.sampled_from(["bgc", "frc", "fast", "x", "value", "snr_db", "code", "zip", "grid"]),
    st.lists(small_num, min_size=1, max_size=3, unique=True),
    values,
)


@st.composite
def near_valid_trees(draw) -> dict:
    """The valid base file with 0-2 random edits (set, delete or add a key anywhere)."""
    tree = copy.deepcopy(BASE_TREE)
    for _ in range(draw(st.integers(0, 2))):
        tables, todo = [], [tree]
        while todo:
            node = todo.pop()
            tables.append(node)
            todo.extend(v for v in node.values() if isinstance(v, dict))
        node = draw(st.sampled_from(tables))
        op = draw(st.sampled_from(["set", "set", "delete", "add"]))
        if op != "add" and node:
            key = draw(st.sampled_from(sorted(node)))
            if op == "delete":
                del node[key]
            else:
                node[key] = draw(edit_values)
        else:
            node[draw(keys)] = draw(edit_values)
    return tree


def to_toml(tree: dict) -> str:
    """A minimal TOML writer: every key on its own line, tables inline."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return "nan" if math.isnan(v) else {math.inf: "inf", -math.inf: "-inf"}.get(v, repr(v))
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, datetime.date | datetime.time):
            return v.isoformat()
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"

    return "\n".join(f"{json.dumps(k)} = {value(v)}" for k, v in tree.items()) + "\n"


@st.composite
def mutated_text(draw) -> str:
    text = VALID_TEXT
    for _ in range(draw(st.integers(1, 4))):
        lines = text.splitlines(keepends=True) or [""]
        op = draw(st.sampled_from(["drop", "dup", "char", "insert", "truncate", "swap"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        text = "".join(lines)
        if op in ("char", "insert", "truncate") and text:
            pos = draw(st.integers(0, len(text) - 1))
            if op == "char":
                text = text[:pos] + draw(st.characters()) + text[pos + 1 :]
            elif op == "insert":
                text = text[:pos] + draw(st.text(max_size=6)) + text[pos:]
            else:
                text = text[:pos]
    return text


override_keys = st.one_of(
    st.sampled_from(
        [
            "trials.n",
            "trials.rel_tol",
            "trials.batch",
            "params.n",
            "params.mu",
            "params.weights",
            "sweep.axes.snr_db",
            "sweep.axes.mu",
            "sweep.mode",
            "figure.x",
            "figure.y",
            "scenario.seed",
            "scenario.name",
            "scenario.experiment",
            "sweep.axis",
            "params",
            "trials.n.deep",
            "a..b",
            "",
        ]
    ),
    st.text(max_size=10),
)
override_values = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "7",
            "1.5",
            "nan",
            "inf",
            "true",
            "[1, 2]",
            "[]",
            "{ range = [0, 1, 0.25] }",
            "{ logspace = [-1, 1, 3] }",
            "'bgc'",
            "zip",
            "1979-05-27",
            "[[[[",
            "{",
            "x\ny = 1",
        ]
    ),
    st.text(max_size=12),
)
overrides = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}={v}", override_keys, override_values), st.text(max_size=8)
    ),
    min_size=1,
    max_size=3,
)

cases = st.one_of(
    st.tuples(st.just("tree"), near_valid_trees()),
    st.tuples(st.just("text"), near_valid_trees().map(to_toml)),
    st.tuples(st.just("tree"), structured_trees),
    st.tuples(st.just("tree"), random_trees),
    st.tuples(st.just("text"), structured_trees.map(to_toml)),
    st.tuples(st.just("text"), random_trees.map(to_toml)),
    st.tuples(st.just("text"), mutated_text()),
    st.tuples(st.just("bytes"), st.binary(max_size=200)),
    st.tuples(st.just("bytes"), mutated_text().map(lambda t: t.encode("utf-8", "surrogatepass"))),
    st.tuples(st.just("overrides"), overrides),
)


def _check(scenario_or_error, source: str) -> None:
    if isinstance(scenario_or_error, ScenarioError):
        msg = str(scenario_or_error)
        assert msg and "\n" not in msg and len(msg.splitlines()) == 1, repr(msg)
        assert msg.startswith(f"{source}: ") and len(msg) > len(source) + 2, repr(msg)
        return
    sc = scenario_or_error
    assert isinstance(sc, Scenario)
    points = sc.points()
    assert len(points) == sc.n_points >= 1
    pkeys = [sc.point_key(p) for p in points]
    assert len(set(pkeys)) == len(pkeys)
    assert [json.loads(k) for k in pkeys] == [json.loads(json.dumps(p)) for p in points]
    assert scenario_from_dict(sc.to_dict(), source=source) == sc


def test_fuzzed_scenarios_load_or_fail_with_one_line(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "case.toml"
    seen = {"cases": 0, "loaded": 0}

    @settings(
        max_examples=N_CASES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases)
    def run(case):
        kind, payload = case
        seen["cases"] += 1
        source = "<string>" if kind == "text" else "<dict>" if kind == "tree" else str(path)
        try:
            if kind == "tree":
                result = scenario_from_dict(payload, source=source)
            elif kind == "text":
                result = parse_scenario(payload, source=source)
            elif kind == "bytes":
                path.write_bytes(payload)
                result = load_scenario(path)
            else:
                path.write_text(VALID_TEXT)
                result = load_scenario(path, payload)
        except ScenarioError as exc:
            result = exc
        _check(result, source)
        seen["loaded"] += not isinstance(result, ScenarioError)

    run()
    assert seen["cases"] >= 500, seen
    # The generators must reach the valid region too, or the round-trip checks are idle.
    assert seen["loaded"] >= 10, seen
