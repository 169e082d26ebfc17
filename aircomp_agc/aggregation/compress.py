r"""Top-K sparsification layered on coded aggregation: wrappers with the same ``round`` call.

Two transports need two mechanisms:

- **Analog** (:class:`CommonSupportTopK`, around :class:`~aircomp_agc.aggregation.CodedAirComp`):
  an over-the-air sum adds the devices' symbols coordinate by coordinate, so every device
  must send the *same* ``K`` coordinates. The server broadcasts one support per round: the
  top coordinates (by magnitude) of its previous aggregate plus a few random ones
  (``explore``: the aggregate is zero off the last support, so the top-``K`` alone would
  lock in); the first round sends all ``D`` coordinates (``first="full"``) or ``K`` random
  ones (``first="random"``). A round
  costs ``K`` channel uses instead of ``D`` (plus ``K ceil(log2 D)`` downlink bits for the
  support).
- **Digital** (:class:`PerDeviceTopK`, around
  :class:`~aircomp_agc.aggregation.digital.DigitalAggregation`): each device sends its own
  top-``K`` entries with their indices, ``K (b + ceil(log2 D)) + side_bits`` bits instead of
  ``D b + side_bits``.

**Error feedback** (optional; Seide et al. 2014, Stich et al., NeurIPS 2018): what a device
did not send is added to what it sends next round. The wrapper then carries state across
calls; :meth:`reset` clears it. With a common support, device ``i``'s residual is
``B_i R`` where ``R`` (``[batch, k, D]``) is the off-support part of the partition gradients
plus the previous residual: the state lives on partitions, and every worker that stores
partition ``j`` holds the same ``r_j`` (stragglers included: they catch up on their late
computation). With per-device supports the residual of device ``i`` (``[batch, n, D]``) is
its own; devices that do not transmit in a round keep theirs unchanged.

Error parts: the inner aggregator's parts (on the sent coordinates) plus
``"sparsification"``, the difference between what entered the inner aggregator (the sent
part of gradients + residual) and the exact sum: ``estimate - exact`` still splits exactly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import check_int, check_real, resolve_rng
from .digital import DigitalAggregation, ErrorViews, payload_bits
from .messages import check_gradients, encode

__all__ = ["CommonSupportTopK", "CompressedRoundResult", "PerDeviceTopK"]

FIRST_SUPPORTS = ("full", "random")


@dataclass(frozen=True)
class CompressedRoundResult(ErrorViews):
    """One batch of compressed rounds.

    Attributes
    ----------
    estimate, exact : float [batch, D]
    error_parts : dict of float [batch, D]
        The inner aggregator's parts, plus ``"sparsification"``; they add up to
        ``estimate - exact``.
    inner : result of the inner aggregator
        On the ``K`` sent coordinates (analog) or on the sparse messages (digital).
    sent : bool [batch, D] (analog) or [batch, n, D] (digital)
        Coordinates sent.
    channel_uses : float [batch]
        Uplink channel uses of the round.
    uncompressed_channel_uses : float [batch]
        What the same round would cost uncompressed: the inner cost times ``D / K`` for a
        common support (``D`` for the analog round, whose cost is one use per coordinate);
        the same responders' dense slots for per-device supports.
    uplink_bits, uncompressed_bits : float [batch] or None
        Payload bits of the responders (digital only).
    downlink_bits : int
        Bits to broadcast the common support (analog; 0 when all coordinates are sent).
    """

    estimate: np.ndarray
    exact: np.ndarray
    error_parts: dict[str, np.ndarray]
    inner: Any
    sent: np.ndarray
    channel_uses: np.ndarray
    uncompressed_channel_uses: np.ndarray
    uplink_bits: np.ndarray | None = None
    uncompressed_bits: np.ndarray | None = None
    downlink_bits: int = 0

    @property
    def responders(self) -> np.ndarray:
        return self.inner.responders

    @property
    def decoder_weights(self) -> np.ndarray:
        return self.inner.decoder_weights

    @property
    def uplink_ratio(self) -> np.ndarray:
        """Uplink cost relative to the uncompressed round (channel uses), [batch]."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.uncompressed_channel_uses > 0,
                            self.channel_uses / self.uncompressed_channel_uses, 1.0)


