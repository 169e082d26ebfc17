"""Convergence bounds for training under aggregation error, and how they are measured.

For an ``L``-smooth, ``mu``-strongly convex ``F`` and gradient descent with step ``1/L``:

- **Source text's theorem** (epsilon-approximate aggregation):
  ``E F(w_T) - F* <= (1 - mu/L)^T (F(w_0) - F*) + epsilon sigma^2 / mu``. Here
  ``epsilon`` is the normalized aggregation error ``E||Ghat - G||^2 / E||G||^2`` measured
  over the run, and ``sigma^2`` a bound on the gradient energy along the run,
  ``max_t ||grad F(w_t)||^2`` (the text leaves both loose: with these definitions
  ``epsilon sigma^2`` bounds the per-round error energy).
- **Inexact gradient descent**: ``F(w_{t+1}) - F* <= (1 - mu/L)(F(w_t) - F*) +
  ||e_t||^2 / (2L)``, so with the measured per-round error energies ``||e_t||^2`` the bound
  is the recursion itself and its floor is ``E||e||^2 / (2 mu)``. With the definitions
  above, ``epsilon sigma^2 / mu`` is twice this floor when ``E||e||^2 = epsilon sigma^2``:
  the two agree up to the factor 2 from the step ``1/L``.
- **Wireless-FL noise floor** (a textbook companion chapter):
  ``lr (sigma_g^2 / n + MSE_agg / n^2) / (2 mu)`` with ``n`` devices.

The bounds are for strongly convex problems only; for non-convex models they are marked
not applicable (``None``) and :func:`applicable` says which assumption fails.
"""

from __future__ import annotations

import numpy as np

__all__ = ["applicable", "inexact_gd_bound", "inexact_gd_floor", "source_text_bound"]


def applicable(problem) -> str:
    """``""`` when the bounds apply, else the assumption that fails."""
    if not getattr(problem, "convex", False) or not problem.mu:
        return "F is not strongly convex (non-convex model): the bounds do not apply"
    return ""


def source_text_bound(f0_gap: float, L: float, mu: float, rounds: int, epsilon: float,
                      sigma2: float) -> np.ndarray:
    """``(1 - mu/L)^t (F(w_0) - F*) + epsilon sigma^2 / mu`` for ``t = 0..rounds``."""
    t = np.arange(rounds + 1)
    return (1.0 - mu / L) ** t * f0_gap + epsilon * sigma2 / mu


def inexact_gd_bound(f0_gap: np.ndarray, L: float, mu: float,
                     error_energy: np.ndarray) -> np.ndarray:
    """The recursion ``b_{t+1} = (1 - mu/L) b_t + ||e_t||^2 / (2L)`` from ``b_0 = F(w_0) - F*``.

    ``error_energy`` is ``[..., rounds]`` (measured ``||e_t||^2`` along the run, scaled to
    the step: ``e_t`` is the error of the aggregated gradient); returns ``[..., rounds + 1]``.
    """
    e = np.asarray(error_energy, dtype=np.float64)
    q = 1.0 - mu / L
    out = np.empty((*e.shape[:-1], e.shape[-1] + 1))
    out[..., 0] = f0_gap
    for t in range(e.shape[-1]):  # a recursion over rounds, vectorized over repetitions
        out[..., t + 1] = q * out[..., t] + e[..., t] / (2.0 * L)
    return out


def inexact_gd_floor(mu: float, mean_error_energy: float) -> float:
    """``E||e||^2 / (2 mu)``: the level the inexact-gradient bound settles at."""
    return float(mean_error_energy) / (2.0 * mu)
