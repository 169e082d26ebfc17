"""Worked example: add your own channel model and prove it follows the contract.

Run it with ``python examples/my_channel.py``. It

1. writes a Weibull fading model (one class, one method that draws the small scale),
2. registers it under the name ``"weibull"`` with its tags (what it is: randomized, NumPy,
   no path loss, no extra axes, rounds independent), so ``make_channel("weibull", ...)``
   builds it and ``list_channels()`` lists it with its parameters,
3. draws from it, alone and with path loss + shadowing,
4. runs the conformance suite ``channels.testing.check_channel_model`` on it, which
   checks shapes, dtypes (single/double), determinism under a seed, the declared
   ``E|g|^2`` and a Kolmogorov-Smirnov test against the declared law of ``|g|^2``.

Weibull fading (Sagias & Karagiannidis, IEEE Trans. Inf. Theory 2005): ``|g|`` is
Weibull with shape ``beta``; then ``|g|^2`` is Weibull with shape ``beta / 2``, and
scale ``1 / Gamma(1 + 2/beta)`` gives ``E|g|^2 = 1``. ``beta = 2`` is Rayleigh.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from channels import (
    AnnulusDrop,
    ChannelModel,
    LargeScale,
    LogDistancePathLoss,
    list_channels,
    make_channel,
    register_channel,
)
from channels._checks import check_real
from channels.testing import check_channel_model


@register_channel("weibull", summary="Weibull fading, |g| ~ Weibull(shape), E|g|^2 = 1",
                  tags={"randomized": True, "backend": "numpy", "path_loss": False,
                        "extra_axes": (), "time_correlated": False},
                  overwrite=True)
class WeibullChannel(ChannelModel):
    """Weibull fading with uniform phase, normalized to ``E|g|^2 = 1``.

    Parameters
    ----------
    shape : float > 0
        Weibull shape of ``|g|`` (2: Rayleigh; larger: milder fading).
    large_scale : channels.LargeScale or None
        Drop, path loss and shadowing on top of the fading (None: gains of one).
    precision : {"double", "single"}
        complex128/float64 or complex64/float32 outputs.
    """

    def __init__(self, *, shape: float = 2.0, large_scale=None, precision="double"):
        # The base class validates precision and large_scale; validate your own parameters
        # at the boundary with the shared helpers (ValueError naming name/range/value).
        super().__init__(large_scale=large_scale, precision=precision)
        self.shape_param = check_real("shape", shape, low=0.0, low_open=True, owner="weibull")
        self.params = {"shape": self.shape_param}
        self.mean_gain2 = 1.0  # the promise the conformance suite checks

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        # One vectorized draw of the whole [batch, (rounds,) rx_ant, devices] array, from
        # the generator the base class hands over (never np.random.*).
        size = self.shape(batch, n_devices, n_rx_ant, n_rounds)
        power = self.gain2_distribution().rvs(size=size, random_state=rng)
        phase = rng.uniform(0.0, 2 * np.pi, size=size)
        return (np.sqrt(power) * np.exp(1j * phase)).astype(self.dtype)

    def gain2_distribution(self):
        c = self.shape_param / 2.0
        return stats.weibull_min(c, scale=1.0 / special.gamma(1.0 + 2.0 / self.shape_param))


def main() -> dict[str, float | str]:
    entry = next(e for e in list_channels() if e.name == "weibull")
    print(f"{entry.name}: {entry.summary}; parameters "
          f"{', '.join(str(p).split('  ')[0] for p in entry.parameters)}")
    model = make_channel("weibull", shape=3.0)
    draw = model.draw(batch=100_000, n_devices=4, rng=2026)
    mean_gain2 = float(draw.gain2.mean())
    print(f"{model!r}: E|h|^2 = {mean_gain2:.4f} over {draw.gain2.size} gains")

    # The same model on top of a drop in a 10-200 m annulus, d^-3.5 and 8 dB shadowing.
    ls = LargeScale(drop=AnnulusDrop(r_min_m=10.0, r_max_m=200.0),
                    path_loss=LogDistancePathLoss(exponent=3.5, ref_loss_db=30.0),
                    shadowing_db=8.0)
    far = make_channel("weibull", shape=3.0, large_scale=ls).draw(1000, 4, rng=1)
    median_db = float(np.median(10 * np.log10(far.large_scale)))
    print(f"with large scale: median beta = {median_db:.1f} dB, h shape {far.h.shape}")

    # Raises AssertionError (naming the failing check and numbers) if the model is wrong.
    check_channel_model("weibull", params={"shape": 3.0})
    check_channel_model(make_channel("weibull", shape=0.8, large_scale=ls))
    print("conformance suite: all checks passed")
    return {"name": model.name, "mean_gain2": mean_gain2, "median_large_scale_db": median_db}


if __name__ == "__main__":
    main()
