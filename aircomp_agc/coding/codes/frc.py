"""Fractional repetition codes: exact FRC and approximate FRC (replica groups).

Workers are split into groups; all members of a group store the same partitions (as
many partitions as the group has members) and send their plain sum:
``B = blockdiag(1_{m_1} 1_{m_1}^T, ..., 1_{m_G} 1_{m_G}^T)`` (``m_g`` workers and
``m_g`` partitions in group ``g``; ``n_partitions = n_workers``). A group's partitions
are lost only when every member straggles.

- ``frc`` (Tandon, Lei, Dimakis, Karampatziakis, "Gradient coding: avoiding stragglers
  in distributed learning", ICML 2017, Sec. 3.1): ``n / (s + 1)`` groups of ``s + 1``;
  any ``s`` stragglers leave one responder per group, so decoding is exact.
- ``approx-frc``: groups of ``d = row_weight <= s`` workers (storage ``d``). With ``s``
  stragglers drawn uniformly, group ``g`` is lost with probability
  ``C(n - m_g, s - m_g) / C(n, s) = C(s, m_g) / C(n, m_g)``, so the least-squares error
  ``sum_{g lost} m_g / n`` has mean

  .. math:: \\mathbb E[\\mathrm{err}] = \\frac1n \\sum_g m_g \\binom{s}{m_g} \\Big/ \\binom{n}{m_g},

  which is ``C(s, d) / C(n, d)`` when ``d | n`` (N=24, d=3, s=12: 0.10870).

**When d does not divide n** (our rule): ``row_weight`` is a storage budget. We use
``G = ceil(n / d)`` groups with sizes as equal as possible (``floor(n/G)`` or
``ceil(n/G)``, larger groups first), so no worker stores more than ``d`` partitions;
the code's storage is ``ceil(n / G) <= d`` (equal to ``d`` whenever ``d | n``), and a
few partitions have replication ``floor(n/G)`` instead of ``d``. The closed form above
(:func:`approx_frc_expected_error`) is exact for every ``n``, ``d``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..._checks import check_int
from ..base import Code
from ..registry import register_code, replica_group_closed_form

__all__ = ["approx_frc", "approx_frc_expected_error", "frc", "group_sizes"]


def group_sizes(n: int, d: int) -> np.ndarray:
    """Replica-group sizes used by ``approx-frc``: ``ceil(n/d)`` near-equal groups.

    Parameters
    ----------
    n : int
        Number of workers (>= 1).
    d : int
        Row weight / storage budget in ``[1, n]``.

    Returns
    -------
    sizes : int64 ndarray [ceil(n / d)]
        Non-increasing, summing to ``n``, each ``<= d``, differing by at most one.
    """
    n = check_int("n", n, low=1, owner="group_sizes")
    d = check_int("d", d, low=1, high=n, owner="group_sizes")
    n_groups = -(-n // d)
    base, extra = divmod(n, n_groups)
    return np.array([base + 1] * extra + [base] * (n_groups - extra), dtype=np.int64)


def _group_code(name: str, sizes: np.ndarray, params: dict, exact_s, info: dict) -> Code:
    groups = np.repeat(np.arange(sizes.size), sizes)
    n = int(sizes.sum())
    # Worker i stores partition j iff both belong to the same group: B = E E^T with
    # E the [n, n_groups] group-indicator matrix.
    E = sp.csr_matrix((np.ones(n), (np.arange(n), groups)), shape=(n, sizes.size))
    B = (E @ E.T).tocsr()
    groups.setflags(write=False)
    sizes.setflags(write=False)
    info = {"group_sizes": sizes, **info}
    return Code(name, B, params=params, exact_s=exact_s, info=info, groups=groups)


@register_code(
    "frc",
    family="exact",
    storage_param="s",
    closed_form=replica_group_closed_form,
    replica_groups=True,
    summary="Fractional repetition (Tandon et al. 2017): n/(s+1) groups of s+1 replicas",
)
def frc(*, n: int, s: int) -> Code:
    """Fractional repetition code tolerating any ``s`` stragglers exactly.

    Parameters
    ----------
    n : int
        Workers (= partitions); must be a multiple of ``s + 1``.
    s : int
        Stragglers tolerated, in ``[0, n - 1]``.

    Returns
    -------
    Code
        Storage ``s + 1``; ``exact_s = s``; ``code.groups`` (worker -> group).

    Examples
    --------
    >>> from aircomp_agc.coding import make_code
    >>> make_code("frc", n=12, s=3).storage
    4
    """
    owner = "make_code('frc')"
    n = check_int("n", n, low=1, owner=owner)
    s = check_int("s", s, low=0, high=n - 1, owner=owner)
    if n % (s + 1):
        good_n = [(s + 1) * m for m in (n // (s + 1), n // (s + 1) + 1) if m >= 1]
        good_s = [q - 1 for q in range(1, n + 1) if n % q == 0]
        raise ValueError(
            f"The 'n' parameter of {owner} must be a multiple of s+1 = {s + 1} "
            f"(e.g. {' or '.join(map(str, good_n))}); got n={n}. "
            f"For n={n} the values s in {good_s} work."
        )
    sizes = np.full(n // (s + 1), s + 1, dtype=np.int64)
    return _group_code("frc", sizes, {"n": n, "s": s}, s, {})


@register_code(
    "approx-frc",
    family="approximate",
    storage_param="row_weight",
    closed_form=replica_group_closed_form,
    replica_groups=True,
    summary="Approximate FRC: replica groups of row_weight workers (lost if all straggle)",
)
def approx_frc(*, n: int, row_weight: int, s: int | None = None) -> Code:
    """Approximate fractional repetition code with replication ``d = row_weight``.

    Parameters
    ----------
    n : int
        Workers (= partitions), >= 1.
    row_weight : int
        Group size / storage budget ``d`` in ``[1, n]``; see the module note for
        ``d`` not dividing ``n``.
    s : int, optional
        Number of stragglers, for information only: when given, ``info`` records
        ``expected_error`` = :func:`approx_frc_expected_error` ``(n, d, s)``.

    Returns
    -------
    Code
        Storage ``ceil(n / ceil(n/d)) <= d``; ``exact_s = d - 1`` when ``d | n`` (then it
        is an FRC) else ``min(sizes) - 1``.
    """
    owner = "make_code('approx-frc')"
    n = check_int("n", n, low=1, owner=owner)
    d = check_int("row_weight", row_weight, low=1, high=n, owner=owner)
    params: dict = {"n": n, "row_weight": d}
    info: dict = {}
    sizes = group_sizes(n, d)
    if s is not None:
        s = check_int("s", s, low=0, high=n - 1, owner=owner)
        params["s"] = s
        info["expected_error"] = approx_frc_expected_error(n, d, s)
    return _group_code("approx-frc", sizes, params, int(sizes.min()) - 1, info)


def approx_frc_expected_error(n: int, d: int, s: int) -> float:
    """Mean least-squares decoding error of ``approx-frc`` under ``s`` uniform stragglers.

    .. math::

        \\mathbb E[\\mathrm{err}] = \\frac1n \\sum_g m_g \\binom{s}{m_g} \\Big/ \\binom{n}{m_g}

    with group sizes ``m_g`` from :func:`group_sizes`; ``C(s, d) / C(n, d)`` when
    ``d | n``. Computed with exact integer arithmetic.

    Parameters
    ----------
    n : int
        Workers (>= 1).
    d : int
        Row weight in ``[1, n]``.
    s : int
        Stragglers in ``[0, n]``.

    Returns
    -------
    float

    Examples
    --------
    >>> round(approx_frc_expected_error(24, 3, 12), 5)
    0.1087
    """
    owner = "approx_frc_expected_error"
    n = check_int("n", n, low=1, owner=owner)
    d = check_int("d", d, low=1, high=n, owner=owner)
    s = check_int("s", s, low=0, high=n, owner=owner)
    from fractions import Fraction

    total = sum(
        Fraction(int(m) * math.comb(s, int(m)), math.comb(n, int(m))) for m in group_sizes(n, d)
    )
    return float(total / n)
