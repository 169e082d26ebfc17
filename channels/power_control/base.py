"""The power-control result and the shared maths of phase-aligned over-the-air summation.

Model (Zhu, Wang, Huang, TWC 2020; Cao, Zhu, Xu, Huang, TWC 2020). Device ``k`` sends
``b_k x_k`` over the channel ``h_k``; the receiver gets ``y = sum_k h_k b_k x_k + n`` with
``n ~ CN(0, sigma^2)`` and forms ``f = y / sqrt(eta)``. The target is the weighted sum
``sum_k a_k x_k`` (``a_k = 1`` for the plain sum) of unit-variance, zero-mean, uncorrelated
symbols. With phase-aligned, sign-carrying transmit coefficients

.. math::

    b_k = \\operatorname{sign}(a_k) \\sqrt{p_k} \\, h_k^* / |h_k|,

the received coefficient of ``x_k`` is ``sign(a_k) sqrt(p_k |h_k|^2 / eta)`` and the
sum-estimation MSE is

.. math::

    \\mathrm{MSE} = \\sum_k \\Big(\\sqrt{p_k |h_k|^2 / \\eta} - |a_k|\\Big)^2
                  + \\sigma^2 / \\eta .

Writing ``q_k = P_k |h_k|^2`` (quality indicator) and ``q~_k = q_k / a_k^2`` (effective
quality), the weighted problem is the unweighted one with ``q~_k`` in place of ``q_k`` and
cost weights ``a_k^2``; a device with ``a_k = 0`` is silent (``p_k = 0``) and costs nothing.

Every policy in :mod:`channels.power_control` returns a :class:`PowerControl`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice

__all__ = [
    "CONSTRAINTS",
    "PowerControl",
    "phase_aligned_mse",
    "prepare_inputs",
]

#: Power constraints a policy can enforce: per realization (``|b_k|^2 <= P_k`` for every
#: channel draw) or on average over the fading distribution (``E|b_k|^2 <= P_k``).
CONSTRAINTS = ("peak", "average")


@dataclass(frozen=True)
class PowerControl:
    """Transmit powers and receiver scaling chosen by a power-control policy.

    All arrays share the batch shape ``[...]`` of the inputs; ``K`` is the number of devices.

    Attributes
    ----------
    power : [..., K], float
        Transmit powers ``p_k = |b_k|^2`` (same unit as the ``power`` budget, e.g. W).
    eta : [...], float
        Denoising factor: the receiver forms ``y / sqrt(eta)``. ``inf`` when no device
        transmits (the receiver then outputs zero); ``0`` (with ``mse = inf``) when zero
        forcing is infeasible because a device with ``a_k != 0`` has ``|h_k|^2 = 0``.
    mse : [...], float
        Sum-estimation MSE ``E|f - sum_k a_k x_k|^2`` for unit-variance symbols (analytic).
    target : [..., K], float
        Per-device target coefficients ``a_k`` (sign included).
    gain2 : [..., K], float
        The channel power gains ``|h_k|^2`` the decision was made for.
    noise_var : [...], float
        Receiver noise variance ``sigma^2`` (same power unit as ``power * gain2``).
    constraint : str
        ``"peak"`` if ``power <= P_k`` holds in every realization, ``"average"`` if the
        budget holds on average over the fading distribution only.
    policy : str
        Name of the policy that produced this result.
    """

    power: np.ndarray
    eta: np.ndarray
    mse: np.ndarray
    target: np.ndarray
    gain2: np.ndarray
    noise_var: np.ndarray
    constraint: str
    policy: str

    def __post_init__(self) -> None:
        check_choice("constraint", self.constraint, CONSTRAINTS, owner="PowerControl")

    @property
    def scheduled(self) -> np.ndarray:
        """``[..., K]`` bool: devices that transmit (``power > 0``).

        Unscheduled devices with ``a_k != 0`` are misses: stragglers for the layer above.
        """
        return self.power > 0

    @property
    def n_devices(self) -> int:
        """Number of devices ``K``."""
        return int(self.power.shape[-1])

    @property
    def sign(self) -> np.ndarray:
        """``[..., K]`` sign of each target coefficient (``-1``, ``0`` or ``+1``)."""
        return np.sign(self.target)

    @property
    def amplitude(self) -> np.ndarray:
        """``[..., K]`` signed transmit amplitude ``sign(a_k) sqrt(p_k)``.

        The complex transmit coefficient is ``b_k = amplitude_k h_k^* / |h_k|``
        (see :meth:`transmit_coefficients`).
        """
        return self.sign * np.sqrt(self.power)

    @property
    def received(self) -> np.ndarray:
        """``[..., K]`` coefficient of ``x_k`` in the estimate, ``sign(a_k) sqrt(p_k g_k/eta)``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.amplitude * np.sqrt(self.gain2 / self.eta[..., None])
        return np.where(self.power > 0, r, 0.0)

    @property
    def misalignment(self) -> np.ndarray:
        """``[..., K]`` per-device magnitude-misalignment error ``(received_k - a_k)^2``."""
        return (self.received - self.target) ** 2

    @property
    def noise_mse(self) -> np.ndarray:
        """``[...]`` noise part of the MSE, ``sigma^2 / eta`` (zero when ``eta = inf``)."""
        return self.noise_var / self.eta

    def transmit_coefficients(self, h: np.ndarray) -> np.ndarray:
        """Complex transmit coefficients ``b_k = sign(a_k) sqrt(p_k) h_k^* / |h_k|``.

        Parameters
        ----------
        h : [..., K], complex
            Channel coefficients whose squared magnitudes are :attr:`gain2`.

        Returns
        -------
        [..., K], complex
            ``b_k`` (zero where ``h_k = 0`` or the device is silent).
        """
        h = np.asarray(h)
        mag = np.abs(h)
        with np.errstate(invalid="ignore", divide="ignore"):
            phase = np.where(mag > 0, np.conj(h) / mag, 0.0)
        return self.amplitude * phase