class _TopK:
    """Shared configuration and state handling of the two wrappers."""

    def __init__(self, inner, *, keep: int | None, fraction: float | None,
                 error_feedback: bool) -> None:
        owner = type(self).__name__
        if not callable(getattr(inner, "round", None)) or not hasattr(inner, "code"):
            raise TypeError(f"The 'inner' parameter of {owner} must be an aggregator with a "
                            f"'code' and a 'round' method; got {type(inner).__name__}.")
        self.inner = inner
        if (keep is None) == (fraction is None):
            raise ValueError(f"Exactly one of the 'keep' and 'fraction' parameters of {owner} "
                             f"must be given; got keep={keep!r}, fraction={fraction!r}.")
        self.keep = None if keep is None else check_int("keep", keep, low=1, owner=owner)
        self.fraction = None if fraction is None else check_real(
            "fraction", fraction, low=0.0, high=1.0, low_open=True, owner=owner)
        if not isinstance(error_feedback, bool):
            raise TypeError(f"The 'error_feedback' parameter of {owner} must be a bool; got "
                            f"{error_feedback!r}.")
        self.error_feedback = error_feedback
        self.reset()

    @property
    def code(self):
        return self.inner.code

    @property
    def n(self) -> int:
        return self.inner.code.n_workers

    def reset(self) -> None:
        """Forget the state carried across rounds (residuals, previous aggregate)."""
        self._residual: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._observed: np.ndarray | None = None
        self._batch: int | None = None

    def observe(self, estimate: np.ndarray) -> None:
        """Record the aggregate ``[batch, D]`` the receiver ended the round with.

        It reaches a receiver-side state of the inner aggregator (e.g. an
        :class:`~aircomp_agc.aggregation.OnlineGradientModel`) at the start of the next
        round, restricted to the coordinates that round sends: the inner aggregator only
        ever sees those.
        """
        self._observed = np.asarray(estimate, dtype=np.float64)

    def _tell_inner(self, batch: int, dim: int, idx: np.ndarray | None) -> None:
        """Pass the observed aggregate on to the inner aggregator (on the support ``idx``)."""
        if self._observed is None or not callable(getattr(self.inner, "observe", None)):
            return
        seen = np.broadcast_to(self._observed, (batch, dim))
        self.inner.observe(seen if idx is None else np.take_along_axis(seen, idx, axis=1))

    @property
    def residual(self) -> np.ndarray | None:
        """Error-feedback residual (a copy), or None before the first round / without it."""
        return None if self._residual is None else self._residual.copy()

    def n_keep(self, dim: int) -> int:
        """``K`` for ``D = dim`` coordinates (``max(1, round(fraction D))`` for a fraction)."""
        if self.keep is not None:
            if self.keep > dim:
                raise ValueError(f"The 'keep' parameter of {type(self).__name__} must be an int "
                                 f"in [1, D={dim}]; got {self.keep}.")
            return self.keep
        return max(1, int(round(self.fraction * dim)))

    def _start(self, gradients, batch: int) -> tuple[np.ndarray, int]:
        g = check_gradients(self.code, gradients, f"{type(self).__name__}.round")
        batch = g.shape[0] if g.ndim == 3 else check_int(
            "batch", batch, low=1, owner=f"{type(self).__name__}.round")
        if self._batch is not None and batch != self._batch:
            raise ValueError(f"The 'batch' parameter of {type(self).__name__}.round must match "
                             f"the state carried from the previous round ({self._batch}); got "
                             f"{batch}. Call reset() to start new trajectories.")
        return g, batch

    def _inner_kwargs(self, available, h) -> dict:
        kw = {}
        if available is not None:
            kw["available"] = available
        if h is not None:
            kw["h"] = h
        return kw


