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
* ``constraint == "peak"`` implies ``power <= P_k`` in every realization, and then the MSE is
  never below :func:`~channels.power_control.optimal_power.optimal_power`'s (it is optimal
  under peak power);
* signed targets: negating some ``a_k`` leaves ``power``, ``eta`` and ``mse`` unchanged and
  flips the sign of the transmit amplitude; ``a_k = 0`` devices are silent;
* invalid ``gain2``/``power``/``noise_var`` raise ``ValueError`` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._checks import resolve_rng
from .base import PowerControl, phase_aligned_mse
from .optimal_power import optimal_power

__all__ = ["check_power_control"]


def _draw(rng: np.random.Generator, batch: int, k: int):
    gain2 = rng.exponential(1.0, size=(batch, k))
    power = rng.uniform(0.5, 2.0, size=(batch, k))
    noise_var = rng.uniform(0.01, 0.5, size=batch)
    target = rng.uniform(0.5, 1.5, size=(batch, k))
    return gain2, power, noise_var, target


def _close(x, y, what, rtol=1e-9, atol=1e-12):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    same_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
    ok = same_inf | np.isclose(x, y, rtol=rtol, atol=atol)
    assert np.all(ok), f"{what}: max abs difference {np.nanmax(np.abs(x - y)):.3g}"


def check_power_control(
    policy: Callable[..., PowerControl], *, rng=0, batch: int = 64, n_devices: int = 6
) -> None:
    """Run the power-control contract on ``policy`` (raises ``AssertionError`` on failure).

    Parameters
    ----------
    policy : callable
        ``policy(gain2, *, power, noise_var, target=None) -> PowerControl``.
    rng : None, int or numpy.random.Generator
        Randomness for the test instances.
    batch : int
        Number of random instances.
    n_devices : int
        Devices per instance ``K``.
    """
    gen = resolve_rng(rng)
    g, p, s2, a = _draw(gen, batch, n_devices)

    pc = policy(g, power=p, noise_var=s2, target=a)
    assert isinstance(pc, PowerControl), f"policy returned {type(pc).__name__}, not PowerControl"
    assert pc.power.shape == (batch, n_devices), f"power shape {pc.power.shape}"
    assert pc.scheduled.shape == (batch, n_devices), f"scheduled shape {pc.scheduled.shape}"
    assert pc.scheduled.dtype == bool, f"scheduled dtype {pc.scheduled.dtype}"
    assert pc.eta.shape == (batch,), f"eta shape {pc.eta.shape}"
    assert pc.mse.shape == (batch,), f"mse shape {pc.mse.shape}"
    assert np.all(np.isfinite(pc.power)) and np.all(pc.power >= 0), "power must be >= 0, finite"
    assert np.all(pc.eta > 0), "eta must be positive"
    assert np.array_equal(pc.scheduled, pc.power > 0), "scheduled must equal power > 0"
    _close(pc.mse, phase_aligned_mse(g, pc.power, pc.eta, s2, a),
           "mse differs from phase_aligned_mse(power, eta)")
    if pc.constraint == "peak":
        assert np.all(pc.power <= p * (1 + 1e-9)), "peak constraint power <= P violated"
        best = optimal_power(g, power=p, noise_var=s2, target=a).mse
        assert np.all(pc.mse >= best * (1 - 1e-9) - 1e-12), "peak policy beats optimal_power"

    # Row independence and arbitrary leading shapes.
    half = batch // 2
    pc2 = policy(g[: 2 * half].reshape(2, half, n_devices),
                 power=p[: 2 * half].reshape(2, half, n_devices),
                 noise_var=s2[: 2 * half].reshape(2, half),
                 target=a[: 2 * half].reshape(2, half, n_devices))
    assert pc2.power.shape == (2, half, n_devices), f"power shape {pc2.power.shape} for 3-D input"
    _close(pc2.mse.reshape(-1), pc.mse[: 2 * half], "batched mse differs from flat batch")
    for i in (0, batch - 1):
        one = policy(g[i], power=p[i], noise_var=float(s2[i]), target=a[i])
        assert one.power.shape == (n_devices,) and np.shape(one.mse) == (), "1-D input shapes"
        _close(one.power, pc.power[i], f"row {i} power differs from the batched call")
        _close(one.mse, pc.mse[i], f"row {i} mse differs from the batched call")

    # Signs go into the transmit coefficient; zero targets are silent.
    flip = np.where(gen.random((batch, n_devices)) < 0.5, -1.0, 1.0)
    pcs = policy(g, power=p, noise_var=s2, target=a * flip)
    _close(pcs.power, pc.power, "power changed when target signs flipped")
    _close(pcs.mse, pc.mse, "mse changed when target signs flipped")
    assert np.all(np.sign(pcs.amplitude) * pcs.scheduled == flip * pcs.scheduled), \
        "amplitude sign must follow the target sign"
    a0 = a.copy()
    a0[:, 0] = 0.0
    pcz = policy(g, power=p, noise_var=s2, target=a0)
    assert np.all(pcz.power[:, 0] == 0), "a device with target 0 must be silent"

    # Defaults: target=None means ones.
    _close(policy(g, power=p, noise_var=s2).mse,
           policy(g, power=p, noise_var=s2, target=np.ones_like(a)).mse,
           "target=None differs from target=ones")

    # Invalid input.
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
