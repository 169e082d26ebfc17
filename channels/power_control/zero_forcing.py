"""Zero forcing (channel inversion): every device arrives with exactly its target coefficient.

Reference: G. Zhu, K. Huang, "Broadband analog aggregation for low-latency federated edge
learning", IEEE Trans. Wireless Commun. 19(1), 2020 (channel inversion as the baseline of
AirComp); Cao, Zhu, Xu, Huang, TWC 2020, Section III (the ``k* = 0`` end of the optimal
policy).

Each device inverts its channel so that ``sqrt(p_k) |h_k| = |a_k| sqrt(eta)``: there is no
magnitude misalignment and the only error is noise. The peak constraint
``p_k = eta a_k^2 / |h_k|^2 <= P_k`` holds for all ``k`` iff ``eta <= q~_k = q_k / a_k^2``,
so the best feasible choice is

.. math::

    \\eta^* = \\min_{k: a_k \\ne 0} \\frac{P_k |h_k|^2}{a_k^2}, \\qquad
    \\mathrm{MSE}^* = \\frac{\\sigma^2}{\\eta^*} ,

i.e. the weakest (effective) device sets the MSE. Example: ``|h|^2 = {1, .6, .3, .1}``,
``P = 1``, ``sigma^2 = .01`` gives ``MSE* = 0.1``. Devices with ``a_k = 0`` are silent; if
every device is silent, ``eta = inf`` and ``MSE = 0``. A device with ``a_k != 0`` and
``|h_k|^2 = 0`` makes inversion infeasible: ``eta = 0``, nobody transmits and ``MSE = inf``.

Constraint enforced: **peak** power, ``p_k <= P_k`` in every realization.
"""

from __future__ import annotations

import numpy as np

from .base import PowerControl, prepare_inputs

__all__ = ["zero_forcing"]


def zero_forcing(gain2, *, power, noise_var, target=None) -> PowerControl:
    """Channel inversion with the largest feasible denoising factor.

    .. math::

        \\eta = \\min_{k: a_k \\ne 0} P_k |h_k|^2 / a_k^2, \\quad
        p_k = \\eta\\, a_k^2 / |h_k|^2, \\quad \\mathrm{MSE} = \\sigma^2 / \\eta .

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2`` (finite, ``>= 0``).
    power : float or array_like broadcastable to ``[..., K]``
        Peak transmit powers ``P_k > 0``.
    noise_var : float or array_like broadcastable to ``[...]``
        Noise variance ``sigma^2 > 0``.
    target : array_like broadcastable to ``[..., K]``, optional
        Target coefficients ``a_k`` (default ones; the sign goes into the transmit
        coefficient, zero means silent).

    Returns
    -------
    PowerControl
        ``constraint="peak"``.

    Examples
    --------
    >>> pc = zero_forcing([1.0, 0.6, 0.3, 0.1], power=1.0, noise_var=0.01)
    >>> round(float(pc.mse), 6)
    0.1
    """
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner="zero_forcing")
    active = a != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        qe = np.where(active, p * g / (a * a), np.inf)
        eta = np.min(qe, axis=-1)
        pw = np.where(active & (eta[..., None] > 0), eta[..., None] * a * a / g, 0.0)
        # Guard the one rounding case p_k = P_k (1 + eps) for the device that sets eta.
        pw = np.minimum(pw, p)
        mse = s2 / eta
    return PowerControl(
        power=pw,
        eta=eta,
        mse=mse,
        target=a,
        gain2=g,
        noise_var=s2,
        constraint="peak",
        policy="zero_forcing",
    )
