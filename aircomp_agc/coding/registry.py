"""Registry of gradient-code constructions, picked by name, with metadata (tags).

A construction is a function ``factory(**params) -> Code`` registered with
:func:`register_code`. Keyword arguments follow one convention across codes: ``n``
(workers, also partitions unless ``n_partitions`` is given), ``s`` for exact codes,
``row_weight`` for approximate ones, ``rng`` for randomized ones.

Every registration declares what it is in tags (the toolkit reads tags, never names):

========================  ===============================================================
``family``                ``"exact"``, ``"approximate"`` or ``"baseline"``
``randomized``            whether the construction draws from ``rng``
``storage_param``         the parameter that sets storage: ``"s"``, ``"row_weight"`` or None
``closed_form``           None, or ``f(code, stragglers) -> float | None``: the expected
                          normalized least-squares error ``E||B_T^T a - 1||^2 / k`` of
                          ``code`` under the straggler model, ``None`` where the model is
                          not one it covers
``replica_groups``        ``B`` is block diagonal with all-ones blocks (workers in groups
                          that store the same partitions)
========================  ===============================================================

``make_code(name, ..., rng=...)`` accepts ``rng`` for every code; deterministic ones ignore
it, so one seed can drive a sweep over code names.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .._checks import Entry, Registry, check_choice
from .base import Code

__all__ = [
    "CODES",
    "FAMILIES",
    "STORAGE_PARAMS",
    "code_family",
    "code_parameters",
    "code_tags",
    "exact_closed_form",
    "list_codes",
    "make_code",
    "register_code",
    "replica_group_closed_form",
    "storage_params",
]

FAMILIES = ("exact", "approximate", "baseline")
STORAGE_PARAMS = ("s", "row_weight", None)

ClosedForm = Callable[[Code, Any], "float | None"]

CODES: Registry[Callable[..., Code]] = Registry(
    "code",
    default_tags={
        "family": "approximate",
        "randomized": False,
        "storage_param": None,
        "closed_form": None,
        "replica_groups": False,
    },
)


def register_code(
    name: str,
    *,
    family: Literal["exact", "approximate", "baseline"],
    randomized: bool = False,
    storage_param: Literal["s", "row_weight"] | None = None,
    closed_form: ClosedForm | None = None,
    replica_groups: bool = False,
    summary: str = "",
    overwrite: bool = False,
) -> Callable[[Callable[..., Code]], Callable[..., Code]]:
    """Decorator registering a code construction under ``name``.

    Parameters
    ----------
    name : str
        The name :func:`make_code` takes.
    family : {"exact", "approximate", "baseline"}
    randomized : bool
        The factory draws from its ``rng`` keyword (it must accept one); deterministic
        factories may omit ``rng``: :func:`make_code` drops it for them.
    storage_param : {"s", "row_weight"} or None
        The parameter that sets the storage (what a storage frontier sweeps).
    closed_form : callable ``(code, stragglers) -> float | None``, optional
        Expected normalized least-squares error; returns None for straggler models it
        does not cover. :func:`aircomp_agc.coding.testing.check_code` compares it with a
        Monte-Carlo estimate.
    replica_groups : bool
        ``B`` is block diagonal with all-ones blocks (replica groups).
    summary : str
        One line of documentation (default: the factory's first docstring line).
    overwrite : bool
        Replace an existing registration.

    Examples
    --------
    >>> @register_code("my-code", family="approximate", randomized=True,
    ...                storage_param="row_weight", summary="My construction")
    ... def my_code(*, n, row_weight, rng=None): ...
    """
    owner = "register_code"
    check_choice("family", family, FAMILIES, owner=owner)
    if storage_param is not None:  # check_choice's suggestions need string choices
        check_choice("storage_param", storage_param, ("s", "row_weight"), owner=owner)
    for flag, value in (("randomized", randomized), ("replica_groups", replica_groups)):
        if not isinstance(value, bool):
            raise TypeError(
                f"The '{flag}' parameter of {owner} must be a bool; got "
                f"{type(value).__name__} {value!r}."
            )
    if closed_form is not None and not callable(closed_form):
        raise TypeError(
            f"The 'closed_form' parameter of {owner} must be None or a callable "
            f"(code, stragglers) -> float | None; got {type(closed_form).__name__}."
        )
    tags = {
        "family": family,
        "randomized": randomized,
        "storage_param": storage_param,
        "closed_form": closed_form,
        "replica_groups": replica_groups,
    }

    def add(factory: Callable[..., Code]) -> Callable[..., Code]:
        if randomized and "rng" not in inspect.signature(factory).parameters:
            raise TypeError(
                f"The code {name!r} is registered as randomized, so its factory must take an "
                "'rng' keyword argument."
            )
        CODES.register(name, factory, summary=summary, tags=tags, overwrite=overwrite)
        return factory

    return add


def code_tags(name: str) -> Mapping[str, Any]:
    """Tags of the code ``name`` (``family``, ``randomized``, ``storage_param``,
    ``closed_form``, ``replica_groups``); see the module docstring."""
    _load_builtin()
    return CODES.tags(name)


def code_family(name: str) -> str:
    """``"exact"``, ``"approximate"`` or ``"baseline"``: the ``family`` tag of ``name``."""
    return code_tags(name)["family"]


def storage_params(name: str, storage: int) -> dict[str, int]:
    """The parameters that give code ``name`` storage ``storage``, from its ``storage_param``
    tag: ``{"row_weight": storage}``, ``{"s": storage - 1}`` (exact codes store ``s + 1``),
    or ``{}`` for a code whose storage is fixed."""
    param = code_tags(name)["storage_param"]
    if param == "row_weight":
        return {"row_weight": storage}
    if param == "s":
        return {"s": storage - 1}
    return {}


def code_parameters(name: str) -> dict[str, inspect.Parameter]:
    """Keyword parameters of the registered construction ``name`` (what ``make_code`` takes).

    See also ``CODES.parameters(name)`` (records with defaults and one-line docs).
    """
    _load_builtin()
    return dict(inspect.signature(CODES.get(name)).parameters)


def make_code(name: str, *, rng: Any = None, **params: Any) -> Code:
    """Build the registered code ``name`` with ``params``.

    Parameters
    ----------
    name : str
        A registered name (:func:`list_codes`) or ``"package.module:factory"``.
    rng : None, int, SeedSequence or Generator
        Randomness of randomized constructions; deterministic ones ignore it, so one seed
        can drive a sweep over code names.
    **params
        The construction's keyword parameters. Unknown or missing ones raise a
        ``ValueError`` listing the accepted parameters.

    Examples
    --------
    >>> code = make_code("frc", n=12, s=3, rng=0)   # rng ignored: frc is deterministic
    >>> code.storage
    4
    """
    _load_builtin()
    return CODES.build(name, ignore=("rng",), **params, rng=rng)


def list_codes() -> list[Entry]:
    """:class:`~aircomp_agc._checks.Entry` records of every registered code, sorted by name.

    ``entry.tags["family"]`` is the family; ``entry.parameters`` lists the keyword
    parameters with their defaults.
    """
    _load_builtin()
    return CODES.entries()


# ----------------------------------------------------------------------------- closed forms


def _straggler_law(stragglers: Any, n: int) -> tuple[str, float] | None:
    """``("fixed", s)`` for s uniformly random stragglers, ``("iid", p)`` for workers that
    straggle independently with probability ``p``, else None."""
    from .stragglers import BernoulliStragglers, FixedStragglers, MarkovStragglers

    if isinstance(stragglers, FixedStragglers):
        return ("fixed", stragglers.s) if stragglers.s <= n else None
    if isinstance(stragglers, BernoulliStragglers):
        return ("iid", stragglers.p)
    if isinstance(stragglers, MarkovStragglers):  # one round: independent stationary chains
        return ("iid", stragglers.stationary_slow)
    return None


def replica_group_closed_form(code: Code, stragglers: Any) -> float | None:
    r"""Expected least-squares error of a replica-group code.

    A group of ``m`` workers storing ``m`` partitions loses them only when all its members
    straggle; with worker ``i`` in a group of size ``m_i`` (its load),

    .. math:: \mathbb E[\mathrm{err}] = \frac1n \sum_i P(\text{all } m_i \text{ straggle}),
              \quad P = \binom{s}{m}\Big/\binom{n}{m} \;(s \text{ uniform stragglers}),
              \quad P = p^m \;(\text{independent, prob. } p).

    Returns None for other straggler models.
    """
    n = code.n_workers
    law = _straggler_law(stragglers, n)
    if law is None:
        return None
    kind, value = law
    loads = code.loads.tolist()
    if kind == "fixed":
        s = int(value)
        return sum(math.comb(s, m) / math.comb(n, m) for m in loads) / n
    return sum(float(value) ** m for m in loads) / n


def exact_closed_form(code: Code, stragglers: Any) -> float | None:
    """0 for at most ``code.exact_s`` uniformly random stragglers (an exact code), else None."""
    law = _straggler_law(stragglers, code.n_workers)
    if law is not None and law[0] == "fixed" and code.exact_s is not None:
        return 0.0 if law[1] <= code.exact_s else None
    return None


def _load_builtin() -> None:
    # Importing the package registers the built-in constructions (idempotent).
    from . import codes  # noqa: F401
