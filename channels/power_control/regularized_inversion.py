"""Regularized channel inversion: optimal power control over time-varying channels (average power).

Reference: X. Cao, G. Zhu, J. Xu, K. Huang, "Optimized power control for over-the-air
computation in fading channels", IEEE Trans. Wireless Commun. 19(11), 2020, Section IV
(time-varying channels, average power constraints, Lagrange duality), generalized to weighted,
signed targets ``a_k``.

Problem. Over ``N`` fading states (slots) ``n`` with gains ``g_{n,k} = |h_{n,k}|^2``, choose
powers ``p_{n,k} >= 0`` and a denoising factor ``eta_n`` per slot to minimize the average MSE

.. math::

    \\frac1N \\sum_n \\Big[\\sum_k \\big(\\sqrt{p_{n,k} g_{n,k}/\\eta_n} - |a_k|\\big)^2
    + \\sigma^2/\\eta_n\\Big]
    \\quad \\text{s.t.} \\quad \\frac1N \\sum_n p_{n,k} \\le \\bar P_k .

Solution (Lagrangian with multipliers ``lambda_k >= 0``). For fixed ``eta_n`` the per-slot
Lagrangian is minimized by the *regularized channel inversion*

.. math::

    \\sqrt{p_{n,k}} = \\frac{|a_k| \\sqrt{\\eta_n g_{n,k}}}{g_{n,k} + \\lambda_k \\eta_n},

(``lambda_k = 0``: plain inversion; large ``lambda_k``: the device saves power in deep
fades), leaving ``L_n(eta) = sum_k a_k^2 lambda_k eta / (g_{n,k} + lambda_k eta)
+ sigma^2 / eta``, whose unique minimizer solves

.. math::

    \\sum_k \\frac{a_k^2 \\lambda_k g_{n,k} \\eta^2}{(g_{n,k} + \\lambda_k \\eta)^2} = \\sigma^2

(the left side increases in ``eta``; no root means ``eta_n = inf``, a silent slot). The
multipliers are found by a damped Newton iteration on ``log lambda_k`` until every budget is
met with equality (or ``lambda_k`` vanishes with the budget slack). At such a point the powers
minimize the Lagrangian and satisfy complementary slackness, so by Everett's theorem they are
globally optimal for the budgets (no convexity needed); the paper shows the same via the
"time-sharing" property.

Constraint enforced: **average** power over the ``N`` given fading states (the empirical
fading distribution); a single slot may exceed ``P_k``.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int, check_real
from .base import PowerControl, phase_aligned_mse, prepare_inputs

__all__ = ["regularized_inversion", "regularized_inversion_eta"]

_LAMBDA_FLOOR = 1e-200


def _f(eta, g, w, lam):
    """``sum_k w_k lam_k g_k eta^2 / (g_k + lam_k eta)^2`` for eta [..., N], g [..., N, K]."""
    e = eta[..., None]
    with np.errstate(invalid="ignore", over="ignore"):
        val = w * g * lam * (e / (g + lam * e)) ** 2
    return np.sum(np.where(g > 0, val, 0.0), axis=-1)


def regularized_inversion_eta(gain2, multipliers, *, noise_var, target=None,
                              n_bisect: int = 64) -> np.ndarray:
    """Per-slot optimal denoising factor for given multipliers ``lambda_k``.

    Solves ``sum_k a_k^2 lambda_k g_k eta^2 / (g_k + lambda_k eta)^2 = sigma^2`` for each
    slot by bracketing and bisection in ``log eta`` (vectorized over all slots).

    Parameters
    ----------
    gain2 : array [..., N, K], float
        Channel power gains of the fading states.
    multipliers : array [..., K], float
        ``lambda_k >= 0``.
    noise_var : float or array [..., N]
        ``sigma^2 > 0``.
    target : array [..., K] or [..., N, K], optional
        ``a_k`` (default ones).
    n_bisect : int
        Bisection steps after bracketing within a factor 100.

    Returns
    -------
    [..., N], float
        ``eta_n`` (``inf`` if the slot should stay silent).
    """
    g = np.asarray(gain2, dtype=float)
    lam = np.asarray(multipliers, dtype=float)[..., None, :]
    w = np.ones(()) if target is None else np.asarray(target, dtype=float) ** 2
    s2 = np.broadcast_to(np.asarray(noise_var, dtype=float), g.shape[:-1])
    sup = np.sum(np.where((g > 0) & (lam > 0), w * g / np.where(lam > 0, lam, 1.0), 0.0),
                 axis=-1)
    silent = sup <= s2
    # f(eta) < sigma^2 below eta_lo, since (g + lam eta)^2 >= g^2.
    dens = np.sum(np.where(g > 0, w * lam / np.where(g > 0, g, 1.0), 0.0), axis=-1)
    with np.errstate(divide="ignore"):
        lo = np.where(silent, 1.0, np.sqrt(s2 / dens))
    lo = np.where(np.isfinite(lo) & (lo > 0), lo, 1.0)
    hi = lo * 100.0
    for _ in range(400):  # grow the bracket (factor 100 per step, never more than ~300)
        need = ~silent & (_f(hi, g, w, lam) < s2)
        if not need.any():
            break
        lo = np.where(need, hi, lo)
        hi = np.where(need, hi * 100.0, hi)
    llo, lhi = np.log(lo), np.log(hi)
    for _ in range(n_bisect):
        mid = 0.5 * (llo + lhi)
        below = _f(np.exp(mid), g, w, lam) < s2
        llo = np.where(below, mid, llo)
        lhi = np.where(below, lhi, mid)
    return np.where(silent, np.inf, np.exp(0.5 * (llo + lhi)))


def _powers(g, w, lam, eta):
    e = eta[..., None]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        p = w * g * e / (g + lam[..., None, :] * e) ** 2
    return np.where(np.isfinite(e) & (g > 0), p, 0.0)


def _check_states(gain2, power, noise_var, target, owner: str):
    """Validate ``[..., N, K]`` fading states; per-device budgets ``[..., K]`` apply to all N."""
    g0 = np.asarray(gain2)
    if g0.ndim < 2:
        raise ValueError(
            f"The 'gain2' parameter of {owner} must have shape [..., N, K] (fading states x "
            f"devices); got shape {g0.shape}."
        )
    p_dev = np.asarray(power)
    if p_dev.ndim >= 1:
        p_dev = p_dev[..., None, :]
    g, p, s2, a = prepare_inputs(gain2, p_dev, noise_var, target, owner=owner)
    return tuple(x.astype(float, copy=False) for x in (g, p, s2, a))


def _secant_step(log_r, log_lam, prev):
    """Newton (secant) step on ``log lambda`` from the measured elasticity.

    ``el = d log r / d log lambda`` is negative (more lambda, less power); while it is
    unknown or has the wrong sign (cross-device coupling through eta) a damped fixed step
    ``log_r / 2`` is taken instead. Steps are clipped to ``[-5, 5]``.
    """
    step = 0.5 * log_r
    if prev is not None:
        d_lr, d_ll = log_r - prev[0], log_lam - prev[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            el = d_lr / d_ll
        use = np.isfinite(el) & (el < -1e-3) & (np.abs(d_ll) > 1e-12)
        step = np.where(use, -log_r / np.where(use, el, -1.0), step)
    return np.clip(np.where(np.isfinite(step), step, -5.0), -5.0, 5.0)


def _multipliers(g, w, s2, budget, rtol: float, max_iter: int, owner: str):
    """``(lambda [..., K], eta [..., N])`` meeting every active budget within ``rtol``.

    Raises ``RuntimeError`` when ``max_iter`` updates do not suffice.
    """
    active = np.any(w > 0, axis=-2)  # devices with some non-zero target
    # Start at lambda_k = 1 / P_k: lambda eta has the unit of a gain and eta that of P g.
    log_lam = np.where(active, -np.log(budget), np.log(_LAMBDA_FLOOR))
    prev = None
    for _ in range(max_iter):
        lam = np.where(active, np.exp(log_lam), 0.0)
        eta = regularized_inversion_eta(g, lam, noise_var=s2, target=np.sqrt(w))
        avg = np.mean(_powers(g, w, lam, eta), axis=-2)
        with np.errstate(divide="ignore"):
            log_r = np.log(avg / budget)  # > 0: over budget, raise lambda
        # A budget is slack when the device already inverts its channel exactly in every
        # slot (lambda_k eta_n << g_{n,k}): lowering lambda_k further changes nothing.
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = np.where(g > 0, eta[..., None] / g, 0.0)  # inf in silent slots
        slack = (log_r < 0) & (lam * np.max(reach, axis=-2) <= 1e-9)
        ok = ~active | slack | (np.abs(log_r) <= rtol)
        if np.all(ok):
            return lam, eta
        step = _secant_step(log_r, log_lam, prev)
        prev = (log_r, log_lam)
        log_lam = np.maximum(log_lam + np.where(ok, 0.0, step), np.log(_LAMBDA_FLOOR))
    raise RuntimeError(
        f"{owner}: the multipliers did not converge in max_iter={max_iter} updates "
        f"(largest relative budget violation {np.max(np.abs(np.expm1(log_r))):.3g}); "
        "raise max_iter or loosen rtol."
    )


def regularized_inversion(
    gain2,
    *,
    power,
    noise_var,
    target=None,
    rtol: float = 1e-6,
    max_iter: int = 500,
) -> PowerControl:
    """Optimal power control over fading states with average power (regularized inversion).

    Cao, Zhu, Xu, Huang, TWC 2020, Section IV, with weighted, signed targets:

    .. math::

        p_{n,k} = \\frac{a_k^2 \\eta_n g_{n,k}}{(g_{n,k} + \\lambda_k \\eta_n)^2}, \\qquad
        \\frac1N \\sum_n p_{n,k} = \\bar P_k \\ \\text{(or } \\lambda_k = 0\\text{)},

    with ``eta_n`` from :func:`regularized_inversion_eta`. Not a registered policy: the
    ``N`` states of axis ``-2`` are solved together (one budget over all of them).

    Parameters
    ----------
    gain2 : array_like [..., N, K], float
        Channel power gains ``|h_{n,k}|^2`` of ``N`` fading states (slots) of ``K`` devices;
        the average power constraint is over axis ``-2``. Use many states (the optimum for
        the empirical distribution approaches the one for the fading law as ``N`` grows).
    power : float or array_like broadcastable to ``[..., K]``
        Average power budgets ``P_k > 0``.
    noise_var : float or array_like broadcastable to ``[..., N]``
        Noise variance ``sigma^2 > 0``.
    target : array_like broadcastable to ``[..., N, K]``, optional
        Target coefficients ``a_k`` (default ones; sign into the transmit coefficient,
        zero means silent).
    rtol : float
        Stop when every active budget is met within this relative tolerance.
    max_iter : int
        Maximum multiplier updates.

    Returns
    -------
    PowerControl
        Per slot: ``power`` ``[..., N, K]``, ``eta`` and ``mse`` ``[..., N]`` (average the MSE
        over axis ``-1`` of ``mse`` for the objective); ``constraint="average"``.

    Raises
    ------
    RuntimeError
        If the multipliers did not converge within ``max_iter`` updates.
    """
    owner = "regularized_inversion"
    rtol = check_real("rtol", rtol, low=0.0, low_open=True, owner=owner)
    max_iter = check_int("max_iter", max_iter, low=1, owner=owner)
    g, p, s2, a = _check_states(gain2, power, noise_var, target, owner)
    w = a * a
    lam, eta = _multipliers(g, w, s2, p[..., 0, :], rtol, max_iter, owner)
    pw = _powers(g, w, lam, eta)
    return PowerControl(
        power=pw,
        eta=eta,
        mse=phase_aligned_mse(g, pw, eta, s2, a),
        target=a,
        gain2=g,
        noise_var=s2,
        constraint="average",
        policy="regularized_inversion",
    )
