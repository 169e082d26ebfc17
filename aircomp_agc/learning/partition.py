"""Partitioning training data into the ``k`` partitions a gradient code assigns to workers.

- ``"iid"``: a uniformly random split into ``k`` near-equal parts;
- ``"dirichlet"``: label skew; for each class, the shares of the ``k`` partitions are drawn
  from ``Dirichlet(alpha)`` (Hsu, Qi, Brown 2019); small ``alpha``, strong skew;
- ``"quantity"``: partition sizes drawn from ``Dirichlet(alpha)`` (quantity skew), labels
  IID;
- ``"natural"``: the dataset's own clients (``Dataset.groups``, e.g. ``"fedprox"``).

Every partition gets at least one sample.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_int, check_real, resolve_rng

__all__ = ["SCHEMES", "partition"]

SCHEMES = ("iid", "dirichlet", "quantity", "natural")


def _fill_empty(assign: np.ndarray, k: int, gen: np.random.Generator) -> np.ndarray:
    """Move single samples from the largest partitions into empty ones."""
    counts = np.bincount(assign, minlength=k)
    for j in np.flatnonzero(counts == 0):  # at most k - 1 moves, never a hot path
        big = int(np.argmax(counts))
        donor = gen.choice(np.flatnonzero(assign == big))
        assign[donor] = j
        counts[big] -= 1
        counts[j] += 1
    return assign


def partition(y: np.ndarray, k: int, scheme: str = "iid", *, alpha: float = 0.5,
              groups: np.ndarray | None = None, rng=None) -> np.ndarray:
    """Partition id of every sample.

    Parameters
    ----------
    y : [n] labels (int) or targets (float; ``"dirichlet"`` needs labels)
    k : int, 1 <= k <= n
    scheme : {"iid", "dirichlet", "quantity", "natural"}
    alpha : float > 0
        Dirichlet concentration (``"dirichlet"``, ``"quantity"``).
    groups : int [n], optional
        Natural clients (``"natural"``; then ``k`` must equal their number).
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    int64 [n]
        Values in ``0..k-1``, every one used.
    """
    owner = "partition"
    y = np.asarray(y)
    n = y.shape[0]
    k = check_int("k", k, low=1, owner=owner)
    if k > n:
        raise ValueError(f"The 'k' parameter of {owner} must be at most the number of samples "
                         f"{n} (every partition needs a sample); got {k}.")
    scheme = check_choice("scheme", scheme, SCHEMES, owner=owner)
    gen = resolve_rng(rng)
    if scheme == "natural":
        if groups is None:
            raise ValueError(f"The 'scheme' parameter of {owner} is 'natural' but the dataset "
                             "has no natural clients (groups=None); use 'iid' or 'dirichlet'.")
        g = np.unique(np.asarray(groups), return_inverse=True)[1]
        if g.max() + 1 != k:
            raise ValueError(f"The 'k' parameter of {owner} must equal the number of natural "
                             f"clients {g.max() + 1} with scheme='natural'; got {k}.")
        return g.astype(np.int64)
    if scheme == "iid":
        assign = np.empty(n, dtype=np.int64)
        assign[gen.permutation(n)] = np.arange(n) % k
        return assign
    alpha = check_real("alpha", alpha, low=0.0, low_open=True, owner=owner)
    if scheme == "quantity":
        shares = gen.dirichlet(np.full(k, alpha))
        assign = gen.choice(k, size=n, p=shares).astype(np.int64)
        return _fill_empty(assign, k, gen)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"The 'scheme' parameter of {owner} is 'dirichlet' (label skew), which "
                         f"needs integer labels; got targets of dtype {y.dtype}.")
    classes = np.unique(y)
    shares = gen.dirichlet(np.full(k, alpha), size=classes.size)  # [C, k]
    # Each sample of class c goes to partition j with probability shares[c, j]: inverse CDF.
    cdf = np.cumsum(shares, axis=1)
    u = gen.random(n)
    cls = np.searchsorted(classes, y)
    assign = np.minimum((u[:, None] > cdf[cls]).sum(1), k - 1).astype(np.int64)
    return _fill_empty(assign, k, gen)
