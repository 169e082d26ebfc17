"""Receiver noise: its variance from an SNR or from a link budget, and drawing it.

Convention (used by the whole receiver layer): the receiver noise is circularly symmetric
complex Gaussian, ``n ~ CN(0, sigma^2)``, so ``E|n|^2 = sigma^2`` (``noise_var``) and its
real part alone has variance ``sigma^2 / 2``.

Two ways to obtain ``sigma^2``:

* from an SNR in dB, defined as the per-device **transmit SNR** ``P / sigma^2`` (the SNR a
  device at full power ``P`` would see through a unit-gain channel, ``|h|^2 = 1``):
  ``sigma^2 = P 10^(-SNR_dB / 10)``;
* from a link budget: ``sigma^2 = N0 B`` with ``N0 = -174 dBm/Hz + NF`` (thermal noise at
  290 K plus the receiver noise figure), in watts.

The noise level is always an explicit input; it is never inferred from a signal's power.
"""

from __future__ import annotations

import numpy as np

from ._checks import RngLike, check_real, resolve_rng

__all__ = [
    "THERMAL_NOISE_DBM_PER_HZ",
    "complex_noise",
    "db_to_linear",
    "dbm_to_watt",
    "linear_to_db",
    "noise_var_from_psd",
    "noise_var_from_snr_db",
    "snr_db_from_noise_var",
    "watt_to_dbm",
]

#: Thermal noise power spectral density at 290 K, ``k T`` in dBm/Hz (rounded as usual).
THERMAL_NOISE_DBM_PER_HZ: float = -174.0


def db_to_linear(value_db):
    """Convert a power ratio from dB to linear scale: ``10^(x / 10)``."""
    return 10.0 ** (np.asarray(value_db, dtype=float) / 10.0)


def linear_to_db(value):
    """Convert a positive power ratio from linear scale to dB: ``10 log10(x)``."""
    value = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(value)) or np.any(value <= 0):
        raise ValueError(
            "The 'value' parameter of linear_to_db must be finite and > 0; "
            f"got {value if value.ndim == 0 else value[(value <= 0) | ~np.isfinite(value)][0]}."
        )
    return 10.0 * np.log10(value)


def dbm_to_watt(power_dbm):
    """Convert a power from dBm to watts: ``10^((x - 30) / 10)``."""
    return 10.0 ** ((np.asarray(power_dbm, dtype=float) - 30.0) / 10.0)


def watt_to_dbm(power_w):
    """Convert a positive power from watts to dBm: ``10 log10(x) + 30``."""
    return linear_to_db(power_w) + 30.0


def noise_var_from_snr_db(snr_db: float, power_w: float = 1.0) -> float:
    """Noise variance from a per-device transmit SNR in dB.

    .. math:: \\sigma^2 = P \\, 10^{-\\mathrm{SNR_{dB}}/10}

    Parameters
    ----------
    snr_db : float
        Transmit SNR ``P / sigma^2`` in dB: the SNR a device transmitting at its peak power
        ``power_w`` sees through a unit-gain channel.
    power_w : float, default 1.0
        Peak transmit power ``P`` (W, or any unit: ``sigma^2`` comes out in the same unit).

    Returns
    -------
    float
        ``sigma^2``, the total complex noise variance ``E|n|^2``.

    Examples
    --------
    >>> noise_var_from_snr_db(20.0)
    0.01
    """
    snr_db = check_real("snr_db", snr_db, owner="noise_var_from_snr_db")
    power_w = check_real("power_w", power_w, low=0.0, low_open=True, owner="noise_var_from_snr_db")
    return float(power_w * 10.0 ** (-snr_db / 10.0))


def snr_db_from_noise_var(noise_var: float, power_w: float = 1.0) -> float:
    """Inverse of :func:`noise_var_from_snr_db`: ``10 log10(P / sigma^2)``."""
    noise_var = check_real(
        "noise_var", noise_var, low=0.0, low_open=True, owner="snr_db_from_noise_var"
    )
    power_w = check_real("power_w", power_w, low=0.0, low_open=True, owner="snr_db_from_noise_var")
    return float(10.0 * np.log10(power_w / noise_var))


def noise_var_from_psd(
    bandwidth_hz: float,
    noise_figure_db: float = 0.0,
    psd_dbm_per_hz: float = THERMAL_NOISE_DBM_PER_HZ,
) -> float:
    """Noise variance in watts from a noise PSD, a noise figure and a bandwidth.

    .. math::

        N_0\\,[\\mathrm{dBm/Hz}] = \\mathrm{PSD} + \\mathrm{NF}, \\qquad
        \\sigma^2\\,[\\mathrm{W}] = 10^{(N_0 - 30)/10} \\, B

    Parameters
    ----------
    bandwidth_hz : float
        Receiver bandwidth ``B`` in Hz (> 0).
    noise_figure_db : float, default 0.0
        Receiver noise figure ``NF`` in dB (>= 0).
    psd_dbm_per_hz : float, default -174.0
        Thermal noise PSD in dBm/Hz (-174 dBm/Hz is ``k T`` at 290 K).

    Returns
    -------
    float
        ``sigma^2`` in watts.

    Examples
    --------
    1 MHz, NF = 0 dB: -174 + 60 = -114 dBm, i.e. about 3.98e-15 W.

    >>> round(noise_var_from_psd(1e6) * 1e15, 2)
    3.98
    """
    owner = "noise_var_from_psd"
    bandwidth_hz = check_real("bandwidth_hz", bandwidth_hz, low=0.0, low_open=True, owner=owner)
    noise_figure_db = check_real("noise_figure_db", noise_figure_db, low=0.0, owner=owner)
    psd_dbm_per_hz = check_real("psd_dbm_per_hz", psd_dbm_per_hz, owner=owner)
    n0_w_per_hz = 10.0 ** ((psd_dbm_per_hz + noise_figure_db - 30.0) / 10.0)
    return float(n0_w_per_hz * bandwidth_hz)


def complex_noise(
    shape: tuple[int, ...],
    noise_var: float | np.ndarray,
    rng: RngLike = None,
    *,
    dtype: type = np.complex128,
) -> np.ndarray:
    """Draw circularly symmetric complex Gaussian noise ``CN(0, sigma^2)``.

    Parameters
    ----------
    shape : tuple of int
        Output shape.
    noise_var : float or array broadcastable to ``shape``
        ``sigma^2 = E|n|^2`` (> 0); each of the real and imaginary parts has variance
        ``sigma^2 / 2``.
    rng : None, int, SeedSequence or Generator
        Randomness, resolved by :func:`channels._checks.resolve_rng`.
    dtype : numpy complex dtype, default complex128
        ``complex64`` draws in single precision (about twice as fast).

    Returns
    -------
    numpy.ndarray, complex, ``shape``
    """
    rng = resolve_rng(rng)
    real_dtype = np.float32 if np.dtype(dtype) == np.complex64 else np.float64
    var = np.asarray(noise_var, dtype=float)
    if np.any(~np.isfinite(var)) or np.any(var < 0):
        raise ValueError(
            "The 'noise_var' parameter of complex_noise must be finite and >= 0; "
            f"got {noise_var!r}."
        )
    parts = rng.standard_normal((2, *shape), dtype=real_dtype)
    scale = np.sqrt(var / 2.0).astype(real_dtype)
    out = np.empty(shape, dtype=np.complex64 if real_dtype == np.float32 else np.complex128)
    out.real = parts[0] * scale
    out.imag = parts[1] * scale
    return out
