"""``CodedAirComp``: one coded over-the-air aggregation round, end to end, batched.

Data flow (each arrow one step; ``batch`` independent realizations at once)::

    G [k, D] -> encode -> F [n, D] -> normalize -> x_i = f_i / s_i, s_i (side information)
    compute stragglers + channel draw -> truncation -> responders
    responders (+ second moments) -> policy -> decoder weights, powers, eta   (the plan)
    x, plan, noise -> over-the-air sum -> estimate [batch, D] and its error parts

The plan (:meth:`CodedAirComp.plan`) needs no gradients beyond the message RMS; the apply
step (:meth:`CodedAirComp.apply`) does the ``D``-dimensional work. With block fading that
is flat over the ``D`` coordinates, the received sum is one combination of partition
gradients, ``beta^T G + n`` with ``beta = B^T (r / s)``, which the apply step uses (one
``[batch, k] x [k, D]`` product); ``via="messages"`` sums the transmitted messages
``sum_i r_i x_i`` instead (the same numbers, to round-off; a test checks it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from channels import ChannelModel
from channels.beamforming import (
    effective_channel,
    eigen_beamformer,
    maxmin_beamformer,
    mrc_beamformer,
)
from channels.impairments import draw_phase_offsets, true_channel_from_estimate

from .._blas import single_thread_blas
from .._checks import check_int, check_real, mean_ci, resolve_rng
from ..coding import Code, StragglerModel
from ..coding.decoders import prepare_decoding
from .error import conditional_error
from .messages import (
    GradientModel,
    OnlineGradientModel,
    _coded_rms,
    check_gradients,
    encode,
    normalize,
)
from .plan import PlanContext, RoundPlan, coefficient_vectors, link_config
from .policies import resolve_policy
from .result import ExpectedError, RoundResult

__all__ = ["CodedAirComp"]

BEAMFORMERS = ("eigen", "mrc", "maxmin")


class CodedAirComp:
    """Coded over-the-air aggregation: gradient code x straggler model x radio channel.

    Parameters
    ----------
    code : Code
        The gradient code (``n`` workers = ``n`` devices on the air).
    channel : str or ChannelModel, default "rayleigh"
        A registered channel model name (see ``channels.list_channels``) or an instance.
        Models with a subcarrier axis spread the ``D`` coordinates over subcarriers
        (coordinate ``d`` on subcarrier ``d mod F``), each with its own plan.
    power_control : str or callable, default "optimal_power"
        A power-control policy of :mod:`channels.power_control` (a name, or one bound with
        its parameters by ``make_power_control``), or a policy of this package that knows
        the messages are correlated: ``"correlation-aware"`` or ``"joint"`` (see
        :mod:`aircomp_agc.aggregation.policies`).
    power : float or array [n], default 1.0
        Power budget ``P_i`` of each device (mean power over a round).
    noise_var : float, optional
        Receiver noise variance ``sigma^2`` (total complex, ``E|n|^2``). Exactly one of
        ``noise_var`` and ``snr_db`` (transmit SNR ``P / sigma^2`` at unit channel gain,
        ``P`` the largest budget).
    stragglers : StragglerModel or str or None
        Compute stragglers (``None``: every worker finishes).
    threshold : float >= 0, default 0
        Truncation: devices with known ``|h_i|^2 < threshold`` stay silent (channel
        stragglers) and the decoder works without them.
    decoder : str or callable, default "lstsq"
        A method of :func:`aircomp_agc.coding.decoding_vectors` or ``(code, mask) -> a``.
    csi_error_var : float >= 0
        Imperfect CSI: devices know ``hhat``, the channel is ``hhat + e``,
        ``e ~ CN(0, csi_error_var)``.
    phase_max : float in [0, pi]
        Residual phase error ``phi_i ~ U[-phase_max, phase_max]``.
    n_rx_ant : int >= 1
        Receive antennas; with more than one, ``beamformer`` combines them.
    beamformer : {"eigen", "mrc", "maxmin"}
        Receive beamformer for ``n_rx_ant > 1``, computed on the known channels of the
        compute responders.
    n_devices : int, optional
        Devices on the air; when given it must equal the code's worker count.
    gradient_model : GradientModel or OnlineGradientModel, optional
        Second moments the correlation-aware policies use instead of the oracle Gram
        matrix of the gradients they are given; an :class:`OnlineGradientModel` is
        re-estimated every round from the side information and the previous aggregate
        (:meth:`observe`).
    """

    def __init__(
        self,
        *,
        code: Code,
        channel: str | ChannelModel = "rayleigh",
        power_control: Any = "optimal_power",
        power: float | np.ndarray = 1.0,
        noise_var: float | None = None,
        snr_db: float | None = None,
        stragglers: StragglerModel | str | None = None,
        threshold: float = 0.0,
        decoder: Any = "lstsq",
        csi_error_var: float = 0.0,
        phase_max: float = 0.0,
        n_rx_ant: int = 1,
        beamformer: str = "eigen",
        gradient_model: GradientModel | None = None,
        n_devices: int | None = None,
    ) -> None:
        owner = "CodedAirComp"
        if not isinstance(code, Code):
            raise TypeError(f"The 'code' parameter of {owner} must be a Code (make_code(...)); "
                            f"got {type(code).__name__}.")
        if n_devices is not None and check_int("n_devices", n_devices, low=1,
                                               owner=owner) != code.n_workers:
            raise ValueError(f"The 'code' parameter of {owner} has {code.n_workers} workers but "
                             f"n_devices={n_devices} devices are on the air; every worker is "
                             "one device.")
        self.code = code
        self.n = code.n_workers
        self.policy = resolve_policy(power_control)
        self.channel, self.power, self.noise_var, self.stragglers = link_config(
            owner, self.n, channel, power, noise_var, snr_db, stragglers)
        self.threshold = check_real("threshold", threshold, low=0.0, owner=owner)
        if not (callable(decoder) or isinstance(decoder, str)):
            raise TypeError(f"The 'decoder' parameter of {owner} must be a method name or a "
                            f"callable; got {type(decoder).__name__}.")
        self.decoder = decoder
        if decoder == "lstsq":  # decoded every round: its Gram system pays off from round one
            prepare_decoding(code)
        self.csi_error_var = check_real("csi_error_var", csi_error_var, low=0.0, owner=owner)
        self.phase_max = check_real("phase_max", phase_max, low=0.0, high=np.pi, owner=owner)
        self.n_rx_ant = check_int("n_rx_ant", n_rx_ant, low=1, owner=owner)
        if beamformer not in BEAMFORMERS:
            raise ValueError(f"The 'beamformer' parameter of {owner} must be one of "
                             f"{', '.join(map(repr, BEAMFORMERS))}; got {beamformer!r}.")
        self.beamformer = beamformer
        if gradient_model is not None and not isinstance(
                gradient_model, GradientModel | OnlineGradientModel):
            raise TypeError(f"The 'gradient_model' parameter of {owner} must be a "
                            "GradientModel or an OnlineGradientModel; got "
                            f"{type(gradient_model).__name__}.")
        self.gradient_model = gradient_model

    def __repr__(self) -> str:
        return (f"CodedAirComp(code={self.code!r}, channel={self.channel!r}, "
                f"power_control={self.policy!r}, noise_var={self.noise_var:g}, "
                f"threshold={self.threshold:g}, decoder={self.decoder!r})")

    # ----------------------------------------------------------------- draws
    def _draw(self, batch: int, gen: np.random.Generator, available=None, h=None):
        """Compute-responder masks [batch, n] and known/true channels [R, M, n] (R rows).

        ``available`` (bool [batch, n]) removes workers before the straggler model draws
        (e.g. clients that failed); ``h`` replaces the channel draw (complex
        ``[batch, n]``, ``[batch, M, n]`` or ``[batch, M, n, F]``, the last axis being
        subcarriers) so a caller can carry channel state across rounds.
        """
        g_strag, g_chan, g_csi, g_phase = gen.spawn(4)
        if self.stragglers is None:
            compute = np.ones((batch, self.n), dtype=bool)
        else:
            compute = np.asarray(self.stragglers.sample(batch=batch, n_workers=self.n,
                                                        rng=g_strag), dtype=bool)
        if available is not None:
            avail = np.asarray(available, dtype=bool)
            if avail.shape not in ((self.n,), (batch, self.n)):
                raise ValueError(f"The 'available' parameter must have shape ({self.n},) or "
                                 f"({batch}, {self.n}); got {avail.shape}.")
            compute = compute & avail
        if h is None:
            draw = self.channel.draw(batch=batch, n_devices=self.n, n_rx_ant=self.n_rx_ant,
                                     rng=g_chan)
            h, axes = np.asarray(draw.h), tuple(draw.axes)
        else:
            h = np.asarray(h)
            if h.ndim == 2:
                h = h[:, None, :]
            axes = ("batch", "rx_ant", "device", "subcarrier")[:h.ndim]
            if h.shape[:3] != (batch, self.n_rx_ant, self.n) or not np.iscomplexobj(h):
                raise ValueError(f"The 'h' parameter must be a complex array of shape "
                                 f"[{batch}, {self.n_rx_ant}, {self.n}(, F)]; got {h.dtype} "
                                 f"{h.shape}.")
        n_sub = 1
        if "subcarrier" in axes:  # [batch, M, n, F] -> [batch, F, M, n]
            n_sub = h.shape[axes.index("subcarrier")]
            h = np.moveaxis(h, axes.index("subcarrier"), 1)
        h = h.reshape(batch * n_sub, self.n_rx_ant, self.n).astype(np.complex128)
        h_true = h
        if self.csi_error_var > 0:
            h_true = true_channel_from_estimate(h, self.csi_error_var, rng=g_csi)
        phases = None
        if self.phase_max > 0:
            phases = draw_phase_offsets(h.shape[::2], self.phase_max, rng=g_phase)
        compute_rows = np.repeat(compute, n_sub, axis=0)
        return compute, compute_rows, h, h_true, phases, n_sub

    def _combine(self, h: np.ndarray, h_true: np.ndarray, compute_rows: np.ndarray,
                 gen: np.random.Generator):
        """Effective known / true scalar channels [R, n] and ``||m||^2`` [R]."""
        if self.n_rx_ant == 1:
            return h[:, 0, :], h_true[:, 0, :], np.ones(h.shape[0])
        hm = h * compute_rows[:, None, :]
        if self.beamformer == "mrc":
            m = mrc_beamformer(hm)
        elif self.beamformer == "eigen":
            m = eigen_beamformer(hm)
        else:
            m = maxmin_beamformer(h, target=compute_rows.astype(float), rng=gen).beamformer
        known, norm2 = effective_channel(h, m)
        true, _ = effective_channel(h_true, m)
        return known, true, norm2

    # ----------------------------------------------------------------- plan / apply
    def plan(self, s, *, batch: int = 1, second_moments=None, dim: int = 1,
             available=None, h=None, rng=None) -> RoundPlan:
        """Plan ``batch`` rounds: stragglers, channel, truncation, policy, impairments.

        Parameters
        ----------
        s : float [n] or [batch, n]
            Message RMS of each worker (``message_rms(encode(code, G))``).
        batch : int
        second_moments : [k, k] array or GradientModel, optional
            For the correlation-aware policies (``self.gradient_model`` wins when set).
        dim : int
            ``D`` (only the correlation-aware policies' noise term uses it).
        available : bool [n] or [batch, n], optional
            Workers that can respond at all (others are stragglers whatever the straggler
            model draws), e.g. failed clients or a stateful straggler process.
        h : complex array, optional
            The channel realization to use instead of a draw (``[batch, n]``,
            ``[batch, M, n]`` or ``[batch, M, n, F]``): state carried across rounds.
        rng : None, int, SeedSequence or Generator

        Returns
        -------
        RoundPlan
        """
        batch = check_int("batch", batch, low=1, owner="CodedAirComp.plan")
        gen = resolve_rng(rng)
        compute, compute_rows, h, h_true, phases, n_sub = self._draw(batch, gen, available, h)
        known, true, norm2 = self._combine(h, h_true, compute_rows, gen)
        rows = batch * n_sub
        s_rows = np.repeat(np.broadcast_to(np.asarray(s, dtype=np.float64), (batch, self.n)),
                           n_sub, axis=0)
        gain2 = np.abs(known) ** 2
        scheduled = gain2 >= self.threshold
        if isinstance(self.gradient_model, OnlineGradientModel):
            second_moments = self.gradient_model.model(
                self.code, np.broadcast_to(np.asarray(s, dtype=np.float64), (batch, self.n)),
                dim)
            if n_sub > 1:
                second_moments = GradientModel(
                    np.repeat(second_moments.mean_energy, n_sub),
                    np.repeat(second_moments.heterogeneity, n_sub), dim)
        elif self.gradient_model is not None:
            second_moments = self.gradient_model
        if isinstance(second_moments, np.ndarray) and second_moments.ndim == 3:
            second_moments = np.repeat(second_moments, n_sub, axis=0)
        ctx = PlanContext(self.code, compute_rows & scheduled, s_rows, gain2,
                          np.broadcast_to(self.power, (rows, self.n)),
                          np.full(rows, self.noise_var / 2.0) * norm2, self.decoder,
                          second_moments, dim)
        alloc = self.policy(ctx)
        # True received coefficient of x_i: Re{ (m^H h_i) b_i } / sqrt(eta).
        mag = np.abs(known)
        align = np.divide(known.conj(), mag, out=np.zeros_like(known), where=mag > 0)
        b = alloc.sign * np.sqrt(alloc.power) * align
        if phases is not None:
            b = b * np.exp(1j * phases)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_sqrt_eta = np.where(np.isinf(alloc.eta), 0.0, 1.0 / np.sqrt(alloc.eta))
        received = np.real(true * b) * inv_sqrt_eta[:, None]
        noise_std = np.sqrt(self.noise_var * norm2 / 2.0) * inv_sqrt_eta
        u = np.divide(received, s_rows, out=np.zeros_like(received), where=s_rows > 0)
        lead = (batch, n_sub) if n_sub > 1 else (batch,)

        def shaped(x):
            return x.reshape(*lead, *x.shape[1:])

        return RoundPlan(
            compute_responders=shaped(compute_rows), scheduled=shaped(scheduled),
            responders=shaped(alloc.power > 0), decoder_weights=shaped(alloc.weights),
            s=shaped(s_rows), gain2=shaped(gain2), power=shaped(alloc.power),
            eta=shaped(alloc.eta), received=shaped(received), noise_std=shaped(noise_std),
            coding_coefficients=shaped(coefficient_vectors(self.code, alloc.weights)),
            coefficients=shaped(coefficient_vectors(self.code, u)),
            policy=alloc.policy, n_decodes=alloc.n_decodes,
        )

    def apply(self, plan: RoundPlan, gradients, *, via: str = "coefficients",
              rng=None) -> RoundResult:
        """The ``D``-dimensional part of a round: received sum, noise, error parts.

        Parameters
        ----------
        plan : RoundPlan
            From :meth:`plan` (its batch must match ``gradients`` when they are batched).
        gradients : float [k, D] or [batch, k, D]
        via : {"coefficients", "messages"}
            ``"coefficients"``: ``beta^T G`` (one product; exact for block fading).
            ``"messages"``: encode, normalize and sum ``sum_i r_i x_i`` explicitly.
        rng : randomness of the receiver noise.
        """
        return self._apply(plan, check_gradients(self.code, gradients, "CodedAirComp.apply"),
                           via=via, rng=rng)

    def _apply(self, plan: RoundPlan, g: np.ndarray, *, via: str, rng) -> RoundResult:
        """:meth:`apply` on gradients already checked (``round`` checks them once)."""
        if via not in ("coefficients", "messages"):
            raise ValueError("The 'via' parameter of CodedAirComp.apply must be "
                             f"'coefficients' or 'messages'; got {via!r}.")
        gen = resolve_rng(rng)
        batch = plan.shape[0]
        sub = len(plan.shape) == 2
        if g.ndim == 3 and g.shape[0] != batch:
            raise ValueError(f"The 'gradients' parameter has a batch of {g.shape[0]} but the "
                             f"plan has {batch}.")
        dim = g.shape[-1]
        beta, c = plan.coefficients, plan.coding_coefficients
        # Products of [batch, n] weights with [n, D] rows: one BLAS thread (threaded OpenBLAS
        # gains little here and its spinning threads slow the rest of the round, see _blas).
        with single_thread_blas():
            if via == "messages":
                x, _ = normalize(encode(self.code, g))
                received = _per_coordinate(plan.received, dim, sub)
                signal = _combine_rows(received, x)
            else:
                signal = _combine_rows(_per_coordinate(beta, dim, sub), g)
            coding_sum = _combine_rows(_per_coordinate(c, dim, sub), g)
        exact = np.broadcast_to(g.sum(axis=-2, dtype=np.float64), (batch, dim))
        coding = coding_sum - exact
        std = _per_coordinate(plan.noise_std, dim, sub)
        noise = gen.standard_normal((batch, dim)) * (std if sub else std[:, None])
        estimate = signal + noise
        misalignment = signal - exact - coding
        parts = {"coding": coding, "misalignment": misalignment, "noise": noise}
        return RoundResult(estimate, np.array(exact), parts, plan)

    def round(self, gradients, *, batch: int = 1, available=None, h=None,
              rng=None) -> RoundResult:
        """Simulate ``batch`` independent rounds on the partition gradients ``G``.

        Parameters
        ----------
        gradients : float [k, D] or [batch, k, D]
        batch : int
            Ignored when ``gradients`` is batched (its first axis is the batch).
        available, h
            As in :meth:`plan` (workers that can respond; a given channel realization).
        rng : None, int, SeedSequence or Generator

        Returns
        -------
        RoundResult
        """
        g = check_gradients(self.code, gradients, "CodedAirComp.round")
        if g.ndim == 3:
            batch = g.shape[0]
        plan_rng, noise_rng = resolve_rng(rng).spawn(2)
        s = _coded_rms(self.code, g)
        second = self._oracle(g)
        plan = self.plan(s, batch=batch, second_moments=second, dim=g.shape[-1],
                         available=available, h=h, rng=plan_rng)
        return self._apply(plan, g, via="coefficients", rng=noise_rng)

    def observe(self, estimate: np.ndarray) -> None:
        """Tell the receiver-side state the aggregate of the round just finished."""
        if isinstance(self.gradient_model, OnlineGradientModel):
            self.gradient_model.observe(estimate, self.code.n_partitions)

    def _oracle(self, g: np.ndarray):
        if not self.policy.needs_second_moments or self.gradient_model is not None:
            return None
        with single_thread_blas():
            return g.astype(np.float64) @ np.swapaxes(g, -1, -2).astype(np.float64)

    # ----------------------------------------------------------------- expectations
    def expected_mse(self, gradients, *, n_draws: int = 2000, batch_size: int = 1000,
                     confidence: float = 0.95, rng=None) -> ExpectedError:
        """``E||estimate - exact||^2`` over channel and straggler draws, noise in closed form.

        Parameters
        ----------
        gradients : float [k, D], or GradientModel
            Given gradients (the error depends on them only through ``G G^T``), or a
            model (then ``s_i^2 = (B S B^T)_ii / D`` and the error is its expectation).
        n_draws : int >= 2
            Channel/straggler realizations.
        """
        owner = "CodedAirComp.expected_mse"
        n_draws = check_int("n_draws", n_draws, low=2, owner=owner)
        batch_size = check_int("batch_size", batch_size, low=1, owner=owner)
        if isinstance(gradients, GradientModel):
            model = gradients
            k = self.code.n_partitions
            second = model
            dim = int(model.dim)
            msg = np.asarray((self.code.B @ model.gram(k)) @ self.code.B.T.toarray())
            s = np.sqrt(np.maximum(np.diag(msg), 0.0) / dim)
            exact_energy = float(model.quadratic(np.ones(k)))
            gram_sub = None
        else:
            g = check_gradients(self.code, gradients, owner)
            if g.ndim != 2:
                raise ValueError(f"The 'gradients' parameter of {owner} must have shape "
                                 f"[k, D] or be a GradientModel; got {g.shape}.")
            s = _coded_rms(self.code, g)
            second = g @ g.T
            dim = g.shape[1]
            exact_energy = float(np.sum(g.sum(0) ** 2))
            gram_sub = g
        gen = resolve_rng(rng)
        chunks = []
        done = 0
        while done < n_draws:
            b = min(batch_size, n_draws - done)
            plan_second = self.gradient_model or second
            plan = self.plan(s, batch=b, second_moments=plan_second, dim=dim, rng=gen.spawn(1)[0])
            chunks.append(self._conditional(plan, second, gram_sub, dim))
            done += b
        parts = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        est = {k: mean_ci(v, confidence, owner=owner) for k, v in parts.items()
               if k != "n_transmitting"}
        return ExpectedError(est.pop("total"), est, exact_energy, dim,
                             float(parts["n_transmitting"].mean()))

    def _conditional(self, plan: RoundPlan, second, g, dim: int) -> dict[str, np.ndarray]:
        """Per-draw expected error (over the noise) by part, [batch] each."""
        beta, c = plan.coefficients, plan.coding_coefficients
        if beta.ndim == 3:  # per subcarrier: S_f from the coordinates on subcarrier f
            n_sub = beta.shape[1]
            if g is not None:
                sub = np.stack([g[:, f::n_sub] @ g[:, f::n_sub].T for f in range(n_sub)])
                counts = np.array([g[:, f::n_sub].shape[1] for f in range(n_sub)])
            else:
                counts = np.bincount(np.arange(dim) % n_sub, minlength=n_sub)
                sub = np.stack([second.gram(beta.shape[-1]) * (cnt / dim) for cnt in counts])
            noise = np.sum(plan.noise_std**2 * counts, axis=1)
            per = conditional_error(c, beta, np.zeros(beta.shape[:2]), sub[None])
            out = {k: v.sum(axis=1) for k, v in per.items()}
            out["noise"] = noise
            out["total"] = out["total"] + noise
        else:
            out = conditional_error(c, beta, plan.noise_std**2 * dim, second)
        out["n_transmitting"] = plan.responders.reshape(beta.shape[0], -1).sum(-1) / (
            1 if beta.ndim == 2 else beta.shape[1])
        return out


def _per_coordinate(values: np.ndarray, dim: int, per_subcarrier: bool) -> np.ndarray:
    """Per-row values at each coordinate: flat fading keeps ``[batch, ...]``; per subcarrier
    ``[batch, F, ...]`` becomes ``[batch, D, ...]`` (coordinate ``d`` on subcarrier
    ``d mod F``)."""
    if per_subcarrier:
        return values[:, np.arange(dim) % values.shape[1]]
    return values


def _combine_rows(weights: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``sum_j w_j v_j`` per batch row and coordinate.

    ``weights`` [batch, m] (flat) or [batch, D, m] (per coordinate); ``vectors`` [m, D] or
    [batch, m, D]. Returns [batch, D].
    """
    if weights.ndim == 2:
        if vectors.ndim == 2:
            return weights @ vectors
        return np.einsum("bm,bmd->bd", weights, vectors)
    if vectors.ndim == 2:
        return np.einsum("bdm,md->bd", weights, vectors)
    return np.einsum("bdm,bmd->bd", weights, vectors)
