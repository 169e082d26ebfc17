"""3GPP TR 38.901 large-scale formulas (UMi street canyon, UMa, RMa) in NumPy.

Path loss (Table 7.4.1-1), LoS probability (Table 7.4.2-1), outdoor-to-indoor
building penetration (Clause 7.4.3.1, Table 7.4.3-2), the indoor distance and the
indoor device heights of the evaluation assumptions (Table 7.2-1), and the mean path
loss at a distance. No TensorFlow: :class:`~channels.fading.sionna_models.Sionna3GPPChannel`
uses these to recompute the path loss of Sionna's drop (Sionna 1.2.2 evaluates the
formulas at the 2D distance, see its docstring), and they are usable on their own.

Conventions of 38.901: distances and heights in metres, ``fc`` in GHz inside the
formulas (the functions here take the carrier in Hz), ``c = 3.0e8`` m/s in the
breakpoint distances, ``d_3D = sqrt(d_2D^2 + (h_BS - h_UT)^2)``. Arrays broadcast.

Examples
--------
>>> round(float(path_loss_los_db("umi", 50.0, 1.5, 2.6e9)), 2)
76.51
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice, check_real

__all__ = [
    "C_3GPP",
    "SCENARIOS",
    "ScenarioDefaults",
    "basic_path_loss_db",
    "breakpoint_distance_m",
    "distance_3d_m",
    "draw_effective_env_height_m",
    "draw_indoor_distance_m",
    "draw_indoor_height_m",
    "effective_env_height_pmf",
    "indoor_distance_pdf",
    "indoor_height_pmf",
    "los_probability",
    "mean_path_loss_db",
    "o2i_loss_db",
    "path_loss_los_db",
    "path_loss_nlos_db",
]

#: Propagation speed used by TR 38.901 in its breakpoint distances [m/s].
C_3GPP: float = 3.0e8


@dataclass(frozen=True)
class ScenarioDefaults:
    """Evaluation assumptions of one scenario (TR 38.901 Tables 7.2-1, 7.2-3, 7.4.1-1).

    Attributes
    ----------
    h_bs_m : float
        Base-station height.
    isd_m : float
        Inter-site distance.
    min_d2d_m : float
        Minimum BS-device distance in the plane.
    indoor_fraction : float
        Fraction of devices indoors.
    max_d2d_in_m : float
        Upper end of the two uniforms whose minimum is the indoor distance ``d_2D-in``.
    o2i_models : tuple of str
        Building-penetration models applicable to the scenario.
    indoor_floors : bool
        Whether indoor devices stand on floors ``h_UT = 3 (n_fl - 1) + 1.5`` (UMi, UMa)
        or at 1.5 m (RMa).
    """

    h_bs_m: float
    isd_m: float
    min_d2d_m: float
    indoor_fraction: float
    max_d2d_in_m: float
    o2i_models: tuple[str, ...]
    indoor_floors: bool


SCENARIOS: dict[str, ScenarioDefaults] = {
    "umi": ScenarioDefaults(10.0, 200.0, 10.0, 0.8, 25.0, ("low", "high"), True),
    "uma": ScenarioDefaults(25.0, 500.0, 35.0, 0.8, 25.0, ("low", "high"), True),
    "rma": ScenarioDefaults(35.0, 5000.0, 35.0, 0.5, 10.0, ("low",), False),
}

#: RMa default geometry of Table 7.4.1-1: average building height and street width [m].
RMA_BUILDING_HEIGHT_M = 5.0
RMA_STREET_WIDTH_M = 20.0

#: Standard deviation [dB] of the random part of the O2I loss (Table 7.4.3-2).
O2I_SIGMA_DB = {"low": 4.4, "high": 6.5}

_FLOORS = np.arange(1, 9)  # n_fl in 1..8 (N_fl in 4..8)


def _scenario(scenario: str, owner: str) -> str:
    return check_choice("scenario", scenario, tuple(SCENARIOS), owner=owner)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def distance_3d_m(d_2d, h_bs, h_ut) -> np.ndarray:
    """``d_3D = sqrt(d_2D^2 + (h_BS - h_UT)^2)`` [m]."""
    d_2d, h_bs, h_ut = _arr(d_2d), _arr(h_bs), _arr(h_ut)
    return np.sqrt(d_2d**2 + (h_bs - h_ut) ** 2)


def breakpoint_distance_m(scenario: str, carrier_hz: float, h_bs, h_ut, h_e=1.0) -> np.ndarray:
    """Breakpoint distance of Table 7.4.1-1 (notes 1 and 5) [m].

    .. math::
        d'_{BP} = 4 (h_{BS} - h_E)(h_{UT} - h_E) f_c / c \\quad (\\text{UMi, UMa}),
        \\qquad d_{BP} = 2 \\pi h_{BS} h_{UT} f_c / c \\quad (\\text{RMa}),

    ``f_c`` in Hz, ``c = 3.0e8`` m/s, ``h_E`` the effective environment height (1 m in
    UMi; drawn in UMa, see :func:`draw_effective_env_height_m`; unused in RMa).
    """
    scenario = _scenario(scenario, "breakpoint_distance_m")
    h_bs, h_ut = _arr(h_bs), _arr(h_ut)
    if scenario == "rma":
        return 2.0 * np.pi * h_bs * h_ut * carrier_hz / C_3GPP
    h_e = _arr(h_e)
    return 4.0 * (h_bs - h_e) * (h_ut - h_e) * carrier_hz / C_3GPP


def _rma_pl1(d_3d, f_ghz, h):
    return (20.0 * np.log10(40.0 * np.pi * d_3d * f_ghz / 3.0)
            + min(0.03 * h**1.72, 10.0) * np.log10(d_3d)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * np.log10(h) * d_3d)


def path_loss_los_db(scenario: str, d_2d, h_ut, carrier_hz: float, *, h_bs=None,
                     h_e=1.0) -> np.ndarray:
    """Line-of-sight path loss ``PL_LOS`` of Table 7.4.1-1 [dB].

    UMi street canyon (``h_BS`` 10 m), with ``d_3D`` from ``d_2D`` and the heights::

        PL1 = 32.4 + 21 log10(d_3D) + 20 log10(fc)                  d_2D <= d'_BP
        PL2 = 32.4 + 40 log10(d_3D) + 20 log10(fc)
              - 9.5 log10(d'_BP^2 + (h_BS - h_UT)^2)                 d_2D >  d'_BP

    UMa (``h_BS`` 25 m): ``28.0 + 22 log10(d_3D) + 20 log10(fc)`` and
    ``28.0 + 40 log10(d_3D) + 20 log10(fc) - 9 log10(d'_BP^2 + (h_BS - h_UT)^2)``.
    RMa (``h_BS`` 35 m, building height ``h`` 5 m)::

        PL1 = 20 log10(40 pi d_3D fc / 3) + min(0.03 h^1.72, 10) log10(d_3D)
              - min(0.044 h^1.72, 14.77) + 0.002 log10(h) d_3D        d_2D <= d_BP
        PL2 = PL1(d_BP) + 40 log10(d_3D / d_BP)                        d_2D >  d_BP

    ``fc`` in GHz; the breakpoint from :func:`breakpoint_distance_m`.

    Parameters
    ----------
    scenario : {"umi", "uma", "rma"}
    d_2d, h_ut : array_like
        Horizontal distance and device height [m].
    carrier_hz : float
    h_bs : float or None
        Base-station height (``None``: the scenario's, 10 / 25 / 35 m).
    h_e : array_like
        Effective environment height (UMi, UMa; 1 m unless drawn).
    """
    scenario = _scenario(scenario, "path_loss_los_db")
    h_bs = SCENARIOS[scenario].h_bs_m if h_bs is None else h_bs
    d_2d, h_ut = _arr(d_2d), _arr(h_ut)
    f_ghz = carrier_hz / 1e9
    d_3d = distance_3d_m(d_2d, h_bs, h_ut)
    d_bp = breakpoint_distance_m(scenario, carrier_hz, h_bs, h_ut, h_e)
    if scenario == "rma":
        h = RMA_BUILDING_HEIGHT_M
        pl1 = _rma_pl1(d_3d, f_ghz, h)
        pl2 = _rma_pl1(d_bp, f_ghz, h) + 40.0 * np.log10(d_3d / d_bp)
    else:
        a, b1, b_bp = (32.4, 21.0, 9.5) if scenario == "umi" else (28.0, 22.0, 9.0)
        pl1 = a + b1 * np.log10(d_3d) + 20.0 * np.log10(f_ghz)
        pl2 = (a + 40.0 * np.log10(d_3d) + 20.0 * np.log10(f_ghz)
               - b_bp * np.log10(d_bp**2 + (h_bs - h_ut) ** 2))
    return np.where(d_2d <= d_bp, pl1, pl2)


def path_loss_nlos_db(scenario: str, d_2d, h_ut, carrier_hz: float, *, h_bs=None,
                      h_e=1.0) -> np.ndarray:
    """Non-line-of-sight path loss ``max(PL_LOS, PL'_NLOS)`` of Table 7.4.1-1 [dB].

    ::

        UMi: PL' = 35.3 log10(d_3D) + 22.4 + 21.3 log10(fc) - 0.3 (h_UT - 1.5)
        UMa: PL' = 13.54 + 39.08 log10(d_3D) + 20 log10(fc) - 0.6 (h_UT - 1.5)
        RMa: PL' = 161.04 - 7.1 log10(W) + 7.5 log10(h)
                   - (24.37 - 3.7 (h / h_BS)^2) log10(h_BS)
                   + (43.42 - 3.1 log10(h_BS)) (log10(d_3D) - 3)
                   + 20 log10(fc) - (3.2 (log10(11.75 h_UT))^2 - 4.97)

    with ``W = 20`` m and ``h = 5`` m in RMa. Parameters as :func:`path_loss_los_db`.
    """
    scenario = _scenario(scenario, "path_loss_nlos_db")
    h_bs = SCENARIOS[scenario].h_bs_m if h_bs is None else h_bs
    d_2d, h_ut = _arr(d_2d), _arr(h_ut)
    f_ghz = carrier_hz / 1e9
    d_3d = distance_3d_m(d_2d, h_bs, h_ut)
    if scenario == "umi":
        pl_n = 35.3 * np.log10(d_3d) + 22.4 + 21.3 * np.log10(f_ghz) - 0.3 * (h_ut - 1.5)
    elif scenario == "uma":
        pl_n = 13.54 + 39.08 * np.log10(d_3d) + 20.0 * np.log10(f_ghz) - 0.6 * (h_ut - 1.5)
    else:
        w, h = RMA_STREET_WIDTH_M, RMA_BUILDING_HEIGHT_M
        pl_n = (161.04 - 7.1 * np.log10(w) + 7.5 * np.log10(h)
                - (24.37 - 3.7 * (h / h_bs) ** 2) * np.log10(h_bs)
                + (43.42 - 3.1 * np.log10(h_bs)) * (np.log10(d_3d) - 3.0)
                + 20.0 * np.log10(f_ghz) - (3.2 * np.log10(11.75 * h_ut) ** 2 - 4.97))
    pl_los = path_loss_los_db(scenario, d_2d, h_ut, carrier_hz, h_bs=h_bs, h_e=h_e)
    return np.maximum(pl_los, pl_n)


def basic_path_loss_db(scenario: str, d_2d, h_ut, carrier_hz: float, los, *, h_bs=None,
                       h_e=1.0) -> np.ndarray:
    """``PL_LOS`` where ``los`` is true, else ``PL_NLOS`` [dB] (no shadowing, no O2I)."""
    kw = dict(h_bs=h_bs, h_e=h_e)
    return np.where(np.asarray(los, dtype=bool),
                    path_loss_los_db(scenario, d_2d, h_ut, carrier_hz, **kw),
                    path_loss_nlos_db(scenario, d_2d, h_ut, carrier_hz, **kw))


def _c_prime(h_ut: np.ndarray) -> np.ndarray:
    """UMa height factor ``((h_UT - 13)/10)^1.5`` above 13 m, else 0."""
    return np.where(h_ut > 13.0, (np.maximum(h_ut, 13.0) - 13.0) / 10.0, 0.0) ** 1.5


def los_probability(scenario: str, d_2d_out, h_ut=1.5) -> np.ndarray:
    """LoS probability of Table 7.4.2-1 at the outdoor distance ``d_2D-out`` [m].

    ::

        UMi: 1 if d <= 18, else 18/d + exp(-d/36) (1 - 18/d)
        UMa: 1 if d <= 18, else [18/d + exp(-d/63) (1 - 18/d)]
                                (1 + C'(h_UT) 5/4 (d/100)^3 exp(-d/150))
        RMa: 1 if d <= 10, else exp(-(d - 10)/1000)

    with ``C'(h_UT) = ((h_UT - 13)/10)^1.5`` above 13 m, else 0. For an indoor device
    ``d_2D-out = d_2D - d_2D-in`` (values <= 0 give probability 1).
    """
    scenario = _scenario(scenario, "los_probability")
    d = _arr(d_2d_out)
    safe = np.maximum(d, 1.0)  # the formulas are only read where d > 10 or 18
    if scenario == "rma":
        return np.where(d <= 10.0, 1.0, np.exp(-(safe - 10.0) / 1000.0))
    d1, d2 = (18.0, 36.0) if scenario == "umi" else (18.0, 63.0)
    p = d1 / safe + np.exp(-safe / d2) * (1.0 - d1 / safe)
    if scenario == "uma":
        p = p * (1.0 + _c_prime(_arr(h_ut)) * 1.25 * (safe / 100.0) ** 3
                 * np.exp(-safe / 150.0))
    return np.where(d <= d1, 1.0, p)


def effective_env_height_pmf(d_2d, h_ut) -> tuple[np.ndarray, np.ndarray]:
    """UMa effective environment height ``h_E``: support and probabilities.

    ``h_E = 1`` m with probability ``1 / (1 + C(d_2D, h_UT))``, otherwise uniform on
    ``{12, 15, ..., h_UT - 1.5}``; ``C = ((h_UT - 13)/10)^1.5 g(d_2D)`` for
    ``h_UT >= 13`` m, ``g = 5/4 (d_2D/100)^3 exp(-d_2D/150)`` beyond 18 m (else 0).

    Returns
    -------
    values : numpy.ndarray [7]
        ``1, 12, 15, ..., 30`` m.
    probs : numpy.ndarray [..., 7]
        Probabilities per device (broadcast shape of ``d_2d`` and ``h_ut``).
    """
    d_2d, h_ut = np.broadcast_arrays(_arr(d_2d), _arr(h_ut))
    values = np.array([1.0, 12.0, 15.0, 18.0, 21.0, 24.0, 27.0])
    g = np.where(d_2d > 18.0, 1.25 * (d_2d / 100.0) ** 3 * np.exp(-d_2d / 150.0), 0.0)
    c = np.where(h_ut >= 13.0, (np.maximum(h_ut, 13.0) - 13.0) / 10.0, 0.0) ** 1.5 * g
    p1 = 1.0 / (1.0 + c)
    allowed = values[1:] <= h_ut[..., None] - 1.5 + 1e-9  # [..., 6]
    n = allowed.sum(axis=-1, keepdims=True)
    rest = np.where(allowed, (1.0 - p1)[..., None] / np.maximum(n, 1), 0.0)
    return values, np.concatenate([p1[..., None], rest], axis=-1)


def draw_effective_env_height_m(d_2d, h_ut, *, rng: np.random.Generator) -> np.ndarray:
    """Draw the UMa ``h_E`` per link (see :func:`effective_env_height_pmf`)."""
    values, probs = effective_env_height_pmf(d_2d, h_ut)
    u = rng.random(probs.shape[:-1])
    idx = (u[..., None] >= np.cumsum(probs, axis=-1)).sum(axis=-1)
    return values[np.minimum(idx, values.size - 1)]


def o2i_loss_db(o2i_model: str, carrier_hz: float, d_2d_in) -> np.ndarray:
    """Deterministic part ``PL_tw + PL_in`` of the building penetration loss [dB].

    Clause 7.4.3.1, Table 7.4.3-2 (``f`` in GHz)::

        L_glass = 2 + 0.2 f, L_IIRglass = 23 + 0.3 f, L_concrete = 5 + 4 f
        low:  PL_tw = 5 - 10 log10(0.3 10^(-L_glass/10) + 0.7 10^(-L_concrete/10))
        high: PL_tw = 5 - 10 log10(0.7 10^(-L_IIRglass/10) + 0.3 10^(-L_concrete/10))
        PL_in = 0.5 d_2D-in

    The full O2I loss adds ``N(0, sigma_P^2)``, ``sigma_P`` 4.4 dB (low) or 6.5 dB (high).
    """
    o2i_model = check_choice("o2i_model", o2i_model, ("low", "high"), owner="o2i_loss_db")
    f = carrier_hz / 1e9
    l_concrete = 5.0 + 4.0 * f
    if o2i_model == "low":
        mix = 0.3 * 10.0 ** (-(2.0 + 0.2 * f) / 10.0) + 0.7 * 10.0 ** (-l_concrete / 10.0)
    else:
        mix = 0.7 * 10.0 ** (-(23.0 + 0.3 * f) / 10.0) + 0.3 * 10.0 ** (-l_concrete / 10.0)
    return 5.0 - 10.0 * np.log10(mix) + 0.5 * _arr(d_2d_in)


def draw_indoor_distance_m(shape, max_m: float, *, rng: np.random.Generator) -> np.ndarray:
    """``d_2D-in``: the minimum of two independent ``U[0, max_m]`` (Clause 7.4.3.1).

    ``max_m`` is 25 m in UMi and UMa, 10 m in RMa.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return max_m * rng.random((2, *shape)).min(axis=0)


def indoor_distance_pdf(x, max_m: float) -> np.ndarray:
    """Density of :func:`draw_indoor_distance_m`: ``2 (D - x) / D^2`` on ``[0, D]``."""
    x = _arr(x)
    return np.where((x >= 0) & (x <= max_m), 2.0 * (max_m - x) / max_m**2, 0.0)


def indoor_height_pmf() -> tuple[np.ndarray, np.ndarray]:
    """Heights ``3 (n_fl - 1) + 1.5`` of indoor devices (Table 7.2-1) and their pmf.

    ``N_fl ~ U{4, ..., 8}`` (building floors), ``n_fl ~ U{1, ..., N_fl}``.
    """
    probs = np.zeros(_FLOORS.size)
    for n_fl_max in range(4, 9):
        probs[:n_fl_max] += 1.0 / 5.0 / n_fl_max
    return 3.0 * (_FLOORS - 1) + 1.5, probs


def draw_indoor_height_m(shape, *, rng: np.random.Generator) -> np.ndarray:
    """Draw indoor device heights ``3 (n_fl - 1) + 1.5`` m (see :func:`indoor_height_pmf`)."""
    n_floors = rng.integers(4, 9, size=shape)
    n_fl = np.floor(rng.random(shape) * n_floors).astype(int) + 1
    return 3.0 * (n_fl - 1) + 1.5


def _expected_basic_db(scenario, d_2d, h_ut, carrier_hz, p_los, h_bs):
    """``E[PL_b]`` over the LoS state (prob. ``p_los``) and, in UMa, over ``h_E``."""
    if scenario == "uma":
        values, probs = effective_env_height_pmf(d_2d, h_ut)
        los = nlos = 0.0
        for j, h_e in enumerate(values):
            los = los + probs[..., j] * path_loss_los_db(scenario, d_2d, h_ut, carrier_hz,
                                                         h_bs=h_bs, h_e=h_e)
            nlos = nlos + probs[..., j] * path_loss_nlos_db(scenario, d_2d, h_ut, carrier_hz,
                                                            h_bs=h_bs, h_e=h_e)
    else:
        los = path_loss_los_db(scenario, d_2d, h_ut, carrier_hz, h_bs=h_bs)
        nlos = path_loss_nlos_db(scenario, d_2d, h_ut, carrier_hz, h_bs=h_bs)
    return p_los * los + (1.0 - p_los) * nlos


def mean_path_loss_db(scenario: str, d_2d, carrier_hz: float, *, indoor_fraction=None,
                      o2i_model: str = "low", indoor_floors=None, h_bs=None,
                      n_grid: int = 400) -> np.ndarray:
    """Mean path loss in dB of a device at horizontal distance ``d_2d`` (no shadowing).

    The expectation, over everything 38.901 draws for a device at that distance, of

    .. math::
        \\mathrm{PL} = \\mathrm{PL}_b(d_{3D}, \\text{LoS}) +
        \\mathbb 1_{\\text{indoor}} (\\mathrm{PL}_{tw} + 0.5\\, d_{2D\\text{-in}}
        + \\mathcal N(0, \\sigma_P^2)):

    the indoor state (``indoor_fraction``), the indoor height (floors), the indoor
    distance (density ``2 (D - x)/D^2``, midpoint rule with ``n_grid`` points), the LoS
    state (probability at ``d_2D - d_2D-in``) and, in UMa, ``h_E``. Outdoor devices at
    1.5 m. Shadow fading has zero mean in dB and is left out.

    Parameters
    ----------
    scenario : {"umi", "uma", "rma"}
    d_2d : array_like
        Horizontal distance(s) [m].
    carrier_hz : float
    indoor_fraction : float in [0, 1] or None
        ``None``: the scenario's (0.8 UMi/UMa, 0.5 RMa).
    o2i_model : {"low", "high"}
    indoor_floors : bool or None
        Indoor devices on floors (``None``: the scenario's, true for UMi/UMa).
    h_bs : float or None
        Base-station height (``None``: the scenario's).
    n_grid : int
        Quadrature points for the indoor distance.

    Returns
    -------
    numpy.ndarray, shape of ``d_2d``
    """
    owner = "mean_path_loss_db"
    scenario = _scenario(scenario, owner)
    sc = SCENARIOS[scenario]
    frac = sc.indoor_fraction if indoor_fraction is None else check_real(
        "indoor_fraction", indoor_fraction, low=0.0, high=1.0, owner=owner)
    floors = sc.indoor_floors if indoor_floors is None else bool(indoor_floors)
    h_bs = sc.h_bs_m if h_bs is None else h_bs
    d = _arr(d_2d)
    out = _expected_basic_db(scenario, d, 1.5, carrier_hz,
                             los_probability(scenario, d, 1.5), h_bs)
    if frac == 0.0:
        return out
    # Indoor: grid over d_in [G] x heights [H], broadcast against d [...].
    step = sc.max_d2d_in_m / n_grid
    x = (np.arange(n_grid) + 0.5) * step
    w_x = indoor_distance_pdf(x, sc.max_d2d_in_m) * step
    w_x = w_x / w_x.sum()
    heights, w_h = indoor_height_pmf() if floors else (np.array([1.5]), np.array([1.0]))
    dd = d[..., None, None]
    hh = heights[:, None]
    p_los = los_probability(scenario, dd - x[None, :], hh)  # [..., H, G]
    basic = _expected_basic_db(scenario, dd, hh, carrier_hz, p_los, h_bs)
    basic = basic + np.zeros((heights.size, n_grid))  # [..., H, G] in every scenario
    basic = np.einsum("...hg,h,g->...", basic, w_h, w_x)
    indoor = basic + o2i_loss_db(o2i_model, carrier_hz, float(np.dot(w_x, x)))
    return (1.0 - frac) * out + frac * indoor
