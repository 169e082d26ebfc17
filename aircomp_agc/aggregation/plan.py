"""Plan one coded over-the-air round: who transmits, decoder weights, powers and ``eta``.

The plan needs no gradients, only the RMS ``s_i`` of each coded message (side
information) and, for the correlation-aware policies, second moments of the partition
gradients. It follows the data flow of a round (``../README`` section "Coded over-the-air
aggregation"):

1. compute stragglers (a mask from any straggler model) and a channel draw;
2. **channel stragglers**: devices whose known channel gain is below ``threshold`` stay
   silent (truncation); responders ``T`` = compute responders AND scheduled;
3. an :class:`Allocation` from the policy: decoder weights ``a(T)``, transmit powers and the
   denoising factor ``eta``. The standard policy decodes, then runs a power-control policy
   of :mod:`channels.power_control` on the targets ``a_i s_i``; when the policy silences a
   device with ``a_i != 0`` it decodes again without it, until nobody else is silenced;
4. impairments: the true received coefficient of ``x_i`` is
   ``r_i = Re{ m^H h_i b_i } / sqrt(eta)`` with ``b_i`` phase-aligned on the *known*
   channel (imperfect CSI ``h = hhat + e``, residual phase ``phi_i``), and the in-phase
   noise has variance ``sigma^2 ||m||^2 / (2 eta)`` per coordinate.

Real-gradient convention: each real coordinate occupies one complex channel use and the
receiver keeps the in-phase part ``Re{y}``, so a round costs ``D`` channel uses and the
noise on a coordinate is **half** the complex noise variance. Power control therefore runs
with ``noise_var / 2`` (times ``||m||^2`` with a beamformer). The power budget ``P_i``
bounds the mean power over the round (``x_i`` has unit mean power per coordinate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from channels import ChannelModel, make_channel
from channels.noise import noise_var_from_snr_db

from .._checks import check_real
from ..coding import Code, StragglerModel, decoding_vectors, make_stragglers

__all__ = ["Allocation", "PlanContext", "RoundPlan", "coefficient_vectors", "link_config"]


@dataclass(frozen=True)
class PlanContext:
    """What a policy may use to allocate one batch of rounds (rows ``R``).

    Attributes
    ----------
    code : Code
    candidates : bool [R, n]
        Compute responders that the truncation rule scheduled.
    s : float [R, n]
        Message RMS ``s_i`` (side information; 0 for an all-zero message).
    gain2 : float [R, n]
        Known effective channel power gains ``|m^H hhat_i|^2``.
    power : float [R, n]
        Power budgets ``P_i``.
    noise_var : float [R]
        Noise variance per real coordinate at the receiver's output before scaling,
        ``sigma^2 ||m||^2 / 2``.
    decoder : str or callable
        The decoder (method of :func:`aircomp_agc.coding.decoding_vectors`, or a callable
        ``(code, mask[R, n]) -> a[R, n]``).
    second_moments : ndarray or GradientModel or None
        ``S = E[G G^T]``: an array ``[k, k]`` / ``[R, k, k]`` (oracle Gram) or a model.
    dim : int
        ``D``, coordinates per round.
    """

    code: Code
    candidates: np.ndarray
    s: np.ndarray
    gain2: np.ndarray
    power: np.ndarray
    noise_var: np.ndarray
    decoder: Any
    second_moments: Any = None
    dim: int = 1

    def decode(self, mask: np.ndarray) -> np.ndarray:
        """Decoder weights ``a`` [R', n] for responder masks [R', n] (zero off the mask)."""
        if callable(self.decoder):
            a = np.asarray(self.decoder(self.code, mask), dtype=np.float64)
            if a.shape != mask.shape:
                raise ValueError(
                    f"The 'decoder' callable must return weights of shape {mask.shape}; got "
                    f"{a.shape}."
                )
            return np.where(mask, a, 0.0)
        return decoding_vectors(self.code, mask, method=self.decoder)


@dataclass(frozen=True)
class Allocation:
    """A policy's decision for ``R`` rounds.

    Attributes
    ----------
    weights : float [R, n]
        Decoder weights ``a_i`` (zero for silent devices).
    power : float [R, n]
        Transmit powers ``p_i <= P_i`` (zero: silent).
    eta : float [R]
        Denoising factor (``inf``: nobody transmits, the estimate is zero).
    sign : float [R, n]
        Sign of each device's received coefficient (``-1``, ``0``, ``+1``).
    n_decodes : int
        Decoder calls made (re-decoding after a policy silenced devices counts).
    policy : str
    """

    weights: np.ndarray
    power: np.ndarray
    eta: np.ndarray
    sign: np.ndarray
    n_decodes: int = 1
    policy: str = ""


def coefficient_vectors(code: Code, device_coefficients: np.ndarray) -> np.ndarray:
    """``B^T w`` for a batch of per-device coefficients ``w`` [..., n]: [..., k]."""
    w = np.asarray(device_coefficients, dtype=np.float64)
    flat = w.reshape(-1, code.n_workers)
    out = np.asarray((code.B.T @ flat.T).T)
    return out.reshape(*w.shape[:-1], code.n_partitions)


@dataclass(frozen=True)
class RoundPlan:
    """Everything about a batch of rounds that does not need the gradients.

    Shapes: ``L`` is the leading shape, ``[batch]`` or ``[batch, n_subcarriers]`` when the
    channel varies over subcarriers (coordinate ``d`` rides on subcarrier ``d mod F``).

    Attributes
    ----------
    compute_responders, scheduled, responders : bool [*L, n]
        Workers that finished computing; devices the truncation rule let transmit; devices
        that actually transmitted (``power > 0``).
    decoder_weights : float [*L, n]
        ``a_i``, zero off the responders.
    s : float [*L, n]
        Message RMS used to normalize (side information).
    gain2 : float [*L, n]
        Known effective channel gains ``|m^H hhat_i|^2`` power control used.
    power : float [*L, n]
    eta : float [*L]
    received : float [*L, n]
        True received coefficient ``r_i`` of the unit-power message ``x_i``.
    noise_std : float [*L]
        Standard deviation of the noise on one coordinate of the estimate.
    coding_coefficients : float [*L, k]
        ``c = B^T a``: the decoded combination of partitions (coding layer alone).
    coefficients : float [*L, k]
        ``beta = B^T (r / s)``: the combination of partitions the receiver actually gets.
    policy : str
    n_decodes : int
    """

    compute_responders: np.ndarray
    scheduled: np.ndarray
    responders: np.ndarray
    decoder_weights: np.ndarray
    s: np.ndarray
    gain2: np.ndarray
    power: np.ndarray
    eta: np.ndarray
    received: np.ndarray
    noise_std: np.ndarray
    coding_coefficients: np.ndarray
    coefficients: np.ndarray
    policy: str = ""
    n_decodes: int = 1
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Leading shape ``L``."""
        return tuple(self.eta.shape)

    @property
    def n_transmitting(self) -> np.ndarray:
        """Devices that transmitted, ``[*L]``."""
        return self.responders.sum(axis=-1)

    @property
    def energy(self) -> np.ndarray:
        """Transmit energy of the round per unit channel use, summed over devices, ``[*L]``."""
        return self.power.sum(axis=-1)

    @property
    def noise_energy(self) -> np.ndarray:
        """Expected noise energy of one coordinate, ``noise_std^2`` ``[*L]``."""
        return self.noise_std**2


