"""Test-local experiments for the runner, executor, resume and CLI tests.

Referenced as ``tests.runner_fixtures:name`` (so worker processes can import them).
"""

from __future__ import annotations

import time

import numpy as np

from aircomp_agc._checks import check_real

__all__ = ["interrupting", "picky", "sleepy"]


def sleepy(*, rng: np.random.Generator, n_trials: int, x: float = 0.0, delay: float = 0.05):
    """``cheap`` with a wall-clock delay per call: ``v ~ N(x, 1)`` after sleeping ``delay`` s."""
    time.sleep(delay)
    return {"v": rng.normal(x, 1.0, size=n_trials), "x2": x * x}


def picky(*, rng: np.random.Generator, n_trials: int, x: float = 0.0):
    """Rejects ``x < 0`` the way built-in experiments validate (``ValueError``, one line)."""
    x = check_real("x", x, low=0.0, owner="picky")
    return {"v": rng.normal(x, 1.0, size=n_trials)}


def interrupting(*, rng: np.random.Generator, n_trials: int, x: float = 0.0, stop_at: float = 3.0):
    """Simulates Ctrl-C: raises ``KeyboardInterrupt`` at ``x == stop_at``, else ``N(x, 1)``."""
    if x == stop_at:
        raise KeyboardInterrupt
    return {"v": rng.normal(x, 1.0, size=n_trials)}
