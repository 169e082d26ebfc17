"""Joint co-design of the coding and channel layers: what joint design gains, measured.

Experiment ``codesign``: at one operating point (SNR, straggler rate, heterogeneity of the
partition gradients) it runs :func:`aircomp_agc.aggregation.codesign.codesign` over code x
row weight x truncation threshold x policy, then evaluates the two choices it returns --
the **joint optimum** and the **per-layer choice** (the code tuned for compute stragglers
alone, the threshold and policy tuned for the uncoded over-the-air sum alone) -- on fresh,
independent realizations. Both choices see the same realization in a trial (paired), so
the gap has a tight confidence interval. The search's own draws are not reused for the
evaluation: a minimum taken over a grid on the same draws it is evaluated on is biased
low (the winner's curse), and a fresh evaluation removes that bias (so the measured
ratio ``per_layer / joint`` is ``>= 1`` up to Monte-Carlo error, not by construction).

The error surface over (threshold, row weight) itself is the ``coded-aircomp``
experiment swept over both (scenario ``codesign.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_real
from ..aggregation import CodedAirComp, GradientModel, conditional_error
from ..aggregation.codesign import codesign
from ..aggregation.error import quadratic_form
from ..coding import code_tags, make_code, make_stragglers, storage_params
from .registry import register_experiment

__all__ = ["codesign_experiment"]

OWNER = "experiment 'codesign'"
STRAGGLER_MODELS = ("bernoulli", "fixed", "none")

OUTPUTS = {
    **{name: "trial" for name in ("joint", "per_layer", "gap", "joint_db", "per_layer_db")},
    **{name: "scalar" for name in (
        "ratio", "search_ratio", "joint_row_weight", "joint_storage", "joint_threshold",
        "joint_code", "joint_policy", "per_layer_row_weight", "per_layer_storage",
        "per_layer_threshold", "per_layer_code", "per_layer_policy", "grid_points")},
}


def _stragglers(stragglers: str, p: float, s: int):
    if stragglers == "none":
        return None
    return make_stragglers(stragglers, **({"s": s} if stragglers == "fixed" else {"p": p}))


def _names(name: str, values: Any, item: str) -> tuple:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"The '{name}' parameter of {OWNER} must be a non-empty list of "
                         f"{item}s; got {values!r}.")
    return tuple(values)


def _build_codes(codes, row_weights, n: int, rng) -> tuple[list, list[str]]:
    """Every (code, row weight) of the grid as ``Code`` objects, and what was refused."""
    built, refused = [], []
    for name in codes:
        storage_param = code_tags(name)["storage_param"]
        for w in (row_weights if storage_param else row_weights[:1]):
            try:
                built.append(make_code(name, n=n, **storage_params(name, w), rng=rng))
            except ValueError as exc:
                refused.append(f"{name} row_weight={w}: {exc}")
    return built, refused


def _check(*, n, snr_db, stragglers, p, s, heterogeneity, dim, channel, codes, row_weights,
           thresholds, policies, storage_budget, search_draws, decoder) -> dict[str, Any]:
    n = check_int("n", n, low=2, owner=OWNER)
    check_real("snr_db", snr_db, owner=OWNER)
    check_choice("stragglers", stragglers, STRAGGLER_MODELS, owner=OWNER)
    check_real("heterogeneity", heterogeneity, low=0.0, high=1.0, owner=OWNER)
    check_int("dim", dim, low=1, owner=OWNER)
    check_int("search_draws", search_draws, low=2, owner=OWNER)
    codes = _names("codes", codes, "code name")
    row_weights = tuple(check_int("row_weights", w, low=1, high=n, owner=OWNER)
                        for w in _names("row_weights", row_weights, "int"))
    thresholds = tuple(check_real("thresholds", t, low=0.0, owner=OWNER)
                       for t in _names("thresholds", thresholds, "float"))
    policies = _names("policies", policies, "policy name")
    for pol in policies:
        if not isinstance(pol, str):
            raise ValueError(f"The 'policies' parameter of {OWNER} must hold policy names; got "
                             f"{pol!r}.")
        CodedAirComp(code=make_code("uncoded", n=2), power_control=pol, noise_var=1.0)
    used: dict[str, Any] = {"stragglers": stragglers}
    if stragglers == "bernoulli":
        used["p"] = check_real("p", p, low=0.0, high=1.0, high_open=True, owner=OWNER)
    elif stragglers == "fixed":
        used["s"] = check_int("s", s, low=0, high=n - 1, owner=OWNER)
    built, refused = _build_codes(codes, row_weights, n, 0)
    if not built:
        raise ValueError(f"No code of the 'codes' parameter of {OWNER} can be built at n={n}: "
                         f"{'; '.join(refused[:3])}.")
    if storage_budget is not None:
        budget = check_real("storage_budget", storage_budget, low=1.0, owner=OWNER)
        if not any(c.storage <= budget for c in built):
            least = min(c.storage for c in built)
            raise ValueError(f"The 'storage_budget' parameter of {OWNER} leaves no code of the "
                             f"grid (the least storage is {least}); got {storage_budget!r}.")
    CodedAirComp(code=built[0], channel=channel, noise_var=1.0, decoder=decoder)
    return dict(used, n=n, snr_db=snr_db, heterogeneity=heterogeneity, dim=dim,
                channel=channel, codes=list(codes), row_weights=list(row_weights),
                thresholds=list(thresholds), policies=list(policies),
                storage_budget=storage_budget, search_draws=search_draws, decoder=decoder)


@register_experiment(
    "codesign",
    summary="Joint co-design vs per-layer choice of code, row weight, truncation threshold and "
            "policy: both evaluated on fresh draws, and their ratio",
    check=_check,
    outputs=OUTPUTS,
)
def codesign_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    n: int = 30,
    snr_db: float = 10.0,
    stragglers: str = "bernoulli",
    p: float = 0.1,
    s: int = 3,
    heterogeneity: float = 0.5,
    dim: int = 100,
    channel: str = "rayleigh",
    codes: Sequence[str] = ("approx-frc", "bgc"),
    row_weights: Sequence[int] = (1, 2, 3, 4, 6, 8),
    thresholds: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.4),
    policies: Sequence[str] = ("optimal_power",),
    storage_budget: float | None = None,
    search_draws: int = 300,
    decoder: str = "lstsq",
) -> dict:
    """Error of the joint optimum and of the per-layer choice, on fresh realizations.

    The search (:func:`~aircomp_agc.aggregation.codesign.codesign`, ``search_draws``
    realizations shared by every grid point) covers ``codes`` x ``row_weights`` x
    ``thresholds`` x ``policies`` for ``n`` devices (= workers = partitions), transmit SNR
    ``snr_db`` (``P / sigma^2`` at unit gain, ``P = 1``), compute stragglers
    (``"bernoulli"`` with probability ``p``, ``"fixed"`` with ``s``, or ``"none"``) and the
    gradient model "common mean plus i.i.d. heterogeneity" with ratio ``heterogeneity =
    v / (m2 + v)`` in ``dim`` coordinates (no gradients are drawn: the expected error is a
    closed form in the model). Random codes are drawn once per call from the generator.
    ``storage_budget`` (partitions per worker) bounds the codes both designs may use;
    without it the joint design is free to buy error with storage that the per-layer
    choice (the least storage with the least coding error) does not spend, so the ratio
    mixes the two effects.

    The joint optimum and the per-layer choice are then evaluated on ``n_trials`` new
    straggler and channel realizations, the same ones for both (one trial = one
    realization, its error averaged over the receiver noise in closed form).

    Returns
    -------
    dict
        Per trial: ``joint`` and ``per_layer`` (normalized error ``E_noise||Ghat - G||^2 /
        E||G||^2``), ``gap`` (``per_layer - joint``, paired), ``joint_db`` and
        ``per_layer_db``. Scalars: ``ratio`` (``mean(per_layer) / mean(joint)`` over the
        trials of the call: with one batch per point, the point's ratio),
        ``search_ratio`` (the same ratio on the search's own draws, ``>= 1`` exactly),
        the chosen settings ``joint_*`` and ``per_layer_*`` (``row_weight``, ``storage``,
        ``threshold``, and ``code`` / ``policy`` as indices into ``codes`` /
        ``policies``) and ``grid_points``.
    """
    g_code, g_search, g_eval = rng.spawn(3)
    model = GradientModel.from_ratio(heterogeneity, energy=float(dim), dim=dim)
    built, _ = _build_codes(tuple(codes), tuple(row_weights), n, g_code)
    strag = _stragglers(stragglers, p, s)
    result = codesign(n=n, stragglers=strag, snr_db=snr_db, channel=channel,
                      gradient_model=model, codes=built, row_weights=tuple(row_weights),
                      thresholds=tuple(thresholds), policies=tuple(policies),
                      storage_budget=storage_budget, decoder=decoder, n_draws=search_draws,
                      rng=g_search)
    by_key = {(c.name, int(c.params.get("row_weight", c.storage))): c for c in built}
    exact_energy = float(quadratic_form(np.ones(n), model))
    eval_seed = int(g_eval.integers(2**63))
    errors = {}
    for label, point in (("joint", result.best), ("per_layer", result.per_layer)):
        code = by_key[(point.code, point.row_weight)]
        agg = CodedAirComp(code=code, channel=channel, power_control=point.policy, power=1.0,
                           snr_db=snr_db, stragglers=strag, threshold=point.threshold,
                           decoder=decoder)
        # Message RMS from the model: s_i^2 = E||f_i||^2 / D = b_i^T (m2 11^T + v I) b_i / D.
        msg_rms = np.sqrt(model.quadratic(code.B.toarray()) / dim)
        plan = agg.plan(msg_rms, batch=n_trials, second_moments=model, dim=dim,
                        rng=np.random.SeedSequence(eval_seed))  # the same draws for both
        parts = conditional_error(plan.coding_coefficients, plan.coefficients,
                                  plan.noise_std**2 * dim, model)
        errors[label] = parts["total"] / exact_energy
    joint, per_layer = errors["joint"], errors["per_layer"]
    names, pols = list(codes), list(policies)
    out: dict[str, Any] = {
        "joint": joint,
        "per_layer": per_layer,
        "gap": per_layer - joint,
        "joint_db": 10.0 * np.log10(joint),
        "per_layer_db": 10.0 * np.log10(per_layer),
        "ratio": float(per_layer.mean() / joint.mean()),
        "search_ratio": float(result.ratio),
        "grid_points": len(result.surface),
    }
    for label, point in (("joint", result.best), ("per_layer", result.per_layer)):
        out[f"{label}_row_weight"] = int(point.row_weight)
        out[f"{label}_storage"] = int(point.storage)
        out[f"{label}_threshold"] = float(point.threshold)
        out[f"{label}_code"] = names.index(point.code)
        out[f"{label}_policy"] = pols.index(point.policy)
    return out
