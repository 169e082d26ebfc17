"""The figure set: every scenario file with a ``[figure]``, run and drawn in one go.

:func:`figure_set` reads and validates the scenarios of a folder (``scenarios/``) before
anything runs -- a typo in the last file costs a second, not the runs before it;
:func:`reproduce` runs each with :func:`~aircomp_agc.engine.run_scenario` and draws its
figure as PDF and PNG (:func:`~aircomp_agc.plotting.plot_results`). ``aircomp-agc
reproduce`` is the command line on top.

``quick=True`` gives each scenario its ``[quick]`` table (trial counts and sizes for a
fast look, see :func:`~aircomp_agc.engine.schema.merge_quick`) -- a tenth of the trials
when it has none -- and keeps its results and figures apart (``results/quick``,
``figures/quick``) so that a fast look never overwrites the full set.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from .engine.schema import merge_quick, without_labels

__all__ = ["FigureOutcome", "figure_set", "load_quick", "reproduce", "results_folder"]

#: Subfolder of the results and figures folders that a quick run writes to.
QUICK_DIR = "quick"


def load_quick(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """The scenario of ``path`` with its ``[quick]`` table applied (or a tenth of its trials).

    Raises
    ------
    ScenarioError
        The file, or its quick variant, is invalid (one line).
    """
    full = load_scenario(path)  # every problem of the file itself, with its usual message
    tree = tomllib.loads(Path(path).read_text("utf-8"))
    quick = scenario_from_dict(without_labels(merge_quick(tree)),
                               source=f"{path} (with [quick])", overrides=overrides,
                               path=Path(path))
    if quick.figure is None or full.figure is None or any(
            o.startswith("figure.labels") for o in overrides):
        return quick
    # The labels were checked against the full axes; a quick sweep may have fewer values.
    return dataclasses.replace(quick, figure=dataclasses.replace(
        quick.figure, labels=dict(full.figure.labels)))


def figure_set(directory: str | Path = "scenarios", *, only: Sequence[str] = (),
               quick: bool = False) -> list[Scenario]:
    """The validated scenarios of ``directory`` that have a ``[figure]``, by file name.

    Parameters
    ----------
    directory : path
        Folder of scenario files (``*.toml``).
    only : sequence of str
        Keep these (scenario names or file stems); every one must exist.
    quick : bool
        Apply each file's ``[quick]`` table (:func:`load_quick`).

    Raises
    ------
    ScenarioError
        No such folder, an invalid file, or a name in ``only`` that is not in the set
        (the closest names suggested).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no such scenario directory.")
    scenarios = [load_quick(p) if quick else load_scenario(p)
                 for p in sorted(folder.glob("*.toml"))]
    scenarios = [s for s in scenarios if s.figure is not None]
    if not only:
        return scenarios
    names = {s.name: s for s in scenarios}
    names.update({s.source.stem: s for s in scenarios if s.source is not None})
    picked: dict[str, Scenario] = {}
    for name in only:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ScenarioError(
                f"--only {name}: no scenario with a [figure] in {folder} is named so "
                f"(the set: {', '.join(s.name for s in scenarios)}).{hint}"
            )
        picked[names[name].name] = names[name]
    return [s for s in scenarios if s.name in picked]


def results_folder(base: str | Path, quick: bool) -> Path:
    """Where the runs (or the figures) of the set go: ``base``, or ``base/quick``."""
    return Path(base) / QUICK_DIR if quick else Path(base)


@dataclass(frozen=True)
class FigureOutcome:
    """One scenario of :func:`reproduce`: its run and the files of its figure."""

    name: str
    points: int
    computed: int
    reused: int
    seconds: float
    figures: tuple[Path, ...]
    warnings: dict[str, int]


def reproduce(
    scenarios: Sequence[Scenario],
    *,
    results_dir: str | Path = "results",
    figures_dir: str | Path = "figures",
    executor: Any = "processes",
    workers: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
    command: Sequence[str] | None = None,
    on_done: Callable[[FigureOutcome], None] | None = None,
) -> list[FigureOutcome]:
    """Run each scenario and draw its figure to ``figures_dir/<name>.pdf`` and ``.png``.

    Before any run, refuses (``RunExistsError``, one line naming every folder) when a
    scenario's results folder holds a run and neither ``resume`` nor ``force`` is set.
    Other parameters as :func:`~aircomp_agc.engine.run_scenario`; ``on_done`` is called
    after each figure (the command line prints there).
    """
    from .engine.results import RunExistsError
    from .engine.run import run_scenario
    from .plotting import figure_paths, plot_results

    if not (resume or force):
        taken = [str(Path(results_dir) / s.name) for s in scenarios
                 if (Path(results_dir) / s.name / "manifest.json").exists()]
        if taken:
            raise RunExistsError(
                f"{', '.join(taken)} already hold{'s' if len(taken) == 1 else ''} a run; pass "
                "--resume to reuse its points or --force to start over."
            )
    outcomes = []
    for scenario in scenarios:
        start = time.perf_counter()
        result = run_scenario(scenario, results_dir=results_dir, executor=executor,
                              workers=workers, resume=resume, force=force, progress=progress,
                              command=command)
        stem = Path(figures_dir) / scenario.name
        plot_results(result.directory, out=stem)
        outcome = FigureOutcome(
            name=scenario.name, points=len(result.rows), computed=result.computed,
            reused=result.reused, seconds=time.perf_counter() - start,
            figures=tuple(figure_paths(stem)), warnings=result.warnings,
        )
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
