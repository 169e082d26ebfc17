"""Curve outputs ([n_trials, L] per point): declaration, summary, records, curves.csv, figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from aircomp_agc._checks import mean_ci
from aircomp_agc.engine import ScenarioError, parse_scenario
from aircomp_agc.engine.results import read_table
from aircomp_agc.engine.run import run_scenario
from aircomp_agc.engine.runner import (
    ExperimentError,
    PointResult,
    StoppingRule,
    run_point,
    summarize,
    summarize_curve,
)
from aircomp_agc.engine.scenario import load_scenario
from aircomp_agc.engine.seeds import point_seed
from aircomp_agc.experiments.registry import (
    EXPERIMENTS,
    experiment_curve_index,
    get_experiment,
    register_experiment,
)
from tests.curve_fixtures import no_index, walk

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """
[scenario]
name = "walks"
experiment = "tests.curve_fixtures:walk"
seed = 3
[params]
length = 6
step = 5
[sweep.axes]
mu = {mu}
[trials]
n = 7
batch = 3
"""

FIGURE = """
[figure]
x = "round"
y = ["walk"]
hue = "mu"
reference = ["level"]
"""


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- declaration


def _fn(*, rng, n_trials, k=1):
    return {}


@pytest.mark.parametrize(("outputs", "index", "match"), [
    ({"c": "curve"}, None, "must name their index column with 'curve_index'"),
    ({"x": "trial"}, "round", "needs at least one 'curve' output"),
    ({"c": "curve"}, "c", "must be an identifier that is not a metric"),
    ({"c": "curve"}, "n_trials", "must be an identifier that is not a metric"),
    ({"c": "curve"}, "two words", "must be an identifier"),
    ({"c": "curve"}, "k", "must differ from its parameter names"),
    ({"c": "curves"}, "round", "'trial', 'scalar' or 'curve'"),
])
def test_curve_declaration_is_validated(outputs, index, match):
    with pytest.raises(TypeError, match=match):
        register_experiment("test-curves-bad", outputs=outputs, curve_index=index)(_fn)
    assert "test-curves-bad" not in EXPERIMENTS


def test_curve_declaration_is_stored_and_read_back():
    fn = register_experiment("test-curves-ok", outputs={"c": "curve", "x": "trial"},
                             curve_index="round", overwrite=True)(_fn)
    try:
        assert fn.curve_index == "round" and experiment_curve_index(fn) == "round"
        assert EXPERIMENTS.tags("test-curves-ok")["curve_index"] == "round"
    finally:
        EXPERIMENTS.unregister("test-curves-ok")
    assert experiment_curve_index(get_experiment("tests.curve_fixtures:walk")) == "round"
    assert experiment_curve_index(get_experiment("tests.engine_fixtures:cheap")) is None
    assert experiment_curve_index(get_experiment("training")) == "round"


# ---------------------------------------------------------------------------- summary


def test_summarize_curve_equals_summarize_and_mean_ci_per_column():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(37, 11)) * rng.uniform(0.1, 10, size=11)
    est = summarize_curve(x)
    assert est.n == 37 and est.mean.shape == (11,)
    for j in range(11):  # brute force: each column on its own
        one, ref = summarize(x[:, j]), mean_ci(x[:, j])
        for field in ("mean", "std_err", "ci_low", "ci_high"):
            assert getattr(est, field)[j] == getattr(one, field)  # bit for bit
            assert getattr(est, field)[j] == pytest.approx(getattr(ref, field), rel=1e-13)


def test_summarize_curve_non_finite_columns_and_single_trial():
    x = np.array([[1.0, np.nan, np.inf, 2.0], [3.0, 1.0, 1.0, 2.0]])
    est = summarize_curve(x)
    assert est.mean[0] == 2.0 and est.ci_low[0] < 2.0 < est.ci_high[0]
    assert math.isnan(est.mean[1]) and math.isnan(est.ci_low[1])
    assert est.mean[2] == math.inf and math.isnan(est.ci_high[2])
    assert est.mean[3] == 2.0 and est.ci_low[3] == est.ci_high[3] == 2.0  # no spread
    single = summarize_curve(x[:1, [0, 3]])
    assert list(single.mean) == [1.0, 2.0] and np.isnan(single.ci_low).all() and single.n == 1
    with pytest.raises(ValueError, match="2-D"):
        summarize_curve(np.zeros(3))


# ---------------------------------------------------------------------------- runner


def test_run_point_concatenates_batches_along_trials():
    rule = StoppingRule(n=7, batch=3)
    res = run_point(walk, {"mu": 0.5, "length": 4, "step": 10}, key="k", master_seed=9,
                    rule=rule)
    parts = [walk(rng=np.random.default_rng(point_seed(9, "k", b)), n_trials=m, mu=0.5,
                  length=4, step=10) for b, m in enumerate([3, 3, 1])]
    brute = summarize_curve(np.concatenate([p["walk"] for p in parts]))
    for field in ("mean", "std_err", "ci_low", "ci_high"):
        np.testing.assert_array_equal(getattr(res.metrics["walk"], field), getattr(brute, field))
    assert res.metrics["walk"].n == 7 and res.n_batches == 3
    assert res.index_values == (0, 10, 20, 30)
    assert list(res.curves()) == ["walk", "level"]
    assert "round" not in res.metrics
    # the per-trial metric is the last column of the curves: same samples
    assert res.metrics["final"].mean == pytest.approx(res.metrics["walk"].mean[-1], rel=1e-12)
    np.testing.assert_array_equal(res.metrics["level"].mean, [0.0, 5.0, 10.0, 15.0])


def test_curves_without_index_values_are_numbered():
    res = run_point(no_index, {"length": 3}, key="k", master_seed=1, rule=StoppingRule(n=4))
    assert res.index_values == (0, 1, 2)


def test_curve_contract_violations_are_one_line_errors():
    rule = StoppingRule(n=4)

    def undeclared(*, rng, n_trials):
        return {"c": np.zeros((n_trials, 3))}

    def lengths(*, rng, n_trials):
        return {"a": np.zeros((n_trials, 3)), "b": np.zeros((n_trials, 4))}

    def bad_index(*, rng, n_trials):
        return {"a": np.zeros((n_trials, 3)), "t": np.arange(4)}

    def flat(*, rng, n_trials):
        return {"a": np.zeros(n_trials)}

    for fn in (lengths, bad_index, flat):
        fn.outputs, fn.curve_index = {"a": "curve", "b": "curve"}, "t"
    cases = [(undeclared, "must be declared as a 'curve' output"),
             (lengths, "must share one length L"),
             (bad_index, "must have the curves' length"),
             (flat, r"have shape \(n_trials, L\) = \(4, L\)")]
    for fn, match in cases:
        with pytest.raises(ExperimentError, match=match) as err:
            run_point(fn, {}, key="k", master_seed=0, rule=rule)
        assert len(str(err.value).splitlines()) == 1


def test_index_must_not_change_between_batches():
    calls = []

    def drifting(*, rng, n_trials):
        calls.append(1)
        return {"a": np.zeros((n_trials, 2)), "t": np.array([0, len(calls)])}

    drifting.outputs, drifting.curve_index = {"a": "curve"}, "t"
    with pytest.raises(ExperimentError, match="same index in every batch"):
        run_point(drifting, {}, key="k", master_seed=0, rule=StoppingRule(n=4, batch=2))


# ---------------------------------------------------------------------------- records


def test_records_round_trip_curves_exactly():
    res = run_point(walk, {"mu": 1.0 / 3.0, "length": 5}, key="k", master_seed=2,
                    rule=StoppingRule(n=5))
    nan_curve = type(res.metrics["walk"])(np.array([np.nan, 1e-300, -0.1]),
                                          np.array([np.inf, 0.0, 1.0]),
                                          np.array([np.nan, 1.0, 2.0]),
                                          np.array([-np.inf, 3.0, 4.0]), 5)
    res = PointResult(res.key, {**res.metrics, "odd": nan_curve}, res.n_trials, res.n_batches,
                      res.stop, res.seconds, res.warnings, res.index_values)
    back = PointResult.from_record(json.loads(json.dumps(res.to_record())))
    assert back.index_values == res.index_values and list(back.metrics) == list(res.metrics)
    for name, m in res.metrics.items():
        b = back.metrics[name]
        for field in ("mean", "std_err", "ci_low", "ci_high", "n", "converged"):
            np.testing.assert_array_equal(getattr(b, field), getattr(m, field))
        assert np.ndim(b.mean) == np.ndim(m.mean)
    assert back.metrics["final"] == res.metrics["final"]  # a per-trial metric: unchanged


def test_curves_csv_content_and_results_csv_without_curves(tmp_path):
    scenario = load_scenario(_write(tmp_path, SCENARIO.format(mu="[0.0, 2.0]")))
    result = run_scenario(scenario, results_dir=tmp_path / "r", executor="serial")
    assert result.curves_path == tmp_path / "r" / "walks" / "curves.csv"
    header, rows = read_table(result.csv_path)
    assert header == ["mu", "final_mean", "final_ci_low", "final_ci_high", "final_n"]
    c_header, c_rows = read_table(result.curves_path)
    assert c_header == ["mu", "round", *(f"{m}_{s}" for m in ("walk", "level")
                                         for s in ("mean", "ci_low", "ci_high", "n"))]
    assert len(c_rows) == 2 * 6
    assert [r[:2] for r in c_rows[:7]] == [[0.0, 0], [0.0, 5], [0.0, 10], [0.0, 15],
                                           [0.0, 20], [0.0, 25], [2.0, 0]]
    records = {json.loads(line)["params"]["mu"]: PointResult.from_record(json.loads(line))
               for line in (result.directory / "points.jsonl").read_text().splitlines()}
    for r in c_rows:
        walk_est = records[r[0]].metrics["walk"]
        j = r[1] // 5
        assert r[2:6] == [walk_est.mean[j], walk_est.ci_low[j], walk_est.ci_high[j], 7]
        assert r[6] == r[0] * r[1]  # level = mu * round, exactly
    # the final column of the curve is the per-trial metric's mean
    for row in rows:
        last = [r for r in c_rows if r[0] == row[0]][-1]
        assert last[2] == pytest.approx(row[1], rel=1e-12)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["curves"] == {"csv": "curves.csv", "index": "round",
                                  "metrics": ["walk", "level"]}


def test_resume_with_curves_gives_the_same_tables(tmp_path):
    small = load_scenario(_write(tmp_path, SCENARIO.format(mu="[0.0, 1.0]"), "a.toml"))
    run_scenario(small, results_dir=tmp_path / "r", executor="serial")
    big = load_scenario(_write(tmp_path, SCENARIO.format(mu="[0.0, 1.0, 2.0]"), "b.toml"))
    resumed = run_scenario(big, results_dir=tmp_path / "r", executor="serial", resume=True)
    assert (resumed.reused, resumed.computed) == (2, 1)
    fresh = run_scenario(big, results_dir=tmp_path / "fresh", executor="serial")
    assert resumed.curves_path.read_bytes() == fresh.curves_path.read_bytes()
    assert resumed.csv_path.read_bytes() == fresh.csv_path.read_bytes()


def test_experiments_without_curves_write_no_curves_csv(tmp_path):
    text = SCENARIO.format(mu="[0.0]").replace("tests.curve_fixtures:walk",
                                               "tests.engine_fixtures:cheap")
    text = text.replace("length = 6\nstep = 5\n", "")
    result = run_scenario(load_scenario(_write(tmp_path, text)), results_dir=tmp_path,
                          executor="serial")
    assert result.curves_path is None and not (result.directory / "curves.csv").exists()
    assert "curves" not in json.loads(result.manifest_path.read_text())


# ---------------------------------------------------------------------------- figures


def test_curve_figure_validation():
    base = SCENARIO.format(mu="[0.0, 1.0]")
    spec = parse_scenario(base + FIGURE).figure
    assert spec.curve_index == "round" and spec.x == "round"
    assert parse_scenario(base + FIGURE.replace('["walk"]', '["final"]').replace(
        '"round"', '"mu"').replace('hue = "mu"\n', '').replace('["level"]', '[]')
    ).figure.curve_index is None
    bad = [
        (FIGURE.replace('x = "round"', 'x = "mu"').replace('hue = "mu"', ''),
         r"\[figure\] 'x' must be the curves' index 'round' when 'y' names curve metrics"),
        (FIGURE.replace('["walk"]', '["walk", "final"]'),
         r"\[figure\] 'y' mixes curve metrics \(walk, level\) with the trial metric 'final'"),
        (FIGURE.replace('["level"]', '["final"]'),
         r"\[figure\] 'reference' mixes curve metrics \(walk\) with the trial metric"),
        (FIGURE.replace('["walk"]', '["final"]').replace('["level"]', '[]'),
         r"\[figure\] 'x' must be one of the swept parameters \(mu\); got 'round'"),
        (FIGURE.replace('hue = "mu"', 'hue = "round"'),
         r"\[figure\] 'hue' must differ from 'x'"),
    ]
    for figure, match in bad:
        with pytest.raises(ScenarioError, match=match) as err:
            parse_scenario(base + figure)
        assert len(str(err.value).splitlines()) == 1
    precision = base.replace("n = 7\nbatch = 3", 'rel_tol = 0.1\nmetric = "walk"')
    with pytest.raises(ScenarioError, match=r"\[trials\] 'metric' names the curve metric "
                                            r"'walk'; a precision target watches a per-trial "
                                            r"metric \(final\)"):
        parse_scenario(precision)


def test_plotting_a_curve_figure_draws_curves_csv(tmp_path):
    from aircomp_agc.plotting import plot_results

    scenario = load_scenario(_write(tmp_path, SCENARIO.format(mu="[0.0, 1.0]") + FIGURE
                                    + 'logy = false\n'))
    result = run_scenario(scenario, results_dir=tmp_path / "r", executor="serial")
    out = plot_results(result.directory, out=tmp_path / "fig")
    assert out == tmp_path / "fig.png" and out.stat().st_size > 1000
    assert (tmp_path / "fig.pdf").stat().st_size > 1000
    header, rows = read_table(result.curves_path)
    from aircomp_agc.plotting import _checked, _curves, _draw

    manifest = json.loads(result.manifest_path.read_text())
    curves = _curves(result.directory, manifest)
    r_header, r_rows = read_table(result.csv_path)
    spec = _checked(manifest["scenario"]["figure"], (), "x", r_header, r_rows, ["mu"],
                    curves=curves)
    fig = _draw(header, rows, spec, ["mu"], title_default="t")
    lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines() if ln.get_gid()}
    for mu in (0.0, 1.0):
        mine = [r for r in rows if r[0] == mu]
        gid = f"{mu:g}"
        np.testing.assert_array_equal(lines[gid].get_xdata(), [r[1] for r in mine])
        np.testing.assert_array_equal(lines[gid].get_ydata(), [r[2] for r in mine])
    # the reference differs per line (level = mu * round): one per line, in its colour
    np.testing.assert_array_equal(lines["level|1"].get_ydata(), [r[6] for r in rows
                                                                if r[0] == 1.0])
    assert lines["level|1"].get_color() == lines["1"].get_color()
    assert fig.axes[0].get_xlabel() == "round"
    # plot --set works on curve figures too; a per-point metric there is refused
    assert plot_results(result.directory, out=tmp_path / "g.png",
                        overrides=["figure.logy=true"]).is_file()
    with pytest.raises(ScenarioError, match="mixes curve metrics"):
        plot_results(result.directory, out=tmp_path / "h.png",
                     overrides=["figure.y=['walk', 'final']"])


def test_cli_run_and_plot_with_curves(tmp_path, monkeypatch, capsys):
    from aircomp_agc.cli import main

    path = _write(tmp_path, SCENARIO.format(mu="[0.0, 1.0]") + FIGURE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    assert main(["run", str(path), "--executor", "serial"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["mu", "final", "±95%", "n"]
    assert "curves:   results/walks/curves.csv" in out
    assert (tmp_path / "figures" / "walks.png").stat().st_size > 1000
    assert main(["plot", "results/walks", "--out", "again.png"]) == 0
    assert (tmp_path / "again.png").stat().st_size > 1000


# ---------------------------------------------------------------------------- training


TRAIN = dict(problem="logistic", dataset="breast-cancer", n_partitions=10,
             partition="dirichlet", alpha=0.3, reg=0.1, code="bgc", row_weight=2, p=0.2,
             snr_db=10.0, rounds=40, instance_seed=5)


def test_training_curves_end_at_the_final_values_and_stay_under_the_bound():
    from aircomp_agc.experiments.training import CURVES, IDEAL_CURVES, training_experiment

    out = training_experiment(rng=np.random.default_rng(0), n_trials=3, **TRAIN)
    assert not set(IDEAL_CURVES) & set(out)
    np.testing.assert_array_equal(out["round"], np.arange(41))
    for name in CURVES:
        assert out[name].shape == (3, 41), name
    for final in ("suboptimality", "loss", "test_accuracy", "bound", "source_bound"):
        np.testing.assert_array_equal(out[f"{final}_curve"][:, -1], out[final])
    err = out["aggregation_error_curve"]
    assert np.isnan(err[:, 0]).all() and np.isfinite(err[:, 1:]).all()
    np.testing.assert_allclose(err[:, 1:].mean(axis=1), out["aggregation_error"], rtol=1e-12)
    sub, bound = out["suboptimality_curve"], out["bound_curve"]
    assert np.isfinite(sub).all() and (sub > 0).all()
    # The inexact-GD recursion bounds F(w_t) - F* round by round (a deterministic
    # inequality given the run's errors, step 1/L): equal at t = 0, then above.
    np.testing.assert_array_equal(bound[:, 0], sub[:, 0])
    assert (bound[:, 1:] >= sub[:, 1:]).all()
    assert ((bound[:, 1:] - sub[:, 1:]) > 1e-6 * sub[:, 1:]).mean() > 0.9  # not trivially
    # The source text's bound: (1 - mu/L)^t gap0 + const, i.e. geometric decrements.
    src = out["source_bound_curve"]
    dec = src[:, :-1] - src[:, 1:]
    ratio = dec[:, 1:] / dec[:, :-1]
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-9)
    np.testing.assert_allclose(src[:, 0] - dec[:, 0] / (1 - ratio[:, 0]), src[:, -1]
                               - dec[:, -1] * ratio[:, 0] / (1 - ratio[:, 0]), rtol=1e-9)


def test_training_ideal_reference_is_the_same_at_every_point_and_bounds_are_nan_off_theory():
    from aircomp_agc.experiments.training import training_experiment

    a = training_experiment(rng=np.random.default_rng(1), n_trials=2, ideal_reference=True,
                            **TRAIN)
    b = training_experiment(rng=np.random.default_rng(2), n_trials=2, ideal_reference=True,
                            **{**TRAIN, "row_weight": 4, "snr_db": 30.0})
    np.testing.assert_array_equal(a["ideal_suboptimality_curve"],
                                  b["ideal_suboptimality_curve"])
    ideal = a["ideal_suboptimality_curve"]
    assert (np.diff(ideal, axis=1) <= 0).all()  # exact GD with step 1/L: monotone descent
    assert (ideal[:, -1] < a["suboptimality_curve"][:, -1]).all()  # no error: lower gap
    half = training_experiment(rng=np.random.default_rng(1), n_trials=2,
                               **{**TRAIN, "lr_scale": 0.5})
    assert np.isnan(half["bound_curve"]).all() and np.isnan(half["source_bound_curve"]).all()
    assert np.isfinite(half["suboptimality_curve"]).all()


# ---------------------------------------------------------------------------- per-panel references


def test_reference_table_draws_each_panels_own_references(tmp_path):
    from aircomp_agc.plotting import plot_results

    figure = FIGURE.replace('["walk"]', '["walk", "level"]').replace(
        'reference = ["level"]', 'reference = { walk = "level" }')
    spec = parse_scenario(SCENARIO.format(mu="[0.0, 1.0]") + figure).figure
    assert spec.reference == ("level",) and spec.references_of("walk") == ("level",)
    assert spec.references_of("level") == ()
    assert spec.to_dict()["reference"] == {"walk": ["level"]}
    with pytest.raises(ScenarioError, match=r"\[figure.reference\] 'wlk' must name a 'y' "
                                            r"metric \(walk, level\).*Did you mean 'walk'"):
        parse_scenario(SCENARIO.format(mu="[0.0]") + figure.replace("{ walk", "{ wlk"))
    with pytest.raises(ScenarioError, match="mixes curve metrics"):
        parse_scenario(SCENARIO.format(mu="[0.0]") + figure.replace('= "level" }',
                                                                     '= "final" }'))
    scenario = load_scenario(_write(tmp_path, SCENARIO.format(mu="[0.0, 1.0]") + figure))
    result = run_scenario(scenario, results_dir=tmp_path / "r", executor="serial")
    from aircomp_agc.plotting import _checked, _curves, _draw

    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["scenario"]["figure"]["reference"] == {"walk": ["level"]}
    curves = _curves(result.directory, manifest)
    spec = _checked(manifest["scenario"]["figure"], (), "x", [], [], ["mu"], curves=curves)
    fig = _draw(curves[1], curves[2], spec, ["mu"], title_default="t")
    gids = [{ln.get_gid() for ln in ax.get_lines()} for ax in fig.axes]
    assert {"level|0", "level|1"} <= gids[0]  # the walk panel: its reference per line
    assert not any(g and g.startswith("level|") for g in gids[1])  # the level panel: none
    assert plot_results(result.directory, out=tmp_path / "f.png").is_file()


def test_points_may_have_curves_of_different_lengths(tmp_path):
    text = SCENARIO.format(mu="[1.0]").replace("length = 6\n", "").replace(
        "mu = [1.0]", "mu = [1.0]\nlength = [2, 4]")
    result = run_scenario(load_scenario(_write(tmp_path, text)), results_dir=tmp_path,
                          executor="serial")
    header, rows = read_table(result.curves_path)
    assert header[:3] == ["mu", "length", "round"]
    assert [r[1:3] for r in rows] == [[2, 0], [2, 5], [4, 0], [4, 5], [4, 10], [4, 15]]
    assert [r[7] for r in rows] == [0.0, 5.0, 0.0, 5.0, 10.0, 15.0]  # level = mu * round


def test_references_with_one_label_share_a_dash_and_a_legend_entry(tmp_path):
    from aircomp_agc.plotting import _checked, _curves, _draw

    figure = FIGURE.replace('["walk"]', '["walk", "level"]').replace(
        'reference = ["level"]', 'reference = { walk = "level", level = "walk" }') + \
        'labels = { walk = "same", level = "same" }\n'
    scenario = load_scenario(_write(tmp_path, SCENARIO.format(mu="[0.0, 1.0]") + figure))
    result = run_scenario(scenario, results_dir=tmp_path / "r", executor="serial")
    manifest = json.loads(result.manifest_path.read_text())
    curves = _curves(result.directory, manifest)
    spec = _checked(manifest["scenario"]["figure"], (), "x", [], [], ["mu"], curves=curves)
    fig = _draw(curves[1], curves[2], spec, ["mu"], title_default="t")
    dashes = [{str(ln._dash_pattern) for ln in ax.get_lines()  # get_linestyle says "--"
               if (ln.get_gid() or "").startswith(("level|", "walk|"))} for ax in fig.axes]
    assert len(dashes[0]) == 1 and dashes[0] == dashes[1]
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts.count("same") == 1
