"""The standard pipeline: decode, then power control for the decoder's targets.

Every paper on coded (or plain) over-the-air aggregation does this: least-squares (or
one-step) decoder weights ``a(T)`` for the responders, then a power-control policy of
:mod:`channels.power_control` that aims at the received coefficient ``a_i s_i`` of each
normalized message ``x_i = f_i / s_i``. The policies assume independent unit-variance
symbols; coded messages are neither (see :mod:`aircomp_agc.aggregation.policies` for
policies that know it).

If the policy silences a device that the decoder counted on (``a_i != 0``; truncated
inversion does this, so do scheduling policies), the weights would be those of devices
that did not transmit. The round is then decoded again without them and the policy rerun
on those rows only, until no further device is silenced (at most ``n`` passes, usually one
or two).
"""

from __future__ import annotations

import numpy as np

from .plan import Allocation, PlanContext

__all__ = ["standard_allocation"]


def standard_allocation(ctx: PlanContext, power_control, *, name: str = "") -> Allocation:
    """Decode, run ``power_control`` on targets ``a_i s_i``, re-decode if it silences.

    Parameters
    ----------
    ctx : PlanContext
    power_control : callable
        ``power_control(gain2, *, power, noise_var, target) -> PowerControl`` (a registered
        policy of :mod:`channels.power_control`, bound with its parameters).

    Returns
    -------
    Allocation
    """
    rows_total, n = ctx.candidates.shape
    mask = ctx.candidates.copy()
    weights = ctx.decode(mask)
    power = np.zeros((rows_total, n))
    eta = np.full(rows_total, np.inf)
    sign = np.zeros((rows_total, n))
    rows = np.arange(rows_total)
    n_decodes = 1
    for _ in range(n + 1):
        target = weights[rows] * ctx.s[rows]
        pc = power_control(ctx.gain2[rows], power=ctx.power[rows],
                           noise_var=ctx.noise_var[rows], target=target)
        p = np.asarray(pc.power, dtype=np.float64)
        power[rows], eta[rows] = p, np.asarray(pc.eta, dtype=np.float64)
        sign[rows] = np.where(p > 0, np.sign(target), 0.0)
        silenced = mask[rows] & (target != 0) & (p == 0)
        again = silenced.any(axis=1)
        if not again.any():
            break
        rows = rows[again]
        mask[rows] &= ~silenced[again]
        weights[rows] = ctx.decode(mask[rows])
        n_decodes += 1
    # Decoder weights of devices that do not transmit are zero by construction.
    weights = np.where(power > 0, weights, 0.0)
    return Allocation(weights, power, eta, sign, n_decodes, name)
