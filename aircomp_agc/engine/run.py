"""Running a whole scenario: points -> executor -> per-point records -> table and manifest.

:func:`run_scenario` is what ``aircomp-agc run`` calls. It

1. opens the results folder (refusing to overwrite a run unless ``resume`` or ``force``),
2. reuses the finished points of an earlier, interrupted or extended run (``resume``),
3. sends the remaining points to the executor and writes each record as it arrives,
4. writes ``results.csv`` in sweep order and ``manifest.json`` with status ``complete``.

Ctrl-C stops the executor, keeps the finished records, marks the manifest
``interrupted`` and raises :class:`~aircomp_agc.engine.progress.RunInterrupted`; another
error marks it ``failed`` and propagates. Nothing here prints (except the progress bar on
standard error): the command line reports.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import inspect
import json
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..experiments.registry import RESERVED_PARAMETERS
from .executors import Executor, SerialExecutor, make_executor
from .progress import Progress, RunInterrupted
from .results import RECORD_VERSION, ResultsStore, fingerprint, tidy_table, write_csv
from .runner import ExperimentError, PointResult, PointTask, StoppingRule, compute_point

__all__ = ["RunResult", "check_points", "run_scenario"]

_VERSIONED = (
    "aircomp-agc",
    "numpy",
    "scipy",
    "tqdm",
    "matplotlib",
    "dask",
    "distributed",
    "tensorflow",
    "sionna-no-rt",
)


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_scenario` produced.

    Attributes
    ----------
    directory, csv_path, manifest_path : pathlib.Path
    header : list[str]
        Columns of the tidy table.
    rows : list[list]
        One per point, in sweep order.
    computed, reused : int
        Points computed by this call, and reused from earlier records.
    wall_seconds : float
    """

    directory: Path
    csv_path: Path
    manifest_path: Path
    header: list[str]
    rows: list[list[Any]]
    computed: int
    reused: int
    wall_seconds: float


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in _VERSIONED:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _git(source: Path | None) -> dict[str, Any] | None:
    """Commit (and whether the work tree differs from it) of the repo holding ``source``."""
    where = Path(__file__).resolve().parent
    for folder in ([source.resolve().parent] if source else []) + [where]:
        try:
            commit = subprocess.run(
                ["git", "-C", str(folder), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        return {"commit": commit, "dirty": bool(dirty), "repo": str(folder)}
    return None


def run_scenario(
    scenario: Any,
    *,
    results_dir: str | Path = "results",
    executor: str | Executor = "processes",
    workers: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
    command: Sequence[str] | None = None,
) -> RunResult:
    """Run every point of ``scenario`` and write its results folder.

    Parameters
    ----------
    scenario : Scenario
        From :func:`aircomp_agc.engine.scenario.load_scenario` (uses ``name``,
        ``experiment``, ``seed``, ``trials``, ``sweep.names``, ``points()``,
        ``point_key()``, ``to_dict()``, ``source``).
    results_dir : path
        Parent folder; results go to ``results_dir/<scenario.name>/``.
    executor : {"serial", "processes"} or Executor
        By name (built and closed here; ``"processes"`` falls back to in-process when at
        most one point remains) or an executor the caller manages (e.g. Dask).
    workers : int or None
        Processes for ``"processes"`` (default: every core).
    resume, force : bool
        Reuse the finished points of an earlier run / delete it and start over.
    progress : bool
        Draw a progress bar on standard error.
    command : sequence of str, optional
        The command line, recorded in the manifest.

    Returns
    -------
    RunResult

    Raises
    ------
    RunExistsError
        The folder holds a run and neither ``resume`` nor ``force`` is set (or the
        resumed run used another experiment, seed or trials spec).
    RunInterrupted
        On Ctrl-C, after keeping finished points.
    ExperimentError
        The experiment rejected a point's parameters or broke the output contract.
    """
    start = time.perf_counter()
    rule = StoppingRule.from_spec(scenario.trials)
    points = scenario.points()
    check_points(scenario.experiment_fn(), points)
    keys = [scenario.point_key(p) for p in points]
    params_by_key = dict(zip(keys, points, strict=True))
    identity = {
        "experiment": scenario.experiment,
        "seed": scenario.seed,
        "trials": rule.as_dict(),
        "record_version": RECORD_VERSION,
    }
    store = ResultsStore(Path(results_dir) / scenario.name, fingerprint=fingerprint(identity))
    finished: dict[str, PointResult] = store.open(resume=resume, force=force)
    reused = sum(k in finished for k in params_by_key)
    todo = [k for k in params_by_key if k not in finished]

    owned = isinstance(executor, str)
    if owned:
        kind = "serial" if executor == "processes" and len(todo) <= 1 else executor
        runner = make_executor(kind, workers=workers if kind == "processes" else None)
    else:
        runner = executor
    manifest: dict[str, Any] = {
        "scenario": scenario.to_dict(),
        "source": str(scenario.source) if scenario.source else None,
        "seed": scenario.seed,
        "experiment": scenario.experiment,
        "trials": rule.as_dict(),
        "command": list(command) if command is not None else None,
        "executor": runner.describe(),
        "status": "running",
        "started": _utc_now(),
        "finished": None,
        "wall_seconds": None,
        "compute_seconds": None,
        "points": {"total": len(params_by_key), "reused": reused, "computed": 0},
        "versions": _versions(),
        "git": _git(scenario.source),
    }
    store.write_manifest(manifest)

    tasks = [PointTask(scenario.experiment, params_by_key[k], k, scenario.seed, rule) for k in todo]
    computed, compute_seconds = 0, 0.0

    def finish(status: str, error: str | None = None) -> None:
        manifest.update(
            status=status,
            finished=_utc_now(),
            wall_seconds=round(time.perf_counter() - start, 3),
            compute_seconds=round(compute_seconds, 3),
        )
        manifest["points"]["computed"] = computed
        if error:
            manifest["error"] = error
        store.write_manifest(manifest)
        store.close()

    bar = Progress(len(params_by_key), initial=reused, description=scenario.name, enabled=progress)
    results = None
    try:
        if tasks:
            # Fail here, once, on an unresolvable experiment rather than in every worker.
            scenario.experiment_fn()
            results = runner.imap_unordered(compute_point, tasks)
            for res in results:
                if res.key in finished:  # a duplicate delivery must not count twice
                    continue
                store.write_point(res, params_by_key[res.key])
                finished[res.key] = res
                computed += 1
                compute_seconds += res.seconds
                bar.update()
    except KeyboardInterrupt:
        _stop(results, runner, owned)
        bar.close()
        finish("interrupted")
        raise RunInterrupted(len(finished), len(params_by_key), store.directory) from None
    except BaseException as exc:
        _stop(results, runner, owned)
        bar.close()
        finish("failed", f"{type(exc).__name__}: {exc}".splitlines()[0])
        raise
    bar.close()
    if owned:
        runner.close()
    header, rows = tidy_table(points, [finished[k] for k in keys], list(scenario.sweep.names))
    write_csv(store.csv_path, header, rows)
    finish("complete")
    return RunResult(
        directory=store.directory,
        csv_path=store.csv_path,
        manifest_path=store.manifest_path,
        header=header,
        rows=rows,
        computed=computed,
        reused=reused,
        wall_seconds=time.perf_counter() - start,
    )


def check_points(fn: Any, points: Sequence[dict[str, Any]]) -> None:
    """Run the experiment's parameter check (``fn.check``) on every point, before any work.

    The check receives the experiment's full keyword arguments: the point's values over the
    experiment's own defaults (so defaults are declared once, on the experiment).

    Raises
    ------
    ExperimentError
        Naming the first offending point and what is wrong with it (one line).
    """
    check = getattr(fn, "check", None)
    if check is None:
        return
    defaults = {
        name: prm.default
        for name, prm in inspect.signature(fn).parameters.items()
        if prm.default is not prm.empty and name not in RESERVED_PARAMETERS
    }
    for params in points:
        try:
            check(**{**defaults, **params})
        except (ValueError, TypeError) as exc:
            point = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ExperimentError(f"Point {point}: {first}") from None


def _stop(results: Any, runner: Executor, owned: bool) -> None:
    """Cancel outstanding work: close the result generator (cancels futures), free workers."""
    if results is not None:
        results.close()
    if owned and not isinstance(runner, SerialExecutor):
        runner.close()
