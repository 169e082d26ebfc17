"""Training under aggregation error: the loop over rounds (the only loop).

Each round the server needs ``sum_j u_j`` of per-partition updates ``u_j`` (gradients for
gradient descent and SGD, scaled local-update deltas for FedAvg); an **aggregator**
delivers an estimate of it:

- ``"ideal"``: the exact sum;
- a :class:`~aircomp_agc.aggregation.CodedAirComp` (coding only: an ideal channel such as
  ``channel="awgn"`` with tiny noise; over-the-air only: the ``uncoded`` code; or both), or
  any object with the same ``round(G, batch=..., rng=...)`` call returning ``estimate``
  (and, optionally, ``error_parts`` and ``plan``), e.g. the wrappers of
  :mod:`aircomp_agc.aggregation` (Top-K, error feedback, digital transport).

Methods (``method``):

- ``"gd"``: full-batch gradient descent, ``w <- w - lr * Ghat``; step ``1/L`` by default
  (the source text's setting).
- ``"sgd"``: each partition's gradient from a mini-batch of its samples (an unbiased
  estimate of the partition gradient, regularizer included).
- ``"fedavg"``: each partition (client) runs ``local_steps`` gradient steps on its own loss
  from the global model; the update ``u_j = (w - w_j) / k`` is aggregated (linear in the
  partition updates, so coded combinations stay meaningful) and ``w <- w - Ghat``. With
  one local step of size ``lr k`` this is gradient descent.

Independent repetitions (``reps``) run as one batch: linear models keep ``[reps, dim]``
arrays and every aggregator call draws ``reps`` independent channel realizations.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_real, resolve_rng
from .problems import Problem

__all__ = ["METHODS", "History", "train"]

METHODS = ("gd", "sgd", "fedavg")


@dataclass
class History:
    """Per-round records of a training run.

    Arrays are ``[reps, rounds + 1]`` (states, including the start) or ``[reps, rounds]``
    (aggregations); with ``reps=None`` the leading axis is dropped.

    Attributes
    ----------
    loss : F(w_t)
    suboptimality : F(w_t) - F* (convex problems; NaN otherwise)
    test_accuracy : accuracy on the test split (R^2 for regression)
    aggregation_error : ||Ghat - G||^2 of each round's aggregate
    error_parts : dict of ||part||^2 per round (coding, misalignment, noise, ...)
    transmitting : devices that transmitted (NaN for the ideal aggregator)
    energy : sum of transmit powers (per channel use)
    channel_uses : channel uses of the round
    rounds_run : rounds completed (fewer than asked when training diverged)
    stopped : why training stopped early, or ``""``
    gradient_energy : ||G||^2 of the exact aggregate ``G = sum_j u_j`` of each round
        (for gradient descent ``||grad F(w_t)||^2``)
    partition_energy : sum_j ||u_j||^2 of each round (the partition updates' energy: with
        heterogeneous partitions it stays positive at the optimum, where ``G = 0``)
    distance : ||w_t - w*||^2 (problems with a known minimizer ``w_star``; else None)
    decoding_error : ||c - 1||^2 / k of each round, ``c`` the coding coefficients of the
        aggregator's plan (aggregators without one: None)
    initial : the starting points w_0 ``[reps, dim]``
    """

    loss: np.ndarray
    suboptimality: np.ndarray
    test_accuracy: np.ndarray
    aggregation_error: np.ndarray
    error_parts: dict[str, np.ndarray] = field(default_factory=dict)
    transmitting: np.ndarray | None = None
    energy: np.ndarray | None = None
    channel_uses: np.ndarray | None = None
    rounds_run: int = 0
    stopped: str = ""
    lr: float = float("nan")
    info: dict = field(default_factory=dict)
    gradient_energy: np.ndarray | None = None
    partition_energy: np.ndarray | None = None
    distance: np.ndarray | None = None
    decoding_error: np.ndarray | None = None
    initial: np.ndarray | None = None

    def rounds_to(self, target_suboptimality: float) -> np.ndarray:
        """First round with ``F - F* <= target`` per repetition (``-1``: never)."""
        hit = self.suboptimality <= target_suboptimality
        first = np.argmax(hit, axis=-1)
        return np.where(hit.any(axis=-1), first, -1)


def _aggregate(aggregator, G: np.ndarray, gen: np.random.Generator):
    """Estimate of ``G.sum(-2)`` for a batch ``G`` [R, k, dim], and the round's record."""
    if isinstance(aggregator, str):
        return G.sum(axis=1), None
    res = aggregator.round(G, batch=G.shape[0], rng=gen)
    est = np.asarray(res.estimate)
    if hasattr(aggregator, "observe"):  # receiver-side state (e.g. an online gradient model)
        aggregator.observe(est)
    return est, res


