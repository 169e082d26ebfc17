"""Reference (theory) curves in figures: one shared line, or one per group; legend texts."""

from __future__ import annotations

import math

import pytest

from aircomp_agc.engine import ScenarioError, parse_scenario
from aircomp_agc.plotting import _draw

HEADER = ["code", "w", "err_mean", "err_ci_low", "err_ci_high", "err_n", "theory", "closed"]
ROWS = [
    ["a", 1, 0.5, 0.4, 0.6, 10, 1.0, 0.45],
    ["a", 2, 0.2, 0.1, 0.3, 10, 0.5, 0.25],
    ["b", 1, 0.6, 0.5, 0.7, 10, 1.0, math.nan],
    ["b", 2, 0.3, 0.2, 0.4, 10, 0.5, math.nan],
]


def _legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def _lines(fig):
    return {ln.get_gid(): ln for ln in fig.axes[0].get_lines() if ln.get_gid()}


def test_shared_reference_is_one_line_and_per_group_reference_keeps_the_group_colour():
    spec = {"x": "w", "y": ["err"], "hue": "code", "reference": ["theory", "closed"]}
    fig = _draw(HEADER, ROWS, spec, ["code", "w"], title_default="t")
    assert _legend(fig) == ["a", "b", "theory", "closed"]  # one entry per reference
    lines = _lines(fig)
    assert list(lines["theory"].get_ydata()) == [1.0, 0.5]  # identical across codes: once
    assert "closed|a" in lines and "closed|b" not in lines  # NaN: skipped
    assert lines["closed|a"].get_color() == lines["a"].get_color()
    assert lines["theory"].get_color() not in (lines["a"].get_color(), lines["b"].get_color())


def test_unknown_reference_column_is_a_clear_error():
    spec = {"x": "w", "y": ["err"], "hue": "code", "reference": ["nope"]}
    with pytest.raises(ValueError, match="reference 'nope' is not a column"):
        _draw(HEADER, ROWS, spec, ["code", "w"], title_default="t")


def test_scenario_validates_reference():
    base = """
[scenario]
name = "x"
experiment = "tests.engine_fixtures:cheap"
seed = 1
[sweep.axes]
mu = [0.0, 1.0]
[trials]
n = 10
[figure]
x = "mu"
y = "x"
"""
    ok = parse_scenario(base + 'reference = ["x"]\n')
    assert ok.figure.reference == ("x",)
    with pytest.raises(ScenarioError, match="reference"):
        parse_scenario(base + "reference = [1]\n")


def test_model_tables_are_labelled_by_name_and_parameters():
    # How results.csv stores a swept table (JSON text): the legend shows name(params).
    header = ["policy", "snr", "mse_mean", "mse_ci_low", "mse_ci_high", "mse_n"]
    table = '{"keep": 16, "name": "threshold_scheduling"}'
    rows = [[table, 0.0, 1.0, 0.9, 1.1, 5], [table, 10.0, 0.5, 0.4, 0.6, 5],
            ["optimal_power", 0.0, 0.8, 0.7, 0.9, 5], ["optimal_power", 10.0, 0.3, 0.2, 0.4, 5]]
    fig = _draw(header, rows, {"x": "snr", "y": ["mse"], "hue": "policy"}, ["policy", "snr"],
                title_default="t")
    assert _legend(fig) == ["threshold scheduling(keep=16)", "optimal power"]
    assert fig.axes[0].get_legend().get_title().get_text() == "policy"
    labelled = {"x": "snr", "y": ["mse"], "hue": "policy", "legend_title": "power control",
                "labels": {"threshold_scheduling": "16 strongest", "optimal_power": "optimal"}}
    fig = _draw(header, rows, labelled, ["policy", "snr"], title_default="t")
    assert _legend(fig) == ["16 strongest", "optimal"]
    assert fig.axes[0].get_legend().get_title().get_text() == "power control"
