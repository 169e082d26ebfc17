"""Physical-layer experiments: the MSE of the over-the-air sum under a power-control policy.

A thin adapter from scenario parameters to :mod:`channels`; the maths lives there.
"""

from __future__ import annotations

import numpy as np

from channels import make_channel
from channels._checks import check_int, check_real
from channels.aircomp import aircomp_mse
from channels.noise import noise_var_from_snr_db
from channels.power_control import make_power_control

from .registry import register_experiment

__all__ = ["aircomp_mse_experiment"]


def _check_aircomp_mse(
    *, channel, policy, n_devices, snr_db, power, gain_threshold, keep, csi_error_var,
    phase_max, monte_carlo_check,
) -> None:
    """Reject a point before any computation (names, ranges, policy parameters)."""
    owner = "experiment 'aircomp-mse'"
    make_channel(channel)
    n_devices = check_int("n_devices", n_devices, low=1, owner=owner)
    check_real("snr_db", snr_db, owner=owner)
    check_real("power", power, low=0.0, low_open=True, owner=owner)
    check_real("gain_threshold", gain_threshold, low=0.0, low_open=True, owner=owner)
    check_int("keep", keep, low=0, high=n_devices, owner=owner)
    check_real("csi_error_var", csi_error_var, low=0.0, owner=owner)
    check_real("phase_max", phase_max, low=0.0, high=float(np.pi), owner=owner)
    make_power_control(policy, **_policy_params(policy, gain_threshold, keep))


def _policy_params(policy: str, gain_threshold: float, keep: int) -> dict:
    if policy == "truncated_inversion":
        return {"gain_threshold": gain_threshold}
    if policy == "threshold_scheduling" and keep > 0:
        return {"keep": keep}
    return {}


@register_experiment(
    "aircomp-mse",
    summary="MSE of the over-the-air sum per realization for a channel and power-control policy",
    check=_check_aircomp_mse,
)
def aircomp_mse_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    channel: str = "rayleigh",
    policy: str = "optimal_power",
    n_devices: int = 20,
    snr_db: float = 10.0,
    power: float = 1.0,
    gain_threshold: float = 0.1,
    keep: int = 0,
    csi_error_var: float = 0.0,
    phase_max: float = 0.0,
    monte_carlo_check: bool = False,
) -> dict:
    """Sum-estimation MSE of ``n_devices`` devices over ``channel`` under ``policy``.

    One trial is one channel realization (drawn with ``make_channel(channel)``); its MSE is
    the closed form conditional on the realization (complex-symbol convention of
    :mod:`channels.aircomp`), averaged by the engine over realizations. ``snr_db`` is the
    per-device transmit SNR ``power / noise_var``. ``gain_threshold`` is used by
    ``truncated_inversion`` (its average-power form) and ``keep`` (> 0) by
    ``threshold_scheduling`` (keep the ``keep`` strongest devices).

    Returns
    -------
    dict
        Per-trial samples ``mse`` (sum MSE), ``mse_db`` (``10 log10 mse``: its mean exists
        even where E[mse] does not, e.g. zero forcing under Rayleigh fading),
        ``mse_per_device`` (``mse / n_devices``) and
        ``scheduled`` (fraction of devices that transmit); with ``monte_carlo_check`` also
        ``mse_mc`` (a simulation of the same realizations, the check of the closed form).
    """
    noise_var = noise_var_from_snr_db(snr_db, power)
    pc_fn = make_power_control(policy, **_policy_params(policy, gain_threshold, keep))
    g_draw, g_mc = rng.spawn(2)
    draw = make_channel(channel).draw(n_trials, n_devices, rng=g_draw)
    h = draw.h[:, 0, :]  # one receive antenna: [batch, K]
    pc = pc_fn(np.abs(h) ** 2, power=power, noise_var=noise_var)
    est = aircomp_mse(h, pc, noise_var, csi_error_var=csi_error_var, phase_max=phase_max,
                      method="analytic")
    out = {
        "mse": est.mean,
        # Zero forcing under Rayleigh fading has E[MSE] = sigma^2 E[1/min_k q_k] = infinity
        # (the minimum of exponentials has a density at 0), so its sample mean never settles;
        # the mean in dB exists and is what the figure shows.
        "mse_db": 10.0 * np.log10(est.mean),
        "mse_per_device": est.mean / n_devices,
        "scheduled": pc.scheduled.mean(axis=-1),
    }
    if monte_carlo_check:
        mc = aircomp_mse(h, pc, noise_var, csi_error_var=csi_error_var, phase_max=phase_max,
                         method="monte-carlo", n_trials=200, rng=g_mc)
        out["mse_mc"] = mc.mean
    return out
