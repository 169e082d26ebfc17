"""Monte-Carlo estimates of decoding error with confidence intervals.

The normalized decoding error of a code ``B`` on responders ``T`` is
``err(T) = ||B_T^T a - 1||^2 / k``; for i.i.d. zero-mean isotropic partition gradients it
equals ``E||Ghat - G||^2 / E||G||^2`` (see ``decoders``). Here it is averaged over random
straggler sets (and, optionally, random encodings), vectorized through
``decoders.decoding_errors`` one batch of straggler masks at a time.

Results are the toolkit's one estimate type, :class:`~aircomp_agc._checks.Estimate`
(re-exported here with :func:`mean_ci`): two-sided Student-t intervals on the mean of
i.i.d. samples, ``n`` the number of trials. When the code is redrawn, trials that share a
code are correlated, so the interval is computed from the per-code means (the i.i.d.
units, ``n_independent``), not from the raw trials.

Seeding: one ``rng`` argument; every batch (and every code draw) gets its own child
generator spawned from it in a fixed order, so a seed gives the same estimate for the same
``n_trials`` and ``batch_size``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import Estimate, check_int, check_real, mean_ci, resolve_rng
from .base import Code
from .stragglers import StragglerModel, check_stragglers

__all__ = ["Estimate", "estimate_error", "estimate_realized_error", "mean_ci"]


def _code_source(code_or_factory: Any, redraw_code: bool, owner: str) -> Callable[..., Code]:
    """A function ``rng -> Code``: the fixed code, a user factory, or a redraw of the code."""
    if isinstance(code_or_factory, Code):
        code = code_or_factory
        if not redraw_code:
            return lambda rng: code
        from .registry import make_code

        params = {k: v for k, v in code.params.items() if k != "rng"}

        def rebuild(rng: np.random.Generator) -> Code:
            try:
                return make_code(code.name, **params, rng=rng)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"The 'redraw_code' parameter of {owner} rebuilds the code with "
                    f"make_code({code.name!r}, **code.params, rng=...), which failed ({err}); "
                    "pass a factory rng -> Code as 'code_or_factory' instead."
                ) from err

        return rebuild
    if callable(code_or_factory):
        return code_or_factory
    raise TypeError(
        f"The 'code_or_factory' parameter of {owner} must be a Code or a callable "
        f"rng -> Code; got {type(code_or_factory).__name__}."
    )


def _redraw_changes_code(code_or_factory: Any, owner: str) -> bool:
    """False (with a warning) when ``redraw_code`` is asked for a deterministic registered
    code: every draw would be the same code, so it is used as a fixed code."""
    from .registry import CODES

    if isinstance(code_or_factory, Code) and code_or_factory.name in CODES \
            and not CODES.tags(code_or_factory.name)["randomized"]:
        warnings.warn(
            f"{owner}: redraw_code=True for the deterministic code {code_or_factory.name!r} "
            "would draw the same code every time; it is used as a fixed code.",
            RuntimeWarning,
            stacklevel=4,
        )
        return False
    return True


def _monte_carlo(
    sample_fn: Callable[[Code, np.ndarray, np.random.Generator], np.ndarray],
    code_or_factory: Any,
    stragglers: StragglerModel,
    *,
    n_trials: int,
    rng: Any,
    redraw_code: bool,
    batch_size: int,
    confidence: float,
    rel_tol: float | None,
    max_trials: int | None,
    owner: str,
) -> Estimate:
    check_stragglers(stragglers, owner)
    n_trials = check_int("n_trials", n_trials, low=2, owner=owner)
    batch_size = check_int("batch_size", batch_size, low=1, owner=owner)
    confidence = check_real("confidence", confidence, low=0, high=1, low_open=True,
                            high_open=True, owner=owner)
    if rel_tol is not None:
        rel_tol = check_real("rel_tol", rel_tol, low=0, low_open=True, owner=owner)
    cap = n_trials if rel_tol is None else (
        100 * n_trials if max_trials is None
        else check_int("max_trials", max_trials, low=n_trials, owner=owner)
    )
    redraw_code = redraw_code and _redraw_changes_code(code_or_factory, owner)
    source = _code_source(code_or_factory, redraw_code, owner)
    redraw = redraw_code or not isinstance(code_or_factory, Code)
    if redraw and batch_size >= cap:
        limit = f"n_trials={n_trials}" if rel_tol is None else f"max_trials={cap}"
        raise ValueError(
            f"The 'batch_size' parameter of {owner} must be below {limit} when the code is "
            "redrawn (each code draw serves batch_size straggler sets and the interval needs "
            f">= 2 draws); got batch_size={batch_size}."
        )
    rng = resolve_rng(rng)
    fixed = None if redraw else source(None)

    units: list[np.ndarray] = []  # i.i.d. units: raw trials (fixed code) or per-code means
    done = 0
    while True:
        b = min(batch_size, cap - done)
        g_code, g_strag, g_eval = rng.spawn(3)
        code = fixed if fixed is not None else source(g_code)
        masks = stragglers.sample(b, code.n_workers, rng=g_strag)
        vals = np.asarray(sample_fn(code, masks, g_eval), dtype=np.float64)
        units.append(vals if fixed is not None else np.array([vals.mean()]))
        done += b
        if done >= n_trials:
            x = np.concatenate(units)
            if x.size >= 2:
                est = mean_ci(x, confidence, owner=owner)
                if rel_tol is None or est.half_width <= rel_tol * abs(est.mean) or done >= cap:
                    break
            elif done >= cap:
                break
    x = np.concatenate(units)  # >= 2 units: checked above for redrawn codes
    est = mean_ci(x, confidence, owner=owner)
    converged = rel_tol is None or est.half_width <= rel_tol * abs(est.mean)
    if not converged:
        warnings.warn(
            f"{owner}: relative CI half-width {est.half_width / abs(est.mean):.3g} > "
            f"rel_tol={rel_tol:g} after max_trials={cap} trials.",
            RuntimeWarning,
            stacklevel=3,
        )
    return Estimate(est.mean, est.std_err, est.ci_low, est.ci_high, n=done,
                    confidence=confidence, n_independent=x.size, converged=converged)


def estimate_error(
    code_or_factory: Code | Callable[..., Code],
    stragglers: StragglerModel,
    *,
    n_trials: int = 2000,
    method: str = "lstsq",
    rng: Any = None,
    redraw_code: bool = False,
    batch_size: int = 50,
    confidence: float = 0.95,
    rel_tol: float | None = None,
    max_trials: int | None = None,
    decoder_options: Mapping[str, Any] | None = None,
) -> Estimate:
    r"""Monte-Carlo mean of the normalized decoding error over random straggler sets.

    .. math:: \widehat{E}[\mathrm{err}] = \frac{1}{M}\sum_{m=1}^{M}
              \frac{\|B_{T_m}^T a_m - \mathbf 1\|^2}{k}

    Parameters
    ----------
    code_or_factory : Code or callable ``rng -> Code``
        A fixed code (the estimate is conditional on it), or a factory called with a child
        ``numpy.random.Generator`` once per batch (random encodings). A ``Code`` with
        ``redraw_code=True`` is rebuilt with ``make_code(code.name, **code.params, rng=...)``.
    stragglers : StragglerModel
        Draws the responder masks ``[batch, n_workers]``.
    n_trials : int >= 2
        Number of straggler sets (the minimum in precision-target mode).
    method : str
        Decoder passed to ``decoders.decoding_errors``.
    rng : None, int, SeedSequence or Generator
    redraw_code : bool
        Draw a fresh encoding for every batch (each code serves ``batch_size`` straggler
        sets; the interval is then computed from the per-code means). A deterministic
        registered code (tag ``randomized=False``) is kept fixed, with a warning.
    batch_size : int >= 1
        Straggler sets decoded per vectorized ``decoding_errors`` call (and per code draw
        when the code is redrawn). At n = 200, s = 40 with the batched least-squares
        decoder, 50 cost about 5-12 ms per trial (row weights 3-80), as fast as or faster
        than 25 or 200.
    confidence : float in (0, 1)
        Two-sided Student-t confidence level.
    rel_tol : float > 0, optional
        Precision-target mode: keep adding batches until the CI half-width is at most
        ``rel_tol * |mean|`` or ``max_trials`` trials (default ``100 * n_trials``) ran; a
        ``RuntimeWarning`` is issued when the cap is hit (``Estimate.converged`` False).
    max_trials : int >= n_trials, optional
    decoder_options : mapping, optional
        Extra keyword options for ``decoding_errors`` (e.g. ``{"weight": 1.0}`` for the
        one-step decoder, ``{"solver": "dense"}``).

    Returns
    -------
    Estimate

    Examples
    --------
    >>> code = make_code("approx-frc", n=24, row_weight=3)
    >>> estimate_error(code, make_stragglers("fixed", s=12), n_trials=4000, rng=0).mean
    ... # close to C(12,3)/C(24,3) = 0.10870
    """
    from .decoders import decoding_errors

    options = dict(decoder_options or {})

    def fn(code: Code, masks: np.ndarray, _: np.random.Generator) -> np.ndarray:
        return decoding_errors(code, masks, method=method, **options)

    return _monte_carlo(
        fn, code_or_factory, stragglers, n_trials=n_trials, rng=rng, redraw_code=redraw_code,
        batch_size=batch_size, confidence=confidence, rel_tol=rel_tol, max_trials=max_trials,
        owner="estimate_error",
    )


def estimate_realized_error(
    code_or_factory: Code | Callable[..., Code],
    stragglers: StragglerModel,
    *,
    gradients: np.ndarray | None = None,
    dim: int = 32,
    n_trials: int = 500,
    method: str = "lstsq",
    rng: Any = None,
    redraw_code: bool = False,
    batch_size: int = 50,
    confidence: float = 0.95,
) -> Estimate:
    r"""Monte-Carlo mean of the realized relative error on partition gradients.

    .. math:: \frac{\|\hat G - G\|^2}{\|G\|^2}, \quad
              \hat G = \sum_{i\in T} a_i \tilde g_i,\quad G = \sum_j g_j

    Parameters
    ----------
    gradients : float array [k, D], optional
        Fixed partition gradients. When omitted, fresh i.i.d. standard Gaussian gradients
        ``[k, dim]`` are drawn for every trial; then the expectation equals the normalized
        decoding error of :func:`estimate_error` (isotropic zero-mean gradients), though the
        ratio estimator has a small bias for small ``k * dim``.
    dim : int >= 1
        Gradient dimension ``D`` for the random gradients.

    Other parameters are as in :func:`estimate_error`.
    """
    from .decoders import realized_errors

    owner = "estimate_realized_error"
    dim = check_int("dim", dim, low=1, owner=owner)
    if gradients is not None:
        gradients = np.asarray(gradients)
        if (gradients.ndim != 2 or not np.issubdtype(gradients.dtype, np.floating)
                or not np.all(np.isfinite(gradients))):
            raise ValueError(
                f"The 'gradients' parameter of {owner} must be a finite float array "
                f"[n_partitions, D]; got shape {gradients.shape}, dtype {gradients.dtype}."
            )

    def fn(code: Code, masks: np.ndarray, g_rng: np.random.Generator) -> np.ndarray:
        if gradients is None:
            g = g_rng.standard_normal((masks.shape[0], code.n_partitions, dim))
        else:
            g = gradients
        return realized_errors(code, masks, g, method=method)

    return _monte_carlo(
        fn, code_or_factory, stragglers, n_trials=n_trials, rng=rng, redraw_code=redraw_code,
        batch_size=batch_size, confidence=confidence, rel_tol=None, max_trials=None,
        owner=owner,
    )
