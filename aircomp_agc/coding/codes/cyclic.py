"""Cyclic exact codes with storage s + 1: random ``crc`` and deterministic ``cyclic-mds``.

In both, worker ``i`` stores the ``s + 1`` cyclically consecutive partitions
``{i, ..., i + s} mod n`` (``n_partitions = n_workers = n``), and any ``n - s``
responders can recover ``G = sum_j g_j`` exactly.

- ``crc``: Tandon, Lei, Dimakis, Karampatziakis, "Gradient coding", ICML 2017,
  Algorithm 2. Random ``H`` (s x n) with ``H 1 = 0``; row ``i`` has ``B[i, i] = 1`` and
  its other ``s`` entries ``b`` solve ``H[:, S_i] b = -H[:, i]``, ``S_i = {i+1..i+s}``.
  Rows lie in ``null(H)`` (dimension ``n - s``, containing ``1``) and any ``n - s`` of
  them are independent with probability one. Badly conditioned.
- ``cyclic-mds``: a real cyclic MDS code (Raviv, Tamo, Tandon, Dimakis, "Gradient coding
  from cyclic MDS codes and expander graphs", ICML 2018 / IEEE T-IT 2020), below.

Both record conditioning diagnostics in ``code.info`` (see :func:`_diagnostics`):
``cond_worst`` (worst observed ``cond(B_T)`` with ``|T| = n - s``, over the nonzero
singular values; see :func:`aircomp_agc.coding.lstsq.conditioning`), ``max_abs_a``
(largest exact-decoder weight seen), ``residual_worst`` (largest relative residual
``||B_T^T a - 1|| / sqrt(n)`` of the float64 decoder), ``cond_sets`` (sets examined) and
``cond_exhaustive``; all ``None``/0 when skipped. "Worst observed" is a lower bound on
the worst case unless exhaustive.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..._checks import check_int, resolve_rng
from ..base import Code
from ..lstsq import conditioning
from ..registry import exact_closed_form, register_code

__all__ = ["crc", "cyclic_mds", "cyclic_mds_blocks", "mds_generator"]

# Auto diagnostics: exhaustive up to this many straggler sets ...
_EXHAUSTIVE_MAX = 1000
# ... else the n cyclic windows plus this many random sets, for n up to _DIAG_MAX_N.
_RANDOM_SETS = 256
_DIAG_MAX_N = 100
# Seed of the sampled diagnostic sets of the deterministic cyclic-mds code.
_DIAG_SEED = 0


def _check_ns(n, s, owner: str) -> tuple[int, int]:
    n = check_int("n", n, low=1, owner=owner)
    s = check_int("s", s, low=0, high=n - 1, owner=owner)
    return n, s


def _diagnostics(code: Code, s: int, cond_sets: int | None, rng) -> dict:
    """Worst observed conditioning over straggler sets of size ``s``.

    ``cond_sets=None``: exhaustive when ``C(n, s) <= 1000``; otherwise, for ``n <= 100``,
    the ``n`` cyclic windows ``{i..i+s-1}`` (a natural bad case for banded codes) plus 256
    uniformly random sets; skipped above ``n = 100`` (dense SVDs get slow). An int asks
    for that many random sets (plus the windows), or exhaustive if ``C(n, s)`` is smaller.
    """
    n = code.n_workers
    total = math.comb(n, s)
    skipped = {
        "cond_worst": None,
        "max_abs_a": None,
        "residual_worst": None,
        "cond_sets": 0,
        "cond_exhaustive": False,
    }
    if cond_sets is None:
        if total > _EXHAUSTIVE_MAX and n > _DIAG_MAX_N:
            return skipped
        cond_sets = _RANDOM_SETS if total > _EXHAUSTIVE_MAX else total
    if cond_sets == 0:
        return skipped
    if total <= max(cond_sets, 1) and total <= 20 * _EXHAUSTIVE_MAX:
        out = conditioning(code, s)
        exhaustive = True
    else:
        gen = resolve_rng(rng)
        windows = (np.arange(n)[:, None] + np.arange(s)[None, :]) % n
        random = np.argsort(gen.random((cond_sets, n)), axis=1)[:, :s]
        out = conditioning(code, s, sets=np.concatenate([windows, random]))
        exhaustive = False
    return {
        "cond_worst": out["cond_worst"],
        "max_abs_a": out["max_abs_a"],
        "residual_worst": out["residual_worst"],
        "cond_sets": out["n_sets"],
        "cond_exhaustive": exhaustive,
    }


@register_code(
    "crc",
    family="exact",
    randomized=True,
    storage_param="s",
    closed_form=exact_closed_form,
    summary="Cyclic repetition code (Tandon et al. 2017, Alg. 2): random, ill-conditioned",
)
def crc(*, n: int, s: int, rng=None, cond_sets: int | None = None) -> Code:
    """Tandon et al.'s random cyclic repetition code (Algorithm 2).

    Parameters
    ----------
    n : int
        Workers (= partitions), >= 1.
    s : int
        Stragglers tolerated, in ``[0, n - 1]``.
    rng : None, int, SeedSequence or Generator
        Draws ``H`` (i.i.d. standard normal, last column ``-sum`` of the others so that
        ``H 1 = 0``) and the diagnostic straggler sets.
    cond_sets : int, optional
        Straggler sets for the conditioning diagnostics in ``info`` (see module doc);
        0 skips them.

    Returns
    -------
    Code
        ``B`` [n, n], row ``i`` supported on ``{i, ..., i+s} mod n``; storage ``s+1``;
        ``exact_s = s``.
    """
    owner = "make_code('crc')"
    n, s = _check_ns(n, s, owner)
    if cond_sets is not None:
        cond_sets = check_int("cond_sets", cond_sets, low=0, owner=owner)
    gen = resolve_rng(rng)
    H = gen.standard_normal((s, n))
    if s:
        H[:, -1] = -H[:, :-1].sum(axis=1)
    i = np.arange(n)
    others = (i[:, None] + np.arange(1, s + 1)[None, :]) % n  # [n, s]
    if s:
        # Batched s x s solves, one per row: H[:, S_i] b = -H[:, i].
        lhs = np.transpose(H[:, others], (1, 0, 2))  # [n, s, s]
        b = np.linalg.solve(lhs, -H.T[:, :, None])[:, :, 0]  # [n, s]
    else:
        b = np.zeros((n, 0))
    cols = np.concatenate([i[:, None], others], axis=1)
    vals = np.concatenate([np.ones((n, 1)), b], axis=1)
    B = sp.csr_matrix((vals.ravel(), (np.repeat(i, s + 1), cols.ravel())), shape=(n, n))
    code = Code("crc", B, params={"n": n, "s": s}, exact_s=s)
    info = _diagnostics(code, s, cond_sets, gen)
    return Code("crc", code.B, params=code.params, exact_s=s, info=info)


def cyclic_mds_blocks(n: int, s: int) -> list[int]:
    """Block sizes of ``cyclic-mds`` for ``n`` workers and ``s`` stragglers.

    Returns ``[n]`` when ``s = 0`` or ``n - s`` is odd; ``[n1, n - n1]`` with
    ``n1 - s`` and ``n - n1 - s`` odd (``n1 = n/2`` or ``n/2 - 1``) when ``n`` is even,
    ``s`` is even and ``n >= 2 s + 2``.

    Raises
    ------
    ValueError
        For the other ``(n, s)``: ``n`` odd with ``s`` odd (``n - s`` even and no real
        arithmetic-progression code exists, see :func:`cyclic_mds`), or ``n`` even,
        ``s`` even, ``n < 2 s + 2``.
    """
    owner = "make_code('cyclic-mds')"
    n, s = _check_ns(n, s, owner)
    if s == 0 or (n - s) % 2 == 1:
        return [n]
    if n % 2 == 0 and n >= 2 * s + 2:
        n1 = n // 2 if (n // 2 - s) % 2 == 1 else n // 2 - 1
        return [n1, n - n1]
    valid = [q for q in range(n) if q == 0 or (n - q) % 2 == 1 or (n % 2 == 0 and n >= 2 * q + 2)]
    raise ValueError(
        f"The 's' parameter of {owner} must make n - s odd, or (n even, s even and "
        f"n >= 2s + 2); got n={n}, s={s}. For n={n} these s work: {_ranges(valid)}; "
        "otherwise use 'crc' (any n, s) or 'frc' ((s+1) divides n)."
    )


def _ranges(values: list[int]) -> str:
    """Compact listing like '0, 2, 4-6'."""
    if not values:
        return "none"
    parts, lo, prev = [], values[0], values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(lo) if lo == prev else f"{lo}-{prev}")
        if v is not None:
            lo = prev = v
    return ", ".join(parts)


def mds_generator(m: int, s: int) -> np.ndarray:
    """Real generator ``g`` (length ``s + 1``) of the cyclic code on ``m`` coordinates.

    ``g(x) = c * prod_{j in Z} (x - w^j)``, ``w = exp(2 pi i / m)``,
    ``Z = {L+1, ..., m-L-1}``, ``L = (m - s - 1) / 2`` (``m - s`` odd), scaled so that
    ``sum_j g_j = g(1) = s + 1`` (then the one-step weight ``1/(s+1)`` decodes the full
    set exactly, as for 0/1 codes with row weight ``s + 1``).

    Returns
    -------
    g : float64 ndarray [s + 1]
        ``g[t]`` is the coefficient of ``x^t``.
    """
    m = check_int("m", m, low=1, owner="mds_generator")
    s = check_int("s", s, low=0, high=m - 1, owner="mds_generator")
    if s == 0:
        return np.ones(1)  # g(x) = 1: B = I, any m
    if (m - s) % 2 == 0:
        raise ValueError(
            f"The 's' parameter of mds_generator must make m - s odd (a real code needs it); "
            f"got m={m}, s={s}."
        )
    L = (m - s - 1) // 2
    Z = np.arange(L + 1, m - L)
    roots = np.exp(2j * np.pi * Z / m)
    g = np.atleast_1d(np.poly(roots))[::-1]  # ascending powers; real since Z = -Z
    g = g.real
    return g * ((s + 1) / g.sum())


@register_code(
    "cyclic-mds",
    family="exact",
    storage_param="s",
    closed_form=exact_closed_form,
    summary="Deterministic real cyclic MDS code (Raviv et al. 2018), storage s+1",
)
def cyclic_mds(*, n: int, s: int, cond_sets: int | None = None) -> Code:
    """Deterministic real cyclic MDS gradient code (one block, or two blocks).

    **One block** (``s = 0`` or ``n - s`` odd): rows are the cyclic shifts
    ``x^i g(x) mod (x^n - 1)`` of :func:`mds_generator` ``(n, s)``, so worker ``i`` stores
    partitions ``{i..i+s} mod n``.

    *Proof of decodability.* Let ``N = Z^c = {-L, ..., L}`` (``|N| = n - s``). The DFT of
    row ``i`` at frequency ``m`` is ``w^{im} g(w^m)``: zero on ``Z`` and nonzero on ``N``
    (``g``'s roots are exactly ``w^Z``). (i) ``Z = -Z``, so the roots come in conjugate
    pairs (``-1`` alone when ``n`` is even) and ``g`` is real. (ii) ``0 in N``, so the
    all-ones vector (DFT supported on frequency 0) lies in the cyclic code
    ``C = {v : DFT(v)|_Z = 0}`` of dimension ``n - s``. (iii) For any responder set
    ``T`` with ``|T| = n - s``, the rows' DFTs restricted to ``N`` form
    ``V diag(g(w^m))`` with ``V[i, t] = w^{i (t - L)} = w^{-iL} (w^i)^t`` (``i in T``,
    ``t = 0..n-s-1``): a row-scaled Vandermonde matrix on the distinct nodes ``w^i``,
    hence invertible. So the ``n - s`` rows span ``C``, which contains ``1``; larger
    ``T`` also do. ``N`` symmetric around 0 and consecutive forces ``|N|`` odd.

    **Two blocks** (``n`` even, ``s`` even, ``n >= 2s + 2``, i.e. ``n - s`` even): a real
    code with ``0 in N`` needs ``|N|`` odd unless ``n/2 in N``, and no such set is an
    arithmetic progression (so the Vandermonde argument fails), hence
    ``B = blockdiag(B_{n1}, B_{n2})`` with both ``n_b - s`` odd
    (:func:`cyclic_mds_blocks`; ``n = 50, s = 10`` gives 25 + 25). Each block tolerates
    ``s`` stragglers on its own, so any ``s`` stragglers overall leave every block
    decodable and ``1 = (1_{n1}, 1_{n2})`` is recovered. Storage stays ``s + 1``.

    ``n`` odd with ``s`` odd is not covered: every block-diagonal split needs each
    ``n_b - s`` odd, impossible with an odd total; use ``crc``.

    Parameters
    ----------
    n : int
        Workers (= partitions).
    s : int
        Stragglers tolerated.
    cond_sets : int, optional
        Diagnostic straggler sets (see module doc); 0 skips. Sampled sets are drawn from
        a fixed seed, so the code *and* its diagnostics are deterministic (``make_code``
        ignores ``rng`` for it).

    Returns
    -------
    Code
        Storage ``s + 1``, ``exact_s = s``, ``info["blocks"]`` the block sizes.
    """
    owner = "make_code('cyclic-mds')"
    n, s = _check_ns(n, s, owner)
    if cond_sets is not None:
        cond_sets = check_int("cond_sets", cond_sets, low=0, owner=owner)
    blocks = cyclic_mds_blocks(n, s)
    rows, cols, vals = [], [], []
    start = 0
    for m in blocks:  # at most two blocks
        g = mds_generator(m, s)
        i = np.arange(m)
        rows.append(np.repeat(start + i, s + 1))
        cols.append((start + (i[:, None] + np.arange(s + 1)[None, :]) % m).ravel())
        vals.append(np.tile(g, m))
        start += m
    B = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    code = Code("cyclic-mds", B, params={"n": n, "s": s}, exact_s=s)
    info = {"blocks": tuple(blocks), **_diagnostics(code, s, cond_sets, _DIAG_SEED)}
    return Code("cyclic-mds", code.B, params=code.params, exact_s=s, info=info)
