"""Test-local experiments for the runner, executor, resume and CLI tests.

Referenced as ``tests.runner_fixtures:name`` (so worker processes can import them).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from aircomp_agc._checks import check_real

__all__ = ["INTERRUPT_AT", "interrupting", "picky", "sleepy", "warning"]


def sleepy(*, rng: np.random.Generator, n_trials: int, x: float = 0.0, delay: float = 0.05):
    """``cheap`` with a wall-clock delay per call: ``v ~ N(x, 1)`` after sleeping ``delay`` s."""
    time.sleep(delay)
    return {"v": rng.normal(x, 1.0, size=n_trials), "x2": x * x}


def picky(*, rng: np.random.Generator, n_trials: int, x: float = 0.0):
    """Rejects ``x < 0`` the way built-in experiments validate (``ValueError``, one line)."""
    x = check_real("x", x, low=0.0, owner="picky")
    return {"v": rng.normal(x, 1.0, size=n_trials)}


def warning(*, rng: np.random.Generator, n_trials: int, x: float = 0.0):
    """``v ~ N(x, 1)``; warns (``UserWarning``) when ``x > 1``, as an odd-but-legal setting."""
    if x > 1:
        warnings.warn("x above 1 (odd but legal)", stacklevel=2)
    return {"v": rng.normal(x, 1.0, size=n_trials)}


#: Environment variable: the ``x`` at which :func:`interrupting` simulates Ctrl-C.
INTERRUPT_AT = "RUNNER_FIXTURES_INTERRUPT_AT"


def interrupting(*, rng: np.random.Generator, n_trials: int, x: float = 0.0):
    """``v ~ N(x, 1)``; simulates Ctrl-C (``KeyboardInterrupt``) at ``x == $INTERRUPT_AT``.

    The trigger lives outside the parameters so that the resumed run has the same point
    keys as the interrupted one.
    """
    if os.environ.get(INTERRUPT_AT) is not None and x == float(os.environ[INTERRUPT_AT]):
        raise KeyboardInterrupt
    return {"v": rng.normal(x, 1.0, size=n_trials)}
