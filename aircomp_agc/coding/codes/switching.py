r"""Random swaps on lists of pairs: the one repair and mixing rule of graph and SGC codes.

Both constructions hold a list of ``m`` slots, each a pair ``(a_i, b_i)`` of integers:

- ``graph``: the edges ``{u, v}`` of a multigraph from the configuration model
  (``undirected=True``: the pair is unordered and loops ``u = v`` are invalid);
- ``sgc``: the (partition, worker) assignments of balanced random replication.

A *switch* of slots ``e`` and ``f`` exchanges their second entries,
``(a_e, b_e), (a_f, b_f) -> (a_e, b_f), (a_f, b_e)`` (for an undirected edge the
orientation of each slot is drawn first, so every double-edge switch
``{u,v},{x,y} -> {u,x},{v,y}`` or ``{u,y},{v,x}`` is reachable). A switch keeps every
``a``-count and every ``b``-count (vertex degrees; partition replication and worker loads),
so the constraints of both codes hold throughout.

- :func:`repair_duplicates` removes repeated (and, undirected, loop) slots by random
  switches, visiting only the bad slots;
- :func:`switch_pass` is one vectorized pass of random switches among valid pairs, with the
  exclusivity rule of :func:`exclusive_switches` that makes the pass symmetric (the uniform
  law on valid slot lists is stationary).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["exclusive_switches", "repair_duplicates", "switch_pass"]

#: ``key(a, b) -> int64 array``: integer identity of a slot (equal keys = repeated slot).
Key = Callable[[np.ndarray, np.ndarray], np.ndarray]


def exclusive_switches(
    present: np.ndarray, old1: np.ndarray, old2: np.ndarray, new1: np.ndarray, new2: np.ndarray
) -> np.ndarray:
    """Which proposed switches of a pass may be applied: bool [n_pairs].

    ``present`` holds the integer keys of the current slots; pair ``i`` would replace keys
    ``old1[i], old2[i]`` by ``new1[i], new2[i]``. A pair is rejected when a new key is
    already present, or when any of its four keys is proposed by another pair too
    (exclusivity: this keeps the pass symmetric, so the uniform law is stationary). One sort
    of every key of the pass, no loop over pairs.
    """
    proposed = np.concatenate([old1, old2, new1, new2])
    uniq, inv = np.unique(np.concatenate([present, proposed]), return_inverse=True)
    in_graph = np.bincount(inv[: present.size], minlength=uniq.size) > 0
    touched = np.bincount(inv[present.size :], minlength=uniq.size)
    inv_new = inv[present.size :].reshape(4, -1)
    return ~in_graph[inv_new[2]] & ~in_graph[inv_new[3]] & ~(touched[inv_new] > 1).any(axis=0)


def repair_duplicates(
    a: np.ndarray, b: np.ndarray, key: Key, gen: np.random.Generator, *, undirected: bool
) -> bool:
    """Switch bad slots with random partners until all slots are distinct (in place).

    A slot is bad when its key repeats an earlier slot's, or (``undirected``) when it is a
    loop ``a = b``. Each bad slot tries up to ``20 m + 100`` random partners; a switch is
    taken when both new slots are valid, distinct and absent. Only the bad slots are
    visited (``O(d^2)`` of them for a configuration-model graph of degree ``d``), so the
    Python loop never runs over all slots.

    Returns
    -------
    bool
        False when a bad slot found no valid switch (possible at tiny sizes): redraw.
    """
    m = a.size
    keys = key(a, b)
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    is_first = np.zeros(m, dtype=bool)
    is_first[first] = True
    bad = ~is_first | ((a == b) if undirected else False)
    pending = set(np.flatnonzero(bad).tolist())
    count = dict(zip(uniq.tolist(), counts.tolist(), strict=True))

    def k(x: int, y: int) -> int:
        return int(key(np.array([x]), np.array([y]))[0])

    while pending:
        e = pending.pop()
        for _ in range(20 * m + 100):
            ae, be = int(a[e]), int(b[e])
            ke = k(ae, be)
            if count[ke] == 1 and not (undirected and ae == be):
                break  # became good after another slot's switch
            f = int(gen.integers(m))
            if f == e:
                continue
            af, bf = int(a[f]), int(b[f])
            if undirected and gen.random() < 0.5:
                af, bf = bf, af
            k1, k2 = k(ae, bf), k(af, be)
            loop = undirected and (ae == bf or af == be)
            if loop or k1 == k2 or count.get(k1, 0) or count.get(k2, 0):
                continue
            count[ke] -= 1
            count[k(af, bf)] -= 1
            count[k1] = 1
            count[k2] = 1
            a[e], b[e], a[f], b[f] = ae, bf, af, be
            pending.discard(f)
            break
        else:
            return False
    return True


def switch_pass(
    a: np.ndarray, b: np.ndarray, key: Key, gen: np.random.Generator, *, undirected: bool
) -> None:
    """One vectorized pass of random switches on a valid slot list (in place).

    Slots are paired at random (orientations drawn at random when ``undirected``); pair
    ``(e, f)`` switches when both new slots are valid (no loop), distinct and absent, and
    none of its four keys (old or new) is touched by another pair
    (:func:`exclusive_switches`). The exclusivity rule makes the pass symmetric (the
    reverse pass has the same probability), so the uniform law on valid slot lists is
    stationary.
    """
    m = a.size
    perm = gen.permutation(m)[: m - m % 2]
    e, f = perm[0::2], perm[1::2]
    ae, be, af, bf = a[e], b[e], a[f], b[f]
    if undirected:
        fe, ff = gen.random(e.size) < 0.5, gen.random(e.size) < 0.5
        ae, be = np.where(fe, be, ae), np.where(fe, ae, be)
        af, bf = np.where(ff, bf, af), np.where(ff, af, bf)
    o1, o2, n1, n2 = key(ae, be), key(af, bf), key(ae, bf), key(af, be)
    ok = n1 != n2
    if undirected:
        ok &= (ae != bf) & (af != be)
    ok &= exclusive_switches(key(a, b), o1, o2, n1, n2)
    idx = np.flatnonzero(ok)
    a[e[idx]], b[e[idx]] = ae[idx], bf[idx]
    a[f[idx]], b[f[idx]] = af[idx], be[idx]
