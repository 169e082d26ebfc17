"""Running a whole scenario: points -> executor -> per-point records -> table and manifest.

:func:`run_scenario` is what ``aircomp-agc run`` calls. It

1. checks every point with the experiment's own check (and refuses duplicate points),
   then opens and locks the results folder (refusing to overwrite a run unless
   ``resume`` or ``force``),
2. reuses the finished points of an earlier, interrupted or extended run (``resume``),
3. sends the remaining points to the executor and writes each record as it arrives,
4. writes ``results.csv`` in sweep order (and ``curves.csv`` when the experiment returns
   curves) and ``manifest.json`` with status ``complete``.

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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._checks import Estimate
from ..experiments.registry import (
    RESERVED_PARAMETERS,
    experiment_curve_index,
    experiment_outputs,
)
from .executors import Executor, SerialExecutor, make_executor
from .progress import Progress, RunInterrupted
from .results import (
    CURVES_NAME,
    RECORD_VERSION,
    ResultsStore,
    curve_table,
    fingerprint,
    tidy_table,
    write_csv,
)
from .runner import ExperimentError, PointResult, PointTask, StoppingRule, compute_point
from .schema import check_figure
from .sweep import point_key

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
    warnings : dict[str, int]
        Each distinct warning (from the experiment's parameter check or raised while
        computing) and the number of points that raised it.
    curves_path : pathlib.Path or None
        ``curves.csv`` (the curve metrics, one row per point and index value), None when
        the experiment returns no curves.
    """

    directory: Path
    csv_path: Path
    manifest_path: Path
    header: list[str]
    rows: list[list[Any]]
    computed: int
    reused: int
    wall_seconds: float
    warnings: dict[str, int] = field(default_factory=dict)
    curves_path: Path | None = None


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
        ``experiment``, ``seed``, ``trials``, ``figure``, ``imports``, ``sweep.names``,
        ``points()``, ``point_key()``, ``to_dict()``, ``source``).
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
    RunLockedError
        Another run is writing the same folder.
    ResultsDirError
        The results folder cannot be created or written.
    RunInterrupted
        On Ctrl-C, after keeping finished points.
    ExperimentError
        The experiment rejected a point's parameters or broke the output contract.
    """
    start = time.perf_counter()
    plan = _Plan.of(scenario)
    store = ResultsStore(Path(results_dir) / scenario.name, fingerprint=plan.fingerprint)
    finished: dict[str, PointResult] = store.open(resume=resume, force=force)
    todo = [k for k in plan.params if k not in finished]
    try:
        runner, owned = _executor(executor, workers, len(todo))
        run = _Run(scenario, plan, store, finished, runner, start)
        run.write_manifest(command)
    except BaseException:
        store.close()  # releases the folder's lock
        raise
    bar = Progress(len(plan.params), initial=run.reused, description=scenario.name,
                   enabled=progress)
    results = None
    try:
        if todo:
            # Fail here, once, on an unresolvable experiment rather than in every worker.
            scenario.experiment_fn()
            results = runner.imap_unordered(compute_point, plan.tasks(todo))
            for res in results:
                if run.add(res):
                    bar.update()
    except KeyboardInterrupt:
        _stop(results, runner, owned)
        bar.close()
        run.finish("interrupted")
        raise RunInterrupted(len(finished), len(plan.params), store.directory) from None
    except BaseException as exc:
        _stop(results, runner, owned)
        bar.close()
        run.finish("failed", f"{type(exc).__name__}: {exc}".splitlines()[0])
        raise
    bar.close()
    if owned:
        runner.close()
    return run.complete()


@dataclass(frozen=True)
class _Plan:
    """What a run computes: checked points by key, the stopping rule, the fingerprint."""

    experiment: str
    seed: int
    imports: tuple[str, ...]
    rule: StoppingRule
    points: list[dict[str, Any]]
    params: dict[str, dict[str, Any]]  # key -> point, in sweep order
    fingerprint: str
    check_warnings: dict[str, int]
    curve_index: str | None = None

    @classmethod
    def of(cls, scenario: Any) -> _Plan:
        rule = StoppingRule.from_spec(scenario.trials)
        points = scenario.points()
        check_warnings = check_points(scenario.experiment_fn(), points,
                                      n_trials=rule.smallest_batch())
        keys = [scenario.point_key(p) for p in points]
        identity = {
            "experiment": scenario.experiment,
            "seed": scenario.seed,
            "trials": rule.as_dict(),
            "record_version": RECORD_VERSION,
        }
        curve_index = experiment_curve_index(scenario.experiment_fn())
        if curve_index is not None:
            # Records of the experiment before it returned curves lack them: not resumable.
            outputs = experiment_outputs(scenario.experiment_fn()) or {}
            identity["curves"] = {"index": curve_index,
                                  "metrics": sorted(m for m, k in outputs.items() if k == "curve")}
        return cls(
            experiment=scenario.experiment,
            seed=scenario.seed,
            imports=tuple(getattr(scenario, "imports", ())),
            rule=rule,
            points=points,
            params=dict(zip(keys, points, strict=True)),
            fingerprint=fingerprint(identity),
            check_warnings=check_warnings,
            curve_index=curve_index,
        )

    def tasks(self, keys: Sequence[str]) -> list[PointTask]:
        return [
            PointTask(self.experiment, self.params[k], k, self.seed, self.rule, self.imports)
            for k in keys
        ]


def _executor(executor: str | Executor, workers: int | None, n_todo: int
              ) -> tuple[Executor, bool]:
    """The executor to use and whether this run owns it (builds and closes it)."""
    if not isinstance(executor, str):
        return executor, False
    kind = "serial" if executor == "processes" and n_todo <= 1 else executor
    return make_executor(kind, workers=workers if kind == "processes" else None), True


class _Run:
    """The bookkeeping of one run: records, warnings, manifest, final table."""

    def __init__(self, scenario: Any, plan: _Plan, store: ResultsStore,
                 finished: dict[str, PointResult], runner: Executor, start: float) -> None:
        self.scenario, self.plan, self.store = scenario, plan, store
        self.finished, self.runner, self.start = finished, runner, start
        self.reused = sum(k in finished for k in plan.params)
        self.computed, self.compute_seconds = 0, 0.0
        self.manifest: dict[str, Any] = {}
        self.figure_checked = experiment_outputs(scenario.experiment_fn()) is not None

    def write_manifest(self, command: Sequence[str] | None) -> None:
        sc, plan = self.scenario, self.plan
        self.manifest = {
            "scenario": sc.to_dict(),
            "source": str(sc.source) if sc.source else None,
            "seed": sc.seed,
            "experiment": sc.experiment,
            "trials": plan.rule.as_dict(),
            "command": list(command) if command is not None else None,
            "executor": self.runner.describe(),
            "status": "running",
            "started": _utc_now(),
            "finished": None,
            "wall_seconds": None,
            "compute_seconds": None,
            "points": {"total": len(plan.params), "reused": self.reused, "computed": 0},
            "warnings": {},
            "versions": _versions(),
            "git": _git(sc.source),
        }
        self.store.write_manifest(self.manifest)

    def add(self, res: PointResult) -> bool:
        """Record a finished point; False for a duplicate delivery (never counted twice)."""
        if res.key in self.finished:
            return False
        if not self.figure_checked:
            _check_figure_metrics(self.scenario, res)
            self.figure_checked = True
        self.store.write_point(res, self.plan.params[res.key])
        self.finished[res.key] = res
        self.computed += 1
        self.compute_seconds += res.seconds
        return True

    def warnings(self) -> dict[str, int]:
        counts = dict(self.plan.check_warnings)
        for key in self.plan.params:
            res = self.finished.get(key)
            for w in res.warnings if res is not None else ():
                counts[w] = counts.get(w, 0) + 1
        return counts

    def finish(self, status: str, error: str | None = None) -> None:
        self.manifest.update(
            status=status,
            finished=_utc_now(),
            wall_seconds=round(time.perf_counter() - self.start, 3),
            compute_seconds=round(self.compute_seconds, 3),
            warnings=self.warnings(),
        )
        self.manifest["points"]["computed"] = self.computed
        if error:
            self.manifest["error"] = error
        self.store.write_manifest(self.manifest)
        self.store.close()

    def complete(self) -> RunResult:
        keys = list(self.plan.params)
        header, rows = tidy_table(self.plan.points, [self.finished[k] for k in keys],
                                  list(self.scenario.sweep.names))
        write_csv(self.store.csv_path, header, rows)
        curves_path = None
        results = [self.finished[k] for k in keys]
        if self.plan.curve_index is not None and any(r.curves() for r in results):
            c_header, c_rows = curve_table(self.plan.points, results,
                                           list(self.scenario.sweep.names), self.plan.curve_index)
            write_csv(self.store.curves_path, c_header, c_rows)
            curves_path = self.store.curves_path
            self.manifest["curves"] = {
                "csv": CURVES_NAME, "index": self.plan.curve_index,
                "metrics": [c[:-5] for c in c_header if c.endswith("_mean")]}
        else:
            self.store.curves_path.unlink(missing_ok=True)  # a stale one of an earlier run
        self.finish("complete")
        return RunResult(
            directory=self.store.directory,
            csv_path=self.store.csv_path,
            manifest_path=self.store.manifest_path,
            header=header,
            rows=rows,
            computed=self.computed,
            reused=self.reused,
            wall_seconds=time.perf_counter() - self.start,
            warnings=self.warnings(),
            curves_path=curves_path,
        )


def _check_figure_metrics(scenario: Any, res: PointResult) -> None:
    """For an experiment that declares no outputs: check the figure against the metrics of
    its first finished point, so a typo stops the run at once, not after it."""
    figure = getattr(scenario, "figure", None)
    if figure is None:
        return
    metrics = {m: "trial" if isinstance(v, Estimate) else "scalar"
               for m, v in res.metrics.items()}
    try:
        check_figure(figure.to_dict(), swept=list(scenario.sweep.names), metrics=metrics,
                     source=str(scenario.source or scenario.name),
                     owner=f"experiment '{scenario.experiment}'")
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None


def check_points(fn: Any, points: Sequence[dict[str, Any]], *,
                 n_trials: int | None = None) -> dict[str, int]:
    """Run the experiment's parameter check (``fn.check``) on every point, before any work.

    The check receives the experiment's full keyword arguments: the point's values over the
    experiment's own defaults (so defaults are declared once, on the experiment), and
    ``n_trials`` (the fewest trials one call will get) when it takes that keyword. When it
    returns the parameters a point really uses, two points with the same return would
    compute the same thing (they differ only in parameters the model ignores): refused.

    Returns
    -------
    dict of str to int
        Each distinct warning the check raised (``Category: text``) and how many points
        raised it.

    Raises
    ------
    ExperimentError
        Naming the first offending point and what is wrong with it (one line).
    """
    check = getattr(fn, "check", None)
    if check is None:
        return {}
    defaults = {
        name: prm.default
        for name, prm in inspect.signature(fn).parameters.items()
        if prm.default is not prm.empty and name not in RESERVED_PARAMETERS
    }
    if n_trials is not None and "n_trials" in inspect.signature(check).parameters:
        defaults["n_trials"] = n_trials
    seen: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for params in points:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                used = check(**{**defaults, **params})
            except (ValueError, TypeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ExperimentError(f"Point {_show(params)}: {first}") from None
        for text in {f"{w.category.__name__}: {w.message}": None for w in caught}:
            counts[text] = counts.get(text, 0) + 1
        if used is None:
            continue
        key = point_key(used)
        if key in seen:
            other = seen[key]
            differ = sorted(k for k in {*params, *other} if params.get(k) != other.get(k))
            raise ExperimentError(
                f"Points {_show(other)} and {_show(params)} would compute the same thing: they "
                f"differ only in {', '.join(repr(d) for d in differ)}, which the model ignores "
                "there. Remove the duplicates (split the sweep, or use zip mode)."
            )
        seen[key] = params
    return counts


def _show(params: Any) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def _stop(results: Any, runner: Executor, owned: bool) -> None:
    """Cancel outstanding work: close the result generator (cancels futures), free workers."""
    if results is not None:
        results.close()
    if owned and not isinstance(runner, SerialExecutor):
        runner.close()