def _check_aggregator(aggregator: Any, problem: Problem) -> None:
    if isinstance(aggregator, str):
        check_choice("aggregator", aggregator, ("ideal",), owner="train")
        return
    if not hasattr(aggregator, "round"):
        raise TypeError("The 'aggregator' parameter of train must be 'ideal' or an object with "
                        f"a round(G, batch=, rng=) method; got {type(aggregator).__name__}.")
    code = getattr(aggregator, "code", None)
    if code is not None and code.n_partitions != problem.n_partitions:
        raise ValueError(f"The 'aggregator' parameter of train has a code for "
                         f"{code.n_partitions} partitions but the problem has "
                         f"{problem.n_partitions}.")


def _updates(problem, w, method, lr, local_steps, batch_size, gen):
    """Per-partition updates ``[R, k, dim]`` whose sum the server needs."""
    if method == "gd":
        return problem.partition_gradients(w)
    if method == "sgd":
        return problem.minibatch_partition_gradients(w, batch_size, rng=gen)
    k = problem.n_partitions
    local = np.repeat(w[:, None, :], k, axis=1)
    for _ in range(local_steps):  # local steps of every partition at once
        local = local - lr * k * problem.partition_gradients(local, per_partition=True)
    return (w[:, None, :] - local) / (k * lr)


