"""Rayleigh fading: i.i.d. ``CN(0, 1)`` gains."""

from __future__ import annotations

import numpy as np

from ..base import ChannelModel, complex_normal
from ..registry import register_channel

__all__ = ["RayleighChannel"]


@register_channel("rayleigh", summary="i.i.d. CN(0,1) gains (|h|^2 ~ Exp(1))")
class RayleighChannel(ChannelModel):
    """Rayleigh block fading, i.i.d. over batch, rounds, antennas and devices.

    .. math:: g \\sim \\mathcal{CN}(0, 1), \\qquad |g|^2 \\sim \\mathrm{Exp}(1).

    Parameters
    ----------
    large_scale : LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.

    Examples
    --------
    >>> from channels import make_channel
    >>> make_channel("rayleigh").draw(1000, 8, rng=1).gain2.shape
    (1000, 8)
    """

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        return complex_normal(self.shape(batch, n_devices, n_rx_ant, n_rounds),
                              self.precision, rng=rng)

    def gain2_distribution(self):
        from scipy import stats  # lazy: keeps `import channels` light

        return stats.expon(scale=1.0)
