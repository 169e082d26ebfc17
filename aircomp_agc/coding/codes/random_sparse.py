r"""Random sparse approximate codes: the source text's signed sparse code and BGC.

Two constructions share one sampler (uniformly random supports of a fixed size per row,
vectorized over rows):

- ``signed-sparse`` -- the source text's "random sparse encoding": each row of ``B`` has
  ``rho * k`` nonzeros at uniformly random positions with i.i.d. weights in ``{+1, -1}``,
  decoded by least squares. Implemented exactly as written. Its claim
  ``E[err] <= O(1 / ((n - s) rho))`` does **not** hold for ``s > 0``: the column-sign
  symmetry of the construction gives the exact identity

  .. math:: \mathbb{E}[\mathrm{err}] = 1 - \mathbb{E}[\operatorname{rank} B_T] / k
            \;\ge\; \max(0,\, 1 - |T| / k) \quad (= s / n \text{ for } k = n),

  for any straggler set drawn independently of ``B`` (see :func:`signed_sparse_expected_error`);
  the floor is reached once ``B_T`` has full rank ``min(|T|, k)`` (measured at n = 40,
  s = 10, row weight 8: 0.505 for k = 60, 0.750 for k = 120, 0 for k = 30).
  The random signs make the all-ones vector look like a random sign vector to the rows,
  so the least-squares fit captures only ``rank(B_T) / k`` of it on average, whatever the
  row weight. Use ``bgc`` (0/1 entries) for an approximate code whose error does decay.
- ``bgc`` -- Bernoulli gradient code (Charles, Papailiopoulos, Ellenberg, "Approximate
  gradient coding via sparse random graphs", 2017): 0/1 entries, either exactly ``w`` ones
  per row at uniformly random positions (``model="fixed"``) or i.i.d. Bernoulli(w/k)
  entries (``model="bernoulli"``). With the one-step decoder ``a_i = k / (w r)`` on a
  uniformly random responder set of size ``r``, both models give

  .. math:: \mathbb{E}\|c - 1\|^2 = \frac{k (k - w)}{w r},

  because in both models ``c_j = (k / (w r)) \sum_{i \in T} B_{ij}`` with
  ``\sum_{i \in T} B_{ij} \sim \mathrm{Bin}(r, w / k)`` (rows are independent and a
  fixed-weight row contains ``j`` with probability ``w / k``); only the correlations between
  columns differ (the fixed model has ``\sum_j c_j = k`` exactly). A partition is stored by
  nobody with probability ``(1 - w / k)^n`` (about ``e^{-w}`` for ``k = n``) in both models;
  such a partition can never be recovered by any decoder.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..._checks import check_choice, check_int, check_real, resolve_rng
from ..base import Code
from ..registry import register_code

__all__ = [
    "bgc",
    "bgc_expected_error",
    "bgc_uncovered_probability",
    "sample_row_supports",
    "signed_sparse",
    "signed_sparse_expected_error",
]

# Above this many random keys per block the sampler works block by block (memory bound).
_KEYS_PER_BLOCK = 1 << 22


def sample_row_supports(n_rows: int, n_cols: int, row_weight: int, rng=None) -> np.ndarray:
    """Uniformly random ``row_weight``-subsets of ``range(n_cols)``, one per row.

    Rows are independent; each row's subset is uniform over all ``C(n_cols, row_weight)``
    subsets. Two vectorized samplers, chosen by cost (both loop only over the row weight
    or over row blocks, never over rows):

    - Floyd's algorithm run on all rows at once, ``O(n_rows * row_weight^2)``, when
      ``row_weight^2 <= n_cols``;
    - otherwise the ``row_weight`` smallest of ``n_cols`` i.i.d. uniform keys per row
      (``argpartition``), ``O(n_rows * n_cols)``, in blocks of rows to bound memory.

    Parameters
    ----------
    n_rows, n_cols : int
        Number of subsets to draw and size of the ground set.
    row_weight : int
        Subset size, in ``[0, n_cols]``.
    rng : None, int or numpy.random.Generator
        Randomness (resolved by :func:`aircomp_agc._checks.resolve_rng`).

    Returns
    -------
    numpy.ndarray, [n_rows, row_weight], int64
        Column indices, sorted within each row.
    """
    n_rows = check_int("n_rows", n_rows, low=0, owner="sample_row_supports")
    n_cols = check_int("n_cols", n_cols, low=0, owner="sample_row_supports")
    w = check_int("row_weight", row_weight, low=0, high=n_cols, owner="sample_row_supports")
    gen = resolve_rng(rng)
    if w == 0 or n_rows == 0:
        return np.zeros((n_rows, w), dtype=np.int64)
    if w * w <= n_cols:
        # Floyd: for j = n-w..n-1 draw t in [0, j]; take t unless already taken, else j.
        sel = np.empty((n_rows, w), dtype=np.int64)
        for step, j in enumerate(range(n_cols - w, n_cols)):
            t = gen.integers(0, j + 1, size=n_rows)
            taken = (sel[:, :step] == t[:, None]).any(axis=1)
            sel[:, step] = np.where(taken, j, t)
    else:
        block = max(1, _KEYS_PER_BLOCK // n_cols)
        parts = []
        for start in range(0, n_rows, block):
            keys = gen.random((min(block, n_rows - start), n_cols))
            parts.append(
                np.argpartition(keys, w - 1, axis=1)[:, :w]
                if w < n_cols
                else np.argsort(keys, axis=1)
            )
        sel = np.concatenate(parts).astype(np.int64)
    sel.sort(axis=1)
    return sel


def _csr_from_supports(supports: np.ndarray, values: np.ndarray, n_cols: int) -> sp.csr_matrix:
    n_rows, w = supports.shape
    indptr = np.arange(0, n_rows * w + 1, w, dtype=np.int64)
    return sp.csr_matrix(
        (values.reshape(-1).astype(np.float64), supports.reshape(-1), indptr),
        shape=(n_rows, n_cols),
    )


def _sizes(name: str, n, n_partitions) -> tuple[int, int]:
    owner = f"make_code({name!r})"
    n = check_int("n", n, low=1, owner=owner)
    k = n if n_partitions is None else check_int("n_partitions", n_partitions, low=1, owner=owner)
    return n, k


@register_code(
    "signed-sparse",
    family="approximate",
    randomized=True,
    storage_param="row_weight",
    summary="Source text's random sparse code: rho*k random +/-1 entries per row, LS decoder",
)
def signed_sparse(
    *,
    n: int,
    row_weight: int | None = None,
    rho: float | None = None,
    n_partitions: int | None = None,
    rng=None,
) -> Code:
    """The source text's random sparse encoding, exactly as written.

    Each row of ``B`` (``n x k``) has ``w`` nonzeros at uniformly random positions (a
    uniform ``w``-subset of the ``k`` partitions, independently per row) with i.i.d.
    uniform weights in ``{+1, -1}``. The intended decoder is least squares,
    ``a = argmin ||B_T^T a - 1||``.

    The source text's claim ``E[err] <= O(1 / ((n - s) rho))`` is false for ``s > 0``:
    ``E[err] = 1 - E[rank B_T] / k >= max(0, 1 - (n - s) / k)`` (``s / n`` for ``k = n``)
    for every row weight, see the module docstring and :func:`signed_sparse_expected_error`.

    Parameters
    ----------
    n : int
        Number of workers, ``>= 1``.
    row_weight : int, optional
        Nonzeros per row ``w`` in ``[1, k]``. Give exactly one of ``row_weight`` and ``rho``.
    rho : float, optional
        Fraction of partitions per worker, in ``(0, 1]``; ``w = floor(rho * k + 1/2)``
        (round half up), which must land in ``[1, k]``.
    n_partitions : int, optional
        Number of partitions ``k`` (default ``n``).
    rng : None, int or numpy.random.Generator
        Randomness for supports and signs.

    Returns
    -------
    Code
        ``name="signed-sparse"``; ``params`` has ``n``, ``n_partitions``, ``row_weight``,
        ``rho`` (``w / k`` when ``row_weight`` was given) and ``rng`` when it was an int seed.
        ``info["uncovered_partitions"]`` counts partitions stored by nobody (never
        recoverable).
    """
    owner = "make_code('signed-sparse')"
    n, k = _sizes("signed-sparse", n, n_partitions)
    if (row_weight is None) == (rho is None):
        raise ValueError(
            f"Exactly one of the 'row_weight' and 'rho' parameters of {owner} must be given; "
            f"got row_weight={row_weight!r}, rho={rho!r}."
        )
    if rho is not None:
        rho = check_real("rho", rho, low=0.0, high=1.0, low_open=True, owner=owner)
        w = math.floor(rho * k + 0.5)
        if w < 1:
            raise ValueError(
                f"The 'rho' parameter of {owner} must give a row weight floor(rho*k + 1/2) in "
                f"[1, {k}], i.e. rho >= {0.5 / k:g}; got {rho!r} (row weight {w})."
            )
    else:
        w = check_int("row_weight", row_weight, low=1, high=k, owner=owner)
        rho = w / k
    gen = resolve_rng(rng)
    supports = sample_row_supports(n, k, w, gen)
    signs = 2.0 * gen.integers(0, 2, size=(n, w)) - 1.0
    B = _csr_from_supports(supports, signs, k)
    params = {"n": n, "n_partitions": k, "row_weight": w, "rho": rho}
    if isinstance(rng, int | np.integer):
        params["rng"] = int(rng)
    covered = np.zeros(k, dtype=bool)
    covered[supports.reshape(-1)] = True
    info = {"uncovered_partitions": int(k - covered.sum()), "decoder": "lstsq"}
    return Code(name="signed-sparse", B=B, params=params, info=info)


def signed_sparse_expected_error(ranks, n_partitions: int) -> float:
    r"""Expected LS error of ``signed-sparse`` from the ranks of responder submatrices.

    Flipping the sign of a column of ``B`` leaves the construction's distribution unchanged,
    so with ``z`` a uniform random sign vector and ``P`` the projector onto the row space
    of ``B_T`` (independent of ``z`` in distribution),

    .. math:: \mathbb{E}\|P^\perp 1\|^2 = \mathbb{E}\|P^\perp z\|^2
              = k - \mathbb{E}[\operatorname{rank} B_T],

    hence ``E[err] = 1 - E[rank B_T] / k >= (k - |T|) / k``.

    Parameters
    ----------
    ranks : array_like of int, [trials]
        Ranks of sampled ``B_T`` (same code distribution and straggler model).
    n_partitions : int
        ``k``.

    Returns
    -------
    float
        ``1 - mean(ranks) / k``: an unbiased estimate of ``E[err]``.
    """
    k = check_int("n_partitions", n_partitions, low=1, owner="signed_sparse_expected_error")
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0 or np.any(ranks < 0) or np.any(ranks > k):
        raise ValueError(
            "The 'ranks' parameter of signed_sparse_expected_error must be a non-empty array "
            f"of values in [0, {k}]; got {ranks!r}."
        )
    return float(1.0 - ranks.mean() / k)


@register_code(
    "bgc",
    family="approximate",
    randomized=True,
    storage_param="row_weight",
    summary="Bernoulli gradient code (Charles et al. 2017): random 0/1 rows of weight w",
)
def bgc(
    *,
    n: int,
    row_weight: int,
    model: str = "fixed",
    n_partitions: int | None = None,
    rng=None,
) -> Code:
    """Bernoulli gradient code (Charles, Papailiopoulos, Ellenberg 2017).

    Parameters
    ----------
    n : int
        Number of workers, ``>= 1``.
    row_weight : int
        ``w`` in ``[1, k]``: exactly ``w`` ones per row (``model="fixed"``) or the expected
        number (``model="bernoulli"``, entries i.i.d. Bernoulli(w/k)).
    model : {"fixed", "bernoulli"}
        Row model. ``"fixed"`` draws a uniform ``w``-subset per row.
    n_partitions : int, optional
        Number of partitions ``k`` (default ``n``).
    rng : None, int or numpy.random.Generator
        Randomness.

    Returns
    -------
    Code
        ``name="bgc"``, 0/1 entries. ``info`` holds ``"uncovered_partitions"`` (stored by
        nobody; never recoverable) and ``"one_step_weight_times_responders"`` ``= k / w``
        (the one-step decoder weight is that divided by ``|T|``).

    Notes
    -----
    With the one-step decoder ``a_i = k / (w r)`` on a uniformly random responder set of
    size ``r``, ``E||c - 1||^2 = k (k - w) / (w r)`` in both models
    (:func:`bgc_expected_error`); ``P(partition stored by nobody) = (1 - w/k)^n``
    (:func:`bgc_uncovered_probability`).
    """
    owner = "make_code('bgc')"
    n, k = _sizes("bgc", n, n_partitions)
    w = check_int("row_weight", row_weight, low=1, high=k, owner=owner)
    model = check_choice("model", model, ("fixed", "bernoulli"), owner=owner)
    gen = resolve_rng(rng)
    if model == "fixed":
        supports = sample_row_supports(n, k, w, gen)
        B = _csr_from_supports(supports, np.ones(supports.shape), k)
    else:
        B = _bernoulli_matrix(n, k, w / k, gen)
    params = {"n": n, "n_partitions": k, "row_weight": w, "model": model}
    if isinstance(rng, int | np.integer):
        params["rng"] = int(rng)
    replication = np.bincount(B.indices, minlength=k)
    info = {
        "uncovered_partitions": int(np.count_nonzero(replication == 0)),
        "one_step_weight_times_responders": k / w,
    }
    return Code(name="bgc", B=B, params=params, info=info)


def _bernoulli_matrix(n: int, k: int, p: float, gen: np.random.Generator) -> sp.csr_matrix:
    """i.i.d. Bernoulli(p) 0/1 matrix [n, k] in CSR without forming it densely.

    Small matrices are drawn densely. Otherwise row counts are Binomial(k, p) and, given
    its count, a row's support is a uniform subset, drawn for rows grouped by count (a
    loop over distinct counts only).
    """
    if n * k <= _KEYS_PER_BLOCK:
        return sp.csr_matrix((gen.random((n, k)) < p).astype(np.float64))
    counts = gen.binomial(k, p, size=n)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.empty(indptr[-1], dtype=np.int64)
    for c in np.unique(counts):
        if c == 0:
            continue
        rows = np.flatnonzero(counts == c)
        sup = sample_row_supports(rows.size, k, int(c), gen)
        pos = indptr[rows][:, None] + np.arange(c)
        indices[pos.reshape(-1)] = sup.reshape(-1)
    return sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, k))


def bgc_expected_error(
    n: int, row_weight: int, n_responders: int, n_partitions: int | None = None
) -> float:
    r"""Closed-form ``E||c - 1||^2`` of ``bgc`` with the one-step decoder.

    .. math:: \mathbb{E}\|c - 1\|^2 = \frac{k (k - w)}{w r}, \qquad a_i = \frac{k}{w r},

    for a uniformly random responder set of size ``r`` (independent of the code), in both
    the ``"fixed"`` and ``"bernoulli"`` models (Charles et al. 2017). Divide by ``k`` for
    the normalized decoding error.

    Parameters
    ----------
    n : int
        Workers.
    row_weight : int
        ``w`` in ``[1, k]``.
    n_responders : int
        ``r = n - s`` in ``[1, n]``.
    n_partitions : int, optional
        ``k`` (default ``n``).

    Returns
    -------
    float
        ``k (k - w) / (w r)``.
    """
    owner = "bgc_expected_error"
    n = check_int("n", n, low=1, owner=owner)
    k = n if n_partitions is None else check_int("n_partitions", n_partitions, low=1, owner=owner)
    w = check_int("row_weight", row_weight, low=1, high=k, owner=owner)
    r = check_int("n_responders", n_responders, low=1, high=n, owner=owner)
    return k * (k - w) / (w * r)


def bgc_uncovered_probability(n: int, row_weight: int, n_partitions: int | None = None) -> float:
    """Probability that a given partition of ``bgc`` is stored by nobody: ``(1 - w/k)^n``.

    Exact for both row models (a row contains a given partition with probability ``w / k``,
    independently across rows); about ``e^{-w}`` when ``k = n`` is large.
    """
    owner = "bgc_uncovered_probability"
    n = check_int("n", n, low=1, owner=owner)
    k = n if n_partitions is None else check_int("n_partitions", n_partitions, low=1, owner=owner)
    w = check_int("row_weight", row_weight, low=1, high=k, owner=owner)
    return (1.0 - w / k) ** n
