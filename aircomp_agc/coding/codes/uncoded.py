"""The uncoded baseline: ``B = I`` (worker ``i`` holds partition ``i`` only).

A straggler's partition is simply lost. What each decoder does here:

- ``"lstsq"``: weight 1 on every responder (ignore the stragglers);
  ``err = s / n`` with ``s`` stragglers, biased towards zero.
- ``"one-step"``: the default weight ``k / (w |T|) = n / |T|`` rescales the partial
  sum to be unbiased (as in stochastic gradient coding with ``d = 1``);
  ``err = s / (n - s)``. Pass ``weight=1.0`` for the plain "ignore stragglers" sum.
- ``"exact"``: decodable only without stragglers (``exact_s = 0``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..._checks import check_int
from ..base import Code
from ..registry import register_code, replica_group_closed_form

__all__ = ["uncoded"]


@register_code(
    "uncoded",
    family="baseline",
    closed_form=replica_group_closed_form,
    replica_groups=True,
    summary="Uncoded baseline: B = I, one partition per worker",
)
def uncoded(*, n: int) -> Code:
    """Uncoded baseline with ``n`` workers and ``n`` partitions.

    Parameters
    ----------
    n : int
        Workers (= partitions), >= 1.

    Returns
    -------
    Code
        ``B = I_n``, storage 1, ``exact_s = 0``; ``code.groups = arange(n)``
        (replica groups of one, so the closed-form group decoders apply).
    """
    n = check_int("n", n, low=1, owner="make_code('uncoded')")
    groups = np.arange(n)
    groups.setflags(write=False)
    return Code(
        "uncoded",
        sp.identity(n, format="csr"),
        params={"n": n},
        exact_s=0,
        info={"group_sizes": np.ones(n, dtype=np.int64)},
        groups=groups,
    )
