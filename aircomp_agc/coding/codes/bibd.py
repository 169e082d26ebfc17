r"""BIBD codes from symmetric designs: projective planes PG(2, q), q prime.

Kadhe, Koyluoglu, Ramchandran, "Gradient coding based on block designs for mitigating
adversarial stragglers", ISIT 2019. Workers are the lines and partitions the points of the
projective plane over GF(q): ``n = q^2 + q + 1`` of each, every line holds ``w = q + 1``
points, every point lies on ``w`` lines, and two distinct lines meet in exactly
``lambda = 1`` point (a symmetric ``(n, w, 1)`` design), so

.. math:: B B^T = (w - 1) I + J .

Least-squares decoding in closed form: for responders ``T`` (``|T| = r``) the normal
equations ``B_T B_T^T a = B_T 1 = w 1`` are solved by the constant decoder

.. math:: a_i = \alpha_r = \frac{w}{w - 1 + r}, \qquad
          \|B_T^T a - 1\|^2 = n - \frac{w^2 r}{w - 1 + r},

(``B_T B_T^T = (w-1) I + J`` is invertible, so this is the unique LS solution). The
error depends on ``r`` only, never on *which* workers straggle: adversarial and random
stragglers cost the same. ``r = n`` gives zero error.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._checks import check_int
from ..base import Code
from ..registry import register_code

__all__ = [
    "bibd", "bibd_closed_form", "bibd_lstsq_error", "bibd_lstsq_weight", "projective_plane",
]

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79)
_VALID_N = {q * q + q + 1: q for q in _PRIMES}
# Lines processed per block when testing incidence (bounds memory at large q).
_BLOCK_ENTRIES = 1 << 22


def _normalized_vectors(q: int) -> np.ndarray:
    """The ``q^2 + q + 1`` nonzero vectors of GF(q)^3 whose first nonzero entry is 1."""
    a, b = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
    first = np.stack([np.ones(q * q, np.int64), a.ravel(), b.ravel()], axis=1)
    second = np.stack([np.zeros(q, np.int64), np.ones(q, np.int64), np.arange(q)], axis=1)
    return np.concatenate([first, second, np.array([[0, 0, 1]])]).astype(np.int64)


def projective_plane(q: int) -> sp.csr_matrix:
    """Line-point incidence matrix of PG(2, q) for a prime ``q``.

    Parameters
    ----------
    q : int
        A prime in ``[2, 79]``.

    Returns
    -------
    scipy.sparse.csr_matrix, [q^2 + q + 1, q^2 + q + 1], float64
        ``M[l, p] = 1`` iff point ``p`` lies on line ``l`` (``l . p = 0 mod q``).
    """
    if isinstance(q, bool) or not isinstance(q, int | np.integer) or int(q) not in _PRIMES:
        raise ValueError(
            f"The 'q' parameter of projective_plane must be a prime in [2, 79]; got {q!r}."
        )
    q = int(q)
    pts = _normalized_vectors(q)
    n = pts.shape[0]
    block = max(1, _BLOCK_ENTRIES // n)
    rows, cols = [], []
    for start in range(0, n, block):  # blocks of lines, not single workers
        hit = (pts[start : start + block] @ pts.T) % q == 0
        r, c = np.nonzero(hit)
        rows.append(r + start)
        cols.append(c)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))


def bibd_lstsq_weight(row_weight: int, n_responders: int) -> float:
    """Constant least-squares decoder ``w / (w - 1 + r)`` of a symmetric ``(n, w, 1)`` design."""
    w = check_int("row_weight", row_weight, low=2, owner="bibd_lstsq_weight")
    r = check_int("n_responders", n_responders, low=1, owner="bibd_lstsq_weight")
    return w / (w - 1 + r)


def bibd_lstsq_error(n: int, row_weight: int, n_responders: int) -> float:
    """Normalized LS error ``(n - w^2 r / (w - 1 + r)) / n`` for ANY ``r`` responders.

    Parameters
    ----------
    n : int
        Workers = partitions of the symmetric design (``w^2 - w + 1`` for a projective plane).
    row_weight : int
        Block size ``w >= 2``.
    n_responders : int
        ``r`` in ``[0, n]`` (``r = 0`` gives error 1).
    """
    owner = "bibd_lstsq_error"
    n = check_int("n", n, low=1, owner=owner)
    w = check_int("row_weight", row_weight, low=2, high=n, owner=owner)
    r = check_int("n_responders", n_responders, low=0, high=n, owner=owner)
    return max(0.0, (n - w * w * r / (w - 1 + r)) / n)


def bibd_closed_form(code: Code, stragglers) -> float | None:
    r"""Expected LS error of a ``bibd`` code: the error depends on ``r = |T|`` only.

    ``s`` uniformly random stragglers give :func:`bibd_lstsq_error` ``(n, w, n - s)``;
    workers straggling independently with probability ``p`` give its mean over
    ``r ~ Bin(n, 1 - p)``. None for other straggler models.
    """
    from ..registry import _straggler_law

    n, w = code.n_workers, code.storage
    law = _straggler_law(stragglers, n)
    if law is None:
        return None
    kind, value = law
    if kind == "fixed":
        return bibd_lstsq_error(n, w, n - int(value))
    from scipy.stats import binom

    r = np.arange(n + 1)
    errors = np.maximum(0.0, (n - w * w * r / (w - 1 + r)) / n)  # bibd_lstsq_error for all r
    return float(binom.pmf(r, n, 1.0 - float(value)) @ errors)


@register_code(
    "bibd",
    family="approximate",
    closed_form=bibd_closed_form,
    summary="Symmetric-design code from PG(2,q) (Kadhe et al. 2019): constant LS decoder",
)
def bibd(*, n: int, row_weight: int | None = None) -> Code:
    """Symmetric BIBD code: the line-point incidence matrix of PG(2, q), q prime.

    Parameters
    ----------
    n : int
        Workers = partitions, ``q^2 + q + 1`` for a prime ``q <= 79`` (7, 13, 31, 57, 133,
        183, ...).
    row_weight : int, optional
        If given, must equal ``q + 1`` (the design fixes it).

    Returns
    -------
    Code
        ``name="bibd"``, 0/1 entries, ``q + 1`` per row and column; ``info`` holds
        ``"q"``, ``"lambda"`` (1) and ``"design"``. Decode with :func:`bibd_lstsq_weight`
        (``code.decode(T, method="one-step", weight=bibd_lstsq_weight(q + 1, len(T)))``
        equals the least-squares decoder).
    """
    owner = "make_code('bibd')"
    n = check_int("n", n, low=1, owner=owner)
    if n not in _VALID_N:
        valid = ", ".join(str(v) for v in sorted(_VALID_N)[:8])
        raise ValueError(
            f"The 'n' parameter of {owner} must be q^2 + q + 1 for a prime q <= 79 "
            f"({valid}, ...); got {n}."
        )
    q = _VALID_N[n]
    if row_weight is not None:
        row_weight = check_int("row_weight", row_weight, low=q + 1, high=q + 1, owner=owner)
    info = {"q": q, "lambda": 1, "design": f"PG(2,{q})"}
    params = {"n": n, "n_partitions": n, "row_weight": q + 1}
    return Code(name="bibd", B=projective_plane(q), params=params, info=info)