class CommonSupportTopK(_TopK):
    """Analog top-``K``: every device sends the same ``K`` coordinates, chosen by the server.

    Parameters
    ----------
    inner : aggregator
        An analog aggregator with ``round(G, *, batch, available, h, rng)``
        (:class:`~aircomp_agc.aggregation.CodedAirComp`); it sees ``[.., k, K]`` gradients.
    keep : int >= 1, optional
        ``K``, coordinates sent per round (at most ``D``).
    fraction : float in (0, 1], optional
        ``K = max(1, round(fraction D))`` instead of ``keep``.
    first : {"full", "random"}
        Support of the first round (no previous aggregate yet): all ``D`` coordinates, or
        ``K`` uniformly random ones per trajectory.
    explore : float in [0, 1], default 0
        Share of the ``K`` coordinates drawn uniformly at random among the others each
        round. The estimate is zero off the support, so without exploration the top-``K``
        of the previous aggregate is the same support for ever: coordinates outside it are
        never sent again, and error feedback accumulates them in vain (a warning says so).
        Lock-in is harmless when the large coordinates stay put (it keeps the support
        chosen from a full first round) and harmful when they move.
    error_feedback : bool
        Add the partition residual ``R`` (what was not sent) to the next round's gradients.

    Notes
    -----
    The support of a round is the top-``(K - K_e)`` of ``|previous estimate|`` per
    trajectory plus ``K_e = round(explore K)`` random coordinates, sorted by coordinate; the
    estimate is zero off the support.
    """

    def __init__(self, inner, *, keep: int | None = None, fraction: float | None = None,
                 first: str = "full", explore: float = 0.0,
                 error_feedback: bool = False) -> None:
        if first not in FIRST_SUPPORTS:
            raise ValueError(f"The 'first' parameter of CommonSupportTopK must be one of "
                             f"{', '.join(map(repr, FIRST_SUPPORTS))}; got {first!r}.")
        self.first = first
        self.explore = check_real("explore", explore, low=0.0, high=1.0,
                                  owner="CommonSupportTopK")
        if error_feedback and self.explore == 0:
            warnings.warn("CommonSupportTopK with error_feedback=True and explore=0: the "
                          "support locks in after the first compressed round, so the residual "
                          "of the other coordinates is never sent (it only grows); give "
                          "explore > 0.", UserWarning, stacklevel=2)
        super().__init__(inner, keep=keep, fraction=fraction, error_feedback=error_feedback)

    def __repr__(self) -> str:
        size = f"keep={self.keep}" if self.keep is not None else f"fraction={self.fraction}"
        return (f"CommonSupportTopK({self.inner!r}, {size}, first={self.first!r}, "
                f"explore={self.explore}, error_feedback={self.error_feedback})")

    def _support(self, batch: int, dim: int, n_keep: int, gen) -> np.ndarray | None:
        """Sorted support indices [batch, K], or None for every coordinate."""
        if n_keep == dim:
            return None
        if self._previous is None:
            if self.first == "full":
                return None
            n_top = 0
        else:
            n_top = n_keep - int(round(self.explore * n_keep))
        keys = gen.random((batch, dim)) if n_top < n_keep else None
        if n_top > 0:
            top = np.argpartition(-np.abs(self._previous), n_top - 1, axis=1)[:, :n_top]
            if keys is None:
                return np.sort(top, axis=1)
            np.put_along_axis(keys, top, -1.0, axis=1)  # the top part is always chosen
        return np.sort(np.argpartition(keys, n_keep - 1, axis=1)[:, :n_keep], axis=1)

    def round(self, gradients, *, batch: int = 1, available=None, h=None,
              rng=None) -> CompressedRoundResult:
        """One compressed round (advances the state).

        Parameters
        ----------
        gradients : float [k, D] or [batch, k, D]
        batch : int
            Trajectories (ignored when ``gradients`` is batched); fixed until :meth:`reset`.
        available, h
            Passed to the inner aggregator (stateful hooks).
        rng : None, int, SeedSequence or Generator
            Passed on to the inner aggregator unchanged; a random first support draws from
            it before (the inner aggregator only spawns children, so with ``K = D`` the
            round equals the inner round with the same ``rng``).
        """
        g, batch = self._start(gradients, batch)
        dim = g.shape[-1]
        n_keep = self.n_keep(dim)
        gen = resolve_rng(rng)
        v = g if self._residual is None else g + self._residual
        idx = self._support(batch, dim, n_keep, gen)
        self._tell_inner(batch, dim, idx)
        if idx is None:
            inner_g = v
        elif v.ndim == 2 and np.all(idx == idx[:1]):
            inner_g = v[:, idx[0]]
        else:
            vb = np.broadcast_to(v, (batch, *v.shape[-2:]))
            inner_g = np.take_along_axis(vb, idx[:, None, :], axis=2)
        res = self.inner.round(inner_g, batch=batch, **self._inner_kwargs(available, h),
                               rng=gen)

        def scatter(x: np.ndarray) -> np.ndarray:
            if idx is None:
                return np.array(np.broadcast_to(x, (batch, dim)))
            out = np.zeros((batch, dim))
            np.put_along_axis(out, idx, np.broadcast_to(x, (batch, n_keep)), axis=1)
            return out

        exact = np.array(np.broadcast_to(g.sum(axis=-2, dtype=np.float64), (batch, dim)))
        estimate = scatter(res.estimate)
        parts = {name: scatter(p) for name, p in res.error_parts.items()}
        parts["sparsification"] = scatter(res.exact) - exact
        sent = np.ones((batch, dim), dtype=bool)
        if idx is not None:
            sent[:] = False
            np.put_along_axis(sent, idx, True, axis=1)
        if self.error_feedback:
            vb = np.broadcast_to(v, (batch, *v.shape[-2:]))
            self._residual = np.where(sent[:, None, :], 0.0, vb)
        self._previous = estimate
        self._batch = batch
        n_sent = dim if idx is None else n_keep
        uses = np.array(np.broadcast_to(np.asarray(res.channel_uses, dtype=np.float64),
                                        (batch,)))
        down = 0 if idx is None else n_keep * int(np.ceil(np.log2(dim)))
        return CompressedRoundResult(estimate, exact, parts, res, sent, uses,
                                     uses * (dim / n_sent), downlink_bits=down)