def train(problem: Problem, aggregator: Any = "ideal", *, rounds: int = 100,
          lr: float | None = None, method: str = "gd", local_steps: int = 1,
          batch_size: int = 32, reps: int | None = None, w0: np.ndarray | None = None,
          rng=None) -> History:
    """Train ``problem`` for ``rounds`` aggregation rounds through ``aggregator``.

    Parameters
    ----------
    problem : Problem
        From :func:`~aircomp_agc.learning.make_problem`.
    aggregator : "ideal" or an aggregator (see the module docstring)
    rounds : int >= 0
    lr : float, optional
        Step size; default ``1 / L`` (convex problems) or 0.1. A step above ``2 / L``
        warns (gradient descent can diverge).
    method : {"gd", "sgd", "fedavg"}
    local_steps : int
        FedAvg local steps.
    batch_size : int
        SGD mini-batch per partition.
    reps : int, optional
        Independent repetitions run as one batch (their own channel draws).
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    History
        If the loss becomes NaN or infinite, training stops with a warning that names the
        round, and the history so far is returned (``stopped`` says why).
    """
    owner = "train"
    rounds = check_int("rounds", rounds, low=0, owner=owner)
    method = check_choice("method", method, METHODS, owner=owner)
    local_steps = check_int("local_steps", local_steps, low=1, owner=owner)
    batch_size = check_int("batch_size", batch_size, low=1, owner=owner)
    _check_aggregator(aggregator, problem)
    if lr is None:
        lr = 1.0 / problem.L if problem.L else 0.1
    lr = check_real("lr", lr, low=0.0, low_open=True, owner=owner)
    if problem.L and lr > 2.0 / problem.L:
        warnings.warn(f"The step size lr={lr:g} is above 2/L = {2 / problem.L:g}: gradient "
                      "descent may diverge.", UserWarning, stacklevel=2)
    R = 1 if reps is None else check_int("reps", reps, low=1, owner=owner)
    gen = resolve_rng(rng)
    g_init, g_loop = gen.spawn(2)
    w = problem.initial(R, rng=g_init) if w0 is None else np.broadcast_to(
        np.asarray(w0, dtype=np.float64), (R, problem.dim)).copy()
    initial = w.copy()
    f_star = problem.f_star if problem.convex and problem.f_star is not None else np.nan
    loss = np.full((R, rounds + 1), np.nan)
    acc = np.full((R, rounds + 1), np.nan)
    agg_err = np.full((R, rounds), np.nan)
    parts: dict[str, np.ndarray] = {}
    transmitting = np.full((R, rounds), np.nan)
    energy = np.full((R, rounds), np.nan)
    uses = np.full((R, rounds), np.nan)
    g_energy = np.full((R, rounds), np.nan)
    p_energy = np.full((R, rounds), np.nan)
    dec_err = np.full((R, rounds), np.nan)
    w_star = getattr(problem, "w_star", None) if problem.convex else None
    dist = None if w_star is None else np.full((R, rounds + 1), np.nan)
    loss[:, 0], acc[:, 0] = problem.loss(w), problem.test_accuracy(w)
    if dist is not None:
        dist[:, 0] = np.sum((w - w_star) ** 2, axis=-1)
    stopped, done = "", 0
    for t in range(rounds):
        g_round = g_loop.spawn(1)[0]
        U = _updates(problem, w, method, lr, local_steps, batch_size, g_round)
        est, res = _aggregate(aggregator, U, g_round)
        # A diverging run overflows here first; it is reported once, below, by its loss.
        with np.errstate(over="ignore", invalid="ignore"):
            exact = U.sum(axis=1)
            agg_err[:, t] = np.sum((est - exact) ** 2, axis=-1)
            g_energy[:, t] = np.sum(exact**2, axis=-1)
            p_energy[:, t] = np.sum(U**2, axis=(-2, -1))
        if res is not None:
            _record(res, t, rounds, R, parts, transmitting, energy, uses, dec_err)
        with np.errstate(over="ignore", invalid="ignore"):
            w = w - lr * est
            if dist is not None:
                dist[:, t + 1] = np.sum((w - w_star) ** 2, axis=-1)
            loss[:, t + 1] = problem.loss(w)
            acc[:, t + 1] = problem.test_accuracy(w)
        done = t + 1
        if not np.all(np.isfinite(loss[:, t + 1])):
            stopped = (f"the training loss became {loss[:, t + 1][~np.isfinite(loss[:, t + 1])][0]}"
                       f" at round {t + 1}")
            warnings.warn(f"Training stopped: {stopped}; the history up to it is returned.",
                          RuntimeWarning, stacklevel=2)
            break
    hist = History(loss[:, :done + 1], loss[:, :done + 1] - f_star, acc[:, :done + 1],
                   agg_err[:, :done], {k: v[:, :done] for k, v in parts.items()},
                   transmitting[:, :done], energy[:, :done], uses[:, :done], done, stopped, lr,
                   gradient_energy=g_energy[:, :done], partition_energy=p_energy[:, :done],
                   distance=None if dist is None else dist[:, :done + 1],
                   decoding_error=dec_err[:, :done] if np.any(np.isfinite(dec_err)) else None,
                   initial=initial)
    return _squeeze(hist) if reps is None else hist


def _record(res, t, rounds, R, parts, transmitting, energy, uses, dec_err) -> None:
    for name, vec in getattr(res, "error_parts", {}).items():
        parts.setdefault(name, np.full((R, rounds), np.nan))[:, t] = np.sum(vec**2, axis=-1)
    plan = getattr(res, "plan", None)
    if plan is not None:
        transmitting[:, t] = plan.responders.reshape(R, -1).sum(-1) / (
            1 if len(plan.shape) == 1 else plan.shape[1])
        energy[:, t] = plan.power.reshape(R, -1).sum(-1)
    cu = getattr(res, "channel_uses", None)
    if cu is not None:
        uses[:, t] = cu
    c = getattr(plan, "coding_coefficients", None)
    if c is not None:  # [R, k] or per subcarrier [R, F, k]
        c = np.asarray(c).reshape(R, -1, c.shape[-1])
        dec_err[:, t] = np.mean(np.sum((c - 1.0) ** 2, axis=-1), axis=-1) / c.shape[-1]


def _squeeze(h: History) -> History:
    def sq(x):
        return None if x is None else x[0]

    return History(sq(h.loss), sq(h.suboptimality), sq(h.test_accuracy),
                   sq(h.aggregation_error), {k: v[0] for k, v in h.error_parts.items()},
                   sq(h.transmitting), sq(h.energy), sq(h.channel_uses), h.rounds_run,
                   h.stopped, h.lr, h.info, gradient_energy=sq(h.gradient_energy),
                   partition_energy=sq(h.partition_energy), distance=sq(h.distance),
                   decoding_error=sq(h.decoding_error), initial=sq(h.initial))
