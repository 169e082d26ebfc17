"""Crash safety and resume: a killed or interrupted run finishes with the uninterrupted numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aircomp_agc.engine.progress import RunInterrupted, resume_command
from aircomp_agc.engine.results import (
    ResultsDirError,
    ResultsStore,
    RunExistsError,
    RunLockedError,
    read_table,
)
from aircomp_agc.engine.run import run_scenario
from aircomp_agc.engine.scenario import load_scenario, parse_scenario
from tests.runner_fixtures import INTERRUPT_AT

ROOT = Path(__file__).resolve().parents[1]

SLOW = """
[scenario]
name = "slow"
experiment = "tests.runner_fixtures:sleepy"
description = "sleeps per point, so a kill lands mid-run"
seed = 5
[params]
delay = 0.02
[sweep.axes]
x = {{ range = [0, {last}, 1] }}
[trials]
n = 300
batch = 100
"""


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _records(directory: Path) -> list[bytes]:
    """The complete record lines of a run's ``points.jsonl`` (none before it exists)."""
    try:
        data = (directory / "points.jsonl").read_bytes()
    except FileNotFoundError:
        return []
    return [line for line in data.split(b"\n")[:-1] if line]


def test_sigkill_mid_run_then_resume_gives_identical_csv(tmp_path):
    scenario_file = _write(tmp_path, SLOW.format(last=15))
    reference = run_scenario(
        load_scenario(scenario_file), results_dir=tmp_path / "ref", executor="serial"
    )
    run_dir = tmp_path / "killed"
    cmd = [
        sys.executable, "-c", "import sys; from aircomp_agc.cli import main; sys.exit(main())",
        "run", str(scenario_file), "--executor", "serial", "--results-dir", str(run_dir),
        "--no-plot", "--quiet",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_records(run_dir / "slow")) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    kept = len(_records(run_dir / "slow"))
    assert 4 <= kept < 16, kept
    manifest = json.loads((run_dir / "slow" / "manifest.json").read_text())
    assert manifest["status"] == "running" and not (run_dir / "slow" / "results.csv").exists()

    # Without --resume the unfinished run is protected too.
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((run_dir / "slow" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["points"] == {"total": 16, "reused": kept, "computed": 16 - kept}
    assert (run_dir / "slow" / "results.csv").read_text() == reference.csv_path.read_text()


def test_keyboard_interrupt_keeps_points_and_resume_completes(tmp_path, monkeypatch):
    text = SLOW.format(last=7).replace("sleepy", "interrupting").replace("delay = 0.02", "")
    sc = parse_scenario(text)
    ref = run_scenario(sc, results_dir=tmp_path / "ref", executor="serial")
    monkeypatch.setenv(INTERRUPT_AT, "3")
    with pytest.raises(RunInterrupted, match="interrupted after 3 of 8 points") as info:
        run_scenario(sc, results_dir=tmp_path, executor="serial")
    assert info.value.done == 3 and info.value.total == 8
    store_dir = tmp_path / "slow"
    manifest = json.loads((store_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["points"]["computed"] == 3
    assert len(_records(store_dir)) == 3
    monkeypatch.delenv(INTERRUPT_AT)
    resumed = run_scenario(sc, results_dir=tmp_path, executor="serial", resume=True)
    assert (resumed.reused, resumed.computed) == (3, 5)
    assert resumed.csv_path.read_text() == ref.csv_path.read_text()


def test_finished_run_is_never_overwritten_silently(tmp_path):
    sc = parse_scenario(SLOW.format(last=2).replace("delay = 0.02", "delay = 0.0"))
    first = run_scenario(sc, results_dir=tmp_path, executor="serial")
    csv_before = first.csv_path.read_text()
    with pytest.raises(RunExistsError, match="already holds a finished run.*--resume.*--force"):
        run_scenario(sc, results_dir=tmp_path, executor="serial")
    again = run_scenario(sc, results_dir=tmp_path, executor="serial", resume=True)
    assert (again.computed, again.reused) == (0, 3) and again.csv_path.read_text() == csv_before
    forced = run_scenario(sc, results_dir=tmp_path, executor="serial", force=True)
    assert (forced.computed, forced.reused) == (3, 0) and forced.csv_path.read_text() == csv_before
    with pytest.raises(ValueError, match="at most one of resume and force"):
        run_scenario(sc, results_dir=tmp_path, executor="serial", resume=True, force=True)


def test_resume_refuses_another_seed_or_trials_spec(tmp_path):
    text = SLOW.format(last=1).replace("delay = 0.02", "delay = 0.0")
    run_scenario(parse_scenario(text), results_dir=tmp_path, executor="serial")
    for override in ("scenario.seed=6", "trials.n=400", "trials.batch=50"):
        with pytest.raises(RunExistsError, match="Cannot resume.*--force"):
            run_scenario(
                parse_scenario(text, overrides=[override]),
                results_dir=tmp_path, executor="serial", resume=True,
            )


def test_torn_records_are_recomputed_and_extended_sweeps_reuse_points(tmp_path):
    text = SLOW.replace("delay = 0.02", "delay = 0.0")
    ref = run_scenario(parse_scenario(text.format(last=5)), results_dir=tmp_path / "ref",
                       executor="serial")
    first = run_scenario(parse_scenario(text.format(last=3)), results_dir=tmp_path,
                         executor="serial")
    path = first.directory / "points.jsonl"
    records = _records(first.directory)
    assert len(records) == 4
    # What an OS crash before fsync can leave: a lost record, a torn one, a torn tail.
    path.write_bytes(records[1][:40] + b"\n" + records[2] + b"\n" + records[3] + b"\n"
                     + records[0][:25])
    (first.directory / "manifest.json").unlink()  # killed before the first manifest write
    resumed = run_scenario(parse_scenario(text.format(last=5)), results_dir=tmp_path,
                           executor="serial", resume=True)
    assert (resumed.reused, resumed.computed) == (2, 4)
    assert resumed.csv_path.read_text() == ref.csv_path.read_text()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])  # no torn line left
    assert len(lines) - 1 == 6
    header, rows = read_table(resumed.csv_path)
    assert header == ["x", "v_mean", "v_ci_low", "v_ci_high", "v_n", "x2"]
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4, 5] and rows[3][-1] == 9


def test_store_skips_records_of_other_fingerprints(tmp_path):
    sc = parse_scenario(SLOW.format(last=1).replace("delay = 0.02", "delay = 0.0"))
    run = run_scenario(sc, results_dir=tmp_path, executor="serial")
    assert len(ResultsStore(run.directory, fingerprint="other").load_points()) == 0
    manifest = json.loads(run.manifest_path.read_text())
    assert len(ResultsStore(run.directory, fingerprint=manifest["fingerprint"]).load_points()) == 2
    assert manifest["seed"] == 5 and manifest["trials"] == {"n": 300, "batch": 100}
    assert manifest["scenario"]["sweep"]["axes"] == {"x": [0, 1]}
    assert {"numpy", "python"} <= set(manifest["versions"])
    assert manifest["git"] is None or len(manifest["git"]["commit"]) == 40
    assert manifest["wall_seconds"] >= 0 and manifest["status"] == "complete"


def test_resume_command_swaps_force_for_resume():
    argv = ["run", "scenarios/a b.toml", "--force", "--set", "trials.n=5"]
    assert resume_command(argv) == "aircomp-agc run 'scenarios/a b.toml' --set trials.n=5 --resume"


def test_failing_experiment_marks_manifest_failed_and_keeps_points(tmp_path):
    text = SLOW.format(last=3).replace("runner_fixtures:sleepy", "engine_fixtures:failing")
    sc = parse_scenario(text.replace("delay = 0.02", "fail_at = 2.0"))
    with pytest.raises(RuntimeError, match="x=2.0 >= fail_at=2.0"):
        run_scenario(sc, results_dir=tmp_path, executor="serial")
    manifest = json.loads((tmp_path / "slow" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"].startswith("RuntimeError: ")
    assert manifest["points"]["computed"] == 2 and len(_records(tmp_path / "slow")) == 2


def test_two_runs_cannot_write_one_folder(tmp_path):
    store = ResultsStore(tmp_path / "s", fingerprint="f")
    store.open()
    other = ResultsStore(tmp_path / "s", fingerprint="f")
    holder = rf"being written by another run \(process {os.getpid()}\)"
    with pytest.raises(RunLockedError, match=holder):
        other.open(resume=True)
    store.close()
    other.open(resume=True)  # the lock goes with the first store
    other.close()


def test_a_live_run_holds_its_folder_against_the_cli(tmp_path):
    scenario_file = _write(tmp_path, SLOW.format(last=15))
    cmd = [
        sys.executable, "-c", "import sys; from aircomp_agc.cli import main; sys.exit(main())",
        "run", str(scenario_file), "--executor", "serial", "--results-dir", str(tmp_path),
        "--no-plot", "--quiet",
    ]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not _records(tmp_path / "slow") and time.monotonic() < deadline:
            time.sleep(0.01)
        second = subprocess.run([*cmd, "--force"], cwd=ROOT, capture_output=True, text=True)
        assert second.returncode == 2
        (line,) = second.stderr.strip().splitlines()
        assert f"being written by another run (process {first.pid})" in line
    finally:
        first.kill()
        first.wait(timeout=30)
    # The operating system released the dead run's lock: resuming works.
    resumed = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr


def test_results_folder_problems_are_one_line(tmp_path):
    sc = parse_scenario(SLOW.format(last=1).replace("delay = 0.02", "delay = 0.0"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ResultsDirError, match=r"created: '.*file' is a file, not a folder"):
        run_scenario(sc, results_dir=blocker, executor="serial")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o500)
        with pytest.raises(ResultsDirError, match="permission denied"):
            run_scenario(sc, results_dir=locked, executor="serial")
