"""Registry of gradient-code constructions, picked by name.

A construction is a function ``factory(**params) -> Code`` registered with
:func:`register_code`. Keyword arguments follow one convention across codes: ``n``
(workers, also partitions unless ``n_partitions`` is given), ``s`` for exact codes,
``row_weight`` for approximate ones, ``rng`` for randomized ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Literal

from .._checks import Registry, check_choice
from .base import Code

__all__ = [
    "CODES",
    "FAMILIES",
    "code_family",
    "code_parameters",
    "list_codes",
    "make_code",
    "register_code",
]

FAMILIES = ("exact", "approximate", "baseline")

CODES: Registry[Callable[..., Code]] = Registry("code")
_FAMILY: dict[str, str] = {}


def register_code(
    name: str, *, family: Literal["exact", "approximate", "baseline"], summary: str = ""
) -> Callable[[Callable[..., Code]], Callable[..., Code]]:
    """Decorator registering a code construction under ``name``.

    Examples
    --------
    >>> @register_code("my-code", family="approximate", summary="My construction")
    ... def my_code(*, n, row_weight, rng=None): ...
    """
    check_choice("family", family, FAMILIES, owner="register_code")

    def add(factory: Callable[..., Code]) -> Callable[..., Code]:
        CODES.register(name, factory, summary=summary)
        _FAMILY[name] = family
        return factory

    return add


def code_family(name: str) -> str:
    """``"exact"``, ``"approximate"`` or ``"baseline"`` for a registered code name."""
    _load_builtin()
    CODES.get(name)
    return _FAMILY[name]


def code_parameters(name: str) -> dict[str, inspect.Parameter]:
    """Keyword parameters of the registered construction ``name`` (what ``make_code`` takes)."""
    _load_builtin()
    return dict(inspect.signature(CODES.get(name)).parameters)


def make_code(name: str, **params) -> Code:
    """Build the registered code ``name`` with ``params``.

    Examples
    --------
    >>> code = make_code("frc", n=12, s=3)
    >>> code.storage
    4
    """
    _load_builtin()
    return CODES.get(name)(**params)


def list_codes() -> list[tuple[str, str, str]]:
    """``(name, family, summary)`` for every registered code, sorted by family then name."""
    _load_builtin()
    rows = [(n, _FAMILY[n], CODES.summary(n)) for n in CODES.names()]
    return sorted(rows, key=lambda r: (FAMILIES.index(r[1]), r[0]))


def _load_builtin() -> None:
    # Importing the package registers the built-in constructions (idempotent).
    from . import codes  # noqa: F401
