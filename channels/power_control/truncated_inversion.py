"""Truncated channel inversion: deep-faded devices stay silent, the others invert their channel.

Reference: G. Zhu, Y. Wang, K. Huang, "Broadband analog aggregation for low-latency federated
edge learning", IEEE Trans. Wireless Commun. 19(1), 2020, Section III (truncated channel
inversion and its average-power normalization), generalized to weighted, signed targets.

Device ``k`` transmits only if ``|h_k|^2 >= g_th``; then it inverts its channel so that it
arrives with coefficient ``a_k`` at the common received amplitude ``sqrt(rho0)``:
``p_k = rho0 a_k^2 / |h_k|^2``, and the receiver uses ``eta = rho0``. Silent devices are
stragglers (``scheduled`` False). The MSE of one realization is

.. math::

    \\mathrm{MSE} = \\sum_{k:\\,|h_k|^2 < g_{th}} a_k^2 + \\sigma^2 / \\rho_0 .

``rho0`` is fixed before the channel is seen, by one of two constraints:

* ``"average"`` (the paper's): over Rayleigh fading with mean gain ``Omega_k``
  (``|h_k|^2 ~ Exp(mean Omega_k)``),
  ``E[|h_k|^{-2}; |h_k|^2 >= g_th] = E1(g_th / Omega_k) / Omega_k`` (``E1``: exponential
  integral), so ``E[p_k] = rho0 a_k^2 E1(g_th/Omega_k) / Omega_k <= P_k`` gives
  ``rho0 = min_k P_k Omega_k / (a_k^2 E1(g_th / Omega_k))``. The constraint holds on average
  over fading only; a single realization may exceed ``P_k``.
* ``"peak"``: ``p_k <= P_k`` in every realization, guaranteed by
  ``rho0 = min_k P_k g_th / a_k^2`` (the worst scheduled channel is ``g_th``).

Expected MSE over Rayleigh fading (``P(|h_k|^2 >= g) = exp(-g / Omega_k)``):

.. math::

    \\mathbb{E}[\\mathrm{MSE}] = \\sum_k a_k^2 \\big(1 - e^{-g_{th}/\\Omega_k}\\big)
                               + \\sigma^2 / \\rho_0 ,

so with unit targets ``E[#truncated] = K (1 - e^{-g_th})`` for ``Omega = 1``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import exp1

from .._checks import check_choice, check_int, check_real
from .base import PowerControl, prepare_inputs

__all__ = [
    "check_truncation_params",
    "expected_truncation_mse",
    "expected_truncation_power",
    "optimal_truncation_threshold",
    "truncated_inversion",
    "truncation_amplitude",
]

_CONSTRAINTS = ("average", "peak")


def _check_common(gain_threshold, constraint, mean_gain, owner):
    g_th = check_real("gain_threshold", gain_threshold, low=0.0, low_open=True, owner=owner)
    check_choice("constraint", constraint, _CONSTRAINTS, owner=owner)
    mg = np.asarray(mean_gain, dtype=float)
    if mg.dtype == bool or not np.all(np.isfinite(mg)) or np.any(mg <= 0):
        raise ValueError(
            f"The 'mean_gain' parameter of {owner} must be a positive finite scalar or array "
            f"(mean |h_k|^2 under Rayleigh fading), in (0, inf); got {mean_gain!r}."
        )
    return g_th, mg


def check_truncation_params(
    *, gain_threshold: float, constraint: str = "average", mean_gain=1.0
) -> None:
    """Validate the parameters of :func:`truncated_inversion` before any computation.

    Raises
    ------
    ValueError
        For ``gain_threshold <= 0``, an unknown ``constraint`` or a non-positive
        ``mean_gain``, naming the parameter, its range and the value received.
    """
    _check_common(gain_threshold, constraint, mean_gain, "truncated_inversion")


def truncation_amplitude(
    gain_threshold: float,
    *,
    power,
    target,
    constraint: str = "average",
    mean_gain=1.0,
) -> np.ndarray:
    """Common received power ``rho0`` of truncated channel inversion.

    .. math::

        \\rho_0 = \\min_{k: a_k\\ne 0}
        \\begin{cases}
          P_k \\Omega_k / (a_k^2 E_1(g_{th}/\\Omega_k)) & \\text{average} \\\\
          P_k g_{th} / a_k^2 & \\text{peak}
        \\end{cases}

    Parameters
    ----------
    gain_threshold : float
        Truncation threshold ``g_th > 0`` on ``|h_k|^2``.
    power : array [..., K], float
        Power budgets ``P_k`` (average or peak).
    target : array [..., K], float
        Target coefficients ``a_k``.
    constraint : {"average", "peak"}
        Which budget ``P_k`` is.
    mean_gain : float or array broadcastable to [..., K]
        Mean channel power gain ``Omega_k`` of the Rayleigh model (average constraint only).

    Returns
    -------
    [...], float
        ``rho0`` (``inf`` if every target is zero).
    """
    owner = "truncation_amplitude"
    g_th, mg = _check_common(gain_threshold, constraint, mean_gain, owner)
    p = np.asarray(power, dtype=float)
    a = np.asarray(target, dtype=float)
    if constraint == "average":
        per = p * mg / exp1(g_th / mg)
    else:
        per = p * g_th
    with np.errstate(divide="ignore"):
        per = np.where(a != 0, per / (a * a), np.inf)
    return np.min(per, axis=-1)


def truncated_inversion(
    gain2,
    *,
    power,
    noise_var,
    target=None,
    gain_threshold: float,
    constraint: str = "average",
    mean_gain=1.0,
) -> PowerControl:
    """Truncated channel inversion (Zhu, Wang, Huang, TWC 2020).

    .. math::

        p_k = \\begin{cases} \\rho_0 a_k^2 / |h_k|^2 & |h_k|^2 \\ge g_{th} \\\\
                             0 & \\text{otherwise} \\end{cases},
        \\quad \\eta = \\rho_0, \\quad
        \\mathrm{MSE} = \\sum_{k: |h_k|^2 < g_{th}} a_k^2 + \\sigma^2/\\rho_0 ,

    with ``rho0`` from :func:`truncation_amplitude`.

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2`` (finite, ``>= 0``).
    power : float or array_like broadcastable to ``[..., K]``
        Budgets ``P_k > 0``: average over fading (``constraint="average"``) or peak.
    noise_var : float or array_like broadcastable to ``[...]``
        Noise variance ``sigma^2 > 0``.
    target : array_like broadcastable to ``[..., K]``, optional
        Target coefficients ``a_k`` (default ones; sign into the transmit coefficient, zero
        means silent and costs nothing).
    gain_threshold : float
        Truncation threshold ``g_th > 0`` on ``|h_k|^2`` (same unit as ``gain2``).
    constraint : {"average", "peak"}
        ``"average"``: ``E[p_k] <= P_k`` over Rayleigh fading with mean gain ``mean_gain``
        (exact only if the channel follows that model). ``"peak"``: ``p_k <= P_k`` always.
    mean_gain : float or array_like broadcastable to ``[..., K]``
        ``Omega_k = E|h_k|^2`` assumed by the average-power normalization (default 1).

    Returns
    -------
    PowerControl
        ``constraint`` as requested; ``scheduled`` marks the devices above the threshold.
    """
    owner = "truncated_inversion"
    g, p, s2, a = prepare_inputs(gain2, power, noise_var, target, owner=owner)
    g_th, _ = _check_common(gain_threshold, constraint, mean_gain, owner)
    try:
        np.broadcast_shapes(np.shape(mean_gain), g.shape)
    except ValueError:
        raise ValueError(
            f"The 'mean_gain' parameter of {owner} must be a scalar or an array broadcastable "
            f"to gain2's shape {g.shape}; got shape {np.shape(mean_gain)}."
        ) from None
    rho0 = truncation_amplitude(
        g_th, power=p, target=a, constraint=constraint, mean_gain=mean_gain
    ).astype(g.dtype, copy=False)
    rho0 = np.broadcast_to(rho0, s2.shape)
    sched = (g >= g_th) & (a != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pw = np.where(sched, rho0[..., None] * a * a / g, 0.0)
        mse = np.sum(np.where(sched, 0.0, a * a), axis=-1) + s2 / rho0
    return PowerControl(
        power=pw.astype(g.dtype, copy=False),
        eta=rho0,
        mse=mse.astype(g.dtype, copy=False),
        target=a,
        gain2=g,
        noise_var=s2,
        constraint=constraint,
        policy="truncated_inversion",
    )


def _expected_inputs(power, noise_var, n_devices, target, owner):
    if (n_devices is None) == (target is None):
        raise ValueError(
            f"{owner} needs exactly one of 'n_devices' (unit targets) or 'target'; got "
            f"n_devices={n_devices!r}, target={'None' if target is None else 'array'}."
        )
    if target is None:
        n = check_int("n_devices", n_devices, low=1, owner=owner)
        target = np.ones(n)
    a = np.asarray(target, dtype=float)
    _, p, s2, a = prepare_inputs(np.ones(a.shape), power, noise_var, a, owner=owner)
    return p, s2, a


def expected_truncation_mse(
    gain_threshold: float,
    *,
    power,
    noise_var,
    n_devices: int | None = None,
    target=None,
    constraint: str = "average",
    mean_gain=1.0,
) -> np.ndarray:
    """Expected MSE of truncated channel inversion over Rayleigh fading (closed form).

    .. math::

        \\mathbb{E}[\\mathrm{MSE}] = \\sum_k a_k^2 \\big(1 - e^{-g_{th}/\\Omega_k}\\big)
                                   + \\sigma^2/\\rho_0 ,

    (Zhu, Wang, Huang, TWC 2020), with ``rho0`` from :func:`truncation_amplitude`.

    Parameters
    ----------
    gain_threshold : float
        ``g_th > 0``.
    power, noise_var : float or array_like
        As for :func:`truncated_inversion`.
    n_devices : int, optional
        Number of devices with unit targets (give this or ``target``).
    target : array_like [..., K], optional
        Target coefficients.
    constraint : {"average", "peak"}
    mean_gain : float or array_like
        ``Omega_k = E|h_k|^2``.

    Returns
    -------
    [...], float
        The expected sum-estimation MSE.
    """
    owner = "expected_truncation_mse"
    p, s2, a = _expected_inputs(power, noise_var, n_devices, target, owner)
    g_th, mg = _check_common(gain_threshold, constraint, mean_gain, owner)
    rho0 = truncation_amplitude(g_th, power=p, target=a, constraint=constraint, mean_gain=mg)
    miss = np.sum(a * a * -np.expm1(-g_th / mg), axis=-1)
    return miss + s2 / rho0


def expected_truncation_power(
    gain_threshold: float,
    *,
    power,
    n_devices: int | None = None,
    target=None,
    constraint: str = "average",
    mean_gain=1.0,
) -> np.ndarray:
    """Expected transmit power ``E[p_k]`` of truncated channel inversion over Rayleigh fading.

    .. math::

        \\mathbb{E}[p_k] = \\rho_0 a_k^2 E_1(g_{th}/\\Omega_k) / \\Omega_k

    Equals ``P_k`` for the binding device(s) under ``constraint="average"``.

    Returns
    -------
    [..., K], float
    """
    owner = "expected_truncation_power"
    p, _, a = _expected_inputs(power, 1.0, n_devices, target, owner)
    g_th, mg = _check_common(gain_threshold, constraint, mean_gain, owner)
    rho0 = truncation_amplitude(g_th, power=p, target=a, constraint=constraint, mean_gain=mg)
    return rho0[..., None] * a * a * exp1(g_th / mg) / mg


def optimal_truncation_threshold(
    *,
    power,
    noise_var,
    n_devices: int | None = None,
    target=None,
    constraint: str = "average",
    mean_gain=1.0,
    bounds: tuple[float, float] = (1e-6, 20.0),
) -> float:
    """Threshold ``g_th`` minimizing :func:`expected_truncation_mse` (Rayleigh fading).

    The trade-off: a higher threshold truncates more devices (miss term
    ``sum_k a_k^2 (1 - e^{-g_th/Omega_k})`` grows) but allows a larger ``rho0`` (noise term
    ``sigma^2 / rho0`` shrinks). Minimized over ``log g_th`` by a 400-point grid on ``bounds``
    followed by a bounded Brent refinement around the best grid point (the objective need
    not be unimodal for heterogeneous devices). For ``K`` identical unit-target devices under
    the average constraint the optimum is ``g_th* = sigma^2 / (K P)`` (set the derivative
    ``K e^{-g} - sigma^2 e^{-g} / (g P)`` to zero); the tests check this.

    Parameters
    ----------
    power, noise_var, n_devices, target, constraint, mean_gain
        As for :func:`expected_truncation_mse` (scalar budgets / noise: one threshold).
    bounds : (float, float)
        Search interval for ``g_th``, ``0 < low < high``.

    Returns
    -------
    float
        The optimal threshold.
    """
    from scipy.optimize import minimize_scalar

    owner = "optimal_truncation_threshold"
    low = check_real("bounds[0]", bounds[0], low=0.0, low_open=True, owner=owner)
    high = check_real("bounds[1]", bounds[1], low=low, low_open=True, owner=owner)
    common = dict(power=power, noise_var=noise_var, n_devices=n_devices, target=target,
                  constraint=constraint, mean_gain=mean_gain)
    if np.ndim(expected_truncation_mse(low, **common)) != 0:
        raise ValueError(
            f"{owner} finds one threshold: 'power', 'noise_var' and 'target' must describe one "
            "system (no batch axes)."
        )
    p, s2, a = _expected_inputs(power, noise_var, n_devices, target, owner)
    _, mg = _check_common(low, constraint, mean_gain, owner)
    grid = np.geomspace(low, high, 400)
    # Vectorized over the grid: rho0(g) = min_k P_k Omega_k / (a_k^2 E1(g/Omega_k)) (average)
    # or min_k P_k g / a_k^2 (peak); miss(g) = sum_k a_k^2 (1 - e^{-g/Omega_k}).
    t = grid[:, None]
    per = p * mg / exp1(t / mg) if constraint == "average" else p * t
    with np.errstate(divide="ignore"):
        rho0 = np.min(np.where(a != 0, per / (a * a), np.inf), axis=-1)
    vals = np.sum(a * a * -np.expm1(-t / mg), axis=-1) + s2 / rho0
    i = int(np.argmin(vals))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    res = minimize_scalar(lambda x: float(expected_truncation_mse(np.exp(x), **common)),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return float(np.exp(res.x)) if res.fun <= vals[i] else float(grid[i])
