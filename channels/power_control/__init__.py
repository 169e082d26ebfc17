"""Power control for over-the-air computation: who transmits, at which power, and ``eta``.

Every policy is a free function ``policy(gain2, *, power, noise_var, target=None, **params)``
taking ``gain2 = |h_k|^2`` of shape ``[..., K]`` (any leading batch shape) and returning a
:class:`PowerControl` (``power`` ``[..., K]``, ``eta`` ``[...]``, ``mse`` ``[...]``,
``scheduled`` ``[..., K]``, ...). Policies are picked by name from :data:`POLICIES`::

    from channels.power_control import zero_forcing, truncated_inversion, optimal_power
    pc = optimal_power(gain2, power=P, noise_var=sigma2)
    policy = make_power_control("truncated_inversion", gain_threshold=0.2)
    pc = policy(gain2, power=P, noise_var=sigma2)

A new policy registered with :func:`register_power_control` must pass
:func:`channels.power_control.conformance.check_power_control`.

Tags (what the toolkit reads instead of names; defaults in :data:`POLICY_TAGS`):

``constraint`` : {"peak", "average", "peak-or-average"}
    The power budget the policy honours: in every realization, on average over the fading
    distribution, or either (chosen by a parameter, e.g. ``truncated_inversion``'s
    ``constraint``). The result's ``constraint`` field says which one a call used.
``schedules`` : bool
    The policy may silence devices with ``a_k != 0`` (they become misses, stragglers for
    the layer above); ``False``: every device with ``a_k != 0`` and ``|h_k|^2 > 0``
    transmits.

=========================  ==========  =========  ========================================
policy                     constraint  schedules  reference
=========================  ==========  =========  ========================================
``full_power``             peak        no         baseline (phase alignment only)
``zero_forcing``           peak        no         channel inversion
``optimal_power``          peak        no         Cao, Zhu, Xu, Huang, TWC 2020, Theorem 1
``truncated_inversion``    average or  yes        Zhu, Wang, Huang, TWC 2020
                           peak
``threshold_scheduling``   peak        yes        drop the weakest, zero forcing / optimal
                                                  power on the rest
=========================  ==========  =========  ========================================

:func:`regularized_inversion` (Cao et al., Section IV: time-varying channels, average power)
is a function, **not** a registered policy: it takes ``N`` fading states ``[..., N, K]``
at once and couples them (the average budget is over axis ``-2``), so one row's powers
depend on the other rows. A registered policy decides every row ``[..., K]`` on its own,
which the conformance suite checks; call :func:`regularized_inversion` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .._checks import Entry, Registry
from .base import CONSTRAINTS, PowerControl, phase_aligned_mse
from .full_power import full_power
from .optimal_power import mse_at_eta, optimal_power
from .regularized_inversion import regularized_inversion, regularized_inversion_eta
from .threshold_scheduling import (
    SchedulingFrontier,
    check_scheduling_rule,
    scheduling_frontier,
    threshold_scheduling,
)
from .truncated_inversion import (
    check_truncation_params,
    expected_truncation_mse,
    expected_truncation_power,
    optimal_truncation_threshold,
    truncated_inversion,
    truncation_amplitude,
)
from .zero_forcing import zero_forcing

__all__ = [
    "CONSTRAINTS",
    "POLICIES",
    "POLICY_TAGS",
    "PowerControl",
    "PowerControlPolicy",
    "SchedulingFrontier",
    "check_scheduling_rule",
    "check_truncation_params",
    "expected_truncation_mse",
    "expected_truncation_power",
    "full_power",
    "list_power_control",
    "make_power_control",
    "mse_at_eta",
    "optimal_power",
    "optimal_truncation_threshold",
    "phase_aligned_mse",
    "register_power_control",
    "regularized_inversion",
    "regularized_inversion_eta",
    "scheduling_frontier",
    "threshold_scheduling",
    "truncated_inversion",
    "truncation_amplitude",
    "zero_forcing",
]

#: Tags every power-control policy has, with their defaults.
POLICY_TAGS: Mapping[str, Any] = MappingProxyType({"constraint": "peak", "schedules": False})

#: Power-control policies by name. Each entry is a function
#: ``f(gain2, *, power, noise_var, target=None, **params) -> PowerControl``.
POLICIES: Registry[Callable[..., PowerControl]] = Registry(
    "power-control policy", default_tags=POLICY_TAGS
)

#: The arguments of every policy call, supplied when the policy runs (not bound by name).
_COMMON = ("gain2", "power", "noise_var", "target")
_POLICY_CONSTRAINTS = ("peak", "average", "peak-or-average")
#: Parameter checks declared at registration, by policy function.
_PARAM_CHECKS: dict[Callable[..., PowerControl], Callable[..., Any]] = {}


class PowerControlPolicy:
    """A registered policy with its parameters bound (built by :func:`make_power_control`).

    Calling it runs the policy: ``policy(gain2, power=P, noise_var=sigma2, target=None)``.

    Attributes
    ----------
    name : str
        The name it was built by.
    function : callable
        The policy function.
    params : dict
        The bound policy parameters.
    tags : mapping
        The registration's tags (:data:`POLICY_TAGS`).
    """

    def __init__(self, name: str, function: Callable[..., PowerControl], params: dict,
                 tags: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.function = function
        self.params = dict(params)
        self.tags = MappingProxyType(dict(POLICY_TAGS if tags is None else tags))

    def __call__(self, gain2, *, power, noise_var, target=None) -> PowerControl:
        return self.function(gain2, power=power, noise_var=noise_var, target=target,
                             **self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"make_power_control({self.name!r}{', ' if args else ''}{args})"


def register_power_control(
    name: str,
    function: Callable[..., PowerControl] | None = None,
    *,
    summary: str = "",
    tags: Mapping[str, Any] | None = None,
    check: Callable[..., Any] | None = None,
    overwrite: bool = False,
):
    """Register a policy under ``name`` (usable as a decorator).

    The function must accept ``(gain2, *, power, noise_var, target=None, **params)`` and
    return a :class:`PowerControl`; check it with
    :func:`channels.power_control.conformance.check_power_control`.

    Parameters
    ----------
    name : str
    function : callable, optional
        Omitted: returns a decorator.
    summary : str
        One line for :func:`list_power_control` (default: the first docstring line).
    tags : mapping, optional
        Overrides of :data:`POLICY_TAGS`; ``constraint`` must be one of "peak",
        "average", "peak-or-average".
    check : callable, optional
        ``check(**params)`` validates the policy parameters' values (raising
        ``ValueError``/``TypeError``); :func:`make_power_control` runs it, so a bad value
        fails before any computation.
    overwrite : bool
        Replace an existing registration.
    """
    constraint = (tags or {}).get("constraint", POLICY_TAGS["constraint"])
    if constraint not in _POLICY_CONSTRAINTS:
        raise ValueError(
            f"The 'constraint' tag of the power-control policy {name!r} must be one of "
            f"{', '.join(map(repr, _POLICY_CONSTRAINTS))}; got {constraint!r}."
        )

    def add(fn: Callable[..., PowerControl]) -> Callable[..., PowerControl]:
        POLICIES.register(name, fn, summary=summary, tags=tags, overwrite=overwrite)
        if check is not None:
            _PARAM_CHECKS[fn] = check
        return fn

    return add if function is None else add(function)


def list_power_control() -> list[Entry]:
    """One :class:`~channels._checks.Entry` (name, summary, tags, parameters) per policy.

    Sorted by name; ``parameters`` lists the policy parameters only (not the call
    arguments ``gain2``, ``power``, ``noise_var``, ``target``).
    """
    return POLICIES.entries(skip=_COMMON)


def make_power_control(name: str, **params) -> PowerControlPolicy:
    """Pick a policy by name (or ``"package.module:function"``) and bind its parameters.

    Parameter names are checked here (a ``ValueError`` lists the accepted ones, with
    close-name suggestions), and so are their values when the policy declared a check at
    registration (every built-in policy with parameters does); anything that depends on
    the gains (``keep <= K``) is validated when the policy runs.

    Parameters
    ----------
    name : str
        One of :func:`list_power_control`, or a reference to a user's policy function
        (imported, not registered).
    **params
        Policy-specific keyword arguments (e.g. ``gain_threshold`` for
        ``truncated_inversion``).

    Returns
    -------
    PowerControlPolicy
        Callable as ``policy(gain2, power=..., noise_var=..., target=None)``.

    Examples
    --------
    >>> policy = make_power_control("truncated_inversion", gain_threshold=0.2)
    >>> policy.tags["schedules"], policy([1.0, 0.1], power=1.0, noise_var=0.1).scheduled
    (True, array([ True, False]))
    """
    function = POLICIES.get(name)
    for key in params:
        if key in _COMMON:
            raise ValueError(
                f"make_power_control({name!r}) binds policy parameters only; pass {key!r} "
                "when calling the policy."
            )
    params = POLICIES.check_params(name, params, skip=_COMMON)
    check = _PARAM_CHECKS.get(function)
    if check is not None:
        check(**params)
    return PowerControlPolicy(name, function, params, POLICIES.tags(name))


register_power_control("full_power", full_power)
register_power_control("zero_forcing", zero_forcing)
register_power_control("optimal_power", optimal_power)
register_power_control("truncated_inversion", truncated_inversion,
                       tags={"constraint": "peak-or-average", "schedules": True},
                       check=check_truncation_params)
register_power_control("threshold_scheduling", threshold_scheduling, tags={"schedules": True},
                       check=check_scheduling_rule)
