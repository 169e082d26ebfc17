"""MSE-optimal power control for static channels under peak power (Cao, Zhu, Xu, Huang).

Reference: X. Cao, G. Zhu, J. Xu, K. Huang, "Optimized power control for over-the-air
computation in fading channels", IEEE Trans. Wireless Commun. 19(11), 2020, Section III
(static channels, Theorem 1), generalized here to weighted, signed targets ``a_k``.

Derivation (weighted). With ``q_k = P_k |h_k|^2`` and ``q~_k = q_k / a_k^2``, for a fixed
``eta`` the best power of device ``k`` is ``p_k = min(P_k, eta a_k^2 / |h_k|^2)``, which
leaves the per-eta objective

.. math::

    \\mathrm{MSE}(\\eta) = \\sum_k a_k^2 \\max\\!\\Big(0, 1 - \\sqrt{\\tilde q_k / \\eta}\\Big)^2
                        + \\sigma^2 / \\eta .

In ``t = 1/sqrt(eta)`` every term is a convex, continuously differentiable function and
``sigma^2 t^2`` is strictly convex, so the minimizer is unique. Sort ``q~`` ascending and let
device ``(i)`` be the ``i``-th weakest. On the piece ``q~_(k) <= eta <= q~_(k+1)`` the devices
``(1)..(k)`` transmit at full power and the others invert their channel; setting the
derivative to zero there gives

.. math::

    \\tilde\\eta(k) = \\left(\\frac{\\sigma^2 + \\sum_{i\\le k} q_{(i)}}
                              {\\sum_{i\\le k} |a_{(i)}| \\sqrt{q_{(i)}}}\\right)^2 ,

and ``eta* = eta~(k*)`` for the ``k*`` with ``q~_(k*) <= eta~(k*) <= q~_(k*+1)``
(``q~_(K+1) = inf``). For ``a_k = 1`` this is the paper's Theorem 1. Boundary cases:

* ``k = 0`` (pure channel inversion, ``eta = q~_(1)``) is never optimal when
  ``sigma^2 > 0``: the derivative of the objective in ``t`` is ``2 sigma^2 t > 0`` there, so
  at least the weakest device always transmits at full power and ``eta* > q~_(1)``.
* ``k* = K`` (everyone at full power) happens when ``eta~(K) >= q~_(K)``.

Selection of ``k*``. Instead of scanning for the bracketing condition (fragile under ties and
rounding), every piece's objective is minimized in closed form with ``eta`` clipped to its
interval, and the best piece is taken. By convexity this is the global minimum, and the
chosen piece's unclipped ``eta~(k*)`` satisfies the bracketing condition; the tests check
both against brute-force minimization. Note: the rule "largest ``k`` with
``eta~(k) < q~_(k)``", used by a public reproduction, is wrong (the tests show a counter-example).

Constraint enforced: **peak** power, ``p_k <= P_k`` in every realization.
"""

from __future__ import annotations

import numpy as np

from .base import PowerControl, prepare_inputs

__all__ = ["mse_at_eta", "optimal_power"]


