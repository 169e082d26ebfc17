r"""Conformance checks for gradient codes and straggler models.

Like scikit-learn's ``check_estimator``, these functions let any construction -- built-in
or a user's own -- prove that it follows the contract the rest of the toolkit relies on::

    from aircomp_agc.coding.testing import check_code, check_straggler_model
    check_code("frc", n=12, s=3)
    check_code(my_factory, tags={"family": "approximate", "randomized": True}, n=12,
               row_weight=3)
    check_straggler_model(make_stragglers("bernoulli", p=0.2))

A failed check raises :class:`ConformanceError` (an ``AssertionError``) whose message
names the check and the entry; a passed run returns a :class:`ConformanceReport` saying
which checks ran. The checks read the entry's tags (never its name), so a tag that lies
is caught: a ``randomized`` code that ignores ``rng``, a deterministic one that depends on
it, a ``closed_form`` that disagrees with the Monte Carlo, ``replica_groups`` on a code
that is not block diagonal.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._checks import check_int, check_real
from .base import Code
from .registry import CODES, FAMILIES, STORAGE_PARAMS, code_tags, make_code
from .stragglers import BernoulliStragglers, FixedStragglers, StragglerModel, straggler_tags

__all__ = ["ConformanceError", "ConformanceReport", "check_code", "check_straggler_model"]

#: Seeds of the determinism checks.
_SEEDS = (0, 1, 2)
#: Largest residual ``||B_T^T a - 1|| / sqrt(k)`` of an exact decode.
EXACT_RESIDUAL = 1e-8


class ConformanceError(AssertionError):
    """An entry breaks the contract; the message names the check that failed."""


@dataclass(frozen=True)
class ConformanceReport:
    """What a conformance run checked.

    Attributes
    ----------
    name : str
        The entry (registered name, factory or model).
    checks : tuple of str
        The checks that ran and passed, with details (e.g. how many straggler sets the
        exactness check decoded).
    """

    name: str
    checks: tuple[str, ...]

    def ran(self, check: str) -> bool:
        """Whether a check whose description starts with ``check`` ran."""
        return any(c.split(":")[0] == check for c in self.checks)


def _fail(entry: str, check: str, message: str) -> None:
    raise ConformanceError(f"{entry}: check '{check}' failed: {message}")


def _same_matrix(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return a.shape == b.shape and (a != b).nnz == 0


# ----------------------------------------------------------------------------- codes


def check_code(
    name_or_factory: str | Callable[..., Code],
    /,
    *,
    tags: Mapping[str, Any] | None = None,
    stragglers: Iterable[StragglerModel] | None = None,
    n_trials: int = 2000,
    max_sets: int = 5000,
    **params: Any,
) -> ConformanceReport:
    r"""Check that a code construction follows the contract of the coding layer.

    Parameters
    ----------
    name_or_factory : str or callable
        A registered code name (``"package.module:factory"`` too), or a factory
        ``(**params) -> Code`` (``rng=`` is passed when it accepts one).
    tags : mapping, optional
        Tags of a factory (default: its ``tags`` attribute, over the registry defaults);
        registered names use their registration's tags.
    stragglers : iterable of StragglerModel, optional
        Models the closed form is checked under (default: ``s`` uniform stragglers for
        ``s`` in ``{0, 1, exact_s, n // 2}`` and Bernoulli(0.3)).
    n_trials : int >= 2
        Straggler sets of each closed-form Monte Carlo.
    max_sets : int >= 1
        Most straggler sets the exactness check decodes: all sets of size ``<= exact_s``
        when there are at most this many, else this many uniformly random sets of size
        ``exact_s`` (the report says which).
    **params
        The construction's parameters (keep ``n`` small: the checks are exhaustive). The
        names above are reserved by the check.

    Returns
    -------
    ConformanceReport

    Raises
    ------
    ConformanceError
        Naming the failed check:

        - ``contract``: returns a :class:`Code`, CSR float64 ``B`` of shape
          ``[n_workers, n_partitions]`` (``n`` / ``n_partitions`` as asked);
        - ``finite``: every entry of ``B`` is finite;
        - ``storage``: ``code.storage`` and ``code.loads`` equal the row supports of ``B``;
        - ``determinism``: the same ``rng`` (int or Generator) gives the same ``B``;
        - ``rng``: randomized codes differ for different seeds, deterministic ones ignore
          ``rng``;
        - ``tags``: tag values are of the allowed kinds; ``storage_param`` names a
          parameter of the factory; exact codes have ``exact_s`` and storage
          ``>= exact_s + 1`` (Tandon et al. 2017);
        - ``exact``: every straggler set of size ``<= exact_s`` decodes with the
          least-squares decoder to residual ``||B_T^T a - 1|| / sqrt(k) < 1e-8``, with
          ``a`` zero off the responders;
        - ``replica_groups``: ``code.groups`` is set and ``B`` is 0/1 with groups of
          workers storing the same partitions, as many as members (and ``code.groups``
          only on codes so tagged);
        - ``closed_form``: agrees with a Monte-Carlo estimate (4.5 standard errors).
    """
    entry, build, tags, factory = _code_source(name_or_factory, tags, params)
    done: list[str] = []
    code = _check_contract(entry, build, params)
    done.append("contract")
    if not np.all(np.isfinite(code.B.data)):
        _fail(entry, "finite", f"B has {int(np.sum(~np.isfinite(code.B.data)))} non-finite "
                               "entries")
    done.append("finite")
    _check_storage(entry, code)
    done.append("storage")
    done.append(_check_determinism(entry, build, tags))
    done.append("rng")
    _check_tags(entry, code, tags, factory)
    done.append("tags")
    if code.exact_s is not None:
        done.append(_check_exact(entry, code, max_sets))
    if tags["replica_groups"]:
        _check_replica_groups(entry, code)
        done.append("replica_groups")
    if tags["closed_form"] is not None:
        done.append(_check_closed_form(entry, code, tags["closed_form"], stragglers,
                                       n_trials))
    return ConformanceReport(entry, tuple(done))


def _code_source(name_or_factory, tags, params):
    """``(entry name, build(rng) -> Code, tags, factory)`` for a name or a factory."""
    if "rng" in params:
        raise ValueError(
            "The 'rng' parameter of check_code is reserved: the check draws codes with its "
            f"own seeds; got rng={params['rng']!r}."
        )
    if isinstance(name_or_factory, str):
        name = name_or_factory
        the_tags = code_tags(name)
        if tags is not None:
            raise ValueError(
                "The 'tags' parameter of check_code applies to factories only; the code "
                f"{name!r} is checked with its registration's tags."
            )
        return name, (lambda rng: make_code(name, **params, rng=rng)), the_tags, CODES.get(name)
    if not callable(name_or_factory):
        raise TypeError(
            "The 'name_or_factory' parameter of check_code must be a code name or a callable "
            f"(**params) -> Code; got {type(name_or_factory).__name__}."
        )
    factory = name_or_factory
    the_tags = {**CODES.default_tags, **dict(getattr(factory, "tags", {}) or {}),
                **dict(tags or {})}
    takes_rng = "rng" in inspect.signature(factory).parameters

    def build(rng):
        return factory(**params, rng=rng) if takes_rng else factory(**params)

    return getattr(factory, "__name__", repr(factory)), build, the_tags, factory


def _check_contract(entry: str, build, params: Mapping[str, Any]) -> Code:
    code = build(_SEEDS[0])
    if not isinstance(code, Code):
        _fail(entry, "contract", f"returned {type(code).__name__}, not a Code")
    B = code.B
    if not (sp.issparse(B) and B.format == "csr" and B.dtype == np.float64):
        _fail(entry, "contract", f"B must be CSR float64; got {type(B).__name__} {B.dtype}")
    if B.shape != (code.n_workers, code.n_partitions) or min(B.shape) < 1:
        _fail(entry, "contract", f"B has shape {B.shape}")
    if "n" in params and code.n_workers != params["n"]:
        _fail(entry, "contract", f"n={params['n']} gave {code.n_workers} workers")
    if params.get("n_partitions") is not None and code.n_partitions != params["n_partitions"]:
        _fail(entry, "contract",
              f"n_partitions={params['n_partitions']} gave {code.n_partitions} partitions")
    return code


def _check_storage(entry: str, code: Code) -> None:
    support = np.asarray((abs(code.B) > 0).sum(axis=1)).ravel()
    if not np.array_equal(code.loads, support) or code.storage != support.max(initial=0):
        _fail(entry, "storage", f"storage {code.storage} / loads {code.loads.tolist()} differ "
                                f"from the row supports {support.tolist()}")


def _check_determinism(entry: str, build, tags) -> str:
    first = build(_SEEDS[0])
    for again in (build(_SEEDS[0]), build(np.random.default_rng(_SEEDS[0]))):
        if not _same_matrix(first.B, again.B) or first.exact_s != again.exact_s:
            _fail(entry, "determinism", f"two builds with rng={_SEEDS[0]} differ")
    others = [build(seed) for seed in _SEEDS[1:]]
    differ = [not _same_matrix(first.B, c.B) for c in others]
    if tags["randomized"] and not any(differ):
        _fail(entry, "rng", f"tagged randomized, but seeds {list(_SEEDS)} give the same B "
                            "(is rng ignored?)")
    if not tags["randomized"]:
        if any(differ) or not _same_matrix(first.B, build(None).B):
            _fail(entry, "rng", "tagged deterministic, but B depends on rng")
    return "determinism"


def _check_tags(entry: str, code: Code, tags, factory) -> None:
    if tags["family"] not in FAMILIES:
        _fail(entry, "tags", f"family {tags['family']!r} not in {FAMILIES}")
    if tags["storage_param"] not in STORAGE_PARAMS:
        _fail(entry, "tags", f"storage_param {tags['storage_param']!r} not in "
                             f"{STORAGE_PARAMS}")
    for flag in ("randomized", "replica_groups"):
        if not isinstance(tags[flag], bool):
            _fail(entry, "tags", f"{flag} must be a bool; got {tags[flag]!r}")
    if tags["closed_form"] is not None and not callable(tags["closed_form"]):
        _fail(entry, "tags", "closed_form must be None or callable")
    if code.groups is not None and not tags["replica_groups"]:
        _fail(entry, "tags", "code.groups is set, but the replica_groups tag is False")
    param = tags["storage_param"]
    if param is not None and param not in inspect.signature(factory).parameters:
        _fail(entry, "tags", f"storage_param {param!r} is not a parameter of the factory")
    if tags["family"] == "exact":
        if code.exact_s is None:
            _fail(entry, "tags", "family 'exact' but code.exact_s is None")
        if code.storage < code.exact_s + 1:
            _fail(entry, "tags", f"storage {code.storage} < exact_s + 1 = {code.exact_s + 1}: "
                                 "no code tolerates s stragglers with less")


def _straggler_sets(n: int, s: int, max_sets: int) -> tuple[np.ndarray, bool]:
    """Responder masks of every straggler set of size <= s, or max_sets random s-sets."""
    total = sum(math.comb(n, j) for j in range(s + 1))
    if total <= max_sets:
        masks = np.ones((total, n), dtype=bool)
        row = 0
        for j in range(s + 1):
            for slow in itertools.combinations(range(n), j):  # enumeration: test-size n only
                masks[row, list(slow)] = False
                row += 1
        return masks, True
    return FixedStragglers(s=s).sample(max_sets, n, rng=0), False


def _check_exact(entry: str, code: Code, max_sets: int) -> str:
    from .decoders import decoding_vectors

    s = code.exact_s
    masks, exhaustive = _straggler_sets(code.n_workers, s, max_sets)
    a = decoding_vectors(code, masks, method="lstsq")
    if np.any(a[~masks] != 0):
        _fail(entry, "exact", "the decoder puts weight on stragglers")
    c = (code.B.T @ a.T).T
    residual = np.linalg.norm(c - 1.0, axis=1) / math.sqrt(code.n_partitions)
    worst = int(np.argmax(residual))
    if residual[worst] >= EXACT_RESIDUAL:
        slow = np.flatnonzero(~masks[worst]).tolist()
        _fail(entry, "exact", f"exact_s={s}, but stragglers {slow} leave residual "
                              f"{residual[worst]:.3g} >= {EXACT_RESIDUAL:g}")
    how = "all" if exhaustive else "random"
    return f"exact: {how} {masks.shape[0]} sets of <= {s} stragglers decode"


def _check_replica_groups(entry: str, code: Code) -> None:
    if code.groups is None:
        _fail(entry, "replica_groups", "tagged, but code.groups is None (the decoders' "
                                       "closed forms need it)")
    B = code.B
    if code.n_workers != code.n_partitions or np.any(B.data != 1.0):
        _fail(entry, "replica_groups", "B must be a square 0/1 matrix")
    overlap = (B @ B.T).tocoo()  # shared partitions of workers i, j
    loads = code.loads
    same = (overlap.data == loads[overlap.row]) & (overlap.data == loads[overlap.col])
    members = np.bincount(overlap.row, minlength=code.n_workers)
    if not np.all(same) or not np.array_equal(members, loads):
        _fail(entry, "replica_groups", "workers that share a partition must store the same "
                                       "partitions, a group of m workers storing m of them")


def _default_models(code: Code) -> list[StragglerModel]:
    n = code.n_workers
    sizes = sorted({0, min(1, n), n // 2, *([code.exact_s] if code.exact_s is not None else [])})
    return [FixedStragglers(s=s) for s in sizes] + [BernoulliStragglers(p=0.3)]


def _check_closed_form(entry: str, code: Code, closed_form, stragglers, n_trials) -> str:
    from .montecarlo import estimate_error

    models = _default_models(code) if stragglers is None else list(stragglers)
    n_trials = check_int("n_trials", n_trials, low=2, owner="check_code")
    compared = 0
    for i, model in enumerate(models):
        value = closed_form(code, model)
        if value is None:
            continue
        if not (isinstance(value, float | int) and math.isfinite(value) and value >= 0):
            _fail(entry, "closed_form", f"returned {value!r} under {model!r}; expected a "
                                        "finite float >= 0 or None")
        est = estimate_error(code, model, n_trials=n_trials, rng=1000 + i,
                             batch_size=min(200, n_trials))
        tol = 4.5 * est.std_err + 1e-9 * max(1.0, abs(value))
        if abs(est.mean - value) > tol:
            _fail(entry, "closed_form", f"{value:.6g} under {model!r}, but the Monte Carlo "
                                        f"gives {est} (tolerance {tol:.3g})")
        compared += 1
    if compared == 0:
        _fail(entry, "closed_form", f"tagged, but it returned None for every model tried: "
                                    f"{models!r}")
    return f"closed_form: agrees with the Monte Carlo under {compared} straggler models"


# ----------------------------------------------------------------------------- stragglers


def check_straggler_model(
    model: StragglerModel,
    *,
    n_workers: int = 12,
    batch: int = 20_000,
    tags: Mapping[str, Any] | None = None,
    z: float = 4.5,
) -> ConformanceReport:
    r"""Check that a straggler model follows the contract of :class:`StragglerModel`.

    Parameters
    ----------
    model : StragglerModel
        A configured instance.
    n_workers : int >= 1
        Workers of every draw.
    batch : int >= 2
        Draws of the statistical checks.
    tags : mapping, optional
        Tags to check against (default :func:`~aircomp_agc.coding.stragglers.straggler_tags`).
    z : float > 0
        Tolerance of the statistical checks in standard errors (4.5: a false alarm about
        once in 150,000 checks).

    Returns
    -------
    ConformanceReport

    Raises
    ------
    ConformanceError
        Naming the failed check:

        - ``signature``: ``sample(batch, n_workers, *, rng=None)`` (``rng`` keyword-only
          and last);
        - ``shape``: a bool array ``[batch, n_workers]``;
        - ``determinism``: the same ``rng`` (int or Generator) gives the same masks;
        - ``rng``: randomized models differ for different seeds, the others ignore ``rng``;
        - ``marginal`` (tag ``marginal``): ``response_probability`` is a probability vector
          ``[n_workers]`` matching the empirical response frequency of every worker;
        - ``batch_independence`` (randomized models): rows of a batch are independent
          draws (two rows of a batch agree on as many workers as rows of independent
          batches).
    """
    entry = repr(model)
    if not isinstance(model, StragglerModel):
        raise TypeError(
            "The 'model' parameter of check_straggler_model must be a StragglerModel; got "
            f"{type(model).__name__}."
        )
    n = check_int("n_workers", n_workers, low=1, owner="check_straggler_model")
    batch = check_int("batch", batch, low=2, owner="check_straggler_model")
    z = check_real("z", z, low=0, low_open=True, owner="check_straggler_model")
    tags = dict(straggler_tags(model)) if tags is None else dict(tags)
    done = []
    _check_signature(entry, model)
    done.append("signature")
    first = model.sample(7, n, rng=_SEEDS[0])
    if not (isinstance(first, np.ndarray) and first.dtype == bool and first.shape == (7, n)):
        _fail(entry, "shape", f"sample(7, {n}) returned {type(first).__name__} "
                              f"{getattr(first, 'dtype', '')} {getattr(first, 'shape', '')}; "
                              f"expected bool [7, {n}]")
    done.append("shape")
    for again in (model.sample(7, n, rng=_SEEDS[0]),
                  model.sample(7, n, rng=np.random.default_rng(_SEEDS[0]))):
        if not np.array_equal(first, again):
            _fail(entry, "determinism", f"two draws with rng={_SEEDS[0]} differ")
    done.append("determinism")
    differ = [not np.array_equal(first, model.sample(7, n, rng=s)) for s in _SEEDS[1:]]
    if tags["randomized"] and not any(differ):
        _fail(entry, "rng", f"tagged randomized, but seeds {list(_SEEDS)} give the same masks")
    if not tags["randomized"] and any(differ):
        _fail(entry, "rng", "tagged deterministic, but the masks depend on rng")
    done.append("rng")
    if tags["marginal"]:
        _check_marginal(entry, model, model.sample(batch, n, rng=12345), z)
        done.append("marginal")
    if tags["randomized"]:
        _check_batch_independence(entry, model, n, batch, z)
        done.append("batch_independence")
    return ConformanceReport(entry, tuple(done))


def _check_signature(entry: str, model: StragglerModel) -> None:
    params = list(inspect.signature(model.sample).parameters.values())
    names = [p.name for p in params]
    ok = (
        names[:2] == ["batch", "n_workers"]
        and names[-1] == "rng"
        and params[-1].kind is inspect.Parameter.KEYWORD_ONLY
    )
    if not ok:
        _fail(entry, "signature", f"sample{inspect.signature(model.sample)}; expected "
                                  "sample(batch, n_workers, *, rng=None)")


def _check_marginal(entry: str, model: StragglerModel, masks: np.ndarray, z: float) -> None:
    n = masks.shape[1]
    p = np.asarray(model.response_probability(n), dtype=np.float64)
    if p.shape != (n,) or not np.all((p >= 0) & (p <= 1)):
        _fail(entry, "marginal", f"response_probability({n}) = {p!r}; expected "
                                 f"probabilities [{n}]")
    freq = masks.mean(axis=0)
    se = np.sqrt(np.maximum(p * (1 - p), 0.25 / masks.shape[0]) / masks.shape[0])
    worst = int(np.argmax(np.abs(freq - p) / se))
    if abs(freq[worst] - p[worst]) > z * se[worst]:
        _fail(entry, "marginal", f"worker {worst} responds with frequency {freq[worst]:.4f} "
                                 f"over {masks.shape[0]} draws, response_probability says "
                                 f"{p[worst]:.4f}")


def _check_batch_independence(entry: str, model: StragglerModel, n: int, batch: int,
                              z: float) -> None:
    # Rows of one batch must be as alike as rows of two independent batches: the fraction
    # of workers on which two rows agree has the same mean for disjoint row pairs (2t,
    # 2t+1) of one batch as for row t of two batches drawn with other seeds. A model that
    # repeats one draw over the batch, or carries state from row to row, shows a larger
    # (or smaller) agreement within the batch.
    half = batch // 2
    x = model.sample(2 * half, n, rng=12345)
    within = (x[0::2] == x[1::2]).mean(axis=1)
    across = (model.sample(half, n, rng=23456) == model.sample(half, n, rng=34567)).mean(axis=1)
    se = math.sqrt(within.var(ddof=1) / half + across.var(ddof=1) / half) + 1e-12
    if abs(within.mean() - across.mean()) > z * se:
        _fail(entry, "batch_independence", f"two rows of a batch agree on "
                                           f"{within.mean():.4f} of the workers, rows of "
                                           f"independent batches on {across.mean():.4f} "
                                           f"(se {se:.2g})")