class PerDeviceTopK(_TopK):
    """Digital top-``K``: each device sends its own ``K`` largest entries with their indices.

    Parameters
    ----------
    inner : DigitalAggregation
    keep : int >= 1, optional
        ``K`` entries per device (at most ``D``).
    fraction : float in (0, 1], optional
        ``K = max(1, round(fraction D))`` instead of ``keep``.
    error_feedback : bool
        Each device adds what it did not send to its next message (devices that did not
        transmit keep their residual).
    """

    def __init__(self, inner: DigitalAggregation, *, keep: int | None = None,
                 fraction: float | None = None, error_feedback: bool = False) -> None:
        if not isinstance(inner, DigitalAggregation):
            raise TypeError("The 'inner' parameter of PerDeviceTopK must be a "
                            f"DigitalAggregation; got {type(inner).__name__}.")
        super().__init__(inner, keep=keep, fraction=fraction, error_feedback=error_feedback)

    def __repr__(self) -> str:
        size = f"keep={self.keep}" if self.keep is not None else f"fraction={self.fraction}"
        return f"PerDeviceTopK({self.inner!r}, {size}, error_feedback={self.error_feedback})"

    def round(self, gradients, *, batch: int = 1, available=None, h=None,
              rng=None) -> CompressedRoundResult:
        """One compressed round (advances the state); arguments as in
        :meth:`CommonSupportTopK.round`. With ``K = D`` it equals the inner round."""
        g, batch = self._start(gradients, batch)
        dim = g.shape[-1]
        n_keep = self.n_keep(dim)
        coded = encode(self.code, g).astype(np.float64)
        m = coded if self._residual is None else coded + self._residual
        if n_keep == dim:
            sent = np.ones((batch, self.n, dim), dtype=bool)
        else:
            top = np.argpartition(-np.abs(m), n_keep - 1, axis=-1)[..., :n_keep]
            sent = np.zeros(m.shape, dtype=bool)
            np.put_along_axis(sent, top, True, axis=-1)
            sent = np.broadcast_to(sent, (batch, self.n, dim))
        self._tell_inner(batch, dim, None)
        res = self.inner.transmit(g, messages=m, support=sent, n_sent=n_keep, batch=batch,
                                  **self._inner_kwargs(available, h), rng=rng)
        if self.error_feedback:
            mb = np.broadcast_to(m, (batch, self.n, dim))
            old = np.zeros_like(mb) if self._residual is None else self._residual
            self._residual = np.where(res.responders[..., None], np.where(sent, 0.0, mb), old)
        self._previous = res.estimate
        self._batch = batch
        plan = res.plan
        dense = payload_bits(dim, self.inner.bits, side_bits=self.inner.side_bits)
        with np.errstate(divide="ignore", invalid="ignore"):
            dense_uses = np.where(plan.responders, dense / plan.rate, 0.0).sum(axis=1)
        uplink = np.where(plan.responders, plan.payload_bits, 0.0).sum(axis=1)
        return CompressedRoundResult(res.estimate, res.exact, res.error_parts, res, sent,
                                     plan.channel_uses, dense_uses, uplink,
                                     plan.n_transmitting * float(dense))
