"""Gauss-Markov (first-order autoregressive) Rayleigh fading across rounds."""

from __future__ import annotations

import numpy as np

from .._checks import check_real
from ..base import ChannelModel, complex_normal
from ..registry import register_channel

__all__ = ["GaussMarkovChannel", "jakes_rho"]


def jakes_rho(doppler_hz: float, round_s: float) -> float:
    """Correlation between rounds under Clarke/Jakes scattering, ``J0(2 pi f_D T)``.

    Parameters
    ----------
    doppler_hz : float >= 0
        Maximum Doppler frequency ``f_D`` [Hz] (speed / wavelength).
    round_s : float > 0
        Time between rounds ``T`` [s].
    """
    from scipy import special

    f_d = check_real("doppler_hz", doppler_hz, low=0.0, owner="jakes_rho")
    t = check_real("round_s", round_s, low=0.0, low_open=True, owner="jakes_rho")
    return float(special.j0(2 * np.pi * f_d * t))


@register_channel("gauss-markov",
                  summary="Rayleigh with AR(1) correlation across rounds, rho = J0(2 pi f_D T)",
                  tags={"time_correlated": True})
class GaussMarkovChannel(ChannelModel):
    """Time-correlated Rayleigh fading (Gauss-Markov / AR(1) across rounds).

    .. math::
        g_0 \\sim \\mathcal{CN}(0, 1), \\qquad
        g_t = \\rho\\, g_{t-1} + \\sqrt{1 - \\rho^2}\\, w_t, \\quad w_t \\sim \\mathcal{CN}(0, 1),

    a stationary process: every round is ``CN(0, 1)`` and ``E[g_t g_{t+l}^*] = rho^|l|``.
    ``rho = J0(2 pi f_D T)`` matches the lag-one correlation of Clarke's model (Jakes,
    *Microwave Mobile Communications*, 1974); the AR(1) process decays faster than J0 at
    longer lags.

    Parameters
    ----------
    rho : float in [-1, 1] or None
        Lag-one correlation, given directly.
    doppler_hz, round_s : float or None
        Alternative to ``rho``: ``rho = J0(2 pi doppler_hz round_s)``. Give either ``rho``
        or both of these.
    large_scale : LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.

    Notes
    -----
    Draw with ``n_rounds`` to get the round axis ``[batch, n_rounds, n_rx_ant, n_devices]``;
    without it a single round is returned (``CN(0, 1)``). The recursion is run along the
    round axis by ``scipy.signal.lfilter`` (vectorized over batch, antennas, devices).
    """

    def __init__(self, *, rho: float | None = None, doppler_hz: float | None = None,
                 round_s: float | None = None, large_scale=None,
                 precision: str = "double") -> None:
        super().__init__(large_scale=large_scale, precision=precision)
        own = "gauss-markov"
        if rho is not None:
            if doppler_hz is not None or round_s is not None:
                raise ValueError(
                    f"The 'rho' parameter of {own} must be None when doppler_hz/round_s are "
                    f"given (give one or the other); got rho={rho!r}."
                )
            self.rho = check_real("rho", rho, low=-1.0, high=1.0, owner=own)
        elif doppler_hz is None or round_s is None:
            raise ValueError(
                f"The 'doppler_hz' and 'round_s' parameters of {own} must both be given when "
                f"rho is None; got doppler_hz={doppler_hz!r}, round_s={round_s!r}."
            )
        else:
            self.rho = jakes_rho(doppler_hz, round_s)
        self.params = {"rho": self.rho}

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        shape = self.shape(batch, n_devices, n_rx_ant, n_rounds)
        w = complex_normal(shape, self.precision, rng=rng)
        if n_rounds is None or n_rounds == 1:
            return w
        from scipy import signal

        # x_0 = g_0, x_t = sqrt(1 - rho^2) w_t; y_t = x_t + rho y_{t-1} is the recursion.
        w[:, 1:] *= self.real_dtype(np.sqrt(1.0 - self.rho**2))
        return signal.lfilter([1.0], [1.0, -self.rho], w, axis=1).astype(self.dtype)

    def gain2_distribution(self):
        from scipy import stats  # lazy: keeps `import channels` light

        return stats.expon(scale=1.0)
