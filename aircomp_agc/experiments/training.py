"""Training experiments: a model trained through coded over-the-air aggregation.

One trial is one independent training run (its own channel, straggler and noise draws; the
data, partitions and code are fixed per sweep point by the point's seed). Runs are batched
(``reps`` = trials) for linear models.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_int, check_real
from ..aggregation import CodedAirComp, OnlineGradientModel
from ..coding import make_code, make_stragglers
from ..coding.registry import code_parameters
from ..learning import (
    inexact_gd_bound,
    inexact_gd_floor,
    make_problem,
    mean_aggregate_gd,
    source_text_bound,
    train,
)
from ..learning.problems import PROBLEMS
from .registry import register_experiment

__all__ = ["training_experiment"]

AGGREGATORS = ("ideal", "coded-aircomp")
GRADIENT_MODELS = ("", "online")
#: Per-round outputs (index ``round`` = 0..rounds; see the experiment's docstring).
CURVES = ("test_accuracy_curve", "loss_curve", "suboptimality_curve",
          "aggregation_error_curve", "bound_curve", "source_bound_curve")
#: Per-round outputs of the error-free reference run (``ideal_reference=True``).
IDEAL_CURVES = ("ideal_test_accuracy_curve", "ideal_loss_curve", "ideal_suboptimality_curve")
#: Per-round output of gradient descent on the mean aggregate (``mean_draws > 0``).
MEAN_CURVES = ("mean_suboptimality_curve",)


def _aggregator(*, aggregator, code, n, row_weight, s, p, channel, policy, snr_db, threshold,
                rng, gradient_model=""):
    if aggregator == "ideal":
        return "ideal"
    accepted = set(code_parameters(code))
    kw = {"n": n}
    if "row_weight" in accepted:
        kw["row_weight"] = row_weight
    if "s" in accepted:
        kw["s"] = s
    stragglers = make_stragglers("bernoulli", p=p) if p > 0 else None
    return CodedAirComp(code=make_code(code, **kw, rng=rng), channel=channel,
                        power_control=policy, snr_db=snr_db, stragglers=stragglers,
                        threshold=threshold,
                        gradient_model=OnlineGradientModel() if gradient_model else None)


def _check(*, problem, dataset, n_partitions, partition, alpha, reg, aggregator, code,
           row_weight, s, p, channel, policy, snr_db, threshold, rounds, lr_scale,
           method, target, gradient_model, instance_seed, ideal_reference, mean_draws) -> None:
    owner = "experiment 'training'"
    check_choice("problem", problem, tuple(PROBLEMS), owner=owner)
    check_choice("aggregator", aggregator, AGGREGATORS, owner=owner)
    check_choice("gradient_model", gradient_model, GRADIENT_MODELS, owner=owner)
    check_int("instance_seed", instance_seed, low=-1, owner=owner)
    if not isinstance(ideal_reference, bool):
        raise ValueError(f"The 'ideal_reference' parameter of {owner} must be true or false; "
                         f"got {type(ideal_reference).__name__} {ideal_reference!r}.")
    check_int("mean_draws", mean_draws, low=0, owner=owner)
    if mean_draws and (aggregator == "ideal" or method != "gd"):
        raise ValueError(f"The 'mean_draws' parameter of {owner} (gradient descent on the mean "
                         "aggregate) needs aggregator='coded-aircomp' and method='gd'; got "
                         f"mean_draws={mean_draws!r} with aggregator={aggregator!r}, "
                         f"method={method!r}.")
    check_int("n_partitions", n_partitions, low=1, owner=owner)
    check_int("rounds", rounds, low=1, owner=owner)
    check_real("lr_scale", lr_scale, low=0.0, low_open=True, owner=owner)
    check_real("p", p, low=0.0, high=1.0, high_open=True, owner=owner)
    check_real("target", target, low=0.0, low_open=True, owner=owner)
    if aggregator == "coded-aircomp":
        _aggregator(aggregator=aggregator, code=code, n=n_partitions, row_weight=row_weight,
                    s=s, p=p, channel=channel, policy=policy, snr_db=snr_db,
                    threshold=threshold, rng=0, gradient_model=gradient_model)


@register_experiment(
    "training",
    summary="Gradient descent / FedAvg through coded over-the-air aggregation on real data",
    check=_check,
    outputs={**{name: "trial" for name in ("suboptimality", "loss", "test_accuracy",
                                           "rounds_to_target", "aggregation_error", "floor",
                                           "bound", "source_bound", "epsilon",
                                           "mean_suboptimality")},
             **{name: "curve" for name in CURVES + IDEAL_CURVES + MEAN_CURVES}},
    curve_index="round",
)
def training_experiment(
    *,
    rng: np.random.Generator,
    n_trials: int,
    problem: str = "logistic",
    dataset: str = "",
    n_partitions: int = 20,
    partition: str = "iid",
    alpha: float = 0.5,
    reg: float = 1e-2,
    aggregator: str = "coded-aircomp",
    code: str = "bgc",
    row_weight: int = 3,
    s: int = 2,
    p: float = 0.1,
    channel: str = "rayleigh",
    policy: str = "optimal_power",
    snr_db: float = 20.0,
    threshold: float = 0.0,
    rounds: int = 100,
    lr_scale: float = 1.0,
    method: str = "gd",
    target: float = 1e-3,
    gradient_model: str = "",
    instance_seed: int = -1,
    ideal_reference: bool = False,
    mean_draws: int = 0,
) -> dict:
    """Train ``problem`` for ``rounds`` rounds; metrics of the final model per run, and curves
    over the rounds.

    ``dataset=""`` uses the problem's default data. The step is ``lr_scale / L`` for
    convex problems (0.5 * ``lr_scale`` otherwise). Compute stragglers are Bernoulli with
    probability ``p`` (0: none). ``target`` is the suboptimality ``F - F*`` whose first
    passage is reported as ``rounds_to_target`` (``rounds + 1`` if never reached).
    ``gradient_model="online"`` gives the correlation-aware policies (``policy="joint"``)
    the receiver's online estimate of the gradient model instead of the oracle Gram matrix.
    ``instance_seed >= 0`` draws the problem (split, partitions, initialization) and the
    code from that seed instead of the point's, so that the points of a sweep (e.g. over
    ``rounds``) train the same instance; the training draws stay the point's.

    Returns
    -------
    dict
        Per-run ``suboptimality`` (``F(w_T) - F*``; NaN for non-convex models), ``loss``,
        ``test_accuracy``, ``rounds_to_target``, ``aggregation_error`` (mean error energy
        ``||e||^2`` of the aggregated gradient over the rounds), ``floor`` (the
        inexact-gradient floor ``E||e||^2 / (2 mu)`` from the measured error energies),
        ``bound`` (the inexact-gradient recursion
        ``b_{t+1} = (1 - mu/L) b_t + ||e_t||^2 / (2L)`` at round ``rounds`` from the run's
        measured error energies: an upper bound on ``suboptimality`` of the same run),
        ``source_bound`` (the source text's ``(1 - mu/L)^T (F(w_0) - F*) + epsilon sigma^2
        / mu`` with the run's ``epsilon`` and ``sigma^2 = max_t ||grad F(w_t)||^2``) and
        ``epsilon`` (``sum_t ||e_t||^2 / sum_t ||grad F(w_t)||^2`` of the run). The bounds
        are NaN for non-convex models and unless ``method="gd"`` with ``lr_scale=1``
        (step ``1/L``, the step they are proved for).

        Curves ``[n_trials, rounds + 1]`` over ``round`` = 0..rounds (every round is
        evaluated, the test accuracy included; a run that diverged is NaN after it stopped):
        ``test_accuracy_curve``, ``loss_curve``, ``suboptimality_curve`` (the model
        ``w_r`` after ``r`` rounds), ``aggregation_error_curve`` (``||e||^2`` of the
        aggregate applied in round ``r``; NaN at round 0), ``bound_curve`` (the
        inexact-gradient recursion ``b_r``) and ``source_bound_curve`` (the source text's
        bound at ``T = r`` with the run's ``epsilon`` and ``sigma^2``); their last columns
        are the final-value outputs. With ``ideal_reference=True`` also
        ``ideal_test_accuracy_curve``, ``ideal_loss_curve`` and
        ``ideal_suboptimality_curve``: the same problem trained with the error-free
        aggregator (``n_trials`` runs, initial models drawn from ``instance_seed`` when it
        is set, so that every point of a sweep gets the same reference). With
        ``mean_draws > 0`` also ``mean_suboptimality_curve``: ``F - F*`` of gradient descent
        on the mean aggregate (the mean over ``mean_draws`` realizations, the same ones
        every round) from each run's starting point
        (:func:`~aircomp_agc.learning.mean_aggregate_gd`): where the aggregator's bias alone
        takes training (NaN for non-convex problems), and its last value as
        ``mean_suboptimality``.
    """
    g_prob, g_code, g_train, g_ideal, g_mean = rng.spawn(5)  # the first four as before
    if instance_seed >= 0:
        g_prob, g_code, g_ideal = np.random.default_rng(instance_seed).spawn(3)
    prob = make_problem(problem, dataset=dataset or None, n_partitions=n_partitions,
                        partition=partition, alpha=alpha, reg=reg, rng=g_prob)
    agg = _aggregator(aggregator=aggregator, code=code, n=n_partitions, row_weight=row_weight,
                      s=s, p=p, channel=channel, policy=policy, snr_db=snr_db,
                      threshold=threshold, rng=g_code, gradient_model=gradient_model)
    lr = lr_scale / prob.L if prob.L else 0.5 * lr_scale
    hist = train(prob, agg, rounds=rounds, lr=lr, method=method, reps=n_trials, rng=g_train)
    reached = hist.rounds_to(target)
    grad_energy = np.maximum(hist.aggregation_error, 0.0)
    floor = (np.array([inexact_gd_floor(prob.mu, e.mean()) for e in grad_energy])
             if prob.convex and prob.mu else np.full(n_trials, np.nan))
    bound, source = np.full(n_trials, np.nan), np.full(n_trials, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        epsilon = hist.aggregation_error.sum(1) / hist.gradient_energy.sum(1)
    if prob.convex and prob.mu and method == "gd" and lr_scale == 1.0:
        gap0 = hist.suboptimality[:, 0]
        bound = inexact_gd_bound(gap0, prob.L, prob.mu, grad_energy)[:, -1]
        sigma2 = hist.gradient_energy.max(axis=1)
        source = np.array([source_text_bound(g, prob.L, prob.mu, hist.rounds_run, e, s2)[-1]
                           for g, e, s2 in zip(gap0, epsilon, sigma2, strict=True)])
    width = rounds + 1  # every curve, also of a run that stopped early
    curves = {
        "test_accuracy_curve": _pad(hist.test_accuracy, width),
        "loss_curve": _pad(hist.loss, width),
        "suboptimality_curve": _pad(hist.suboptimality, width),
        "aggregation_error_curve": _pad(np.concatenate(
            [np.full((n_trials, 1), np.nan), hist.aggregation_error], axis=1), width),
        "bound_curve": np.full((n_trials, width), np.nan),
        "source_bound_curve": np.full((n_trials, width), np.nan),
    }
    if prob.convex and prob.mu and method == "gd" and lr_scale == 1.0:
        curves["bound_curve"] = _pad(inexact_gd_bound(gap0, prob.L, prob.mu, grad_energy),
                                     width)
        t = np.arange(hist.rounds_run + 1)
        curves["source_bound_curve"] = _pad(
            (1.0 - prob.mu / prob.L) ** t * gap0[:, None]
            + (epsilon * sigma2 / prob.mu)[:, None], width)
    if ideal_reference:
        ideal = train(prob, "ideal", rounds=rounds, lr=lr, method=method, reps=n_trials,
                      rng=g_ideal)
        curves["ideal_test_accuracy_curve"] = _pad(ideal.test_accuracy, width)
        curves["ideal_loss_curve"] = _pad(ideal.loss, width)
        curves["ideal_suboptimality_curve"] = _pad(ideal.suboptimality, width)
    if mean_draws:
        curves["mean_suboptimality_curve"] = np.full((n_trials, width), np.nan)
        if prob.convex and prob.f_star is not None:
            curves["mean_suboptimality_curve"] = mean_aggregate_gd(
                prob, agg, hist.initial, rounds=rounds, lr=lr, draws=mean_draws, rng=g_mean)
    finals = ({"mean_suboptimality": curves["mean_suboptimality_curve"][:, -1]}
              if mean_draws else {})
    return {
        **curves,
        **finals,
        "round": np.arange(width),
        "suboptimality": hist.suboptimality[:, -1],
        "loss": hist.loss[:, -1],
        "test_accuracy": hist.test_accuracy[:, -1],
        "rounds_to_target": np.where(reached >= 0, reached, rounds + 1).astype(float),
        "aggregation_error": np.nanmean(hist.aggregation_error, axis=1),
        "floor": floor,
        "bound": bound,
        "source_bound": source,
        "epsilon": epsilon,
    }


def _pad(curves: np.ndarray, width: int) -> np.ndarray:
    """``[n, r]`` curves of a run that may have stopped early, NaN-padded to ``[n, width]``."""
    out = np.full((curves.shape[0], width), np.nan)
    out[:, :curves.shape[1]] = curves
    return out
