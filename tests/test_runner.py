"""Monte-Carlo stopping and aggregation (aircomp_agc.engine.runner)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from aircomp_agc._checks import Estimate
from aircomp_agc.engine.runner import (
    ExperimentError,
    PointResult,
    StoppingRule,
    run_point,
    summarize,
)
from aircomp_agc.engine.seeds import point_seed
from aircomp_agc.engine.sweep import point_key
from tests.engine_fixtures import cheap, deterministic

SEED = 2026
ROOT = Path(__file__).resolve().parents[1]


def _key(**params) -> str:
    return point_key(params)


# ------------------------------------------------------------------ aggregation


def test_summarize_closed_form():
    s = summarize(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    # t_{0.975, 4} = 2.7764451051977987 from printed tables; s^2 = 2.5.
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert isinstance(s, Estimate) and (s.mean, s.n) == (3.0, 5)
    assert s.ci_low == pytest.approx(3.0 - half, rel=1e-12)
    assert s.ci_high == pytest.approx(3.0 + half, rel=1e-12)
    assert s.std_err == pytest.approx(math.sqrt(2.5 / 5), rel=1e-12)
    assert s.half_width == pytest.approx(half)
    one = summarize(np.array([4.0]))
    assert one.mean == 4.0 and one.n == 1 and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    flat = summarize(np.full(10, 0.5))
    assert (flat.ci_low, flat.ci_high) == (0.5, 0.5)
    inf = summarize(np.array([1.0, np.inf, 2.0]))  # zero forcing at a deep fade: E[mse] = inf
    assert inf.mean == np.inf and math.isnan(inf.ci_high) and inf.n == 3
    with pytest.raises(ValueError, match="non-empty 1-D"):
        summarize(np.zeros((2, 2)))


def test_summarize_is_the_shared_mean_ci_bit_for_bit():
    from aircomp_agc._checks import mean_ci

    rng = np.random.default_rng(4)
    for n in (2, 3, 17, 1000, 12_345):
        for x in (rng.normal(3.0, 2.0, n), rng.exponential(1e-6, n), np.full(n, 0.25)):
            assert summarize(x) == mean_ci(x)  # every field, exactly
            assert summarize(x, 0.99) == mean_ci(x, 0.99)


def test_confidence_interval_covers_95_percent():
    # 4000 intervals of n=12 normal samples: coverage 0.95, binomial sd 0.0034; tolerance 4 sd.
    rng = np.random.default_rng(11)
    x = rng.normal(1.5, 2.0, size=(4000, 12))
    hits = sum(s.ci_low <= 1.5 <= s.ci_high for s in map(summarize, x))
    assert abs(hits / 4000 - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 4000)


# ------------------------------------------------------------------ stopping rule


def test_rule_validation_and_spec_conversion():
    with pytest.raises(ValueError, match="exactly one of 'n'"):
        StoppingRule()
    with pytest.raises(ValueError, match="exactly one of 'n'"):
        StoppingRule(n=10, rel_tol=0.1, metric="x")
    with pytest.raises(ValueError, match="'metric'"):
        StoppingRule(rel_tol=0.1)
    with pytest.raises(ValueError, match=r"'rel_tol' parameter of the trials spec.*got -0.1"):
        StoppingRule(rel_tol=-0.1, metric="x")
    with pytest.raises(ValueError, match=r"'max'.*\[50, inf\); got 10"):
        StoppingRule(rel_tol=0.1, metric="x", min=50, max=10)
    with pytest.raises(ValueError, match="Unknown trials key"):
        StoppingRule.from_spec({"n": 5, "rtol": 0.1})
    rule = StoppingRule.from_spec({"n": 1000, "batch": 300})
    assert [rule.batch_size(d) for d in (0, 300, 600, 900, 1000)] == [300, 300, 300, 100, 0]
    assert rule.as_dict() == {"n": 1000, "batch": 300}

    class Spec:  # what the scenario loader hands over: an object with the same fields
        n, rel_tol, metric, min, max, batch = None, 0.1, "x", 40, 130, 50

    adaptive = StoppingRule.from_spec(Spec())
    assert adaptive.mode == "precision"
    assert [adaptive.batch_size(d) for d in (0, 50, 100, 130)] == [50, 50, 30, 0]
    assert adaptive.smallest_batch() == 30 and rule.smallest_batch() == 100
    assert StoppingRule(n=600, batch=300).smallest_batch() == 300


def _manual_samples(params, sizes, metric="x", fn=cheap):
    key = point_key(params)
    return np.concatenate(
        [
            fn(rng=np.random.default_rng(point_seed(SEED, key, b)), n_trials=m, **params)[metric]
            for b, m in enumerate(sizes)
        ]
    )


def test_fixed_count_uses_one_seed_per_batch():
    params = {"mu": 0.5, "sigma": 2.0}
    rule = StoppingRule(n=1000, batch=300)
    res = run_point(cheap, params, key=point_key(params), master_seed=SEED, rule=rule)
    x = _manual_samples(params, [300, 300, 300, 100])
    assert res.metrics["x"] == summarize(x)
    assert (res.n_trials, res.n_batches, res.stop) == (1000, 4, "fixed")
    # One call of n trials is a different (but equally valid) stream: batching is part of
    # the rule, so the record's fingerprint includes it.
    whole = StoppingRule(n=1000)
    one = run_point(cheap, params, key=point_key(params), master_seed=SEED, rule=whole)
    assert one.n_batches == 1 and one.metrics["x"] == summarize(_manual_samples(params, [1000]))


def test_precision_target_stops_at_first_batch_meeting_it():
    params = {"mu": 1.0, "sigma": 3.0}
    rule = StoppingRule(rel_tol=0.05, metric="x", min=200, max=50_000, batch=100)
    res = run_point(cheap, params, key=point_key(params), master_seed=SEED, rule=rule)
    assert res.stop == "converged" and res.metrics["x"].converged
    s = res.metrics["x"]
    assert s.half_width <= 0.05 * abs(s.mean) and s.n == res.n_trials
    # Brute force: the first multiple of 100 trials (>= 200) at which the target holds.
    x = _manual_samples(params, [100] * (res.n_trials // 100))
    first = next(
        n for n in range(200, res.n_trials + 1, 100)
        if summarize(x[:n]).half_width <= 0.05 * abs(summarize(x[:n]).mean)
    )
    assert first == res.n_trials and s == summarize(x)
    # sigma=3, mu=1: n ~ (1.96 * 3 / 0.05)^2 = 13830 trials; the stop is near it.
    assert 10_000 < res.n_trials < 18_000
    again = run_point(cheap, params, key=point_key(params), master_seed=SEED, rule=rule)
    assert again == res


def test_precision_target_stops_at_cap_when_unreachable():
    params = {"mu": 0.0, "sigma": 1.0}  # |mean| ~ 0: the relative target cannot be met
    rule = StoppingRule(rel_tol=0.01, metric="x", min=100, max=1234, batch=500)
    res = run_point(cheap, params, key=point_key(params), master_seed=SEED, rule=rule)
    assert (res.stop, res.n_trials, res.n_batches) == ("cap", 1234, 3)
    assert not res.metrics["x"].converged  # the watched metric says it missed its target
    expected = summarize(_manual_samples(params, [500, 500, 234]))
    assert res.metrics["x"].mean == expected.mean and res.metrics["x"].ci_low == expected.ci_low


def test_scalar_metrics_come_from_first_batch_without_ci():
    rule = StoppingRule(n=10, batch=4)
    res = run_point(deterministic, {"n": 10, "scale": 2.0}, key="k", master_seed=1, rule=rule)
    assert res.metrics == {"total": 110.0, "n_trials_seen": 4}
    assert PointResult.from_record(res.to_record()) == res


def test_record_round_trip_is_exact():
    params = {"mu": 0.1, "sigma": 1.0}
    res = run_point(cheap, params, key=_key(**params), master_seed=3, rule=StoppingRule(n=50))
    import json

    back = PointResult.from_record(json.loads(json.dumps(res.to_record())))
    assert back == res and back.metrics["x"].ci_low == res.metrics["x"].ci_low


def test_contract_violations_raise_experiment_error():
    rule = StoppingRule(n=5)

    def wrong_shape(*, rng, n_trials):
        return {"x": np.zeros(n_trials + 1)}

    def not_a_dict(*, rng, n_trials):
        return [1, 2]

    def rejects(*, rng, n_trials, x=-1.0):
        raise ValueError("The 'x' parameter must be >= 0; got -1.0.")

    with pytest.raises(ExperimentError, match=r"shape \(n_trials,\) = \(5,\); got shape \(6,\)"):
        run_point(wrong_shape, {}, key="k", master_seed=0, rule=rule, ref="ws")
    with pytest.raises(ExperimentError, match="non-empty dict"):
        run_point(not_a_dict, {}, key="k", master_seed=0, rule=rule)
    with pytest.raises(ExperimentError, match=r"'rj' failed at point k: ValueError: The 'x'"):
        run_point(rejects, {}, key="k", master_seed=0, rule=rule, ref="rj")
    adaptive = StoppingRule(rel_tol=0.1, metric="total", min=10, max=20)
    with pytest.raises(ExperimentError, match="'total' is not a per-trial metric"):
        run_point(deterministic, {}, key="k", master_seed=0, rule=adaptive)


def test_merged_batch_moments_match_two_pass_summary():
    from aircomp_agc.engine.runner import _RunningMoments

    rng = np.random.default_rng(5)
    x = rng.normal(1e3, 0.5, size=10_000)  # large mean, small spread: the unstable case
    watch = _RunningMoments()
    for part in np.split(x, [1, 7, 500, 4096, 9000]):
        watch.add(part)
    mean, half = watch.mean_half_width()
    s = summarize(x)
    assert mean == pytest.approx(s.mean, rel=1e-14)
    assert half == pytest.approx(s.half_width, rel=1e-10)


def test_warnings_raised_by_the_experiment_are_recorded_once_per_point():
    import warnings

    def noisy(*, rng, n_trials):
        warnings.warn("odd but legal", stacklevel=2)
        warnings.warn("odd but legal", stacklevel=2)
        return {"x": rng.normal(size=n_trials)}

    rule = StoppingRule(n=30, batch=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes to the caller's filters
        res = run_point(noisy, {}, key="k", master_seed=0, rule=rule)
    assert res.warnings == ("UserWarning: odd but legal",) and res.n_batches == 3
    assert PointResult.from_record(res.to_record()).warnings == res.warnings


def test_declared_outputs_are_enforced():
    def declared(*, rng, n_trials):
        return {"x": rng.normal(size=n_trials), "extra": 1.0}

    declared.outputs = {"x": "trial"}
    with pytest.raises(ExperimentError, match=r"'extra'.*not declared in its outputs \(x\)"):
        run_point(declared, {}, key="k", master_seed=0, rule=StoppingRule(n=5), ref="d")
    declared.outputs = {"x": "scalar", "extra": "scalar"}
    with pytest.raises(ExperimentError, match=r"'x'.*is a trial metric but declared 'scalar'"):
        run_point(declared, {}, key="k", master_seed=0, rule=StoppingRule(n=5), ref="d")


# ------------------------------------------------------------------ whole runs

IGNORING = """
[scenario]
name = "ign"
experiment = "tests.engine_fixtures:ignoring"
seed = 1
[sweep.axes]
mode = ["levels", "flat"]
level = [1, 2]
[trials]
n = 5
"""


def test_points_differing_only_in_an_ignored_parameter_are_refused(tmp_path, monkeypatch):
    from aircomp_agc.engine.run import run_scenario
    from aircomp_agc.engine.scenario import parse_scenario

    monkeypatch.chdir(ROOT)
    with pytest.raises(ExperimentError, match=r'Points \{"level":1,"mode":"flat"\} and '
                       r'\{"level":2,"mode":"flat"\} would compute the same thing: they differ '
                       r"only in 'level', which the model ignores there"):
        run_scenario(parse_scenario(IGNORING), results_dir=tmp_path, executor="serial")
    assert not (tmp_path / "ign").exists()
    zipped = IGNORING.replace("[sweep.axes]", '[sweep]\nmode = "zip"\n[sweep.axes]')
    result = run_scenario(parse_scenario(zipped), results_dir=tmp_path, executor="serial")
    assert result.computed == 2


def test_warnings_reach_the_run_result_and_the_manifest(tmp_path, monkeypatch):
    import json

    from aircomp_agc.engine.run import run_scenario
    from aircomp_agc.engine.scenario import parse_scenario

    monkeypatch.chdir(ROOT)
    text = IGNORING.replace("tests.engine_fixtures:ignoring", "tests.runner_fixtures:warning")
    text = text.replace('mode = ["levels", "flat"]\nlevel = [1, 2]', "x = [0.5, 2.0, 3.0]")
    result = run_scenario(parse_scenario(text), results_dir=tmp_path, executor="processes",
                          workers=2)
    # Raised in worker processes, counted per point.
    assert result.warnings == {"UserWarning: x above 1 (odd but legal)": 2}
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["warnings"] == result.warnings


def test_an_undeclared_figure_metric_stops_the_run_at_the_first_point(tmp_path, monkeypatch):
    from aircomp_agc.engine.run import run_scenario
    from aircomp_agc.engine.scenario import parse_scenario

    monkeypatch.chdir(ROOT)
    text = IGNORING.replace("tests.engine_fixtures:ignoring", "tests.runner_fixtures:sleepy")
    text = text.replace('mode = ["levels", "flat"]\nlevel = [1, 2]', "x = [0.0, 1.0, 2.0]")
    text += '[figure]\nx = "x"\ny = ["vv"]\n'
    with pytest.raises(ExperimentError, match=r"'y' names 'vv', which is not a metric of "
                       r"experiment 'tests.runner_fixtures:sleepy' \(metrics: v, x2\)\. Did you "
                       r"mean 'v'\?"):
        run_scenario(parse_scenario(text), results_dir=tmp_path, executor="serial")
    records = (tmp_path / "ign" / "points.jsonl").read_bytes()
    assert records == b""  # stopped before recording (or computing) anything else
