"""Nakagami-m fading: Gamma-distributed power, uniform phase."""

from __future__ import annotations

import numpy as np

from .._checks import check_real
from ..base import ChannelModel
from ..registry import register_channel

__all__ = ["NakagamiChannel"]


@register_channel("nakagami", summary="Nakagami-m: |h|^2 ~ Gamma(m, Omega/m), uniform phase")
class NakagamiChannel(ChannelModel):
    """Nakagami-``m`` fading with spread ``Omega = E|g|^2``.

    .. math::
        |g|^2 \\sim \\Gamma(m, \\Omega/m), \\qquad \\arg g \\sim U[0, 2\\pi),

    drawn as ``g = sqrt(G) e^{j phi}`` from Gamma draws (Nakagami, "The m-distribution",
    1960). ``m = 1`` is Rayleigh; ``m -> inf`` tends to no fading.

    Parameters
    ----------
    m : float >= 0.5
        Shape (fading figure).
    omega : float > 0
        Mean power ``E|g|^2`` (this is the model's ``mean_gain2``).
    large_scale : LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.
    """

    def __init__(self, *, m: float = 1.0, omega: float = 1.0, large_scale=None,
                 precision: str = "double") -> None:
        super().__init__(large_scale=large_scale, precision=precision)
        self.m = check_real("m", m, low=0.5, owner="nakagami")
        self.omega = check_real("omega", omega, low=0.0, low_open=True, owner="nakagami")
        self.mean_gain2 = self.omega
        self.params = {"m": self.m, "omega": self.omega}

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        rng_amp, rng_phase = rng.spawn(2)
        shape = self.shape(batch, n_devices, n_rx_ant, n_rounds)
        rdt = self.real_dtype
        power = rng_amp.gamma(self.m, self.omega / self.m, size=shape).astype(rdt)
        phase = rng_phase.random(shape, dtype=rdt) * rdt(2 * np.pi)
        return (np.sqrt(power) * np.exp(1j * phase)).astype(self.dtype)

    def gain2_distribution(self):
        from scipy import stats  # lazy: keeps `import channels` light

        return stats.gamma(a=self.m, scale=self.omega / self.m)
