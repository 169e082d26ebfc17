"""The ``aircomp-agc`` command: exit codes, one-line errors, help, listing, plotting."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aircomp_agc import __version__
from aircomp_agc.cli import COMMANDS, Command, format_table, main
from tests.runner_fixtures import INTERRUPT_AT

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """
[scenario]
name = "cli-study"
experiment = "tests.runner_fixtures:{experiment}"
description = "CLI test"
seed = 3
[sweep.axes]
x = [0.5, 1.0, 2.0]
[trials]
n = 200
[figure]
x = "x"
y = ["v"]
logy = true
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch working directory; experiments still import from the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    return tmp_path


def _scenario(directory: Path, experiment: str = "picky", name: str = "s.toml") -> Path:
    path = directory / name
    path.write_text(SCENARIO.format(experiment=experiment))
    return path


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("aircomp-agc: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_run_success_prints_table_paths_and_draws_figure(workdir, capsys):
    scenario = _scenario(workdir)
    assert main(["run", str(scenario), "--executor", "serial"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["x", "v", "±95%", "n"]
    assert lines[1].split()[0] == "0.5" and lines[1].split()[-1] == "200"
    assert "3 points (3 computed, 0 reused)" in out
    assert "results:  results/cli-study/results.csv" in out
    assert (workdir / "figures" / "cli-study.png").stat().st_size > 1000
    manifest = json.loads((workdir / "results/cli-study/manifest.json").read_text())
    assert manifest["command"][:2] == ["aircomp-agc", "run"]
    assert manifest["executor"]["name"] == "serial"


def test_exit_code_2_with_one_line_errors(workdir, capsys):
    scenario = _scenario(workdir)
    cases = [
        ["run", "missing.toml"],  # missing file
        ["run", str(scenario), "--set", "trials.n=-5"],  # invalid override
        ["run", str(scenario), "--set", "sweep.axes.x=[-1.0]", "--executor", "serial"],
        ["run", str(scenario), "--executor", "dask"],  # neither scheduler nor local cluster
        ["run", str(scenario), "--workers", "0"],
        ["run", str(scenario), "--resume", "--force"],
        ["run"],  # argparse: missing SCENARIO
        ["plot", str(workdir / "nothing")],
        ["list", "colours"],
        ["list", "scenarios", "--dir", "nodir"],
        ["run", str(scenario), "--results-dir", str(scenario)],  # a file, not a folder
        ["run", str(scenario), "--results-dir", f"{scenario}/below"],
        ["frobnicate"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        _one_error_line(capsys.readouterr().err)
    # The experiment's own validation message survives, naming the point.
    main(["run", str(scenario), "--set", "sweep.axes.x=[-1.0]", "--results-dir", "elsewhere"])
    line = _one_error_line(capsys.readouterr().err)
    assert "'x' parameter of picky must be a finite real number in [0, inf); got -1.0" in line
    assert '{"x":-1.0}' in line


def test_finished_run_needs_resume_or_force(workdir, capsys):
    scenario = _scenario(workdir)
    argv = ["run", str(scenario), "--executor", "serial", "--no-plot", "--quiet"]
    assert main(argv) == 0
    first = (workdir / "results/cli-study/results.csv").read_text()
    capsys.readouterr()
    assert main(argv) == 2
    assert "already holds a finished run" in _one_error_line(capsys.readouterr().err)
    assert main([*argv, "--resume"]) == 0
    assert main([*argv, "--force"]) == 0
    assert (workdir / "results/cli-study/results.csv").read_text() == first
    out = capsys.readouterr().out
    assert "±95%" not in out and "results:" in out  # --quiet: no table, paths still shown


def test_ctrl_c_exits_130_and_says_how_to_resume(workdir, capsys, monkeypatch):
    scenario = _scenario(workdir, "interrupting")
    monkeypatch.setenv(INTERRUPT_AT, "1.0")
    argv = ["run", str(scenario), "--executor", "serial", "--no-plot"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted after 1 of 3 points" in err
    assert f"resume with: aircomp-agc run {scenario} --executor serial --no-plot --resume" in err
    monkeypatch.delenv(INTERRUPT_AT)
    assert main([*argv, "--resume"]) == 0
    assert "3 points (2 computed, 1 reused)" in capsys.readouterr().out


def test_keyboard_interrupt_anywhere_exits_130(monkeypatch, capsys):
    def boom(args):
        raise KeyboardInterrupt

    original = COMMANDS["list"]
    monkeypatch.setitem(COMMANDS, "list", Command(original.help, original.add_arguments, boom))
    assert main(["list", "codes"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_help_and_version(capsys):
    for argv in (["--help"], *([name, "--help"] for name in COMMANDS)):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "usage: aircomp-agc" in out and "examples:" in out, argv
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aircomp-agc {__version__}"


def test_console_script_runs_as_a_process(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from aircomp_agc.cli import main; sys.exit(main())",
         "run", "nope.toml"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.returncode == 2
    assert _one_error_line(out.stderr) == "aircomp-agc: error: nope.toml: no such scenario file."


@pytest.mark.parametrize(
    ("what", "name", "tag", "param"),
    [
        ("codes", "bgc", "storage_param=row_weight", "row_weight"),
        ("channels", "rician", "backend=numpy", "k_factor"),
        ("power-control", "threshold_scheduling", "constraint=peak", "keep"),
        ("stragglers", "bernoulli", "marginal", "p"),
        ("experiments", "aircomp-mse", "outputs=mse,", "policy"),
    ],
)
def test_list_registries_with_tags_and_parameters(what, name, tag, param, capsys):
    assert main(["list", what]) == 0
    lines = capsys.readouterr().out.splitlines()
    (line,) = [ln for ln in lines if ln.split()[0] == name]
    assert tag in line
    assert main(["list", what, "--params"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split()[0] == name)
    block = []
    for ln in lines[start + 1:]:
        if not ln.startswith("    "):
            break
        block.append(ln.split())
    assert any(row[0] == param for row in block), block


def test_describe_shows_parameters_defaults_docs_and_tags(capsys):
    assert main(["describe", "rician"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rician (channel model)\n")
    assert "tags: randomized" in out
    (k_line,) = [ln for ln in out.splitlines() if ln.split()[:1] == ["k_factor"]]
    assert "= 1.0" in k_line and "LoS" in k_line
    assert main(["describe", "sgc"]) == 0
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    assert next(r for r in rows if r[0] == "p")[:3] == ["p", "(required)", "Straggle"]
    assert main(["describe", "ricean"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "named 'ricean'. Did you mean 'rician'?" in line


def test_list_scenarios_marks_invalid_files(workdir, capsys):
    folder = workdir / "scenarios"
    folder.mkdir()
    _scenario(folder, name="good.toml")
    (folder / "bad.toml").write_text("[scenario]\nname = 'bad'\n")
    assert main(["list", "scenarios", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any("bad.toml" in line and "INVALID" in line for line in out)
    assert any("good.toml" in line and "cli-study" in line and "CLI test" in line for line in out)


def test_plot_subcommand_writes_png(workdir, capsys):
    scenario = _scenario(workdir)
    assert main(["run", str(scenario), "--executor", "serial", "--no-plot", "--quiet"]) == 0
    assert not (workdir / "figures").exists()
    assert main(["plot", "results/cli-study", "--out", "out/fig.png"]) == 0
    assert (workdir / "out" / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "results/cli-study"]) == 0
    assert (workdir / "figures" / "cli-study.png").is_file()


def test_format_table_is_compact_and_aligned():
    header = ["code", "w", "err_mean", "err_ci_low", "err_ci_high", "err_n", "storage"]
    rows = [["bgc", 2, 0.123456, 0.12, 0.126912, 1000, 3], ["frc", 10, 1e-5, 0.0, 2e-5, 20, 11]]
    text = format_table(header, rows)
    lines = text.splitlines()
    assert lines[0].split() == ["code", "w", "err", "±95%", "n", "storage"]
    assert lines[1].split() == ["bgc", "2", "0.1235", "0.003456", "1000", "3"]
    assert lines[2].split() == ["frc", "10", "1e-05", "1e-05", "20", "11"]
    assert len({len(line) for line in lines}) == 1  # right-aligned numbers: equal widths
    many = format_table(header, rows * 30, max_rows=5)
    assert many.splitlines()[-1] == "... 55 more rows in results.csv"
    models = format_table(["policy", "n"], [[{"name": "threshold_scheduling", "keep": 16}, 3]])
    assert models.splitlines()[1].split() == ["threshold_scheduling(keep=16)", "3"]


def test_progress_bar_shows_count_and_eta(monkeypatch):
    import io

    from aircomp_agc.engine import progress

    monkeypatch.setattr(progress, "BAR_DELAY", 0)  # draw at once (normally after 2 s)
    buf = io.StringIO()
    with progress.Progress(4, initial=1, description="study", stream=buf) as bar:
        bar.update(3)
        bar._bar.refresh()
        text = buf.getvalue()
    assert "study" in text and "1/4" in text and "4/4" in text and "pt/s" in text
    silent = progress.Progress(4, enabled=False)
    silent.update()
    silent.close()


def test_plot_defaults_and_bad_spec(workdir):
    from aircomp_agc.plotting import default_figure, plot_results

    scenario = _scenario(workdir)
    assert main(["run", str(scenario), "--executor", "serial", "--no-plot", "--quiet"]) == 0
    header = ["x", "v_mean", "v_ci_low", "v_ci_high", "v_n", "x2"]
    assert default_figure(header, ["x"]) == {"x": "x", "y": ["v"], "hue": None}
    assert default_figure(header, []) is None
    with pytest.raises(ValueError, match=r"'x' must be one of the swept parameters \(x\); "
                                         "got 'nope'"):
        plot_results("results/cli-study", figure={"x": "nope", "y": ["v"]})
    with pytest.raises(ValueError, match="'kind' must be 'line' or 'scatter'; got str 'pie'"):
        plot_results("results/cli-study", figure={"x": "x", "y": ["v"], "kind": "pie"})
    path = plot_results("results/cli-study", figure={"x": "x", "y": "v", "kind": "scatter"},
                        out="s.png")
    assert path.stat().st_size > 1000


def test_results_dir_messages_name_the_problem(workdir, capsys):
    scenario = _scenario(workdir)
    assert main(["run", str(scenario), "--results-dir", str(scenario)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--results-dir: '{scenario}' is a file, not a folder" in line
    assert main(["run", str(scenario), "--results-dir", f"{scenario}/x/y"]) == 2
    assert f"is inside '{scenario}', a file" in _one_error_line(capsys.readouterr().err)
    assert main(["list", "scenarios", "--dir", "nodir"]) == 2
    assert "nodir: no such scenario directory" in _one_error_line(capsys.readouterr().err)


def test_plot_set_overrides_redraw_without_rerunning(workdir, capsys):
    scenario = _scenario(workdir)
    assert main(["run", str(scenario), "--executor", "serial", "--no-plot", "--quiet"]) == 0
    csv_before = (workdir / "results/cli-study/results.csv").read_text()
    assert main(["plot", "results/cli-study", "--set", "figure.logy=false",
                 "--set", "figure.title=redrawn", "--out", "r.png"]) == 0
    assert (workdir / "r.png").stat().st_size > 1000
    assert (workdir / "results/cli-study/results.csv").read_text() == csv_before
    capsys.readouterr()
    for argv, message in [
        (["--set", "figure.y=['vv']"], "names 'vv', which is not a metric of results.csv "
                                        "(metrics: v). Did you mean 'v'?"),
        (["--set", "trials.n=5"], "plot --set changes the figure only"),
        (["--set", "figure.hue=x"], "'hue' (from --set) must differ from 'x'"),
    ]:
        assert main(["plot", "results/cli-study", *argv]) == 2
        assert message in _one_error_line(capsys.readouterr().err)


def test_warnings_are_printed_with_their_point_counts(workdir, capsys):
    text = SCENARIO.format(experiment="warning").replace("[0.5, 1.0, 2.0]", "[0.5, 2.0, 3.0]")
    (workdir / "w.toml").write_text(text)
    assert main(["run", "w.toml", "--executor", "serial", "--no-plot", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["aircomp-agc: warning: UserWarning: x above 1 (odd but legal) (2 of 3 points)"]


@pytest.mark.sionna
def test_tensorflow_start_up_messages_never_reach_the_terminal(workdir):
    (workdir / "tf.toml").write_text(textwrap.dedent("""\
        [scenario]
        name = "tf"
        experiment = "aircomp-mse"
        seed = 1
        [params]
        channel = "sionna-rayleigh"
        n_devices = 3
        [sweep.axes]
        snr_db = [0.0, 10.0]
        [trials]
        n = 4
        """))
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from aircomp_agc.cli import main; sys.exit(main())",
         "run", "tf.toml", "--executor", "serial", "--no-plot"],
        capture_output=True, text=True, cwd=workdir, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert out.returncode == 0, out.stderr
    # Only the progress bar (drawn after 2 s) may appear: no cuda/absl/oneDNN lines.
    lines = [ln for ln in out.stderr.splitlines()
             if ln.strip() and not re.match(r"\s*tf:\s+\d+%\|", ln)]
    assert lines == [], out.stderr
    assert "2 points (2 computed, 0 reused)" in out.stdout


def test_many_similar_warnings_are_summarized(capsys, tmp_path):
    from aircomp_agc.cli import _print_warnings

    found = {f"LowReceivedSNRWarning: best {-40 - i} dB": 1 for i in range(5)}
    found["UserWarning: odd"] = 5
    _print_warnings(found, 5, tmp_path / "manifest.json")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "aircomp-agc: warning: LowReceivedSNRWarning: best -40 dB (1 of 5 points)",
        "aircomp-agc: warning: LowReceivedSNRWarning: best -41 dB (1 of 5 points)",
        "aircomp-agc: warning: ... and 3 more LowReceivedSNRWarning warnings with other "
        f"values (all in {tmp_path / 'manifest.json'})",
        "aircomp-agc: warning: UserWarning: odd (5 of 5 points)",
    ]
