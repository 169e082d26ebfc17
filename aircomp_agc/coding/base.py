"""The ``Code`` object: a sparse encoding matrix plus how it was built.

Worker ``i`` stores the partitions in ``supp(B[i, :])`` and sends
``gt_i = sum_j B[i, j] g_j``. A decoder ``a`` (zero off the responders ``T``) gives
``Ghat = sum_{i in T} a_i gt_i = c^T g`` with ``c = B_T^T a``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["Code"]


@dataclass(frozen=True, eq=False)
class Code:
    """A gradient code.

    Parameters
    ----------
    name : str
        Registered name of the construction (``"frc"``, ``"bgc"``, ...).
    B : scipy.sparse matrix, [n_workers, n_partitions], float64
        Encoding matrix; stored as CSR.
    params : mapping
        The arguments the construction was called with (after validation), e.g.
        ``{"n": 12, "s": 3}``; recorded so results can say how a code was built.
    exact_s : int or None
        Number of stragglers the code tolerates *exactly* (for exact codes), else ``None``.
    info : mapping
        Construction diagnostics (e.g. condition numbers of a random cyclic code).
    groups : int array [n_workers] or None
        Replica groups, for codes built from them (``frc``, ``approx-frc``, ``uncoded``):
        worker ``i`` belongs to group ``groups[i]`` and stores exactly the partitions of its
        group, ``B[i, j] = 1`` iff ``groups[i] == groups[j]`` (so ``n_partitions ==
        n_workers``; labels ``0 .. n_groups - 1``, each used). The decoders then use closed
        forms. Checked against ``B`` on construction; stored read-only. ``None`` otherwise.
    """

    name: str
    B: sp.csr_matrix
    params: Mapping[str, Any] = field(default_factory=dict)
    exact_s: int | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        B = sp.csr_matrix(self.B, dtype=np.float64)
        B.eliminate_zeros()
        B.sort_indices()
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))
        if self.groups is not None:
            object.__setattr__(self, "groups", _checked_groups(self.groups, B))

    @property
    def n_groups(self) -> int | None:
        """Number of replica groups (``None`` for codes without :attr:`groups`)."""
        return None if self.groups is None else int(self.groups.max(initial=-1)) + 1

    @property
    def n_workers(self) -> int:
        return int(self.B.shape[0])

    @property
    def n_partitions(self) -> int:
        return int(self.B.shape[1])

    @property
    def loads(self) -> np.ndarray:
        """Partitions stored by each worker, ``|supp(B[i, :])|``: int array [n_workers]."""
        return np.diff(self.B.indptr).astype(np.int64)

    @property
    def storage(self) -> int:
        """Storage / computation load of the code: the maximum over workers of ``loads``."""
        return int(self.loads.max(initial=0))

    @property
    def replication(self) -> np.ndarray:
        """Workers storing each partition, ``|supp(B[:, j])|``: int array [n_partitions]."""
        return np.bincount(self.B.indices, minlength=self.n_partitions).astype(np.int64)

    @property
    def is_exact(self) -> bool:
        return self.exact_s is not None

    def decode(self, responders, method: str = "lstsq", **options) -> np.ndarray:
        """Decoding vector ``a`` (length ``n_workers``, zero off the responders).

        See :func:`aircomp_agc.coding.decoders.decode`.
        """
        from .decoders import decode

        return decode(self, responders, method=method, **options)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return (
            f"Code({self.name!r}, {args}; n_workers={self.n_workers}, "
            f"n_partitions={self.n_partitions}, storage={self.storage})"
        )


def _checked_groups(groups, B: sp.csr_matrix) -> np.ndarray:
    """Validated read-only copy of ``groups`` (see :class:`Code`)."""
    n, k = B.shape
    g = np.array(groups)
    if g.shape != (n,) or not np.issubdtype(g.dtype, np.integer) or k != n:
        raise ValueError(
            f"The 'groups' parameter of Code must be an int array of shape ({n},) (one "
            f"replica group per worker, for a code with n_partitions == n_workers); got "
            f"{g.dtype} array of shape {g.shape} for a code of shape {B.shape}."
        )
    g = g.astype(np.int64)
    if n and (g.min() < 0 or np.unique(g).size != g.max() + 1):
        raise ValueError(
            "The 'groups' parameter of Code must use the labels 0 .. n_groups - 1, each at "
            f"least once; got labels {np.unique(g).tolist()[:10]}."
        )
    rows = np.repeat(np.arange(n), np.diff(B.indptr))
    sizes = np.bincount(g, minlength=int(g.max(initial=-1)) + 1) if n else np.zeros(0, int)
    same = g[rows] == g[B.indices]
    if not (same.all() and np.all(B.data == 1.0) and B.nnz == int(np.sum(sizes**2))):
        raise ValueError(
            "The 'groups' parameter of Code does not match B: replica groups need "
            "B[i, j] = 1 exactly when groups[i] == groups[j] (and 0 otherwise)."
        )
    g.setflags(write=False)
    return g
