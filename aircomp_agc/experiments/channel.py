"""Physical-layer experiments: the MSE of the over-the-air sum under a power-control policy.

A thin adapter from scenario parameters to :mod:`channels`; the maths lives there. The
channel and the policy are each a name or a table with their parameters
(:mod:`.specs`); what the experiment does with them follows their registry tags:

- a channel tagged ``path_loss`` (or given a ``large_scale`` with a path loss) has gains
  far from one, so a transmit SNR through a unit-gain channel means nothing: there
  ``snr_db`` is the received SNR at the model's reference gain (``sionna-3gpp``: the cell
  edge), and models without a reference need a link budget (``noise = { bandwidth_hz,
  noise_figure_db }`` and ``power_dbm``); a point where every device's received SNR stays
  below :data:`LOW_SNR_DB` is warned about
  (:func:`channels.received_snr.check_received_snr`);
- a channel whose draws have extra axes after the device axis (``extra_axes``, e.g.
  subcarriers) is power-controlled and summed on each of them separately: a trial's MSE
  is the mean over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from channels import CHANNELS, aircomp_mse, make_power_control
from channels.noise import dbm_to_watt, make_noise_var
from channels.received_snr import check_received_snr, noise_var_from_reference_snr

from .._checks import check_int, check_real
from .registry import register_experiment
from .specs import ModelSpec, build_channel, model_spec

__all__ = ["LOW_SNR_DB", "aircomp_mse_experiment"]

OWNER = "experiment 'aircomp-mse'"

#: A point whose every device has a received SNR below this (dB) is warned about.
LOW_SNR_DB = -10.0

#: Monte-Carlo trials per realization of the optional simulation check.
MC_CHECK_TRIALS = 200

OUTPUTS = {
    "mse": "trial",
    "mse_db": "trial",
    "mse_per_device": "trial",
    "scheduled": "trial",
    "rx_snr_db": "trial",
    "mse_mc": "trial",
    "mse_mc_db": "trial",
}


@dataclass(frozen=True)
class _Setup:
    """Everything a point needs, validated: models built, power and noise in one unit."""

    channel: Any
    policy: Any
    power: float
    noise_var: float


def _setup(channel, policy, snr_db, noise, power, power_dbm) -> _Setup:
    ch_spec = model_spec(channel, "channel", OWNER)
    pol_spec = model_spec(policy, "policy", OWNER)
    model = build_channel(ch_spec)
    policy_fn = make_power_control(pol_spec.name, **pol_spec.params)
    power_w, noise_var = _noise(ch_spec, model, snr_db, noise, power, power_dbm)
    return _Setup(model, policy_fn, power_w, noise_var)


def _path_loss(spec: ModelSpec, model: Any) -> str:
    """Why the channel's gains include path loss (its tag, or its large scale), or ``""``."""
    if CHANNELS.tags(spec.name).get("path_loss"):
        return "tag path_loss"
    if getattr(getattr(model, "large_scale", None), "path_loss", None) is not None:
        return "large_scale.path_loss"
    return ""


