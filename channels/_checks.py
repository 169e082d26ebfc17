"""Input validation, randomness, Monte-Carlo estimates and registries shared by the layers.

Every user-facing function validates its arguments here, at the boundary, so that bad
input produces one ``ValueError``/``TypeError`` line of the form

    The 's' parameter of make_code('frc') must be an int in [0, 11]; got 12.

Two byte-identical copies exist, ``aircomp_agc/_checks.py`` and ``channels/_checks.py``:
the radio layer must not import ``aircomp_agc`` (researchers use it alone) and the coding
layer must not import ``channels``. ``tests/test_checks.py`` keeps the copies identical.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = [
    "Entry",
    "Estimate",
    "Parameter",
    "Registry",
    "import_object",
    "mean_ci",
    "signature_parameters",
    "t_quantile",
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
    names = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(str(value), names, n=3, cutoff=0.5)
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


# --------------------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo mean with a two-sided Student-t confidence interval.

    The one estimate type of the toolkit: the coding layer, the channel layer
    (``aircomp_mse``, per realization) and the engine all return it. Fields are floats for
    one estimate, or arrays of a common shape for a batch of estimates (one per channel
    realization, say).

    Attributes
    ----------
    mean : float or ndarray
        Sample mean (the exact value when ``method == "analytic"``).
    std_err : float or ndarray
        Standard error of the mean, ``std(ddof=1) / sqrt(n_independent)`` (0 when analytic).
    ci_low, ci_high : float or ndarray
        ``mean -/+ t_{(1+confidence)/2, n_independent-1} * std_err``.
    n : int
        Number of samples averaged (trials).
    confidence : float
        Two-sided confidence level of the interval.
    n_independent : int
        Number of i.i.d. units the interval is computed from (``n`` unless samples come in
        correlated groups, e.g. trials sharing a randomly drawn code).
    converged : bool
        In precision-target mode, whether the relative half-width target was met.
    method : str
        ``"monte-carlo"`` or ``"analytic"`` (then the interval has zero width).
    """

    mean: Any
    std_err: Any
    ci_low: Any
    ci_high: Any
    n: int = 0
    confidence: float = 0.95
    n_independent: int = -1
    converged: bool = True
    method: str = "monte-carlo"

    def __post_init__(self) -> None:
        if self.n_independent < 0:
            object.__setattr__(self, "n_independent", self.n)

    @property
    def half_width(self):
        """Half-width of the confidence interval."""
        return 0.5 * (np.asarray(self.ci_high) - np.asarray(self.ci_low))

    def contains(self, value) -> Any:
        """Whether ``value`` lies in ``[ci_low, ci_high]`` (elementwise for arrays)."""
        inside = (np.asarray(self.ci_low) <= value) & (value <= np.asarray(self.ci_high))
        return bool(inside) if np.ndim(inside) == 0 else inside

    @classmethod
    def exact(cls, value) -> Estimate:
        """A value known in closed form (zero-width interval)."""
        zero = np.zeros_like(value, dtype=float) if np.ndim(value) else 0.0
        return cls(value, zero, value, value, 0, 1.0, 0, True, "analytic")

    def __str__(self) -> str:
        if np.ndim(self.mean):
            return f"Estimate(mean={np.asarray(self.mean)!r}, n={self.n})"
        pct = f"{100 * self.confidence:g}% CI"
        return f"{self.mean:.5g} [{self.ci_low:.5g}, {self.ci_high:.5g}] ({pct}, n={self.n})"


def t_quantile(df, p: float):
    """Quantile ``t_{p, df}`` of Student's t (``scipy.special.stdtrit``, cheap to import)."""
    from scipy.special import stdtrit

    return stdtrit(df, p)


def mean_ci(samples: Any, confidence: float = 0.95, *, axis: int | None = None,
            owner: str = "mean_ci") -> Estimate:
    r"""Mean of i.i.d. ``samples`` with a two-sided Student-t confidence interval.

    .. math:: \bar x \pm t_{(1+c)/2,\;n-1}\, s/\sqrt{n}

    Parameters
    ----------
    samples : array_like, float, at least 2 finite values along ``axis``
    confidence : float in (0, 1)
    axis : int or None
        ``None``: one estimate over all samples. An axis: one estimate per remaining index
        (e.g. ``samples[batch, trials]`` with ``axis=-1`` gives ``[batch]`` arrays).

    Returns
    -------
    Estimate
    """
    x = np.asarray(samples, dtype=np.float64)
    if axis is None:
        x = x.ravel()
        axis = 0
    conf = check_real("confidence", confidence, low=0, high=1, low_open=True, high_open=True,
                      owner=owner)
    n = x.shape[axis] if x.ndim else 0
    if n < 2 or not np.all(np.isfinite(x)):
        raise ValueError(
            f"The 'samples' parameter of {owner} must hold at least 2 finite values; got "
            f"{n} values ({int(np.sum(~np.isfinite(x)))} non-finite)."
        )
    mean = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(n)
    half = float(t_quantile(n - 1, 0.5 * (1 + conf))) * se
    if np.ndim(mean) == 0:
        mean, se, half = float(mean), float(se), float(half)
    return Estimate(mean, se, mean - half, mean + half, n, conf)


