"""Coded over-the-air aggregation experiments: the end-to-end error of one round.

A thin adapter from scenario parameters to :mod:`aircomp_agc.aggregation`. One trial is one
realization of the compute stragglers and the channel; its metric is the error of the round
averaged over the receiver noise in closed form (from the partition Gram matrix), so no
``D``-dimensional work is repeated per trial.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int, check_real
from ..aggregation import CodedAirComp, GradientModel, conditional_error, encode, normalize
from ..coding import CODES, Code, make_code, make_stragglers
from .registry import register_experiment

__all__ = ["coded_aircomp_experiment", "coded_aircomp_instance"]



def _code_kwargs(code: str, n: int, row_weight: int, s: int) -> dict:
    accepted = {p.name for p in CODES.parameters(code)}
    kwargs: dict = {"n": n}
    if "row_weight" in accepted:
        kwargs["row_weight"] = row_weight
    if "s" in accepted:
        kwargs["s"] = s
    return kwargs


def _check(*, code, n, row_weight, s, stragglers, p, channel, policy, snr_db, power,
           threshold, decoder, heterogeneity, dim, csi_error_var, phase_max,
           instance_seed) -> None:
    owner = "experiment 'coded-aircomp'"
    n = check_int("n", n, low=2, owner=owner)
    check_int("dim", dim, low=1, owner=owner)
    if instance_seed is not None:
        check_int("instance_seed", instance_seed, low=0, owner=owner)
    check_real("heterogeneity", heterogeneity, low=0.0, high=1.0, owner=owner)
    check_int("s", s, low=0, high=n - 1, owner=owner)
    check_real("p", p, low=0.0, high=1.0, high_open=True, owner=owner)
    make_code(code, **_code_kwargs(code, n, row_weight, s))
    _build(code=code, n=n, row_weight=row_weight, s=s, stragglers=stragglers, p=p,
           channel=channel, policy=policy, snr_db=snr_db, power=power, threshold=threshold,
           decoder=decoder, csi_error_var=csi_error_var, phase_max=phase_max,
           code_rng=0)


def coded_aircomp_instance(*, code: str = "bgc", n: int = 30, row_weight: int = 4, s: int = 3,
                           heterogeneity: float = 0.5, dim: int = 100, instance_seed: int = 0,
                           ) -> tuple[Code, np.ndarray]:
    """The code and the partition gradients ``G`` ``[n, dim]`` that experiment
    ``coded-aircomp`` uses at every sweep point with this ``instance_seed`` (the same
    draws), e.g. to run :func:`~aircomp_agc.aggregation.codesign.codesign` on the very
    instance a scenario sweeps."""
    g_code, g_grad = np.random.default_rng(instance_seed).spawn(2)
    return _instance(code, n, row_weight, s, heterogeneity, dim, g_code, g_grad)


def _instance(code, n, row_weight, s, heterogeneity, dim, g_code, g_grad):
    G = GradientModel.from_ratio(heterogeneity, energy=float(dim), dim=dim).sample(n, rng=g_grad)
    return make_code(code, **_code_kwargs(code, n, row_weight, s), rng=g_code), G


def _build(*, code, n, row_weight, s, stragglers, p, channel, policy, snr_db, power,
           threshold, decoder, csi_error_var, phase_max, code_rng,
           built: Code | None = None) -> CodedAirComp:
    straggler_model = None
    if stragglers != "none":
        straggler_model = make_stragglers(stragglers, **({"s": s} if stragglers == "fixed"
                                                           else {"p": p}))
    return CodedAirComp(
        code=built if built is not None else make_code(code, **_code_kwargs(code, n, row_weight,
                                                                            s), rng=code_rng),
        channel=channel, power_control=policy, power=power, snr_db=snr_db,
        stragglers=straggler_model, threshold=threshold, decoder=decoder,
        csi_error_var=csi_error_var, phase_max=phase_max,
    )


@register_experiment(
    "coded-aircomp",
    summary="End-to-end error of a coded over-the-air round, split into coding, misalignment "
            "and noise",
    check=_check,
    outputs={name: "trial" for name in ("error", "error_db", "coding", "misalignment", "noise",
                                        "cross", "transmitting", "energy")},
)
def coded_aircomp_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    code: str = "bgc",
    n: int = 30,
    row_weight: int = 4,
    s: int = 3,
    stragglers: str = "bernoulli",
    p: float = 0.1,
    channel: str = "rayleigh",
    policy: str = "optimal_power",
    snr_db: float = 10.0,
    power: float = 1.0,
    threshold: float = 0.0,
    decoder: str = "lstsq",
    heterogeneity: float = 0.5,
    dim: int = 100,
    csi_error_var: float = 0.0,
    phase_max: float = 0.0,
    instance_seed: int | None = 0,
) -> dict:
    """Normalized error ``E_noise||Ghat - G||^2 / ||G||^2`` per straggler/channel draw.

    Partition gradients are one draw (per sweep point) of the model "common mean plus
    i.i.d. heterogeneity" with ``heterogeneity = v / (m2 + v)`` (1: isotropic, the source
    text's setting; 0: identical partition gradients) in ``dim`` coordinates.
    The correlation-aware policies (``"correlation-aware"``, ``"joint"``) know the Gram
    matrix ``G G^T``; their ``-model`` variants only its two-number model. ``stragglers``:
    ``"fixed"`` (``s`` of ``n``), ``"bernoulli"``
    (probability ``p``) or ``"none"``. ``snr_db``: transmit SNR ``P / sigma^2`` at unit
    channel gain. ``instance_seed`` fixes the code draw and the partition gradients across
    the points of a sweep (common random numbers, so curves compare like with like); only
    the straggler, channel and noise draws come from the point's own stream. ``None``
    draws them from the point's stream too.

    Returns
    -------
    dict
        Per-trial ``error`` (normalized total), its parts ``coding``, ``misalignment``,
        ``noise``, ``cross`` (2 (c-1)^T S (beta-c)), all normalized by ``||G||^2``;
        ``error_db``; ``transmitting`` (devices that transmitted) and ``energy`` (sum of
        transmit powers).
    """
    g_code, g_grad, g_plan = rng.spawn(3)
    if instance_seed is not None:
        g_code, g_grad = np.random.default_rng(instance_seed).spawn(2)
    built, G = _instance(code, n, row_weight, s, heterogeneity, dim, g_code, g_grad)
    agg = _build(code=code, n=n, row_weight=row_weight, s=s, stragglers=stragglers, p=p,
                 channel=channel, policy=policy, snr_db=snr_db, power=power,
                 threshold=threshold, decoder=decoder, csi_error_var=csi_error_var,
                 phase_max=phase_max, code_rng=g_code, built=built)
    _, msg_rms = normalize(encode(agg.code, G))
    S = G @ G.T
    plan = agg.plan(msg_rms, batch=n_trials, second_moments=S, dim=dim, rng=g_plan)
    parts = conditional_error(plan.coding_coefficients, plan.coefficients,
                              plan.noise_std**2 * dim, S)
    norm = float(np.sum(G.sum(0) ** 2))
    return {
        "error": parts["total"] / norm,
        "error_db": 10.0 * np.log10(parts["total"] / norm),
        "coding": parts["coding"] / norm,
        "misalignment": parts["misalignment"] / norm,
        "noise": parts["noise"] / norm,
        "cross": parts["coding*misalignment"] / norm,
        "transmitting": plan.responders.sum(-1).astype(float),
        "energy": plan.power.sum(-1),
    }
