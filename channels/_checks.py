"""Input validation, randomness and name registries shared by the toolkit's layers.

Every user-facing function validates its arguments here, at the boundary, so that bad
input produces one ``ValueError``/``TypeError`` line of the form

    The 's' parameter of make_code('frc') must be an int in [0, 11]; got 12.

Two byte-identical copies exist, ``aircomp_agc/_checks.py`` and ``channels/_checks.py``:
the radio layer must not import ``aircomp_agc`` (researchers use it alone) and the coding
layer must not import ``channels``. ``tests/test_checks.py`` keeps the copies identical.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import numpy as np

__all__ = [
    "Registry",
    "check_choice",
    "check_int",
    "check_real",
    "resolve_rng",
    "suggest",
]

T = TypeVar("T")

RngLike = None | int | np.random.Generator | np.random.SeedSequence


def resolve_rng(rng: RngLike = None) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for ``rng`` (None, int, SeedSequence or Generator).

    This is the only place the toolkit turns a seed into a generator: there is no hidden
    global random state anywhere.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"The 'rng' parameter must be a non-negative int seed; got {rng}.")
        return np.random.default_rng(int(rng))
    raise TypeError(
        "The 'rng' parameter must be None, a non-negative int, a numpy SeedSequence or a "
        f"numpy Generator; got {type(rng).__name__} {rng!r}."
    )


def _where(owner: str | None) -> str:
    return f" of {owner}" if owner else ""


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    left = "(" if (low is None or low_open) else "["
    right = ")" if (high is None or high_open) else "]"
    return f"{left}{lo}, {hi}{right}"


def check_int(
    name: str,
    value,
    *,
    low: int | None = None,
    high: int | None = None,
    owner: str | None = None,
) -> int:
    """Validate an integer parameter in the closed interval ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if (
            not isinstance(value, bool)
            and isinstance(value, numbers.Real)
            and float(value).is_integer()
        ):
            value = int(value)
        else:
            raise TypeError(
                f"The '{name}' parameter{_where(owner)} must be an int in "
                f"{_interval(low, high, False, False)}; got {type(value).__name__} {value!r}."
            )
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(
            f"The '{name}' parameter{_where(owner)} must be an int in "
            f"{_interval(low, high, False, False)}; got {value}."
        )
    return value


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    owner: str | None = None,
) -> float:
    """Validate a finite real parameter in an interval (closed unless ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter{_where(owner)} must be a real number in "
            f"{_interval(low, high, low_open, high_open)}; got {type(value).__name__} {value!r}."
        )
    value = float(value)
    bad = not np.isfinite(value)
    if low is not None:
        bad |= value < low or (low_open and value == low)
    if high is not None:
        bad |= value > high or (high_open and value == high)
    if bad:
        raise ValueError(
            f"The '{name}' parameter{_where(owner)} must be a finite real number in "
            f"{_interval(low, high, low_open, high_open)}; got {value!r}."
        )
    return value


def suggest(value: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choices, or an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def check_choice(name: str, value, choices: Iterable[str], *, owner: str | None = None) -> str:
    """Validate that ``value`` is one of ``choices``, suggesting close names otherwise."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(
            f"The '{name}' parameter{_where(owner)} must be one of "
            f"{', '.join(repr(c) for c in choices)}; got {value!r}.{suggest(value, choices)}"
        )
    return value


class Registry(Generic[T]):
    """Things users pick by name (codes, experiments, ...), with close-name suggestions.

    Parameters
    ----------
    kind : str
        What the entries are, used in messages (``"code"``, ``"experiment"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._summaries: dict[str, str] = {}

    def register(
        self, name: str, obj: T | None = None, *, summary: str = "", overwrite: bool = False
    ) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(entry: T) -> T:
            if not isinstance(name, str) or not name:
                raise ValueError(f"A {self.kind} name must be a non-empty string; got {name!r}.")
            if name in self._entries and not overwrite:
                raise ValueError(
                    f"A {self.kind} named '{name}' is already registered; pass "
                    "overwrite=True to replace it."
                )
            self._entries[name] = entry
            doc = summary or (getattr(entry, "__doc__", None) or "").strip().split("\n")[0]
            self._summaries[name] = doc
            return entry

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        """Return the entry called ``name`` or raise a ``ValueError`` listing the valid names."""
        if name not in self._entries:
            raise ValueError(
                f"Unknown {self.kind} {name!r}; available: "
                f"{', '.join(self.names()) or '(none registered)'}."
                f"{suggest(name, self.names())}"
            )
        return self._entries[name]

    def summary(self, name: str) -> str:
        self.get(name)
        return self._summaries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