def _effective_quality(g: np.ndarray, p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``q~_k = P_k g_k / a_k^2`` with ``inf`` for silent devices (``a_k = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        qe = (p * g) / (a * a)
    return np.where(a == 0, np.inf, qe)


def mse_at_eta(eta, gain2, *, power, noise_var, target=None) -> np.ndarray:
    """MSE of the best powers for a given denoising factor ``eta`` (the objective in ``eta``).

    .. math::

        \\mathrm{MSE}(\\eta) = \\sum_k a_k^2 \\max(0, 1 - \\sqrt{\\tilde q_k/\\eta})^2
                            + \\sigma^2/\\eta,
        \\qquad \\tilde q_k = P_k |h_k|^2 / a_k^2 .

    Parameters
    ----------
    eta : float or array_like [...], float
        Denoising factor(s), positive.
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2``.
    power : float or array_like [..., K]
        Peak powers ``P_k``.
    noise_var : float or array_like [...]
        Noise variance ``sigma^2``.
    target : array_like [..., K], optional
        Target coefficients ``a_k`` (default ones).

    Returns
    -------
    [...], float
        ``MSE(eta)``; its minimum over ``eta`` is :func:`optimal_power`'s ``mse``.
    """
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner="mse_at_eta")
    eta = np.asarray(eta, dtype=g.dtype)
    qe = _effective_quality(g, p, a)
    with np.errstate(invalid="ignore"):
        miss = np.maximum(0.0, 1.0 - np.sqrt(qe / eta[..., None])) ** 2
    miss = np.where(a == 0, 0.0, miss)
    return np.sum(a * a * miss, axis=-1) + s2 / eta


def _solve(qs: np.ndarray, w: np.ndarray, r: np.ndarray, c: np.ndarray, s2: np.ndarray):
    """Minimize the piecewise objective given devices sorted by effective quality.

    Parameters
    ----------
    qs : [..., K] sorted effective qualities ``q~_(i)`` (ascending, ``inf`` for silent).
    w, r, c : [..., K] per sorted device ``a^2``, ``|a| sqrt(q)``, ``q`` (zero if silent).
    s2 : [...] noise variance.

    Returns
    -------
    eta, mse : [...]
    """
    shape = qs.shape[:-1] + (1,)
    zero = np.zeros(shape, dtype=qs.dtype)
    # Prefix sums over the first k devices, k = 0..K.
    wk = np.concatenate([zero, np.cumsum(w, axis=-1)], axis=-1)
    rk = np.concatenate([zero, np.cumsum(r, axis=-1)], axis=-1)
    ck = np.concatenate([zero, np.cumsum(c, axis=-1)], axis=-1) + s2[..., None]
    lo = np.concatenate([zero, qs], axis=-1)  # q~_(k), with q~_(0) = 0
    hi = np.concatenate([qs, np.full(shape, np.inf, dtype=qs.dtype)], axis=-1)  # q~_(k+1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        eta_k = np.clip((ck / rk) ** 2, lo, hi)  # rk = 0 gives inf, clipped to hi
        inv_sqrt = 1.0 / np.sqrt(eta_k)
        mse_k = wk - 2.0 * rk * inv_sqrt + ck * inv_sqrt * inv_sqrt
    # A piece is empty when its interval is [0, 0] (a zero-quality device must be at full
    # power); rounding can leave a tiny negative value, which the clip below removes.
    mse_k = np.where(hi > 0, mse_k, np.inf)
    k = np.argmin(mse_k, axis=-1)[..., None]
    eta = np.take_along_axis(eta_k, k, axis=-1)[..., 0]
    mse = np.maximum(np.take_along_axis(mse_k, k, axis=-1)[..., 0], 0.0)
    return eta, mse


def optimal_power(gain2, *, power, noise_var, target=None) -> PowerControl:
    """MSE-optimal transmit powers and denoising factor under peak power (static channels).

    Cao, Zhu, Xu, Huang, TWC 2020, Theorem 1, with weighted, signed targets:

    .. math::

        \\eta^* = \\tilde\\eta(k^*) = \\left(\\frac{\\sigma^2 + \\sum_{i\\le k^*} q_{(i)}}
                  {\\sum_{i\\le k^*} |a_{(i)}|\\sqrt{q_{(i)}}}\\right)^2, \\quad
        p_k = \\min\\big(P_k, \\eta^* a_k^2 / |h_k|^2\\big),

    where ``q_k = P_k |h_k|^2``, devices are sorted by ``q~_k = q_k / a_k^2`` ascending and
    ``k*`` is the piece with ``q~_(k*) <= eta~(k*) <= q~_(k*+1)``. Devices ``(1)..(k*)``
    (the weakest) transmit at full power, the others invert their channel to the received
    amplitude ``|a_k| sqrt(eta*)``. The sign of ``a_k`` goes into the transmit coefficient
    (see :attr:`PowerControl.amplitude`). Devices with ``a_k = 0`` are silent. Fully
    vectorized: one sort and three prefix sums over the device axis.

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2`` (finite, ``>= 0``).
    power : float or array_like broadcastable to ``[..., K]``
        Peak transmit powers ``P_k > 0``.
    noise_var : float or array_like broadcastable to ``[...]``
        Noise variance ``sigma^2 > 0``.
    target : array_like broadcastable to ``[..., K]``, optional
        Target coefficients ``a_k`` (default ones; negative allowed).

    Returns
    -------
    PowerControl
        ``constraint="peak"``: ``power <= P_k`` holds in every realization.

    Examples
    --------
    >>> pc = optimal_power([1.0, 0.6, 0.3, 0.1], power=1.0, noise_var=0.01)
    >>> round(float(pc.eta), 4), round(float(pc.mse), 4)
    (0.121, 0.0909)
    """
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner="optimal_power")
    q = p * g
    if target is None:
        # Unit targets: sorting q itself is enough (no argsort/gather needed).
        qs = np.sort(q, axis=-1)
        eta, mse = _solve(qs, np.ones_like(qs), np.sqrt(qs), qs, s2)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = eta[..., None] / q
    else:
        qe = _effective_quality(g, p, a)
        order = np.argsort(qe, axis=-1)
        active = a != 0
        absa = np.abs(a)

        def sort(x):
            return np.take_along_axis(x, order, axis=-1)

        eta, mse = _solve(
            sort(qe), sort(a * a), sort(absa * np.sqrt(q)), sort(np.where(active, q, 0.0)), s2
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(active, eta[..., None] / qe, 0.0)
    # p_k = min(P_k, eta a_k^2 / g_k) = P_k min(1, eta / q~_k); q~_k = 0 gives full power.
    frac = np.minimum(1.0, ratio)
    pw = p * frac
    # Recompute the MSE without the cancellation of the prefix-sum form (sum a^2 - ...),
    # which loses digits at high SNR, most visibly in float32:
    # MSE = sum_k a_k^2 (1 - sqrt(min(1, q~_k / eta)))^2 + sigma^2 / eta (_solve's value
    # only selects the piece).
    with np.errstate(divide="ignore"):
        miss = (1.0 - np.sqrt(np.minimum(1.0, 1.0 / ratio))) ** 2
    if target is None:
        mse = np.sum(miss, axis=-1) + s2 / eta
    else:
        mse = np.sum(np.where(active, a * a * miss, 0.0), axis=-1) + s2 / eta
    return PowerControl(
        power=pw,
        eta=eta,
        mse=mse,
        scheduled=pw > 0,
        target=a,
        gain2=g,
        noise_var=s2,
        constraint="peak",
        policy="optimal_power",
    )