def _noise(spec: ModelSpec, model, snr_db, noise, power, power_dbm) -> tuple[float, float]:
    """``(power, noise_var)`` in one unit, from ``snr_db`` or a ``noise`` table.

    With path loss in the gains (tag ``path_loss`` or a ``large_scale.path_loss``) a
    transmit SNR would describe a unit-gain channel no device has (MSE = K without a word).
    There ``snr_db`` is the received SNR ``P beta_ref / sigma^2`` of a device at the model's
    reference gain (``model.reference_gain``; ``sionna-3gpp``: the mean large-scale gain at
    ``reference_distance_m``, by default the cell edge), and models without one need a
    link budget (``noise = { bandwidth_hz, noise_figure_db }`` and the power in W or dBm).
    """
    if (snr_db is None) == (noise is None):
        raise ValueError(
            f"{OWNER} needs exactly one of 'snr_db' (transmit SNR P/sigma^2 in dB) and "
            "'noise' (a table: { snr_db }, { noise_var } or a link budget { bandwidth_hz, "
            f"noise_figure_db, psd_dbm_hz }}); got snr_db={snr_db!r}, noise={noise!r}."
        )
    if power is not None and power_dbm is not None:
        raise ValueError(f"{OWNER} takes the transmit power once, as 'power' (W) or "
                         f"'power_dbm'; got power={power!r}, power_dbm={power_dbm!r}.")
    if noise is not None and not isinstance(noise, Mapping):
        raise TypeError(f"The 'noise' parameter of {OWNER} must be a table; got {noise!r}.")
    table = {"snr_db": snr_db} if noise is None else dict(noise)
    link_budget = "bandwidth_hz" in table
    reference = None
    if "snr_db" in table and (why := _path_loss(spec, model)):
        reference = getattr(model, "reference_gain", None)
        if reference is None:
            raise ValueError(
                f"The 'snr_db' parameter of {OWNER} is a transmit SNR through a unit-gain "
                f"channel, which means nothing for channel {spec.name!r}: its gains include "
                f"path loss ({why}) and it defines no reference gain. Give a link budget "
                "instead: noise = { bandwidth_hz, noise_figure_db } and power_dbm (or power "
                f"in W); got snr_db={table['snr_db']!r}."
            )
    if power_dbm is not None:
        power_w = float(dbm_to_watt(check_real("power_dbm", power_dbm, owner=OWNER)))
    elif power is not None:
        power_w = check_real("power", power, low=0.0, low_open=True, owner=OWNER)
    elif link_budget:
        raise ValueError(
            f"A link budget (noise with bandwidth_hz) gives the noise in watts, so {OWNER} "
            "needs the transmit power in the same unit: 'power_dbm' (e.g. 23) or 'power' (W)."
        )
    else:
        power_w = 1.0
    if reference is not None:  # the SNR of a device at the model's reference gain
        extra = sorted(set(table) - {"snr_db", "power_w"})
        if extra:
            raise ValueError(f"The 'noise' table of {OWNER} with snr_db takes only snr_db "
                             f"and power_w; got {extra}.")
        return power_w, noise_var_from_reference_snr(table["snr_db"], reference, power_w)
    if "snr_db" in table:
        table.setdefault("power_w", power_w)
    return power_w, make_noise_var(**table)


def _check_aircomp_mse(
    *, channel, policy, n_devices, snr_db, noise, power, power_dbm, csi_error_var, phase_max,
    monte_carlo_check,
) -> None:
    """Reject a point before any computation: build its models, check ranges and units."""
    check_int("n_devices", n_devices, low=1, owner=OWNER)
    check_real("csi_error_var", csi_error_var, low=0.0, owner=OWNER)
    check_real("phase_max", phase_max, low=0.0, high=float(np.pi), owner=OWNER)
    if not isinstance(monte_carlo_check, bool):
        raise TypeError(f"The 'monte_carlo_check' parameter of {OWNER} must be a bool; got "
                        f"{monte_carlo_check!r}.")
    _setup(channel, policy, snr_db, noise, power, power_dbm)


