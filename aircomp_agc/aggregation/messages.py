"""Coded messages, their normalization, Gram matrices and gradient models.

Worker ``i`` holds the partitions ``supp(B[i, :])`` and computes the coded message

.. math:: f_i = \\sum_j B_{ij}\\, g_j = (B G)_i, \\qquad G = [g_1, \\dots, g_k]^T \\in
          \\mathbb R^{k \\times D}.

Before transmitting, each responder normalizes its message to unit mean power per
coordinate, ``x_i = f_i / s_i`` with ``s_i = ||f_i|| / sqrt(D)`` (its RMS), and sends the
scalar ``s_i`` to the server as error-free side information (a few bits on a control
channel, negligible against the ``D`` analog channel uses of the payload).

Everything the expected error needs is in the partition Gram matrix ``S = G G^T``
(``k x k``): the message Gram is ``B S B^T`` and ``s_i^2 = (B S B^T)_{ii} / D``. A
:class:`GradientModel` replaces ``S`` by its expectation under the model "common mean plus
i.i.d. heterogeneity",

.. math:: g_j = \\mu + e_j, \\quad \\mathbb E\\, e_j = 0,\\quad
          \\mathbb E\\langle e_j, e_l\\rangle = v\\, \\delta_{jl}
          \\;\\Rightarrow\\; \\mathbb E[S] = m_2 \\mathbf 1 \\mathbf 1^T + v I,
          \\quad m_2 = \\|\\mu\\|^2 .
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_real
from ..coding import Code

__all__ = [
    "GradientModel",
    "check_gradients",
    "coded_rms",
    "encode",
    "message_rms",
    "normalize",
    "partition_gram",
]


def check_gradients(code: Code, gradients, owner: str = "encode") -> np.ndarray:
    """Validate partition gradients ``[k, D]`` or ``[batch, k, D]`` for ``code``.

    Returns a float64 array (float32 is kept as float32).
    """
    g = np.asarray(gradients)
    if g.dtype == object or not (np.issubdtype(g.dtype, np.floating)
                                 or np.issubdtype(g.dtype, np.integer)):
        raise TypeError(
            f"The 'gradients' parameter of {owner} must be a real float array; got dtype "
            f"{g.dtype}."
        )
    if g.ndim not in (2, 3) or g.shape[-2] != code.n_partitions:
        raise ValueError(
            f"The 'gradients' parameter of {owner} must have shape [{code.n_partitions}, D] or "
            f"[batch, {code.n_partitions}, D] (one row per partition of the code); got shape "
            f"{g.shape}."
        )
    if g.shape[-1] < 1:
        raise ValueError(f"The 'gradients' parameter of {owner} must have D >= 1 coordinates; "
                         f"got shape {g.shape}.")
    if not np.all(np.isfinite(g)):
        bad = np.argwhere(~np.isfinite(g))[0].tolist()
        raise ValueError(
            f"The 'gradients' parameter of {owner} must be finite; got "
            f"{float(g[tuple(bad)])!r} at index {bad}."
        )
    if not np.issubdtype(g.dtype, np.floating):
        g = g.astype(np.float64)
    return g


def encode(code: Code, gradients) -> np.ndarray:
    """Coded messages ``F = B G``.

    Parameters
    ----------
    code : Code
        ``B`` is ``[n_workers, k]``.
    gradients : float array, ``[k, D]`` or ``[batch, k, D]``
        Partition gradients ``g_j``.

    Returns
    -------
    F : ndarray, ``[n_workers, D]`` or ``[batch, n_workers, D]``, dtype of ``gradients``
        Row ``i`` is worker ``i``'s message ``f_i = sum_j B_ij g_j`` (one sparse product).
    """
    g = check_gradients(code, gradients, "encode")
    B = code.B.astype(g.dtype)
    if g.ndim == 2:
        return np.asarray(B @ g)
    batch, k, dim = g.shape
    flat = np.moveaxis(g, 0, 1).reshape(k, batch * dim)
    return np.moveaxis(np.asarray(B @ flat).reshape(code.n_workers, batch, dim), 0, 1)


def message_rms(messages: np.ndarray) -> np.ndarray:
    """RMS ``s_i = ||f_i|| / sqrt(D)`` of each message: ``[..., n]`` from ``[..., n, D]``."""
    f = np.asarray(messages)
    return np.sqrt(np.mean(np.square(f, dtype=np.float64), axis=-1))


#: Coordinates per chunk of :func:`coded_rms` (a ``[n, chunk]`` block stays in cache).
_RMS_CHUNK = 512


def coded_rms(code: Code, gradients) -> np.ndarray:
    """``message_rms(encode(code, G))`` without materializing the ``[n, D]`` messages.

    The encoding product runs over chunks of coordinates and only the squared norms are
    kept: one pass, no ``n x D`` temporary (the round computes the RMS of every message
    before anything else, and a fresh ``n x D`` array per round costs page faults as well
    as memory traffic). Batched gradients ``[batch, k, D]`` take the plain path.
    """
    return _coded_rms(code, check_gradients(code, gradients, "coded_rms"))


def _coded_rms(code: Code, g: np.ndarray) -> np.ndarray:
    """:func:`coded_rms` of gradients already checked (``CodedAirComp.round`` checks once)."""
    if g.ndim == 3:
        return message_rms(encode(code, g))
    B = code.B.astype(g.dtype)
    dim = g.shape[1]
    acc = np.zeros(code.n_workers)
    for start in range(0, dim, _RMS_CHUNK):
        f = np.asarray(B @ g[:, start:start + _RMS_CHUNK], dtype=np.float64)
        acc += np.einsum("ij,ij->i", f, f)
    return np.sqrt(acc / dim)


def normalize(messages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-power messages ``x_i = f_i / s_i`` and their RMS ``s_i``.

    A message that is identically zero (a worker storing nothing, or gradients that cancel)
    has ``s_i = 0`` and ``x_i = 0``.

    Returns
    -------
    x : ndarray, shape of ``messages``
    s : float64 ndarray, ``[..., n]``
    """
    f = np.asarray(messages)
    s = message_rms(f)
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    return f * inv[..., None].astype(f.dtype), s