def phase_aligned_mse(
    gain2: np.ndarray,
    power: np.ndarray,
    eta: np.ndarray,
    noise_var,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """Sum-estimation MSE of phase-aligned over-the-air summation (any power allocation).

    .. math::

        \\mathrm{MSE} = \\sum_k \\big(\\sqrt{p_k g_k / \\eta} - |a_k|\\big)^2
                      + \\sigma^2 / \\eta

    (Cao, Zhu, Xu, Huang, TWC 2020, eq. (5), with weighted targets ``a_k``.)

    Parameters
    ----------
    gain2 : [..., K], float
        Channel power gains ``|h_k|^2``.
    power : [..., K], float
        Transmit powers ``p_k >= 0``.
    eta : [...], float
        Denoising factor (``inf`` allowed: nothing is received and the noise term is zero).
    noise_var : float or [...], float
        Noise variance ``sigma^2``.
    target : [..., K], float, optional
        Target coefficients ``a_k`` (default ones). Devices with ``a_k = 0`` are expected
        to be silent; a non-zero power on such a device is counted as error.

    Returns
    -------
    [...], float
        The MSE for unit-variance, uncorrelated symbols.
    """
    gain2 = np.asarray(gain2, dtype=float)
    power = np.asarray(power, dtype=float)
    eta = np.asarray(eta, dtype=float)
    a = np.ones_like(gain2) if target is None else np.asarray(target, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = np.sqrt(power * gain2 / eta[..., None])
    amp = np.where(power > 0, amp, 0.0)
    return np.sum((amp - np.abs(a)) ** 2, axis=-1) + np.asarray(noise_var) / eta


def _as_real_array(name: str, value, owner: str) -> np.ndarray:
    """Convert ``value`` to a finite real array or raise a one-line error naming ``name``."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a real array_like; got "
            f"{type(value).__name__} {value!r}."
        ) from exc
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a real (int or float) array_like; "
            f"got dtype {arr.dtype}."
        )
    # min/max are allocation-free reductions (NaN propagates), cheaper than isfinite().all().
    if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        bad = arr[~np.isfinite(arr)].flat[0].item()
        raise ValueError(
            f"The '{name}' parameter of {owner} must contain only finite values; got {bad!r}."
        )
    return arr


def _broadcast(name: str, arr: np.ndarray, shape: tuple, what: str, owner: str) -> np.ndarray:
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a scalar or an array broadcastable to "
            f"{what} {shape}; got shape {arr.shape}."
        ) from None


def _check_gain2(gain2, owner: str) -> np.ndarray:
    g = _as_real_array("gain2", gain2, owner)
    if g.ndim == 0:
        raise ValueError(
            f"The 'gain2' parameter of {owner} must be an array of shape [..., K] with at least "
            f"one dimension (K devices); got a scalar {g.item()!r}."
        )
    if g.shape[-1] == 0:
        raise ValueError(
            f"The 'gain2' parameter of {owner} must have at least one device (K >= 1) on its "
            f"last axis; got shape {g.shape}."
        )
    if g.min() < 0:
        raise ValueError(
            f"The 'gain2' parameter of {owner} must contain channel power gains |h|^2 in "
            f"[0, inf); got {g[g < 0].flat[0].item()!r}."
        )
    return g


def _check_positive(name: str, value, owner: str) -> np.ndarray:
    arr = _as_real_array(name, value, owner)
    if np.any(arr <= 0):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be positive, in (0, inf); "
            f"got {arr[arr <= 0].flat[0].item()!r}."
        )
    return arr


def _common_shape(g: np.ndarray, p: np.ndarray, s2: np.ndarray, a: np.ndarray,
                  owner: str) -> tuple[int, ...]:
    """Broadcast shape ``[..., K]`` of gains, powers and targets; checks the noise's ``[...]``."""
    shape = g.shape
    for name, arr in (("power", p), ("target", a)):
        try:
            shape = np.broadcast_shapes(shape, arr.shape)
        except ValueError:
            raise ValueError(
                f"The '{name}' parameter of {owner} must be a scalar or an array broadcastable "
                f"to gain2's shape {g.shape}; got shape {arr.shape}."
            ) from None
    if shape[-1] != g.shape[-1]:
        raise ValueError(
            f"The 'power' and 'target' parameters of {owner} must keep gain2's number of "
            f"devices K = {g.shape[-1]} on the last axis; the broadcast shape is {shape}."
        )
    batch = shape[:-1]
    try:
        ok = s2.ndim <= len(batch) and np.broadcast_shapes(batch, s2.shape) == batch
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"The 'noise_var' parameter of {owner} must be a scalar or an array broadcastable "
            f"to the batch shape {batch}; got shape {s2.shape}."
        )
    return shape


def prepare_inputs(
    gain2,
    power,
    noise_var,
    target,
    *,
    owner: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and broadcast the common inputs of every power-control policy.

    Parameters
    ----------
    gain2 : array_like [..., K], float
        Channel power gains ``|h_k|^2``: finite, ``>= 0``, at least one dimension.
    power : float or array_like broadcastable to ``gain2``
        Power budgets ``P_k > 0`` (peak or average, depending on the policy).
    noise_var : float or array_like broadcastable to ``gain2.shape[:-1]``
        Noise variance ``sigma^2 > 0``.
    target : None or array_like broadcastable to ``gain2``
        Target coefficients ``a_k`` (default ones); any finite real, sign allowed.
    owner : str
        Name of the calling policy, used in error messages.

    Returns
    -------
    gain2, power, noise_var, target : numpy.ndarray
        Float arrays of shapes ``[..., K]``, ``[..., K]``, ``[...]`` and ``[..., K]``
        (float32 only when every array input is float32, float64 otherwise).

    Raises
    ------
    TypeError
        For non-real inputs.
    ValueError
        For non-finite, negative gains, non-positive power or noise, or shapes that do not
        broadcast; the message names the parameter, the allowed values and the value received.
    """
    g = _check_gain2(gain2, owner)
    p = _check_positive("power", power, owner)
    s2 = _check_positive("noise_var", noise_var, owner)
    a = np.ones((), dtype=g.dtype) if target is None else _as_real_array("target", target, owner)
    shape = _common_shape(g, p, s2, a, owner)
    floats = [x.dtype for x in (g, p, s2, a) if x.ndim > 0 or x is g]
    dtype = np.float32 if all(d == np.float32 for d in floats) else np.float64
    g = np.broadcast_to(g, shape).astype(dtype, copy=False)
    p = _broadcast("power", p, shape, "gain2's shape", owner).astype(dtype, copy=False)
    a = _broadcast("target", a, shape, "gain2's shape", owner).astype(dtype, copy=False)
    s2 = np.broadcast_to(s2, shape[:-1]).astype(dtype, copy=False)
    return g, p, s2, a
