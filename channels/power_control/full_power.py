"""Full power: every device transmits at its budget, phase- and sign-aligned.

The simplest AirComp transmitter (no magnitude alignment, only phase alignment), used as a
baseline in Cao, Zhu, Xu, Huang, "Optimized power control for over-the-air computation in
fading channels", TWC 2020 (the ``k* = K`` end of the optimal policy).

With ``p_k = P_k`` fixed, only the receiver's denoising factor is chosen. In
``t = 1/sqrt(eta)`` the MSE
``sum_k (t sqrt(q_k) - |a_k|)^2 + sigma^2 t^2`` is a convex quadratic (``q_k = P_k |h_k|^2``),
minimized by

.. math::

    \\eta^* = \\left(\\frac{\\sigma^2 + \\sum_k q_k}{\\sum_k |a_k| \\sqrt{q_k}}\\right)^2,
    \\qquad
    \\mathrm{MSE}^* = \\sum_k a_k^2
        - \\frac{\\big(\\sum_k |a_k|\\sqrt{q_k}\\big)^2}{\\sigma^2 + \\sum_k q_k},

sums over the devices with ``a_k != 0`` (devices with ``a_k = 0`` are silent). If no device
can deliver anything (all ``q_k = 0``), ``eta = inf`` and ``MSE = sum_k a_k^2``.

Constraint enforced: **peak** power (trivially, ``p_k = P_k``).
"""

from __future__ import annotations

import numpy as np

from .base import PowerControl, prepare_inputs

__all__ = ["full_power"]


def full_power(gain2, *, power, noise_var, target=None) -> PowerControl:
    """Full transmit power with the MSE-optimal denoising factor for that power.

    .. math::

        p_k = P_k, \\quad
        \\eta = \\Big(\\frac{\\sigma^2 + \\sum_k q_k}{\\sum_k |a_k|\\sqrt{q_k}}\\Big)^2, \\quad
        \\mathrm{MSE} = \\sum_k a_k^2 - \\frac{(\\sum_k |a_k|\\sqrt{q_k})^2}
                                         {\\sigma^2 + \\sum_k q_k}.

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2`` (finite, ``>= 0``).
    power : float or array_like broadcastable to ``[..., K]``
        Peak transmit powers ``P_k > 0``.
    noise_var : float or array_like broadcastable to ``[...]``
        Noise variance ``sigma^2 > 0``.
    target : array_like broadcastable to ``[..., K]``, optional
        Target coefficients ``a_k`` (default ones; sign into the transmit coefficient,
        zero means silent).

    Returns
    -------
    PowerControl
        ``constraint="peak"``.
    """
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner="full_power")
    active = a != 0
    pw = np.where(active, p, 0.0)
    q = pw * g
    num = s2 + np.sum(q, axis=-1)
    den = np.sum(np.abs(a) * np.sqrt(q), axis=-1)
    with np.errstate(divide="ignore"):
        eta = (num / den) ** 2
    mse = np.maximum(np.sum(a * a, axis=-1) - den * den / num, 0.0)
    return PowerControl(
        power=pw,
        eta=eta,
        mse=mse,
        target=a,
        gain2=g,
        noise_var=s2,
        constraint="peak",
        policy="full_power",
    )
