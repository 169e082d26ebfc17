"""The channel-model contract: :class:`ChannelModel` draws a :class:`ChannelDraw`.

A draw splits every gain into a large-scale and a small-scale part,

.. math::
    h_{b,m,k} = \\sqrt{\\beta_{b,k}}\\, g_{b,m,k},

with ``beta`` (``large_scale``, linear power gain: path loss x shadowing, ones when
absent) shared by the receive antennas ``m`` (and by the rounds) of device ``k``, and ``g``
(``small_scale``, complex fading). A model implements one method, ``_small_scale``; the base
class settles validation, precision, the large-scale part and randomness once, in
:meth:`ChannelModel.draw`.

Randomness: ``draw`` resolves its one ``rng`` argument and spawns two independent child
streams, one for the large-scale part and one for the small-scale part, so adding
shadowing to a model leaves its small-scale realization unchanged for the same seed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from ._checks import RngLike, check_choice, check_int, resolve_rng

__all__ = ["PRECISIONS", "ChannelDraw", "ChannelModel", "complex_normal"]

PRECISIONS = ("single", "double")
_DTYPES = {
    "single": (np.complex64, np.float32),
    "double": (np.complex128, np.float64),
}


def complex_normal(
    shape: tuple[int, ...],
    precision: str = "double",
    *,
    var: float | np.ndarray = 1.0,
    rng: RngLike = None,
) -> np.ndarray:
    """Draw i.i.d. circularly-symmetric complex Gaussian samples ``CN(0, var)``.

    The one complex-normal helper of the channel layer: fading, receiver noise and CSI
    errors all draw through it.

    .. math:: z = \\sqrt{\\mathrm{var}/2}\\,(u + j v), \\qquad u, v \\sim \\mathcal N(0, 1)
              \\ \\text{i.i.d.}, \\qquad \\mathbb E|z|^2 = \\mathrm{var}.

    Parameters
    ----------
    shape : tuple of int
        Output shape.
    precision : {"double", "single"}
        ``complex128`` or ``complex64`` output; single precision is drawn in float32
        directly (no float64 intermediate), which is about twice as fast.
    var : float or array broadcastable to ``shape``, >= 0
        ``E|z|^2`` (each of the real and imaginary parts has variance ``var / 2``).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    numpy.ndarray, ``shape``, complex64 or complex128

    Examples
    --------
    >>> complex_normal((2, 3), rng=0).shape
    (2, 3)
    >>> complex_normal((4,), "single", var=0.1, rng=0).dtype
    dtype('complex64')
    """
    cdtype, rdtype = _DTYPES[check_choice("precision", precision, PRECISIONS,
                                          owner="complex_normal")]
    rng = resolve_rng(rng)
    x = rng.standard_normal((*shape, 2), dtype=rdtype)
    if isinstance(var, (int, float)) and var == 1.0:
        x *= rdtype(np.sqrt(0.5))
    else:
        v = np.asarray(var, dtype=np.float64)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(
                "The 'var' parameter of complex_normal must be finite and >= 0; "
                f"got {var!r}."
            )
        x *= np.sqrt(v / 2.0).astype(rdtype)[..., None]
    return x.view(cdtype)[..., 0]


@dataclass(frozen=True, eq=False)
class ChannelDraw:
    """One batch of channel realizations.

    Parameters
    ----------
    h : numpy.ndarray, complex64 or complex128
        Channel gains, ``sqrt(large_scale) * small_scale``. Shape ``[batch, n_rx_ant,
        n_devices]``; with ``n_rounds`` a round axis follows the batch axis,
        ``[batch, n_rounds, n_rx_ant, n_devices]``; models with extra trailing axes (e.g.
        OFDM subcarriers) append them, ``[..., n_devices, n_subcarriers]``. ``axes`` names
        them.
    small_scale : numpy.ndarray, same shape and dtype as ``h``
        Small-scale fading ``g``.
    large_scale : numpy.ndarray, [batch, n_devices], float32 or float64
        Linear power gain ``beta`` (path loss x shadowing), the same for all antennas,
        rounds and subcarriers of a device; ones when the model has no large-scale part.
    axes : tuple of str
        Names of the axes of ``h``, e.g. ``("batch", "rx_ant", "device")``.
    info : mapping
        Model-specific side information (e.g. ``distance_m`` [batch, n_devices]).

    Notes
    -----
    The arrays are made read-only (``h`` may be the very array ``small_scale`` when the
    large-scale gain is one), so one draw can be shared safely by the coding and the
    physical layer.
    """

    h: np.ndarray
    small_scale: np.ndarray
    large_scale: np.ndarray
    axes: tuple[str, ...] = ("batch", "rx_ant", "device")
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.h.ndim != len(self.axes):
            raise ValueError(
                f"The 'axes' parameter of ChannelDraw must name the {self.h.ndim} axes of h "
                f"(shape {self.h.shape}); got {self.axes!r}."
            )
        object.__setattr__(self, "axes", tuple(self.axes))
        for arr in (self.h, self.small_scale, self.large_scale):
            arr.flags.writeable = False
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    @property
    def batch(self) -> int:
        return int(self.h.shape[0])

    @property
    def n_rx_ant(self) -> int:
        return int(self.h.shape[self.axes.index("rx_ant")])

    @property
    def n_devices(self) -> int:
        return int(self.h.shape[self.axes.index("device")])

    @property
    def n_rounds(self) -> int | None:
        return int(self.h.shape[1]) if "round" in self.axes else None

    @property
    def gain2_per_antenna(self) -> np.ndarray:
        """``|h|^2`` per receive antenna: real array, the shape of ``h``."""
        return np.abs(self.h) ** 2

    @property
    def gain2_sum(self) -> np.ndarray:
        """``||h_k||^2 = sum_m |h_{m,k}|^2`` (the maximum-ratio-combining gain).

        Real array, the shape of ``h`` without the ``rx_ant`` axis.
        """
        return self.gain2_per_antenna.sum(axis=self.axes.index("rx_ant"))

    @property
    def gain2(self) -> np.ndarray:
        """``|h_k|^2`` for a single-antenna receiver: ``[batch, n_devices]``.

        With a round axis ``[batch, n_rounds, n_devices]``; extra trailing axes (e.g.
        subcarriers) are kept. With several receive antennas "the" gain of a device is a
        choice, so this raises: use :attr:`gain2_per_antenna` or :attr:`gain2_sum`.
        """
        if self.n_rx_ant != 1:
            raise ValueError(
                "ChannelDraw.gain2 needs n_rx_ant == 1; got n_rx_ant="
                f"{self.n_rx_ant}. Use gain2_per_antenna (|h|^2 per antenna) or gain2_sum "
                "(sum over antennas)."
            )
        return self.gain2_per_antenna.squeeze(axis=self.axes.index("rx_ant"))


class ChannelModel:
    """Base class of channel models: settles precision, large scale and randomness once.

    Subclasses implement :meth:`_small_scale` and, where a closed form exists,
    :meth:`gain2_distribution`; the conformance suite (:mod:`channels.testing`) checks the
    contract.

    Parameters
    ----------
    large_scale : channels.fading.LargeScale or None
        Path loss / shadowing / device drop applied on top of the small-scale fading
        (``None``: ``large_scale`` is all ones).
    precision : {"double", "single"}
        ``complex128``/``float64`` or ``complex64``/``float32`` outputs.

    Attributes
    ----------
    name : str
        The registered name the model was built by (set by :func:`channels.make_channel`;
        ``""`` for an instance built directly, unless its class declares one).
    mean_gain2 : float or None
        The promised ``E|g|^2`` of one small-scale entry, checked by the conformance
        suite. The default, 1.0, is the promise of every unit-power model (a subclass with
        another normalization sets its own value, e.g. ``nakagami``'s ``omega``); a model
        that makes no promise sets ``None`` (``sionna-3gpp``), and the suite skips the
        check.
    is_random : bool
        ``False`` only for models whose small-scale part is deterministic (AWGN).
    extra_axes : tuple of str
        Names of trailing axes after ``device`` (e.g. ``("subcarrier",)``).
    """

    name: str = ""
    extra_axes: ClassVar[tuple[str, ...]] = ()
    is_random: ClassVar[bool] = True

    def __init__(self, *, large_scale=None, precision: str = "double") -> None:
        from .fading.large_scale import LargeScale

        owner = f"{type(self).__name__}"
        self.precision = check_choice("precision", precision, PRECISIONS, owner=owner)
        if large_scale is not None and not isinstance(large_scale, LargeScale):
            raise TypeError(
                f"The 'large_scale' parameter of {owner} must be None or a "
                f"channels.fading.LargeScale; got {type(large_scale).__name__} {large_scale!r}."
            )
        self.large_scale = large_scale
        self.mean_gain2: float | None = 1.0
        # Validated model parameters, for repr and for results that record how a channel
        # was built; subclasses fill it.
        self.params: dict[str, Any] = {}

    # -- what a model implements -------------------------------------------------------
    def _small_scale(
        self,
        rng: np.random.Generator,
        *,
        batch: int,
        n_devices: int,
        n_rx_ant: int,
        n_rounds: int | None,
    ) -> np.ndarray:
        """Small-scale fading of shape ``self.shape(...)`` in ``self.dtype``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _small_scale().")

    def gain2_distribution(self):
        """Distribution of ``|g|^2`` for one small-scale entry (frozen ``scipy.stats``).

        ``None`` when the model declares none; the conformance suite then skips the
        Kolmogorov-Smirnov check.
        """
        return None

    def _draw_parts(
        self,
        rng: np.random.Generator,
        *,
        batch: int,
        n_devices: int,
        n_rx_ant: int,
        n_rounds: int | None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """``(large_scale [batch, K], small_scale, info)`` for one draw.

        The default draws ``self.large_scale`` and :meth:`_small_scale` from two spawned
        child streams of ``rng``. Models that produce both parts together (the Sionna 3GPP
        scenarios) override this instead of :meth:`_small_scale`.
        """
        rng_ls, rng_ss = rng.spawn(2)
        info: dict[str, Any] = {}
        if self.large_scale is None:
            beta = np.ones((batch, n_devices))
        else:
            beta, info = self.large_scale.draw(batch, n_devices, rng=rng_ls)
        g = self._small_scale(
            rng_ss, batch=batch, n_devices=n_devices, n_rx_ant=n_rx_ant, n_rounds=n_rounds
        )
        return beta, g, info

    # -- shared machinery --------------------------------------------------------------
    @property
    def dtype(self) -> type:
        """Complex dtype of ``h``: ``complex64`` (single) or ``complex128`` (double)."""
        return _DTYPES[self.precision][0]

    @property
    def real_dtype(self) -> type:
        return _DTYPES[self.precision][1]

    def axes(self, n_rounds: int | None = None) -> tuple[str, ...]:
        """Names of the axes of ``h`` for a draw with ``n_rounds``."""
        rounds = ("round",) if n_rounds is not None else ()
        return ("batch", *rounds, "rx_ant", "device", *self.extra_axes)

    def shape(
        self, batch: int, n_devices: int, n_rx_ant: int = 1, n_rounds: int | None = None
    ) -> tuple[int, ...]:
        """Shape of ``h`` (without model-specific extra axes, which the model appends)."""
        rounds = (n_rounds,) if n_rounds is not None else ()
        return (batch, *rounds, n_rx_ant, n_devices)

    def with_precision(self, precision: str) -> ChannelModel:
        """A copy of this model with another precision (``"single"`` or ``"double"``)."""
        check_choice("precision", precision, PRECISIONS, owner=f"{type(self).__name__}")
        other = copy.copy(self)
        other.precision = precision
        return other

    def draw(
        self,
        batch: int,
        n_devices: int,
        *,
        n_rx_ant: int = 1,
        n_rounds: int | None = None,
        rng: RngLike = None,
    ) -> ChannelDraw:
        """Draw ``batch`` independent realizations for ``n_devices`` single-antenna devices.

        Parameters
        ----------
        batch : int >= 1
            Monte-Carlo batch size (first axis of every output).
        n_devices : int >= 1
            Number of transmitting devices ``K``.
        n_rx_ant : int >= 1
            Receive antennas ``M``.
        n_rounds : int >= 1 or None
            ``None``: one round, no round axis. Otherwise a round axis of this length
            follows the batch axis. Memoryless models draw rounds independently
            (block fading per round); time-correlated models correlate them. The
            large-scale part (the drop) is fixed across rounds.
        rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
            The only source of randomness (same seed, same draw).

        Returns
        -------
        ChannelDraw
            ``h`` of shape ``[batch, (n_rounds,) n_rx_ant, n_devices, *extra_axes]``.
        """
        owner = f"{type(self).__name__}.draw"
        batch = check_int("batch", batch, low=1, owner=owner)
        n_devices = check_int("n_devices", n_devices, low=1, owner=owner)
        n_rx_ant = check_int("n_rx_ant", n_rx_ant, low=1, owner=owner)
        if n_rounds is not None:
            n_rounds = check_int("n_rounds", n_rounds, low=1, owner=owner)
        beta, g, info = self._draw_parts(
            resolve_rng(rng), batch=batch, n_devices=n_devices, n_rx_ant=n_rx_ant,
            n_rounds=n_rounds,
        )
        beta = np.asarray(beta, dtype=self.real_dtype)
        g = np.asarray(g)
        if g.dtype != self.dtype:
            g = g.astype(self.dtype)
        want = self.shape(batch, n_devices, n_rx_ant, n_rounds)
        if g.shape[: len(want)] != want or g.ndim != len(want) + len(self.extra_axes):
            raise RuntimeError(
                f"{type(self).__name__} drew small-scale fading of shape {g.shape}; the "
                f"contract is {want} + one axis per extra axis {self.extra_axes}."
            )
        axes = self.axes(n_rounds)
        # beta [batch, K] -> broadcast against [batch, (R,) M, K, *extra]
        n_lead = 2 if n_rounds is not None else 1
        amp = np.sqrt(beta).reshape(
            (batch,) + (1,) * n_lead + (n_devices,) + (1,) * len(self.extra_axes)
        )
        # Without large-scale gain h *is* small_scale (no copy): draws are read-only.
        h = g if np.all(beta == 1) else g * amp
        return ChannelDraw(h=h, small_scale=g, large_scale=beta, axes=axes, info=info)

    def __repr__(self) -> str:
        args = [f"{k}={v!r}" for k, v in self.params.items()]
        args.append(f"precision={self.precision!r}")
        if self.large_scale is not None:
            args.append(f"large_scale={self.large_scale!r}")
        return f"{type(self).__name__}({', '.join(args)})"