def partition_gram(gradients) -> np.ndarray:
    """``S = G G^T``: ``[k, k]`` (or ``[batch, k, k]``), float64."""
    g = np.asarray(gradients, dtype=np.float64)
    return g @ np.swapaxes(g, -1, -2)


@dataclass(frozen=True)
class GradientModel:
    """Second moments of partition gradients: common mean plus i.i.d. heterogeneity.

    ``E[G G^T] = m2 * 1 1^T + v * I``: ``m2 = ||mu||^2`` is the energy of the mean
    partition gradient, ``v = E||g_j - mu||^2`` the heterogeneity energy of one partition
    (both summed over the ``D`` coordinates).

    Parameters
    ----------
    mean_energy : float >= 0
        ``m2``.
    heterogeneity : float >= 0
        ``v``. ``m2 = 0`` is the isotropic case of the source text, where the normalized
        error is ``||c - 1||^2 / k``.
    dim : int
        ``D``, the number of coordinates (sets the noise energy and the message RMS).
    """

    mean_energy: float
    heterogeneity: float
    dim: int

    def __post_init__(self) -> None:
        m2 = np.asarray(self.mean_energy, dtype=np.float64)
        v = np.asarray(self.heterogeneity, dtype=np.float64)
        if m2.ndim == 0:
            check_real("mean_energy", self.mean_energy, low=0.0, owner="GradientModel")
            check_real("heterogeneity", self.heterogeneity, low=0.0, owner="GradientModel")
        elif not (np.all(np.isfinite(m2)) and np.all(m2 >= 0) and np.all(np.isfinite(v))
                  and np.all(v >= 0)):
            raise ValueError("The 'mean_energy' and 'heterogeneity' parameters of "
                             "GradientModel must be finite and >= 0.")
        if np.any(m2 + v <= 0):
            raise ValueError(
                "The 'mean_energy' and 'heterogeneity' parameters of GradientModel must not "
                "both be 0 (the gradients would be zero)."
            )
        if int(self.dim) != self.dim or self.dim < 1:
            raise ValueError(f"The 'dim' parameter of GradientModel must be an int >= 1; got "
                             f"{self.dim!r}.")

    @classmethod
    def from_gram(cls, gram, *, dim: int = 1) -> GradientModel:
        """The two numbers of a Gram matrix ``S = G G^T`` (``[k, k]`` or ``[R, k, k]``).

        ``m2`` is the mean off-diagonal entry (clipped at 0), ``v`` the mean diagonal entry
        minus ``m2``: the model that matches ``S`` on average. With ``[R, k, k]`` the two
        numbers are arrays ``[R]`` (one model per row).
        """
        S = np.asarray(gram, dtype=np.float64)
        k = S.shape[-1]
        if S.ndim not in (2, 3) or S.shape[-2] != k or k < 2:
            raise ValueError("The 'gram' parameter of GradientModel.from_gram must have shape "
                             f"[k >= 2, k] or [R, k, k]; got {S.shape}.")
        trace = np.trace(S, axis1=-2, axis2=-1)
        off = (S.sum(axis=(-2, -1)) - trace) / (k * (k - 1))
        m2 = np.maximum(off, 0.0)
        v = np.maximum(trace / k - m2, np.finfo(float).tiny)
        if S.ndim == 2:
            return cls(float(m2), float(v), dim)
        return cls(m2, v, dim)

    @classmethod
    def from_ratio(cls, heterogeneity_ratio: float, *, energy: float = 1.0,
                   dim: int = 1) -> GradientModel:
        """Model with ``v / (m2 + v) = heterogeneity_ratio`` and ``m2 + v = energy``.

        ``heterogeneity_ratio = 1`` is the isotropic case (no common mean), ``0`` identical
        partition gradients.
        """
        r = check_real("heterogeneity_ratio", heterogeneity_ratio, low=0.0, high=1.0,
                       owner="GradientModel.from_ratio")
        e = check_real("energy", energy, low=0.0, low_open=True,
                       owner="GradientModel.from_ratio")
        return cls((1.0 - r) * e, r * e, dim)

    @classmethod
    def fit(cls, gradients) -> GradientModel:
        """Moment fit from partition gradients ``[k, D]`` (unbiased for the model).

        ``v = sum_j ||g_j - gbar||^2 / (k - 1)`` and ``m2 = max(0, ||gbar||^2 - v / k)``.
        """
        g = np.asarray(gradients, dtype=np.float64)
        if g.ndim != 2 or g.shape[0] < 2:
            raise ValueError("The 'gradients' parameter of GradientModel.fit must have shape "
                             f"[k >= 2, D]; got {g.shape}.")
        k = g.shape[0]
        mean = g.mean(axis=0)
        v = float(np.sum((g - mean) ** 2) / (k - 1))
        m2 = max(0.0, float(mean @ mean) - v / k)
        if m2 + v == 0:
            v = np.finfo(float).tiny
        return cls(m2, v, g.shape[1])

    @property
    def heterogeneity_ratio(self):
        """``v / (m2 + v)`` in [0, 1]."""
        return self.heterogeneity / (self.mean_energy + self.heterogeneity)

    def gram(self, k: int) -> np.ndarray:
        """``E[G G^T] = m2 11^T + v I``, ``[k, k]`` (``[R, k, k]`` for array models)."""
        m2 = np.asarray(self.mean_energy, dtype=np.float64)[..., None, None]
        v = np.asarray(self.heterogeneity, dtype=np.float64)[..., None, None]
        return m2 * np.ones((k, k)) + v * np.eye(k)

    def quadratic(self, d: np.ndarray) -> np.ndarray:
        """``d^T (m2 11^T + v I) d`` for ``d`` of shape ``[..., k]`` (no ``k x k`` matrix)."""
        d = np.asarray(d, dtype=np.float64)
        return self.mean_energy * d.sum(axis=-1) ** 2 + self.heterogeneity * np.sum(d * d, -1)

    def sample(self, k: int, *, rng=None) -> np.ndarray:
        """Gaussian partition gradients ``[k, D]`` with these second moments (one draw)."""
        from .._checks import resolve_rng

        gen = resolve_rng(rng)
        d = int(self.dim)
        mu = gen.standard_normal(d)
        mu *= np.sqrt(self.mean_energy) / max(np.linalg.norm(mu), 1e-300)
        e = gen.standard_normal((k, d)) * np.sqrt(self.heterogeneity / d)
        return mu[None, :] + e