# --------------------------------------------------------------------------- registries


@dataclass(frozen=True)
class Parameter:
    """One keyword parameter of a registered factory (what ``make_*`` accepts)."""

    name: str
    default: Any
    required: bool
    doc: str = ""

    def short(self) -> str:
        """``name (required)`` or ``name = default``, without the documentation."""
        return f"{self.name} (required)" if self.required else f"{self.name} = {self.default!r}"

    def __str__(self) -> str:
        return self.short() + (f"  {self.doc}" if self.doc else "")


@dataclass(frozen=True)
class Entry:
    """What every ``list_*`` function returns, one record per registered name.

    Attributes
    ----------
    name : str
    summary : str
        One line of documentation.
    tags : mapping
        Metadata the toolkit acts on instead of names (e.g. ``randomized``, ``family``).
    parameters : tuple of Parameter
        The keyword parameters its factory accepts, with defaults.
    """

    name: str
    summary: str
    tags: Mapping[str, Any]
    parameters: tuple[Parameter, ...]


#: Parameters every factory of a kind may receive and that are not model parameters
#: (``rng`` for codes: deterministic ones ignore it).
_HIDDEN = ("self",)


def _numpydoc_params(doc: str) -> dict[str, str]:
    """First line of each entry of a numpydoc ``Parameters`` section."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == "Parameters")
    except StopIteration:
        return out
    name = None
    for ln in lines[start + 2:]:
        if ln and not ln.startswith(" "):
            if set(ln.strip()) <= {"-"} or ln.strip() in ("Returns", "Raises", "Notes"):
                break
            name = ln.split(":")[0].strip()
            out.setdefault(name, "")
        elif name and ln.strip() and not out[name]:
            out[name] = ln.strip()
    return out


def signature_parameters(factory: Callable, *, skip: Iterable[str] = ()) -> tuple[Parameter, ...]:
    """Keyword parameters of ``factory`` (class or function) as :class:`Parameter` records."""
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return ()
    docs = _numpydoc_params(getattr(factory, "__doc__", "") or "")
    if isinstance(factory, type):
        docs.update(_numpydoc_params(getattr(target, "__doc__", "") or ""))
    out = []
    for prm in sig.parameters.values():
        if prm.name in _HIDDEN or prm.name in skip:
            continue
        if prm.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        required = prm.default is inspect.Parameter.empty
        out.append(Parameter(prm.name, None if required else prm.default, required,
                             docs.get(prm.name, "")))
    return tuple(out)


def _accepts_any(factory: Callable) -> bool:
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def import_object(reference: str, *, kind: str = "object") -> Any:
    """Import ``"package.module:Name"`` (the way a scenario names a user's own model).

    Nothing is registered and ``sys.path`` is not changed: the module must be importable.
    """
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ValueError(
            f"A {kind} reference must look like 'package.module:Name'; got {reference!r}."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"Cannot import the module {module_name!r} of the {kind} reference "
            f"{reference!r}: {exc}."
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(
                f"The module {module_name!r} has no attribute {attr!r} (from the {kind} "
                f"reference {reference!r})."
            )
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Things users pick by name (codes, channels, policies, ...), with metadata.

    Every entry carries a one-line ``summary`` and ``tags`` (a mapping that says what the
    entry is: randomized or not, its family, a closed form, ...); the toolkit reads tags,
    never names. :meth:`build` checks keyword arguments against the factory's signature
    (a ``ValueError`` listing the accepted parameters) before calling it, and a name of
    the form ``"package.module:Name"`` refers to a user's object without registering it.

    Parameters
    ----------
    kind : str
        What the entries are, used in messages (``"code"``, ``"experiment"``).
    default_tags : mapping
        Tags every entry has unless its registration overrides them.
    """

    def __init__(self, kind: str, *, default_tags: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self.default_tags = dict(default_tags or {})
        self._entries: dict[str, T] = {}
        self._summaries: dict[str, str] = {}
        self._tags: dict[str, Mapping[str, Any]] = {}

    # ----------------------------------------------------------------- registration

    def register(
        self,
        name: str,
        obj: T | None = None,
        *,
        summary: str = "",
        tags: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(entry: T) -> T:
            if not isinstance(name, str) or not name or ":" in name:
                raise ValueError(
                    f"A {self.kind} name must be a non-empty string without ':'; got {name!r}."
                )
            if name in self._entries and not overwrite:
                raise ValueError(
                    f"A {self.kind} named '{name}' is already registered; pass "
                    "overwrite=True to replace it."
                )
            unknown = set(tags or {}) - set(self.default_tags) if self.default_tags else set()
            if unknown:
                raise ValueError(
                    f"Unknown tag(s) {sorted(unknown)} for a {self.kind}; known tags: "
                    f"{', '.join(sorted(self.default_tags))}."
                )
            self._entries[name] = entry
            self._summaries[name] = summary or _first_line(entry)
            self._tags[name] = MappingProxyType({**self.default_tags, **(tags or {})})
            return entry

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and temporary registrations)."""
        self.get(name)
        for table in (self._entries, self._summaries, self._tags):
            table.pop(name, None)

    @contextmanager
    def temporary(self, name: str, obj: T, **kwargs) -> Iterator[T]:
        """Register ``obj`` for the duration of a ``with`` block, then restore."""
        previous = (
            (self._entries[name], self._summaries[name], self._tags[name])
            if name in self._entries else None
        )
        self.register(name, obj, overwrite=True, **kwargs)
        try:
            yield obj
        finally:
            self.unregister(name)
            if previous is not None:
                self._entries[name], self._summaries[name], self._tags[name] = previous

    # ----------------------------------------------------------------- lookup

    def get(self, name: str) -> T:
        """The entry ``name`` (or an imported ``"module:Name"``); unknown names raise a
        ``ValueError`` listing the valid ones."""
        if not isinstance(name, str):
            raise TypeError(f"A {self.kind} name must be a string; got {type(name).__name__}.")
        if name in self._entries:
            return self._entries[name]
        if ":" in name:
            return import_object(name, kind=self.kind)
        raise ValueError(
            f"Unknown {self.kind} {name!r}; available: "
            f"{', '.join(self.names()) or '(none registered)'}."
            f"{suggest(name, self.names())}"
        )

    def summary(self, name: str) -> str:
        entry = self.get(name)
        return self._summaries.get(name) or _first_line(entry)

    def tags(self, name: str) -> Mapping[str, Any]:
        """Metadata of ``name`` (for a ``"module:Name"`` reference: its ``tags`` attribute
        merged over the defaults)."""
        entry = self.get(name)
        if name in self._tags:
            return self._tags[name]
        return MappingProxyType({**self.default_tags, **dict(getattr(entry, "tags", {}) or {})})

    def parameters(self, name: str, *, skip: Iterable[str] = ()) -> tuple[Parameter, ...]:
        """Keyword parameters of the factory ``name``."""
        return signature_parameters(self.get(name), skip=skip)

    def entry(self, name: str, *, skip: Iterable[str] = ()) -> Entry:
        """The :class:`Entry` record of ``name``."""
        return Entry(name, self.summary(name), self.tags(name), self.parameters(name, skip=skip))

    def entries(self, *, skip: Iterable[str] = ()) -> list[Entry]:
        """:class:`Entry` records of every registered name, sorted by name."""
        return [self.entry(n, skip=skip) for n in self.names()]

    def check_params(self, name: str, params: Mapping[str, Any], *,
                     ignore: Iterable[str] = (), skip: Iterable[str] = ()) -> dict[str, Any]:
        """Keep the keyword arguments the factory takes; unknown or missing ones raise.

        ``ignore``: names dropped silently when the factory does not take them (``rng``
        for deterministic codes). ``skip``: names supplied later by the caller, not by the
        user (they are neither required nor accepted here).
        """
        factory = self.get(name)
        accepted = self.parameters(name, skip=skip)
        names = [p.name for p in accepted]
        out = {}
        for key, value in params.items():
            if key in names or (_accepts_any(factory) and key not in skip):
                out[key] = value
            elif key in ignore:
                continue
            else:
                raise ValueError(
                    f"The {self.kind} {name!r} has no parameter {key!r}; accepted: "
                    f"{', '.join(names) or 'none'}.{suggest(key, names)}"
                )
        missing = [p.name for p in accepted if p.required and p.name not in out]
        if missing:
            raise ValueError(
                f"The {self.kind} {name!r} requires the parameter(s) "
                f"{', '.join(repr(m) for m in missing)}; got "
                f"{', '.join(repr(k) for k in sorted(out)) or 'none'}. Accepted: "
                f"{', '.join(p.short() for p in accepted)}."
            )
        return out

    def build(self, name: str, *, ignore: Iterable[str] = (), **params) -> Any:
        """Call the factory ``name`` with ``params`` after :meth:`check_params`."""
        return self.get(name)(**self.check_params(name, params, ignore=ignore))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _first_line(entry: Any) -> str:
    return (getattr(entry, "__doc__", None) or "").strip().split("\n")[0]
