"""Test-local experiments for the scenario engine, referenced as ``tests.engine_fixtures:name``.

Each follows the experiment contract
``fn(*, rng: numpy.random.Generator, n_trials: int, **params) -> dict[str, array_like]``:
a metric is either per-trial samples (1-D, length ``n_trials``) or a scalar.
They have closed-form answers so that engine tests can check numbers, not just shapes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "busy",
    "cheap",
    "deterministic",
    "failing",
    "ignoring",
    "modelled",
    "open_ended",
    "typed",
]


def cheap(*, rng: np.random.Generator, n_trials: int, mu: float = 0.0, sigma: float = 1.0):
    """Gaussian samples: metric ``x ~ N(mu, sigma^2)``, so ``E[x] = mu``."""
    return {"x": rng.normal(mu, sigma, size=n_trials)}


def busy(*, rng: np.random.Generator, n_trials: int, size: int = 200):
    """CPU-bound: the largest eigenvalue of ``W / sqrt(size)`` for a GOE matrix ``W`` per trial.

    ``W = (A + A^T) / sqrt(2)`` with i.i.d. standard normal ``A`` (``size x size``); the
    top eigenvalue of ``W / sqrt(size)`` tends to 2 (Wigner semicircle edge) as ``size``
    grows. One ``O(size^3)`` eigensolve per trial, batched over trials.

    Returns
    -------
    dict
        ``lam_max`` : [n_trials], float64.
    """
    lam = np.empty(n_trials)
    # Chunks bound memory at n_trials * size^2 floats while keeping the eigensolve batched.
    chunk = max(1, 4_000_000 // (size * size))
    for start in range(0, n_trials, chunk):
        m = min(chunk, n_trials - start)
        a = rng.standard_normal((m, size, size))
        w = (a + np.swapaxes(a, 1, 2)) / np.sqrt(2.0 * size)
        lam[start : start + m] = np.linalg.eigvalsh(w)[:, -1]
    return {"lam_max": lam}


def deterministic(*, rng: np.random.Generator, n_trials: int, n: int = 10, scale: float = 1.0):
    """Scalar metrics only: ``total = scale * n (n + 1) / 2`` (no randomness, no CI)."""
    return {"total": scale * n * (n + 1) / 2, "n_trials_seen": n_trials}


def failing(*, rng: np.random.Generator, n_trials: int, fail_at: float = 0.5, x: float = 0.0):
    """Raise ``RuntimeError`` when ``x >= fail_at``, else return ``cheap``-like samples."""
    if x >= fail_at:
        raise RuntimeError(f"failing experiment: x={x} >= fail_at={fail_at}")
    return {"x": rng.normal(x, 1.0, size=n_trials)}


def typed(
    *,
    rng: np.random.Generator,
    n_trials: int,
    n: int,
    code: str = "bgc",
    snr_db: float = 10.0,
    flag: bool = False,
    weights: list[float] | None = None,
    mode: Literal["fast", "exact"] = "fast",
    label=None,
):
    """Parameters of every kind the scenario validator distinguishes (``n`` is required).

    Metric ``value = n + snr_db + flag + sum(weights)`` plus ``N(0, 1)`` noise, so the mean
    is known in closed form.
    """
    base = n + snr_db + float(flag) + float(np.sum(weights or []))
    return {"value": base + rng.standard_normal(n_trials), "code_len": float(len(code))}


typed.outputs = {"value": "trial", "code_len": "scalar"}  # checked against [figure]


def modelled(*, rng: np.random.Generator, n_trials: int, channel: str | dict = "plain",
             gain: float = 1.0):
    """A model given as a name or a table: ``y ~ N(gain * k, 1)``, ``k = channel["k"]`` (0
    for a name), so a sweep over ``channel.k`` has the closed-form mean ``gain * k``."""
    k = channel.get("k", 0.0) if isinstance(channel, dict) else 0.0
    return {"y": gain * k + rng.standard_normal(n_trials)}


def _check_ignoring(*, mode: str, level: int):
    """``level`` matters in mode ``"levels"`` only; otherwise the point ignores it."""
    if mode not in ("levels", "flat"):
        raise ValueError(f"The 'mode' parameter must be 'levels' or 'flat'; got {mode!r}.")
    return {"mode": mode, "level": level} if mode == "levels" else {"mode": mode}


def ignoring(*, rng: np.random.Generator, n_trials: int, mode: str = "levels", level: int = 1):
    """``z ~ N(level, 1)`` in mode ``levels``, ``N(0, 1)`` in mode ``flat``."""
    return {"z": (level if mode == "levels" else 0) + rng.standard_normal(n_trials)}


ignoring.check = _check_ignoring


def open_ended(*, rng: np.random.Generator, n_trials: int, **params):
    """Accepts any parameter (``**params``): metric ``n_params`` = how many it received."""
    return {"n_params": len(params), "u": rng.uniform(size=n_trials)}
