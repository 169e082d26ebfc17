"""Rician fading: a line-of-sight component plus Rayleigh scattering, E|g|^2 = 1."""

from __future__ import annotations

import numpy as np

from .._checks import check_real
from ..base import ChannelModel, complex_normal
from ..registry import register_channel

__all__ = ["RicianChannel"]


@register_channel("rician", summary="LoS + Rayleigh scattering with K-factor, E|h|^2 = 1")
class RicianChannel(ChannelModel):
    """Rician fading with K-factor ``K`` (linear), normalized to ``E|g|^2 = 1``.

    .. math::
        g = \\sqrt{\\tfrac{K}{K+1}}\\, e^{j\\theta} + \\sqrt{\\tfrac{1}{K+1}}\\, w,
        \\qquad w \\sim \\mathcal{CN}(0, 1),

    so ``2 (K+1) |g|^2`` is noncentral chi-square with 2 degrees of freedom and
    noncentrality ``2K`` (whatever ``theta``).

    Parameters
    ----------
    k_factor : float >= 0
        Ratio of LoS to scattered power (linear; 0 gives Rayleigh).
    los_phase : float or None
        ``None`` (default): ``theta`` uniform on ``[0, 2 pi)``, drawn independently per
        batch entry, antenna and device and kept fixed across rounds (the geometry does
        not change within a drop). A float fixes ``theta`` [rad] for every link.
    large_scale : LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.
    """

    def __init__(self, *, k_factor: float = 1.0, los_phase: float | None = None,
                 large_scale=None, precision: str = "double") -> None:
        super().__init__(large_scale=large_scale, precision=precision)
        self.k_factor = check_real("k_factor", k_factor, low=0.0, owner="rician")
        self.los_phase = (None if los_phase is None
                          else check_real("los_phase", los_phase, owner="rician"))
        self.params = {"k_factor": self.k_factor, "los_phase": self.los_phase}

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        rng_los, rng_w = rng.spawn(2)
        k = self.k_factor
        rdt = self.real_dtype
        shape = self.shape(batch, n_devices, n_rx_ant, n_rounds)
        w = complex_normal(shape, self.precision, rng=rng_w)
        if self.los_phase is None:
            theta = rng_los.uniform(0.0, 2 * np.pi, (batch, 1, n_rx_ant, n_devices))
            theta = theta if n_rounds is not None else theta[:, 0]
        else:
            theta = np.asarray(self.los_phase)
        los = (np.sqrt(k / (k + 1)) * np.exp(1j * theta)).astype(self.dtype)
        return los + rdt(np.sqrt(1.0 / (k + 1))) * w

    def gain2_distribution(self):
        from scipy import stats  # lazy: keeps `import channels` light

        k = self.k_factor
        scale = 1.0 / (2.0 * (k + 1.0))
        if k == 0:
            return stats.chi2(df=2, scale=scale)
        return stats.ncx2(df=2, nc=2.0 * k, scale=scale)
