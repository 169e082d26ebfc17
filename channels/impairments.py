"""Transmitter-side impairments of over-the-air computation: imperfect CSI and phase errors.

Imperfect CSI
    The devices (and the power control) know only an estimate ``hhat``; the true channel is

    .. math:: h = \\hat h + e, \\qquad e \\sim \\mathcal{CN}(0, \\sigma_e^2),

    with ``e`` independent of ``hhat`` (the MMSE-error model: the error is orthogonal to the
    estimate). :func:`true_channel_from_estimate` draws ``h`` given ``hhat``;
    :func:`lmmse_estimate` goes the other way (from a true Gaussian channel, observe one
    pilot in noise and return the LMMSE estimate, whose error obeys the model above exactly).

Phase misalignment
    Synchronization leaves each device a residual phase
    ``phi_k ~ U[-phi_max, phi_max]`` (independent across devices and rounds, constant over
    one round's vector). Its moments enter the MSE in closed form
    (:func:`phase_moments`):

    .. math::

        \\mathbb E[\\cos\\phi] = \\frac{\\sin\\phi_{\\max}}{\\phi_{\\max}}, \\qquad
        \\mathbb E[\\cos^2\\phi] = \\frac12 + \\frac{\\sin 2\\phi_{\\max}}{4\\phi_{\\max}}.

The resulting MSE terms are derived in :mod:`channels.aircomp`.
"""

from __future__ import annotations

import numpy as np

from ._checks import RngLike, check_real, resolve_rng
from .base import complex_normal

__all__ = [
    "draw_phase_offsets",
    "lmmse_estimate",
    "phase_moments",
    "true_channel_from_estimate",
]


_COMPLEX = {"single": np.complex64, "double": np.complex128}


def _precision(arr: np.ndarray) -> str:
    """``"single"`` for complex64/float32 input, else ``"double"``."""
    return "single" if arr.dtype in (np.complex64, np.float32) else "double"


def _check_complex_array(name: str, value, owner: str) -> np.ndarray:
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.complexfloating) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a complex (or real) float array; "
            f"got dtype {arr.dtype}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The '{name}' parameter of {owner} must be finite; got NaN or inf.")
    return arr


def true_channel_from_estimate(
    h_hat: np.ndarray, error_var: float, *, rng: RngLike = None
) -> np.ndarray:
    """Draw the true channel ``h = hhat + e`` around an estimate, ``e ~ CN(0, sigma_e^2)``.

    Parameters
    ----------
    h_hat : array, complex, any shape (e.g. ``[batch, K]`` or ``[batch, n_rx_ant, K]``)
        Channel estimate known to the transmitters.
    error_var : float
        ``sigma_e^2 = E|e|^2 >= 0`` per entry.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    numpy.ndarray, complex, same shape (and precision) as ``h_hat``
    """
    owner = "true_channel_from_estimate"
    h_hat = _check_complex_array("h_hat", h_hat, owner)
    error_var = check_real("error_var", error_var, low=0.0, owner=owner)
    precision = _precision(h_hat)
    if error_var == 0.0:
        return h_hat.astype(_COMPLEX[precision], copy=True)
    return h_hat + complex_normal(h_hat.shape, precision, var=error_var, rng=rng)


def lmmse_estimate(
    h: np.ndarray,
    pilot_noise_var: float,
    *,
    prior_var: float = 1.0,
    rng: RngLike = None,
) -> tuple[np.ndarray, float]:
    """LMMSE channel estimate from one unit-power pilot observed in noise.

    Observation ``z = h + w``, ``w ~ CN(0, s^2)``; for ``h ~ CN(0, beta)``

    .. math::

        \\hat h = \\frac{\\beta}{\\beta + s^2} z, \\qquad
        \\sigma_e^2 = \\mathbb E|h - \\hat h|^2 = \\frac{\\beta s^2}{\\beta + s^2},

    and, the pair being jointly Gaussian, ``e = h - hhat`` is independent of ``hhat``: the
    model ``h = hhat + e`` of this module holds exactly (for non-Gaussian ``h`` it holds up to
    uncorrelatedness only).

    Parameters
    ----------
    h : array, complex, any shape
        True channel, entries ``CN(0, prior_var)``.
    pilot_noise_var : float
        ``s^2 > 0``, the estimation noise variance (inverse pilot SNR).
    prior_var : float, default 1.0
        ``beta = E|h|^2`` assumed by the estimator.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    h_hat : numpy.ndarray, complex, same shape as ``h``
    error_var : float
        ``sigma_e^2``, to pass on as ``csi_error_var``.
    """
    owner = "lmmse_estimate"
    h = _check_complex_array("h", h, owner)
    s2 = check_real("pilot_noise_var", pilot_noise_var, low=0.0, low_open=True, owner=owner)
    beta = check_real("prior_var", prior_var, low=0.0, low_open=True, owner=owner)
    precision = _precision(h)
    z = h + complex_normal(h.shape, precision, var=s2, rng=rng)
    gain = np.asarray(beta / (beta + s2), dtype=np.float32 if precision == "single" else float)
    return (gain * z).astype(_COMPLEX[precision]), beta * s2 / (beta + s2)


def draw_phase_offsets(
    shape: tuple[int, ...], phase_max: float, *, rng: RngLike = None
) -> np.ndarray:
    """Draw residual phases ``phi ~ U[-phi_max, phi_max]`` (radians).

    Parameters
    ----------
    shape : tuple of int
        Typically ``[batch, K]``: one phase per device and round.
    phase_max : float
        ``phi_max`` in radians, in ``[0, pi]``.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    numpy.ndarray, float64, ``shape``
    """
    phase_max = check_real("phase_max", phase_max, low=0.0, high=np.pi, owner="draw_phase_offsets")
    rng = resolve_rng(rng)
    if phase_max == 0.0:
        return np.zeros(shape)
    return rng.uniform(-phase_max, phase_max, size=shape)


def phase_moments(phase_max: float) -> tuple[float, float]:
    """Return ``(E cos phi, E cos^2 phi)`` for ``phi ~ U[-phi_max, phi_max]``.

    .. math::

        \\mathbb E[\\cos\\phi] = \\frac{\\sin\\phi_{\\max}}{\\phi_{\\max}}, \\qquad
        \\mathbb E[\\cos^2\\phi] = \\frac{1 + \\mathbb E[\\cos 2\\phi]}{2}
        = \\frac12 + \\frac{\\sin 2\\phi_{\\max}}{4\\phi_{\\max}},

    both equal to 1 at ``phi_max = 0``. ``E sin phi = E[sin phi cos phi] = 0`` by symmetry.
    """
    phase_max = check_real("phase_max", phase_max, low=0.0, high=np.pi, owner="phase_moments")
    if phase_max == 0.0:
        return 1.0, 1.0
    return (
        float(np.sin(phase_max) / phase_max),
        float(0.5 + np.sin(2.0 * phase_max) / (4.0 * phase_max)),
    )
