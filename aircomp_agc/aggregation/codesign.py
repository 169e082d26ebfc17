"""Joint co-design of the coding layer and the channel layer of coded over-the-air aggregation.

:func:`codesign` searches code family x row weight (the storage) x truncation threshold x
allocation policy for the least expected end-to-end error of one round, or for the least
storage that meets a target error, and compares the optimum with the **per-layer choice**
that two separate designers would make:

* the *coding layer alone* picks the code with the least coding error under compute
  stragglers and an ideal channel (every compute responder is heard exactly, no noise);
* the *channel layer alone* picks the threshold and the policy with the least error of the
  **uncoded** over-the-air sum on the same channel, every device computing (the classical
  AirComp problem: truncation trades noise amplification against lost devices;
  ``channel_layer_stragglers=True`` lets it see the compute stragglers too);

and evaluates that pair end to end. Both choices are points of the searched grid, so with
the common random numbers used here the joint optimum is never worse than the per-layer
choice (the ratio ``per_layer / joint >= 1`` holds exactly, not only up to Monte-Carlo
noise).

How the search stays cheap
--------------------------
* **Common random numbers.** One straggler draw and one channel draw (``n_draws``
  realizations) serve every grid point: each point plans the same realizations (the same
  seed), so the surface is smooth and every comparison between two points is paired.
* **No D-dimensional work per grid point.** Given gradients ``G`` ``[k, D]``, the Gram
  matrix ``S = G G^T`` is formed once; the message RMS ``s_i`` comes from ``B S B^T`` and
  the expected error over the receiver noise is a closed form in the plan
  (:func:`~aircomp_agc.aggregation.error.conditional_error`). A
  :class:`~aircomp_agc.aggregation.messages.GradientModel` needs no gradients at all.
* **Decodes are reused.** Per code, every responder set is decoded once: thresholds that
  leave a realization with the same responders, the policies (which share the truncation)
  and the policies' re-decodes all hit one cache keyed by the packed responder mask; the
  new masks of a call are deduplicated and decoded in one batched call.

All errors are **normalized**: ``E||estimate - exact||^2 / ||sum_j g_j||^2`` (the
expectation of ``||sum_j g_j||^2`` under a gradient model).
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from channels import ChannelModel, make_channel
from channels.noise import noise_var_from_snr_db

from .._checks import Estimate, check_int, check_real, mean_ci, resolve_rng
from ..coding import (
    Code,
    StragglerModel,
    code_tags,
    decoding_vectors,
    make_code,
    make_stragglers,
    storage_params,
)
from .error import conditional_error, quadratic_form
from .messages import GradientModel, check_gradients
from .plan import coefficient_vectors
from .policies import AGGREGATION_POLICIES, AllocationPolicy, resolve_policy
from .round import CodedAirComp

__all__ = [
    "CodesignPoint",
    "CodesignResult",
    "DecodeCache",
    "LayerPoint",
    "codesign",
    "default_policies",
]

OWNER = "codesign"

#: Options of :class:`CodedAirComp` that :func:`codesign` forwards (``round_options``).
ROUND_OPTIONS = ("csi_error_var", "phase_max", "n_rx_ant", "beamformer")

#: Normalized coding errors closer than this count as equal (round-off of exact decodes).
TIE = 1e-12

#: Columns of :meth:`CodesignResult.table` (one row per grid point).
COLUMNS = ("code", "row_weight", "storage", "threshold", "policy", "mean", "ci_low",
           "ci_high", "coding", "misalignment", "noise", "coding*misalignment",
           "n_transmitting")


def default_policies() -> tuple[str, ...]:
    """``("optimal_power", "zero_forcing")`` plus every policy registered in
    :data:`~aircomp_agc.aggregation.policies.AGGREGATION_POLICIES` (the correlation-aware
    ones), read when :func:`codesign` is called."""
    return ("optimal_power", "zero_forcing", *AGGREGATION_POLICIES.names())


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CodesignPoint:
    """One grid point evaluated end to end (normalized errors).

    Attributes
    ----------
    code : str
        Code name (``Code.name``).
    row_weight : int
        The storage parameter the code was built with (its storage for codes without one).
    storage : int
        ``Code.storage``: partitions the busiest worker stores.
    threshold : float
        Truncation threshold on the known gain ``|h_i|^2``.
    policy : str
        Allocation policy label.
    error : Estimate
        ``E||estimate - exact||^2 / ||sum_j g_j||^2`` over the draws.
    parts : dict of float
        Normalized means of ``coding``, ``misalignment``, ``noise`` and the cross term
        ``coding*misalignment``; they add up to ``error.mean``.
    n_transmitting : float
        Mean number of devices that transmitted.
    index : int
        Row of the point in :attr:`CodesignResult.surface` (and of its per-draw errors in
        :attr:`CodesignResult.samples`).
    """

    code: str
    row_weight: int
    storage: int
    threshold: float
    policy: str
    error: Estimate
    parts: dict[str, float]
    n_transmitting: float
    index: int = -1

    @property
    def mean(self) -> float:
        return float(self.error.mean)

    @property
    def ci_low(self) -> float:
        return float(self.error.ci_low)

    @property
    def ci_high(self) -> float:
        return float(self.error.ci_high)

    @property
    def key(self) -> tuple[str, int, float, str]:
        return (self.code, self.row_weight, self.threshold, self.policy)

    def as_row(self) -> dict[str, Any]:
        """The point as one flat table row (keys :data:`COLUMNS`)."""
        return {"code": self.code, "row_weight": self.row_weight, "storage": self.storage,
                "threshold": self.threshold, "policy": self.policy, "mean": self.mean,
                "ci_low": self.ci_low, "ci_high": self.ci_high, **self.parts,
                "n_transmitting": self.n_transmitting}

    def describe(self) -> str:
        return (f"{self.code} (row_weight={self.row_weight}, storage={self.storage}), "
                f"threshold={self.threshold:g}, policy={self.policy}: error {self.mean:.4g} "
                f"[{self.ci_low:.4g}, {self.ci_high:.4g}]")


@dataclass(frozen=True)
class LayerPoint:
    """A choice made by one layer alone, with the error that layer sees (normalized).

    For the coding layer: a code (``threshold``/``policy`` empty) and its coding error with
    an ideal channel. For the channel layer: a threshold and a policy and the end-to-end
    error of the uncoded sum, every device computing (``code="uncoded"``).
    """

    code: str
    row_weight: int
    storage: int
    threshold: float
    policy: str
    error: Estimate

    @property
    def mean(self) -> float:
        return float(self.error.mean)

    def as_row(self) -> dict[str, Any]:
        return {"code": self.code, "row_weight": self.row_weight, "storage": self.storage,
                "threshold": self.threshold, "policy": self.policy, "mean": self.mean,
                "ci_low": float(self.error.ci_low), "ci_high": float(self.error.ci_high)}


@dataclass(frozen=True)
class CodesignResult:
    """What :func:`codesign` found.

    Attributes
    ----------
    best : CodesignPoint
        The joint optimum: least error (``mode == "error"``), or least storage whose error
        meets ``target_error`` (ties: least error) (``mode == "target"``).
    surface : tuple of CodesignPoint
        Every grid point, code-major (code, row weight, threshold, policy).
    per_layer : CodesignPoint
        The per-layer choice (code from :attr:`coding_layer`, threshold and policy from
        :attr:`channel_layer`) evaluated end to end; a point of :attr:`surface`.
    coding_layer : tuple of LayerPoint
        Coding error of every code with an ideal channel (compute stragglers only).
    channel_layer : tuple of LayerPoint
        End-to-end error of the uncoded sum for every threshold and policy (no compute
        stragglers unless ``channel_layer_stragglers``).
    code_choice, channel_choice : LayerPoint
        What each layer picks alone.
    ratio : float
        ``per_layer.mean / best.mean`` (``>= 1`` in error mode).
    gap : Estimate
        Paired difference ``per_layer - best`` of the normalized error, draw by draw.
    samples : ndarray [n_points, n_draws]
        Per-draw normalized error of every surface point (common random numbers: column
        ``j`` is the same straggler and channel realization for every point).
    mode : {"error", "target"}
    storage_budget, target_error : float or None
    n_draws : int
    skipped : tuple of (code, row_weight, reason)
        Grid codes that were not evaluated (construction failed, or storage above budget).
    info : dict
        ``decodes_requested`` / ``decodes_run`` (responder sets asked of the decoder and
        actually decoded), ``seconds`` and its split.
    """

    best: CodesignPoint
    surface: tuple[CodesignPoint, ...]
    per_layer: CodesignPoint
    coding_layer: tuple[LayerPoint, ...]
    channel_layer: tuple[LayerPoint, ...]
    code_choice: LayerPoint
    channel_choice: LayerPoint
    ratio: float
    gap: Estimate
    samples: np.ndarray
    mode: str
    storage_budget: float | None
    target_error: float | None
    n_draws: int
    skipped: tuple[tuple[str, int, str], ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def storage_ratio(self) -> float:
        """``per_layer.storage / best.storage``."""
        return self.per_layer.storage / self.best.storage

    def table(self) -> list[dict[str, Any]]:
        """The surface as a tidy table: one dict per grid point (keys :data:`COLUMNS`)."""
        return [p.as_row() for p in self.surface]

    def columns(self) -> dict[str, np.ndarray]:
        """The surface column by column (``numpy`` arrays, keys :data:`COLUMNS`)."""
        rows = self.table()
        return {c: np.array([r[c] for r in rows]) for c in COLUMNS}

    def point(self, code: str, row_weight: int, threshold: float, policy: str) -> CodesignPoint:
        """The surface point with these settings (``ValueError`` if not on the grid)."""
        for p in self.surface:
            if p.key == (code, row_weight, threshold, policy):
                return p
        raise ValueError(f"No grid point code={code!r}, row_weight={row_weight!r}, "
                         f"threshold={threshold!r}, policy={policy!r} on the surface.")

    def format(self, top: int | None = None) -> str:
        """The surface as aligned text, best first (``top`` rows)."""
        rows = sorted(self.surface, key=lambda p: p.mean)[:top]
        head = (f"{'code':<12}{'w':>3}{'stor':>5}{'thr':>7}  {'policy':<22}{'error':>10}"
                f"{'ci_low':>10}{'ci_high':>10}{'coding':>10}{'misal':>10}{'noise':>10}"
                f"{'cross':>10}{'tx':>7}")
        lines = [head]
        for p in rows:
            lines.append(
                f"{p.code:<12}{p.row_weight:>3}{p.storage:>5}{p.threshold:>7.3g}  "
                f"{p.policy[:21]:<22}{p.mean:>10.4g}{p.ci_low:>10.4g}{p.ci_high:>10.4g}"
                f"{p.parts['coding']:>10.3g}{p.parts['misalignment']:>10.3g}"
                f"{p.parts['noise']:>10.3g}{p.parts['coding*misalignment']:>10.3g}"
                f"{p.n_transmitting:>7.1f}")
        return "\n".join(lines)

    def summary(self) -> str:
        """A few lines: the optimum, the per-layer choice and the ratio."""
        return "\n".join([
            f"joint     : {self.best.describe()}",
            f"per-layer : {self.per_layer.describe()}",
            f"  code alone    : {self.code_choice.code} row_weight={self.code_choice.row_weight}"
            f" (coding error {self.code_choice.mean:.4g} with an ideal channel)",
            f"  channel alone : threshold={self.channel_choice.threshold:g}, "
            f"policy={self.channel_choice.policy} (uncoded error {self.channel_choice.mean:.4g})",
            f"ratio per-layer/joint = {self.ratio:.4g}; paired gap {self.gap}",
        ])


# --------------------------------------------------------------------------- decode cache


class DecodeCache:
    """A decoder ``(code, masks[R, n]) -> a[R, n]`` that decodes each responder set once.

    Masks are keyed by their packed bits; the new masks of a call are deduplicated and
    decoded in one batched call of the wrapped decoder. One cache serves one code (call
    :meth:`clear` before switching codes: the key does not include the code).

    Parameters
    ----------
    decoder : str or callable
        A method of :func:`aircomp_agc.coding.decoding_vectors`, or a callable
        ``(code, masks) -> a``.
    """

    def __init__(self, decoder: Any = "lstsq") -> None:
        self.decoder = decoder
        self._store: dict[bytes, np.ndarray] = {}
        self.requested = 0
        self.decoded = 0
        self.seconds = 0.0

    def clear(self) -> None:
        self._store.clear()

    def __call__(self, code: Code, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=bool)
        shape = masks.shape
        flat = masks.reshape(-1, shape[-1])
        self.requested += flat.shape[0]
        if flat.shape[0] == 0:
            return np.zeros(shape)
        packed = np.ascontiguousarray(np.packbits(flat, axis=-1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        byte_keys = [u.tobytes() for u in uniq]
        new = [i for i, b in enumerate(byte_keys) if b not in self._store]
        if new:
            rows = first[new]
            t0 = time.perf_counter()
            if callable(self.decoder):
                a = np.asarray(self.decoder(code, flat[rows]), dtype=np.float64)
                a = np.where(flat[rows], a, 0.0)
            else:
                a = decoding_vectors(code, flat[rows], method=self.decoder)
            self.seconds += time.perf_counter() - t0
            self.decoded += len(new)
            for i, row in zip(new, a, strict=True):
                self._store[byte_keys[i]] = row
        out = np.stack([self._store[b] for b in byte_keys])[inverse.ravel()]
        return out.reshape(shape)


# --------------------------------------------------------------------------- helpers


def _estimate(x: np.ndarray, confidence: float) -> Estimate:
    if np.all(np.isfinite(x)):
        return mean_ci(x, confidence, owner=OWNER)
    m = float(np.mean(x)) if not np.any(np.isnan(x)) else math.nan
    return Estimate(m, math.inf, m, math.inf, x.size, confidence)


def _seq(name: str, value, *, item: str) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        value = (value,)
    value = tuple(value)
    if not value:
        raise ValueError(f"The '{name}' parameter of {OWNER} must list at least one {item}; "
                         f"got {value!r}.")
    return value


def _label(name: str, params: Mapping[str, Any]) -> str:
    if not params:
        return name
    return name + "(" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")"


def _resolve_policies(policies) -> list[tuple[str, AllocationPolicy]]:
    """``(label, policy)`` for every policy of the grid (labels are unique)."""
    out = []
    for spec in _seq("policies", policies, item="policy"):
        try:
            resolved = resolve_policy(spec)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"The 'policies' parameter of {OWNER} holds an unusable policy "
                            f"{spec!r}: {exc}") from None
        if isinstance(spec, str):
            label = spec
        elif isinstance(spec, dict):
            label = _label(str(spec.get("name")), {k: v for k, v in spec.items() if k != "name"})
        else:
            label = _label(resolved.name, getattr(spec, "params", None) or resolved.params)
        out.append((label, resolved))
    labels = [lab for lab, _ in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"The 'policies' parameter of {OWNER} must not repeat a policy; got "
                         f"{labels!r}.")
    return out


def _code_seed(entropy: int, name: str, weight: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy, spawn_key=(zlib.crc32(name.encode()), int(weight)))


def _build_codes(codes, row_weights, n: int, storage_budget, entropy: int):
    """Grid codes ``[(code, row_weight)]`` within the budget, and what was skipped."""
    built: list[tuple[Code, int]] = []
    skipped: list[tuple[str, int, str]] = []
    for spec in _seq("codes", codes, item="code"):
        if isinstance(spec, Code):
            if spec.n_workers != n:
                raise ValueError(f"The 'codes' parameter of {OWNER} holds a code with "
                                 f"{spec.n_workers} workers but n={n} devices: {spec!r}.")
            candidates = [(spec, int(spec.params.get("row_weight", spec.storage)), None)]
        elif isinstance(spec, str):
            storage_param = code_tags(spec)["storage_param"]  # unknown names raise
            candidates = []
            for w in row_weights if storage_param else row_weights[:1]:
                try:
                    code = make_code(spec, rng=np.random.default_rng(
                        _code_seed(entropy, spec, w)), n=n, **storage_params(spec, w))
                except ValueError as exc:
                    candidates.append((None, w, str(exc)))
                    continue
                candidates.append((code, w if storage_param else code.storage, None))
        else:
            raise TypeError(f"The 'codes' parameter of {OWNER} must hold code names or Code "
                            f"objects; got {type(spec).__name__} {spec!r}.")
        for code, w, reason in candidates:
            name = spec if isinstance(spec, str) else spec.name
            if code is None:
                skipped.append((name, w, reason))
            elif storage_budget is not None and code.storage > storage_budget:
                skipped.append((name, w, f"storage {code.storage} above the budget "
                                         f"{storage_budget:g}"))
            else:
                built.append((code, w))
    return built, skipped


def _message_rms(code: Code, second, dim: int) -> np.ndarray:
    """``s_i = sqrt((B S B^T)_ii / D)`` from the partition Gram matrix (no D-dim work)."""
    B = code.B
    if isinstance(second, GradientModel):
        rows = np.asarray(B.sum(axis=1)).ravel()
        sq = np.asarray(B.multiply(B).sum(axis=1)).ravel()
        diag = second.mean_energy * rows**2 + second.heterogeneity * sq
    else:
        BS = np.asarray(B @ second)
        diag = np.asarray(B.multiply(BS).sum(axis=1)).ravel()
    return np.sqrt(np.maximum(diag, 0.0) / dim)


# --------------------------------------------------------------------------- the search


def codesign(
    *,
    n: int,
    stragglers: StragglerModel | str | None,
    power: float | np.ndarray = 1.0,
    noise_var: float | None = None,
    snr_db: float | None = None,
    channel: str | ChannelModel = "rayleigh",
    gradients=None,
    gradient_model: GradientModel | None = None,
    codes: Sequence[str | Code] = ("approx-frc", "bgc", "graph"),
    row_weights: Sequence[int] = (1, 2, 3, 4, 6, 8),
    thresholds: Sequence[float] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3),
    policies: Sequence[Any] | None = None,
    storage_budget: float | None = None,
    target_error: float | None = None,
    decoder: Any = "lstsq",
    n_draws: int = 1000,
    confidence: float = 0.95,
    round_options: Mapping[str, Any] | None = None,
    channel_layer_stragglers: bool = False,
    rng=None,
) -> CodesignResult:
    """Search code x row weight x truncation threshold x policy for one coded AirComp round.

    Parameters
    ----------
    n : int >= 2
        Devices (= workers of every code; codes are built with ``n_partitions = n``).
    stragglers : StragglerModel, str or None
        Compute stragglers.
    power : float or array [n]
        Power budget ``P_i``.
    noise_var, snr_db : float
        Exactly one: receiver noise variance, or transmit SNR at unit gain (see
        :class:`~aircomp_agc.aggregation.CodedAirComp`).
    channel : str or ChannelModel
        Flat (block) fading: models with a subcarrier axis are rejected.
    gradients : float [n, D], optional
        Partition gradients (the search uses their Gram matrix only, which is also the
        oracle second moments of correlation-aware policies).
    gradient_model : GradientModel, optional
        Exactly one of ``gradients`` and ``gradient_model``.
    codes : names or Code objects
        Named codes are built for every row weight, read through their ``storage_param``
        tag: ``row_weight=w``, or ``s = w - 1`` for exact codes (storage ``s + 1``); codes
        without a storage parameter are built once. Constructions that refuse a row weight
        (e.g. ``frc`` needs ``s + 1`` to divide ``n``) are listed in
        :attr:`CodesignResult.skipped`. Code objects are taken as they are. A randomized
        code is drawn once per (name, row weight), seeded from ``rng``: the surface and its
        intervals are conditional on that draw (pass several Code objects to compare
        draws).
    row_weights : ints >= 1
    thresholds : floats >= 0
        Truncation thresholds on the known ``|h_i|^2``.
    policies : sequence, optional
        Allocation policies (names, bound power-control policies, ``{"name": ...}``
        tables). Default :func:`default_policies`: the standard pipeline with optimal power
        and with zero forcing, plus the registered correlation-aware policies. Those solve
        box-constrained quadratic programs per realization and cost far more per grid
        point than the standard ones (tens of ms per draw against tens of microseconds);
        with a ``gradient_model`` their ``-model`` variants see the same second moments as
        the oracle ones. Pass ``policies`` explicitly for large grids.
    storage_budget : float >= 1, optional
        Only codes with ``storage <= storage_budget`` are searched (and chosen by the
        coding layer alone).
    target_error : float > 0, optional
        Target mode: the least storage whose mean normalized error is ``<= target_error``
        (ties: the least error). The coding layer alone then picks the least storage whose
        coding error meets the target (the least coding error if none does).
    decoder : str or callable
    n_draws : int >= 2
        Straggler-and-channel realizations, shared by every grid point.
    confidence : float
    round_options : mapping, optional
        Forwarded to :class:`CodedAirComp`: ``csi_error_var``, ``phase_max``,
        ``n_rx_ant``, ``beamformer``.
    channel_layer_stragglers : bool, default False
        Whether the channel layer alone tunes the uncoded sum under the same compute
        stragglers (``True``) or with every device computing (``False``, a channel designer
        who knows nothing of the computation).
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    CodesignResult
    """
    t_start = time.perf_counter()
    n = check_int("n", n, low=2, owner=OWNER)
    n_draws = check_int("n_draws", n_draws, low=2, owner=OWNER)
    if (noise_var is None) == (snr_db is None):
        raise ValueError(f"Exactly one of the 'noise_var' and 'snr_db' parameters of {OWNER} "
                         f"must be given; got noise_var={noise_var!r}, snr_db={snr_db!r}.")
    if storage_budget is not None:
        if isinstance(storage_budget, bool) or not isinstance(storage_budget, (int, float)) \
                or not storage_budget >= 1:
            raise ValueError(f"The 'storage_budget' parameter of {OWNER} must be a number >= 1 "
                             f"(every worker stores at least one partition); got "
                             f"{storage_budget!r}.")
    if target_error is not None:
        target_error = check_real("target_error", target_error, low=0.0, low_open=True,
                                  owner=OWNER)
    thresholds = tuple(dict.fromkeys(check_real("thresholds", t, low=0.0, owner=OWNER)
                                     for t in _seq("thresholds", thresholds, item="threshold")))
    row_weights = tuple(dict.fromkeys(check_int("row_weights", w, low=1, high=n, owner=OWNER)
                                      for w in _seq("row_weights", row_weights,
                                                    item="row weight")))
    pol = _resolve_policies(default_policies() if policies is None else policies)
    options = dict(round_options or {})
    unknown = sorted(set(options) - set(ROUND_OPTIONS))
    if unknown:
        raise ValueError(f"The 'round_options' parameter of {OWNER} accepts "
                         f"{', '.join(ROUND_OPTIONS)}; got {', '.join(map(repr, unknown))}.")
    if not isinstance(channel_layer_stragglers, (bool, np.bool_)):
        raise TypeError(f"The 'channel_layer_stragglers' parameter of {OWNER} must be a bool; "
                        f"got {channel_layer_stragglers!r}.")
    chan = make_channel(channel) if isinstance(channel, str) else channel
    if not isinstance(chan, ChannelModel):
        raise TypeError(f"The 'channel' parameter of {OWNER} must be a channel name or a "
                        f"ChannelModel; got {type(channel).__name__}.")
    if chan.extra_axes:
        raise ValueError(f"The 'channel' parameter of {OWNER} must be flat (block) fading; "
                         f"got {chan!r} with extra axes {chan.extra_axes}.")
    if isinstance(stragglers, str):
        stragglers = make_stragglers(stragglers)
    if noise_var is None:
        p = np.asarray(power, dtype=np.float64)
        noise_var = noise_var_from_snr_db(snr_db, float(np.max(p)))

    uncoded = make_code("uncoded", n=n)
    if (gradients is None) == (gradient_model is None):
        raise ValueError(f"Exactly one of the 'gradients' and 'gradient_model' parameters of "
                         f"{OWNER} must be given; got gradients={type(gradients).__name__}, "
                         f"gradient_model={gradient_model!r}.")
    if gradient_model is not None:
        if not isinstance(gradient_model, GradientModel):
            raise TypeError(f"The 'gradient_model' parameter of {OWNER} must be a "
                            f"GradientModel; got {type(gradient_model).__name__}.")
        second: Any = gradient_model
        dim = int(gradient_model.dim)
    else:
        g = check_gradients(uncoded, gradients, OWNER)
        if g.ndim != 2:
            raise ValueError(f"The 'gradients' parameter of {OWNER} must have shape [{n}, D]; "
                             f"got {g.shape}.")
        g = g.astype(np.float64)
        second = g @ g.T
        dim = g.shape[1]
    exact_energy = float(quadratic_form(np.ones(n), second))
    if not exact_energy > 0:
        raise ValueError(f"The 'gradients' parameter of {OWNER} sums to zero; the normalized "
                         f"error is undefined.")

    gen = resolve_rng(rng)
    draw_entropy, code_entropy = (int(x) for x in gen.integers(0, 2**63, size=2))

    def draws() -> np.random.SeedSequence:
        # The same realizations for every grid point (a fresh SeedSequence each time:
        # Generator.spawn advances the one it is given).
        return np.random.SeedSequence(draw_entropy)

    built, skipped = _build_codes(codes, row_weights, n, storage_budget, code_entropy)
    if not built:
        why = "; ".join(f"{c} row_weight={w}: {r}" for c, w, r in skipped[:4])
        raise ValueError(f"No code of the 'codes' parameter of {OWNER} could be searched "
                         f"(storage_budget={storage_budget!r}): {why}.")

    def plan_errors(code: Code, cache: DecodeCache, threshold: float, policy, strag):
        agg = CodedAirComp(code=code, channel=chan, power_control=policy, power=power,
                           noise_var=noise_var, stragglers=strag, threshold=threshold,
                           decoder=cache, **options)
        plan = agg.plan(_message_rms(code, second, dim), batch=n_draws, second_moments=second,
                        dim=dim, rng=draws())
        parts = conditional_error(plan.coding_coefficients, plan.coefficients,
                                  plan.noise_std**2 * dim, second)
        return plan, {k: v / exact_energy for k, v in parts.items()}

    t_plan = 0.0
    cache = DecodeCache(decoder)
    requested = decoded = 0
    decode_seconds = 0.0

    # ---- the channel layer alone: uncoded sum (every device computing, by default)
    chan_strag = stragglers if channel_layer_stragglers else None
    channel_layer = []
    t0 = time.perf_counter()
    for thr in thresholds:
        for label, policy in pol:
            _, parts = plan_errors(uncoded, cache, thr, policy, chan_strag)
            channel_layer.append(LayerPoint("uncoded", 1, 1, thr, label,
                                            _estimate(parts["total"], confidence)))
    t_plan += time.perf_counter() - t0
    requested, decoded, decode_seconds = cache.requested, cache.decoded, cache.seconds
    channel_idx = min(range(len(channel_layer)), key=lambda i: channel_layer[i].mean)
    channel_choice = channel_layer[channel_idx]

    # ---- the surface (and the coding layer alone, on the same compute stragglers)
    surface: list[CodesignPoint] = []
    samples: list[np.ndarray] = []
    coding_layer: list[LayerPoint] = []
    compute_masks = None
    t0 = time.perf_counter()
    for code, w in built:
        cache = DecodeCache(decoder)
        for thr in thresholds:
            for label, policy in pol:
                plan, parts = plan_errors(code, cache, thr, policy, stragglers)
                if compute_masks is None:
                    compute_masks = plan.compute_responders
                total = parts["total"]
                surface.append(CodesignPoint(
                    code.name, int(w), code.storage, thr, label,
                    _estimate(total, confidence),
                    {k: float(np.mean(parts[k])) for k in
                     ("coding", "misalignment", "noise", "coding*misalignment")},
                    float(plan.n_transmitting.mean()), len(surface)))
                samples.append(total)
        # Coding layer alone: decode the compute responders, ideal channel.
        a = cache(code, compute_masks)
        c = coefficient_vectors(code, a)
        coding = quadratic_form(c - 1.0, second) / exact_energy
        coding_layer.append(LayerPoint(code.name, int(w), code.storage, 0.0, "",
                                       _estimate(coding, confidence)))
        requested += cache.requested
        decoded += cache.decoded
        decode_seconds += cache.seconds
    t_plan += time.perf_counter() - t0
    sample_arr = np.array(samples)
    means = np.array([p.mean for p in surface])

    # ---- the joint optimum and what each layer picks alone
    if target_error is None:
        mode = "error"
        best = surface[int(np.argmin(means))]
        # Exact codes leave round-off (1e-33) where the coding error is 0: ties within
        # TIE go to the least storage.
        least = min(p.mean for p in coding_layer)
        code_idx = min((i for i, p in enumerate(coding_layer) if p.mean <= least + TIE),
                       key=lambda i: (coding_layer[i].storage, coding_layer[i].mean))
    else:
        mode = "target"
        ok = [p for p in surface if p.mean <= target_error]
        if not ok:
            top = surface[int(np.argmin(means))]
            raise ValueError(f"No setting reaches target_error={target_error:g} of {OWNER}; "
                             f"the best reachable is {top.mean:.4g} ({top.code}, "
                             f"row_weight={top.row_weight}, threshold={top.threshold:g}, "
                             f"policy={top.policy}).")
        best = min(ok, key=lambda p: (p.storage, p.mean))
        meet = [i for i, p in enumerate(coding_layer) if p.mean <= target_error]
        code_idx = (min(meet, key=lambda i: (coding_layer[i].storage, coding_layer[i].mean))
                    if meet else min(range(len(coding_layer)),
                                     key=lambda i: coding_layer[i].mean))
    code_choice = coding_layer[code_idx]
    # Surface order is code-major, then threshold, then policy (as the channel layer).
    per_layer = surface[code_idx * len(channel_layer) + channel_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.float64(per_layer.mean) / np.float64(best.mean))
    gap = _estimate(sample_arr[per_layer.index] - sample_arr[best.index], confidence)
    info = {
        "decodes_requested": int(requested), "decodes_run": int(decoded),
        "decode_seconds": decode_seconds, "plan_seconds": t_plan,
        "seconds": time.perf_counter() - t_start, "grid_points": len(surface),
        "dim": dim, "noise_var": float(noise_var), "exact_energy": exact_energy,
    }
    return CodesignResult(
        best=best, surface=tuple(surface), per_layer=per_layer,
        coding_layer=tuple(coding_layer), channel_layer=tuple(channel_layer),
        code_choice=code_choice, channel_choice=channel_choice, ratio=ratio, gap=gap,
        samples=sample_arr, mode=mode, storage_budget=storage_budget,
        target_error=target_error, n_draws=n_draws, skipped=tuple(skipped), info=info)
