"""A test-local experiment with curve outputs, referenced as ``tests.curve_fixtures:walk``.

Closed forms, so that engine tests check numbers: per trial, ``walk[t] = sum_{i<=t} z_i``
with ``z_i ~ N(mu, 1)`` (so ``E walk[t] = (t + 1) mu``), ``level[t] = mu * round_t``
(deterministic, the same for every trial) and the per-trial metric ``final = walk[-1]``.
The index ``round`` is ``0, step, 2 step, ...`` (``length`` values).
"""

from __future__ import annotations

import numpy as np

__all__ = ["walk", "no_index"]


def walk(*, rng: np.random.Generator, n_trials: int, mu: float = 0.0, length: int = 5,
         step: int = 1):
    rounds = step * np.arange(length)
    w = np.cumsum(rng.normal(mu, 1.0, size=(n_trials, length)), axis=1)
    return {"walk": w, "level": np.broadcast_to(mu * rounds, (n_trials, length)),
            "final": w[:, -1].copy(), "round": rounds}


walk.outputs = {"walk": "curve", "level": "curve", "final": "trial"}
walk.curve_index = "round"


def no_index(*, rng: np.random.Generator, n_trials: int, length: int = 3):
    """Curves without index values: the engine numbers them 0..length-1."""
    return {"c": rng.normal(size=(n_trials, length))}


no_index.outputs = {"c": "curve"}
no_index.curve_index = "step"
