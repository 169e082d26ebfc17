"""Policies that know coded messages are correlated: correlation-aware and joint.

Write ``u_i = r_i / s_i`` for the coefficient the receiver applies to worker ``i``'s coded
message ``f_i`` (``r_i`` the received amplitude of the unit-power ``x_i = f_i / s_i``).
The estimate is ``beta^T G + n`` with ``beta = B^T u``, and ``t = 1 / sqrt(eta)``. With
second moments ``S`` of the partition gradients (the oracle ``G G^T`` or a
:class:`~aircomp_agc.aggregation.messages.GradientModel`), ``M = B S B^T`` and the noise
variance per coordinate ``sigma_r^2`` (real convention), the expected error is

.. math::

    J(u, t) = (B^T u - 1)^T S (B^T u - 1) + D \\sigma_r^2 t^2 ,
    \\qquad |u_i| \\le t \\sqrt{P_i g_i} / s_i \\;(\\text{responders}),\\; u_i = 0
    \\;(\\text{others}).

For a fixed ``t`` this is a box-constrained convex quadratic program in ``u``
(:func:`~aircomp_agc.aggregation.boxqp.solve_box_qp`); ``t`` is searched on a grid around
the standard pipeline's value, refined by golden section, with the standard value kept
among the candidates (the objective need not be unimodal in ``t``).

- ``"joint"`` minimizes ``J`` itself: decoding, power control and truncation come out of one
  problem (a weak device gets a box so small that leaving it out is chosen, not imposed).
  Its decoder weights are ``u``. Least squares followed by any peak-power policy is a
  feasible point, so with the oracle ``S`` the joint policy is never worse.
- ``"correlation-aware"`` keeps the decoder's weights ``a`` and chooses powers and ``eta``
  to minimize the *true* misalignment plus noise for correlated messages,
  ``(u - a)^T M (u - a) + D sigma_r^2 t^2``, instead of the independent-symbol
  ``sum_i (r_i - a_i s_i)^2 D``.

Both need ``S``: pass gradients to :meth:`CodedAirComp.round` (oracle), or give
``CodedAirComp(gradient_model=...)`` (two numbers a receiver can track, e.g. fitted from
previous aggregates with :meth:`GradientModel.fit`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from channels.power_control import optimal_power

from .boxqp import solve_box_qp
from .messages import GradientModel
from .plan import Allocation, PlanContext
from .policies import register_policy
from .standard import standard_allocation

__all__ = ["box_radius", "correlation_aware_allocation", "joint_allocation", "message_gram"]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0

#: What the correlation-aware policies know of the second moments.
KNOWLEDGE = ("oracle", "model")


def message_gram(ctx: PlanContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``M = B S B^T`` [R, n, n], ``q = B S 1`` [R, n] and ``1^T S 1`` [R] for the context."""
    S = ctx.second_moments
    B = ctx.code.B
    rows = ctx.candidates.shape[0]
    if S is None:
        raise ValueError(
            "The correlation-aware policies need second moments of the partition gradients: "
            "pass gradients to CodedAirComp.round/expected_mse, or set gradient_model=; got "
            "none."
        )
    if isinstance(S, GradientModel):
        ones = np.asarray(B.sum(axis=1)).ravel()  # B 1
        bbt = (B @ B.T).toarray()
        m2 = np.broadcast_to(np.asarray(S.mean_energy, dtype=np.float64), (rows,))
        v = np.broadcast_to(np.asarray(S.heterogeneity, dtype=np.float64), (rows,))
        M = m2[:, None, None] * np.outer(ones, ones) + v[:, None, None] * bbt
        q = (m2 * ctx.code.n_partitions + v)[:, None] * ones
        const = m2 * ctx.code.n_partitions**2 + v * ctx.code.n_partitions
        return M, q, const
    S = np.asarray(S, dtype=np.float64)
    Bd = B.toarray()
    M = Bd @ S @ Bd.T  # [n, n] or [R, n, n]
    s1 = S.sum(axis=-1)
    q = s1 @ Bd.T
    const = s1.sum(axis=-1)
    if M.ndim == 2:
        return (np.broadcast_to(M, (rows, *M.shape)), np.broadcast_to(q, (rows, q.size)),
                np.full(rows, float(const)))
    return M, q, const


