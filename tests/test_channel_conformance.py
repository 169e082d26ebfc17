"""Every registered channel model passes the conformance suite; the suite catches bad models.

Sionna-backed models run in tests/test_sionna_models.py (marked ``sionna``); this file
checks that no registered model is left without a conformance run.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from channels import (
    CHANNELS,
    AnnulusDrop,
    ChannelDraw,
    ChannelModel,
    LargeScale,
    LogDistancePathLoss,
    complex_normal,
    list_channels,
    make_channel,
)
from channels.testing import (
    CheckOptions,
    channel_checks,
    check_channel_model,
    parametrize_with_checks,
)

_LS = LargeScale(drop=AnnulusDrop(r_min_m=10.0, r_max_m=100.0),
                 path_loss=LogDistancePathLoss(exponent=3.5, ref_loss_db=30.0), shadowing_db=8.0)

NUMPY_CASES = [
    ("awgn", {}),
    ("awgn", {"large_scale": _LS}),
    ("rayleigh", {}),
    ("rayleigh", {"large_scale": _LS, "precision": "single"}),
    ("rician", {"k_factor": 0.0}),
    ("rician", {"k_factor": 10.0, "los_phase": 0.3}),
    ("nakagami", {"m": 0.5, "omega": 2.0}),
    ("nakagami", {"m": 4.0}),
    ("gauss-markov", {"rho": 0.95}),
    ("gauss-markov", {"doppler_hz": 50.0, "round_s": 5e-3, "large_scale": _LS}),
    ("correlated-rayleigh", {"rx_corr": 0.8 * np.exp(1j)}),
    ("correlated-rayleigh", {"rx_corr": 0.5, "tx_corr": 0.9}),
]
# Cases run in tests/test_sionna_models.py.
SIONNA_NAMES = {"sionna-rayleigh", "sionna-tdl", "sionna-3gpp"}


@parametrize_with_checks(NUMPY_CASES)
def test_numpy_models_conform(model, check):
    check(model)


def test_every_registered_model_has_a_conformance_run():
    # Tests leave no registrations behind, so every registered model is a built-in one.
    covered = {name for name, _ in NUMPY_CASES} | SIONNA_NAMES
    registered = {e.name for e in list_channels()}
    assert registered <= covered, registered - covered


def test_worked_example_registers_and_conforms(capsys):
    path = Path(__file__).resolve().parents[1] / "examples" / "my_channel.py"
    try:
        ns = runpy.run_path(str(path), run_name="example")
        out = ns["main"]()
        assert "all checks passed" in capsys.readouterr().out
        assert abs(out["mean_gain2"] - 1.0) < 0.01  # 400k gains: SE about 1.6e-3
        entry = CHANNELS.entry("weibull")
        assert entry.tags["randomized"] and entry.tags["backend"] == "numpy"
        assert [p.name for p in entry.parameters] == ["shape", "large_scale", "precision"]
        assert out["name"] == "weibull"
    finally:
        CHANNELS.unregister("weibull")
    assert "weibull" not in CHANNELS


# ------------------------------------------------------------- the suite can fail
class _Base(ChannelModel):
    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        return complex_normal(self.shape(batch, n_devices, n_rx_ant, n_rounds),
                              self.precision, rng=rng)

    def gain2_distribution(self):
        return stats.expon()


class _WrongLaw(_Base):
    """Unit mean power, but |g|^2 ~ Gamma(2, 1/2) instead of the declared Exp(1)."""

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        shape = self.shape(batch, n_devices, n_rx_ant, n_rounds)
        p = rng.gamma(2.0, 0.5, size=shape)
        return np.sqrt(p) * np.exp(2j * np.pi * rng.random(shape))


class _WrongMean(_Base):
    def _small_scale(self, rng, **kw):
        return 1.05 * super()._small_scale(rng, **kw)


class _HiddenRng(_Base):
    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        return super()._small_scale(np.random.default_rng(), batch=batch, n_devices=n_devices,
                                    n_rx_ant=n_rx_ant, n_rounds=n_rounds)


class _IgnoresRng(_Base):
    def _small_scale(self, rng, **kw):
        return super()._small_scale(np.random.default_rng(0), **kw)


class _IgnoresPrecision(_Base):
    """Overrides draw() and always returns double precision."""

    def draw(self, *args, **kwargs):
        d = super().draw(*args, **kwargs)
        return ChannelDraw(h=d.h.astype(np.complex128),
                           small_scale=d.small_scale.astype(np.complex128),
                           large_scale=d.large_scale.astype(np.float64), axes=d.axes)


class _IgnoresRounds(_Base):
    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        return super()._small_scale(rng, batch=batch, n_devices=n_devices, n_rx_ant=n_rx_ant,
                                    n_rounds=None)


class _NegativeLargeScale(_Base):
    def _draw_parts(self, rng, **kw):
        beta, g, info = super()._draw_parts(rng, **kw)
        return -beta, g, info


class _NaN(_Base):
    def _small_scale(self, rng, **kw):
        g = super()._small_scale(rng, **kw)
        g[0] = np.nan
        return g


@pytest.mark.parametrize(
    "model, pattern",
    [
        (_WrongLaw(), r"KS test of \|g\|\^2 against expon: D = .*p = .* < alpha = 0.001"),
        (_WrongMean(), r"E\|g\|\^2 = 1\.0[6-9]\d* but mean_gain2 = 1 \(tolerance"),
        (_HiddenRng(), r"differs between two draws with the same seed"),
        (_IgnoresRng(), r"gave identical draws"),
        (_IgnoresRounds(), r"raised RuntimeError: _IgnoresRounds drew small-scale fading of shape"),
        (_NegativeLargeScale(), r"large_scale has negative values"),
        (_NaN(), r"non-finite"),
    ],
)
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_suite_rejects_broken_models(model, pattern):
    with pytest.raises(AssertionError, match=pattern):
        check_channel_model(model)


@pytest.mark.parametrize(
    "tags, pattern",
    [
        ({"randomized": False}, "tagged randomized=False but is_random=True"),
        ({"path_loss": True}, "tagged path_loss=True but its own large_scale is all ones"),
    ],
)
def test_suite_rejects_tags_that_disagree_with_the_model(tags, pattern):
    with CHANNELS.temporary("mistagged", _Base, tags=tags):
        with pytest.raises(AssertionError, match=pattern):
            check_channel_model("mistagged")
    assert "mistagged" not in CHANNELS


def test_suite_rejects_wrong_dtype():
    with pytest.raises(AssertionError, match="precision='single' promises complex64"):
        channel_checks()[0](_IgnoresPrecision(precision="single"))


def test_suite_rejects_params_with_an_instance_and_non_models():
    with pytest.raises(ValueError, match="'params'"):
        check_channel_model(make_channel("rayleigh"), params={"k_factor": 1.0})
    with pytest.raises(TypeError, match="'model_or_name'"):
        check_channel_model(3)
    with CHANNELS.temporary("not-a-model", lambda: object()):
        with pytest.raises(TypeError, match="must return a ChannelModel"):
            make_channel("not-a-model")
    assert "not-a-model" not in CHANNELS


def test_options_override():
    check_channel_model("rayleigh", n_stat=5000, alpha=0.01)
    with pytest.raises(TypeError):
        check_channel_model("rayleigh", no_such_option=1)
    assert CheckOptions().alpha == 1e-3
