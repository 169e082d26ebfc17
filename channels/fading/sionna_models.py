"""Channel models backed by NVIDIA Sionna (``sionna.phy``, TensorFlow line 1.2.x).

TensorFlow and Sionna are imported on the first draw, never at import time, through
:mod:`channels._tf` (no TensorFlow/CUDA start-up lines on the terminal). Outputs are
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

from .._checks import RngLike, check_choice, check_int, check_real, resolve_rng
from .._tf import import_sionna, import_tensorflow
from ..base import ChannelModel
from ..registry import register_channel
from . import tr38901

__all__ = ["Sionna3GPPChannel", "SionnaRayleighChannel", "SionnaTDLChannel", "sionna_seeded"]

TDL_MODELS = ("A", "B", "C", "D", "E", "A30", "B100", "C300")
_FIXED_DELAY_SPREAD = {"A30": 30e-9, "B100": 100e-9, "C300": 300e-9}
SCENARIOS = ("umi", "uma", "rma")


@contextlib.contextmanager
def sionna_seeded(rng: np.random.Generator):
    """Run Sionna with its TF generator seeded from ``rng``; restore it afterwards.

    Parameters
    ----------
    rng : numpy.random.Generator
        One 31-bit integer is drawn from it as the TensorFlow seed.
    """
    phy = import_sionna()
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
    tf = import_tensorflow()
    from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies

    if n_subcarriers is None:
        freqs = tf.zeros([1], dtype=tf.float64 if precision == "double" else tf.float32)
    else:
        freqs = subcarrier_frequencies(n_subcarriers, spacing_hz, precision=precision)
    return cir_to_ofdm_channel(freqs, a, tau, normalize=normalize)


@register_channel("sionna-rayleigh", summary="Sionna RayleighBlockFading: CN(0,1) gains",
                  tags={"backend": "sionna"})
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
        import_sionna()
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
                  summary="Sionna 3GPP TDL (A-E) per-subcarrier gains [..., n_subcarriers]",
                  tags={"backend": "sionna", "extra_axes": ("subcarrier",),
                        "time_correlated": True})
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
        import_sionna()
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
                  summary="3GPP TR 38.901 UMi/UMa/RMa uplink: Sionna small scale, 38.901 "
                          "path loss (3D distance, O2I)",
                  tags={"backend": "sionna", "path_loss": True, "extra_axes": ("subcarrier",),
                        "time_correlated": True})
class Sionna3GPPChannel(ChannelModel):
    """3GPP TR 38.901 system-level channel (UMi street canyon / UMa / RMa), uplink.

    One single-sector drop per batch entry (Sionna's ``gen_single_sector_topology``: the
    base station at the origin, ``n_devices`` devices uniform in its sector beyond the
    minimum 2D distance, 10 m UMi, 35 m UMa and RMa). The small-scale fading and the
    shadow fading are Sionna's; the path loss is recomputed here from the drop with the
    formulas of TR 38.901 (:mod:`channels.fading.tr38901`):

    .. math::
        \\beta_k = 10^{-\\mathrm{PL}_k/10}\\, \\mathrm{SF}_k, \\qquad
        \\mathrm{PL}_k = \\mathrm{PL}_b(d_{2D}, d_{3D}, h_{UT}, \\text{LoS}_k)
        + \\mathbb 1_{\\text{indoor}}\\,(\\mathrm{PL}_{tw} + 0.5\\, d_{2D\\text{-in}}
        + \\mathcal N(0, \\sigma_P^2)),

    ``PL_b`` from Table 7.4.1-1 at the 3D distance
    ``d_3D = sqrt(d_2D^2 + (h_BS - h_UT)^2)`` (breakpoints with the effective heights),
    the O2I building penetration of Clause 7.4.3.1 (low- or high-loss model), ``SF_k``
    Sionna's log-normal shadow fading (σ_SF of the device's state, Table 7.4.1-1 and the
    O2I value of Table 7.5-6). ``g_{m,k}`` is Sionna's channel with path loss and
    shadowing disabled: narrowband at the carrier (``h = sum over paths of a``) when
    ``n_subcarriers is None``, else per subcarrier with the extra trailing axis
    ``"subcarrier"`` as in ``"sionna-tdl"``. The receiver is a uniform linear array of
    ``n_rx_ant`` omnidirectional vertically polarized antennas; each device one such
    antenna.

    What follows 38.901 (and where Sionna 1.2.2 alone does not):

    * the 3D distance in ``PL_b`` (Sionna's ``distance_3d`` returns the 2D distance,
      NVlabs/sionna#1100, so the nearest devices got 2.5 to 4.8 dB too little loss);
    * ``indoor_fraction`` of the devices indoors, default 0.8 (UMi, UMa; Table 7.2-1)
      and 0.5 (RMa; Table 7.2-3);
    * indoor devices on floor ``n_fl`` at ``h_UT = 3 (n_fl - 1) + 1.5`` m,
      ``n_fl ~ U{1..N_fl}``, ``N_fl ~ U{4..8}`` (UMi, UMa; Table 7.2-1), outdoor and
      RMa devices at 1.5 m (``indoor_floors=False``: all at 1.5 m, Sionna's default);
    * the indoor distance ``d_2D-in`` = minimum of two uniforms on ``[0, 25]`` m (UMi,
      UMa) or ``[0, 10]`` m (RMa), per device (Sionna: one uniform);
    * the LoS state of an indoor device drawn from the LoS probability of Table 7.4.2-1
      at ``d_2D-out = d_2D - d_2D-in`` and its ``PL_b`` evaluated for that state
      (Sionna forces indoor devices to NLoS, i.e. ``max(PL_LOS, PL'_NLOS)``); outdoor
      devices keep Sionna's LoS state, drawn from the same probabilities;
    * UMa's effective environment height ``h_E``: 1 m with probability
      ``1/(1 + C(d_2D, h_UT))``, else uniform on ``{12, 15, ..., h_UT - 1.5}`` (Sionna: a
      continuous uniform); ``c = 3.0e8`` m/s in the breakpoint distances;
    * only the low-loss O2I model in RMa (``o2i_model="high"`` is refused there).

    Remaining deviations from 38.901 (documented, not corrected):

    * small scale of indoor devices: Sionna draws it from the O2I parameters without a
      LoS ray, whatever LoS state their path loss uses; Sionna's LoS ray phase uses the
      2D distance (a constant phase per link, no effect on ``|g|``);
    * shadow fading: Sionna's, by the device's Sionna state (LoS / NLoS / O2I) and
      correlated with Sionna's other large-scale parameters; it is not redrawn for the
      LoS state of an indoor device's path loss;
    * one isolated sector: no neighbouring cells, no wrap-around, omnidirectional base-
      station antennas (no 3GPP sector pattern or antenna gain), no in-car devices
      (Clause 7.4.3.2), the O2I random part ``N(0, sigma_P^2)`` and ``d_2D-in`` drawn
      independently per device (no spatial consistency), no blockage or oxygen loss;
    * device velocities are Sionna's scenario defaults (0 m/s), so rounds differ only
      through Sionna's time evolution of a static device.

    Reading the shadow fading and the LoS state uses two internals of ``sionna-no-rt``
    1.2.x (``SystemLevelChannel._lsp.sf`` and ``_scenario.los``); the tests check them.

    The small-scale power is *not* normalized (``mean_gain2 = None``). With Sionna's
    random device orientations (bearing, downtilt and slant uniform in +-90 degrees) the
    polarization mismatch between the rotated device antenna and the vertical receive
    antennas leaves ``E|g|^2`` near 0.55 (measured: UMi 0.548, UMa 0.559, RMa 0.551,
    +-0.007, 8000 links each at 3.5 GHz); with ``device_orientation="aligned"`` (zero
    device rotation) it is 0.986 +- 0.011 (UMi).

    SNR: the gains include path loss (``|h|^2`` of 1e-6 to 1e-17), so a transmit SNR
    ``P / sigma^2`` near 10 dB leaves every device far below the noise. Define the SNR
    at a reference instead: :attr:`reference_gain` is the large-scale gain whose dB
    value is the mean over the device population at ``reference_distance_m`` (default
    the cell edge, half the inter-site distance: 100 m UMi, 250 m UMa, 2500 m RMa), and

    .. math:: \\mathrm{SNR}_{ref} = P\\, \\beta_{ref} / \\sigma^2,

    i.e. ``noise_var = channels.received_snr.noise_var_from_reference_snr(snr_db,
    model.reference_gain, power)``; or use a link budget in watts
    (``channels.noise.noise_var_from_psd``). :func:`channels.received_snr.check_received_snr`
    warns when no device reaches a useful received SNR.

    ``info`` of a draw (all ``[batch, n_devices]``): ``distance_2d_m`` (horizontal),
    ``distance_3d_m``, ``ut_height_m``, ``indoor`` (bool), ``indoor_distance_m``
    (``d_2D-in``, 0 outdoors), ``los`` (the state of the path loss), ``pathloss_db``
    (``PL_k``), ``shadow_fading_db``.

    Parameters
    ----------
    scenario : {"umi", "uma", "rma"}
    carrier_hz : float
        Carrier frequency [Hz], 0.5 to 100 GHz (RMa: to 30 GHz).
    indoor_fraction : float in [0, 1] or None
        Fraction of indoor devices (``None``: 0.8 UMi/UMa, 0.5 RMa).
    o2i_model : {"low", "high"}
        Building-penetration model of indoor devices (RMa: "low" only).
    indoor_floors : bool or None
        Indoor devices on floors per Table 7.2-1 (``None``: true for UMi/UMa; RMa: only
        false, its devices are at 1.5 m).
    reference_distance_m : float > 0 or None
        Distance of :attr:`reference_gain` (``None``: half the inter-site distance).
    device_orientation : {"random", "aligned"}
        ``"random"``: Sionna's drop (random device orientations); ``"aligned"``: every
        device antenna unrotated (vertical, polarization-matched to the receiver).
    n_subcarriers : int >= 1 or None
    subcarrier_spacing_hz : float > 0
    round_s : float > 0
        Time between rounds [s].
    precision : {"double", "single"}
    """

    def __init__(self, *, scenario: str = "umi", carrier_hz: float = 3.5e9,
                 indoor_fraction: float | None = None, o2i_model: str = "low",
                 indoor_floors: bool | None = None, reference_distance_m: float | None = None,
                 device_orientation: str = "random", n_subcarriers: int | None = None,
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
        sc = tr38901.SCENARIOS[self.scenario]
        f_max = 30e9 if self.scenario == "rma" else 100e9
        self.carrier_hz = check_real("carrier_hz", carrier_hz, low=0.5e9, high=f_max,
                                     owner=own)
        self.indoor_fraction = (sc.indoor_fraction if indoor_fraction is None else
                                check_real("indoor_fraction", indoor_fraction, low=0.0,
                                           high=1.0, owner=own))
        self.o2i_model = check_choice("o2i_model", o2i_model, ("low", "high"), owner=own)
        if self.o2i_model not in sc.o2i_models:
            raise ValueError(
                f"The 'o2i_model' parameter of {own} must be 'low' for scenario "
                f"{self.scenario!r} (TR 38.901 applies only the low-loss model there); "
                f"got {o2i_model!r}."
            )
        if indoor_floors is None:
            indoor_floors = sc.indoor_floors
        if not isinstance(indoor_floors, bool) or (indoor_floors and not sc.indoor_floors):
            raise ValueError(
                f"The 'indoor_floors' parameter of {own} must be None or a bool, and False "
                f"for scenario 'rma' (devices at 1.5 m); got {indoor_floors!r} for "
                f"scenario {self.scenario!r}."
            )
        self.indoor_floors = indoor_floors
        self.reference_distance_m = (
            sc.isd_m / 2.0 if reference_distance_m is None else
            check_real("reference_distance_m", reference_distance_m, low=0.0, low_open=True,
                       owner=own))
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
            "indoor_fraction": self.indoor_fraction, "o2i_model": self.o2i_model,
            "indoor_floors": self.indoor_floors,
            "reference_distance_m": self.reference_distance_m,
            "device_orientation": self.device_orientation,
            "n_subcarriers": self.n_subcarriers,
            "subcarrier_spacing_hz": self.subcarrier_spacing_hz, "round_s": self.round_s,
        }

    # -- the SNR reference -------------------------------------------------------------
    def mean_path_loss_db(self, distance_2d_m) -> np.ndarray:
        """Mean path loss [dB] of this model's devices at horizontal distance(s).

        The 38.901 expectation over the indoor state, floor, indoor distance, LoS state
        and ``h_E`` (:func:`channels.fading.tr38901.mean_path_loss_db`); shadow fading
        (zero mean in dB) excluded.
        """
        return tr38901.mean_path_loss_db(
            self.scenario, distance_2d_m, self.carrier_hz,
            indoor_fraction=self.indoor_fraction, o2i_model=self.o2i_model,
            indoor_floors=self.indoor_floors)

    @property
    def reference_gain(self) -> float:
        """Large-scale gain at the reference distance: ``10^(-mean PL_dB / 10)``.

        ``mean PL_dB`` is :meth:`mean_path_loss_db` at ``reference_distance_m`` (default
        the cell edge, half the inter-site distance), so ``P * reference_gain / sigma^2``
        is the SNR of a typical device there before shadowing and small-scale fading.
        """
        return float(10.0 ** (-self.mean_path_loss_db(self.reference_distance_m) / 10.0))

    # -- drawing -----------------------------------------------------------------------
    def _build(self, n_rx_ant: int):
        from sionna.phy.channel.tr38901 import PanelArray, RMa, UMa, UMi

        def array(n):
            return PanelArray(num_rows_per_panel=1, num_cols_per_panel=n,
                              polarization="single", polarization_type="V",
                              antenna_pattern="omni", carrier_frequency=self.carrier_hz,
                              precision=self.precision)

        # Path loss and shadowing are applied here, not by Sionna: its `h` is `g`.
        common = dict(carrier_frequency=self.carrier_hz, ut_array=array(1),
                      bs_array=array(n_rx_ant), direction="uplink", enable_pathloss=False,
                      enable_shadow_fading=False, precision=self.precision)
        if self.scenario == "rma":
            return RMa(**common)
        cls = UMi if self.scenario == "umi" else UMa
        return cls(o2i_model=self.o2i_model, **common)

    def _drop(self, rng_np, *, batch: int, n_devices: int, n_rx_ant: int):
        """Sionna model with its topology set, and the 38.901 large scale in NumPy."""
        tf = import_tensorflow()
        import_sionna()
        from sionna.phy.channel import gen_single_sector_topology

        shape = (batch, n_devices)
        model = self._build(n_rx_ant)
        ut_loc, bs_loc, ut_orient, bs_orient, ut_vel, in_state = gen_single_sector_topology(
            batch, n_devices, self.scenario, indoor_probability=self.indoor_fraction,
            precision=self.precision)
        indoor = in_state.numpy().astype(bool)
        # NumPy draws, all of them every time (a fixed order keeps draws reproducible).
        floors = tr38901.draw_indoor_height_m(shape, rng=rng_np)
        d_in = tr38901.draw_indoor_distance_m(
            shape, tr38901.SCENARIOS[self.scenario].max_d2d_in_m, rng=rng_np)
        u_los = rng_np.random(shape)
        o2i_normal = rng_np.standard_normal(shape)
        h_ut = np.where(indoor & self.indoor_floors, floors, ut_loc.numpy()[..., 2])
        ut_loc = tf.concat([ut_loc[..., :2], tf.constant(h_ut[..., None], ut_loc.dtype)],
                           axis=-1)
        if self.device_orientation == "aligned":
            ut_orient = tf.zeros_like(ut_orient)
        model.set_topology(ut_loc, bs_loc, ut_orient, bs_orient, ut_vel, in_state)

        xy = ut_loc.numpy()[..., :2].astype(np.float64) - bs_loc.numpy()[:, :, :2]
        d_2d = np.linalg.norm(xy, axis=-1)
        h_bs = bs_loc.numpy()[:, :, 2].astype(np.float64)  # [B, 1]
        d_in = np.where(indoor, d_in, 0.0)
        p_los_in = tr38901.los_probability(self.scenario, d_2d - d_in, h_ut)
        los = np.where(indoor, u_los < p_los_in, model._scenario.los.numpy()[:, 0, :])
        h_e = (tr38901.draw_effective_env_height_m(d_2d, h_ut, rng=rng_np)
               if self.scenario == "uma" else 1.0)
        pl_db = tr38901.basic_path_loss_db(self.scenario, d_2d, h_ut, self.carrier_hz, los,
                                           h_bs=h_bs, h_e=h_e)
        o2i = (tr38901.o2i_loss_db(self.o2i_model, self.carrier_hz, d_in)
               + tr38901.O2I_SIGMA_DB[self.o2i_model] * o2i_normal)
        pl_db = pl_db + np.where(indoor, o2i, 0.0)
        sf = model._lsp.sf.numpy()[:, 0, :].astype(np.float64)  # linear, [B, K]
        beta = 10.0 ** (-pl_db / 10.0) * sf
        info = {
            "distance_2d_m": d_2d,
            "distance_3d_m": tr38901.distance_3d_m(d_2d, h_bs, h_ut),
            "ut_height_m": h_ut,
            "indoor": indoor,
            "indoor_distance_m": d_in,
            "los": los,
            "pathloss_db": pl_db,
            "shadow_fading_db": 10.0 * np.log10(sf),
        }
        return model, beta, info

    def draw_large_scale(self, batch: int, n_devices: int, *,
                         rng: RngLike = None) -> tuple[np.ndarray, dict[str, Any]]:
        """The large-scale part of :meth:`draw` alone (no rays: much faster).

        Returns ``(large_scale, info)`` equal to ``draw(batch, n_devices, rng=rng)``'s
        ``large_scale`` and ``info`` for the same ``rng``.
        """
        owner = "Sionna3GPPChannel.draw_large_scale"
        batch = check_int("batch", batch, low=1, owner=owner)
        n_devices = check_int("n_devices", n_devices, low=1, owner=owner)
        rng_tf, rng_np = resolve_rng(rng).spawn(2)
        with sionna_seeded(rng_tf):
            _, beta, info = self._drop(rng_np, batch=batch, n_devices=n_devices,
                                       n_rx_ant=1)
        return beta.astype(self.real_dtype), info

    def _draw_parts(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
        t = n_rounds or 1
        rng_tf, rng_np = rng.spawn(2)
        with sionna_seeded(rng_tf):
            model, beta, info = self._drop(rng_np, batch=batch, n_devices=n_devices,
                                           n_rx_ant=n_rx_ant)
            a, tau = model(t, 1.0 / self.round_s)
            hf = _ofdm(a, tau, n_subcarriers=self.n_subcarriers,
                       spacing_hz=self.subcarrier_spacing_hz, normalize=False,
                       precision=self.precision)
        # hf: [B, 1, M, K, 1, T, F] -> [B, T, M, K, F]
        f = hf.shape[-1]
        g = hf.numpy()[:, 0, :, :, 0].transpose(0, 3, 1, 2, 4).reshape(
            batch, t, n_rx_ant, n_devices, f)
        if self.n_subcarriers is None:
            g = g[..., 0]
        if n_rounds is None:
            g = g[:, 0]
        return beta, g, info
