"""Sionna-backed channel models (TensorFlow): conformance, seeding, closed forms.

Kept small (batches of a few thousand links at most): the TensorFlow import costs about
7-9 s and one 3GPP system-level draw about 1.3 s on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from channels import make_channel
from channels.testing import CheckOptions, parametrize_with_checks

pytestmark = pytest.mark.sionna

OPTIONS = CheckOptions(batch=8, n_stat=2000)


@parametrize_with_checks(
    [
        "sionna-rayleigh",
        ("sionna-tdl", {"model": "D", "n_subcarriers": 16}),
        ("sionna-tdl", {"model": "A", "normalize": True, "n_subcarriers": 8,
                        "precision": "single"}),
        ("sionna-3gpp", {"scenario": "umi"}),
    ],
    options=OPTIONS,
)
def test_sionna_models_conform(model, check):
    check(model)


def test_seeding_is_reproducible_and_leaves_sionna_rng_alone():
    from sionna.phy import config

    model = make_channel("sionna-rayleigh")
    config.seed = 123
    expected = config.tf_rng.normal([3]).numpy()
    config.seed = 123
    a = model.draw(4, 3, rng=7).h
    after = config.tf_rng.normal([3]).numpy()  # the user's stream continues unchanged
    np.testing.assert_array_equal(after, expected)
    np.testing.assert_array_equal(a, model.draw(4, 3, rng=np.random.default_rng(7)).h)


def test_sionna_rayleigh_has_the_numpy_rayleigh_law():
    s = np.abs(make_channel("sionna-rayleigh").draw(4000, 2, rng=1).h.ravel()) ** 2
    n = np.abs(make_channel("rayleigh").draw(4000, 2, rng=2).h.ravel()) ** 2
    assert stats.ks_2samp(s, n).pvalue > 1e-3
    assert s.mean() == pytest.approx(1.0, abs=5 / np.sqrt(s.size))  # 5 SE


@pytest.mark.parametrize("profile", ["C", "D"])
def test_tdl_frequency_correlation_matches_power_delay_profile(profile):
    """E[g(f_a) g(f_b)^*] = sum_l P_l exp(-j 2 pi (f_a - f_b) tau_l), P the 3GPP PDP."""
    from sionna.phy.channel.tr38901 import TDL

    spacing, n_sc, ds = 120e3, 32, 300e-9
    model = make_channel("sionna-tdl", model=profile, delay_spread_s=ds, n_subcarriers=n_sc,
                         subcarrier_spacing_hz=spacing)
    g = model.draw(1000, 4, rng=3).h[:, 0].reshape(-1, n_sc)  # 4000 links x subcarriers
    tdl = TDL(profile, ds, 3.5e9, precision="double")
    p, tau = tdl.mean_powers.numpy(), tdl.delays.numpy()
    lags = np.array([0, 1, 4, 16])
    expected = (p[None, :] * np.exp(-2j * np.pi * lags[:, None] * spacing * tau[None, :])).sum(1)
    for lag, want in zip(lags, expected, strict=True):
        prod = g[:, lag:] * g[:, : n_sc - lag].conj()
        per_link = prod.mean(axis=1)  # links are independent: SE from their spread
        se = np.abs(per_link - per_link.mean()).std() / np.sqrt(per_link.size)
        assert abs(per_link.mean() - want) <= 5 * se + 0.01, (lag, per_link.mean(), want)


def test_tdl_normalize_gives_unit_energy_per_device():
    model = make_channel("sionna-tdl", model="B", normalize=True, n_subcarriers=12)
    h = model.draw(6, 3, n_rx_ant=2, rng=4).h  # [B, M, K, F]
    np.testing.assert_allclose((np.abs(h) ** 2).mean(axis=(1, 3)), 1.0, rtol=1e-9)


def test_tdl_round_correlation_matches_clarke():
    """Moving devices: lag-one round correlation ~ J0(2 pi f_D T) (Sionna's sum of sinusoids)."""
    fc, v = 3.5e9, 30.0
    f_d = v * fc / 299_792_458.0
    round_s = 0.1 / f_d  # f_D T = 0.1: J0(0.2 pi) = 0.904
    model = make_channel("sionna-tdl", model="A", n_subcarriers=1, speed_mps=v,
                         round_s=round_s, carrier_hz=fc)
    g = model.draw(1000, 4, n_rounds=2, rng=5).h[:, :, 0, :, 0]  # [B, 2, K]
    c = (g[:, 1] * g[:, 0].conj()).ravel()
    se = np.std(c.real) / np.sqrt(c.size)
    assert abs(c.mean().real - special.j0(2 * np.pi * 0.1)) <= 5 * se + 0.02


def test_3gpp_split_matches_path_loss_and_shadowing():
    model = make_channel("sionna-3gpp", scenario="uma", n_subcarriers=4)
    d = model.draw(128, 4, rng=6)
    assert d.h.shape == (128, 1, 4, 4) and d.axes[-1] == "subcarrier"
    beta_db = 10 * np.log10(d.large_scale)
    np.testing.assert_allclose(beta_db, -d.info["pathloss_db"] + d.info["shadow_fading_db"],
                               atol=1e-9)
    assert -200 < beta_db.min() and beta_db.max() < -40  # sane macro-cell range at 3.5 GHz
    # If the split were wrong, small-scale power would track beta. Independence: the
    # correlation of log beta and |g|^2 has SE 1/sqrt(512) = 0.044; allow 4 SE.
    g2 = (np.abs(d.small_scale) ** 2).mean(axis=(1, 3)).ravel()
    r = np.corrcoef(beta_db.ravel(), g2)[0, 1]
    assert abs(r) < 0.18, r
    # Path loss grows with distance (log-distance law of TR 38.901).
    slope = np.polyfit(np.log10(d.info["distance_m"].ravel()), d.info["pathloss_db"].ravel(), 1)
    assert slope[0] > 15


def test_3gpp_aligned_devices_have_near_unit_small_scale_power():
    # Random device orientations cost about 2.6 dB of polarization mismatch (E|g|^2 near
    # 0.55); unrotated devices recover about 1. 1600 links: SE about 0.025; allow 4 SE.
    g2 = {o: (np.abs(make_channel("sionna-3gpp", device_orientation=o)
                     .draw(400, 4, rng=8).small_scale) ** 2).mean()
          for o in ("random", "aligned")}
    assert abs(g2["aligned"] - 1.0) < 0.1 and abs(g2["random"] - 0.55) < 0.1, g2


@pytest.mark.parametrize(
    "name, params, pattern",
    [
        ("sionna-tdl", {"model": "F"}, r"'model'.*'A', 'B'.*got 'F'"),
        ("sionna-tdl", {"model": "A30", "delay_spread_s": 50e-9}, r"'delay_spread_s'.*3e-08"),
        ("sionna-tdl", {"n_subcarriers": 0}, r"'n_subcarriers'.*\[1, inf\); got 0"),
        ("sionna-3gpp", {"scenario": "umx"}, r"'scenario'.*got 'umx'.*Did you mean"),
        ("sionna-3gpp", {"large_scale": object()}, r"'large_scale'.*must be None"),
        ("sionna-3gpp", {"carrier_hz": -1.0}, r"'carrier_hz'.*got -1"),
    ],
)
def test_bad_sionna_parameters(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_channel(name, **params)
