"""The NumPy fading models and the large-scale piece, against closed forms.

Statistical checks use fixed seeds and state their tolerance as a number of standard
errors (SE) of the estimate; KS tests use alpha = 1e-3.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from channels import (
    CHANNEL_TAGS,
    CHANNELS,
    AnnulusDrop,
    ChannelDraw,
    LargeScale,
    LogDistancePathLoss,
    list_channels,
    make_channel,
    register_channel,
)
from channels.fading import RayleighChannel, exp_corr_matrix, jakes_rho, psd_sqrt

N = 200_000  # samples for moment checks: SE of a unit-variance mean is 2.2e-3


def _within(est, target, se, n_se=5.0):
    assert abs(est - target) <= n_se * se, f"{est} vs {target} (SE {se:.2g})"


# ----------------------------------------------------------------------------- rayleigh
def test_rayleigh_moments_and_independence():
    h = make_channel("rayleigh").draw(N // 4, 4, rng=1).h[:, 0]  # [N/4, 4]
    x = h.ravel()
    _within(np.mean(x.real**2), 0.5, np.std(x.real**2) / np.sqrt(x.size))
    _within(np.mean(x.imag**2), 0.5, np.std(x.imag**2) / np.sqrt(x.size))
    # Circular symmetry: E[h^2] = 0; devices independent: E[h_0 h_1^*] = 0.
    _within(abs(np.mean(x**2)), 0.0, 1.0 / np.sqrt(x.size))
    _within(abs(np.mean(h[:, 0] * h[:, 1].conj())), 0.0, 1.0 / np.sqrt(h.shape[0]))


def test_single_precision_is_drawn_in_single():
    d = make_channel("rayleigh", precision="single").draw(10, 3, rng=0)
    assert d.h.dtype == np.complex64 and d.large_scale.dtype == np.float32


# ------------------------------------------------------------------------------- rician
@pytest.mark.parametrize("k", [0.5, 5.0])
def test_rician_fixed_phase_mean_and_variance(k):
    theta = 0.7
    h = make_channel("rician", k_factor=k, los_phase=theta).draw(N, 1, rng=2).h.ravel()
    los = np.sqrt(k / (k + 1)) * np.exp(1j * theta)
    se = np.sqrt(1 / (k + 1) / N)
    _within(h.mean().real, los.real, se)
    _within(h.mean().imag, los.imag, se)
    var = np.abs(h - los) ** 2
    _within(var.mean(), 1 / (k + 1), var.std() / np.sqrt(N))


def test_rician_random_phase_is_zero_mean_with_noncentral_chi2_power():
    k = 4.0
    model = make_channel("rician", k_factor=k)
    h = model.draw(N, 1, rng=3).h.ravel()
    _within(abs(h.mean()), 0.0, 1.0 / np.sqrt(N))
    g2 = np.abs(h[:20_000]) ** 2
    assert stats.kstest(g2 * 2 * (k + 1), stats.ncx2(df=2, nc=2 * k).cdf).pvalue > 1e-3


def test_rician_los_phase_fixed_across_rounds_scatter_independent():
    k = 1e6  # nearly pure LoS: the rounds of a link share the phase
    h = make_channel("rician", k_factor=k).draw(50, 2, n_rounds=3, rng=4).h
    np.testing.assert_allclose(np.angle(h[:, 1] / h[:, 0]), 0.0, atol=1e-2)


# ----------------------------------------------------------------------------- nakagami
@pytest.mark.parametrize("m, omega", [(0.5, 1.0), (2.5, 3.0)])
def test_nakagami_power_moments(m, omega):
    g2 = make_channel("nakagami", m=m, omega=omega).gain2_distribution()
    x = np.abs(make_channel("nakagami", m=m, omega=omega).draw(N, 1, rng=5).h.ravel()) ** 2
    _within(x.mean(), omega, x.std() / np.sqrt(N))
    # E|g|^4 = Omega^2 (m + 1) / m for Gamma(m, Omega/m) power.
    _within(np.mean(x**2), omega**2 * (m + 1) / m, np.std(x**2) / np.sqrt(N))
    assert g2.mean() == pytest.approx(omega)


def test_nakagami_phase_uniform_and_m1_is_rayleigh():
    h = make_channel("nakagami", m=1.0).draw(20_000, 1, rng=6).h.ravel()
    phase = np.mod(np.angle(h), 2 * np.pi)
    assert stats.kstest(phase, stats.uniform(0, 2 * np.pi).cdf).pvalue > 1e-3
    ray = np.abs(make_channel("rayleigh").draw(20_000, 1, rng=7).h.ravel()) ** 2
    assert stats.ks_2samp(np.abs(h) ** 2, ray).pvalue > 1e-3


# -------------------------------------------------------------------------------- awgn
def test_awgn_is_one_and_carries_large_scale_exactly():
    d = make_channel("awgn").draw(3, 4, n_rx_ant=2, rng=0)
    assert np.array_equal(d.h, np.ones((3, 2, 4)))
    ls = LargeScale(drop=AnnulusDrop(r_min_m=1.0, r_max_m=10.0),
                    path_loss=LogDistancePathLoss(exponent=2.0))
    d = make_channel("awgn", large_scale=ls).draw(5, 3, rng=1)
    d_m = d.info["distance_m"]
    np.testing.assert_allclose(d.h[:, 0], 1.0 / d_m, rtol=1e-12)  # d^-alpha/2 amplitude


# ------------------------------------------------------------------------- large scale
def test_annulus_drop_is_uniform_in_area():
    r_min, r_max = 10.0, 100.0
    d = AnnulusDrop(r_min_m=r_min, r_max_m=r_max).distances(20_000, 1, rng=8)
    assert d.min() >= r_min and d.max() <= r_max
    cdf = lambda x: np.clip((x**2 - r_min**2) / (r_max**2 - r_min**2), 0, 1)  # noqa: E731
    assert stats.kstest(d.ravel(), cdf).pvalue > 1e-3
    # Uniform in radius would put the median at 55 m, uniform in area at 71.1 m.
    assert np.median(d) == pytest.approx(np.sqrt((r_min**2 + r_max**2) / 2), rel=0.01)


def test_log_distance_path_loss_closed_form():
    pl = LogDistancePathLoss(exponent=3.0, ref_distance_m=1.0, ref_loss_db=30.0)
    np.testing.assert_allclose(pl.loss_db(np.array([1.0, 10.0, 100.0])), [30.0, 60.0, 90.0])
    umi = LogDistancePathLoss(exponent=2.1, ref_loss_db=32.4 + 20 * np.log10(3.5))
    assert umi.loss_db(100.0) == pytest.approx(32.4 + 21 * 2 + 20 * np.log10(3.5))


def test_large_scale_gain_equals_path_loss_times_shadowing():
    ls = LargeScale(drop=AnnulusDrop(r_min_m=5.0, r_max_m=50.0),
                    path_loss=LogDistancePathLoss(exponent=3.5, ref_loss_db=20.0),
                    shadowing_db=6.0)
    d = make_channel("rayleigh", large_scale=ls).draw(20_000, 2, rng=9)
    pl = ls.path_loss.loss_db(d.info["distance_m"])
    np.testing.assert_allclose(10 * np.log10(d.large_scale), -pl + d.info["shadowing_db"],
                               rtol=0, atol=1e-9)
    s = d.info["shadowing_db"][:, 0]
    assert stats.kstest(s, stats.norm(scale=6.0).cdf).pvalue > 1e-3


def test_adding_large_scale_keeps_the_small_scale_realization():
    ls = LargeScale(shadowing_db=8.0)
    a = make_channel("rician", k_factor=2.0).draw(6, 3, n_rx_ant=2, rng=11)
    b = make_channel("rician", k_factor=2.0, large_scale=ls).draw(6, 3, n_rx_ant=2, rng=11)
    assert np.array_equal(a.small_scale, b.small_scale)
    assert not np.array_equal(a.h, b.h)


def test_large_scale_is_fixed_across_rounds():
    ls = LargeScale(shadowing_db=8.0)
    d = make_channel("awgn", large_scale=ls).draw(4, 3, n_rounds=5, rng=12)
    assert np.array_equal(d.h[:, 0], d.h[:, 4])


# ------------------------------------------------------------------------ gauss-markov
def test_gauss_markov_autocorrelation_is_rho_to_the_lag():
    rho = 0.8
    h = make_channel("gauss-markov", rho=rho).draw(50_000, 1, n_rounds=6, rng=13).h[:, :, 0, 0]
    for t in range(6):  # stationary: every round CN(0, 1)
        p = np.abs(h[:, t]) ** 2
        _within(p.mean(), 1.0, p.std() / np.sqrt(p.size))
    for lag in (1, 2, 3):
        c = h[:, 2 + lag] * h[:, 2].conj()
        _within(c.mean().real, rho**lag, np.std(c.real) / np.sqrt(c.size))
        _within(c.mean().imag, 0.0, np.std(c.imag) / np.sqrt(c.size))


def test_gauss_markov_extremes_and_jakes():
    same = make_channel("gauss-markov", rho=1.0).draw(5, 2, n_rounds=4, rng=0).h
    assert np.allclose(same, same[:, :1])
    assert jakes_rho(0.0, 1e-3) == 1.0
    first_zero = special.jn_zeros(0, 1)[0]  # 2.4048...
    assert jakes_rho(first_zero / (2 * np.pi), 1.0) == pytest.approx(0.0, abs=1e-12)
    m = make_channel("gauss-markov", doppler_hz=100.0, round_s=1e-3)
    assert m.rho == pytest.approx(special.j0(2 * np.pi * 0.1))


# ------------------------------------------------------------------- spatial correlation
def test_exp_corr_matrix_is_hermitian_toeplitz_like_sionna():
    r = 0.6 * np.exp(0.4j)
    R = exp_corr_matrix(r, 4)
    assert np.allclose(R, R.conj().T)
    assert R[2, 0] == pytest.approx(r**2) and R[0, 2] == pytest.approx(np.conj(r) ** 2)
    S = psd_sqrt(R)
    np.testing.assert_allclose(S @ S, R, atol=1e-12)


def test_correlated_rayleigh_covariances_match_kronecker():
    r = 0.7 * np.exp(0.5j)
    R_tx = exp_corr_matrix(0.4, 3)
    model = make_channel("correlated-rayleigh", rx_corr=r, tx_corr=R_tx)
    h = model.draw(60_000, 3, n_rx_ant=4, rng=14).h  # [B, M, K]
    R_rx_hat = np.einsum("bmk,bnk->mn", h, h.conj()) / (h.shape[0] * 3)
    R_tx_hat = np.einsum("bmk,bml->kl", h, h.conj()) / (h.shape[0] * 4)
    # SE of a product of two unit-variance gains averaged over >= 180k terms: <= 2.4e-3.
    np.testing.assert_allclose(R_rx_hat, exp_corr_matrix(r, 4), atol=0.015)
    np.testing.assert_allclose(R_tx_hat, R_tx, atol=0.015)


def test_correlated_rayleigh_rejects_bad_matrices():
    with pytest.raises(ValueError, match=r"'rx_corr'.*\[n_rx_ant, n_rx_ant\] = \[3, 3\].*"
                                         r"got shape \(2, 2\)"):
        make_channel("correlated-rayleigh", rx_corr=np.eye(2)).draw(2, 2, n_rx_ant=3)
    with pytest.raises(ValueError, match="'rx_corr'.*positive semi-definite"):
        make_channel("correlated-rayleigh", rx_corr=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"'rx_corr'.*\|r\| <= 1.*got \(1\.5"):
        make_channel("correlated-rayleigh", rx_corr=1.5 + 0j)
    with pytest.raises(ValueError, match="'tx_corr'.*unit diagonal"):
        make_channel("correlated-rayleigh", tx_corr=2 * np.eye(2))


# ------------------------------------------------------------------------- ChannelDraw
def test_gain2_views():
    d = make_channel("rayleigh").draw(4, 3, n_rx_ant=2, rng=0)
    with pytest.raises(ValueError, match="n_rx_ant == 1; got n_rx_ant=2.*gain2_per_antenna"):
        _ = d.gain2
    np.testing.assert_allclose(d.gain2_sum, (np.abs(d.h) ** 2).sum(axis=1))
    d1 = make_channel("rayleigh").draw(4, 3, n_rounds=2, rng=0)
    assert d1.gain2.shape == (4, 2, 3) and d1.n_rounds == 2
    with pytest.raises(ValueError):
        d1.h[0, 0, 0, 0] = 0  # draws are read-only
    with pytest.raises(ValueError, match="'axes'"):
        ChannelDraw(h=np.ones((2, 1, 3)), small_scale=np.ones((2, 1, 3)),
                    large_scale=np.ones((2, 3)), axes=("batch", "device"))


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 3),
       rounds=st.one_of(st.none(), st.integers(1, 3)), kf=st.floats(0, 20),
       sh=st.floats(0, 12), seed=st.integers(0, 2**32 - 1))
def test_shapes_and_split_hold_for_all_sizes(batch, k, m, rounds, kf, sh, seed):
    ls = LargeScale(shadowing_db=sh)
    d = make_channel("rician", k_factor=kf, large_scale=ls).draw(
        batch, k, n_rx_ant=m, n_rounds=rounds, rng=seed)
    shape = (batch, m, k) if rounds is None else (batch, rounds, m, k)
    assert d.h.shape == shape and d.large_scale.shape == (batch, k)
    amp = np.sqrt(d.large_scale).reshape((batch,) + (1,) * (len(shape) - 2) + (k,))
    np.testing.assert_allclose(d.h, amp * d.small_scale, rtol=1e-12)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "name, params, exc, pattern",
    [
        ("rician", {"k_factor": -1.0}, ValueError,
         r"'k_factor' parameter of rician must be a finite real number in \[0, inf\); got -1"),
        ("rician", {"k_factor": float("nan")}, ValueError, r"'k_factor'.*got nan"),
        ("nakagami", {"m": 0.4}, ValueError, r"'m' parameter of nakagami .*\[0.5, inf\); got 0.4"),
        ("nakagami", {"omega": float("inf")}, ValueError, r"'omega'.*\(0, inf\); got inf"),
        ("gauss-markov", {"rho": 1.5}, ValueError, r"'rho'.*\[-1, 1\]; got 1.5"),
        ("gauss-markov", {}, ValueError, r"'doppler_hz' and 'round_s'.*got doppler_hz=None"),
        ("gauss-markov", {"rho": 0.5, "doppler_hz": 10.0}, ValueError, r"'rho'.*must be None"),
        ("rayleigh", {"precision": "half"}, ValueError,
         r"'precision'.*'single', 'double'; got 'half'"),
        ("rayleigh", {"large_scale": 3.0}, TypeError, r"'large_scale'.*LargeScale; got float"),
        ("rician", {"k_factor": "3"}, TypeError, r"'k_factor'.*got str"),
    ],
)
def test_bad_parameters_name_parameter_range_and_value(name, params, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make_channel(name, **params)


def test_bad_large_scale_pieces():
    with pytest.raises(ValueError, match=r"'shadowing_db'.*\[0, inf\); got -1"):
        LargeScale(shadowing_db=-1.0)
    with pytest.raises(ValueError, match=r"'r_max_m'.*\(10, inf\); got 5"):
        AnnulusDrop(r_min_m=10.0, r_max_m=5.0)
    with pytest.raises(ValueError, match="'drop'.*path_loss.*got None"):
        LargeScale(path_loss=LogDistancePathLoss())
    with pytest.raises(ValueError, match=r"'drop'.*r_min_m >= .* 10 m.*got r_min_m = 1 m"):
        LargeScale(drop=AnnulusDrop(r_min_m=1.0, r_max_m=50.0),
                   path_loss=LogDistancePathLoss(ref_distance_m=10.0))
    with pytest.raises(ValueError, match=r"'exponent'.*got nan"):
        LogDistancePathLoss(exponent=float("nan"))


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"Unknown channel model 'rayleig'.*Did you mean "
                                         r"'rayleigh'"):
        make_channel("rayleig")


def test_bad_draw_sizes():
    model = make_channel("rayleigh")
    with pytest.raises(ValueError, match=r"'n_devices' parameter of RayleighChannel.draw must "
                                         r"be an int in \[1, inf\); got 0"):
        model.draw(3, 0)
    with pytest.raises(TypeError, match=r"'batch'.*got float 2.5"):
        model.draw(2.5, 3)


def test_importing_channels_does_not_import_tensorflow():
    code = ("import sys, channels, channels.testing; channels.list_channels(); "
            "channels.make_channel('sionna-tdl'); "
            "assert 'tensorflow' not in sys.modules and 'aircomp_agc' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registered_builtin_names():
    names = [e.name for e in list_channels()]
    assert names == sorted(names)
    assert {"awgn", "rayleigh", "rician", "nakagami", "gauss-markov", "correlated-rayleigh",
            "sionna-rayleigh", "sionna-tdl", "sionna-3gpp"} <= set(names)


def test_entries_carry_tags_and_parameters():
    entries = {e.name: e for e in list_channels()}
    assert set(CHANNEL_TAGS) == {"randomized", "backend", "path_loss", "extra_axes",
                                 "time_correlated"}
    for entry in entries.values():
        assert set(entry.tags) == set(CHANNEL_TAGS), entry.name
        assert entry.summary, entry.name
    assert entries["awgn"].tags["randomized"] is False
    assert entries["rayleigh"].tags["randomized"] is True
    assert entries["gauss-markov"].tags["time_correlated"] is True
    assert not entries["rician"].tags["time_correlated"]
    for name in ("awgn", "rayleigh", "rician", "nakagami", "gauss-markov",
                 "correlated-rayleigh"):
        assert entries[name].tags["backend"] == "numpy"
        assert entries[name].tags["path_loss"] is False
        assert entries[name].tags["extra_axes"] == ()
    params = {p.name: p for p in entries["rician"].parameters}
    assert list(params) == ["k_factor", "los_phase", "large_scale", "precision"]
    assert params["k_factor"].default == 1.0 and not params["k_factor"].required
    assert params["k_factor"].doc.startswith("Ratio of LoS to scattered power")
    # The tags agree with what the built models do.
    assert make_channel("awgn").is_random is False


def test_sionna_models_are_tagged_sionna():
    # Set where the Sionna models are registered (channels/fading/sionna_models.py).
    entries = {e.name: e for e in list_channels()}
    for name in ("sionna-rayleigh", "sionna-tdl", "sionna-3gpp"):
        assert entries[name].tags["backend"] == "sionna", name
    assert entries["sionna-tdl"].tags["extra_axes"] == ("subcarrier",)
    assert entries["sionna-3gpp"].tags["path_loss"] is True


def test_make_channel_checks_parameter_names_and_sets_the_name():
    with pytest.raises(ValueError, match="channel model 'rician' has no parameter 'k_factr'; "
                                         "accepted: k_factor, los_phase, large_scale, "
                                         "precision. Did you mean 'k_factor'"):
        make_channel("rician", k_factr=3.0)
    with pytest.raises(ValueError, match="'nakagami' has no parameter 'rng'"):
        make_channel("nakagami", rng=0)
    model = make_channel("rician", k_factor=3.0)
    assert model.name == "rician"
    # Registration does not touch the class: instances built directly have no name.
    from channels.fading import RicianChannel

    assert RicianChannel.name == "" and RicianChannel(k_factor=1.0).name == ""
    ref = make_channel("channels.fading.rician:RicianChannel", k_factor=2.0)
    assert isinstance(ref, RicianChannel) and ref.name == "channels.fading.rician:RicianChannel"
    assert "channels.fading.rician:RicianChannel" not in CHANNELS
    with pytest.raises(ValueError, match="has no parameter 'm'"):
        make_channel("channels.fading.rician:RicianChannel", m=2.0)


def test_register_channel_tags_and_temporary_registration():
    class Mine(RayleighChannel):
        pass

    with pytest.raises(ValueError, match=r"Unknown tag\(s\) \['family'\]"):
        register_channel("mine", tags={"family": "x"})(Mine)
    assert "mine" not in CHANNELS
    with CHANNELS.temporary("mine", Mine, tags={"time_correlated": True}):
        assert CHANNELS.tags("mine")["time_correlated"] is True
        assert make_channel("mine").name == "mine"
    assert "mine" not in CHANNELS and Mine.name == ""


def test_registries_leave_sys_path_alone():
    import sys

    before = list(sys.path)
    list_channels()
    make_channel("channels.fading.rayleigh:RayleighChannel")
    with pytest.raises(ValueError, match="Cannot import the module 'no_such_pkg.models'"):
        make_channel("no_such_pkg.models:Thing")
    assert sys.path == before


def test_large_scale_draw_takes_rng_last():
    ls = LargeScale(drop=AnnulusDrop(r_min_m=5.0, r_max_m=50.0), shadowing_db=4.0)
    beta, info = ls.draw(3, 4, rng=5)
    beta2, _ = ls.draw(3, 4, rng=np.random.default_rng(5))
    assert beta.shape == (3, 4) and set(info) == {"distance_m", "shadowing_db"}
    np.testing.assert_array_equal(beta, beta2)
    with pytest.raises(TypeError):
        ls.draw(np.random.default_rng(0), 3, 4)  # the old order fails loudly


def test_sionna_draw_keeps_tensorflow_start_up_logs_off_the_terminal():
    # The first draw of a Sionna model imports TensorFlow through channels._tf: none of
    # TensorFlow's native start-up lines reach the (captured) stderr of a fresh process.
    code = ("from channels import make_channel; "
            "make_channel('sionna-rayleigh').draw(2, 3, rng=0); print('drawn')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in __import__("os").environ.items()
                                          if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert out.stdout.strip() == "drawn"
    assert out.stderr == "", out.stderr
