"""Conformance suite for channel models (like scikit-learn's ``parametrize_with_checks``).

Any model, built-in or a user's, must pass every check here:

>>> from channels.testing import check_channel_model
>>> check_channel_model("rayleigh")                       # by registered name
>>> check_channel_model("nakagami", params={"m": 2.0})    # with parameters

or, in a pytest file, one test per check:

>>> from channels.testing import parametrize_with_checks
>>> @parametrize_with_checks(["rayleigh", ("rician", {"k_factor": 4.0})])
... def test_conformance(model, check):
...     check(model)

Stated tolerances (all with fixed seeds, so a pass/fail is reproducible):

* normalization: ``|mean |g|^2 - mean_gain2| <= 5 standard errors``, the standard error
  estimated from the per-batch-entry means (independent across the batch), plus ``1e-6``
  relative for deterministic models; a two-sided false-alarm probability of about 6e-7;
* distribution: Kolmogorov-Smirnov test of ``|g|^2`` (one entry per batch entry, so the
  samples are i.i.d.) against ``model.gain2_distribution()``, rejected when the p-value is
  below ``alpha = 1e-3``;
* the split ``h = sqrt(large_scale) * small_scale`` to ``rtol = 1e-5`` (single) or
  ``1e-12`` (double);
* the registry tags of a model built by name agree with the model (:func:`check_tags`).

A failing check raises ``AssertionError`` with the model and the measured numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .base import ChannelDraw, ChannelModel
from .registry import CHANNELS, make_channel

__all__ = [
    "CheckOptions",
    "channel_checks",
    "check_channel_model",
    "parametrize_with_checks",
]


@dataclass(frozen=True)
class CheckOptions:
    """Sizes, seeds and tolerances of the conformance checks.

    Parameters
    ----------
    batch, n_devices, n_rx_ant, n_rounds : int
        Sizes of the structural draws.
    n_stat : int
        Batch size of the statistical draws (KS and normalization samples).
    n_stat_devices : int
        Devices in the statistical draws.
    alpha : float
        KS significance level.
    n_se : float
        Normalization tolerance in standard errors.
    seed : int
        Base seed; checks use ``seed``, ``seed + 1``.
    """

    batch: int = 16
    n_devices: int = 3
    n_rx_ant: int = 2
    n_rounds: int = 4
    n_stat: int = 20_000
    n_stat_devices: int = 2
    alpha: float = 1e-3
    n_se: float = 5.0
    seed: int = 20261129


def _fail(model: ChannelModel, what: str) -> None:
    raise AssertionError(f"{model!r}: {what}")


def _other_precision(model: ChannelModel) -> ChannelModel:
    return model.with_precision("single" if model.precision == "double" else "double")


def _expected_shape(model: ChannelModel, o: CheckOptions, n_rounds: int | None, draw):
    base = model.shape(o.batch, o.n_devices, o.n_rx_ant, n_rounds)
    extra = draw.h.shape[len(base):]
    return base, extra


def check_draw_structure(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """``draw`` returns a ChannelDraw with the promised axes, shapes and dtypes."""
    o = o or CheckOptions()
    # Both round layouts in the model's precision, the other precision without rounds.
    for n_rounds, m in ((None, model), (o.n_rounds, model), (None, _other_precision(model))):
        try:
            d = m.draw(o.batch, o.n_devices, n_rx_ant=o.n_rx_ant, n_rounds=n_rounds,
                       rng=o.seed)
        except Exception as err:  # the check reports any failure of a valid call
            _fail(m, f"draw(batch={o.batch}, n_devices={o.n_devices}, n_rx_ant="
                     f"{o.n_rx_ant}, n_rounds={n_rounds}) raised {type(err).__name__}: "
                     f"{err}")
        if not isinstance(d, ChannelDraw):
            _fail(m, f"draw() must return a ChannelDraw; got {type(d).__name__}")
        base, extra = _expected_shape(m, o, n_rounds, d)
        if d.h.shape[: len(base)] != base or len(extra) != len(m.extra_axes):
            _fail(m, f"h has shape {d.h.shape}; expected {base} + one size per extra axis "
                     f"{m.extra_axes}")
        if d.axes != m.axes(n_rounds):
            _fail(m, f"axes {d.axes} != {m.axes(n_rounds)}")
        if d.small_scale.shape != d.h.shape:
            _fail(m, f"small_scale shape {d.small_scale.shape} != h shape {d.h.shape}")
        if d.large_scale.shape != (o.batch, o.n_devices):
            _fail(m, f"large_scale shape {d.large_scale.shape} != "
                     f"{(o.batch, o.n_devices)}")
        want_c = np.complex64 if m.precision == "single" else np.complex128
        want_r = np.float32 if m.precision == "single" else np.float64
        for name, arr, want in (("h", d.h, want_c), ("small_scale", d.small_scale, want_c),
                                ("large_scale", d.large_scale, want_r)):
            if arr.dtype != want:
                _fail(m, f"{name} has dtype {arr.dtype}; precision={m.precision!r} "
                         f"promises {np.dtype(want)}")
        if d.n_rx_ant != o.n_rx_ant or d.n_devices != o.n_devices:
            _fail(m, "ChannelDraw.n_rx_ant / n_devices do not match the request")


def check_single_antenna_gain2(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """With one receive antenna ``gain2`` is ``|h|^2`` without the antenna axis."""
    o = o or CheckOptions()
    d = model.draw(o.batch, o.n_devices, rng=o.seed)
    g2 = d.gain2
    want = np.abs(d.h[:, 0]) ** 2
    if g2.shape != want.shape or not np.allclose(g2, want, rtol=1e-6):
        _fail(model, f"gain2 shape {g2.shape} or values differ from |h[:, 0]|^2")


def check_split(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """``h = sqrt(large_scale) * small_scale``, finite values, large scale >= 0."""
    o = o or CheckOptions()
    for n_rounds in (None, o.n_rounds):
        d = model.draw(o.batch, o.n_devices, n_rx_ant=o.n_rx_ant, n_rounds=n_rounds,
                       rng=o.seed + 1)
        if np.any(d.large_scale < 0):
            _fail(model, f"large_scale has negative values (min {d.large_scale.min():g})")
        for name, arr in (("h", d.h), ("small_scale", d.small_scale),
                          ("large_scale", d.large_scale)):
            if not np.all(np.isfinite(arr)):
                _fail(model, f"{name} has {np.sum(~np.isfinite(arr))} non-finite values")
        lead = 2 if n_rounds is not None else 1
        amp = np.sqrt(d.large_scale.astype(np.float64)).reshape(
            (o.batch,) + (1,) * lead + (o.n_devices,) + (1,) * len(model.extra_axes))
        rtol = 1e-5 if model.precision == "single" else 1e-12
        ref = amp * d.small_scale
        scale = np.max(np.abs(ref)) if ref.size else 1.0
        if not np.allclose(d.h, ref, rtol=rtol, atol=rtol * scale):
            _fail(model, "h != sqrt(large_scale) * small_scale")


def check_determinism(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """Same seed (int or Generator) -> identical draw; different seed -> different draw."""
    o = o or CheckOptions()
    def draw(rng):
        return model.draw(o.batch, o.n_devices, n_rx_ant=o.n_rx_ant, rng=rng)

    a, b = draw(o.seed), draw(np.random.default_rng(o.seed))
    for name in ("h", "small_scale", "large_scale"):
        if not np.array_equal(getattr(a, name), getattr(b, name)):
            _fail(model, f"{name} differs between two draws with the same seed {o.seed}")
    random = model.is_random or (model.large_scale is not None and model.large_scale.is_random)
    if random and np.array_equal(a.h, draw(o.seed + 1).h):
        _fail(model, f"seeds {o.seed} and {o.seed + 1} gave identical draws")


def _stat_samples(model: ChannelModel, o: CheckOptions) -> np.ndarray:
    d = model.draw(o.n_stat, o.n_stat_devices, rng=o.seed + 2)
    return np.abs(d.small_scale.astype(np.complex128)) ** 2


def check_mean_gain2(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """``E|g|^2`` within ``n_se`` standard errors of the declared ``mean_gain2``."""
    o = o or CheckOptions()
    if model.mean_gain2 is None:
        return
    g2 = _stat_samples(model, o)
    per_entry = g2.reshape(o.n_stat, -1).mean(axis=1)
    mean = per_entry.mean()
    se = per_entry.std(ddof=1) / np.sqrt(o.n_stat)
    tol = o.n_se * se + 1e-6 * model.mean_gain2
    if abs(mean - model.mean_gain2) > tol:
        _fail(model, f"E|g|^2 = {mean:.5f} but mean_gain2 = {model.mean_gain2:g} "
                     f"(tolerance {tol:.2g} = {o.n_se:g} standard errors)")


def check_gain2_distribution(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """KS test of ``|g|^2`` against the declared ``gain2_distribution()``."""
    o = o or CheckOptions()
    dist = model.gain2_distribution()
    if dist is None:
        return
    g2 = _stat_samples(model, o)
    x = g2.reshape(o.n_stat, -1)[:, 0]  # one entry per batch entry: i.i.d. samples
    res = stats.kstest(x, dist.cdf)
    if res.pvalue < o.alpha:
        _fail(model, f"KS test of |g|^2 against {dist.dist.name}{dist.args or ''}"
                     f"{dist.kwds or ''}: D = {res.statistic:.4f}, p = {res.pvalue:.2g} < "
                     f"alpha = {o.alpha:g} (n = {o.n_stat})")


def check_tags(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """The registry tags of the model's ``name`` agree with what the model does.

    ``randomized`` equals ``is_random``; the model's ``extra_axes`` are among the tagged
    ones; without a :class:`LargeScale`, a model not tagged ``path_loss`` draws
    ``large_scale`` of ones and a model tagged ``path_loss`` does not. Skipped for a model
    without a registered name (built directly, not by ``make_channel``).
    """
    o = o or CheckOptions()
    if not model.name or model.name not in CHANNELS:
        return
    tags = CHANNELS.tags(model.name)
    if bool(tags["randomized"]) != bool(model.is_random):
        _fail(model, f"tagged randomized={tags['randomized']!r} but is_random="
                     f"{model.is_random!r}")
    if not set(model.extra_axes) <= set(tags["extra_axes"]):
        _fail(model, f"draws extra axes {model.extra_axes} but is tagged extra_axes="
                     f"{tuple(tags['extra_axes'])}")
    if model.large_scale is None:
        beta = model.draw(o.batch, o.n_devices, rng=o.seed).large_scale
        ones = bool(np.all(beta == 1))
        if ones == bool(tags["path_loss"]):
            _fail(model, f"tagged path_loss={tags['path_loss']!r} but its own large_scale is "
                         f"{'all ones' if ones else 'not all ones'}")


def check_bad_input(model: ChannelModel, o: CheckOptions | None = None) -> None:
    """Non-positive sizes raise ValueError naming the parameter; a bad rng a TypeError."""
    o = o or CheckOptions()
    for name, kwargs in (("batch", dict(batch=0)), ("n_devices", dict(n_devices=0)),
                         ("n_rx_ant", dict(n_rx_ant=0)), ("n_rounds", dict(n_rounds=0)),
                         ("batch", dict(batch=-3))):
        args = dict(batch=2, n_devices=2) | kwargs
        try:
            model.draw(**args)
        except ValueError as err:
            if f"'{name}'" not in str(err):
                _fail(model, f"ValueError for {kwargs} does not name '{name}': {err}")
        else:
            _fail(model, f"draw(**{args}) did not raise ValueError")
    try:
        model.draw(2, 2, rng="seed")
    except TypeError:
        pass
    else:
        _fail(model, "draw(rng='seed') did not raise TypeError")


_CHECKS: tuple[Callable[..., None], ...] = (
    check_draw_structure,
    check_split,
    check_single_antenna_gain2,
    check_determinism,
    check_mean_gain2,
    check_gain2_distribution,
    check_tags,
    check_bad_input,
)


def _resolve(model_or_name, params: dict[str, Any] | None) -> ChannelModel:
    if isinstance(model_or_name, ChannelModel):
        if params:
            raise ValueError(
                "The 'params' parameter of check_channel_model must be empty when a model "
                f"instance is given; got {params!r}."
            )
        return model_or_name
    if isinstance(model_or_name, str):
        return make_channel(model_or_name, **(params or {}))
    raise TypeError(
        "The 'model_or_name' parameter of check_channel_model must be a ChannelModel or a "
        f"registered name; got {type(model_or_name).__name__} {model_or_name!r}."
    )


def channel_checks(options: CheckOptions | None = None) -> list[Callable[[ChannelModel], None]]:
    """The conformance checks, each a callable ``check(model)`` with ``options`` bound."""
    o = options or CheckOptions()
    out = []
    for chk in _CHECKS:
        bound = functools.partial(chk, o=o)
        functools.update_wrapper(bound, chk)
        out.append(bound)
    return out


def check_channel_model(
    model_or_name: ChannelModel | str,
    *,
    params: dict[str, Any] | None = None,
    options: CheckOptions | None = None,
    **option_overrides,
) -> None:
    """Run every conformance check on a model (instance or registered name).

    Parameters
    ----------
    model_or_name : ChannelModel or str
    params : dict, optional
        Parameters for :func:`~channels.make_channel` when a name is given.
    options : CheckOptions, optional
    **option_overrides
        Fields of :class:`CheckOptions` to change (e.g. ``n_stat=2000``).

    Raises
    ------
    AssertionError
        From the first failing check, naming the model and the measured numbers.
    """
    o = options or CheckOptions()
    if option_overrides:
        o = CheckOptions(**{**o.__dict__, **option_overrides})
    model = _resolve(model_or_name, params)
    for chk in channel_checks(o):
        chk(model)


def parametrize_with_checks(
    models: Iterable[ChannelModel | str | tuple[str, dict[str, Any]]],
    options: CheckOptions | None = None,
):
    """``pytest.mark.parametrize("model, check", ...)`` over models x checks.

    Parameters
    ----------
    models : iterable
        Model instances, registered names, or ``(name, params)`` pairs.
    options : CheckOptions, optional

    Returns
    -------
    pytest.MarkDecorator
        Test ids are ``"<model>-<check>"``.
    """
    import pytest

    cases, ids = [], []
    for spec in models:
        if isinstance(spec, tuple):
            name, params = spec
            model = _resolve(name, params)
            label = name + "".join(f"-{k}={v}" for k, v in params.items())
        else:
            model = _resolve(spec, None)
            label = spec if isinstance(spec, str) else (model.name or type(model).__name__)
        for chk in channel_checks(options):
            cases.append((model, chk))
            ids.append(f"{label}-{chk.__name__}")
    return pytest.mark.parametrize("model, check", cases, ids=ids)
