"""Threshold scheduling: drop the weakest devices, power-control the rest.

Dropping the devices with the worst channels lowers the noise amplification (zero forcing's
MSE is set by the weakest device) at the price of missing their contributions; sweeping the
rule traces a Pareto frontier of MSE against the number of scheduled devices. See Zhu, Wang,
Huang, TWC 2020 (the truncation trade-off) and Yang, Jiang, Shi, Ding, "Federated learning
via over-the-air computation", TWC 2020 (MSE vs number of selected devices).

Rules (exactly one):

* ``keep=m``: keep the ``m`` devices with the largest effective quality
  ``q~_k = P_k |h_k|^2 / a_k^2`` (ties broken by device index);
* ``gain_threshold=g``: keep devices with ``|h_k|^2 >= g``;
* ``quality_threshold=q``: keep devices with ``q~_k >= q``.

Devices with ``a_k = 0`` are never scheduled and cost nothing. The scheduled devices use the
``inner`` policy (zero forcing or optimal power) with their own targets; dropped devices are
misses, so

.. math::

    \\mathrm{MSE} = \\sum_{k \\notin S} a_k^2 + \\mathrm{MSE}_{\\mathrm{inner}}(S).

Constraint enforced: **peak** power (both inner policies are peak-power policies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice, check_int, check_real
from .base import PowerControl, prepare_inputs
from .optimal_power import optimal_power
from .zero_forcing import zero_forcing

__all__ = [
    "SchedulingFrontier",
    "check_scheduling_rule",
    "scheduling_frontier",
    "threshold_scheduling",
]

_INNER = {"zero_forcing": zero_forcing, "optimal_power": optimal_power}


def _keep_best(qe: np.ndarray, active: np.ndarray, m: int) -> np.ndarray:
    """Boolean mask of the ``m`` active devices with the largest ``qe`` (vectorized)."""
    k = qe.shape[-1]
    key = np.where(active, qe, -np.inf)
    # Stable descending order: ties keep the lower device index first.
    order = np.argsort(-key, axis=-1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(k), order.shape), axis=-1)
    return (rank < m) & active


def check_scheduling_rule(
    *,
    keep: int | None = None,
    gain_threshold: float | None = None,
    quality_threshold: float | None = None,
    inner: str = "zero_forcing",
    n_devices: int | None = None,
) -> tuple[str, float]:
    """Validate the parameters of :func:`threshold_scheduling` before any computation.

    Returns
    -------
    (rule, value)
        The one rule given (``"keep"``, ``"gain_threshold"`` or ``"quality_threshold"``)
        and its validated value.

    Raises
    ------
    ValueError
        Unless exactly one rule is given with a value in range (``0 <= keep <= n_devices``
        when ``n_devices`` is known, thresholds ``>= 0``) and ``inner`` is a known policy.
    """
    owner = "threshold_scheduling"
    check_choice("inner", inner, sorted(_INNER), owner=owner)
    given = [(n, v) for n, v in (("keep", keep), ("gain_threshold", gain_threshold),
                                 ("quality_threshold", quality_threshold)) if v is not None]
    if len(given) != 1:
        raise ValueError(
            f"{owner} needs exactly one of 'keep', 'gain_threshold', 'quality_threshold'; "
            f"got {[n for n, _ in given] or 'none'}."
        )
    rule, value = given[0]
    if rule == "keep":
        return rule, check_int("keep", value, low=0, high=n_devices, owner=owner)
    return rule, check_real(rule, value, low=0.0, owner=owner)


def threshold_scheduling(
    gain2,
    *,
    power,
    noise_var,
    target=None,
    keep: int | None = None,
    gain_threshold: float | None = None,
    quality_threshold: float | None = None,
    inner: str = "zero_forcing",
) -> PowerControl:
    """Schedule the strongest devices, power-control them with ``inner``, count the rest as misses.

    .. math::

        \\mathrm{MSE} = \\sum_{k \\notin S} a_k^2 + \\mathrm{MSE}_{\\mathrm{inner}}(S)

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2`` (finite, ``>= 0``).
    power : float or array_like broadcastable to ``[..., K]``
        Peak transmit powers ``P_k > 0``.
    noise_var : float or array_like broadcastable to ``[...]``
        Noise variance ``sigma^2 > 0``.
    target : array_like broadcastable to ``[..., K]``, optional
        Target coefficients ``a_k`` (default ones).
    keep : int, optional
        Keep the ``m`` best devices by effective quality ``q~_k = P_k |h_k|^2 / a_k^2``
        (``0 <= m <= K``).
    gain_threshold : float, optional
        Keep devices with ``|h_k|^2 >= gain_threshold`` (``>= 0``).
    quality_threshold : float, optional
        Keep devices with ``q~_k >= quality_threshold`` (``>= 0``).
    inner : {"zero_forcing", "optimal_power"}
        Policy applied to the scheduled devices.

    Returns
    -------
    PowerControl
        ``constraint="peak"``, ``policy="threshold_scheduling"``; ``scheduled`` is the kept
        set (minus devices the inner policy leaves silent).
    """
    owner = "threshold_scheduling"
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner=owner)
    rule, value = check_scheduling_rule(keep=keep, gain_threshold=gain_threshold,
                                        quality_threshold=quality_threshold, inner=inner,
                                        n_devices=g.shape[-1])
    active = a != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        qe = np.where(active, p * g / (a * a), 0.0)
    if rule == "keep":
        kept = _keep_best(qe, active, value)
    elif rule == "gain_threshold":
        kept = (g >= value) & active
    else:
        kept = (qe >= value) & active
    inner_pc = _INNER[inner](g, power=p, noise_var=s2, target=np.where(kept, a, 0.0))
    miss = np.sum(np.where(kept, 0.0, a * a), axis=-1)
    return PowerControl(
        power=inner_pc.power,
        eta=inner_pc.eta,
        mse=inner_pc.mse + miss,
        target=a,
        gain2=g,
        noise_var=s2,
        constraint="peak",
        policy="threshold_scheduling",
    )


@dataclass(frozen=True)
class SchedulingFrontier:
    """MSE against participation for a sweep of a scheduling rule.

    Attributes
    ----------
    parameter : [S], float
        Swept values (``keep = m`` or the gain thresholds), in sweep order.
    n_scheduled : [S], float
        Mean number of scheduled devices over the batch.
    mse : [S], float
        Mean sum-estimation MSE over the batch.
    mse_per_draw : [..., S], float
        MSE of every realization.
    pareto : [S], bool
        Points on the Pareto frontier: no other point has at least as many scheduled devices
        and a lower-or-equal MSE with one of the two strictly better.
    """

    parameter: np.ndarray
    n_scheduled: np.ndarray
    mse: np.ndarray
    mse_per_draw: np.ndarray
    pareto: np.ndarray

    @property
    def best(self) -> int:
        """Index of the sweep point with the lowest mean MSE."""
        return int(np.argmin(self.mse))


def _pareto(n: np.ndarray, mse: np.ndarray) -> np.ndarray:
    """Non-dominated points: maximize ``n``, minimize ``mse`` (O(S^2), S is small)."""
    ge = n[None, :] >= n[:, None]
    le = mse[None, :] <= mse[:, None]
    strict = (n[None, :] > n[:, None]) | (mse[None, :] < mse[:, None])
    return ~np.any(ge & le & strict, axis=1)


def scheduling_frontier(
    gain2,
    *,
    power,
    noise_var,
    target=None,
    gain_thresholds=None,
    inner: str = "zero_forcing",
) -> SchedulingFrontier:
    """Sweep threshold scheduling and return the MSE-participation Pareto frontier.

    Without ``gain_thresholds`` the sweep is ``keep = 0, 1, ..., K`` (in one realization
    every threshold on the effective quality is one of these); with it, each threshold is
    applied to ``|h_k|^2``. The sweep is vectorized: the sweep axis is inserted before the
    device axis and the inner policy runs once on ``[..., S, K]``.

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains.
    power, noise_var, target
        As for :func:`threshold_scheduling`.
    gain_thresholds : array_like [S], float, optional
        Gain thresholds ``>= 0`` to sweep.
    inner : {"zero_forcing", "optimal_power"}

    Returns
    -------
    SchedulingFrontier
        Means over all leading (batch) axes, per-draw MSEs and the Pareto mask.
    """
    owner = "scheduling_frontier"
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner=owner)
    check_choice("inner", inner, sorted(_INNER), owner=owner)
    k = g.shape[-1]
    active = a != 0
    gs, ps, as_ = g[..., None, :], p[..., None, :], a[..., None, :]
    if gain_thresholds is None:
        param = np.arange(k + 1, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            qe = np.where(active, p * g / (a * a), 0.0)
        key = np.where(active, qe, -np.inf)
        order = np.argsort(-key, axis=-1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(k), order.shape), axis=-1)
        kept = (rank[..., None, :] < np.arange(k + 1)[:, None]) & active[..., None, :]
    else:
        th = np.asarray(gain_thresholds, dtype=float)
        if th.ndim != 1 or th.size == 0 or not np.all(np.isfinite(th)) or np.any(th < 0):
            raise ValueError(
                f"The 'gain_thresholds' parameter of {owner} must be a non-empty 1-D array of "
                f"finite values in [0, inf); got {gain_thresholds!r}."
            )
        param = th
        kept = (gs >= th[:, None]) & active[..., None, :]
    a_kept = np.where(kept, as_, 0.0)
    inner_pc = _INNER[inner](
        np.broadcast_to(gs, kept.shape), power=np.broadcast_to(ps, kept.shape),
        noise_var=s2[..., None], target=a_kept,
    )
    mse = inner_pc.mse + np.sum(np.where(kept, 0.0, as_ * as_), axis=-1)
    batch_axes = tuple(range(mse.ndim - 1))
    n_mean = np.mean(np.sum(inner_pc.scheduled, axis=-1), axis=batch_axes)
    mse_mean = np.mean(mse, axis=batch_axes)
    return SchedulingFrontier(
        parameter=param,
        n_scheduled=n_mean,
        mse=mse_mean,
        mse_per_draw=mse,
        pareto=_pareto(n_mean, mse_mean),
    )
