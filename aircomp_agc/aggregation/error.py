"""The error of a coded over-the-air round: exact parts, cross terms, expectations.

With ``c = B^T a`` (what the decoder asked for) and ``beta = B^T (r / s)`` (what the
receiver got: ``r`` received coefficients, ``s`` message RMS), the estimate of
``sum_j g_j`` is ``beta^T G + n``, and its error splits exactly into

.. math::

    \\hat G - G \\;=\\; \\underbrace{(c - 1)^T G}_{\\text{coding}}
    \\;+\\; \\underbrace{(\\beta - c)^T G}_{\\text{misalignment}}
    \\;+\\; \\underbrace{n}_{\\text{noise}} .

The misalignment part holds everything the channel does to the signal (power limits,
truncation side effects, CSI and phase errors). Its energy is
``(beta - c)^T S (beta - c) = delta^T X X^T delta`` with ``S = G G^T``: correlated coded
messages add coherently, which the independent-symbol formula ``D sum_i delta_i^2`` of the
channel layer ignores. Coding and misalignment are not orthogonal for real gradients, so
the cross term ``2 (c - 1)^T S (beta - c)`` is reported too. The noise is independent of
the rest: its cross terms vanish in expectation.

Given ``S`` (or a :class:`~aircomp_agc.aggregation.messages.GradientModel`), the expected
error over the noise is a closed form in ``c``, ``beta`` and the noise level, so
Monte-Carlo averages over channel and straggler draws need no ``D``-dimensional work.
"""

from __future__ import annotations

import numpy as np

from .messages import GradientModel

__all__ = [
    "PART_NAMES",
    "conditional_error",
    "quadratic_form",
    "split_error",
]

#: The parts of the error, in the order they are reported.
PART_NAMES = ("coding", "misalignment", "noise")


def quadratic_form(d: np.ndarray, second_moments) -> np.ndarray:
    """``d^T S d`` for ``d`` [..., k] and ``S`` a ``[k, k]``/``[..., k, k]`` array or model."""
    if isinstance(second_moments, GradientModel):
        return second_moments.quadratic(d)
    S = np.asarray(second_moments, dtype=np.float64)
    return np.einsum("...k,...kl,...l->...", d, S, d)


def _bilinear(d: np.ndarray, e: np.ndarray, second_moments) -> np.ndarray:
    if isinstance(second_moments, GradientModel):
        m = second_moments
        return m.mean_energy * d.sum(-1) * e.sum(-1) + m.heterogeneity * np.sum(d * e, -1)
    S = np.asarray(second_moments, dtype=np.float64)
    return np.einsum("...k,...kl,...l->...", d, S, e)


def conditional_error(coding_coefficients: np.ndarray, coefficients: np.ndarray,
                      noise_energy: np.ndarray, second_moments) -> dict[str, np.ndarray]:
    """Expected squared error over the receiver noise, given the plan, by part.

    Parameters
    ----------
    coding_coefficients : float [..., k]
        ``c = B^T a``.
    coefficients : float [..., k]
        ``beta = B^T (r / s)``.
    noise_energy : float [...]
        ``E||n||^2`` summed over the ``D`` coordinates.
    second_moments : float [k, k] or [..., k, k], or GradientModel
        ``S = G G^T`` (given gradients) or ``E[G G^T]`` (a model).

    Returns
    -------
    dict of float arrays [...]
        ``"coding"``, ``"misalignment"``, ``"noise"``, ``"coding*misalignment"`` (the cross
        term ``2 (c-1)^T S (beta-c)``) and ``"total"`` (their sum,
        ``(beta - 1)^T S (beta - 1) + E||n||^2``).
    """
    dc = coding_coefficients - 1.0
    dm = coefficients - coding_coefficients
    parts = {
        "coding": quadratic_form(dc, second_moments),
        "misalignment": quadratic_form(dm, second_moments),
        "noise": np.asarray(noise_energy, dtype=np.float64),
        "coding*misalignment": 2.0 * _bilinear(dc, dm, second_moments),
    }
    parts["total"] = (parts["coding"] + parts["misalignment"] + parts["noise"]
                      + parts["coding*misalignment"])
    return parts


def split_error(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Squared norms and pairwise cross terms of realized error vectors.

    Parameters
    ----------
    parts : dict of float arrays [..., D]
        Error vectors that add up to ``estimate - exact``.

    Returns
    -------
    dict of float arrays [...]
        ``||p||^2`` for each part ``p`` and ``2 <p, q>`` under the key ``"p*q"``.
    """
    names = list(parts)
    out = {name: np.sum(parts[name] ** 2, axis=-1) for name in names}
    for i, p in enumerate(names):
        for q in names[i + 1:]:
            out[f"{p}*{q}"] = 2.0 * np.sum(parts[p] * parts[q], axis=-1)
    return out
