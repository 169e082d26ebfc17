"""Unbiased stochastic quantization of messages (the digital baseline's payload).

Each message row is quantized on a uniform grid of ``2^b`` levels spanning its own range
``[min, max]`` (sent as side information); a value between two levels is rounded up with
probability equal to its fractional position, so the quantizer is unbiased and its error
variance per entry is ``Delta^2 p (1 - p) <= Delta^2 / 4`` with ``Delta = range / (2^b - 1)``.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int, resolve_rng

__all__ = ["payload_bits", "quantization_variance", "stochastic_quantize"]


def _range(x: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``[lo, hi]`` of the sent entries, rounded outwards to float32 ``[...]``."""
    if mask is None:
        lo, hi = x.min(axis=-1), x.max(axis=-1)
    else:
        lo = np.where(mask, x, np.inf).min(axis=-1)
        hi = np.where(mask, x, -np.inf).max(axis=-1)
        empty = ~mask.any(axis=-1)
        lo, hi = np.where(empty, 0.0, lo), np.where(empty, 0.0, hi)
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    lo32 = np.where(lo32 > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32)
    hi32 = np.where(hi32 < hi, np.nextafter(hi32, np.float32(np.inf)), hi32)
    return lo32.astype(np.float64), hi32.astype(np.float64)


def _grid(x, bits: int, mask):
    """``lo``, ``Delta`` [..., 1] and the position ``u = (x - lo) / Delta`` in ``[0, L]``."""
    levels = float(2**bits - 1)
    lo, hi = _range(x, mask)
    step = ((hi - lo) / levels)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(step > 0, (x - lo[..., None]) / step, 0.0)
    return lo[..., None], step, np.clip(u, 0.0, levels)


def _check_bits(bits, owner: str) -> int:
    return check_int("bits", bits, low=1, high=32, owner=owner)


def stochastic_quantize(x, bits: int, *, mask=None, rng=None):
    r"""Unbiased stochastic quantization with ``bits`` bits per entry, row by row.

    Parameters
    ----------
    x : float array [..., D]
        Rows to quantize (each row has its own range ``[lo, hi]``).
    bits : int in [1, 32]
        ``b``: the grid has ``2^b`` points ``lo + Delta l``, ``Delta = (hi - lo)/(2^b - 1)``.
    mask : bool array [..., D], optional
        Entries that are sent (the range is taken over them); others quantize to 0.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    q : float64 array [..., D]
        ``lo + Delta (floor(u) + Bernoulli(u - floor(u)))`` with ``u = (x - lo)/Delta``:
        ``E q = x`` on the sent entries.
    lo, hi : float64 arrays [...]
        The range sent as side information (float32 values, rounded outwards).
    """
    bits = _check_bits(bits, "stochastic_quantize")
    x = np.asarray(x, dtype=np.float64)
    m = None if mask is None else np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
    lo, step, u = _grid(x, bits, m)
    low = np.floor(u)
    q = lo + step * (low + (resolve_rng(rng).random(x.shape) < (u - low)))
    if m is not None:
        q = np.where(m, q, 0.0)
    return q, lo[..., 0], lo[..., 0] + step[..., 0] * (2**bits - 1)


def quantization_variance(x, bits: int, *, mask=None, bound: bool = False) -> np.ndarray:
    r"""``E||Q(x) - x||^2`` of :func:`stochastic_quantize`, per row, in closed form.

    .. math:: \sum_d \Delta^2 p_d (1 - p_d) \;\le\; n_{\text{sent}}\, \Delta^2 / 4,

    ``p_d`` the fractional grid position of entry ``d``.

    Parameters
    ----------
    x : float array [..., D]
    bits : int in [1, 32]
    mask : bool array [..., D], optional
        Entries sent (others contribute nothing).
    bound : bool
        Return the bound ``n_sent Delta^2 / 4`` instead of the exact value.

    Returns
    -------
    float64 array [...]
    """
    bits = _check_bits(bits, "quantization_variance")
    x = np.asarray(x, dtype=np.float64)
    m = None if mask is None else np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
    _, step, u = _grid(x, bits, m)
    if bound:
        count = x.shape[-1] if m is None else m.sum(axis=-1)
        return count * step[..., 0] ** 2 / 4.0
    frac = u - np.floor(u)
    per = step**2 * frac * (1.0 - frac)
    if m is not None:
        per = np.where(m, per, 0.0)
    return per.sum(axis=-1)


def payload_bits(dim: int, bits: int, *, n_sent: int | None = None,
                 side_bits: int = 64) -> int:
    """Bits one device sends: ``D b + side_bits``, or ``K (b + ceil(log2 D)) + side_bits``.

    Parameters
    ----------
    dim : int >= 1
        ``D``.
    bits : int in [1, 32]
        ``b`` bits per sent entry.
    n_sent : int in [1, D], optional
        ``K`` entries sent with their indices (``ceil(log2 D)`` bits each; none when
        ``K = D``: every entry is sent in order).
    side_bits : int >= 0
        Range of the quantizer (two float32 numbers: 64).
    """
    owner = "payload_bits"
    dim = check_int("dim", dim, low=1, owner=owner)
    bits = _check_bits(bits, owner)
    side_bits = check_int("side_bits", side_bits, low=0, owner=owner)
    n = dim if n_sent is None else check_int("n_sent", n_sent, low=1, high=dim, owner=owner)
    index = 0 if n == dim else int(np.ceil(np.log2(dim)))
    return n * (bits + index) + side_bits


# ----------------------------------------------------------------------------- results
