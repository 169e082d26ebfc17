"""[figure] keys for the figure set's closed-form-vs-Monte-Carlo, marked-optimum and
parametric-curve figures: ``points`` (markers beside a line), ``mark_min`` / ``marks``
(marked points) and a metric on ``x``. The drawn data is read back from the matplotlib
axes and compared with the table; bad keys are one-line errors at load time."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from aircomp_agc.engine import ScenarioError, load_scenario, parse_scenario
from aircomp_agc.plotting import _draw, plot_results

ROOT = Path(__file__).resolve().parents[1]

BASE = """
[scenario]
name = "marks-study"
experiment = "tests.engine_fixtures:typed"
seed = 4
[params]
n = 3
[sweep.axes]
code = ["bgc", "approx-frc"]
snr_db = [1.0, 10.0, 100.0]
[trials]
n = 10
[figure]
x = "snr_db"
y = ["value"]
hue = "code"
"""


def _error(extra: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BASE + textwrap.dedent(extra), source="s.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- validation


def test_new_keys_round_trip_and_are_documented():
    sc = parse_scenario(BASE + textwrap.dedent("""
        points = ["code_len"]
        mark_min = "best point"
        marks = [{ code = "bgc", snr_db = 10, label = "the choice" }]
    """), source="s.toml")
    fig = sc.figure
    assert fig.points == ("code_len",) and fig.mark_min == "best point"
    assert fig.marks == ({"code": "bgc", "snr_db": 10, "label": "the choice"},)
    again = parse_scenario(BASE.split("[figure]")[0] + "[figure]\n" + "\n".join(
        f"{k} = {_toml(v)}" for k, v in fig.to_dict().items()), source="again")
    assert again.figure == fig
    from aircomp_agc.engine.schema import FigureSpec

    for key in ("points", "mark_min", "marks", "may also name a metric"):
        assert key in FigureSpec.__doc__


def _toml(v) -> str:
    import json

    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


@pytest.mark.parametrize("extra, pattern", [
    ('points = ["code_len", "value"]\n',
     r"'points' must be a list of 1 metric names \(one per 'y' panel, \"\" for none\); got "
     r"list \['code_len', 'value'\]\.$"),
    ('points = ["value"]\n', r"'points' names 'value', the 'y' metric of its own panel"),
    ('points = ["vaule"]\n', r"'points' names 'vaule', which is not a metric of experiment "
                             r"'tests.engine_fixtures:typed' \(metrics: value, code_len\)\. "
                             r"Did you mean 'value'\?$"),
    ("points = 3\n", r"'points' must be a list of 1 metric names .*; got int 3\.$"),
    ("mark_min = 1\n", r"'mark_min' must be true, false or a legend text; got int 1\.$"),
    ('mark_min = ""\n', r"'mark_min' must be true, false or a legend text; got str ''"),
    ('marks = { code = "bgc" }\n', r"'marks' must be a list of tables \{ PARAMETER = value, "
                                   r"\.\.\., label = \"text\" \}; got table"),
    ('marks = [{ code = "bgc" }]\n',
     r"\[figure\.marks\[0\]\] 'label' must be a non-empty str \(the legend text\); got "
     r"NoneType None\.$"),
    ('marks = [{ label = "x" }]\n', r"'marks\[0\]' must name at least one swept parameter"),
    ('marks = [{ cdoe = "bgc", label = "x" }]\n',
     r"\[figure\.marks\[0\]\] 'cdoe' must be a swept parameter \(code, snr_db\); got "
     r"'cdoe'\. Did you mean 'code'\?$"),
    ('marks = [{ snr_db = 5, label = "x" }]\n',
     r"\[figure\.marks\[0\]\] 'snr_db' must be one of the swept values of 'snr_db' "
     r"\(1, 10, 100\); got int 5\.$"),
    ('marks = [{ code = "frc", label = "x" }]\n',
     r"\[figure\.marks\[0\]\] 'code' must be one of the swept values of 'code' "
     r"\(bgc, approx-frc\)"),
])
def test_bad_keys_are_one_line_errors_at_load_time(extra, pattern):
    message = _error(extra)
    assert re.search(pattern, message), message


def test_a_metric_on_x_needs_exactly_one_curve_parameter():
    three = BASE.replace('snr_db = [1.0, 10.0, 100.0]',
                         'snr_db = [1.0, 10.0, 100.0]\nmode = ["fast", "exact"]')
    sc = parse_scenario(three.replace('x = "snr_db"', 'x = "code_len"') + 'style = "mode"\n',
                        source="s.toml")
    assert sc.figure.x == "code_len"
    with pytest.raises(ScenarioError, match=r"\[figure\] 'x' names the metric 'code_len', so "
                       r"each line is a curve over the one swept parameter not named by 'hue', "
                       r"'style' or 'facet'; got 2 such parameters \(snr_db, mode\)\.$"):
        parse_scenario(three.replace('x = "snr_db"', 'x = "code_len"'), source="s.toml")
    # a name that is neither swept nor a metric keeps the old message
    with pytest.raises(ScenarioError, match=r"'x' must be one of the swept parameters "
                                            r"\(code, snr_db\); got 'nope'"):
        parse_scenario(BASE.replace('x = "snr_db"', 'x = "nope"'), source="s.toml")


def test_the_figure_set_scenarios_use_the_keys():
    power = load_scenario(ROOT / "scenarios/aircomp-power-control.toml").figure
    assert power.points == ("mse_mc_db",) and power.facet == "channel"
    codesign = load_scenario(ROOT / "scenarios/codesign.toml").figure
    assert codesign.mark_min and len(codesign.marks) == 1
    topk = load_scenario(ROOT / "scenarios/topk-coding.toml").figure
    assert topk.x == "error" and topk.y == ("uplink_reduction",)


# ---------------------------------------------------------------------------- drawing

HEADER = ["policy", "snr", "cf_mean", "cf_ci_low", "cf_ci_high", "cf_n",
          "mc_mean", "mc_ci_low", "mc_ci_high", "mc_n"]


def _rows():
    rows = []
    for k, policy in enumerate("abc"):
        for snr in (0.0, 10.0, 20.0):
            cf = 10.0 - snr + 3 * k
            mc = cf + 0.1 * (k - 1)
            rows.append([policy, snr, cf, cf - 0.2, cf + 0.2, 50, mc, mc - 0.3, mc + 0.4, 50])
    return rows


def _floats(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _legend_texts(fig):
    legend = fig.axes[0].get_legend() or fig.legends[0]
    return [t.get_text() for t in legend.get_texts()]


def test_points_are_markers_in_the_colour_of_their_line_with_error_bars():
    spec = {"x": "snr", "y": ["cf"], "points": ["mc"], "hue": "policy",
            "labels": {"cf": "closed form", "mc": "Monte Carlo"}}
    fig = _draw(HEADER, _rows(), spec, ["policy", "snr"], title_default="")
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    bars = {c[0].get_gid(): c for c in ax.containers}
    for policy in "abc":
        line, (marks, _caps, (vbars,)) = lines[policy], bars[f"mc|{policy}"]
        want = [r for r in _rows() if r[0] == policy]
        np.testing.assert_allclose(_floats(line.get_ydata()), [r[2] for r in want])
        np.testing.assert_allclose(_floats(marks.get_xdata()), [r[1] for r in want])
        np.testing.assert_allclose(_floats(marks.get_ydata()), [r[6] for r in want])
        assert line.get_marker() in ("None", "none", None) and marks.get_linestyle() == "None"
        assert marks.get_color() == line.get_color() and marks.get_marker() not in ("None", "")
        # the interval of the Monte-Carlo metric, as a vertical bar per point
        segments = vbars.get_segments()
        np.testing.assert_allclose([s[:, 1].min() for s in segments], [r[7] for r in want])
        np.testing.assert_allclose([s[:, 1].max() for s in segments], [r[8] for r in want])
    markers = {bars[f"mc|{p}"][0].get_marker() for p in "abc"}
    assert len(markers) == 3  # one marker per colour, as the lines' legend shows
    # the legend: one entry per colour, then one grey line and one grey marker entry
    texts = _legend_texts(fig)
    assert texts == ["a", "b", "c", "closed form", "Monte Carlo"], texts
    legend = ax.get_legend() or fig.legends[0]
    handles = dict(zip(texts, legend.legend_handles, strict=True))
    assert handles["closed form"].get_marker() in ("None", "none", None)
    assert handles["Monte Carlo"].get_linestyle() == "None"
    assert handles["closed form"].get_color() == handles["Monte Carlo"].get_color()


def test_points_pair_with_their_own_panel_only():
    spec = {"x": "snr", "y": ["cf", "mc"], "points": ["mc", ""], "hue": "policy"}
    fig = _draw(HEADER, _rows(), spec, ["policy", "snr"], title_default="")
    first, second = fig.axes
    assert len(first.containers) == 3 and not second.containers
    assert all(ln.get_marker() not in ("None", "none") for ln in second.get_lines())


def test_mark_min_and_marks_sit_on_their_points_with_their_values_in_the_legend():
    spec = {"x": "snr", "y": ["cf"], "hue": "policy", "mark_min": "optimum",
            "marks": [{"policy": "b", "snr": 10, "label": "per-layer"}],
            "labels": {"snr": "SNR", "cf": "error"}}
    fig = _draw(HEADER, _rows(), spec, ["policy", "snr"], title_default="")
    ax = fig.axes[0]
    marks = {ln.get_gid(): ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("mark|")}
    best = min(_rows(), key=lambda r: r[2])
    assert (best[0], best[1]) == ("a", 20.0)
    star = marks["mark|optimum: policy a, SNR 20 (error -10)"]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (20.0, -10.0)
    ring = marks["mark|per-layer: policy b, SNR 10 (error 3)"]
    assert (ring.get_xdata()[0], ring.get_ydata()[0]) == (10.0, 3.0)
    assert star.get_marker() != ring.get_marker()
    entries = ["optimum: policy a, SNR 20 (error -10)", "per-layer: policy b, SNR 10 (error 3)"]
    # a legend inside the one panel: the marks join it, after the colours
    assert _legend_texts(fig) == ["a", "b", "c", *entries]
    assert not _marks_legends(ax)
    # a legend below the panels: the marks get the panel's own legend
    fig = _draw(HEADER, _rows(), dict(spec, legend="below"), ["policy", "snr"],
                title_default="")
    (own,) = _marks_legends(fig.axes[0])
    assert [t.get_text() for t in own.get_texts()] == entries
    assert _legend_texts(fig) == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"marks\[0\] \(snr=5\) matches no row of results\.csv"):
        _draw(HEADER, _rows(), {"x": "snr", "y": ["cf"], "marks": [{"snr": 5, "label": "x"}]},
              ["policy", "snr"], title_default="")


def _marks_legends(ax):
    return [a for a in ax.get_children() if getattr(a, "get_gid", None)
            and a.get_gid() == "marks"]


def test_mark_min_per_facet_panel():
    spec = {"x": "snr", "y": ["cf"], "facet": "policy", "mark_min": True}
    fig = _draw(HEADER, _rows(), spec, ["policy", "snr"], title_default="")
    for ax, policy in zip(fig.axes, "abc", strict=True):
        (star,) = [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("mark|")]
        least = min((r for r in _rows() if r[0] == policy), key=lambda r: r[2])
        assert (star.get_xdata()[0], star.get_ydata()[0]) == (least[1], least[2])
        assert star.get_gid().startswith("mark|least cf: snr 20")
        (own,) = _marks_legends(ax)  # each panel its own (the values differ by panel)
        assert own.get_texts()[0].get_text() == star.get_gid()[len("mark|"):]


def test_a_metric_on_x_draws_curves_along_the_remaining_axis():
    header = ["frac", "transport", "err_mean", "err_ci_low", "err_ci_high", "err_n", "red"]
    rows = []
    for t, scale in (("analog", 1.0), ("digital", 2.0)):
        for frac in (1.0, 0.1, 0.5, 0.01):  # not in sweep order on purpose
            rows.append([frac, t, scale * (1 - frac) + 0.01, scale * (1 - frac),
                         scale * (1 - frac) + 0.02, 20, 1 / frac])
    spec = {"x": "err", "y": ["red"], "hue": "transport", "logx": True, "logy": True,
            "ci": "bars"}
    fig = _draw(header, rows, spec, ["frac", "transport"], title_default="")
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    for t in ("analog", "digital"):
        order = sorted((r for r in rows if r[1] == t), key=lambda r: r[0])
        np.testing.assert_allclose(_floats(lines[t].get_xdata()), [r[2] for r in order])
        np.testing.assert_allclose(_floats(lines[t].get_ydata()), [r[6] for r in order])
    assert ax.get_xscale() == "log" and len(ax.containers) == 2
    # horizontal bars: the x metric's interval
    (_, _, (hbars,)) = [c for c in ax.containers if c[0].get_gid() == "analog"][0]
    order = sorted((r for r in rows if r[1] == "analog"), key=lambda r: r[0])
    np.testing.assert_allclose([s[:, 0].min() for s in hbars.get_segments()],
                               [r[3] for r in order])


def test_overrides_set_the_new_keys_and_are_checked(tmp_path, monkeypatch):
    from aircomp_agc.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    (tmp_path / "s.toml").write_text(BASE)
    assert main(["run", "s.toml", "--executor", "serial", "--quiet", "--no-plot"]) == 0
    out = plot_results("results/marks-study", out=tmp_path / "m.png", overrides=[
        "figure.mark_min=true", "figure.marks=[{ code = 'bgc', snr_db = 10.0, label = 'c' }]",
        "figure.points=['code_len']"])
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match=r"\[figure\.marks\[0\]\] 'snr' \(from --set\) "
                                          r"must be a swept parameter"):
        plot_results("results/marks-study", out=tmp_path / "m.png",
                     overrides=["figure.marks=[{ snr = 10.0, label = 'c' }]"])
    with pytest.raises(ValueError, match=r"marks\[0\] \(snr_db=7.0\) matches no row"):
        plot_results("results/marks-study", out=tmp_path / "m.png",
                     overrides=["figure.marks=[{ snr_db = 7.0, label = 'c' }]"])


# ---------------------------------------------------------------------------- figure 6


def test_codesign_scenario_marks_the_per_layer_choice_of_its_own_instance():
    """The ring of scenarios/codesign.toml is what the per-layer definition picks on the
    scenario's instance (its bgc codes and gradients, thresholds, row weights, params)."""
    from aircomp_agc.aggregation.codesign import codesign
    from aircomp_agc.coding import make_stragglers
    from aircomp_agc.experiments import get_experiment
    from aircomp_agc.experiments.aggregation import coded_aircomp_instance

    get_experiment("coded-aircomp")  # the code registry filled
    tree = tomllib.loads((ROOT / "scenarios/codesign.toml").read_text())
    params, axes = tree["params"], tree["sweep"]["axes"]
    (mark,) = [m for m in tree["figure"]["marks"] if m["label"] == "per-layer choice"]
    codes, gradients = [], None
    for w in axes["row_weight"]:
        code, gradients = coded_aircomp_instance(
            code=params["code"], n=params["n"], row_weight=w,
            heterogeneity=params["heterogeneity"], dim=params["dim"], instance_seed=0)
        codes.append(code)
    chosen = set()
    for seed in (0, 1):  # the choice does not hang on the draws
        result = codesign(
            n=params["n"], stragglers=make_stragglers(params["stragglers"], p=params["p"]),
            snr_db=params["snr_db"], channel=params["channel"], gradients=gradients,
            codes=codes, row_weights=axes["row_weight"], thresholds=axes["threshold"],
            policies=[params["policy"]], n_draws=100, rng=seed)
        chosen.add((result.per_layer.threshold, result.per_layer.row_weight))
        assert result.per_layer.policy == params["policy"]
    assert chosen == {(mark["threshold"], mark["row_weight"])}
