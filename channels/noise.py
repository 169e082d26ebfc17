"""Receiver noise: its variance from an SNR or from a link budget.

Convention (used by the whole receiver layer): the receiver noise is circularly symmetric
complex Gaussian, ``n ~ CN(0, sigma^2)``, so ``E|n|^2 = sigma^2`` (``noise_var``) and its
real part alone has variance ``sigma^2 / 2``. It is drawn with
:func:`channels.base.complex_normal` (``var=noise_var``).

Three ways to obtain ``sigma^2`` (:func:`make_noise_var` takes any of them as the table a
scenario writes, e.g. ``noise = {psd_dbm_hz = -174, bandwidth_hz = 1e6,
noise_figure_db = 7}``):

* directly, ``noise_var``, in the power unit of ``power * gain2``;
* from an SNR in dB, defined as the per-device **transmit SNR** ``P / sigma^2`` (the SNR a
  device at full power ``P`` would see through a unit-gain channel, ``|h|^2 = 1``):
  ``sigma^2 = P 10^(-SNR_dB / 10)``. Meaningful for gains normalized to ``E|g|^2 = 1``;
  with path loss in the gains (models tagged ``path_loss``) the received SNR is far lower;
* from a link budget: ``sigma^2 = 10^((PSD + NF - 30) / 10) B`` **watts**, with the noise
  power spectral density ``PSD`` in dBm/Hz (-174 dBm/Hz: thermal noise ``k T`` at 290 K),
  the receiver noise figure ``NF`` in dB and the bandwidth ``B`` in Hz. Transmit powers
  must then be in watts as well: :func:`dbm_to_watt` converts a power in dBm (23 dBm =
  0.2 W).

The noise level is always an explicit input; it is never inferred from a signal's power.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._checks import check_real

__all__ = [
    "NOISE_FORMS",
    "THERMAL_NOISE_DBM_PER_HZ",
    "db_to_linear",
    "dbm_to_watt",
    "linear_to_db",
    "make_noise_var",
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
    psd_dbm_hz: float = THERMAL_NOISE_DBM_PER_HZ,
) -> float:
    """Noise variance in watts from a link budget: noise PSD, noise figure and bandwidth.

    .. math::

        N_0\\,[\\mathrm{dBm/Hz}] = \\mathrm{PSD} + \\mathrm{NF}, \\qquad
        \\sigma^2\\,[\\mathrm{W}] = 10^{(N_0 - 30)/10} \\, B

    Parameters
    ----------
    bandwidth_hz : float
        Receiver bandwidth ``B`` in Hz (> 0).
    noise_figure_db : float, default 0.0
        Receiver noise figure ``NF`` in dB (>= 0).
    psd_dbm_hz : float, default -174.0
        Noise power spectral density in dBm/Hz (-174 dBm/Hz is ``k T`` at 290 K).

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
    psd_dbm_hz = check_real("psd_dbm_hz", psd_dbm_hz, owner=owner)
    n0_w_per_hz = 10.0 ** ((psd_dbm_hz + noise_figure_db - 30.0) / 10.0)
    return float(n0_w_per_hz * bandwidth_hz)


#: The tables :func:`make_noise_var` accepts: the key that selects a form, and every key
#: that form takes.
NOISE_FORMS: Mapping[str, tuple[str, ...]] = {
    "noise_var": ("noise_var",),
    "snr_db": ("snr_db", "power_w"),
    "bandwidth_hz": ("bandwidth_hz", "noise_figure_db", "psd_dbm_hz"),
}


def make_noise_var(**table) -> float:
    """Receiver noise variance ``sigma^2`` from one of the tables of :data:`NOISE_FORMS`.

    The entry point for scenarios: ``noise_var = make_noise_var(**scenario["noise"])``.

    Parameters
    ----------
    **table
        Exactly one form:

        * ``noise_var`` (> 0): returned as is, in the power unit of ``power * gain2``;
        * ``snr_db`` and optionally ``power_w`` (default 1): transmit SNR, see
          :func:`noise_var_from_snr_db`;
        * ``bandwidth_hz`` and optionally ``noise_figure_db`` (default 0 dB) and
          ``psd_dbm_hz`` (default -174 dBm/Hz): a link budget in watts, see
          :func:`noise_var_from_psd`.

    Returns
    -------
    float
        ``sigma^2 = E|n|^2`` (> 0).

    Raises
    ------
    ValueError
        For no form, two forms, or a key the chosen form does not take (the message lists
        the accepted tables), and for out-of-range values.

    Examples
    --------
    >>> make_noise_var(snr_db=10.0)
    0.1
    >>> sigma2 = make_noise_var(psd_dbm_hz=-174, bandwidth_hz=1e6, noise_figure_db=7)
    >>> round(float(watt_to_dbm(sigma2)), 3)  # -174 + 7 + 60 dBm
    -107.0
    """
    forms = "; ".join(f"{{{', '.join(keys)}}}" for keys in NOISE_FORMS.values())
    chosen = [key for key in NOISE_FORMS if key in table]
    if len(chosen) != 1:
        raise ValueError(
            "The noise table must use exactly one form, one of "
            f"{forms}; got keys {sorted(table) or 'none'}."
        )
    form = chosen[0]
    extra = sorted(set(table) - set(NOISE_FORMS[form]))
    if extra:
        raise ValueError(
            f"The noise table with {form!r} takes only {', '.join(NOISE_FORMS[form])}; got "
            f"the extra key(s) {', '.join(extra)} (accepted tables: {forms})."
        )
    if form == "noise_var":
        return check_real("noise_var", table["noise_var"], low=0.0, low_open=True,
                          owner="make_noise_var")
    if form == "snr_db":
        return noise_var_from_snr_db(**table)
    return noise_var_from_psd(**table)
