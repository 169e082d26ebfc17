"""Received SNR: an SNR defined at a reference gain, and a warning when nothing gets through.

A transmit SNR ``P / sigma^2`` (:func:`channels.noise.noise_var_from_snr_db`) is the SNR
through a unit-gain channel. With path loss in the gains (models tagged ``path_loss``,
e.g. ``"sionna-3gpp"``, whose ``|h|^2`` is 1e-6 to 1e-17) the same number leaves every
device far below the noise and an over-the-air sum returns noise. Two remedies:

* define the SNR at a reference gain ``beta_ref`` (a path-loss model exposes one as
  ``model.reference_gain``: the mean large-scale gain at its reference distance):
  ``SNR_ref = P beta_ref / sigma^2``, so ``sigma^2 = P beta_ref 10^(-SNR_ref/10)``
  (:func:`noise_var_from_reference_snr`);
* or a link budget in watts (:func:`channels.noise.noise_var_from_psd`).

:func:`check_received_snr` is the guard callers run on the gains they are about to use:
it warns (:class:`LowReceivedSNRWarning`) when even the best device is far below the
noise.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._checks import check_real

__all__ = [
    "LowReceivedSNRWarning",
    "check_received_snr",
    "noise_var_from_reference_snr",
    "received_snr_db",
]


class LowReceivedSNRWarning(UserWarning):
    """Every device's received SNR is below the threshold: the result is mostly noise."""


def noise_var_from_reference_snr(snr_db: float, reference_gain: float,
                                 power_w: float = 1.0) -> float:
    """Noise variance that gives SNR ``snr_db`` at the reference gain.

    .. math:: \\sigma^2 = P\\, \\beta_{ref}\\, 10^{-\\mathrm{SNR_{dB}}/10}

    Parameters
    ----------
    snr_db : float
        Received SNR ``P beta_ref / sigma^2`` in dB of a device at the reference.
    reference_gain : float > 0
        ``beta_ref``, e.g. ``model.reference_gain`` of a path-loss model (1 for gains
        normalized to ``E|g|^2 = 1``: then this is the transmit SNR).
    power_w : float > 0
        Transmit power ``P``.

    Examples
    --------
    >>> noise_var_from_reference_snr(20.0, 1e-10)
    1e-12
    """
    owner = "noise_var_from_reference_snr"
    snr_db = check_real("snr_db", snr_db, owner=owner)
    reference_gain = check_real("reference_gain", reference_gain, low=0.0, low_open=True,
                                owner=owner)
    power_w = check_real("power_w", power_w, low=0.0, low_open=True, owner=owner)
    return float(power_w * reference_gain * 10.0 ** (-snr_db / 10.0))


def received_snr_db(gain2, power, noise_var) -> np.ndarray:
    """Received SNR ``10 log10(P |h|^2 / sigma^2)`` per entry [dB].

    Parameters
    ----------
    gain2 : array_like, ``[..., K]``
        Channel power gains ``|h|^2`` (or ``||h||^2`` after combining).
    power : float or array broadcastable to ``gain2``
        Transmit power of each device.
    noise_var : float or array broadcastable to ``gain2``
        ``sigma^2``.

    Returns
    -------
    numpy.ndarray
        ``-inf`` where the gain or the power is 0.
    """
    g = np.asarray(gain2, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(g * np.asarray(power, dtype=np.float64)
                               / np.asarray(noise_var, dtype=np.float64))


def check_received_snr(gain2, power, noise_var, *, threshold_db: float = -10.0,
                       owner: str | None = None) -> float:
    """Warn when the received SNR of every device is below ``threshold_db``.

    Parameters
    ----------
    gain2, power, noise_var
        As :func:`received_snr_db`.
    threshold_db : float
        The warning fires when the largest received SNR over all entries (every
        realization, device, antenna or subcarrier) is below it.
    owner : str or None
        Named in the warning (e.g. the experiment or the channel model).

    Returns
    -------
    float
        The largest received SNR in dB.

    Warns
    -----
    LowReceivedSNRWarning
        With the largest and the median received SNR and the two remedies.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     best = check_received_snr([1e-12, 1e-11], 1.0, 0.1)
    >>> round(best), caught[0].category.__name__
    (-100, 'LowReceivedSNRWarning')
    """
    threshold_db = check_real("threshold_db", threshold_db, owner="check_received_snr")
    snr = received_snr_db(gain2, power, noise_var)
    best = float(np.max(snr))
    if best < threshold_db:
        where = f" in {owner}" if owner else ""
        warnings.warn(
            f"The received SNR{where} is below {threshold_db:g} dB for every device (best "
            f"{best:.1f} dB, median {float(np.median(snr)):.1f} dB): the result is mostly "
            "noise. With path loss in the gains, define the SNR at a reference gain "
            "(channels.received_snr.noise_var_from_reference_snr with the model's "
            "reference_gain) or use a link budget in watts "
            "(channels.noise.noise_var_from_psd).",
            LowReceivedSNRWarning,
            stacklevel=2,
        )
    return best
