"""Serial, process and Dask executors give the same results; a dying Dask worker loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aircomp_agc.engine.executors import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from aircomp_agc.engine.run import run_scenario
from aircomp_agc.engine.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """
[scenario]
name = "exec"
experiment = "tests.engine_fixtures:cheap"
description = "executor equivalence"
seed = 99
[sweep.axes]
mu = {{ linspace = [0.5, 2.0, 4] }}
sigma = [1.0, 3.0]
[trials]
{trials}
"""


def _scenario(trials: str = 'rel_tol = 0.05\nmetric = "x"\nmin = 100\nmax = 4000\nbatch = 250'):
    return parse_scenario(SCENARIO.format(trials=trials))


@pytest.fixture(autouse=True)
def _repo_root_cwd(monkeypatch):
    # Workers resolve "tests.engine_fixtures:cheap" from the working directory.
    monkeypatch.chdir(ROOT)


def _csv(result) -> str:
    return Path(result.csv_path).read_text()


@pytest.fixture(scope="module")
def process_executor():
    with ProcessExecutor(2) as ex:
        yield ex


def test_serial_and_processes_give_identical_csv(tmp_path, process_executor):
    sc = _scenario()
    serial = run_scenario(sc, results_dir=tmp_path / "serial", executor="serial")
    procs = run_scenario(sc, results_dir=tmp_path / "procs", executor=process_executor)
    assert _csv(serial) == _csv(procs)
    assert len(serial.rows) == 8 and serial.computed == 8
    # The precision target was met or the cap reached, in both runs alike.
    for row in serial.rows:
        mean, lo, hi, n = row[2:6]
        assert (hi - lo) / 2 <= 0.05 * abs(mean) or n == 4000


def test_adaptive_chunking_keeps_order_free_results(process_executor):
    items = list(range(-150, 150))
    out = sorted(process_executor.imap_unordered(abs, items))
    assert out == sorted(abs(i) for i in items)
    assert list(SerialExecutor().imap_unordered(abs, [-1, -2])) == [1, 2]


def test_make_executor_validates_choices():
    assert isinstance(make_executor("serial"), SerialExecutor)
    assert make_executor("processes", workers=3).workers == 3
    with pytest.raises(ValueError, match="'executor'.*got 'proceses'.*Did you mean 'processes'"):
        make_executor("proceses")
    with pytest.raises(ValueError, match="need executor 'dask'"):
        make_executor("processes", scheduler="tcp://x:1")
    with pytest.raises(ValueError, match="exactly one of a scheduler address"):
        make_executor("dask")
    with pytest.raises(ValueError, match="exactly one of a scheduler address"):
        make_executor("dask", scheduler="tcp://x:1", local_cluster=True)
    with pytest.raises(ValueError, match="'workers'.*got 0"):
        make_executor("processes", workers=0)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    ex = DaskExecutor(workers=1)
    with pytest.raises(ImportError, match=r"pip install 'aircomp-agc\[dask\]'"):
        list(ex.imap_unordered(abs, [1]))


@pytest.fixture(scope="module")
def dask_executor():
    pytest.importorskip("distributed")
    with DaskExecutor(workers=2) as ex:
        ex.client.wait_for_workers(2, timeout=60)
        yield ex


def test_dask_gives_identical_csv(tmp_path, dask_executor):
    sc = _scenario()
    serial = run_scenario(sc, results_dir=tmp_path / "serial", executor="serial")
    dask = run_scenario(sc, results_dir=tmp_path / "dask", executor=dask_executor)
    assert _csv(serial) == _csv(dask)


def test_dask_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path, dask_executor):
    text = SCENARIO.replace("tests.engine_fixtures:cheap", "tests.runner_fixtures:sleepy").replace(
        "sigma = [1.0, 3.0]", "delay = [0.15, 0.2, 0.25]"
    ).replace("mu = {{", "x = {{")
    sc = parse_scenario(text.format(trials="n = 200"))
    assert sc.n_points == 12
    serial = run_scenario(sc, results_dir=tmp_path / "serial", executor="serial")

    client = dask_executor.client
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid)[victim]
    done: dict = {}

    def run():
        done["result"] = run_scenario(sc, results_dir=tmp_path / "dask", executor=dask_executor)

    thread = threading.Thread(target=run)
    thread.start()
    points = tmp_path / "dask" / sc.name / "points.jsonl"

    def n_records() -> int:
        return points.read_bytes().count(b"\n") if points.exists() else 0

    deadline = time.monotonic() + 60
    while n_records() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    killed_before = n_records()
    # The worker process dies at once, mid-task; its nanny starts a fresh one.
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    result = done["result"]
    assert 2 <= killed_before < 12
    assert result.computed == 12 and len(result.rows) == 12
    assert _csv(result) == _csv(serial)
    keys = [tuple(r[:2]) for r in result.rows]
    assert len(set(keys)) == 12  # every point exactly once


def _children(pid: int) -> set[int]:
    """Descendants of ``pid`` (Linux ``/proc``), recursively."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in out:
                    out.add(kid)
                    todo.append(kid)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its reaper is missing


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or sys.platform != "linux",
                    reason="reads the process tree from Linux /proc")
def test_workers_exit_when_the_cli_is_killed(tmp_path):
    scenario = tmp_path / "s.toml"
    text = SCENARIO.replace("tests.engine_fixtures:cheap", "tests.runner_fixtures:sleepy")
    text = text.replace("mu = {{", "x = {{").replace("sigma = [1.0, 3.0]", "delay = [0.5, 0.6]")
    scenario.write_text(text.format(trials="n = 10"))
    cmd = [sys.executable, "-c", "import sys; from aircomp_agc.cli import main; sys.exit(main())",
           "run", str(scenario), "--workers", "2", "--results-dir", str(tmp_path / "r"),
           "--quiet", "--no-plot"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    points = tmp_path / "r" / "exec" / "points.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (points.exists() and points.stat().st_size):
        time.sleep(0.02)
    workers = {pid for pid in _children(proc.pid) if _alive(pid)}
    assert len(workers) >= 2, "the run did not start its worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    proc.wait(timeout=10)
    while time.monotonic() - killed < 10 and any(_alive(pid) for pid in workers):
        time.sleep(0.05)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # do not leak them into the rest of the test session
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes {left} outlived the killed CLI by 10 s"
    # The poll interval bounds how long an orphan lives (0.25 s, plus its current sleep).
    assert time.monotonic() - killed < 5