def box_radius(ctx: PlanContext) -> np.ndarray:
    """``sqrt(P_i g_i) / s_i`` on candidates, 0 elsewhere: ``|u_i| <= t * radius_i``."""
    ok = ctx.candidates & (ctx.s > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rad = np.sqrt(ctx.power * ctx.gain2) / ctx.s
    return np.where(ok, rad, 0.0)


def _objective(M, q, const, u, noise):
    return np.einsum("ri,rij,rj->r", u, M, u) - 2.0 * np.sum(q * u, -1) + const + noise


def _solve_at(M, q, const, radius, t, noise_coef, x0=None):
    hi = radius * t[:, None]
    res = solve_box_qp(M, q, -hi, hi, x0=None if x0 is None else np.clip(x0, -hi, hi))
    return res.x, _objective(M, q, const, res.x, noise_coef * t**2)


def _search(M, q, const, radius, noise_coef, t_ref, *, n_grid=17, span=2.0, n_refine=12):
    """Minimize ``J(t)`` per row: a log grid around ``t_ref`` (warm-started solves), then
    golden-section refinement in ``log t`` around the best grid value; ``t_ref`` itself
    stays a candidate. Returns ``(u, t, J)``, each row's best."""
    rows = M.shape[0]
    best_x, best_j = _solve_at(M, q, const, radius, t_ref, noise_coef)
    best_t = t_ref.copy()

    def keep(x, j, t):
        nonlocal best_x, best_j, best_t
        better = j < best_j
        best_x = np.where(better[:, None], x, best_x)
        best_j = np.where(better, j, best_j)
        best_t = np.where(better, t, best_t)

    grid = 10.0 ** np.linspace(-span, span, n_grid)
    values = np.empty((n_grid, rows))
    x = None
    for i, f in enumerate(grid):  # one batched solve per grid value, warm-started
        x, values[i] = _solve_at(M, q, const, radius, t_ref * f, noise_coef, x)
        keep(x, values[i], t_ref * f)
    i_best = np.argmin(values, axis=0)
    a = np.log(t_ref * grid[np.maximum(i_best - 1, 0)])
    b = np.log(t_ref * grid[np.minimum(i_best + 1, n_grid - 1)])
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    xc, fc = _solve_at(M, q, const, radius, np.exp(c), noise_coef, best_x)
    xd, fd = _solve_at(M, q, const, radius, np.exp(d), noise_coef, best_x)
    keep(xc, fc, np.exp(c))
    keep(xd, fd, np.exp(d))
    for _ in range(n_refine):
        left = fc < fd  # the minimum lies in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        xn, fn = _solve_at(M, q, const, radius, np.exp(new), noise_coef, best_x)
        keep(xn, fn, np.exp(new))
        # left: (c, d) <- (new, old c); right: (c, d) <- (old d, new)
        c, d = np.where(left, new, d), np.where(left, c, new)
        fc, fd = np.where(left, fn, fd), np.where(left, fc, fn)
        xc, xd = (np.where(left[:, None], xn, xd), np.where(left[:, None], xc, xn))
    return best_x, best_t, best_j


def _reference_t(ctx: PlanContext, radius: np.ndarray, standard: Allocation) -> np.ndarray:
    """``1 / sqrt(eta)`` of the standard pipeline, or a scale where the strongest box is 1."""
    with np.errstate(divide="ignore"):
        t = 1.0 / np.sqrt(standard.eta)
    fallback = 1.0 / np.maximum(radius.max(axis=-1), 1e-300)
    return np.where(np.isfinite(t) & (t > 0), t, fallback)


def _allocation(ctx: PlanContext, u: np.ndarray, t: np.ndarray, weights: np.ndarray,
                n_decodes: int, name: str) -> Allocation:
    """Powers, eta and signs that realize received amplitudes ``r = u s`` at ``t``."""
    r = u * ctx.s
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.where(ctx.gain2 > 0, (r / t[:, None]) ** 2 / ctx.gain2, 0.0)
    power = np.minimum(np.where(np.abs(u) > 0, power, 0.0), ctx.power)  # round-off only
    eta = np.where(power.any(axis=-1), 1.0 / t**2, np.inf)
    sign = np.sign(u) * (power > 0)
    return Allocation(np.where(power > 0, weights, 0.0), power, eta, sign, n_decodes, name)


def _standard(ctx: PlanContext) -> Allocation:
    return standard_allocation(ctx, optimal_power, name="optimal_power")


def _modelled(ctx: PlanContext) -> PlanContext:
    """The context with its second moments replaced by their two-number model."""
    S = ctx.second_moments
    if S is None or isinstance(S, GradientModel):
        return ctx
    return replace(ctx, second_moments=GradientModel.from_gram(S, dim=ctx.dim))


def joint_allocation(ctx: PlanContext) -> Allocation:
    """Joint decoding and power control: minimize ``J(u, t)`` (module docstring)."""
    M, q, const = message_gram(ctx)
    radius = box_radius(ctx)
    ref = _standard(ctx)
    t_ref = _reference_t(ctx, radius, ref)
    noise_coef = ctx.dim * ctx.noise_var
    u, t, _ = _search(M, q, const, radius, noise_coef, t_ref)
    return _allocation(ctx, u, t, u, ref.n_decodes, "joint")


def correlation_aware_allocation(ctx: PlanContext) -> Allocation:
    """Decoder weights from the decoder; powers and ``eta`` minimizing the true
    misalignment ``(u - a)^T M (u - a)`` plus noise for the correlated messages."""
    M, _, _ = message_gram(ctx)
    radius = box_radius(ctx)
    ref = _standard(ctx)
    a = ref.weights if ref.n_decodes > 1 else ctx.decode(ctx.candidates)
    a = np.where(radius > 0, a, 0.0)
    qa = np.einsum("rij,rj->ri", M, a)
    const = np.einsum("ri,ri->r", a, qa)
    t_ref = _reference_t(ctx, radius, ref)
    u, t, _ = _search(M, qa, const, radius, ctx.dim * ctx.noise_var, t_ref)
    return _allocation(ctx, u, t, a, ref.n_decodes, "correlation-aware")


def _with_knowledge(allocate, knowledge: str):
    if knowledge not in KNOWLEDGE:
        raise ValueError(f"The 'knowledge' parameter must be one of "
                         f"{', '.join(map(repr, KNOWLEDGE))}; got {knowledge!r}.")
    if knowledge == "oracle":
        return allocate
    return lambda ctx: allocate(_modelled(ctx))


@register_policy("joint", summary="joint decoding, power control and truncation (one box QP "
                 "per eta)")
def joint(*, knowledge: str = "oracle"):
    """Joint decoding and power control for correlated coded messages.

    Parameters
    ----------
    knowledge : {"oracle", "model"}
        Use the second moments as given, or only their two-number model
        (:meth:`GradientModel.from_gram`: mean-gradient energy and heterogeneity).
    """
    return _with_knowledge(joint_allocation, knowledge)


@register_policy("joint-model", summary="joint policy that knows only the two numbers of the "
                 "gradient model (mean energy, heterogeneity)")
def joint_model():
    """``joint`` with ``knowledge="model"``: what a receiver can track in practice."""
    return _with_knowledge(joint_allocation, "model")


@register_policy("correlation-aware", summary="decoder's weights; powers and eta minimizing "
                 "the true error of correlated messages")
def correlation_aware(*, knowledge: str = "oracle"):
    """Correlation-aware power control for the decoder's targets (``knowledge`` as in
    ``joint``)."""
    return _with_knowledge(correlation_aware_allocation, knowledge)


@register_policy("correlation-aware-model", summary="correlation-aware power control from "
                 "the two-number gradient model")
def correlation_aware_model():
    """``correlation-aware`` with ``knowledge="model"``."""
    return _with_knowledge(correlation_aware_allocation, "model")