@register_experiment(
    "aircomp-mse",
    summary="MSE of the over-the-air sum per realization for a channel and power-control policy",
    check=_check_aircomp_mse,
    outputs=OUTPUTS,
)
def aircomp_mse_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    channel: str | dict = "rayleigh",
    policy: str | dict = "optimal_power",
    n_devices: int = 20,
    snr_db: float | None = None,
    noise: dict | None = None,
    power: float | None = None,
    power_dbm: float | None = None,
    csi_error_var: float = 0.0,
    phase_max: float = 0.0,
    monte_carlo_check: bool = False,
) -> dict:
    """Sum-estimation MSE of ``n_devices`` single-antenna devices over a channel and policy.

    One trial is one channel realization; its MSE is the closed form conditional on the
    realization (complex-symbol convention of :mod:`channels.aircomp`), averaged by the
    engine over realizations.

    Parameters
    ----------
    channel : str or table
        Channel model: a name (``aircomp-agc list channels``) or a table with its
        parameters, e.g. ``{ name = "rician", k_factor = 4 }``, and optionally
        ``large_scale = { drop, path_loss, shadowing_db }``.
    policy : str or table
        Power-control policy: a name (``aircomp-agc list power-control``) or a table with
        its parameters, e.g. ``{ name = "threshold_scheduling", keep = 16 }``.
    n_devices : int
        Number of devices K.
    snr_db : float
        Transmit SNR P/sigma^2 in dB (through a unit-gain channel); with path loss, the
        received SNR at the model's reference gain. Exactly one of snr_db and noise.
    noise : table
        Receiver noise as channels.noise.make_noise_var takes it: { snr_db },
        { noise_var } or a link budget { bandwidth_hz, noise_figure_db, psd_dbm_hz } (W).
    power : float
        Peak transmit power P (W with a link budget; default 1 with an SNR).
    power_dbm : float
        The transmit power in dBm instead (23 dBm = 0.2 W).
    csi_error_var : float
        Variance of the channel-estimation error.
    phase_max : float
        Phase misalignment, uniform in [-phase_max, phase_max] radians.
    monte_carlo_check : bool
        Also estimate the MSE by simulation, the independent check of the closed form
        (metrics ``mse_mc`` and ``mse_mc_db``): ``n_trials`` channel realizations of its
        own (not those of ``mse``), the policy applied to each, and the over-the-air sum
        simulated :data:`MC_CHECK_TRIALS` times per realization (fresh symbols, noise, CSI
        error and phases; 8 symbols a time) -- no closed form is used.

    Returns
    -------
    dict
        Per-trial samples ``mse`` (sum MSE), ``mse_db`` (``10 log10 mse``: its mean exists
        even where E[mse] does not, e.g. zero forcing under Rayleigh fading),
        ``mse_per_device`` (``mse / n_devices``), ``scheduled`` (fraction of devices that
        transmit), ``rx_snr_db`` (``10 log10`` of the devices' mean received SNR
        ``P |h_k|^2 / sigma^2``) and, with ``monte_carlo_check``, ``mse_mc`` (the
        simulated MSE of a realization) and ``mse_mc_db`` (``10 log10 mse_mc``). Both dB
        metrics are per-realization values in dB, so their means (what the engine
        reports) are E[10 log10 MSE(h)] over fading, comparable with each other; the
        simulated MSE of a realization is a mean over 1600 squared errors, which biases
        its dB value low by about ``10 / ln 10 * var / (2 mean^2 * 1600)``, under 0.003 dB.
    """
    setup = _setup(channel, policy, snr_db, noise, power, power_dbm)
    g_draw, g_mc = rng.spawn(2)
    draw = setup.channel.draw(n_trials, n_devices, rng=g_draw)
    # One receive antenna; extra axes (subcarriers) join the batch: [trials * extra, K].
    h = np.moveaxis(np.asarray(draw.h)[:, 0], 1, -1)
    per_trial = int(np.prod(h.shape[1:-1], dtype=int))
    h = h.reshape(n_trials * per_trial, n_devices)
    gain2 = np.abs(h) ** 2
    pc = setup.policy(gain2, power=setup.power, noise_var=setup.noise_var)
    mse = np.asarray(aircomp_mse(h, pc, setup.noise_var, csi_error_var=csi_error_var,
                                 phase_max=phase_max, method="analytic").mean)
    rx_snr = setup.power * gain2 / setup.noise_var
    check_received_snr(gain2, setup.power, setup.noise_var, threshold_db=LOW_SNR_DB, owner=OWNER)
    out = {
        "mse": _per_trial(mse, n_trials),
        # Zero forcing under Rayleigh fading has E[MSE] = sigma^2 E[1/min_k q_k] = infinity
        # (the minimum of exponentials has a density at 0), so its sample mean never settles;
        # the mean in dB exists and is what the figure shows.
        "mse_db": _per_trial(10.0 * np.log10(mse), n_trials),
        "mse_per_device": _per_trial(mse, n_trials) / n_devices,
        "scheduled": _per_trial(np.asarray(pc.scheduled).mean(axis=-1), n_trials),
        "rx_snr_db": 10.0 * np.log10(_per_trial(rx_snr.mean(axis=-1), n_trials)),
    }
    if monte_carlo_check:
        # Realizations of its own: the check shares no random number with the closed form.
        g_mc_draw, g_mc_sum = g_mc.spawn(2)
        mc_draw = setup.channel.draw(n_trials, n_devices, rng=g_mc_draw)
        h_mc = np.moveaxis(np.asarray(mc_draw.h)[:, 0], 1, -1).reshape(-1, n_devices)
        pc_mc = setup.policy(np.abs(h_mc) ** 2, power=setup.power, noise_var=setup.noise_var)
        mc = aircomp_mse(h_mc, pc_mc, setup.noise_var, csi_error_var=csi_error_var,
                         phase_max=phase_max, method="monte-carlo", n_trials=MC_CHECK_TRIALS,
                         rng=g_mc_sum)
        mse_mc = np.asarray(mc.mean)
        out["mse_mc"] = _per_trial(mse_mc, n_trials)
        out["mse_mc_db"] = _per_trial(10.0 * np.log10(mse_mc), n_trials)
    return out


def _per_trial(values: np.ndarray, n_trials: int) -> np.ndarray:
    """Mean over the extra axes folded into the batch: ``[n_trials * E] -> [n_trials]``."""
    return values.reshape(n_trials, -1).mean(axis=1)


