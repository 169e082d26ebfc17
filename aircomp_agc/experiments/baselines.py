"""Baselines and deployments of over-the-air aggregation: the figures of the comparison studies.

Four experiments, each a thin adapter from scenario parameters to the public APIs of
:mod:`channels` and :mod:`aircomp_agc.aggregation` (the maths lives there):

- ``threshold-scheduling``: the MSE of the over-the-air sum when only the ``keep`` strongest
  devices transmit (:func:`channels.power_control.threshold_scheduling`), the trade-off
  whose Pareto frontier :func:`channels.power_control.scheduling_frontier` traces;
- ``cell-aggregation``: coded over-the-air aggregation in a 3GPP TR 38.901 cell (Sionna's
  ``sionna-3gpp`` channel, path loss included) with a link budget in physical units;
- ``digital-vs-analog``: latency (channel uses) and error of coded digital aggregation
  (:class:`~aircomp_agc.aggregation.DigitalAggregation`: orthogonal slots, ``b``-bit
  stochastic quantization, Shannon rates) against the analog round
  (:class:`~aircomp_agc.aggregation.CodedAirComp`);
- ``topk-coding``: top-``K`` sparsification layered on coding, analog with a common support
  (:class:`~aircomp_agc.aggregation.CommonSupportTopK`) and digital with per-device supports
  (:class:`~aircomp_agc.aggregation.PerDeviceTopK`), on real model gradients.

One trial is one independent realization (stragglers, channel, receiver noise or
quantization); the metrics are per trial and every trial of a call is computed at once
(no loop over trials). Each experiment declares ``check`` (parameters validated before
any computation; it returns the parameters the point really uses) and ``outputs``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import numpy as np

from channels import CHANNELS, make_channel, make_power_control
from channels.noise import dbm_to_watt, make_noise_var, noise_var_from_snr_db
from channels.power_control import check_scheduling_rule, threshold_scheduling
from channels.received_snr import check_received_snr, noise_var_from_reference_snr

from .._checks import check_choice, check_int, check_real
from ..aggregation import (
    CodedAirComp,
    CommonSupportTopK,
    DigitalAggregation,
    GradientModel,
    PerDeviceTopK,
    conditional_error,
    encode,
    normalize,
    payload_bits,
    quantization_variance,
)
from ..aggregation.error import quadratic_form
from ..coding import CODES, make_code, make_stragglers
from .registry import register_experiment
from .specs import build_channel, model_spec

__all__ = [
    "cell_aggregation_experiment",
    "digital_vs_analog_experiment",
    "threshold_scheduling_experiment",
    "topk_coding_experiment",
]

STRAGGLER_MODELS = ("bernoulli", "fixed", "none")

#: A trial whose every device is received below this SNR (dB) is warned about.
LOW_SNR_DB = -10.0


# ----------------------------------------------------------------------------- helpers


def _code_kwargs(code: str, n: int, row_weight: int, s: int) -> dict[str, Any]:
    """Keyword arguments of ``make_code(code)``: ``row_weight``/``s`` where it takes them."""
    accepted = {p.name for p in CODES.parameters(code)}
    kwargs: dict[str, Any] = {"n": n}
    if "row_weight" in accepted:
        kwargs["row_weight"] = row_weight
    if "s" in accepted:
        kwargs["s"] = s
    return kwargs


def _code_used(code: str) -> set[str]:
    return {p.name for p in CODES.parameters(code)} & {"row_weight", "s"}


def _stragglers(stragglers: str, p: float, s: int):
    if stragglers == "none":
        return None
    return make_stragglers(stragglers, **({"s": s} if stragglers == "fixed" else {"p": p}))


def _check_coding(owner: str, *, code: str, n: int, row_weight: int, stragglers: str, p: float,
                  s: int) -> dict[str, Any]:
    """Validate the coding-layer parameters; return those the point uses."""
    n = check_int("n", n, low=2, owner=owner)
    check_choice("stragglers", stragglers, STRAGGLER_MODELS, owner=owner)
    used: dict[str, Any] = {"code": code, "stragglers": stragglers}
    if stragglers == "bernoulli":
        used["p"] = check_real("p", p, low=0.0, high=1.0, high_open=True, owner=owner)
    if stragglers == "fixed" or "s" in _code_used(code):
        used["s"] = check_int("s", s, low=0, high=n - 1, owner=owner)
    make_code(code, **_code_kwargs(code, n, row_weight, s), rng=0)
    if "row_weight" in _code_used(code):
        used["row_weight"] = row_weight
    return used


def _normalized_parts(plan, S: np.ndarray, dim: int, norm: float) -> dict[str, np.ndarray]:
    """The conditional error of a plan over the receiver noise, by part, over ``norm``."""
    parts = conditional_error(plan.coding_coefficients, plan.coefficients,
                              plan.noise_std**2 * dim, S)
    return {k: v / norm for k, v in parts.items()}


def _db(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(x)


# ----------------------------------------------------------------- threshold scheduling

SCHED_OWNER = "experiment 'threshold-scheduling'"
INNER_POLICIES = ("zero_forcing", "optimal_power")


def _sched_setup(channel, snr_db, power):
    spec = model_spec(channel, "channel", SCHED_OWNER)
    model = build_channel(spec)
    if model.extra_axes:
        raise ValueError(f"The 'channel' parameter of {SCHED_OWNER} must be flat (block) "
                         f"fading; got {spec} with extra axes {tuple(model.extra_axes)} (use "
                         "experiment 'aircomp-mse' for subcarriers).")
    power = check_real("power", power, low=0.0, low_open=True, owner=SCHED_OWNER)
    snr_db = check_real("snr_db", snr_db, owner=SCHED_OWNER)
    if CHANNELS.tags(spec.name).get("path_loss") or getattr(
            getattr(model, "large_scale", None), "path_loss", None) is not None:
        reference = getattr(model, "reference_gain", None)
        if reference is None:
            raise ValueError(f"The 'snr_db' parameter of {SCHED_OWNER} cannot be a transmit SNR "
                             f"for channel {spec.name!r}, whose gains include path loss and "
                             "which defines no reference gain (use experiment 'aircomp-mse' "
                             f"with a link budget); got snr_db={snr_db!r}.")
        return model, power, noise_var_from_reference_snr(snr_db, reference, power)
    return model, power, noise_var_from_snr_db(snr_db, power)


def _check_scheduling(*, channel, n_devices, snr_db, power, keep, gain_threshold,
                      inner) -> dict[str, Any]:
    n_devices = check_int("n_devices", n_devices, low=1, owner=SCHED_OWNER)
    try:
        rule, value = check_scheduling_rule(keep=keep, gain_threshold=gain_threshold,
                                            inner=inner, n_devices=n_devices)
    except ValueError as exc:
        raise ValueError(f"{SCHED_OWNER}: {exc}") from None
    _sched_setup(channel, snr_db, power)
    return {"channel": channel, "n_devices": n_devices, "snr_db": snr_db, "power": power,
            rule: value, "inner": inner}


@register_experiment(
    "threshold-scheduling",
    summary="MSE of the over-the-air sum when only the strongest devices transmit "
            "(threshold scheduling), with its miss and noise parts",
    check=_check_scheduling,
    outputs={name: "trial" for name in (
        "mse", "mse_db", "n_scheduled", "misses", "inner_mse", "all_devices_db",
        "optimal_power_db")},
)
def threshold_scheduling_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    channel: str | dict = "rayleigh",
    n_devices: int = 20,
    snr_db: float = 10.0,
    power: float = 1.0,
    keep: int | None = None,
    gain_threshold: float | None = None,
    inner: Literal["zero_forcing", "optimal_power"] = "zero_forcing",
) -> dict:
    """Sum-estimation MSE of threshold scheduling, one channel realization per trial.

    The scheduled set is the ``keep`` devices with the strongest channels (or those with
    ``|h_k|^2 >= gain_threshold``; exactly one rule); they use the ``inner`` policy
    (zero forcing or optimal power, peak power ``power``) and every other device is a
    miss, so ``MSE = (K - |S|) + MSE_inner(S)`` for unit targets (complex-symbol
    convention of :mod:`channels.aircomp`). Swept over ``keep = 0..K`` this is the
    MSE-participation trade-off of :func:`channels.power_control.scheduling_frontier`:
    its Pareto frontier is the part of the curve at and above the best ``keep``.

    Parameters
    ----------
    channel : str or table
        A flat-fading channel model (name or table with its parameters).
    n_devices : int
        ``K``.
    snr_db : float
        Transmit SNR ``P / sigma^2`` in dB (with path loss: the received SNR at the model's
        reference gain).
    power : float
        Peak transmit power ``P``.
    keep, gain_threshold
        The scheduling rule (exactly one).
    inner : {"zero_forcing", "optimal_power"}

    Returns
    -------
    dict
        Per-trial ``mse``, ``mse_db`` (``10 log10 mse``; its mean exists where the mean of
        ``mse`` does not, e.g. zero forcing over all Rayleigh devices), ``n_scheduled``,
        ``misses`` (dropped devices, ``K - |S|``), ``inner_mse`` (the noise and
        misalignment of the scheduled sum), and, on the same realization,
        ``all_devices_db`` (the ``inner`` policy with every device) and
        ``optimal_power_db`` (optimal power with every device, no scheduling).
    """
    model, p, noise_var = _sched_setup(channel, snr_db, power)
    draw = model.draw(n_trials, n_devices, rng=rng)
    gain2 = np.abs(np.asarray(draw.h)[:, 0, :].astype(np.complex128)) ** 2
    pc = threshold_scheduling(gain2, power=p, noise_var=noise_var, keep=keep,
                              gain_threshold=gain_threshold, inner=inner)
    scheduled = np.asarray(pc.scheduled).sum(axis=-1).astype(float)
    mse = np.asarray(pc.mse, dtype=np.float64)
    misses = n_devices - scheduled
    everyone = make_power_control(inner)(gain2, power=p, noise_var=noise_var)
    optimal = make_power_control("optimal_power")(gain2, power=p, noise_var=noise_var)
    return {
        "mse": mse,
        "mse_db": _db(mse),
        "n_scheduled": scheduled,
        "misses": misses,
        "inner_mse": mse - misses,
        "all_devices_db": _db(np.asarray(everyone.mse, dtype=np.float64)),
        "optimal_power_db": _db(np.asarray(optimal.mse, dtype=np.float64)),
    }


# ----------------------------------------------------------------------- 3GPP cell

CELL_OWNER = "experiment 'cell-aggregation'"


def _cell_setup(*, scenario, carrier_hz, indoor_fraction, device_orientation, power_dbm,
                bandwidth_hz, noise_figure_db, psd_dbm_hz):
    """The channel model, the transmit power [W] and the noise variance [W]."""
    model = make_channel("sionna-3gpp", scenario=scenario, carrier_hz=carrier_hz,
                         indoor_fraction=indoor_fraction, device_orientation=device_orientation)
    power_w = float(dbm_to_watt(check_real("power_dbm", power_dbm, owner=CELL_OWNER)))
    noise_var = make_noise_var(bandwidth_hz=bandwidth_hz, noise_figure_db=noise_figure_db,
                               psd_dbm_hz=psd_dbm_hz)
    return model, power_w, noise_var


def _check_cell(*, scenario, carrier_hz, indoor_fraction, device_orientation, n_devices,
                power_dbm, bandwidth_hz, noise_figure_db, psd_dbm_hz, min_snr_db, code,
                row_weight, s, stragglers, p, policy, heterogeneity, dim,
                decoder) -> dict[str, Any]:
    n_devices = check_int("n_devices", n_devices, low=2, owner=CELL_OWNER)
    used = _check_coding(CELL_OWNER, code=code, n=n_devices, row_weight=row_weight,
                         stragglers=stragglers, p=p, s=s)
    check_real("heterogeneity", heterogeneity, low=0.0, high=1.0, owner=CELL_OWNER)
    check_int("dim", dim, low=1, owner=CELL_OWNER)
    if min_snr_db is not None:
        check_real("min_snr_db", min_snr_db, owner=CELL_OWNER)
    _cell_setup(scenario=scenario, carrier_hz=carrier_hz, indoor_fraction=indoor_fraction,
                device_orientation=device_orientation, power_dbm=power_dbm,
                bandwidth_hz=bandwidth_hz, noise_figure_db=noise_figure_db,
                psd_dbm_hz=psd_dbm_hz)
    CodedAirComp(code=make_code("uncoded", n=n_devices), power_control=policy, noise_var=1.0,
                 decoder=decoder)
    return dict(used, scenario=scenario, carrier_hz=carrier_hz, indoor_fraction=indoor_fraction,
                device_orientation=device_orientation, n_devices=n_devices,
                power_dbm=power_dbm, bandwidth_hz=bandwidth_hz,
                noise_figure_db=noise_figure_db, psd_dbm_hz=psd_dbm_hz, min_snr_db=min_snr_db,
                policy=policy, heterogeneity=heterogeneity, dim=dim, decoder=decoder)


@register_experiment(
    "cell-aggregation",
    summary="Coded over-the-air aggregation in a 3GPP TR 38.901 cell (Sionna, path loss) with "
            "a link budget in dBm, Hz and dB",
    check=_check_cell,
    outputs={**{name: "trial" for name in (
        "error", "error_db", "coding", "misalignment", "noise", "transmitting",
        "rx_snr_db", "uncoded_error", "uncoded_error_db")},
        "edge_snr_db": "scalar", "noise_dbm": "scalar"},
)
def cell_aggregation_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    scenario: Literal["umi", "uma", "rma"] = "umi",
    carrier_hz: float = 3.5e9,
    indoor_fraction: float | None = None,
    device_orientation: Literal["random", "aligned"] = "random",
    n_devices: int = 20,
    power_dbm: float = 23.0,
    bandwidth_hz: float = 10e6,
    noise_figure_db: float = 5.0,
    psd_dbm_hz: float = -174.0,
    min_snr_db: float | None = None,
    code: str = "bgc",
    row_weight: int = 3,
    s: int = 2,
    stragglers: str = "bernoulli",
    p: float = 0.1,
    policy: str = "optimal_power",
    heterogeneity: float = 0.5,
    dim: int = 100,
    decoder: str = "lstsq",
) -> dict:
    """Normalized error of a coded over-the-air round in a 3GPP cell, one drop per trial.

    **Link budget.** Every device transmits at most ``power_dbm`` (default 23 dBm = 0.2 W,
    3GPP power class 3); the base station's receiver noise is thermal noise
    ``psd_dbm_hz`` (-174 dBm/Hz) plus its noise figure ``noise_figure_db`` (5 dB) over
    the bandwidth ``bandwidth_hz`` (10 MHz): ``sigma^2 = 10^((PSD + NF - 30)/10) B`` W
    (:func:`channels.noise.make_noise_var`), -99 dBm by default. The channel is
    ``sionna-3gpp`` (TR 38.901 ``scenario`` at ``carrier_hz``, single-sector drop of
    ``n_devices`` devices per trial, 80% indoor in UMi/UMa, path loss, O2I loss, shadow
    fading and Sionna's small-scale fading), so the gains ``|h_k|^2`` are the full link
    gains. ``edge_snr_db`` reports ``P beta_ref / sigma^2`` with ``beta_ref`` the model's
    ``reference_gain`` (mean large-scale gain at the cell edge, half the inter-site
    distance): the SNR of a typical cell-edge device before shadowing and fading.

    **Round.** ``n_devices`` devices are the workers of ``code`` (``n = k = n_devices``,
    a random code drawn per call); the partition gradients follow the model "common mean
    plus i.i.d. heterogeneity" (``heterogeneity = v / (m2 + v)``) in ``dim`` coordinates,
    and the error is its expectation under the model (second moments, no draw); compute
    stragglers (``"bernoulli"`` with ``p``, ``"fixed"`` with ``s``, or ``"none"``);
    devices received below ``min_snr_db`` (``P |h_k|^2 / sigma^2``; default: none) stay
    silent and the code decodes without them; ``policy`` sets the powers (peak ``P``).
    The error is averaged over the receiver noise in closed form as well.

    Returns
    -------
    dict
        Per-trial ``error`` (``E||Ghat - G||^2 / E||G||^2`` given the drop and the
        stragglers), ``error_db``, its parts
        ``coding``, ``misalignment``, ``noise``; ``transmitting`` (fraction of devices
        that transmitted); ``rx_snr_db`` (median over the devices of ``P |h_k|^2 /
        sigma^2`` in dB); ``uncoded_error`` and ``uncoded_error_db``: the uncoded sum on
        the same drop, stragglers and policy (the reference). Scalars ``edge_snr_db`` and
        ``noise_dbm``.
    """
    g_code, g_chan, g_plan = rng.spawn(3)
    model, power_w, noise_var = _cell_setup(
        scenario=scenario, carrier_hz=carrier_hz, indoor_fraction=indoor_fraction,
        device_orientation=device_orientation, power_dbm=power_dbm, bandwidth_hz=bandwidth_hz,
        noise_figure_db=noise_figure_db, psd_dbm_hz=psd_dbm_hz)
    n = n_devices
    coded = make_code(code, **_code_kwargs(code, n, row_weight, s), rng=g_code)
    grads = GradientModel.from_ratio(heterogeneity, energy=float(dim), dim=dim)
    norm = float(grads.quadratic(np.ones(n)))
    h = np.asarray(model.draw(n_trials, n, rng=g_chan).h).astype(np.complex128)  # [T, 1, K]
    gain2 = np.abs(h[:, 0, :]) ** 2
    check_received_snr(gain2, power_w, noise_var, threshold_db=LOW_SNR_DB, owner=CELL_OWNER)
    threshold = 0.0 if min_snr_db is None else noise_var * 10.0 ** (min_snr_db / 10.0) / power_w
    plan_seed = int(g_plan.integers(2**63))
    out = {}
    for label, c in (("", coded), ("uncoded_", make_code("uncoded", n=n))):
        agg = CodedAirComp(code=c, channel=model, power_control=policy, power=power_w,
                           noise_var=noise_var, stragglers=_stragglers(stragglers, p, s),
                           threshold=threshold, decoder=decoder)
        # Message RMS under the model: s_i^2 = b_i^T (m2 11^T + v I) b_i / D.
        msg_rms = np.sqrt(grads.quadratic(c.B.toarray()) / dim)
        # The same seed: the same compute stragglers for the coded and the uncoded round.
        plan = agg.plan(msg_rms, batch=n_trials, second_moments=grads, dim=dim, h=h,
                        rng=np.random.SeedSequence(plan_seed))
        parts = _normalized_parts(plan, grads, dim, norm)
        out[f"{label}error"] = parts["total"]
        out[f"{label}error_db"] = _db(parts["total"])
        if not label:
            out.update(coding=parts["coding"], misalignment=parts["misalignment"],
                       noise=parts["noise"],
                       transmitting=plan.responders.mean(axis=-1).astype(float))
    out["rx_snr_db"] = np.median(_db(power_w * gain2 / noise_var), axis=-1)
    out["edge_snr_db"] = float(10.0 * np.log10(power_w * model.reference_gain / noise_var))
    out["noise_dbm"] = float(10.0 * np.log10(noise_var) + 30.0)
    return out


# ----------------------------------------------------------------- digital vs analog

DVA_OWNER = "experiment 'digital-vs-analog'"
SCHEMES = ("analog", "digital")
DIGITAL_KEYS = ("bits", "side_bits", "deadline_factor")


def _scheme(scheme) -> tuple[str, dict[str, Any]]:
    """``("analog", {})`` or ``("digital", {bits, side_bits, deadline_factor})``."""
    spec = model_spec(scheme, "scheme", DVA_OWNER)
    check_choice("scheme", spec.name, SCHEMES, owner=DVA_OWNER)
    if spec.name == "analog":
        if spec.params:
            raise ValueError(f"The 'scheme' parameter of {DVA_OWNER}: 'analog' takes no "
                             f"parameters; got {sorted(spec.params)}.")
        return "analog", {}
    unknown = sorted(set(spec.params) - set(DIGITAL_KEYS))
    if unknown:
        raise ValueError(f"The 'scheme' parameter of {DVA_OWNER}: 'digital' takes "
                         f"{', '.join(DIGITAL_KEYS)}; got {', '.join(unknown)}.")
    params = {"bits": 8, "side_bits": 64, "deadline_factor": None, **spec.params}
    check_int("scheme.bits", params["bits"], low=1, high=32, owner=DVA_OWNER)
    check_int("scheme.side_bits", params["side_bits"], low=0, owner=DVA_OWNER)
    if params["deadline_factor"] is not None:
        check_real("scheme.deadline_factor", params["deadline_factor"], low=0.0, low_open=True,
                   owner=DVA_OWNER)
    return "digital", params


def _check_dva(*, scheme, n, code, row_weight, s, stragglers, p, channel, snr_db, policy,
               threshold, heterogeneity, dim, decoder) -> dict[str, Any]:
    kind, params = _scheme(scheme)
    used = _check_coding(DVA_OWNER, code=code, n=n, row_weight=row_weight,
                         stragglers=stragglers, p=p, s=s)
    check_real("heterogeneity", heterogeneity, low=0.0, high=1.0, owner=DVA_OWNER)
    check_int("dim", dim, low=1, owner=DVA_OWNER)
    check_real("snr_db", snr_db, owner=DVA_OWNER)
    check_real("threshold", threshold, low=0.0, owner=DVA_OWNER)
    if CHANNELS.tags(check_choice("channel", channel, CHANNELS.names(), owner=DVA_OWNER)).get(
            "path_loss") or make_channel(channel).extra_axes:
        raise ValueError(f"The 'channel' parameter of {DVA_OWNER} must be a flat-fading model "
                         f"with normalized gains (snr_db is a transmit SNR); got {channel!r}.")
    used.update(scheme={"name": kind, **params}, n=n, channel=channel, snr_db=snr_db,
                threshold=threshold, heterogeneity=heterogeneity, dim=dim, decoder=decoder)
    if kind == "analog":
        CodedAirComp(code=make_code("uncoded", n=2), power_control=policy, noise_var=1.0)
        used["policy"] = policy
    return used


@register_experiment(
    "digital-vs-analog",
    summary="Latency (channel uses) and error of coded digital aggregation (b-bit quantization, "
            "TDMA at Shannon rates) against the analog over-the-air round",
    check=_check_dva,
    outputs={name: "trial" for name in (
        "error", "error_db", "coding", "channel_error", "channel_uses", "latency_ratio",
        "transmitting")},
)
def digital_vs_analog_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    scheme: str | dict = "analog",
    n: int = 20,
    code: str = "bgc",
    row_weight: int = 3,
    s: int = 2,
    stragglers: str = "bernoulli",
    p: float = 0.1,
    channel: str = "rayleigh",
    snr_db: float = 10.0,
    policy: str = "optimal_power",
    threshold: float = 0.05,
    heterogeneity: float = 0.5,
    dim: int = 1000,
    decoder: str = "lstsq",
) -> dict:
    """Error and latency of one coded round, analog or digital, one realization per trial.

    ``scheme`` is ``"analog"`` (:class:`~aircomp_agc.aggregation.CodedAirComp`: every
    responder sends its normalized message in the same ``D`` complex channel uses, one
    real coordinate per use, with power control ``policy``) or ``"digital"`` / ``{ name =
    "digital", bits = b, side_bits = 64, deadline_factor = f }``
    (:class:`~aircomp_agc.aggregation.DigitalAggregation`: each responder quantizes its
    coded message with ``b`` bits per entry, unbiased stochastic rounding, and sends
    ``D b + side_bits`` bits in its own slot at its Shannon rate ``log2(1 + P |h_i|^2 /
    sigma^2)``; with ``deadline_factor = f`` the round must end within ``f D`` channel uses,
    the analog round's latency times ``f``, and devices whose slot does not fit become
    stragglers for the code). Both truncate at ``threshold`` (devices with ``|h_i|^2`` below
    it stay silent; under Rayleigh fading a digital round without it has an infinite mean
    latency, the slot of a device in a deep fade being unbounded). ``snr_db``: transmit
    SNR ``P / sigma^2`` at unit gain, ``P = 1``.

    Partition gradients: one draw per call of the model "common mean plus i.i.d.
    heterogeneity" in ``dim`` coordinates (``n = k`` partitions). The error of a trial is
    its expectation over the receiver noise (analog) or the stochastic rounding (digital,
    ``sum_i a_i^2 E||Q(f_i) - f_i||^2`` in closed form), given the stragglers and the
    channel, normalized by ``||sum_j g_j||^2``.

    Returns
    -------
    dict
        Per-trial ``error``, ``error_db``, ``coding`` (decoding error ``||(c-1)^T G||^2``),
        ``channel_error`` (``error - coding``: misalignment, noise and their cross term,
        or the quantization error), ``channel_uses`` (round latency in complex channel
        uses), ``latency_ratio`` (``channel_uses / D``) and ``transmitting`` (devices that
        transmitted).
    """
    kind, params = _scheme(scheme)
    g_code, g_grad, g_plan = rng.spawn(3)
    coded = make_code(code, **_code_kwargs(code, n, row_weight, s), rng=g_code)
    G = GradientModel.from_ratio(heterogeneity, energy=float(dim), dim=dim).sample(n, rng=g_grad)
    S = G @ G.T
    norm = float(quadratic_form(np.ones(n), S))
    F = encode(coded, G)
    strag = _stragglers(stragglers, p, s)
    if kind == "analog":
        agg = CodedAirComp(code=coded, channel=channel, power_control=policy, power=1.0,
                           snr_db=snr_db, stragglers=strag, threshold=threshold,
                           decoder=decoder)
        _, msg_rms = normalize(F)
        plan = agg.plan(msg_rms, batch=n_trials, second_moments=S, dim=dim, rng=g_plan)
        parts = _normalized_parts(plan, S, dim, norm)
        total, coding = parts["total"], parts["coding"]
        uses = np.full(n_trials, float(dim))
    else:
        deadline = None if params["deadline_factor"] is None else params["deadline_factor"] * dim
        agg = DigitalAggregation(code=coded, channel=channel, power=1.0, snr_db=snr_db,
                                 stragglers=strag, bits=params["bits"],
                                 side_bits=params["side_bits"], threshold=threshold,
                                 deadline=deadline, decoder=decoder)
        bits = payload_bits(dim, params["bits"], side_bits=params["side_bits"])
        plan = agg.plan(bits, batch=n_trials, rng=g_plan)
        coding = quadratic_form(plan.coding_coefficients - 1.0, S) / norm
        quant = plan.decoder_weights**2 @ quantization_variance(F, params["bits"]) / norm
        total = coding + quant
        uses = np.asarray(plan.channel_uses, dtype=np.float64)
    return {
        "error": total,
        "error_db": _db(total),
        "coding": coding,
        "channel_error": total - coding,
        "channel_uses": uses,
        "latency_ratio": uses / dim,
        "transmitting": plan.responders.sum(axis=-1).astype(float),
    }


# ------------------------------------------------------------------------ top-K coding

TOPK_OWNER = "experiment 'topk-coding'"
TRANSPORTS = ("analog", "digital")
TOPK_PROBLEMS = ("logistic", "softmax")


def _check_topk(*, transport, fraction, problem, dataset, partition, alpha, reg, iterate,
                data_seed, n,
                code, row_weight, s, stragglers, p, channel, snr_db, policy, threshold, bits,
                explore, decoder) -> dict[str, Any]:
    check_choice("transport", transport, TRANSPORTS, owner=TOPK_OWNER)
    check_real("fraction", fraction, low=0.0, high=1.0, low_open=True, owner=TOPK_OWNER)
    from ..learning import DATASETS
    from ..learning import SCHEMES as PARTITIONS

    check_choice("problem", problem, TOPK_PROBLEMS, owner=TOPK_OWNER)
    if dataset:
        check_choice("dataset", dataset, DATASETS, owner=TOPK_OWNER)
    check_choice("partition", partition, PARTITIONS, owner=TOPK_OWNER)
    check_int("iterate", iterate, low=1, owner=TOPK_OWNER)
    check_int("data_seed", data_seed, low=0, owner=TOPK_OWNER)
    check_real("reg", reg, low=0.0, low_open=True, owner=TOPK_OWNER)
    check_real("snr_db", snr_db, owner=TOPK_OWNER)
    check_real("threshold", threshold, low=0.0, owner=TOPK_OWNER)
    used = _check_coding(TOPK_OWNER, code=code, n=n, row_weight=row_weight,
                         stragglers=stragglers, p=p, s=s)
    check_choice("channel", channel, CHANNELS.names(), owner=TOPK_OWNER)
    used.update(transport=transport, fraction=fraction, problem=problem, dataset=dataset,
                partition=partition, reg=reg, iterate=iterate, data_seed=data_seed, n=n,
                channel=channel,
                snr_db=snr_db, threshold=threshold, decoder=decoder)
    if partition == "dirichlet":
        used["alpha"] = check_real("alpha", alpha, low=0.0, low_open=True, owner=TOPK_OWNER)
    if transport == "analog":
        used["explore"] = check_real("explore", explore, low=0.0, high=1.0, owner=TOPK_OWNER)
        CodedAirComp(code=make_code("uncoded", n=2), power_control=policy, noise_var=1.0)
        used["policy"] = policy
    else:
        used["bits"] = check_int("bits", bits, low=1, high=32, owner=TOPK_OWNER)
    return used


@functools.lru_cache(maxsize=4)
def _problem(problem: str, dataset: str, n: int, partition: str, alpha: float, reg: float,
             data_seed: int):
    """:func:`aircomp_agc.learning.make_problem` with ``rng=data_seed``, cached per process
    (building it solves it to optimality: seconds for softmax regression)."""
    from ..learning import make_problem

    return make_problem(problem, dataset=dataset or None, n_partitions=n, partition=partition,
                        alpha=alpha, reg=reg, rng=data_seed)


@functools.lru_cache(maxsize=16)
def _partition_gradients(problem: str, dataset: str, n: int, partition: str, alpha: float,
                         reg: float, data_seed: int, iterate: int) -> tuple[np.ndarray, ...]:
    """Partition gradients at ``w_{t-1}`` and ``w_t`` of exact gradient descent from 0 with
    step ``1/L`` (read-only arrays, shared by every point of a sweep in this process)."""
    prob = _problem(problem, dataset, n, partition, alpha, reg, data_seed)
    w = np.zeros(prob.dim)
    prev = w
    for _ in range(iterate):
        prev, w = w, w - prob.gradient(w) / prob.L
    out = (prob.partition_gradients(prev), prob.partition_gradients(w))
    for g in out:
        g.setflags(write=False)
    return out


@register_experiment(
    "topk-coding",
    summary="Top-K sparsification layered on coding, analog common support vs digital "
            "per-device supports, on real model gradients: uplink reduction vs error",
    check=_check_topk,
    outputs={**{name: "trial" for name in (
        "error", "error_db", "sparsification", "dense_error", "cosine", "uplink_ratio",
        "uplink_reduction")}, "dim": "scalar", "keep": "scalar"},
)
def topk_coding_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    transport: Literal["analog", "digital"] = "analog",
    fraction: float = 0.1,
    problem: Literal["logistic", "softmax"] = "softmax",
    dataset: str = "",
    partition: str = "iid",
    alpha: float = 0.5,
    reg: float = 1e-2,
    iterate: int = 10,
    data_seed: int = 0,
    n: int = 20,
    code: str = "bgc",
    row_weight: int = 3,
    s: int = 2,
    stragglers: str = "bernoulli",
    p: float = 0.1,
    channel: str = "rayleigh",
    snr_db: float = 20.0,
    policy: str = "optimal_power",
    threshold: float = 0.05,
    bits: int = 8,
    explore: float = 0.0,
    decoder: str = "lstsq",
) -> dict:
    """Error and uplink cost of a top-``K`` round on coded gradients of a real model.

    The problem (:func:`aircomp_agc.learning.make_problem`: ``problem`` on ``dataset``,
    default softmax regression on digits, ``D = 650``, or logistic regression on
    breast-cancer, ``D = 31``; ``n`` partitions, ``partition`` scheme) is a fixed part of
    the setup: its data split and partition come from ``data_seed`` (a parameter, so that
    every point of a sweep sees the same problem; the trials' randomness comes from the
    generator only). The gradients are those of exact gradient descent from 0 with step
    ``1/L`` after ``iterate`` steps (``w_t``), one row per partition; the code (``bgc`` is
    random) is drawn per call from the generator.

    - ``transport = "analog"``: :class:`~aircomp_agc.aggregation.CommonSupportTopK` around
      :class:`~aircomp_agc.aggregation.CodedAirComp`. The server broadcasts one support,
      the top ``K = round(fraction D)`` coordinates of its previous aggregate (plus
      ``explore K`` random ones): the previous round, at ``w_{t-1}``, is sent in full
      over the same channel (independent draws), the measured round at ``w_t`` sends
      ``K`` coordinates in ``K`` channel uses instead of ``D``.
    - ``transport = "digital"``: :class:`~aircomp_agc.aggregation.PerDeviceTopK` around
      :class:`~aircomp_agc.aggregation.DigitalAggregation`: each responder sends its own
      top ``K`` entries, ``b`` bits each plus ``ceil(log2 D)`` index bits, at its
      Shannon rate.

    Both truncate at ``threshold`` on ``|h_i|^2``; ``snr_db`` is the transmit SNR at unit
    gain. No error feedback (one round). One trial is one realization of stragglers,
    channel and noise (or rounding) of the measured round.

    Returns
    -------
    dict
        Per-trial ``error`` (``||Ghat - G||^2 / ||G||^2`` of the realization, ``G`` the
        exact sum of the partition gradients), ``error_db``, ``sparsification`` (the part
        of the error due to the coordinates not sent, normalized the same way),
        ``dense_error`` (the same round without sparsification, ``K = D``: the inner
        aggregator, on the same draws for the analog transport without exploration),
        ``cosine`` (cosine between the estimate and ``G``), ``uplink_ratio`` (uplink
        channel uses over those of the uncompressed round) and ``uplink_reduction`` (its
        inverse). Scalars ``dim`` (``D``) and ``keep`` (``K``).
    """
    g_code, g_prev, g_round = rng.spawn(3)
    G_prev, G = _partition_gradients(problem, dataset, n, partition, float(alpha), float(reg),
                                     int(data_seed), int(iterate))
    dim = G.shape[1]
    coded = make_code(code, **_code_kwargs(code, n, row_weight, s), rng=g_code)
    strag = _stragglers(stragglers, p, s)
    round_seed = int(g_round.integers(2**63))
    if transport == "analog":
        inner = CodedAirComp(code=coded, channel=channel, power_control=policy, power=1.0,
                             snr_db=snr_db, stragglers=strag, threshold=threshold,
                             decoder=decoder)
        wrapper: Any = CommonSupportTopK(inner, fraction=fraction, first="full",
                                         explore=explore)
        wrapper.round(G_prev, batch=n_trials, rng=g_prev)  # sets the broadcast support
    else:
        inner = DigitalAggregation(code=coded, channel=channel, power=1.0, snr_db=snr_db,
                                   stragglers=strag, bits=bits, threshold=threshold,
                                   decoder=decoder)
        wrapper = PerDeviceTopK(inner, fraction=fraction)
    res = wrapper.round(G, batch=n_trials, rng=np.random.default_rng(round_seed))
    dense = inner.round(G, batch=n_trials, rng=np.random.default_rng(round_seed))
    exact = res.exact
    norm = np.sum(exact**2, axis=-1)
    err = np.sum((res.estimate - exact) ** 2, axis=-1) / norm
    est_norm = np.linalg.norm(res.estimate, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.where(est_norm > 0, np.sum(res.estimate * exact, axis=-1)
                          / (est_norm * np.sqrt(norm)), 0.0)
    ratio = np.asarray(res.uplink_ratio, dtype=np.float64)
    with np.errstate(divide="ignore"):
        reduction = 1.0 / ratio
    return {
        "error": err,
        "error_db": _db(err),
        "sparsification": np.sum(res.error_parts["sparsification"] ** 2, axis=-1) / norm,
        "dense_error": np.sum((dense.estimate - dense.exact) ** 2, axis=-1) / norm,
        "cosine": cosine,
        "uplink_ratio": ratio,
        "uplink_reduction": reduction,
        "dim": int(dim),
        "keep": int(wrapper.n_keep(dim)),
    }
