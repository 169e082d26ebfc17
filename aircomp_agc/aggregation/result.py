"""Results of aggregation rounds: the error views every result shares, and expectations.

:class:`ErrorViews` gives any result with ``estimate``, ``exact`` and ``error_parts``
(``[batch, D]`` arrays) the same derived quantities: the error, its energy, normalized
error, the energies of the parts with their cross terms, and the error as scale bias plus
direction (cosine), since a uniformly shrunk gradient only changes the step size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import Estimate
from .error import split_error
from .plan import RoundPlan

__all__ = ["ErrorViews", "ExpectedError", "RoundResult"]


class ErrorViews:
    """Error views shared by round results that have ``estimate``, ``exact``, ``error_parts``."""

    estimate: np.ndarray
    exact: np.ndarray
    error_parts: dict[str, np.ndarray]

    @property
    def error(self) -> np.ndarray:
        """``estimate - exact``, [batch, D]."""
        return self.estimate - self.exact

    @property
    def squared_error(self) -> np.ndarray:
        """``||estimate - exact||^2``, [batch]."""
        return np.sum(self.error**2, axis=-1)

    @property
    def normalized_error(self) -> np.ndarray:
        """``||estimate - exact||^2 / ||exact||^2``, [batch]."""
        return self.squared_error / np.sum(self.exact**2, axis=-1)

    @property
    def part_energies(self) -> dict[str, np.ndarray]:
        """``||part||^2`` and cross terms ``2 <p, q>`` (keys ``"p*q"``), [batch] each."""
        return split_error(self.error_parts)

    @property
    def scale(self) -> np.ndarray:
        """``<estimate, exact> / ||exact||^2``, [batch]."""
        return np.sum(self.estimate * self.exact, -1) / np.sum(self.exact**2, -1)

    @property
    def cosine(self) -> np.ndarray:
        """Cosine between estimate and exact sum, [batch]."""
        num = np.sum(self.estimate * self.exact, -1)
        den = np.linalg.norm(self.estimate, axis=-1) * np.linalg.norm(self.exact, axis=-1)
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass(frozen=True)
class RoundResult(ErrorViews):
    """One batch of coded over-the-air rounds.

    Attributes
    ----------
    estimate : float [batch, D]
        The receiver's estimate of ``sum_j g_j``.
    exact : float [batch, D]
        ``sum_j g_j``.
    error_parts : dict of float [batch, D]
        ``"coding"`` ``(c - 1)^T G``, ``"misalignment"`` ``(beta - c)^T G`` (power limits,
        CSI and phase errors), ``"noise"``; they add up to ``estimate - exact``.
    plan : RoundPlan
        Responders, decoder weights, powers, ``eta`` (see :class:`RoundPlan`).
    """

    estimate: np.ndarray
    exact: np.ndarray
    error_parts: dict[str, np.ndarray]
    plan: RoundPlan

    # ----------------------------------------------------------------- plan views
    @property
    def responders(self) -> np.ndarray:
        """bool [batch, n] (``[batch, F, n]`` per subcarrier): devices that transmitted."""
        return self.plan.responders

    @property
    def decoder_weights(self) -> np.ndarray:
        """float [batch, n]: ``a_i``, zero off the responders."""
        return self.plan.decoder_weights

    @property
    def gain2(self) -> np.ndarray:
        return self.plan.gain2

    @property
    def power(self) -> np.ndarray:
        return self.plan.power

    @property
    def eta(self) -> np.ndarray:
        return self.plan.eta

    @property
    def channel_uses(self) -> np.ndarray:
        """Complex channel uses of each round, [batch]: one per real coordinate (``D``)."""
        return np.full(self.estimate.shape[0], float(self.estimate.shape[-1]))


@dataclass(frozen=True)
class ExpectedError:
    """``E||estimate - exact||^2`` of one round, averaged over channel and straggler draws.

    Attributes
    ----------
    total : Estimate
        Sum over the ``D`` coordinates (the mean of :attr:`RoundResult.squared_error`).
    parts : dict of Estimate
        ``coding``, ``misalignment``, ``noise`` and the cross term
        ``coding*misalignment``; their means add up to ``total.mean``.
    exact_energy : float
        ``||sum_j g_j||^2`` (given gradients) or its expectation under a model.
    dim : int
        ``D``.
    n_transmitting : float
        Mean number of devices that transmitted.
    """

    total: Estimate
    parts: dict[str, Estimate]
    exact_energy: float
    dim: int
    n_transmitting: float = float("nan")
    info: dict = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(self.total.mean)

    @property
    def ci_low(self) -> float:
        return float(self.total.ci_low)

    @property
    def ci_high(self) -> float:
        return float(self.total.ci_high)

    @property
    def normalized(self) -> float:
        """``E||err||^2 / ||sum_j g_j||^2``."""
        return self.mean / self.exact_energy

    @property
    def per_coordinate(self) -> float:
        """``E||err||^2 / D``."""
        return self.mean / self.dim

    def part_means(self) -> dict[str, float]:
        return {k: float(v.mean) for k, v in self.parts.items()}
