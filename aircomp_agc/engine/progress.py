"""Progress of a run on the terminal, and what to tell the user when it is interrupted.

The bar is a ``tqdm`` bar on standard error (standard output stays for the results table).
It appears only once a run has lasted :data:`BAR_DELAY` seconds, so quick runs stay quiet,
and shows points done, rate and the estimated time left. Interruption (Ctrl-C) is handled
by the run itself (:func:`aircomp_agc.engine.run.run_scenario` keeps finished points and
raises :class:`RunInterrupted`); :func:`resume_command` builds the command line that
continues it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["BAR_DELAY", "Progress", "RunInterrupted", "resume_command"]

#: Seconds before the bar is first drawn.
BAR_DELAY = 2.0


class RunInterrupted(Exception):
    """A run stopped by Ctrl-C after keeping its finished points.

    Attributes
    ----------
    done, total : int
        Points finished (this run and earlier ones) and points in the sweep.
    directory : pathlib.Path
        The results folder holding the finished points.
    """

    def __init__(self, done: int, total: int, directory: Path) -> None:
        self.done, self.total, self.directory = done, total, Path(directory)
        super().__init__(
            f"interrupted after {done} of {total} points; finished points are kept in "
            f"{self.directory / 'points'}"
        )


class Progress:
    """A points-done bar with ETA, or nothing when disabled.

    Parameters
    ----------
    total : int
        Points in the sweep.
    initial : int
        Points already done (reused by a resume).
    description : str
        Label in front of the bar (the scenario name).
    enabled : bool
        ``False`` (``--quiet``) draws nothing.
    stream : file, optional
        Default ``sys.stderr``.
    """

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        description: str = "",
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=description or None,
                unit="pt",
                file=stream or sys.stderr,
                delay=BAR_DELAY,
                dynamic_ncols=True,
                leave=False,
            )

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resume_command(argv: Sequence[str], program: str = "aircomp-agc") -> str:
    """The command that resumes a run started with ``argv`` (``--force`` swapped for ``--resume``).

    Examples
    --------
    >>> resume_command(["run", "scenarios/a b.toml", "--force", "--executor", "serial"])
    "aircomp-agc run 'scenarios/a b.toml' --executor serial --resume"
    """
    args = [a for a in argv if a not in ("--force", "--resume")]
    return shlex.join([program, *args, "--resume"])
