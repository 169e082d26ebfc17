"""Channel models backed by NVIDIA Sionna (``sionna.phy``, TensorFlow line 1.2.x).

TensorFlow and Sionna are imported on the first draw, never at import time. Outputs are
converted to NumPy at the boundary.

Seeding: every draw takes a 31-bit TensorFlow seed from the ``rng`` argument, resets
Sionna's global generator ``sionna.phy.config.tf_rng`` from it for the duration of the
draw and then restores the generator's previous state, so the same ``rng`` gives the same
draw and the user's own Sionna random stream is left untouched. (Sionna's generator is
global, so concurrent draws from several threads of one process are not supported; the
toolkit's parallel runs use processes.)
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_real
from ..base import ChannelModel
from ..registry import register_channel

__all__ = ["Sionna3GPPChannel", "SionnaRayleighChannel", "SionnaTDLChannel", "sionna_seeded"]

TDL_MODELS = ("A", "B", "C", "D", "E", "A30", "B100", "C300")
_FIXED_DELAY_SPREAD = {"A30": 30e-9, "B100": 100e-9, "C300": 300e-9}
SCENARIOS = ("umi", "uma", "rma")


def _import_sionna():
    try:
        import sionna.phy  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The Sionna-backed channel models need TensorFlow and sionna-no-rt "
            "(pip install 'sionna-no-rt>=1.2.2,<2' 'tensorflow>=2.14,<2.20')."
        ) from err
    import sionna.phy

    return sionna.phy


@contextlib.contextmanager
def sionna_seeded(rng: np.random.Generator):
    """Run Sionna with its TF generator seeded from ``rng``; restore it afterwards.

    Parameters
    ----------
    rng : numpy.random.Generator
        One 31-bit integer is drawn from it as the TensorFlow seed.
    """
    phy = _import_sionna()
    seed = int(rng.integers(0, 2**31 - 1))
    gen = phy.config.tf_rng
    saved = gen.state.numpy().copy()
    gen.reset_from_seed(seed)
    try:
        yield seed
    finally:
        gen.reset(saved)


def _ofdm(a, tau, *, n_subcarriers: int | None, spacing_hz: float, normalize: bool,
          precision: str):
    """Per-subcarrier gains ``[..., T, F]`` (``F = 1`` at the carrier if no subcarriers)."""
    import tensorflow as tf
    from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies

    if n_subcarriers is None:
        freqs = tf.zeros([1], dtype=tf.float64 if precision == "double" else tf.float32)
    else:
        freqs = subcarrier_frequencies(n_subcarriers, spacing_hz, precision=precision)
    return cir_to_ofdm_channel(freqs, a, tau, normalize=normalize)


@register_channel("sionna-rayleigh", summary="Sionna RayleighBlockFading: CN(0,1) gains")
class SionnaRayleighChannel(ChannelModel):
    """Rayleigh block fading from Sionna's ``RayleighBlockFading``.

    .. math:: g \\sim \\mathcal{CN}(0, 1)

    The same law as ``"rayleigh"``, drawn by TensorFlow. Rounds are independent blocks
    (Sionna's block model repeats one coefficient over its time steps, so rounds are
    drawn as extra batch entries).

    Parameters
    ----------
    large_scale : LargeScale or None
        Drawn in NumPy from the same ``rng`` (independent child stream).
    precision : {"double", "single"}
    """

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        _import_sionna()
        from sionna.phy.channel import RayleighBlockFading

        r = n_rounds or 1
        block = RayleighBlockFading(num_rx=1, num_rx_ant=n_rx_ant, num_tx=n_devices,
                                    num_tx_ant=1, precision=self.precision)
        with sionna_seeded(rng):
            a, _ = block(batch * r, 1)
        # a: [B*R, 1, M, K, 1, 1, 1]
        return a.numpy().reshape(self.shape(batch, n_devices, n_rx_ant, n_rounds))

    def gain2_distribution(self):
        from scipy import stats  # lazy: keeps `import channels` light

        return stats.expon(scale=1.0)


@register_channel("sionna-tdl",
                  summary="Sionna 3GPP TDL (A-E) per-subcarrier gains [..., n_subcarriers]")
class SionnaTDLChannel(ChannelModel):
    """3GPP TR 38.901 tapped-delay-line model from Sionna, as per-subcarrier gains.

    .. math::
        g_{m,k}(f_n) = \\sum_{\\ell} a_{m,k,\\ell}\\, e^{-j 2\\pi f_n \\tau_\\ell},
        \\qquad f_n = (n - \\lfloor N/2 \\rfloor)\\,\\Delta f,

    via ``TDL`` + ``subcarrier_frequencies`` + ``cir_to_ofdm_channel``. Every device has
    an independent TDL link (devices are drawn as extra Sionna batch entries); the
    receive antennas of a link share its delays and Doppler but fade independently (no
    spatial correlation).

    Output shape: ``h`` is ``[batch, n_rx_ant, n_devices, n_subcarriers]`` (extra trailing
    axis ``"subcarrier"``), ``[batch, n_rounds, n_rx_ant, n_devices, n_subcarriers]`` with
    rounds; ``large_scale`` stays ``[batch, n_devices]``.

    Parameters
    ----------
    model : {"A", "B", "C", "D", "E", "A30", "B100", "C300"}
        TDL profile (D and E have a LoS tap).
    delay_spread_s : float > 0 or None
        RMS delay spread [s]; ``None``: 100 ns (A-E) or the profile's fixed value (A30:
        30 ns, B100: 100 ns, C300: 300 ns; another value is rejected for those).
    carrier_hz : float > 0
        Carrier frequency [Hz] (sets the Doppler shift).
    n_subcarriers : int >= 1
        Number of subcarriers ``N``.
    subcarrier_spacing_hz : float > 0
        ``Delta f`` [Hz].
    normalize : bool
        ``False``: the power-delay profile has unit total power, so ``E|g(f)|^2 = 1`` on
        every subcarrier in expectation. ``True``: Sionna's normalization, each
        realization scaled so that its mean ``|g|^2`` over antennas, rounds and subcarriers
        is exactly one, per device (then also ``E|g(f)|^2 = 1``).
    speed_mps : float >= 0
        Device speed [m/s]; with ``n_rounds`` the rounds are time samples ``round_s``
        apart of Sionna's sum-of-sinusoids process (0: static, all rounds identical).
    round_s : float > 0
        Time between rounds [s].
    large_scale : LargeScale or None
    precision : {"double", "single"}
    """

    extra_axes = ("subcarrier",)

    def __init__(self, *, model: str = "C", delay_spread_s: float | None = None,
                 carrier_hz: float = 3.5e9, n_subcarriers: int = 64,
                 subcarrier_spacing_hz: float = 30e3, normalize: bool = False,
                 speed_mps: float = 0.0, round_s: float = 1e-3, large_scale=None,
                 precision: str = "double") -> None:
        super().__init__(large_scale=large_scale, precision=precision)
        own = "sionna-tdl"
        self.model = check_choice("model", model, TDL_MODELS, owner=own)
        if model in _FIXED_DELAY_SPREAD:
            fixed = _FIXED_DELAY_SPREAD[model]
            if delay_spread_s is not None and delay_spread_s != fixed:
                raise ValueError(
                    f"The 'delay_spread_s' parameter of {own} must be None or {fixed:g} for "
                    f"model {model!r} (a fixed-spread profile); got {delay_spread_s!r}."
                )
            delay_spread_s = fixed
        elif delay_spread_s is None:
            delay_spread_s = 100e-9
        self.delay_spread_s = check_real("delay_spread_s", delay_spread_s, low=0.0,
                                         low_open=True, owner=own)
        self.carrier_hz = check_real("carrier_hz", carrier_hz, low=0.0, low_open=True,
                                     owner=own)
        self.n_subcarriers = check_int("n_subcarriers", n_subcarriers, low=1, owner=own)
        self.subcarrier_spacing_hz = check_real("subcarrier_spacing_hz", subcarrier_spacing_hz,
                                                low=0.0, low_open=True, owner=own)
        if not isinstance(normalize, bool):
            raise TypeError(
                f"The 'normalize' parameter of {own} must be a bool; got "
                f"{type(normalize).__name__} {normalize!r}."
            )
        self.normalize = normalize
        self.speed_mps = check_real("speed_mps", speed_mps, low=0.0, owner=own)
        self.round_s = check_real("round_s", round_s, low=0.0, low_open=True, owner=own)
        self.params = {
            "model": self.model, "delay_spread_s": self.delay_spread_s,
            "carrier_hz": self.carrier_hz, "n_subcarriers": self.n_subcarriers,
            "subcarrier_spacing_hz": self.subcarrier_spacing_hz, "normalize": self.normalize,
            "speed_mps": self.speed_mps, "round_s": self.round_s,
        }

    def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds) -> np.ndarray:
        _import_sionna()
        from sionna.phy.channel.tr38901 import TDL

        t = n_rounds or 1
        tdl = TDL(self.model, self.delay_spread_s, self.carrier_hz, min_speed=self.speed_mps,
                  max_speed=self.speed_mps, num_rx_ant=n_rx_ant, num_tx_ant=1,
                  precision=self.precision)
        with sionna_seeded(rng):
            a, tau = tdl(batch * n_devices, t, 1.0 / self.round_s)
            hf = _ofdm(a, tau, n_subcarriers=self.n_subcarriers,
                       spacing_hz=self.subcarrier_spacing_hz, normalize=self.normalize,
                       precision=self.precision)
        # hf: [B*K, 1, M, 1, 1, T, F] -> [B, K, M, T, F] -> [B, T, M, K, F]
        g = hf.numpy().reshape(batch, n_devices, n_rx_ant, t, self.n_subcarriers)
        g = g.transpose(0, 3, 2, 1, 4)
        return g if n_rounds is not None else g[:, 0]


@register_channel("sionna-3gpp",
                  summary="Sionna 3GPP UMi/UMa/RMa uplink, path loss + shadow fading on")
class Sionna3GPPChannel(ChannelModel):
    """3GPP TR 38.901 system-level channel (UMi / UMa / RMa) from Sionna, uplink.

    One single-sector topology per batch entry (``gen_single_sector_topology``: the base
    station at the origin, ``n_devices`` devices dropped in its sector), path loss and
    shadow fading ENABLED. The receiver is a uniform linear array of ``n_rx_ant``
    omnidirectional vertically polarized antennas; each device one such antenna.

    The split into large and small scale is the one Sionna applies:

    .. math::
        \\beta_k = 10^{-\\mathrm{PL}_k/10}\\, \\mathrm{SF}_k, \\qquad
        g_{m,k} = h_{m,k} / \\sqrt{\\beta_k},

    with ``PL_k`` the sampled path loss in dB (basic + O2I penetration) and ``SF_k`` the
    linear shadow fading. The gain is narrowband at the carrier
    (``h = sum over paths of a``) when ``n_subcarriers is None``, else per subcarrier with
    the extra trailing axis ``"subcarrier"`` as in ``"sionna-tdl"``.

    The small-scale power is *not* normalized (``mean_gain2 = None``). With Sionna's
    random device orientations (bearing, downtilt and slant uniform in +-90 degrees) the
    polarization mismatch between the rotated device antenna and the vertical receive
    antennas leaves ``E|g|^2`` near 0.55 (measured: UMi 0.548, UMa 0.559, RMa 0.551,
    +-0.007, 8000 links each at 3.5 GHz); with ``device_orientation="aligned"`` (zero
    device rotation) it is 0.986 +- 0.011 (UMi). Reading ``PL`` and ``SF`` uses two internals
    of ``sionna-no-rt`` 1.2.x (``_lsp_sampler.sample_pathloss`` and ``_lsp``); the tests
    check the split (``|g|^2`` uncorrelated with ``beta``).

    Parameters
    ----------
    scenario : {"umi", "uma", "rma"}
    carrier_hz : float > 0
        Carrier frequency [Hz].
    o2i_model : {"low", "high"}
        Outdoor-to-indoor loss model (UMi/UMa only; ignored by RMa).
    device_orientation : {"random", "aligned"}
        ``"random"``: Sionna's drop (random device orientations); ``"aligned"``: every
        device antenna unrotated (vertical, polarization-matched to the receiver).
    n_subcarriers : int >= 1 or None
    subcarrier_spacing_hz : float > 0
    round_s : float > 0
        Time between rounds [s] (Sionna moves devices at their drawn velocities).
    precision : {"double", "single"}
    """

    def __init__(self, *, scenario: str = "umi", carrier_hz: float = 3.5e9,
                 o2i_model: str = "low", device_orientation: str = "random",
                 n_subcarriers: int | None = None,
                 subcarrier_spacing_hz: float = 30e3, round_s: float = 1e-3,
                 precision: str = "double", large_scale=None) -> None:
        own = "sionna-3gpp"
        if large_scale is not None:
            raise ValueError(
                f"The 'large_scale' parameter of {own} must be None (the 3GPP scenario draws "
                f"its own path loss and shadowing); got {large_scale!r}."
            )
        super().__init__(precision=precision)
        self.scenario = check_choice("scenario", scenario, SCENARIOS, owner=own)
        self.carrier_hz = check_real("carrier_hz", carrier_hz, low=0.0, low_open=True,
                                     owner=own)
        self.o2i_model = check_choice("o2i_model", o2i_model, ("low", "high"), owner=own)
        self.device_orientation = check_choice("device_orientation", device_orientation,
                                               ("random", "aligned"), owner=own)
        self.n_subcarriers = (None if n_subcarriers is None
                              else check_int("n_subcarriers", n_subcarriers, low=1, owner=own))
        self.subcarrier_spacing_hz = check_real("subcarrier_spacing_hz", subcarrier_spacing_hz,
                                                low=0.0, low_open=True, owner=own)
        self.round_s = check_real("round_s", round_s, low=0.0, low_open=True, owner=own)
        self.extra_axes = () if self.n_subcarriers is None else ("subcarrier",)
        self.mean_gain2 = None
        self.params = {
            "scenario": self.scenario, "carrier_hz": self.carrier_hz,
            "o2i_model": self.o2i_model, "device_orientation": self.device_orientation,
            "n_subcarriers": self.n_subcarriers,
            "subcarrier_spacing_hz": self.subcarrier_spacing_hz, "round_s": self.round_s,
        }

    def _build(self, n_rx_ant: int):
        from sionna.phy.channel.tr38901 import PanelArray, RMa, UMa, UMi

        def array(n):
            return PanelArray(num_rows_per_panel=1, num_cols_per_panel=n,
                              polarization="single", polarization_type="V",
                              antenna_pattern="omni", carrier_frequency=self.carrier_hz,
                              precision=self.precision)

        common = dict(carrier_frequency=self.carrier_hz, ut_array=array(1),
                      bs_array=array(n_rx_ant), direction="uplink", enable_pathloss=True,
                      enable_shadow_fading=True, precision=self.precision)
        if self.scenario == "rma":
            return RMa(**common)
        cls = UMi if self.scenario == "umi" else UMa
        return cls(o2i_model=self.o2i_model, **common)

    def _draw_parts(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        _import_sionna()
        from sionna.phy.channel import gen_single_sector_topology

        t = n_rounds or 1
        with sionna_seeded(rng):
            model = self._build(n_rx_ant)
            recorded: dict[str, Any] = {}
            sample_pathloss = model._lsp_sampler.sample_pathloss

            def recording_pathloss():
                recorded["pl_db"] = sample_pathloss()
                return recorded["pl_db"]

            model._lsp_sampler.sample_pathloss = recording_pathloss
            topology = gen_single_sector_topology(batch, n_devices, self.scenario,
                                                  precision=self.precision)
            if self.device_orientation == "aligned":
                import tensorflow as tf

                topology = (*topology[:2], tf.zeros_like(topology[2]), *topology[3:])
            model.set_topology(*topology)
            a, tau = model(t, 1.0 / self.round_s)
            hf = _ofdm(a, tau, n_subcarriers=self.n_subcarriers,
                       spacing_hz=self.subcarrier_spacing_hz, normalize=False,
                       precision=self.precision)
        # Path loss [B, n_bs=1, K] dB and shadow fading [B, 1, K] linear (one BS).
        pl_db = recorded["pl_db"].numpy()[:, 0, :].astype(np.float64)
        sf = model._lsp.sf.numpy()[:, 0, :].astype(np.float64)
        beta = 10.0 ** (-pl_db / 10.0) * sf
        # hf: [B, 1, M, K, 1, T, F] -> [B, T, M, K, F]
        f = hf.shape[-1]
        h = hf.numpy()[:, 0, :, :, 0].transpose(0, 3, 1, 2, 4).reshape(
            batch, t, n_rx_ant, n_devices, f)
        g = h / np.sqrt(beta)[:, None, None, :, None]
        if self.n_subcarriers is None:
            g = g[..., 0]
        if n_rounds is None:
            g = g[:, 0]
        ut_loc = topology[0].numpy()
        info = {
            "distance_m": np.linalg.norm(ut_loc[..., :2], axis=-1),
            "pathloss_db": pl_db,
            "shadow_fading_db": 10.0 * np.log10(sf),
            "indoor": topology[5].numpy().astype(bool),
        }
        return beta, g, info
