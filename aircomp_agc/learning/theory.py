"""Theory beside measurement: convergence bounds against training under aggregation error.

:func:`bound_table` trains a strongly convex problem on real data through coded
over-the-air aggregation (gradient descent, step ``lr = 1/L``) for each setting (code and
row weight, stragglers, channel and SNR), ``reps`` independent runs at once, and puts the
measured floor of ``F - F*`` beside every prediction. :func:`joint_training_table`
compares the joint decoding and power-control policy with the standard pipeline in
training.

What is measured (per setting; ``T`` rounds, the *tail* is the last ``tail`` rounds):

- **floor**: the mean of ``F(w_t) - F*`` over the tail, per run; mean and confidence
  interval over the runs. It is a floor only if error-free descent has converged by the
  tail: the table's header gives ``F - F*`` of an ideal run over the same tail.
- ``E||e||^2``: mean error energy ``||Ghat - G||^2`` of the aggregated gradient over the tail.

The predictions, and how their unknowns are measured:

- **Source text's theorem** ``(1 - mu/L)^t (F(w_0) - F*) + epsilon sigma^2 / mu``, read two ways:

  - *run*: ``epsilon = sum_t ||e_t||^2 / sum_t ||G_t||^2`` (ratio of means over all rounds
    and runs: the text's "E||Ghat - G||^2 / ||G||^2") and ``sigma^2 = max_t ||grad F(w_t)||^2``
    over the runs; then ``epsilon sigma^2 >= mean_t ||e_t||^2``. The text's
    *epsilon-approximate* assumption (a relative error ``epsilon`` in every round) fails near
    the optimum when partitions are heterogeneous: ``||G_t|| -> 0`` while the coding error
    does not (``epsilon_tail``, the same ratio over the tail, shows by how much).
  - *variance*: ``epsilon = E||c - 1||^2 / k``, the code's normalized decoding error measured
    along the run (what the coding layer reports), and ``sigma^2 = max_t sum_j ||g_j(w_t)||^2``
    (the partition gradients' energy, a "gradient-variance bound" that stays positive at
    the optimum). For i.i.d. isotropic partition gradients ``E||e_coding||^2 = epsilon sigma^2``
    exactly; channel noise is not in this reading.

  The bound is checked against the measured mean curve at every round.
- **Inexact gradient descent** ``b_{t+1} = (1 - mu/L) b_t + ||e_t||^2 / (2L)`` with the
  measured ``||e_t||^2`` of each run (it holds deterministically for ``lr = 1/L``, so it is
  checked run by run, round by round), and its floor ``E||e||^2 / (2 mu)``. The two agree
  with the source text's when ``epsilon sigma^2 = E||e||^2 / 2``.
- **Wireless-FL noise floor** ``lr (sigma_g^2 / n + MSE_agg / n^2) / (2 mu)``: with the
  textbook's ``F = (1/n) sum_i f_i`` over ``n`` devices and this package's
  ``F = sum_j F_j``, ``MSE_agg / n^2`` is our ``E||e||^2`` and ``sigma_g^2 / n`` the
  variance of the sum of stochastic partition gradients (0 for full-batch descent), so the
  floor is ``lr E||e||^2 / (2 mu)``. It has the units of ``||w - w*||^2``: it is a floor of
  the distance to the optimum (where it is checked, against the tail mean of
  ``||w_t - w*||^2``), and it is also checked against ``F - F*``, as it is usually quoted.
  Its derivation assumes a zero-mean aggregation error; coded aggregation is biased (the
  mean coefficients ``beta_bar`` below differ from 1), and the bias alone moves ``w`` by
  about ``||H^{-1} b||``, beyond this floor.
- **Linearized prediction** (:func:`predicted_floor`): the aggregate is
  ``beta_t^T G(w) + n_t`` with random coefficients ``beta_t`` (coding, stragglers, power
  control) and noise ``n_t``. Their mean ``beta_bar`` moves the fixed point to the minimizer
  ``w~`` of the weighted loss ``sum_j beta_bar_j F_j`` (coding error is multiplicative on
  partition gradients, so with heterogeneous partitions it does not vanish at ``w*``); the
  fluctuations around it give a stationary covariance ``P`` from the linearized
  recursion. Prediction: ``F(w~) - F* + tr(H P) / 2``. Neglected: the second-order
  coupling of the coefficient fluctuations with ``w_t - w~``.

All bounds assume an ``L``-smooth, ``mu``-strongly convex ``F``; for other problems the
table marks them not applicable with the assumption that fails (:func:`~.bounds.applicable`).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import Estimate, check_int, check_real, mean_ci, resolve_rng
from .bounds import applicable, inexact_gd_bound, inexact_gd_floor, source_text_bound
from .problems import Problem, make_problem
from .train import History, train

__all__ = [
    "BoundRow",
    "BoundTable",
    "Check",
    "FloorPrediction",
    "JointRow",
    "JointTable",
    "Setting",
    "bound_table",
    "default_settings",
    "joint_policies",
    "joint_training_table",
    "predicted_floor",
    "wireless_floor",
]

#: Above this SNR on the ``awgn`` channel a setting counts as "coding only".
CODING_ONLY_SNR_DB = 60.0


@dataclass(frozen=True)
class Setting:
    """One aggregation setting of a bound table.

    Parameters
    ----------
    label : str
    code : str or None
        A registered code name (``None``: the ideal aggregator, exact sums).
    row_weight : int, optional
        Storage of codes that take it.
    p : float
        Bernoulli compute-straggler probability (0: none).
    channel : str
        ``"awgn"`` with a high ``snr_db`` isolates the coding error; the ``"uncoded"``
        code without stragglers isolates the channel error.
    snr_db : float
    power_control : str
    gradient_model : optional
        Passed to :class:`~aircomp_agc.aggregation.CodedAirComp` (e.g. an
        :class:`~aircomp_agc.aggregation.OnlineGradientModel`; a fresh copy per run is the
        caller's business).
    """

    label: str
    code: str | None = "bgc"
    row_weight: int | None = None
    p: float = 0.0
    channel: str = "rayleigh"
    snr_db: float = 20.0
    power_control: str = "optimal_power"
    gradient_model: Any = None

    @property
    def kind(self) -> str:
        """``"ideal"``, ``"coding only"``, ``"channel only"`` or ``"coded over-the-air"``."""
        if self.code is None:
            return "ideal"
        if self.channel == "awgn" and self.snr_db >= CODING_ONLY_SNR_DB:
            return "coding only"
        if self.code == "uncoded" and self.p == 0:
            return "channel only"
        return "coded over-the-air"

    def aggregator(self, n_partitions: int, *, rng=None):
        """The aggregator of this setting for ``n_partitions`` (= workers)."""
        if self.code is None:
            return "ideal"
        from ..aggregation import CodedAirComp
        from ..coding import make_code, make_stragglers
        from ..coding.registry import code_parameters

        kw: dict[str, Any] = {}
        if self.row_weight is not None and "row_weight" in code_parameters(self.code):
            kw["row_weight"] = self.row_weight
        code = make_code(self.code, n=n_partitions, **kw, rng=rng)
        stragglers = make_stragglers("bernoulli", p=self.p) if self.p > 0 else None
        return CodedAirComp(code=code, channel=self.channel, snr_db=self.snr_db,
                            power_control=self.power_control, stragglers=stragglers,
                            gradient_model=self.gradient_model)


def default_settings(*, p: float = 0.2, row_weights=(1, 2, 4, 8),
                     snrs_db=(0.0, 10.0, 20.0)) -> list[Setting]:
    """Ideal; coding only (``bgc`` for each row weight, Bernoulli(``p``) stragglers,
    ``awgn`` at 100 dB); channel only (``uncoded``, Rayleigh at each SNR); coded
    over-the-air (``bgc`` with row weight 4 and the stragglers, Rayleigh at each SNR but the
    lowest)."""
    out = [Setting("ideal", code=None)]
    out += [Setting(f"bgc w={w}, p={p:g}, awgn 100 dB", row_weight=w, p=p, channel="awgn",
                    snr_db=100.0) for w in row_weights]
    out += [Setting(f"uncoded, rayleigh {s:g} dB", code="uncoded", channel="rayleigh",
                    snr_db=s) for s in snrs_db]
    out += [Setting(f"bgc w=4, p={p:g}, rayleigh {s:g} dB", row_weight=4, p=p,
                    channel="rayleigh", snr_db=s) for s in snrs_db[1:]]
    return out


# --------------------------------------------------------------------------- prediction
@dataclass(frozen=True)
class FloorPrediction:
    """Linearized stationary floor (see the module docstring).

    Attributes
    ----------
    floor : predicted ``E[F - F*]`` at stationarity (``bias + fluctuation``)
    bias : ``F(w~) - F*``, ``w~`` the minimizer of ``sum_j beta_bar_j F_j``
    fluctuation : ``tr(H P) / 2``
    distance : predicted ``E||w - w*||^2`` (``||w~ - w*||^2 + tr P``)
    mean_coefficients : ``beta_bar`` [k]
    noise_var : mean per-coordinate noise variance of the aggregate
    """

    floor: float
    bias: float
    fluctuation: float
    distance: float
    mean_coefficients: np.ndarray
    noise_var: float


def _hessian(fn, w: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of ``fn`` ([R, dim] -> [R, dim]) at ``w``, symmetrized."""
    d = w.size
    h = 1e-5 * max(1.0, float(np.linalg.norm(w)) / np.sqrt(d))
    pts = np.concatenate([w + h * np.eye(d), w - h * np.eye(d)])
    g = fn(pts)
    H = (g[:d] - g[d:]) / (2.0 * h)
    return 0.5 * (H + H.T)


def _coefficient_stats(aggregator, G: np.ndarray, draws: int, gen):
    """``beta_bar`` [k], ``Cov(beta)`` [k, k] and the mean noise variance per coordinate."""
    res = aggregator.round(G, batch=draws, rng=gen)
    plan = getattr(res, "plan", None)
    beta = None if plan is None else np.asarray(getattr(plan, "coefficients", None))
    if beta is None or beta.ndim != 2:
        raise ValueError("predicted_floor needs an aggregator whose round result has a flat "
                         "plan (coefficients [batch, k], noise_std [batch]); got "
                         f"{type(aggregator).__name__} with plan {type(plan).__name__}.")
    return beta.mean(0), np.cov(beta, rowvar=False), float(np.mean(plan.noise_std**2))


def predicted_floor(problem: Problem, aggregator, *, lr: float | None = None,
                    draws: int = 4000, rng=None) -> FloorPrediction:
    """Linearized stationary ``E[F - F*]`` of gradient descent through ``aggregator``.

    Parameters
    ----------
    problem : a strongly convex problem with ``w_star`` (``LinearProblem``)
    aggregator : ``"ideal"`` or a :class:`~aircomp_agc.aggregation.CodedAirComp` (flat
        fading: one coefficient vector per round)
    lr : float, optional
        Step (default ``1/L``).
    draws : int
        Monte-Carlo rounds for the coefficient statistics.
    """
    reason = applicable(problem)
    if reason:
        raise ValueError(f"predicted_floor: {reason}.")
    lr = 1.0 / problem.L if lr is None else check_real("lr", lr, low=0.0, low_open=True,
                                                        owner="predicted_floor")
    draws = check_int("draws", draws, low=2, owner="predicted_floor")
    k = problem.n_partitions
    w_star = problem.w_star
    if isinstance(aggregator, str):
        return FloorPrediction(0.0, 0.0, 0.0, 0.0, np.ones(k), 0.0)
    g1, g2 = resolve_rng(rng).spawn(2)
    beta_bar, _, _ = _coefficient_stats(aggregator, problem.partition_gradients(w_star),
                                        draws, g1)

    def weighted_grad(W):
        return np.einsum("j,...jd->...d", beta_bar, problem.partition_gradients(W))

    w = w_star.copy()
    for _ in range(20):  # Newton on sum_j beta_bar_j grad F_j(w) = 0 (w~ is near w*)
        step = np.linalg.solve(_hessian(weighted_grad, w), weighted_grad(w))
        w = w - step
        if np.linalg.norm(step) <= 1e-12 * max(1.0, np.linalg.norm(w)):
            break
    bias = max(float(problem.loss(w)) - problem.f_star, 0.0)
    G = problem.partition_gradients(w)
    beta_bar2, cov_beta, noise_var = _coefficient_stats(aggregator, G, draws, g2)
    sigma = G.T @ cov_beta @ G + noise_var * np.eye(problem.dim)
    H_mean = _hessian(lambda W: np.einsum("j,...jd->...d", beta_bar2,
                                          problem.partition_gradients(W)), w)
    H = _hessian(problem.gradient, w)
    lam, Q = np.linalg.eigh(H_mean)
    a = 1.0 - lr * lam
    if np.any(np.abs(a) >= 1.0):
        return FloorPrediction(np.inf, bias, np.inf, np.inf, beta_bar, noise_var)
    P = Q @ ((lr**2) * (Q.T @ sigma @ Q) / (1.0 - np.outer(a, a))) @ Q.T
    fluct = 0.5 * float(np.sum(H * P))
    distance = float(np.sum((w - w_star) ** 2) + np.trace(P))
    return FloorPrediction(bias + fluct, bias, fluct, distance, beta_bar, noise_var)


def wireless_floor(lr: float, mu: float, error_energy: float,
                   stochastic_variance: float = 0.0) -> float:
    """``lr (sigma_g^2 / n + MSE_agg / n^2) / (2 mu)`` in this package's units:
    ``lr (stochastic_variance + E||e||^2) / (2 mu)`` (module docstring)."""
    return float(lr) * (float(stochastic_variance) + float(error_energy)) / (2.0 * float(mu))


# --------------------------------------------------------------------------- bound table
@dataclass(frozen=True)
class Check:
    """A bound against a measurement: ``ratio = measured / bound`` (``<= 1``: holds).

    For a bound on a curve, ``ratio`` is the largest over the rounds, ``at`` the round
    where it is reached, and ``bound``, ``measured`` are the values there.
    """

    bound: float
    measured: float
    ratio: float
    at: int | None = None

    @property
    def holds(self) -> bool:
        return bool(self.ratio <= 1.0)

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "fails"

    def __str__(self) -> str:
        where = "" if self.at is None else f" at t={self.at}"
        return f"{self.bound:.3g} {self.verdict} ({self.ratio:.3g}{where})"


def _check(bound: float, measured: float, slack: float = 0.0) -> Check:
    """``measured`` against ``bound``; differences below ``slack`` (round-off) count as 0."""
    excess = max(float(measured) - float(slack), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = excess / bound if bound > 0 else (0.0 if excess <= 0 else np.inf)
    return Check(float(bound), float(measured), float(ratio))


def _curve_check(bound: np.ndarray, measured: np.ndarray, slack: np.ndarray) -> Check:
    """Largest ``(measured - slack) / bound`` over all entries (``slack``: round-off of
    ``F`` in floating point), with the round where it occurs."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(bound > 0, (measured - slack) / bound,
                          np.where(measured - slack > 0, np.inf, 0.0))
    idx = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
    return Check(float(bound[idx]), float(measured[idx]), float(ratios[idx]), int(idx[-1]))


@dataclass(frozen=True)
class BoundRow:
    """One setting of a :class:`BoundTable` (module docstring for every quantity).

    For a non-convex problem only ``label``, ``kind``, ``final_loss`` and
    ``not_applicable`` are set.
    """

    label: str
    kind: str
    final_loss: Estimate
    not_applicable: str = ""
    floor: Estimate | None = None
    distance: Estimate | None = None
    error_energy: float = float("nan")
    epsilon: float = float("nan")
    epsilon_tail: float = float("nan")
    sigma2: float = float("nan")
    epsilon_code: float = float("nan")
    sigma2_partitions: float = float("nan")
    source: Check | None = None
    source_floor: Check | None = None
    source_variance: Check | None = None
    source_variance_floor: Check | None = None
    recursion: Check | None = None
    inexact_floor: Check | None = None
    wireless: Check | None = None
    wireless_distance: Check | None = None
    prediction: FloorPrediction | None = None

    @property
    def failing(self) -> list[str]:
        """Names of the bounds that fail for this setting (the source text's theorem as a
        bound on the curve; ``source_floor`` and ``source_variance_floor`` only compare
        levels and are not counted)."""
        names = ("source", "source_variance", "recursion", "inexact_floor", "wireless",
                 "wireless_distance")
        return [n for n in names if getattr(self, n) is not None and not getattr(self, n).holds]


@dataclass
class BoundTable:
    """Bound-versus-measurement table (:func:`bound_table`)."""

    rows: list[BoundRow]
    problem: dict
    histories: dict[str, History] = field(default_factory=dict, repr=False)

    def to_markdown(self) -> str:
        """A Markdown table: each bound as ``value holds|fails (measured / bound)``."""
        p = self.problem
        head = (f"{p['name']} on {p['dataset']} ({p['partition']} partitions, k = "
                f"{p['n_partitions']}), L = {p['L']:.4g}, mu = {p['mu']:.4g}, F* = "
                f"{p['f_star']:.10g} (tol {p['f_star_tol']:.1e}), lr = 1/L, T = "
                f"{p['rounds']}, tail = last {p['tail']} rounds, {p['reps']} runs")
        if any(r.not_applicable for r in self.rows):
            lines = [head, "", "| setting | final loss | bounds |", "|---|---|---|"]
            lines += [f"| {r.label} | {r.final_loss.mean:.4g} | not applicable: "
                      f"{r.not_applicable} |" for r in self.rows]
            return "\n".join(lines)
        head += (f"; error-free descent over the tail: F - F* = {p['ideal_tail']:.2g}\n\n"
                 "Each bound: its value, holds|fails, (measured / bound). The source text's "
                 "theorem is checked on the mean curve at every round (largest ratio, and the "
                 "round); 'floor ratio' compares the measured floor with its floor term.")
        cols = ["setting", "kind", "floor F-F* [95% CI]", "E‖e‖² (tail)",
                "ε run / tail", "σ² = max‖∇F‖²", "source εσ²/μ (run)", "ε_code",
                "σ² = max Σ‖g_j‖²", "source εσ²/μ (variance)", "recursion (max ratio)",
                "E‖e‖²/(2μ)", "wireless-FL vs F-F*", "‖w-w*‖² floor",
                "wireless-FL vs ‖w-w*‖²", "predicted (measured / predicted)"]
        lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

        def src(curve, level):
            if curve is None:
                return "-"
            return (f"{level.bound:.3g} {curve.verdict} ({curve.ratio:.2g} at t={curve.at}; "
                    f"floor ratio {level.ratio:.2g})")

        for r in self.rows:
            f = r.floor
            pred = r.prediction
            pred_s = ("-" if pred is None else
                      f"{pred.floor:.3g} ({f.mean / pred.floor:.2g})" if pred.floor > 0
                      else f"{pred.floor:.3g}")
            lines.append("| " + " | ".join([
                r.label, r.kind, f"{f.mean:.3g} [{f.ci_low:.3g}, {f.ci_high:.3g}]",
                f"{r.error_energy:.3g}", f"{r.epsilon:.3g} / {r.epsilon_tail:.3g}",
                f"{r.sigma2:.3g}", src(r.source, r.source_floor), f"{r.epsilon_code:.3g}",
                f"{r.sigma2_partitions:.3g}", src(r.source_variance, r.source_variance_floor),
                f"{r.recursion.bound:.3g} {r.recursion.verdict} ({r.recursion.ratio:.2g})",
                str(r.inexact_floor), str(r.wireless), f"{r.distance.mean:.3g}",
                str(r.wireless_distance), pred_s,
            ]) + " |")
        return "\n".join(lines)

    def failing(self) -> dict[str, list[str]]:
        """``{setting: [failing bounds]}`` for the settings where some bound fails."""
        return {r.label: r.failing for r in self.rows if r.failing}


def _tail_estimate(x: np.ndarray, tail: int, confidence: float) -> Estimate:
    per_run = np.mean(x[:, -tail:], axis=1)
    if per_run.size < 2:
        v = float(per_run[0])
        return Estimate(v, float("nan"), v, v, 1, confidence, 1, False, "single run")
    return mean_ci(per_run, confidence, owner="bound_table")


def _problem(problem, *, dataset, n_partitions, partition, alpha, reg, rng) -> Problem:
    if isinstance(problem, Problem):
        return problem
    return make_problem(problem, dataset=dataset, n_partitions=n_partitions,
                        partition=partition, alpha=alpha, reg=reg, rng=rng)


def bound_table(problem: str | Problem = "logistic", *, dataset: str | None = "breast-cancer",
                n_partitions: int = 20, partition: str = "dirichlet", alpha: float = 0.3,
                reg: float = 0.1, settings: list[Setting] | None = None, rounds: int = 500,
                reps: int = 8, tail: int = 100, confidence: float = 0.95,
                predict: bool = True, draws: int = 4000, rng=0) -> BoundTable:
    """Measured floors of ``F - F*`` beside the convergence bounds (module docstring).

    Parameters
    ----------
    problem : str or Problem
        A problem name for :func:`~aircomp_agc.learning.make_problem` (with ``dataset``,
        ``n_partitions``, ``partition``, ``alpha``, ``reg``) or a built problem.
    settings : list of Setting, optional
        Default :func:`default_settings`.
    rounds, reps, tail : int
        Rounds of gradient descent (step ``1/L``), independent runs (batched), and the
        last rounds over which floors are averaged.
    predict : bool
        Add the linearized prediction (:func:`predicted_floor`, ``draws`` Monte-Carlo
        rounds) for settings with a flat-fading coded aggregator.
    rng : seed
        Problem split and partitions, codes (one seed for all settings, so that settings
        that differ only in the channel share the code), and the training draws (the
        same in every setting).

    Returns
    -------
    BoundTable
        ``rows`` (one :class:`BoundRow` per setting), ``problem`` (its constants), the
        training ``histories`` by label; :meth:`BoundTable.to_markdown` prints it.
    """
    owner = "bound_table"
    rounds = check_int("rounds", rounds, low=1, owner=owner)
    reps = check_int("reps", reps, low=1, owner=owner)
    tail = check_int("tail", tail, low=1, high=rounds, owner=owner)
    g_prob, g_code, g_train, g_pred = resolve_rng(rng).spawn(4)
    prob = _problem(problem, dataset=dataset, n_partitions=n_partitions, partition=partition,
                    alpha=alpha, reg=reg, rng=g_prob)
    settings = default_settings() if settings is None else list(settings)
    reason = applicable(prob)
    info = {"name": prob.name, "dataset": getattr(getattr(prob, "data", None), "name", "?"),
            "partition": partition if isinstance(problem, str) else "given",
            "n_partitions": prob.n_partitions, "rounds": rounds, "reps": reps, "tail": tail,
            "L": prob.L or float("nan"), "mu": prob.mu or float("nan"),
            "f_star": prob.f_star if not reason else float("nan"),
            "f_star_tol": prob.f_star_tol if not reason else float("nan")}
    if not reason:  # how far error-free descent gets by the tail
        ideal = train(prob, "ideal", rounds=rounds, lr=1.0 / prob.L, rng=0)
        info["ideal_tail"] = float(np.mean(np.maximum(ideal.suboptimality[-tail:], 0.0)))
    pred_seeds = g_pred.spawn(len(settings))
    rows, histories = [], {}
    for setting, gp in zip(settings, pred_seeds, strict=True):
        # the same code seed in every setting: settings that differ only in the channel
        # share the code instance
        agg = setting.aggregator(prob.n_partitions, rng=_seed_copy(g_code))
        lr = 1.0 / prob.L if prob.L else 0.1
        # the same training seed in every setting: paired stragglers/noise where comparable
        hist = train(prob, agg, rounds=rounds, lr=lr, reps=reps, rng=_seed_copy(g_train))
        histories[setting.label] = hist
        final = _tail_estimate(hist.loss, 1, confidence)
        if reason:
            rows.append(BoundRow(setting.label, setting.kind, final, reason))
            continue
        rows.append(_row(prob, setting, agg, hist, lr, tail, confidence, predict, draws, gp,
                         final))
    return BoundTable(rows, info, histories)


def _seed_copy(gen: np.random.Generator) -> np.random.Generator:
    """A generator in the state of ``gen`` (``gen`` itself is not advanced)."""
    return copy.deepcopy(gen)


def _row(prob, setting, agg, hist: History, lr, tail, confidence, predict, draws, gen,
         final) -> BoundRow:
    L, mu = prob.L, prob.mu
    sub = np.maximum(hist.suboptimality, 0.0)
    rounds = hist.rounds_run
    floor = _tail_estimate(sub, tail, confidence)
    dist = _tail_estimate(hist.distance, tail, confidence)
    err = hist.aggregation_error
    gE = hist.gradient_energy
    e_tail = float(np.mean(err[:, -tail:]))
    eps = float(err.sum() / gE.sum()) if gE.sum() > 0 else 0.0
    eps_tail = float(err[:, -tail:].sum() / gE[:, -tail:].sum())
    sigma2 = float(gE.max())
    gap0 = float(np.mean(sub[:, 0]))
    mean_curve = sub.mean(0)
    # F is evaluated in floating point: differences below this are round-off
    slack = 64 * np.finfo(float).eps * np.maximum(np.abs(hist.loss), 1.0)
    tail_slack = float(slack[:, -tail:].max())
    src = source_text_bound(gap0, L, mu, rounds, eps, sigma2)
    source = _curve_check(src[1:], mean_curve[1:], slack.mean(0)[1:])
    source = Check(source.bound, source.measured, source.ratio, source.at + 1)
    eps_code = float(np.nanmean(hist.decoding_error)) if hist.decoding_error is not None \
        else float("nan")
    sigma2_p = float(hist.partition_energy.max())
    source_var = source_var_floor = None
    if hist.decoding_error is not None:
        src_var = source_text_bound(gap0, L, mu, rounds, eps_code, sigma2_p)
        source_var = _curve_check(src_var[1:], mean_curve[1:], slack.mean(0)[1:])
        source_var = Check(source_var.bound, source_var.measured, source_var.ratio,
                           source_var.at + 1)
        source_var_floor = _check(eps_code * sigma2_p / mu, floor.mean, tail_slack)
    # the recursion holds run by run and round by round (step 1/L)
    rec = inexact_gd_bound(sub[:, 0], L, mu, err)
    recursion = _curve_check(rec[:, 1:], sub[:, 1:], slack[:, 1:])
    recursion = Check(float(rec[:, -1].mean()), float(sub[:, -1].mean()), recursion.ratio,
                      recursion.at + 1)
    wl = wireless_floor(lr, mu, e_tail)
    pred = None
    if predict:
        try:
            pred = predicted_floor(prob, agg, lr=lr, draws=draws, rng=gen)
        except ValueError:
            pred = None
    return BoundRow(
        setting.label, setting.kind, final, "", floor, dist, e_tail, eps, eps_tail, sigma2,
        eps_code, sigma2_p, source, _check(eps * sigma2 / mu, floor.mean, tail_slack),
        source_var, source_var_floor, recursion,
        _check(inexact_gd_floor(mu, e_tail), floor.mean, tail_slack),
        _check(wl, floor.mean, tail_slack), _check(wl, dist.mean, 2.0 * tail_slack / mu), pred)


# --------------------------------------------------------------------------- joint policy
@dataclass(frozen=True)
class JointRow:
    """One policy of a :class:`JointTable`.

    ``early_*`` are means over the first ``early`` rounds, ``late_*`` over the last
    ``late``; ``*_error`` the mean error energy ``E||e||^2`` and ``*_median`` its median
    over runs and rounds (the error of the standard pipeline is heavy-tailed: rare rounds
    with large least-squares decoder weights dominate its mean), ``*_normalized`` the ratio
    of means ``E||e||^2 / E||G||^2``, ``*_gain`` and ``*_median_gain`` the first policy's
    (the standard pipeline's) mean or median error energy over this policy's,
    ``*_heterogeneity`` the partition gradients' heterogeneity ratio
    ``1 - ||G||^2 / (k sum_j ||g_j||^2)`` (0: identical partition gradients, 1: no common
    mean; it grows as the mean gradient vanishes near the optimum).
    """

    label: str
    final_suboptimality: Estimate
    rounds_to_target: Estimate
    reached: float
    test_accuracy: Estimate
    early_error: float
    late_error: float
    early_median: float
    late_median: float
    early_normalized: float
    late_normalized: float
    early_gain: float
    late_gain: float
    early_median_gain: float
    late_median_gain: float
    early_heterogeneity: float
    late_heterogeneity: float
    seconds: float


@dataclass
class JointTable:
    """Joint policy against the standard pipeline in training (:func:`joint_training_table`)."""

    rows: list[JointRow]
    setting: dict
    histories: dict[str, History] = field(default_factory=dict, repr=False)

    def to_markdown(self) -> str:
        s = self.setting
        head = (f"{s['problem']} on {s['dataset']} ({s['partition']}, k = n = "
                f"{s['n_partitions']}), {s['code']} w={s['row_weight']}, p={s['p']:g}, "
                f"{s['channel']} {s['snr_db']:g} dB, T = {s['rounds']}, {s['reps']} runs, "
                f"target F-F* = {s['target']:.3g}, early = first {s['early']} rounds, late = "
                f"last {s['late']}")
        cols = ["policy", "final F-F* [95% CI]", "rounds to target (reached)",
                "test acc.", "E‖e‖² early / late", "median ‖e‖² early / late",
                "norm. error early / late", "gain (mean) early / late",
                "gain (median) early / late", "heterogeneity early / late", "s"]
        lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            f, n, a = r.final_suboptimality, r.rounds_to_target, r.test_accuracy
            lines.append("| " + " | ".join([
                r.label, f"{f.mean:.3g} [{f.ci_low:.3g}, {f.ci_high:.3g}]",
                f"{n.mean:.1f} ({r.reached:.0%})", f"{a.mean:.3f}",
                f"{r.early_error:.3g} / {r.late_error:.3g}",
                f"{r.early_median:.3g} / {r.late_median:.3g}",
                f"{r.early_normalized:.3g} / {r.late_normalized:.3g}",
                f"{r.early_gain:.3g}x / {r.late_gain:.3g}x",
                f"{r.early_median_gain:.3g}x / {r.late_median_gain:.3g}x",
                f"{r.early_heterogeneity:.3f} / {r.late_heterogeneity:.3f}",
                f"{r.seconds:.1f}"]) + " |")
        return "\n".join(lines)


def joint_policies() -> list[tuple[str, str, Any]]:
    """``(label, power_control, gradient_model factory)`` of the default comparison."""
    from ..aggregation import OnlineGradientModel

    return [("standard (optimal_power)", "optimal_power", None),
            ("joint (oracle Gram)", "joint", None),
            ("joint (two numbers of the oracle Gram)", "joint-model", None),
            ("joint (online model)", "joint", OnlineGradientModel)]


def joint_training_table(problem: str | Problem = "logistic", *,
                         dataset: str | None = "breast-cancer", n_partitions: int = 30,
                         partition: str = "iid", alpha: float = 0.5, reg: float = 0.1,
                         code: str = "bgc", row_weight: int = 4, p: float = 0.1,
                         channel: str = "rayleigh", snr_db: float = 10.0,
                         policies: list[tuple[str, str, Any]] | None = None,
                         rounds: int = 80, reps: int = 4, early: int = 10, late: int = 20,
                         target: float | None = None, confidence: float = 0.95,
                         rng=0) -> JointTable:
    """Train with the joint policy and with the standard pipeline on the same draws.

    Every policy sees the same problem, code, straggler, channel and noise draws (the same
    training seed; the plan draws stragglers and channels before the policy acts).

    Parameters
    ----------
    policies : list of (label, power_control, gradient_model factory or None)
        Default :func:`joint_policies`: standard, joint with the oracle Gram matrix, joint
        knowing only the two numbers of that Gram matrix, joint with the receiver's
        online estimate (:class:`~aircomp_agc.aggregation.OnlineGradientModel`). The first
        is the reference of the gains.
    rounds, reps : int
        Keep them modest: the joint policy solves box QPs over a grid of ``eta``
        (about 0.5-1 s per round at ``n = 30``).
    early, late : int
        Rounds averaged for the early and late aggregation error.
    target : float, optional
        ``F - F*`` whose first passage is ``rounds_to_target`` (never: ``rounds + 1``);
        default ``1e-2 (F(w_0) - F*)``.
    """
    owner = "joint_training_table"
    rounds = check_int("rounds", rounds, low=1, owner=owner)
    reps = check_int("reps", reps, low=1, owner=owner)
    early = check_int("early", early, low=1, high=rounds, owner=owner)
    late = check_int("late", late, low=1, high=rounds, owner=owner)
    g_prob, g_code, g_train = resolve_rng(rng).spawn(3)
    prob = _problem(problem, dataset=dataset, n_partitions=n_partitions, partition=partition,
                    alpha=alpha, reg=reg, rng=g_prob)
    policies = joint_policies() if policies is None else list(policies)
    k = prob.n_partitions
    hists: dict[str, History] = {}
    seconds: dict[str, float] = {}
    for label, pc, model in policies:
        setting = Setting(label, code=code, row_weight=row_weight, p=p, channel=channel,
                          snr_db=snr_db, power_control=pc,
                          gradient_model=None if model is None else model())
        agg = setting.aggregator(k, rng=_seed_copy(g_code))  # the same code for all
        t0 = time.perf_counter()
        hists[label] = train(prob, agg, rounds=rounds, reps=reps, rng=_seed_copy(g_train))
        seconds[label] = time.perf_counter() - t0
    first = hists[policies[0][0]]
    gap0 = float(np.nanmean(first.suboptimality[:, 0]))
    if target is None:
        target = 1e-2 * gap0
    target = check_real("target", target, low=0.0, low_open=True, owner=owner)
    ref = [f(first.aggregation_error[:, sl]) for f in (np.mean, np.median)
           for sl in (slice(None, early), slice(-late, None))]

    def gain(a: float, b: float) -> float:
        return float(a / b) if b > 0 else float("inf")
    rows = []
    for label, _, _ in policies:
        h = hists[label]
        err, gE, pE = h.aggregation_error, h.gradient_energy, h.partition_energy
        e_early, e_late = float(np.mean(err[:, :early])), float(np.mean(err[:, -late:]))
        m_early, m_late = float(np.median(err[:, :early])), float(np.median(err[:, -late:]))
        het = 1.0 - gE / (k * pE)
        reached = h.rounds_to(target)
        r2t = np.where(reached >= 0, reached, rounds + 1).astype(float)
        rows.append(JointRow(
            label, _tail_estimate(h.suboptimality, 1, confidence),
            _tail_estimate(r2t[:, None], 1, confidence), float(np.mean(reached >= 0)),
            _tail_estimate(h.test_accuracy, 1, confidence), e_early, e_late, m_early, m_late,
            float(err[:, :early].sum() / gE[:, :early].sum()),
            float(err[:, -late:].sum() / gE[:, -late:].sum()),
            gain(ref[0], e_early), gain(ref[1], e_late), gain(ref[2], m_early),
            gain(ref[3], m_late),
            float(np.mean(het[:, :early])), float(np.mean(het[:, -late:])), seconds[label]))
    info = {"problem": prob.name, "dataset": getattr(getattr(prob, "data", None), "name", "?"),
            "partition": partition if isinstance(problem, str) else "given",
            "n_partitions": k, "code": code, "row_weight": row_weight, "p": p,
            "channel": channel, "snr_db": snr_db, "rounds": rounds, "reps": reps,
            "early": early, "late": late, "target": target}
    return JointTable(rows, info, hists)
