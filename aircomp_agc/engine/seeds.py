"""Seeds for sweep points and trial batches that do not depend on execution order.

Every (sweep point, trial batch) pair gets its own :class:`numpy.random.SeedSequence`,

.. math::

    \\mathrm{SeedSequence}\\big(\\text{master\\_seed},\\;
    \\text{spawn\\_key} = (h_0(\\kappa), h_1(\\kappa), b)\\big),

where :math:`\\kappa` is the point's canonical key (:func:`aircomp_agc.engine.sweep.point_key`),
:math:`h_0, h_1` the two leading 32-bit words of its SHA-256 digest and :math:`b` the batch
index. The stream of a batch therefore depends only on the master seed, *what* the point
is and *which* batch it is -- not on the order points are visited, how batches are
grouped into chunks, which executor runs them, or whether the run was resumed.

Python's built-in ``hash()`` is salted per process (``PYTHONHASHSEED``) and must never be
used for this; SHA-256 is stable across processes, platforms and Python versions. Two
words (64 bits) make a collision between two points of one study negligible (about
``m^2 / 2^65`` for ``m`` points, 3e-12 at ``m = 10^4``).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .._checks import check_int

__all__ = ["point_rng", "point_seed", "point_spawn_key", "stable_hash32", "stable_hash64"]


def _digest(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"The 'text' parameter must be a str; got {type(text).__name__} {text!r}.")
    return hashlib.sha256(text.encode("utf-8")).digest()


def stable_hash32(text: str) -> int:
    """A process-independent 32-bit hash of ``text``: the first 4 bytes of SHA-256, big-endian.

    Parameters
    ----------
    text : str
        Hashed as UTF-8.

    Returns
    -------
    int
        In ``[0, 2**32)``.

    Examples
    --------
    >>> hex(stable_hash32("abc"))  # SHA-256("abc") = ba7816bf 8f01cfea ...
    '0xba7816bf'
    """
    return int.from_bytes(_digest(text)[:4], "big")


def stable_hash64(text: str) -> int:
    """A process-independent 64-bit hash of ``text``: the first 8 bytes of SHA-256, big-endian."""
    return int.from_bytes(_digest(text)[:8], "big")


def point_spawn_key(point_key: str, batch_index: int) -> tuple[int, int, int]:
    """The ``spawn_key`` of a (point, batch): ``(h0, h1, batch_index)``, 32-bit words ``h0, h1``.

    ``h0 = stable_hash32(point_key)`` and ``h1`` is the next SHA-256 word.
    """
    batch_index = check_int("batch_index", batch_index, low=0, owner="point_seed")
    h = stable_hash64(point_key)
    return (h >> 32, h & 0xFFFF_FFFF, batch_index)


def point_seed(master_seed: int, point_key: str, batch_index: int = 0) -> np.random.SeedSequence:
    """The seed of trial batch ``batch_index`` of the sweep point ``point_key``.

    Parameters
    ----------
    master_seed : int
        The scenario's ``[scenario] seed`` (``>= 0``).
    point_key : str
        Canonical key of the point (:func:`aircomp_agc.engine.sweep.point_key`).
    batch_index : int, optional
        Index of the trial batch within the point (``>= 0``), default 0.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(master_seed, spawn_key=point_spawn_key(point_key, batch_index))``.

    Examples
    --------
    >>> ss = point_seed(2026, '{"n":10}', 3)
    >>> ss.spawn_key[-1], ss.entropy
    (3, 2026)
    """
    master_seed = check_int("master_seed", master_seed, low=0, owner="point_seed")
    if not isinstance(point_key, str):
        raise TypeError(
            "The 'point_key' parameter of point_seed must be a str; "
            f"got {type(point_key).__name__} {point_key!r}."
        )
    return np.random.SeedSequence(master_seed, spawn_key=point_spawn_key(point_key, batch_index))


def point_rng(master_seed: int, point_key: str, batch_index: int = 0) -> np.random.Generator:
    """``numpy.random.default_rng(point_seed(master_seed, point_key, batch_index))``."""
    return np.random.default_rng(point_seed(master_seed, point_key, batch_index))