class OnlineGradientModel:
    """The receiver's running estimate of the gradient model, from what it can know.

    Before decoding round ``t`` the receiver knows the responders' message RMS ``s_i``
    (side information) and its own previous aggregate ``Ghat_{t-1}``. Under the model,
    ``||f_i||^2 = D s_i^2 = m2 (sum_j B_ij)^2 + v sum_j B_ij^2``; the mean-gradient energy
    is taken from the previous aggregate, ``m2 = ||Ghat_{t-1}||^2 / k^2`` (``k mu`` is the
    sum), and ``v`` then follows from the side information by least squares (clipped at
    0). Before the first aggregate ``m2`` is set so that the heterogeneity ratio is
    ``initial_ratio``.

    Use it as ``CodedAirComp(gradient_model=OnlineGradientModel(), power_control="joint")``;
    :func:`aircomp_agc.learning.train` calls :meth:`observe` after every round.
    """

    def __init__(self, *, initial_ratio: float = 0.5) -> None:
        self.initial_ratio = check_real("initial_ratio", initial_ratio, low=0.0, high=1.0,
                                        owner="OnlineGradientModel")
        self.mean_energy: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous aggregate."""
        self.mean_energy = None

    def observe(self, estimate: np.ndarray, n_partitions: int) -> None:
        """Record the aggregate ``Ghat`` ``[batch, D]`` of the round just finished."""
        est = np.asarray(estimate, dtype=np.float64)
        self.mean_energy = np.sum(est * est, axis=-1) / n_partitions**2

    def model(self, code: Code, s: np.ndarray, dim: int) -> GradientModel:
        """The model for a batch of rounds with message RMS ``s`` ``[batch, n]``."""
        B = code.B
        a = np.asarray(B.sum(axis=1)).ravel() ** 2
        b = np.asarray(B.multiply(B).sum(axis=1)).ravel()
        energy = dim * np.asarray(s, dtype=np.float64) ** 2  # [batch, n]
        sent = energy > 0
        n_sent = np.maximum(sent.sum(-1), 1)
        mean_e = np.sum(energy * sent, -1) / n_sent
        mean_a = np.sum(a * sent, -1) / n_sent
        mean_b = np.sum(b * sent, -1) / n_sent
        if self.mean_energy is None or np.shape(self.mean_energy) != mean_e.shape:
            # per-partition energy m2 + v = mean_e / mean_b-ish; split by the initial ratio
            total = mean_e / np.maximum(self.initial_ratio * mean_b
                                        + (1 - self.initial_ratio) * mean_a, 1e-300)
            m2 = (1 - self.initial_ratio) * total
        else:
            m2 = self.mean_energy
        v = np.maximum(mean_e - m2 * mean_a, 0.0) / np.maximum(mean_b, 1e-300)
        v = np.maximum(v, 1e-12 * np.maximum(m2, 1e-300))
        return GradientModel(m2, v, dim)
