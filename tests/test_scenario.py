"""Scenario files: loading, --set overrides, validation messages, listing."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from aircomp_agc.engine import (
    Scenario,
    ScenarioError,
    TrialsSpec,
    list_scenarios,
    load_scenario,
    parse_scenario,
    point_seed,
    scenario_from_dict,
)
from aircomp_agc.engine.scenario import apply_overrides

ROOT = Path(__file__).resolve().parents[1]

VALID = textwrap.dedent(
    """\
    [scenario]
    name = "typed-study"
    experiment = "tests.engine_fixtures:typed"
    description = "Every kind of parameter"
    seed = 2026

    [params]
    n = 12
    flag = true
    weights = [1, 2.5]

    [sweep]
    mode = "grid"
    [sweep.axes]
    code = ["bgc", "approx-frc"]
    snr_db = { linspace = [0, 30, 4] }

    [trials]
    n = 2000
    batch = 500

    [figure]
    x = "snr_db"
    y = ["value", "code_len"]
    hue = "code"
    logy = true
    title = "Typed"
    """
)


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(VALID)
    return path


def _error(path: Path, overrides=(), text: str | None = None) -> str:
    if text is not None:
        path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    msg = str(info.value)
    assert msg and len(msg.splitlines()) == 1 and "\n" not in msg, msg
    assert msg.startswith(f"{path}: "), msg
    return msg


# ----------------------------------------------------------------------------- a valid file


def test_valid_file_loads_with_coerced_values(scenario_file):
    sc = load_scenario(scenario_file)
    assert (sc.name, sc.experiment, sc.seed) == ("typed-study", "tests.engine_fixtures:typed", 2026)
    assert sc.description == "Every kind of parameter"
    assert sc.params == {"n": 12, "flag": True, "weights": [1.0, 2.5]}  # ints -> floats
    assert type(sc.params["weights"][0]) is float
    assert sc.mode == "grid" and dict(sc.axes) == {
        "code": ("bgc", "approx-frc"),
        "snr_db": (0.0, 10.0, 20.0, 30.0),
    }
    assert sc.trials == TrialsSpec(n=2000, batch=500)
    assert sc.trials.fixed_batches() == [500] * 4
    assert sc.figure.x == "snr_db" and sc.figure.y == ("value", "code_len") and sc.figure.logy
    assert sc.source == scenario_file and sc.n_points == 8
    assert sc.experiment_fn().__name__ == "typed"


def test_points_are_full_keyword_dicts_in_sweep_order(scenario_file):
    sc = load_scenario(scenario_file)
    points = sc.points()
    expected = [
        {"n": 12, "flag": True, "weights": [1.0, 2.5], "code": c, "snr_db": s}
        for c in ("bgc", "approx-frc")
        for s in (0.0, 10.0, 20.0, 30.0)
    ]
    assert points == expected
    keys = [sc.point_key(p) for p in points]
    assert len(set(keys)) == 8
    assert keys[0] == ('{"code":"bgc","flag":true,"n":12,"snr_db":0.0,"weights":[1.0,2.5]}')
    # An integer in the file and the equivalent float give the same point and seed.
    sc2 = load_scenario(scenario_file, ["sweep.axes.snr_db=[0, 10, 20, 30]"])
    assert [sc2.point_key(p) for p in sc2.points()] == keys
    assert point_seed(sc.seed, keys[3], 1).spawn_key == point_seed(sc2.seed, keys[3], 1).spawn_key


def test_to_dict_round_trips(scenario_file):
    sc = load_scenario(scenario_file)
    again = scenario_from_dict(sc.to_dict())
    assert again == sc and again.points() == sc.points()


def test_minimal_file_defaults(tmp_path):
    text = (
        '[scenario]\nname = "m"\nexperiment = "tests.engine_fixtures:cheap"\nseed = 0\n'
        "[trials]\nrel_tol = 0.05\nmetric = 'x'\n"
    )
    sc = parse_scenario(text)
    assert sc.description == "" and sc.figure is None and sc.params == {}
    assert sc.points() == [{}] and sc.mode == "grid"
    assert sc.trials == TrialsSpec(rel_tol=0.05, metric="x", min=100, max=100_000, batch=100)
    sc = parse_scenario(text, overrides=["trials.min=200000"])
    assert (sc.trials.min, sc.trials.max, sc.trials.batch) == (200_000, 200_000, 200_000)


def test_zip_mode_and_open_ended_experiments(tmp_path):
    text = textwrap.dedent(
        """\
        [scenario]
        name = "z"
        experiment = "tests.engine_fixtures:open_ended"
        seed = 1
        [params]
        anything = { a = 1 }
        [sweep]
        mode = "zip"
        axes = { n = [10, 20], s = [1, 2] }
        [trials]
        n = 3
        """
    )
    sc = parse_scenario(text)
    assert sc.points() == [
        {"anything": {"a": 1}, "n": 10, "s": 1},
        {"anything": {"a": 1}, "n": 20, "s": 2},
    ]


# ----------------------------------------------------------------------------- overrides


def test_set_values_are_parsed_as_toml(scenario_file):
    sc = load_scenario(
        scenario_file,
        [
            "trials.n=500",
            "params.n = 200",
            "sweep.axes.code=['bgc']",
            "sweep.axes.snr_db={ range = [0, 1, 0.5] }",
            "params.label=hello world",  # not TOML: a bare string
            "figure.title=a=b",  # only the first '=' splits
            "params.mode='exact'",
            "scenario.description=",
        ],
    )
    assert sc.trials.n == 500 and sc.trials.batch == 500  # batch is re-checked against n
    assert sc.params["n"] == 200 and sc.params["label"] == "hello world"
    assert sc.params["mode"] == "exact" and sc.description == ""
    assert dict(sc.axes) == {"code": ("bgc",), "snr_db": (0.0, 0.5, 1.0)}
    assert sc.figure.title == "a=b"


def test_set_does_not_touch_the_input_tree():
    tree = {"trials": {"n": 1}}
    new, paths = apply_overrides(tree, ["trials.n=2", "params.x.y=[1]"])
    assert tree == {"trials": {"n": 1}}
    assert new == {"trials": {"n": 2}, "params": {"x": {"y": [1]}}}
    assert paths == {("trials", "n"), ("params", "x", "y")}
    value, _ = apply_overrides({}, ["a=1\nb = 2"])
    assert value == {"a": "1\nb = 2"}  # a second key is not smuggled in


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["trials.n"], r"--set expects 'dotted.key=value'; got 'trials.n'\."),
        (["trials..n=3"], r"--set key must be dotted names like 'trials.n'; got 'trials..n'"),
        (["trials.n.x=3"], r"--set trials.n.x: 'trials.n' is a int, not a table\."),
        (
            ["sweep.axis.x=1"],
            r"unknown key 'sweep.axis' \(from --set\); did you mean 'sweep.axes'\?",
        ),
        (
            ["trials.n=-1"],
            r"\[trials\] 'n' \(from --set\) must be an int in \[1, 1000000000\]; got -1\.$",
        ),
    ],
)
def test_bad_overrides_are_one_line(scenario_file, overrides, pattern):
    assert re.search(pattern, _error(scenario_file, overrides))


# ----------------------------------------------------------------------------- errors


def _without(text: str, line: str) -> str:
    assert line in text
    return text.replace(line, "")


CASES = [
    # (overrides, text transform, expected message after "<file>: ")
    (
        ["sweep.axis.x=1"],
        None,
        r"unknown key 'sweep.axis' \(from --set\); did you mean 'sweep.axes'\?$",
    ),
    (
        [],
        lambda t: t.replace("[trials]", "[trails]"),
        r"unknown key 'trails'; did you mean 'trials'\?$",
    ),
    (
        [],
        lambda t: t + "[extra]\n",
        r"unknown key 'extra'; allowed: scenario, params, sweep, trials",
    ),
    (
        [],
        lambda t: t.replace("seed =", "sed = 1\nseed ="),
        r"unknown key 'scenario.sed'; did you mean 'scenario.seed'\?$",
    ),
    (
        [],
        lambda t: t.replace("logy", "logg"),
        r"unknown key 'figure.logg'; did you mean 'figure.logy'\?$",
    ),
    (
        [],
        lambda t: t.replace("batch", "bach"),
        r"unknown key 'trials.bach'; did you mean 'trials.batch'\?$",
    ),
    (
        ["params.nn=3"],
        None,
        r"unknown key 'params.nn' \(from --set\), not a parameter of experiment "
        r"'tests.engine_fixtures:typed'; did you mean 'params.n'\?$",
    ),
    (
        ["sweep.axes.snr=[1]"],
        None,
        r"unknown key 'sweep.axes.snr'.*did you mean 'sweep.axes.snr_db'\?$",
    ),
    (["params.rng=1"], None, r"\[params\] 'rng' \(from --set\) is set by the engine"),
    (["sweep.axes.n_trials=[1]"], None, r"\[sweep.axes\] 'n_trials' .*is set by the engine"),
    (
        [],
        lambda t: _without(t, "n = 12\n"),
        r"\[params\] 'n' is required by experiment 'tests.engine_fixtures:typed'",
    ),
    (
        ["params.snr_db=3"],
        None,
        r"\[params\] 'snr_db' \(from --set\) is also swept in \[sweep.axes\]",
    ),
    (
        ["trials.rel_tol=0.1"],
        None,
        r"'trials' \(from --set\) must set exactly one of 'n' \(fixed count\) or 'rel_tol' "
        r"\(adaptive\); got keys \['batch', 'n', 'rel_tol'\]\.$",
    ),
    (
        [],
        lambda t: t.replace("n = 2000\nbatch = 500", "rel_tol = -0.1\nmetric = 'value'"),
        r"\[trials\] 'rel_tol' must be a float in \(0, 1\); got -0.1\.$",
    ),
    (
        [],
        lambda t: t.replace("n = 2000\nbatch = 500", "rel_tol = 0.1"),
        r"\[trials\] 'metric' is required with 'rel_tol'",
    ),
    (
        [],
        lambda t: t.replace("batch = 500", "metric = 'x'"),
        r"\[trials\] 'metric' is only valid with 'rel_tol'",
    ),
    (
        ["trials.n=0"],
        None,
        r"\[trials\] 'n' \(from --set\) must be an int in \[1, 1000000000\]; got 0\.$",
    ),
    (
        ["trials.n=2.5"],
        None,
        r"\[trials\] 'n' .*must be an int in \[1, 1000000000\]; got float 2.5\.$",
    ),
    (
        ["trials.batch=5000"],
        None,
        r"\[trials\] 'batch' .*must be an int in \[1, 2000\]; got 5000\.$",
    ),
    (["scenario.seed=-1"], None, r"\[scenario\] 'seed' .*must be an int >= 0; got -1\.$"),
    (["scenario.seed='1'"], None, r"\[scenario\] 'seed' .*must be an int >= 0; got str '1'\.$"),
    (
        ["scenario.name='a b'"],
        None,
        r"\[scenario\] 'name' .*must be a slug of 1-100 letters, digits, '-' or '_'; got str 'a b'",
    ),
    (
        ["scenario.experiment=decoding-eror"],
        None,
        r"\[scenario\] 'experiment' .*is not usable: Unknown experiment 'decoding-eror'",
    ),
    (
        ["scenario.experiment=tests.engine_fixtures:nope"],
        None,
        r"module 'tests.engine_fixtures' has no 'nope'",
    ),
    (
        ["scenario.experiment=no_such_pkg.mod:fn"],
        None,
        r"cannot import 'no_such_pkg.mod' \(ModuleNotFoundError",
    ),
    (["scenario.experiment=os:getcwd"], None, r"must accept the keyword argument 'rng'"),
    ([], lambda t: _without(t, 'name = "typed-study"\n'), r"\[scenario\] 'name' is required\.$"),
    (
        [],
        lambda t: t.replace("[scenario]", "[scenarios]"),
        r"unknown key 'scenarios'; did you mean 'scenario'\?$",
    ),
    ([], lambda t: t.split("[trials]")[0], r"'trials' section is missing"),
    (["params=3"], None, r"'params' \(from --set\) must be a table; got int 3\.$"),
    (["params.n=1e3"], None, r"\[params\] 'n' .*must be an int; got float 1000.0\.$"),
    (["params.flag=1"], None, r"\[params\] 'flag' .*must be a bool; got int 1\.$"),
    (["params.code='bgc'"], None, r"\[params\] 'code' .*also swept"),
    (
        ["params.mode=slow"],
        None,
        r"\[params\] 'mode' .*must be one of 'fast', 'exact'; got str 'slow'\.$",
    ),
    (
        ["params.weights=[1, 'a']"],
        None,
        r"\[params\] 'weights\[1\]' .*must be a float; got str 'a'\.$",
    ),
    (
        ["params.weights=1.5"],
        None,
        r"\[params\] 'weights' .*must be a list of floats; got float 1.5\.$",
    ),
    (["params.label=1979-05-27"], None, r"'label' .*not a date/time\); got datetime"),
    (["params.label=nan"], None, r"\[params\] 'label' .*must be a finite number; got float nan\.$"),
    (
        ["sweep.axes.snr_db=['a']"],
        None,
        r"\[sweep.axes\] 'snr_db\[0\]' .*must be a float; got str 'a'\.$",
    ),
    (
        ["sweep.axes.snr_db={ range = [0, 1, 0] }"],
        None,
        r"'sweep.axes.snr_db' \{range = \[start, stop, step\]\} needs a step",
    ),
    (["sweep.axes.snr_db={ rnge = [0, 1, 1] }"], None, r"did you mean 'range'\?$"),
    (["sweep.axes.snr_db=[]"], None, r"'sweep.axes.snr_db' must be a non-empty list"),
    (["sweep.axes.snr_db=[1, 1.0]"], None, r"'sweep.axes.snr_db' repeats the value 1.0"),
    (
        ["sweep.mode=zip"],
        None,
        r"'sweep.axes' must all have the same length in zip mode; got code: 2, snr_db: 4",
    ),
    (
        ["sweep.mode=cartesian"],
        None,
        r"\[sweep\] 'mode' .*must be 'grid' or 'zip'; got str 'cartesian'\.$",
    ),
    (
        ["sweep.axes=[1]"],
        None,
        r"\[sweep\] 'axes' .*must be a table of parameter = values; got list \[1\]",
    ),
    (
        ["figure.x=snr"],
        None,
        r"\[figure\] 'x' .*must be one of the swept parameters \(code, snr_db\); got 'snr'\. "
        r"Did you mean 'snr_db'\?$",
    ),
    (["figure.x=n"], None, r"\[figure\] 'x' .*must be one of the swept parameters"),
    (["figure.hue=snr_db"], None, r"\[figure\] 'hue' .*must differ from 'x'"),
    (
        ["figure.y=[]"],
        None,
        r"\[figure\] 'y' .*must be a metric name or a non-empty list of metric names",
    ),
    (["figure.y=['a', 'a']"], None, r"\[figure\] 'y' .*must be distinct metric names"),
    (
        ["figure.kind=bar"],
        None,
        r"\[figure\] 'kind' .*must be 'line' or 'scatter'; got str 'bar'\.$",
    ),
    (["figure.logx=1"], None, r"\[figure\] 'logx' .*must be true or false; got int 1\.$"),
    ([], lambda t: t.replace('x = "snr_db"\n', ""), r"\[figure\] 'x' is required in \[figure\]\.$"),
]


@pytest.mark.parametrize(("overrides", "transform", "pattern"), CASES)
def test_each_problem_gives_one_line_naming_the_key(scenario_file, overrides, transform, pattern):
    text = transform(VALID) if transform else None
    msg = _error(scenario_file, overrides, text)
    assert re.search(pattern, msg[len(str(scenario_file)) + 2 :]), msg


def test_figure_without_swept_axes(tmp_path):
    text = VALID.split("[sweep]")[0] + "[trials]\nn = 5\n[figure]\nx = 'n'\ny = 'value'\n"
    msg = _error(tmp_path / "f.toml", text=text)
    assert msg.endswith("must be a swept parameter, but [sweep.axes] is empty; got 'n'.")


def test_file_level_problems(tmp_path):
    missing = tmp_path / "missing.toml"
    assert _error(missing) == f"{missing}: no such scenario file."
    assert _error(tmp_path) == f"{tmp_path}: is a directory, not a scenario file."
    bad = tmp_path / "bad.toml"
    msg = _error(bad, text='[scenario]\nname = "x"\nseed = \n')
    assert re.fullmatch(rf"{re.escape(str(bad))}: invalid TOML: .*\(at line 3, column 8\)\.", msg)
    msg = _error(bad, text="[scenario]\nname = [[[[[[[[[[" + "[" * 2000)
    assert "invalid TOML" in msg
    bad.write_bytes(b"[scenario]\nname = '\xff\xfe'\n")
    assert _error(bad) == f"{bad}: not UTF-8 text (byte 0xff at offset 19)."


def test_messages_never_span_lines_even_with_odd_keys(tmp_path):
    text = VALID + '\n[sweep2]\n"a\\nb\\u2028c" = 1\n'
    msg = _error(tmp_path / "odd.toml", text=text)
    assert "unknown key 'sweep2'" in msg
    text = VALID.replace("[params]\n", '[params]\n"we\\nird" = 1\n')
    msg = _error(tmp_path / "odd.toml", text=text)
    assert "unknown key 'params.\"we\\nird\"', not a parameter" in msg
    assert len(str(ScenarioError("a\nb\u2029c\x85")).splitlines()) == 1


# ----------------------------------------------------------------------------- listing


def test_list_scenarios_reports_good_and_bad_files(tmp_path):
    (tmp_path / "b.toml").write_text(VALID)
    (tmp_path / "a.toml").write_text(VALID.replace("seed = 2026", "seed = -5"))
    (tmp_path / "c.toml").write_text("not toml [")
    (tmp_path / "notes.txt").write_text("ignored")
    rows = list_scenarios(tmp_path)
    assert [r.path.name for r in rows] == ["a.toml", "b.toml", "c.toml"]
    a, b, c = rows
    assert (b.name, b.experiment, b.description, b.problem) == (
        "typed-study",
        "tests.engine_fixtures:typed",
        "Every kind of parameter",
        None,
    )
    assert a.name == "typed-study" and "'seed' must be an int >= 0; got -5." in a.problem
    assert c.name == "c" and c.problem.startswith(f"{tmp_path / 'c.toml'}: invalid TOML")
    with pytest.raises(ScenarioError, match=r"no such scenario directory\.$"):
        list_scenarios(tmp_path / "nowhere")


REPO_SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", REPO_SCENARIOS, ids=[p.name for p in REPO_SCENARIOS])
def test_every_shipped_scenario_validates(path):
    sc = load_scenario(path)
    assert isinstance(sc, Scenario) and sc.n_points >= 1
    assert sc.name == path.stem, "a scenario's name should match its file name"


# ----------------------------------------------------------------------------- new keys


MODELLED = textwrap.dedent(
    """\
    [scenario]
    name = "modelled"
    experiment = "tests.engine_fixtures:modelled"
    seed = 4
    [params]
    channel = { name = "custom", k = 1.0 }
    [sweep.axes]
    gain = [1.0, 2.0]
    [trials]
    n = 10
    """
)


def test_a_model_table_and_a_sweep_over_one_of_its_keys():
    sc = parse_scenario(MODELLED)
    assert sc.points()[1] == {"channel": {"name": "custom", "k": 1.0}, "gain": 2.0}
    # TOML dotted key in [sweep.axes], and the quoted form, mean the same axis.
    for axis in ('channel.k = [0.5, 2.0]', '"channel.k" = [0.5, 2.0]'):
        text = MODELLED.replace('channel = { name = "custom", k = 1.0 }', 'channel = "custom"')
        sc = parse_scenario(text.replace("gain = [1.0, 2.0]", axis))
        assert sc.axes == {"channel.k": (0.5, 2.0)}
        assert sc.points() == [{"channel": {"name": "custom", "k": 0.5}},
                               {"channel": {"name": "custom", "k": 2.0}}]
        assert scenario_from_dict(sc.to_dict()).points() == sc.points()
    # Without [params] the experiment's default name becomes the table.
    text = MODELLED.replace('channel = { name = "custom", k = 1.0 }\n', "")
    sc = parse_scenario(text, overrides=["sweep.axes.channel.k=[3.0]"])
    assert sc.points()[0]["channel"] == {"name": "plain", "k": 3.0}


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["sweep.axes.channel.k=[2.0]"],
         r"\[sweep.axes.channel\] 'k' \(from --set\) is also set in \[params\]"),
        (["sweep.axes.gain={ k = [2.0] }"],  # gain is a float: a table is an axis generator
         r"'sweep.axes.gain' must be a table with exactly one of range, linspace, logspace"),
        (["params.gain=2.0"], r"'gain' \(from --set\) is also swept in \[sweep.axes\]"),
    ],
)
def test_bad_model_axes_are_one_line(tmp_path, overrides, pattern):
    assert re.search(pattern, _error(tmp_path / "m.toml", overrides, MODELLED))
    text = MODELLED.replace("gain = [1.0, 2.0]", 'channel = [{ name = "a" }]\n"channel.x" = [1]')
    text = text.replace('channel = { name = "custom", k = 1.0 }\n', "")
    assert "sweeps a key of 'channel', which is swept whole too" in _error(
        tmp_path / "m.toml", (), text)


def test_figure_and_metric_are_checked_against_the_declared_outputs(scenario_file):
    msg = _error(scenario_file, ["figure.y=['valeu']"])
    assert re.search(r"\[figure\] 'y' \(from --set\) names 'valeu', which is not a metric of "
                     r"experiment 'tests.engine_fixtures:typed' \(metrics: value, code_len\)\. "
                     r"Did you mean 'value'\?$", msg)
    msg = _error(scenario_file, ["figure.reference=['code_length']"])
    assert "'reference' (from --set) names 'code_length'" in msg and "'code_len'" in msg
    msg = _error(scenario_file, ["trials.rel_tol=0.1", "trials.metric=code_len"],
                 VALID.replace("n = 2000\nbatch = 500\n", ""))
    assert re.search(r"'metric' \(from --set\) must be a per-trial metric of experiment "
                     r"'tests.engine_fixtures:typed' \(value\); got 'code_len'", msg)


def test_imports_run_before_the_experiment_is_resolved(tmp_path, monkeypatch):
    (tmp_path / "scenario_plugin_xyz.py").write_text(textwrap.dedent(
        """\
        from aircomp_agc.experiments import EXPERIMENTS, register_experiment

        if "plugin-xyz" not in EXPERIMENTS:
            @register_experiment("plugin-xyz", outputs={"w": "trial"})
            def plugin(*, rng, n_trials, scale: float = 1.0):
                return {"w": scale * rng.standard_normal(n_trials)}
        """
    ))
    monkeypatch.syspath_prepend(str(tmp_path))
    from aircomp_agc.experiments import EXPERIMENTS

    text = ('[scenario]\nname = "p"\nexperiment = "plugin-xyz"\nseed = 1\n'
            'imports = ["scenario_plugin_xyz"]\n[trials]\nn = 4\n')
    try:
        sc = parse_scenario(text)
        assert sc.imports == ("scenario_plugin_xyz",)
        assert sc.to_dict()["scenario"]["imports"] == ["scenario_plugin_xyz"]
    finally:
        EXPERIMENTS.unregister("plugin-xyz")
    msg = _error(tmp_path / "p.toml", (), text.replace("scenario_plugin_xyz", "no_plugin_xyz"))
    assert re.search(r"\[scenario\] 'imports' failed: Cannot import 'no_plugin_xyz' "
                     r"\(ModuleNotFoundError", msg)
