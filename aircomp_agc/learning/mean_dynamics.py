"""Gradient descent on the *mean* aggregate: where a biased aggregator leaves training.

Coded over-the-air aggregation is biased: its mean is not the gradient. With decoder
weights ``a``, coded rows ``B`` and the channel's effective coefficients, the aggregate is
``Ghat(w) = sum_j beta_j grad F_j(w) + noise`` with random ``beta`` (stragglers, fading,
truncation) whose mean ``E beta_j`` differs from partition to partition, so
``E Ghat(w) = sum_j E[beta_j] grad F_j(w)`` vanishes at a point ``w~`` other than ``w*``
when the partitions are heterogeneous (``grad F_j(w*) != 0``). Gradient descent then
settles near ``w~``, at ``F(w~) - F* > 0``, whatever the error energy ``E||e||^2`` says:
the inexact-gradient floor ``E||e||^2 / (2 mu)`` (and the source text's
``epsilon sigma^2 / mu``) assumes errors that average out.

:func:`mean_aggregate_gd` runs the deterministic recursion
``w_{t+1} = w_t - lr * mean_b Ghat_b(w_t)``, the mean over ``draws`` realizations of the
aggregator, from the runs' own starting points. It uses the *same* realizations in every
round (common random numbers), so the map it iterates is a fixed function of ``w`` and the
recursion converges to its fixed point, the sample-average version of ``w~``; its
``F(w_t) - F*`` is the part of training the errors' mean explains. Measured (scenario
``training-convex``): it reproduces the level at which F - F* levels off, and explains why
a code with *smaller* error energy may level off *higher* (its mean is further off).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_int, check_real, resolve_rng

__all__ = ["mean_aggregate_gd"]

OWNER = "mean_aggregate_gd"


def mean_aggregate_gd(problem: Any, aggregator: Any, w0, *, rounds: int, lr: float | None = None,
                      draws: int = 500, rng=None) -> np.ndarray:
    """Gradient descent on the mean aggregate from each starting point; ``F(w_t) - F*``.

    Parameters
    ----------
    problem : Problem
        A convex problem with ``f_star`` (:func:`~aircomp_agc.learning.make_problem`).
    aggregator : aggregator
        Anything with ``round(G, batch=, rng=)`` returning an ``estimate`` (e.g.
        :class:`~aircomp_agc.aggregation.CodedAirComp`); used as a memoryless map (its
        receiver-side state, if any, is not updated).
    w0 : float array [dim] or [R, dim]
        Starting points (e.g. a training run's ``History.initial``).
    rounds : int >= 0
    lr : float, optional
        Step size, default ``1 / L``.
    draws : int >= 1
        Realizations of the aggregator averaged per round (the same ones every round).
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    float array [R, rounds + 1] (or [rounds + 1] for a single starting point)
        ``F(w_t) - F*`` along the recursion.
    """
    rounds = check_int("rounds", rounds, low=0, owner=OWNER)
    draws = check_int("draws", draws, low=1, owner=OWNER)
    if not getattr(problem, "convex", False) or getattr(problem, "f_star", None) is None:
        raise ValueError(f"The 'problem' parameter of {OWNER} must be a convex problem with a "
                         f"known optimum f_star; got {type(problem).__name__}.")
    if not callable(getattr(aggregator, "round", None)):
        raise TypeError(f"The 'aggregator' parameter of {OWNER} must have a round(G, batch=, "
                        f"rng=) method; got {type(aggregator).__name__}.")
    lr = 1.0 / problem.L if lr is None else check_real("lr", lr, low=0.0, low_open=True,
                                                       owner=OWNER)
    w = np.asarray(w0, dtype=np.float64)
    single = w.ndim == 1
    w = np.atleast_2d(w).copy()
    if w.shape[-1] != problem.dim:
        raise ValueError(f"The 'w0' parameter of {OWNER} must have {problem.dim} entries per "
                         f"starting point; got shape {np.shape(w0)}.")
    reps = w.shape[0]
    # One seed for every round: the same realizations each time (common random numbers).
    seed = int(resolve_rng(rng).integers(2**63 - 1))
    gaps = np.empty((reps, rounds + 1))
    gaps[:, 0] = problem.loss(w) - problem.f_star
    for t in range(rounds):  # a recursion over rounds; reps and draws are one batch
        G = problem.partition_gradients(w)                        # [R, k, dim]
        tiled = np.repeat(G, draws, axis=0)                       # [R * draws, k, dim]
        est = np.asarray(aggregator.round(tiled, batch=reps * draws, rng=seed).estimate)
        w = w - lr * est.reshape(reps, draws, -1).mean(axis=1)
        gaps[:, t + 1] = problem.loss(w) - problem.f_star
    return gaps[0] if single else gaps
