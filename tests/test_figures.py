"""Publication figures: the [figure] keys are validated before computing, the style is one
for all (sizes in inches, PDF + PNG at 300 dpi, mapped legend texts, readable log ticks),
and ``aircomp-agc reproduce`` runs a figure set (quick, resumable, one-line errors)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from aircomp_agc.cli import main
from aircomp_agc.engine import ScenarioError, parse_scenario
from aircomp_agc.engine.schema import merge_quick, value_keys
from aircomp_agc.plotting import _draw, number_text, plot_results

ROOT = Path(__file__).resolve().parents[1]

# typed: value ~ N(n + snr_db, 1) (per trial), code_len = len(code) (scalar).
BASE = """
[scenario]
name = "fig-study"
experiment = "tests.engine_fixtures:typed"
seed = 4
[params]
n = 3
[sweep.axes]
code = ["bgc", "approx-frc"]
mode = ["fast", "exact"]
snr_db = [1.0, 10.0, 100.0]
[trials]
n = 40
[figure]
x = "snr_db"
y = ["value"]
hue = "code"
style = "mode"
reference = ["code_len"]
logx = true
"""


def _parse(extra: str = "", base: str = BASE):
    return parse_scenario(base + textwrap.dedent(extra), source="s.toml")


def _error(extra: str) -> str:
    with pytest.raises(ScenarioError) as info:
        _parse(extra)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- validation


def test_every_figure_key_round_trips():
    sc = _parse("""
        width = "double"
        height = 3
        ci = "bars"
        legend = "below"
        legend_title = "code"
        style_title = "decoder mode"
        xlim = [0.5, 200]
        ylim = [-5, 150]
        layout = "row"
        ylabel = "value (a.u.)"
        title = "A study"
        [figure.labels]
        bgc = "BGC (Charles et al.)"
        "approx-frc" = "approx. FRC"
        fast = "fast"
        snr_db = "SNR (dB)"
        value = "value (a.u.)"
        code_len = "code length"
    """)
    fig = sc.figure
    assert fig.width_inches == 7.16 and fig.height == 3.0 and fig.style == "mode"
    assert fig.labels["approx-frc"] == "approx. FRC" and fig.ci_style() == "bars"
    assert fig.xlim == (0.5, 200.0)
    again = parse_scenario(_toml(sc.to_dict()), source="again")
    assert again.figure == fig


def _toml(tree) -> str:
    import json

    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)

    out = []
    for section, table in tree.items():
        out.append(f"[{section}]")
        for k, v in table.items():
            out.append(f"{json.dumps(k)} = {value(v)}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("extra, pattern", [
    ('legnd = "below"\n', r"unknown key 'figure.legnd'; did you mean 'figure.legend'\?$"),
    ('width = "colum"\n', r"'width' must be 'column', 'double' or a size in inches in "
                          r"\[0\.5, 20\]; got str 'colum'\. Did you mean 'column'\?$"),
    ("width = 40\n", r"'width' must be 'column', 'double' or a size in inches in \[0\.5, 20\]"
                     r"; got 40\.$"),
    ('height = "tall"\n', r"'height' must be a size in inches in \[0\.5, 20\]; got str 'tall'"),
    ('ci = "shade"\n', r"'ci' must be one of 'band', 'bars', 'none'; got str 'shade'"),
    ('legend = "top"\n', r"'legend' must be one of 'best', .*; got str 'top'"),
    ('layout = "diagonal"\n', r"'layout' must be one of 'stack', 'row', 'grid'; got str "
                               r"'diagonal'"),
    ('facet = "code"\n', r"'facet' must differ from 'x', 'hue' and 'style'; 'hue' is 'code'"),
    ("xlim = [0, 10]\n", r"'xlim' must be \[low, high\] with 0 < low < high \(a log axis\)"),
    ("ylim = [3, 1]\n", r"'ylim' must be \[low, high\] with low < high; got list \[3, 1\]"),
    ('ylabel = ["a", "b"]\n', r"'ylabel' must be a str or a list of 1 str"),
    ("labels = { bgcc = 'BGC' }\n", r"\[figure\.labels\] 'bgcc' names no swept value, swept "
                                    r"parameter or metric .* Did you mean 'bgc'\?$"),
    ("labels = { bgc = 3 }\n", r"\[figure\.labels\] 'bgc' must be a non-empty str; got int 3"),
    ('labels = "BGC"\n', r"'labels' must be a table of name = \"legend text\""),
    ("legend_title = 1\n", r"'legend_title' must be a str; got int 1"),
])
def test_bad_figure_keys_are_one_line_errors_before_computing(extra, pattern):
    assert re.search(pattern, _error(extra)), _error(extra)


def test_style_must_be_a_swept_parameter_other_than_x_and_hue():
    base = BASE.replace('style = "mode"\n', "")
    with pytest.raises(ScenarioError, match=r"'style' must differ from 'x' and 'hue'; 'hue' "):
        _parse('style = "code"\n', base)
    with pytest.raises(ScenarioError, match=r"'style' must be one of the swept parameters "
                                            r"\(code, mode, snr_db\); got 'mdoe'\. Did you "
                                            r"mean 'mode'\?"):
        _parse('style = "mdoe"\n', base)


def test_label_keys_name_values_in_every_form():
    assert value_keys(0.1)[0] == "0.1"
    assert {"10", "10.0"} <= set(value_keys(10.0))
    table = {"name": "digital", "bits": 4, "deadline_factor": 4.0}
    assert value_keys(table)[0] == "digital(bits=4, deadline_factor=4.0)"
    assert "digital" in value_keys(table)
    # results.csv stores a table as JSON text (sorted keys): the same keys
    assert set(value_keys('{"bits": 4, "deadline_factor": 4.0, "name": "digital"}')) \
        == set(value_keys(table))
    sc = _parse('labels = { "100" = "hundred", 10 = "ten" }\n')
    assert sc.figure.labels == {"100": "hundred", "10": "ten"}


def test_errorbars_false_still_means_no_interval():
    assert _parse("errorbars = false\n").figure.ci_style() == "none"


# ---------------------------------------------------------------------------- drawing

HEADER = ["code", "mode", "snr", "v_mean", "v_ci_low", "v_ci_high", "v_n", "theory", "closed"]


def _rows():
    rows = []
    for code, closed in (("a", 0.4), ("b", None)):
        for mode in ("fast", "exact"):
            for snr, v in ((0.001, 0.5), (0.00316228, 0.2), (0.01, 0.1), (0.0316228, 0.05)):
                rows.append([code, mode, snr, v, v * 0.8, v * 1.2, 10, 1.0 / (1 + snr),
                             float("nan") if closed is None else closed * v])
    return rows


def _legend_texts(fig):
    legend = fig.axes[0].get_legend() or fig.legends[0]
    return [t.get_text() for t in legend.get_texts()]


def test_hue_and_style_legend_has_mapped_texts_and_no_raw_labels():
    spec = {"x": "snr", "y": ["v"], "hue": "code", "style": "mode", "logx": True, "logy": True,
            "reference": ["theory", "closed"],
            "labels": {"a": "code A", "fast": "fast decoder", "theory": "theory curve"},
            "legend_title": "code", "style_title": "decoder"}
    fig = _draw(HEADER, _rows(), spec, ["code", "mode", "snr"], title_default="t")
    texts = _legend_texts(fig)
    assert texts == ["code", "code A", "b", "decoder", "fast decoder", "exact",
                     "theory curve", "closed"]
    assert not any("=" in t for t in texts)
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    # a second grouping variable changes line style and marker, not the colour
    assert lines["code A, fast decoder"].get_color() == lines["code A, exact"].get_color()
    assert lines["code A, fast decoder"].get_linestyle() != lines["code A, exact"].get_linestyle()
    assert lines["code A, fast decoder"].get_marker() != lines["code A, exact"].get_marker()
    assert lines["code A, fast decoder"].get_color() != lines["b, fast decoder"].get_color()
    # the shared theory curve once, in grey; the per-group one in its group's colour
    assert sum(1 for g in lines if g == "theory") == 1
    assert lines["closed|code A, exact"].get_color() == lines["code A, exact"].get_color()
    assert not any(g.startswith("closed|b") for g in lines)  # NaN: not drawn
    assert len(ax.collections) == 4  # one 95% band per line (default ci for lines)


def test_log_ticks_read_as_numbers():
    spec = {"x": "snr", "y": ["v"], "hue": "code", "logx": True, "logy": True}
    fig = _draw(HEADER, _rows(), spec, ["code", "mode", "snr"], title_default="t")
    fig.canvas.draw()
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    xt = {t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high}
    assert xt == {"0.001", "0.01"}, xt  # decades: 0.00316228 is never a tick
    low, high = ax.get_ylim()
    yt = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()
          if low <= t.get_position()[1] <= high and t.get_text()]
    assert yt and all(re.fullmatch(r"0\.\d{1,3}|1", t) for t in yt), yt  # 0.05, 0.1, ...
    assert number_text(0.00316228) == "0.00316"
    assert number_text(20.0) == "20" and number_text(1e-5) == "0.00001"
    assert number_text(1e-5, powers=True) == "$10^{-5}$"
    assert number_text(3e-6, powers=True) == r"$3\times10^{-6}$"


def test_round_swept_values_are_the_ticks_of_a_log_axis():
    rows = [["a", "fast", w, 1.0 / w, 0.9 / w, 1.1 / w, 5, 1.0, 1.0] for w in (2, 4, 8, 16, 32)]
    fig = _draw(HEADER, rows, {"x": "snr", "y": "v", "logx": True}, ["snr"], title_default="")
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "4", "8", "16", "32"]


def test_bars_and_no_interval():
    spec = {"x": "snr", "y": ["v"], "hue": "code", "ci": "bars"}
    fig = _draw(HEADER, _rows(), spec, ["code", "mode", "snr"], title_default="t")
    assert len(fig.axes[0].containers) == 4  # error bars, one set per line
    spec["ci"] = "none"
    fig = _draw(HEADER, _rows(), spec, ["code", "mode", "snr"], title_default="t")
    assert not fig.axes[0].containers and not fig.axes[0].collections


def test_column_width_and_panels():
    spec = {"x": "snr", "y": ["v", "theory"], "hue": "code", "style": "mode"}
    fig = _draw(HEADER, _rows(), spec, ["code", "mode", "snr"], title_default="")
    w, h = fig.get_size_inches()
    assert w == pytest.approx(3.5) and len(fig.axes) == 2 and h == pytest.approx(2 * 1.95)
    spec.update(width="double", layout="row", height=2.5)
    fig = _draw(HEADER, _rows(), spec, ["code", "mode", "snr"], title_default="")
    assert tuple(fig.get_size_inches()) == pytest.approx((7.16, 2.5))


def test_facets_are_small_multiples_with_shared_axes_and_consistent_colours():
    rows = [r for r in _rows()] + [["c", "fast", 0.001, 0.3, 0.2, 0.4, 10, 1.0, 0.3]]
    spec = {"x": "snr", "y": ["v"], "hue": "code", "facet": "mode", "layout": "grid",
            "width": "double", "labels": {"exact": "exact decoder"}, "legend": "below"}
    fig = _draw(HEADER, rows, spec, ["code", "mode", "snr"], title_default="")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["mode = fast", "exact decoder"]
    assert visible[0].get_shared_y_axes().joined(visible[0], visible[1])
    colours = [{ln.get_gid(): ln.get_color() for ln in ax.get_lines()} for ax in visible]
    assert colours[0]["a"] == colours[1]["a"] and colours[0]["b"] == colours[1]["b"]
    assert "c" in colours[0] and "c" not in colours[1]  # c only has a 'fast' point
    assert _legend_texts(fig) == ["a", "b", "c"]
    three = dict(spec, facet="code", hue="mode")
    fig = _draw(HEADER, rows, three, ["code", "mode", "snr"], title_default="")
    assert [ax.get_visible() for ax in fig.axes] == [True, True, True, False]


# ---------------------------------------------------------------------------- files


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    return tmp_path


def _write_set(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "fig-study.toml").write_text(BASE + textwrap.dedent("""
        labels = { bgc = "BGC", "approx-frc" = "approx. FRC", code_len = "code length" }
        xlabel = "SNR (dB)"
        [quick]
        trials.n = 6
        sweep.axes.snr_db = [1.0, 100.0]
        sweep.axes.code = ["bgc"]  # fewer values than the labels name: still valid
    """))
    (folder / "other.toml").write_text(BASE.replace("fig-study", "other-study"))
    (folder / "no-figure.toml").write_text(BASE.split("[figure]")[0].replace("fig-study", "nf"))
    return folder


def test_figure_is_written_as_pdf_and_png_at_300_dpi(workdir, capsys):
    from PIL import Image

    folder = _write_set(workdir / "sc")
    assert main(["run", str(folder / "fig-study.toml"), "--executor", "serial", "--quiet"]) == 0
    assert "figures/fig-study.png (+ .pdf)" in capsys.readouterr().out
    png, pdf = workdir / "figures/fig-study.png", workdir / "figures/fig-study.pdf"
    with Image.open(png) as img:
        assert img.info["dpi"] == pytest.approx((300, 300), abs=0.5)
        assert img.size[0] == pytest.approx(3.5 * 300, abs=2)  # one column at 300 dpi
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/Type3" not in data  # TrueType fonts, no Type 3
    assert 10_000 < len(data) < 300_000 and png.stat().st_size < 300_000
    # the same figure gives the same bytes (no time stamps): figures diff cleanly in git
    again = plot_results("results/fig-study", out=workdir / "again")
    assert again.read_bytes() == png.read_bytes()
    assert (workdir / "again.pdf").read_bytes() == data
    # relabelling without rerunning: checked against the table's values
    capsys.readouterr()
    assert main(["plot", "results/fig-study", "--set", "figure.labels={bgcc = 'B'}"]) == 2
    assert "Did you mean 'bgc'?" in capsys.readouterr().err
    assert main(["plot", "results/fig-study", "--set", "figure.labels={bgc = 'B'}",
                 "--out", "relabelled.png"]) == 0


def test_reproduce_quick_runs_the_set_with_its_quick_tables(workdir, capsys):
    import json

    folder = _write_set(workdir / "sc")
    argv = ["reproduce", "--quick", "--scenarios", str(folder), "--only", "fig-study",
            "--executor", "serial", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "reproducing 1 figure (quick): fig-study" in out
    assert (workdir / "figures/quick/fig-study.pdf").is_file()
    assert (workdir / "figures/quick/fig-study.png").is_file()
    manifest = json.loads((workdir / "results/quick/fig-study/manifest.json").read_text())
    assert manifest["trials"]["n"] == 6
    assert manifest["scenario"]["sweep"]["axes"]["snr_db"] == [1.0, 100.0]
    assert not (workdir / "results/fig-study").exists()  # the full set is untouched
    # A quick look is scratch: a second one recomputes (the main job can be run twice) ...
    assert main(argv) == 0
    assert "4 points (4 computed, 0 reused)" in capsys.readouterr().out
    # ... unless --resume, which reuses every point.
    assert main([*argv, "--resume"]) == 0
    assert "4 points (0 computed, 4 reused)" in capsys.readouterr().out
    # A full run is never replaced unasked: refused (one line) unless --resume or --force.
    full = [a for a in argv if a != "--quick"]
    assert main(full) == 0
    capsys.readouterr()
    assert main(full) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run; pass --resume" in err[0]


def test_reproduce_runs_every_scenario_with_a_figure(workdir, capsys):
    folder = _write_set(workdir / "sc")
    assert main(["reproduce", "--scenarios", str(folder), "--executor", "serial", "--quiet",
                 "--figures-dir", "figs"]) == 0
    assert "2 figures in" in capsys.readouterr().out
    assert sorted(p.name for p in (workdir / "figs").iterdir()) == [
        "fig-study.pdf", "fig-study.png", "other-study.pdf", "other-study.png"]


@pytest.mark.parametrize("argv, message", [
    (["--only", "fig-studdy"], r"--only fig-studdy: no scenario with a \[figure\] in .* "
                               r"Did you mean 'fig-study'\?"),
    (["--scenarios", "nowhere"], r"nowhere: no such scenario directory"),
    (["--workers", "0"], r"--workers: must be an int >= 1"),
    (["--quick", "--bogus"], r"unrecognized arguments: --bogus"),
])
def test_reproduce_bad_input_is_exit_2_with_one_line(workdir, capsys, argv, message):
    folder = _write_set(workdir / "sc")
    if "--scenarios" not in argv:
        argv = [*argv, "--scenarios", str(folder)]
    assert main(["reproduce", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aircomp-agc: error: "), err
    assert re.search(message, err[0]), err[0]


def test_a_bad_quick_table_is_caught_by_run_too(workdir, capsys):
    path = workdir / "q.toml"
    path.write_text(BASE + "[quick]\ntrials.nn = 5\n")
    assert main(["run", str(path), "--executor", "serial", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "(with [quick]): unknown key 'trials.nn'; did you mean 'trials.n'?" in err
    path.write_text(BASE + "[quick]\nscenario.seed = 5\n")
    assert main(["run", str(path)]) == 2
    assert "unknown key 'quick.scenario'" in capsys.readouterr().err


def test_quick_without_a_table_takes_a_tenth_of_the_trials():
    assert merge_quick({"trials": {"n": 2000, "batch": 500}})["trials"] == {"n": 200,
                                                                             "batch": 200}
    assert merge_quick({"trials": {"n": 5}})["trials"] == {"n": 2}
    adaptive = merge_quick({"trials": {"rel_tol": 0.05, "metric": "x", "min": 100}})
    assert adaptive["trials"]["max"] == 10_000
    merged = merge_quick({"trials": {"n": 100}, "params": {"a": 1, "b": 2},
                          "quick": {"params": {"b": 3}, "trials": {"n": 7}}})
    assert merged == {"trials": {"n": 7}, "params": {"a": 1, "b": 3}}


def test_audit_subcommand_writes_the_report(workdir, capsys):
    pytest.importorskip("aircomp_agc.audit")
    assert main(["audit", "--quick", "--claims", "exact-storage", "--out", "c/claims.md"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"exact-storage\s+(holds|fails)", out) and "report: c/claims.md" in out
    assert (workdir / "c/claims.md").read_text().startswith("# Audit")
    assert main(["audit", "--claims", "exact-storag"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Did you mean 'exact-storage'?" in err[0]
