"""Conformance checks every power-control policy (built-in or user-registered) must pass.

Use in a test suite::

    from channels.power_control.conformance import check_power_control
    check_power_control(my_policy)                                   # a callable
    check_power_control(make_power_control("truncated_inversion", gain_threshold=0.3))

Each check raises ``AssertionError`` naming the violated contract. The contract:

* shapes: ``power``/``scheduled`` ``[..., K]``, ``eta``/``mse`` ``[...]`` for any leading
  batch shape, and the batch is processed row-independently (vectorized result equals the
  result on each slice);
* ``power >= 0`` and finite, ``eta > 0``, ``scheduled == (power > 0)``;
* the reported ``mse`` equals :func:`~channels.power_control.base.phase_aligned_mse` of the
  reported powers and ``eta`` (the MSE is not a separate, possibly inconsistent, estimate);
* budgets: ``constraint == "peak"`` implies ``power <= P_k`` in every realization, and then
  the MSE is never below :func:`~channels.power_control.optimal_power.optimal_power`'s (it
  is optimal under peak power); ``constraint == "average"`` implies ``E[p_k] <= P_k`` over
  unit-mean Rayleigh fading (``|h_k|^2 ~ Exp(1)``, the law the built-in average policy
  assumes by default), checked on 20,000 draws within 5 standard errors;
* signed targets: negating some ``a_k`` leaves ``power``, ``eta`` and ``mse`` unchanged and
  flips the sign of the transmit amplitude;
* zero targets, as coded aggregation sends them (``a_k = 0`` for stragglers): such a device
  is silent and absent, i.e. its gain changes nothing else; a row whose targets are all
  zero has ``power = 0``, ``eta = inf`` and ``mse = 0``; random zero patterns with signed
  targets keep every rule above;
* tags (for a policy built by :func:`~channels.power_control.make_power_control`, or given
  ``tags=``): the result's ``constraint`` is the one the ``constraint`` tag declares, and a
  policy tagged ``schedules=False`` lets every device with ``a_k != 0`` transmit;
* invalid ``gain2``/``power``/``noise_var`` raise ``ValueError`` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import resolve_rng
from .base import PowerControl, phase_aligned_mse
from .optimal_power import optimal_power

__all__ = ["check_power_control"]

#: Rows (fading draws) of the average-budget check, and its tolerance in standard errors.
_N_AVERAGE = 20_000
_N_SE = 5.0


def _draw(rng: np.random.Generator, batch: int, k: int):
    gain2 = rng.exponential(1.0, size=(batch, k))
    power = rng.uniform(0.5, 2.0, size=(batch, k))
    noise_var = rng.uniform(0.01, 0.5, size=batch)
    target = rng.uniform(0.5, 1.5, size=(batch, k))
    return gain2, power, noise_var, target


def _coded_targets(rng: np.random.Generator, target: np.ndarray) -> np.ndarray:
    """Signed targets with a random zero pattern (about 40%) and all-zero rows 0 and 3."""
    sign = np.where(rng.random(target.shape) < 0.5, -1.0, 1.0)
    a = sign * target * (rng.random(target.shape) >= 0.4)
    a[[0, 3]] = 0.0
    return a


def _close(x, y, what, rtol=1e-9, atol=1e-12):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    same_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
    ok = same_inf | np.isclose(x, y, rtol=rtol, atol=atol)
    assert np.all(ok), f"{what}: max abs difference {np.nanmax(np.abs(x - y)):.3g}"


def _check_result(pc, g, p, s2, a, tags: Mapping[str, Any] | None, what: str) -> None:
    """Shapes, values, MSE consistency, peak budget and tags of one batched result."""
    batch, k = g.shape
    assert isinstance(pc, PowerControl), f"policy returned {type(pc).__name__}, not PowerControl"
    assert pc.power.shape == (batch, k), f"{what}: power shape {pc.power.shape}"
    assert pc.scheduled.shape == (batch, k), f"{what}: scheduled shape {pc.scheduled.shape}"
    assert pc.scheduled.dtype == bool, f"{what}: scheduled dtype {pc.scheduled.dtype}"
    assert pc.eta.shape == (batch,), f"{what}: eta shape {pc.eta.shape}"
    assert pc.mse.shape == (batch,), f"{what}: mse shape {pc.mse.shape}"
    assert np.all(np.isfinite(pc.power)) and np.all(pc.power >= 0), \
        f"{what}: power must be >= 0 and finite"
    assert np.all(pc.eta > 0), f"{what}: eta must be positive"
    assert not np.any(np.isnan(pc.mse)) and np.all(pc.mse >= 0), f"{what}: mse must be >= 0"
    assert np.array_equal(pc.scheduled, pc.power > 0), f"{what}: scheduled must equal power > 0"
    assert np.all(pc.power[a == 0] == 0), f"{what}: a device with target 0 must be silent"
    _close(pc.mse, phase_aligned_mse(g, pc.power, pc.eta, s2, a),
           f"{what}: mse differs from phase_aligned_mse(power, eta)")
    if pc.constraint == "peak":
        assert np.all(pc.power <= p * (1 + 1e-9)), f"{what}: peak constraint power <= P violated"
        best = optimal_power(g, power=p, noise_var=s2, target=a).mse
        assert np.all(pc.mse >= best * (1 - 1e-9) - 1e-12), \
            f"{what}: peak policy beats optimal_power"
    if tags is None:
        return
    declared = tags.get("constraint", "peak")
    allowed = ("peak", "average") if declared == "peak-or-average" else (declared,)
    assert pc.constraint in allowed, \
        f"{what}: result constraint {pc.constraint!r} but the policy is tagged {declared!r}"
    if not tags.get("schedules", False):
        missed = (a != 0) & (g > 0) & ~pc.scheduled
        assert not missed.any(), (
            f"{what}: the policy is tagged schedules=False but silenced {int(missed.sum())} "
            "devices with a_k != 0")


def _check_batching(policy, g, p, s2, a, pc) -> None:
    """Row independence and arbitrary leading shapes (3-D and 1-D inputs)."""
    batch, k = g.shape
    half = batch // 2
    pc2 = policy(g[: 2 * half].reshape(2, half, k), power=p[: 2 * half].reshape(2, half, k),
                 noise_var=s2[: 2 * half].reshape(2, half),
                 target=a[: 2 * half].reshape(2, half, k))
    assert pc2.power.shape == (2, half, k), f"power shape {pc2.power.shape} for 3-D input"
    _close(pc2.mse.reshape(-1), pc.mse[: 2 * half], "batched mse differs from flat batch")
    for i in (0, batch - 1):
        one = policy(g[i], power=p[i], noise_var=float(s2[i]), target=a[i])
        assert one.power.shape == (k,) and np.shape(one.mse) == (), "1-D input shapes"
        _close(one.power, pc.power[i], f"row {i} power differs from the batched call")
        _close(one.mse, pc.mse[i], f"row {i} mse differs from the batched call")


def _check_signs(policy, g, p, s2, a, pc, gen) -> None:
    """Signs go into the transmit coefficient only."""
    flip = np.where(gen.random(a.shape) < 0.5, -1.0, 1.0)
    pcs = policy(g, power=p, noise_var=s2, target=a * flip)
    _close(pcs.power, pc.power, "power changed when target signs flipped")
    _close(pcs.eta, pc.eta, "eta changed when target signs flipped")
    _close(pcs.mse, pc.mse, "mse changed when target signs flipped")
    assert np.all(np.sign(pcs.amplitude) * pcs.scheduled == flip * pcs.scheduled), \
        "amplitude sign must follow the target sign"


def _check_zero_targets(policy, g, p, s2, a, tags, gen) -> None:
    """Coded-aggregation targets: signed, random zeros, all-zero rows; zeros are absent."""
    a0 = _coded_targets(gen, a)
    pcz = policy(g, power=p, noise_var=s2, target=a0)
    _check_result(pcz, g, p, s2, a0, tags, "signed targets with zeros")
    empty = np.all(a0 == 0, axis=-1)
    assert np.all(pcz.power[empty] == 0), "a row with all targets 0 must have power 0"
    assert np.all(np.isinf(pcz.eta[empty])), "a row with all targets 0 must have eta = inf"
    assert np.all(pcz.mse[empty] == 0), "a row with all targets 0 must have mse = 0"
    # A device with a_k = 0 is absent: whatever its gain, nothing else changes.
    g_other = np.where(a0 == 0, gen.exponential(3.0, size=g.shape), g)
    pco = policy(g_other, power=p, noise_var=s2, target=a0)
    _close(pco.power, pcz.power, "changing the gain of a device with target 0 changed powers")
    _close(pco.eta, pcz.eta, "changing the gain of a device with target 0 changed eta")
    _close(pco.mse, pcz.mse, "changing the gain of a device with target 0 changed the mse")


def _check_average_budget(policy, k: int, gen) -> None:
    """``E[p_k] <= P_k`` over unit-mean Rayleigh fading, within ``_N_SE`` standard errors."""
    p = np.linspace(0.5, 2.0, k)
    a = np.where(np.arange(k) % 3 == 2, 0.0, np.linspace(1.5, -1.0, k))
    g = gen.exponential(1.0, size=(_N_AVERAGE, k))
    pc = policy(g, power=p, noise_var=0.1, target=a)
    mean = pc.power.mean(axis=0)
    se = pc.power.std(axis=0, ddof=1) / np.sqrt(_N_AVERAGE)
    over = mean > p + _N_SE * se
    assert not over.any(), (
        f"average constraint E[p_k] <= P_k violated under unit-mean Rayleigh fading: mean "
        f"power {mean[over]} for budgets {p[over]} ({_N_SE:g} standard errors "
        f"{_N_SE * se[over]})")


def _check_bad_input(policy, g, p, s2) -> None:
    bad = g.copy()
    bad[0, 0] = -1.0
    for kwargs, name in (
        (dict(gain2=bad, power=p, noise_var=s2), "gain2"),
        (dict(gain2=g, power=-p, noise_var=s2), "power"),
        (dict(gain2=g, power=p, noise_var=0.0), "noise_var"),
    ):
        try:
            policy(kwargs.pop("gain2"), **kwargs)
        except ValueError as exc:
            assert f"'{name}'" in str(exc), f"error for bad {name} does not name it: {exc}"
        else:
            raise AssertionError(f"no ValueError for an invalid {name!r}")


def check_power_control(
    policy: Callable[..., PowerControl],
    *,
    tags: Mapping[str, Any] | None = None,
    rng=0,
    batch: int = 64,
    n_devices: int = 6,
) -> None:
    """Run the power-control contract on ``policy`` (raises ``AssertionError`` on failure).

    Parameters
    ----------
    policy : callable
        ``policy(gain2, *, power, noise_var, target=None) -> PowerControl``.
    tags : mapping, optional
        The policy's registry tags (``constraint``, ``schedules``). Default: the ``tags``
        attribute of a policy built by ``make_power_control``; a bare function without
        tags skips the tag checks.
    rng : None, int or numpy.random.Generator
        Randomness for the test instances.
    batch : int >= 4
        Number of random instances.
    n_devices : int
        Devices per instance ``K``.
    """
    tags = getattr(policy, "tags", None) if tags is None else tags
    gen = resolve_rng(rng)
    g, p, s2, a = _draw(gen, batch, n_devices)
    pc = policy(g, power=p, noise_var=s2, target=a)
    _check_result(pc, g, p, s2, a, tags, "positive targets")
    _check_batching(policy, g, p, s2, a, pc)
    _check_signs(policy, g, p, s2, a, pc, gen)
    _check_zero_targets(policy, g, p, s2, a, tags, gen)
    if pc.constraint == "average":
        _check_average_budget(policy, n_devices, gen)
    _close(policy(g, power=p, noise_var=s2).mse,
           policy(g, power=p, noise_var=s2, target=np.ones_like(a)).mse,
           "target=None differs from target=ones")
    _check_bad_input(policy, g, p, s2)