def link_config(owner: str, n: int, channel, power, noise_var, snr_db, stragglers):
    """Validated ``(channel model, power [n], noise_var, straggler model)`` of an aggregator.

    Shared by every aggregator's constructor: a channel name or instance, a positive power
    budget (scalar or one per device), exactly one of ``noise_var`` and ``snr_db`` (transmit
    SNR at unit gain for the largest budget), and a straggler model, name or ``None``.
    """
    model = make_channel(channel) if isinstance(channel, str) else channel
    if not isinstance(model, ChannelModel):
        raise TypeError(f"The 'channel' parameter of {owner} must be a channel name or a "
                        f"ChannelModel; got {type(channel).__name__}.")
    p = np.asarray(power, dtype=np.float64)
    if p.ndim > 1 or (p.ndim == 1 and p.shape != (n,)) or not np.all(np.isfinite(p)) \
            or np.any(p <= 0):
        raise ValueError(f"The 'power' parameter of {owner} must be a positive finite float "
                         f"or an array of {n} (one per device); got {power!r}.")
    p = np.broadcast_to(p, (n,)).copy()
    if (noise_var is None) == (snr_db is None):
        raise ValueError(f"Exactly one of the 'noise_var' and 'snr_db' parameters of {owner} "
                         f"must be given; got noise_var={noise_var!r}, snr_db={snr_db!r}.")
    if noise_var is None:
        noise_var = noise_var_from_snr_db(snr_db, float(p.max()))
    noise_var = check_real("noise_var", noise_var, low=0.0, low_open=True, owner=owner)
    if isinstance(stragglers, str):
        stragglers = make_stragglers(stragglers)
    if stragglers is not None and not isinstance(stragglers, StragglerModel):
        raise TypeError(f"The 'stragglers' parameter of {owner} must be a StragglerModel, "
                        f"a name or None; got {type(stragglers).__name__}.")
    return model, p, noise_var, stragglers
