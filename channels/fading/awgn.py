"""AWGN channel: every gain is one (no fading); large scale may still be added."""

from __future__ import annotations

import numpy as np

from ..base import ChannelModel
from ..registry import register_channel

__all__ = ["AWGNChannel"]


@register_channel("awgn", summary="No fading: h = 1 (times the large-scale amplitude, if any)",
                  tags={"randomized": False})
class AWGNChannel(ChannelModel):
    """No fading, ``g = 1`` for every antenna and device.

    .. math:: h_{m,k} = \\sqrt{\\beta_k}

    The small-scale part is deterministic (``is_random = False``); with a
    :class:`~channels.fading.LargeScale` the draw still depends on the seed.

    Parameters
    ----------
    large_scale : LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.
    """

    is_random = False

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        return np.ones(self.shape(batch, n_devices, n_rx_ant, n_rounds), dtype=self.dtype)
