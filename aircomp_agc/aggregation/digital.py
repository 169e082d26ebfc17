r"""Digital aggregation: the baseline over-the-air computation is measured against.

Each responder quantizes its coded message ``f_i = B_i G`` and sends it in its own
orthogonal slot (TDMA) at its Shannon rate; the server decodes the bits, then combines the
dequantized messages with the decoder weights, ``Ghat = sum_i a_i Q(f_i)``.

**Quantization** (unbiased stochastic rounding, QSGD-style; Alistarh et al., NeurIPS 2017):
device ``i`` sends the range ``[lo_i, hi_i]`` of its message (two float32 numbers, rounded
outwards, ``side_bits = 64`` by default) and ``b`` bits per entry, an index on the grid of
``L = 2^b - 1`` steps of width ``Delta_i = (hi_i - lo_i) / L``. An entry ``x = lo + Delta (l +
p)``, ``l`` an integer and ``p`` in ``[0, 1)``, is sent as ``l + 1`` with probability ``p`` and
as ``l`` otherwise, so ``E Q(x) = x`` and

.. math:: \operatorname{Var} Q(x) = \Delta^2 p (1 - p) \le \Delta^2 / 4 .

Quantization errors are independent across devices and entries and have mean zero, so
given the responders the expected error is the coding part plus
``sum_i a_i^2 sum_d Delta_i^2 p_id (1 - p_id)`` (:func:`quantization_variance`), with no
cross term.

**Rate and latency**: device ``i`` reaches ``R_i = log2(1 + P_i |h_i|^2 / sigma^2)`` bits per
complex channel use (``||h_i||^2`` with several receive antennas, maximum-ratio combining
in its own slot; with subcarriers, the mean of ``R`` over them). Its slot lasts
``(D b + side_bits) / R_i`` channel uses (:func:`payload_bits` for sparsified messages); the
round lasts the sum of the slots (``channel_uses``), against ``D`` for the analog round of
:class:`~aircomp_agc.aggregation.CodedAirComp`. Energy is ``sum_i P_i * slot_i`` (power
units x channel uses; the analog round spends ``RoundPlan.energy * D``).

**Deadline**: the server knows every rate, so it schedules the compute responders from the
shortest slot to the longest (this order lets the most devices finish) and stops before
the first slot that would end after the deadline; devices that do not fit become
stragglers for the code, which decodes without them. Compute time is not modelled: a
compute straggler (the straggler model) never transmits, the deadline bounds the uplink.

Data flow (``batch`` independent rounds at once)::

    G [k, D] -> encode -> F [n, D]
    compute stragglers + channel draw -> rates -> truncation -> TDMA schedule (deadline)
    responders -> decoder weights a                                    (the plan)
    quantize F -> sum_i a_i Q(f_i) -> estimate and its error parts     (apply)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from channels import ChannelModel

from .._checks import check_int, check_real, mean_ci, resolve_rng
from ..coding import Code, StragglerModel
from ..coding.decoders import prepare_decoding
from .error import quadratic_form
from .messages import check_gradients, encode
from .plan import PlanContext, coefficient_vectors, link_config
from .quantize import _check_bits, payload_bits, quantization_variance, stochastic_quantize
from .result import ErrorViews, ExpectedError

__all__ = ["DigitalAggregation", "DigitalPlan", "DigitalRoundResult"]

#: Largest number of ``[row, device, coordinate]`` entries quantized in one piece.
_CHUNK_ENTRIES = 1 << 22


# ----------------------------------------------------------------------------- quantizer
@dataclass(frozen=True)
class DigitalPlan:
    """A batch of digital rounds before any gradient is touched.

    Attributes
    ----------
    compute_responders, scheduled, responders : bool [batch, n]
        Workers that finished computing; devices above the truncation threshold;
        devices whose slot fit before the deadline and whose decoder weight is not 0
        (they transmitted; a spare replica the decoder skips stays silent).
    decoder_weights : float [batch, n]
        ``a_i``, zero off the responders.
    gain2 : float [batch, n]
        ``|h_i|^2`` (summed over receive antennas, mean over subcarriers).
    rate : float [batch, n]
        Shannon rate ``R_i`` [bits per complex channel use].
    payload_bits : float [batch, n]
        Bits each device sends.
    slot_uses : float [batch, n]
        Channel uses of each responder's slot (0 for silent devices).
    power : float [batch, n]
        Transmit power (``P_i`` in the slot, 0 if silent).
    channel_uses : float [batch]
        Round latency: the sum of the slots [complex channel uses].
    energy : float [batch]
        ``sum_i P_i slot_i`` [power x channel uses].
    coding_coefficients : float [batch, k]
        ``c = B^T a``.
    latency_s : float [batch] or None
        ``channel_uses / bandwidth_hz`` when a bandwidth is given.
    """

    compute_responders: np.ndarray
    scheduled: np.ndarray
    responders: np.ndarray
    decoder_weights: np.ndarray
    gain2: np.ndarray
    rate: np.ndarray
    payload_bits: np.ndarray
    slot_uses: np.ndarray
    power: np.ndarray
    channel_uses: np.ndarray
    energy: np.ndarray
    coding_coefficients: np.ndarray
    latency_s: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.channel_uses.shape)

    @property
    def n_transmitting(self) -> np.ndarray:
        return self.responders.sum(axis=-1)


@dataclass(frozen=True)
class DigitalRoundResult(ErrorViews):
    """One batch of digital rounds.

    Attributes
    ----------
    estimate, exact : float [batch, D]
        ``sum_i a_i Q(m_i)`` and ``sum_j g_j``.
    error_parts : dict of float [batch, D]
        ``"coding"`` ``(c - 1)^T G``; ``"sparsification"`` ``sum_i a_i (m_i - f_i)`` (only
        when the devices send other messages ``m_i`` than their coded ``f_i``, e.g. top-K);
        ``"quantization"`` ``sum_i a_i (Q(m_i) - m_i)``. They add up to
        ``estimate - exact``.
    plan : DigitalPlan
    """

    estimate: np.ndarray
    exact: np.ndarray
    error_parts: dict[str, np.ndarray]
    plan: DigitalPlan

    @property
    def responders(self) -> np.ndarray:
        return self.plan.responders

    @property
    def decoder_weights(self) -> np.ndarray:
        return self.plan.decoder_weights

    @property
    def channel_uses(self) -> np.ndarray:
        """Round latency in complex channel uses, [batch]."""
        return self.plan.channel_uses

    @property
    def energy(self) -> np.ndarray:
        return self.plan.energy

    @property
    def gain2(self) -> np.ndarray:
        return self.plan.gain2

    @property
    def power(self) -> np.ndarray:
        return self.plan.power


# ----------------------------------------------------------------------------- aggregator
class DigitalAggregation:
    """Coded digital aggregation: quantize, send in orthogonal slots at Shannon rate, decode.

    Parameters
    ----------
    code : Code
        The gradient code (``n`` workers = ``n`` devices).
    channel : str or ChannelModel, default "rayleigh"
    power : float or array [n], default 1.0
        Transmit power ``P_i`` in a device's slot.
    noise_var, snr_db : float
        Exactly one: receiver noise ``sigma^2`` (complex, ``E|n|^2``) or the transmit SNR
        ``P / sigma^2`` in dB at unit gain (``P`` the largest budget). Same convention as
        :class:`~aircomp_agc.aggregation.CodedAirComp`.
    stragglers : StragglerModel or str or None
        Compute stragglers.
    bits : int in [1, 32], default 8
        ``b`` bits per entry.
    side_bits : int >= 0, default 64
        Bits of side information per device (the quantizer range, two float32 numbers).
    threshold : float >= 0, default 0
        Devices with ``|h_i|^2 < threshold`` stay silent (as in the analog round).
    deadline : float > 0, optional
        Round deadline [channel uses]; devices that do not fit become stragglers.
    bandwidth_hz : float > 0, optional
        Converts channel uses to seconds (``latency_s``): one channel use per ``1/B`` s.
    decoder : str or callable, default "lstsq"
        A method of :func:`aircomp_agc.coding.decoding_vectors` or ``(code, mask) -> a``.
    n_rx_ant : int >= 1
        Receive antennas (maximum-ratio combining in each slot).
    """

    def __init__(self, *, code: Code, channel: str | ChannelModel = "rayleigh",
                 power: float | np.ndarray = 1.0, noise_var: float | None = None,
                 snr_db: float | None = None, stragglers: StragglerModel | str | None = None,
                 bits: int = 8, side_bits: int = 64, threshold: float = 0.0,
                 deadline: float | None = None, bandwidth_hz: float | None = None,
                 decoder: Any = "lstsq", n_rx_ant: int = 1) -> None:
        owner = "DigitalAggregation"
        if not isinstance(code, Code):
            raise TypeError(f"The 'code' parameter of {owner} must be a Code (make_code(...)); "
                            f"got {type(code).__name__}.")
        self.code = code
        self.n = code.n_workers
        self.channel, self.power, self.noise_var, self.stragglers = link_config(
            owner, self.n, channel, power, noise_var, snr_db, stragglers)
        self.bits = _check_bits(bits, owner)
        self.side_bits = check_int("side_bits", side_bits, low=0, owner=owner)
        self.threshold = check_real("threshold", threshold, low=0.0, owner=owner)
        self.deadline = None if deadline is None else check_real(
            "deadline", deadline, low=0.0, low_open=True, owner=owner)
        self.bandwidth_hz = None if bandwidth_hz is None else check_real(
            "bandwidth_hz", bandwidth_hz, low=0.0, low_open=True, owner=owner)
        if not (callable(decoder) or isinstance(decoder, str)):
            raise TypeError(f"The 'decoder' parameter of {owner} must be a method name or a "
                            f"callable; got {type(decoder).__name__}.")
        self.decoder = decoder
        if decoder == "lstsq":  # decoded every round: its Gram system pays off from round one
            prepare_decoding(code)
        self.n_rx_ant = check_int("n_rx_ant", n_rx_ant, low=1, owner=owner)

    def __repr__(self) -> str:
        return (f"DigitalAggregation(code={self.code!r}, channel={self.channel!r}, "
                f"noise_var={self.noise_var:g}, bits={self.bits}, deadline={self.deadline!r}, "
                f"decoder={self.decoder!r})")

    # ----------------------------------------------------------------- plan
    def _gains(self, batch: int, gen: np.random.Generator, h) -> np.ndarray:
        """``|h|^2`` summed over receive antennas: [batch, n] or [batch, n, F]."""
        if h is None:
            draw = self.channel.draw(batch=batch, n_devices=self.n, n_rx_ant=self.n_rx_ant,
                                     rng=gen)
            h, axes = np.asarray(draw.h), tuple(draw.axes)
            if "subcarrier" in axes:
                h = np.moveaxis(h, axes.index("subcarrier"), -1)
        else:
            h = np.asarray(h)
            if h.ndim == 2:
                h = h[:, None, :]
            if h.shape[:3] != (batch, self.n_rx_ant, self.n) or h.ndim > 4 \
                    or not np.iscomplexobj(h):
                raise ValueError(f"The 'h' parameter must be a complex array of shape "
                                 f"[{batch}, {self.n_rx_ant}, {self.n}(, F)]; got {h.dtype} "
                                 f"{h.shape}.")
        return np.sum(np.abs(h.astype(np.complex128)) ** 2, axis=1)

    def plan(self, payload, *, batch: int = 1, available=None, h=None, rng=None) -> DigitalPlan:
        """Stragglers, channel, rates, truncation, TDMA schedule and decoder weights.

        Parameters
        ----------
        payload : int or float array [n] or [batch, n]
            Bits each device sends (:func:`payload_bits`).
        batch : int
        available : bool [n] or [batch, n], optional
            Workers that can respond at all (e.g. a stateful straggler process).
        h : complex array, optional
            The channel realization to use instead of a draw (``[batch, n]``,
            ``[batch, M, n]`` or ``[batch, M, n, F]``).
        rng : None, int, SeedSequence or Generator

        Returns
        -------
        DigitalPlan
        """
        owner = "DigitalAggregation.plan"
        batch = check_int("batch", batch, low=1, owner=owner)
        bits = np.broadcast_to(np.asarray(payload, dtype=np.float64), (batch, self.n))
        if not np.all(np.isfinite(bits)) or np.any(bits <= 0):
            raise ValueError(f"The 'payload' parameter of {owner} must be positive finite bit "
                             f"counts; got {payload!r}.")
        g_strag, g_chan = resolve_rng(rng).spawn(2)
        if self.stragglers is None:
            compute = np.ones((batch, self.n), dtype=bool)
        else:
            compute = np.asarray(self.stragglers.sample(batch, self.n, rng=g_strag), dtype=bool)
        if available is not None:
            avail = np.asarray(available, dtype=bool)
            if avail.shape not in ((self.n,), (batch, self.n)):
                raise ValueError(f"The 'available' parameter must have shape ({self.n},) or "
                                 f"({batch}, {self.n}); got {avail.shape}.")
            compute = compute & avail
        gain = self._gains(batch, g_chan, h)
        snr = self.power.reshape((1, self.n) + (1,) * (gain.ndim - 2)) * gain / self.noise_var
        rate = np.log2(1.0 + snr)
        if gain.ndim == 3:  # subcarriers: the slot spreads its bits over all of them
            rate, gain = rate.mean(axis=-1), gain.mean(axis=-1)
        scheduled = gain >= self.threshold
        candidates = compute & scheduled & (rate > 0)
        with np.errstate(divide="ignore"):
            slot = np.where(candidates, bits / np.where(rate > 0, rate, 1.0), np.inf)
        if self.deadline is None:
            finished = candidates
        else:
            order = np.argsort(slot, axis=1, kind="stable")
            done = np.cumsum(np.take_along_axis(slot, order, axis=1), axis=1) <= self.deadline
            finished = np.zeros_like(candidates)
            np.put_along_axis(finished, order, done, axis=1)
            finished &= candidates
        weights = PlanContext(self.code, finished, None, None, None, None,
                              self.decoder).decode(finished)
        # A responder the decoder gives weight 0 (a spare replica under the exact or
        # one-step decoder) has nothing to contribute: it stays silent and frees its slot.
        finished = finished & (weights != 0)
        slot = np.where(finished, slot, 0.0)
        uses = slot.sum(axis=1)
        return DigitalPlan(
            compute_responders=compute, scheduled=scheduled, responders=finished,
            decoder_weights=weights, gain2=gain, rate=rate, payload_bits=np.array(bits),
            slot_uses=slot, power=np.where(finished, self.power, 0.0), channel_uses=uses,
            energy=(self.power * slot).sum(axis=1),
            coding_coefficients=coefficient_vectors(self.code, weights),
            latency_s=None if self.bandwidth_hz is None else uses / self.bandwidth_hz,
        )

    # ----------------------------------------------------------------- apply
    def apply(self, plan: DigitalPlan, gradients, *, messages=None, support=None,
              rng=None) -> DigitalRoundResult:
        """Quantize the responders' messages and combine them with the decoder weights.

        Parameters
        ----------
        plan : DigitalPlan
        gradients : float [k, D] or [batch, k, D]
            Partition gradients (they define ``f_i = B_i G`` and the exact sum).
        messages : float [n, D] or [batch, n, D], optional
            What the devices send, ``m_i`` (default ``f_i``); a ``"sparsification"`` error
            part ``sum_i a_i (m_i - f_i)`` is reported when given.
        support : bool [n, D] or [batch, n, D], optional
            Entries each device sends (others are not sent and arrive as 0).
        rng : randomness of the stochastic rounding.
        """
        owner = "DigitalAggregation.apply"
        g = check_gradients(self.code, gradients, owner)
        batch = plan.shape[0]
        if g.ndim == 3 and g.shape[0] != batch:
            raise ValueError(f"The 'gradients' parameter has a batch of {g.shape[0]} but the "
                             f"plan has {batch}.")
        dim = g.shape[-1]
        coded = encode(self.code, g).astype(np.float64)
        sent = coded if messages is None else _check_rows("messages", messages, batch,
                                                          self.n, dim, owner, np.float64)
        mask = None if support is None else _check_rows("support", support, batch, self.n,
                                                        dim, owner, bool)
        gen = resolve_rng(rng)
        a = plan.decoder_weights
        rows = max(1, _CHUNK_ENTRIES // (self.n * dim))
        estimate = np.empty((batch, dim))
        quant = np.empty((batch, dim))
        for start in range(0, batch, rows):
            sl = slice(start, min(batch, start + rows))
            x = np.broadcast_to(sent if sent.ndim == 2 else sent[sl], (sl.stop - sl.start,
                                                                       self.n, dim))
            m = None if mask is None else np.broadcast_to(
                mask if mask.ndim == 2 else mask[sl], x.shape)
            q, _, _ = stochastic_quantize(x, self.bits, mask=m, rng=gen)
            estimate[sl] = np.einsum("bn,bnd->bd", a[sl], q)
            x_sent = x if m is None else np.where(m, x, 0.0)
            quant[sl] = np.einsum("bn,bnd->bd", a[sl], q - x_sent)
        exact = np.broadcast_to(g.sum(axis=-2, dtype=np.float64), (batch, dim))
        c = plan.coding_coefficients
        combined = c @ g if g.ndim == 2 else np.einsum("bk,bkd->bd", c, g)
        parts = {"coding": combined - exact}
        if messages is not None or support is not None:
            sent_eff = sent if mask is None else np.where(mask, sent, 0.0)
            diff = sent_eff - coded
            parts["sparsification"] = (a @ diff if diff.ndim == 2
                                       else np.einsum("bn,bnd->bd", a, diff))
        parts["quantization"] = quant
        return DigitalRoundResult(estimate, np.array(exact), parts, plan)

    def round(self, gradients, *, batch: int = 1, available=None, h=None,
              rng=None) -> DigitalRoundResult:
        """Simulate ``batch`` independent digital rounds on the partition gradients ``G``.

        Parameters
        ----------
        gradients : float [k, D] or [batch, k, D]
        batch : int
            Ignored when ``gradients`` is batched.
        available, h
            As in :meth:`plan`.
        rng : None, int, SeedSequence or Generator

        Returns
        -------
        DigitalRoundResult
        """
        return self.transmit(gradients, batch=batch, available=available, h=h, rng=rng)

    def transmit(self, gradients, *, messages=None, support=None, n_sent: int | None = None,
                 batch: int = 1, available=None, h=None, rng=None) -> DigitalRoundResult:
        """A round in which the devices send given messages (the hook of compressors).

        Parameters
        ----------
        gradients : float [k, D] or [batch, k, D]
        messages, support
            As in :meth:`apply` (default: the coded messages, every entry).
        n_sent : int in [1, D], optional
            Entries each device sends with their indices (:func:`payload_bits`); default
            all ``D`` in order.
        batch, available, h, rng
            As in :meth:`round` (the same draws for the same ``rng``).
        """
        g = check_gradients(self.code, gradients, "DigitalAggregation.round")
        if g.ndim == 3:
            batch = g.shape[0]
        plan_rng, q_rng = resolve_rng(rng).spawn(2)
        bits = payload_bits(g.shape[-1], self.bits, n_sent=n_sent, side_bits=self.side_bits)
        plan = self.plan(bits, batch=batch, available=available, h=h, rng=plan_rng)
        return self.apply(plan, g, messages=messages, support=support, rng=q_rng)

    # ----------------------------------------------------------------- expectations
    def expected_mse(self, gradients, *, n_draws: int = 2000, batch_size: int = 1000,
                     confidence: float = 0.95, rng=None) -> ExpectedError:
        """``E||estimate - exact||^2`` over stragglers and channel, quantization in closed form.

        Per draw: ``(c - 1)^T S (c - 1) + sum_i a_i^2 v_i`` with ``S = G G^T`` and ``v_i``
        the exact quantization variance of message ``i`` (:func:`quantization_variance`);
        no ``D``-dimensional work per draw.

        Returns
        -------
        ExpectedError
            Parts ``"coding"`` and ``"quantization"``; ``info`` holds ``"channel_uses"`` and
            ``"energy"`` (:class:`~aircomp_agc._checks.Estimate` each).
        """
        owner = "DigitalAggregation.expected_mse"
        n_draws = check_int("n_draws", n_draws, low=2, owner=owner)
        batch_size = check_int("batch_size", batch_size, low=1, owner=owner)
        g = check_gradients(self.code, gradients, owner)
        if g.ndim != 2:
            raise ValueError(f"The 'gradients' parameter of {owner} must have shape [k, D]; "
                             f"got {g.shape}.")
        g = g.astype(np.float64)
        S = g @ g.T
        v = quantization_variance(encode(self.code, g), self.bits)
        bits = payload_bits(g.shape[1], self.bits, side_bits=self.side_bits)
        gen = resolve_rng(rng)
        out: dict[str, list] = {k: [] for k in ("coding", "quantization", "channel_uses",
                                                "energy", "n")}
        done = 0
        while done < n_draws:
            b = min(batch_size, n_draws - done)
            plan = self.plan(bits, batch=b, rng=gen.spawn(1)[0])
            out["coding"].append(quadratic_form(plan.coding_coefficients - 1.0, S))
            out["quantization"].append(plan.decoder_weights**2 @ v)
            out["channel_uses"].append(plan.channel_uses)
            out["energy"].append(plan.energy)
            out["n"].append(plan.n_transmitting)
            done += b
        arr = {k: np.concatenate(v_) for k, v_ in out.items()}
        total = arr["coding"] + arr["quantization"]
        est = {k: mean_ci(arr[k], confidence, owner=owner) for k in ("coding", "quantization")}
        info = {k: mean_ci(arr[k], confidence, owner=owner) for k in ("channel_uses", "energy")}
        return ExpectedError(mean_ci(total, confidence, owner=owner), est,
                             float(np.sum(g.sum(0) ** 2)), g.shape[1],
                             float(arr["n"].mean()), info)


def _check_rows(name: str, value, batch: int, n: int, dim: int, owner: str, dtype):
    arr = np.asarray(value, dtype=dtype)
    if arr.shape not in ((n, dim), (batch, n, dim)):
        raise ValueError(f"The '{name}' parameter of {owner} must have shape [{n}, {dim}] or "
                         f"[{batch}, {n}, {dim}]; got {arr.shape}.")
    if dtype is np.float64 and not np.all(np.isfinite(arr)):
        raise ValueError(f"The '{name}' parameter of {owner} must be finite.")
    return arr
