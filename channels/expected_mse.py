"""The AirComp MSE averaged over fading, where a closed form exists.

:func:`channels.aircomp.aircomp_mse` is conditional on one channel realization; averaging
it over a fading distribution has a closed form for truncated channel inversion under
Rayleigh fading (Zhu, Wang, Huang, "Broadband analog aggregation for low-latency federated
edge learning", IEEE TWC 2020), extended here to CSI error, phase misalignment and real
symbols with the conventions of :mod:`channels.aircomp`. For other policies the average
over fading is a Monte-Carlo mean of the per-realization closed form (see
``benchmarks/bench_aircomp.py``).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_choice, check_real
from .aircomp import _SYMBOLS, Symbols
from .impairments import phase_moments
from .power_control.truncated_inversion import (
    expected_truncation_mse,
    expected_truncation_power,
    truncation_amplitude,
)

__all__ = ["truncated_inversion_expected_mse"]


def truncated_inversion_expected_mse(
    gain_threshold: float,
    *,
    power,
    noise_var,
    n_devices: int | None = None,
    target=None,
    constraint: str = "average",
    mean_gain=1.0,
    csi_error_var: float = 0.0,
    phase_max: float = 0.0,
    symbols: Symbols = "complex",
) -> np.ndarray:
    """MSE of truncated channel inversion averaged over Rayleigh fading, with impairments.

    Device k transmits iff ``|hhat_k|^2 >= g_th`` and then inverts its (estimated) channel
    to the common amplitude ``|a_k| sqrt(rho0)`` (``eta = rho0``, so ``c_k = |a_k|``), else
    stays silent (Zhu, Wang, Huang, TWC 2020; :func:`channels.power_control.truncated_inversion`
    with ``rho0`` from :func:`~channels.power_control.truncation_amplitude`). For
    ``|hhat_k|^2 ~ Exp(mean Omega_k)``: ``P(|hhat_k|^2 >= g) = e^{-g/Omega_k}`` and
    ``E p_k = rho0 a_k^2 E1(g/Omega_k) / Omega_k``, so, averaging the module's per-realization
    MSE over fading,

    .. math::

        \\mathbb E\\,\\mathrm{MSE} = \\sum_k a_k^2 \\left[(1 - e^{-g/\\Omega_k})
        + e^{-g/\\Omega_k} F\\right]
        + \\frac{1}{\\kappa}\\left(\\frac{\\sigma^2}{\\rho_0}
        + \\sigma_e^2 \\sum_k \\frac{a_k^2 E_1(g/\\Omega_k)}{\\Omega_k}\\right)

    with ``F = 2 - 2 m1``, ``kappa = 1`` (complex symbols) or ``F = 1 - 2 m1 + m2``,
    ``kappa = 2`` (real symbols), ``m1, m2`` from
    :func:`channels.impairments.phase_moments`. Without impairments and with complex
    symbols it is :func:`channels.power_control.expected_truncation_mse`.

    Parameters
    ----------
    gain_threshold, power, noise_var, n_devices, target, constraint, mean_gain
        As in :func:`channels.power_control.expected_truncation_mse` (the Rayleigh model is
        that of the estimate ``hhat`` when CSI is imperfect).
    csi_error_var, phase_max, symbols
        As in :func:`aircomp_mse`.

    Returns
    -------
    numpy.ndarray, float64, ``[...]`` (0-d for scalar inputs)
    """
    owner = "truncated_inversion_expected_mse"
    csi_error_var = check_real("csi_error_var", csi_error_var, low=0.0, owner=owner)
    phase_max = check_real("phase_max", phase_max, low=0.0, high=np.pi, owner=owner)
    symbols = check_choice("symbols", symbols, _SYMBOLS, owner=owner)
    common = dict(power=power, n_devices=n_devices, target=target, constraint=constraint,
                  mean_gain=mean_gain)
    # The ideal complex-symbol value (validates every shared argument).
    ideal = expected_truncation_mse(gain_threshold, noise_var=noise_var, **common)
    a2 = np.ones(n_devices) if target is None else np.asarray(target, dtype=float) ** 2
    p_on = np.exp(-gain_threshold / np.asarray(mean_gain, dtype=float))
    rho0 = truncation_amplitude(gain_threshold, power=np.broadcast_to(power, a2.shape),
                                target=np.sqrt(a2), constraint=constraint, mean_gain=mean_gain)
    noise_term = np.asarray(noise_var, dtype=float) / rho0
    miss = ideal - noise_term  # sum_k a_k^2 (1 - e^{-g/Omega_k})
    m1, m2 = phase_moments(phase_max)
    kappa, floor = (1.0, 2.0 - 2.0 * m1) if symbols == "complex" else (2.0, 1.0 - 2.0 * m1 + m2)
    phase = np.sum(a2 * p_on * floor, axis=-1)
    csi = 0.0
    if csi_error_var > 0.0:
        csi = csi_error_var * np.sum(expected_truncation_power(gain_threshold, **common),
                                     axis=-1) / rho0
    return np.asarray(miss + phase + (noise_term + csi) / kappa, dtype=float)
