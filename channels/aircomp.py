"""The over-the-air sum and its mean squared error.

K devices transmit their symbols ``x_k`` at once; the receiver sees their superposition

.. math:: y = \\sum_k h_k b_k x_k + n, \\qquad n \\sim \\mathcal{CN}(0, \\sigma^2),

and estimates the weighted sum ``f = sum_k a_k x_k`` as ``y / sqrt(eta)`` (complex
symbols) or ``Re{y} / sqrt(eta)`` (real symbols, e.g. gradient coordinates). Power control
(:mod:`channels.power_control`) sets the transmit powers ``p_k = |b_k|^2``, the denoising
factor ``eta`` and carries the targets ``a_k``; the transmit coefficient is phase-aligned
on the channel the devices know, the estimate ``hhat_k``,

.. math:: b_k = \\sqrt{p_k}\\, \\mathrm{sign}(a_k)\\, \\hat h_k^* / |\\hat h_k| \\, e^{j\\phi_k},

with ``phi_k`` a residual phase error (zero when synchronization is perfect).

MSE convention (defined once, here)
-----------------------------------
The MSE is per symbol (per vector coordinate), for independent zero-mean unit-variance
symbols, conditional on the channel realization and averaged over the symbols, the receiver
noise, the CSI error and the residual phases. With the received amplitude ratio
``c_k = sqrt(p_k) |hhat_k| / sqrt(eta)`` (``c_k = 0`` for silent devices), the CSI error
``h = hhat + e``, ``e ~ CN(0, sigma_e^2)`` and ``phi_k ~ U[-phi_max, phi_max]``
(moments ``m1 = E cos phi = sin(phi_max)/phi_max``, ``m2 = E cos^2 phi``):

* ``symbols="complex"`` (circular symbols, ``E|x|^2 = 1``, estimator ``y / sqrt(eta)``):

  .. math::

     \\mathrm{MSE} = \\sum_k \\left(c_k^2 - 2 |a_k| c_k m_1 + a_k^2\\right)
     + \\frac{\\sigma^2 + \\sigma_e^2 \\sum_k p_k}{\\eta}

* ``symbols="real"`` (``E x^2 = 1``, estimator ``Re{y} / sqrt(eta)``): only the in-phase
  part of the noise and of the CSI-error term survives, i.e. **half** of the complex
  noise variance, and the phase error enters through ``cos phi`` alone:

  .. math::

     \\mathrm{MSE} = \\sum_k \\left(c_k^2 m_2 - 2 |a_k| c_k m_1 + a_k^2\\right)
     + \\frac{\\sigma^2 + \\sigma_e^2 \\sum_k p_k}{2\\eta}

With perfect CSI and synchronization the complex form is exactly the power-control
result's ``pc.mse = sum_k (c_k - |a_k|)^2 + sigma^2 / eta`` (the "sum-estimation MSE for
unit-variance symbols" of :mod:`channels.power_control`), and the real form is
``pc.mse - sigma^2 / (2 eta)``. The phase error leaves an SNR-independent floor: at zero
forcing (``c_k = |a_k|``) and ``sigma^2 -> 0`` it is
``sum_k a_k^2 (2 - 2 m1)`` (complex) or ``sum_k a_k^2 (1 - 2 m1 + m2)`` (real).

Derivation (real symbols; the complex case is the same with ``|.|^2`` in place of
``Re{.}^2``): the coefficient of ``x_k`` in ``Re{y}/sqrt(eta)`` is
``sign(a_k) c_k cos(phi_k) + Re{e_k b_k}/sqrt(eta)``, with ``Re{e_k b_k}`` zero-mean of
variance ``sigma_e^2 p_k / 2`` and independent of ``phi_k`` and of ``x``; squaring the
difference to ``a_k`` and averaging gives ``c_k^2 m2 - 2|a_k| c_k m1 + a_k^2 +
sigma_e^2 p_k / (2 eta)``, and ``Re{n}`` adds ``sigma^2 / (2 eta)``. A wider phase range
never lowers this MSE when ``c_k <= |a_k|`` (every policy except full power: the
derivative in ``phi_max`` is ``(c_k / phi_max) E[(cos psi - cos phi_max)
(2|a_k| - c_k (cos psi + cos phi_max))] >= 0``, ``psi ~ U[-phi_max, phi_max]``); with real
symbols a device that overshoots (``c_k > |a_k|``) can gain from it, since ``cos phi``
shrinks its amplitude toward the target.

Multi-antenna receivers reduce to this scalar model through the beamformer ``m``
(:mod:`channels.beamforming`): ``hhat_k -> m^H hhat_k``, ``sigma^2 -> sigma^2 ||m||^2``,
``sigma_e^2 -> sigma_e^2 ||m||^2``.

References: G. Zhu, K. Huang, "Broadband analog aggregation for low-latency federated edge
learning", IEEE TWC 2020; X. Cao, G. Zhu, J. Xu, K. Huang, "Optimized power control for
over-the-air computation in fading channels", IEEE TWC 2020; K. Yang, T. Jiang, Y. Shi,
Z. Ding, "Federated learning via over-the-air computation", IEEE TWC 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._checks import Estimate, RngLike, check_choice, check_int, check_real, resolve_rng, t_quantile
from .base import complex_normal
from .impairments import draw_phase_offsets, phase_moments, true_channel_from_estimate

__all__ = [
    "Estimate",
    "aircomp_mse",
    "over_the_air_sum",
]

Symbols = Literal["complex", "real"]
_METHODS = ("analytic", "monte-carlo", "auto")
_BLOCK_ELEMENTS = 1 << 15
_SYMBOLS = ("complex", "real")


@dataclass(frozen=True)
class _Link:
    """Validated inputs shared by the sum and the MSE (scalar-equivalent model).

    The leading batch shape ``[...]`` of the caller is flattened to ``n`` rows here and
    restored on the way out (``batch_shape``).
    """

    h_hat: np.ndarray  # [n, n_rx, K] complex estimate known to the devices
    m: np.ndarray | None  # [n, n_rx] beamformer, None for one antenna
    gain_hat: np.ndarray  # [n, K] complex effective estimated channel m^H hhat_k
    power: np.ndarray  # [n, K] p_k, zeroed where a_k == 0
    eta: np.ndarray  # [n]
    target: np.ndarray  # [n, K] a_k
    noise_var: np.ndarray  # [n] sigma^2 at each antenna
    norm2: np.ndarray  # [n] ||m||^2 (ones for one antenna)
    batch_shape: tuple[int, ...] = ()

    def restore(self, arr: np.ndarray):
        """``[n, ...]`` -> ``[*batch_shape, ...]`` (a float for a 0-d result)."""
        out = arr.reshape(self.batch_shape + arr.shape[1:])
        return float(out) if out.ndim == 0 else out


def _as_array(
    name: str, value, owner: str, *, positive: bool, dtype=float, allow_inf: bool = False
) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a numeric array; "
            f"got {type(value).__name__}."
        ) from exc
    if arr.size == 0:
        return arr
    if allow_inf:  # only +inf is allowed, so the minimum decides
        bad = np.isnan(arr).any() or np.isneginf(arr.real.min())
    else:
        bad = not _all_finite(arr)
    if bad:
        raise ValueError(f"The '{name}' parameter of {owner} must be finite; got NaN or inf.")
    if positive and arr.real.min() <= 0:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be > 0; got {arr.real.min()!r}."
        )
    return arr


def _all_finite(arr: np.ndarray) -> bool:
    """One pass, no temporary: a NaN or inf entry makes the sum non-finite (so would an
    overflow of the sum itself, at magnitudes ~1e308 no channel or power reaches)."""
    return bool(np.isfinite(np.sum(arr)))


def _broadcast(name: str, arr: np.ndarray, shape: tuple[int, ...], owner: str) -> np.ndarray:
    try:
        return np.broadcast_to(arr, shape)
    except ValueError as exc:
        raise ValueError(
            f"The '{name}' parameter of {owner} must broadcast to shape {shape}; "
            f"got shape {arr.shape}."
        ) from exc


def _channel(h, pc, owner: str) -> np.ndarray:
    """``h`` as ``[..., n_rx_ant, K]`` complex128; the batch shape is that of ``pc.eta``.

    ``[..., K]`` and ``[..., n_rx_ant, K]`` differ by one axis, so the power control
    (``eta`` ``[...]``, ``power`` ``[..., K]``) decides which one ``h`` is.
    """
    for field in ("power", "eta"):
        if not hasattr(pc, field):
            raise TypeError(
                f"The 'pc' parameter of {owner} must be a PowerControl result (with power, eta "
                f"and target); got {type(pc).__name__} without '{field}'."
            )
    h = np.asarray(h)
    if not np.issubdtype(h.dtype, np.complexfloating):
        raise TypeError(f"The 'h' parameter of {owner} must be a complex array; got {h.dtype}.")
    if not _all_finite(h):
        raise ValueError(f"The 'h' parameter of {owner} must be finite; got NaN or inf.")
    lead = max(np.ndim(pc.eta), np.ndim(pc.power) - 1)
    if h.ndim == lead + 1:
        h = h[..., None, :]
    elif h.ndim != lead + 2:
        raise ValueError(
            f"The 'h' parameter of {owner} must have shape [..., K] or [..., n_rx_ant, K] with "
            f"the batch shape [...] of the power control ({lead} axes, pc.eta has shape "
            f"{np.shape(pc.eta)}); got shape {h.shape}."
        )
    return h.astype(np.complex128, copy=False)


def _combine(h: np.ndarray, beamformer, owner: str):
    """``(m [n, n_rx] or None, m^H h [n, K], ||m||^2 [n])`` for ``h`` ``[n, n_rx, K]``."""
    n, n_rx, _ = h.shape
    if beamformer is None:
        if n_rx != 1:
            raise ValueError(
                f"The 'beamformer' parameter of {owner} is required when h has n_rx_ant > 1 "
                f"(see channels.beamforming); got None with h of {n_rx} receive antennas."
            )
        return None, h[:, 0, :], np.ones(n)
    m = _as_array("beamformer", beamformer, owner, positive=False, dtype=np.complex128)
    m = _broadcast("beamformer", m, (n, n_rx), owner)
    norm2 = np.sum(np.abs(m) ** 2, axis=-1)
    if np.any(norm2 == 0):
        raise ValueError(f"The 'beamformer' parameter of {owner} must be non-zero; got 0.")
    return m, np.einsum("br,brk->bk", m.conj(), h), norm2


def _prepare(h, pc, noise_var, beamformer, owner: str) -> _Link:
    h = _channel(h, pc, owner)
    batch_shape, (n_rx, n_dev) = h.shape[:-2], h.shape[-2:]
    n = int(np.prod(batch_shape, dtype=np.int64))
    rows, devices = batch_shape + (n_dev,), (n, n_dev)
    h = h.reshape(n, n_rx, n_dev)
    if beamformer is not None:
        bf = _as_array("beamformer", beamformer, owner, positive=False, dtype=np.complex128)
        beamformer = _broadcast("beamformer", bf, batch_shape + (n_rx,), owner).reshape(n, n_rx)
    m, gain_hat, norm2 = _combine(h, beamformer, owner)
    power = _as_array("pc.power", pc.power, owner, positive=False)
    if power.size and power.min() < 0:
        raise ValueError(f"The 'pc.power' parameter of {owner} must be >= 0; got {power.min()}.")
    power = _broadcast("pc.power", power, rows, owner).reshape(devices)
    # eta = inf means nobody transmits: the receiver outputs zero (see PowerControl.eta).
    eta = _as_array("pc.eta", pc.eta, owner, positive=True, allow_inf=True)
    eta = _broadcast("pc.eta", eta, batch_shape, owner).reshape(n)
    target = getattr(pc, "target", None)
    target = np.ones(n_dev) if target is None else _as_array("pc.target", target, owner,
                                                             positive=False)
    target = _broadcast("pc.target", target, rows, owner).reshape(devices)
    noise_var = _as_array("noise_var", noise_var, owner, positive=True)
    noise_var = _broadcast("noise_var", noise_var, batch_shape, owner).reshape(n)
    # A device with a_k = 0 has nothing to contribute: sign(a_k) = 0 silences it.
    silent = target == 0
    if silent.any():
        power = np.where(silent, 0.0, power)
    return _Link(h, m, gain_hat, power, eta, target, noise_var, norm2, batch_shape)


def _transmit(link: _Link, phases: np.ndarray | None) -> np.ndarray:
    """Transmit coefficients ``b_k`` [n, K]: phase-aligned on the estimate, signed."""
    mag = np.abs(link.gain_hat)
    align = np.divide(link.gain_hat.conj(), mag, out=np.zeros_like(link.gain_hat), where=mag > 0)
    b = np.sqrt(link.power) * np.sign(link.target) * align
    if phases is not None:
        b = b * np.exp(1j * phases)
    return b


def _receive(
    x: np.ndarray, link: _Link, h_true: np.ndarray, phases: np.ndarray | None, rng
) -> np.ndarray:
    """``m^H (sum_k h_k b_k x_k + n) / sqrt(eta)`` for x [n, K, D]; real part if x real."""
    n, n_rx, _ = h_true.shape
    dim = x.shape[-1]
    b = _transmit(link, phases)
    if link.m is None:
        g = h_true[:, 0, :] * b
        noise = complex_normal((n, dim), var=link.noise_var[:, None], rng=rng)
    else:
        g = np.einsum("br,brk->bk", link.m.conj(), h_true) * b
        n_vec = complex_normal((n, n_rx, dim), var=link.noise_var[:, None, None], rng=rng)
        noise = np.einsum("br,brd->bd", link.m.conj(), n_vec)
    scale = 1.0 / np.sqrt(link.eta)[:, None]
    if np.iscomplexobj(x):
        return (np.matmul(g[:, None, :], x)[:, 0, :] + noise) * scale
    return (np.matmul(g.real[:, None, :], x)[:, 0, :] + noise.real) * scale


def _symbols(x, link: _Link, owner: str) -> np.ndarray:
    """``x`` ``[..., K, D]`` checked against the link, as ``[n, K, D]`` float64/complex128."""
    x = np.asarray(x)
    n_dev = link.power.shape[-1]
    if x.ndim < 2 or x.shape[:-1] != link.batch_shape + (n_dev,):
        raise ValueError(
            f"The 'x' parameter of {owner} must have shape [..., K, D] = "
            f"[{', '.join(map(str, link.batch_shape + (n_dev,)))}, D] (the batch shape and "
            f"devices of h); got shape {x.shape}."
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating)
            or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"The 'x' parameter of {owner} must be a numeric array; got {x.dtype}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"The 'x' parameter of {owner} must be finite; got NaN or inf.")
    x = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)
    return x.reshape(link.h_hat.shape[0], n_dev, x.shape[-1])


def _true_channel(link: _Link, h_true, csi_error_var: float, rng, owner: str) -> np.ndarray:
    """The channel the symbols go through, ``[n, n_rx, K]``: given, or drawn around hhat."""
    if h_true is None:
        return true_channel_from_estimate(link.h_hat, csi_error_var, rng=rng)
    if csi_error_var != 0.0:
        raise ValueError(
            f"The 'csi_error_var' parameter of {owner} must be 0 when h_true is given; "
            f"got {csi_error_var}."
        )
    arr = np.asarray(h_true)
    want = link.batch_shape + link.h_hat.shape[1:]
    if arr.shape == want[:-2] + want[-1:] and want[-2] == 1:
        arr = arr[..., None, :]
    if arr.shape != want:
        raise ValueError(
            f"The 'h_true' parameter of {owner} must have the shape of h, {want} (or without "
            f"its antenna axis for one antenna); got shape {np.shape(h_true)}."
        )
    return arr.astype(np.complex128).reshape(link.h_hat.shape)


def over_the_air_sum(
    x: np.ndarray,
    h: np.ndarray,
    pc,
    noise_var: float | np.ndarray,
    *,
    beamformer: np.ndarray | None = None,
    csi_error_var: float = 0.0,
    phase_max: float = 0.0,
    h_true: np.ndarray | None = None,
    rng: RngLike = None,
) -> np.ndarray:
    """Simulate one over-the-air aggregation and return the receiver's estimate.

    .. math::

        \\hat f = \\frac{1}{\\sqrt\\eta}\\,\\mathrm{Re}\\Big\\{ m^H \\Big(\\sum_k h_k b_k x_k
        + n\\Big)\\Big\\}, \\quad
        b_k = \\sqrt{p_k}\\,\\mathrm{sign}(a_k) \\frac{(m^H \\hat h_k)^*}{|m^H \\hat h_k|}
        e^{j\\phi_k}

    (``m = 1`` for one antenna; no ``Re`` for complex ``x``). The channel, CSI error and
    phases are constant over the ``D`` coordinates (block fading); the noise is i.i.d. over
    coordinates. Any leading batch shape ``[...]`` (that of ``pc.eta``) is accepted.

    Parameters
    ----------
    x : array, ``[..., K, D]``, real or complex
        Device symbols (the MSE convention assumes unit variance). Real ``x``: ``Re{y}``
        estimator, real estimate; complex ``x``: ``y / sqrt(eta)``, complex estimate.
    h : array, complex, ``[..., K]`` or ``[..., n_rx_ant, K]``
        The channel the devices and the power control know (the estimate ``hhat`` when CSI
        is imperfect). ``n_rx_ant > 1`` needs ``beamformer``.
    pc : PowerControl
        Result of a :mod:`channels.power_control` policy for these gains (with a
        beamformer: computed on ``|m^H h_k|^2`` and noise ``noise_var * ||m||^2``):
        ``power`` ``[..., K]``, ``eta`` ``[...]``, ``target`` ``[..., K]`` (``a_k``).
    noise_var : float or array ``[...]``
        ``sigma^2 = E|n|^2`` per receive antenna (> 0).
    beamformer : array, complex, ``[..., n_rx_ant]``, optional
        Receive beamformer ``m`` (see :mod:`channels.beamforming`).
    csi_error_var : float, default 0
        ``sigma_e^2``: the true channel is drawn as ``h + e``, ``e ~ CN(0, sigma_e^2)`` per
        antenna (must be 0 when ``h_true`` is given).
    phase_max : float, default 0
        Residual phase errors ``phi_k ~ U[-phase_max, phase_max]`` (radians, ``[0, pi]``).
    h_true : array, complex, shape of ``h``, optional
        The true channel, when the caller drew it (e.g. with
        :func:`~channels.impairments.lmmse_estimate`).
    rng : None, int, SeedSequence or Generator
        Randomness for the noise, CSI error and phases.

    Returns
    -------
    numpy.ndarray, ``[..., D]``
        Estimate of ``sum_k a_k x_k``: float64 for real ``x``, complex128 for complex ``x``.

    Examples
    --------
    >>> from channels import complex_normal
    >>> from channels.power_control import zero_forcing
    >>> h = complex_normal((4, 3), rng=0)
    >>> pc = zero_forcing(np.abs(h) ** 2, power=1.0, noise_var=1e-2)
    >>> over_the_air_sum(np.ones((4, 3, 8)), h, pc, 1e-2, rng=1).shape
    (4, 8)
    """
    owner = "over_the_air_sum"
    link = _prepare(h, pc, noise_var, beamformer, owner)
    x = _symbols(x, link, owner)
    csi_error_var = check_real("csi_error_var", csi_error_var, low=0.0, owner=owner)
    phase_max = check_real("phase_max", phase_max, low=0.0, high=np.pi, owner=owner)
    rng = resolve_rng(rng)
    h_true_arr = _true_channel(link, h_true, csi_error_var, rng, owner)
    phases = (draw_phase_offsets(link.power.shape, phase_max, rng=rng) if phase_max > 0
              else None)
    return link.restore(_receive(x, link, h_true_arr, phases, rng))


def _analytic_mse(
    link: _Link, csi_error_var: float, phase_max: float, symbols: str
) -> np.ndarray:
    m1, m2 = phase_moments(phase_max)
    if symbols == "complex":
        m2, kappa = 1.0, 1.0
    else:
        kappa = 2.0
    batch, n_dev = link.power.shape
    sum_c2 = np.empty(batch)
    cross = np.empty(batch)
    energy = np.empty(batch)
    # The hot path of fading averages: a few passes per block of rows, blocks sized to stay
    # in cache (about 2x faster than whole-array passes at 1e5 x 100).
    rows = max(1, _BLOCK_ELEMENTS // max(n_dev, 1))
    for start in range(0, batch, rows):
        blk = slice(start, start + rows)
        g = link.gain_hat[blk]
        c2 = g.real * g.real
        c2 += g.imag * g.imag
        c2 *= link.power[blk]
        c2 /= link.eta[blk, None]  # c_k^2 = p_k |hhat_k|^2 / eta
        sum_c2[blk] = c2.sum(axis=-1)
        c = np.sqrt(c2, out=c2)
        a = link.target[blk]
        cross[blk] = np.einsum("bk,bk->b", np.abs(a), c)  # sum_k |a_k| c_k
        energy[blk] = np.einsum("bk,bk->b", a, a)  # sum_k a_k^2
    noise = link.noise_var
    if csi_error_var > 0.0:
        noise = noise + csi_error_var * np.sum(link.power, axis=-1)
    return m2 * sum_c2 - 2.0 * m1 * cross + energy + noise * link.norm2 / (kappa * link.eta)


def _take(link: _Link, rows: np.ndarray) -> _Link:
    return _Link(
        link.h_hat[rows], None if link.m is None else link.m[rows], link.gain_hat[rows],
        link.power[rows], link.eta[rows], link.target[rows], link.noise_var[rows],
        link.norm2[rows], (rows.size,),
    )


def _monte_carlo_mse(
    link: _Link,
    csi_error_var: float,
    phase_max: float,
    symbols: str,
    n_trials: int,
    n_symbols: int,
    rng: np.random.Generator,
    max_elements: int = 2_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-realization sample mean and standard error over independent trials."""
    batch, n_rx, n_dev = link.h_hat.shape
    total = np.zeros(batch)
    total_sq = np.zeros(batch)
    per_trial = batch * max(n_dev, n_rx) * n_symbols
    chunk = max(1, min(n_trials, max_elements // max(per_trial, 1)))
    done = 0
    while done < n_trials:
        t = min(chunk, n_trials - done)
        rows = np.tile(np.arange(batch), t)  # trial-major: row r is realization r % batch
        rep = _take(link, rows)
        shape = (rows.size, n_dev, n_symbols)
        if symbols == "complex":
            x = complex_normal(shape, rng=rng)
        else:
            x = rng.standard_normal(shape)
        h_true = true_channel_from_estimate(rep.h_hat, csi_error_var, rng=rng)
        phases = (draw_phase_offsets((rows.size, n_dev), phase_max, rng=rng) if phase_max
                  else None)
        est = _receive(x, rep, h_true, phases, rng)
        want = np.matmul(rep.target[:, None, :], x)[:, 0, :]
        err = np.mean(np.abs(est - want) ** 2, axis=-1).reshape(t, batch)
        total += err.sum(axis=0)
        total_sq += (err**2).sum(axis=0)
        done += t
    mean = total / n_trials
    var = np.maximum(total_sq / n_trials - mean**2, 0.0) * n_trials / max(n_trials - 1, 1)
    return mean, np.sqrt(var / n_trials)


def aircomp_mse(
    h: np.ndarray,
    pc,
    noise_var: float | np.ndarray,
    *,
    beamformer: np.ndarray | None = None,
    csi_error_var: float = 0.0,
    phase_max: float = 0.0,
    symbols: Symbols = "complex",
    method: Literal["analytic", "monte-carlo", "auto"] = "auto",
    n_trials: int = 2000,
    n_symbols: int = 8,
    confidence: float = 0.99,
    rng: RngLike = None,
) -> Estimate:
    """MSE of the over-the-air sum for each channel realization.

    Conditional on the realization ``h`` (and the power control ``pc`` computed for it),
    averaged over unit-variance symbols, receiver noise, CSI error and phase errors; the
    formulas and the real/complex convention are in the module docstring. With perfect CSI,
    no phase error and ``symbols="complex"`` the result equals ``pc.mse``.

    Parameters
    ----------
    h, pc, noise_var, beamformer, csi_error_var, phase_max
        As in :func:`over_the_air_sum` (any leading batch shape ``[...]``).
    symbols : {"complex", "real"}, default "complex"
        ``"complex"``: circular symbols, estimator ``y / sqrt(eta)`` (the power-control
        convention). ``"real"``: real symbols, estimator ``Re{y} / sqrt(eta)`` (what
        :func:`over_the_air_sum` does for real gradients): half the noise variance counts.
    method : {"analytic", "monte-carlo", "auto"}, default "auto"
        ``"analytic"``: the closed form (exact). ``"monte-carlo"``: simulate
        :func:`over_the_air_sum` ``n_trials`` times per realization (the independent check
        of the closed form). ``"auto"``: the closed form, which exists for every
        configuration accepted here. The average over *fading* is a Monte-Carlo mean of
        these per-realization values, except for truncated inversion under Rayleigh fading
        (:func:`~channels.expected_mse.truncated_inversion_expected_mse`).
    n_trials : int >= 2, default 2000
        Independent trials per realization (Monte Carlo): fresh symbols, noise, CSI error
        and phases each.
    n_symbols : int, default 8
        Coordinates per trial (Monte Carlo); they share the trial's CSI error and phases.
    confidence : float, default 0.99
        Level of the two-sided Student-t interval over the trials (Monte Carlo).
    rng : None, int, SeedSequence or Generator
        Randomness (Monte Carlo only).

    Returns
    -------
    Estimate
        Fields ``[...]`` (floats without batch axes). ``method="analytic"``: the exact
        value, a zero-width interval, ``n = 0``; Monte Carlo: ``n = n_trials``.
    """
    owner = "aircomp_mse"
    method = check_choice("method", method, _METHODS, owner=owner)
    symbols = check_choice("symbols", symbols, _SYMBOLS, owner=owner)
    csi_error_var = check_real("csi_error_var", csi_error_var, low=0.0, owner=owner)
    phase_max = check_real("phase_max", phase_max, low=0.0, high=np.pi, owner=owner)
    confidence = check_real(
        "confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True, owner=owner
    )
    link = _prepare(h, pc, noise_var, beamformer, owner)
    if method in ("analytic", "auto"):
        return Estimate.exact(link.restore(_analytic_mse(link, csi_error_var, phase_max,
                                                         symbols)))
    n_trials = check_int("n_trials", n_trials, low=2, owner=owner)
    n_symbols = check_int("n_symbols", n_symbols, low=1, owner=owner)
    mean, se = _monte_carlo_mse(
        link, csi_error_var, phase_max, symbols, n_trials, n_symbols, resolve_rng(rng)
    )
    half = float(t_quantile(n_trials - 1, 0.5 * (1.0 + confidence))) * se
    return Estimate(link.restore(mean), link.restore(se), link.restore(mean - half),
                    link.restore(mean + half), n_trials, confidence)
