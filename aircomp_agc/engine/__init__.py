"""The scenario engine: scenario files, sweeps, seeds, the runner, executors and results.

It knows experiments only through :mod:`aircomp_agc.experiments` (a registry), prints
nothing and never imports TensorFlow at import time; :mod:`aircomp_agc.cli` is the
command line on top of it.
"""

from .executors import DaskExecutor, ProcessExecutor, SerialExecutor, make_executor
from .progress import RunInterrupted
from .results import ResultsStore, RunExistsError
from .run import RunResult, run_scenario
from .runner import ExperimentError, PointResult, StoppingRule, summarize, summarize_curve
from .scenario import (
    FigureSpec,
    Scenario,
    ScenarioError,
    ScenarioListing,
    TrialsSpec,
    apply_overrides,
    list_scenarios,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
)
from .seeds import point_rng, point_seed, point_spawn_key, stable_hash32, stable_hash64
from .sweep import Sweep, expand_axis, point_key

__all__ = [
    "FigureSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioListing",
    "Sweep",
    "TrialsSpec",
    "apply_overrides",
    "expand_axis",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "point_key",
    "point_rng",
    "point_seed",
    "point_spawn_key",
    "scenario_from_dict",
    "stable_hash32",
    "stable_hash64",
    # runner, executors, results store, run orchestration
    "DaskExecutor",
    "ExperimentError",
    "PointResult",
    "ProcessExecutor",
    "ResultsStore",
    "RunExistsError",
    "RunInterrupted",
    "RunResult",
    "SerialExecutor",
    "StoppingRule",
    "make_executor",
    "run_scenario",
    "summarize",
    "summarize_curve",
]
