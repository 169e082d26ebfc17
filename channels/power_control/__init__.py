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

=========================  ==========  ==================================================
policy                     constraint  reference
=========================  ==========  ==================================================
``full_power``             peak        baseline (phase alignment only)
``zero_forcing``           peak        channel inversion
``optimal_power``          peak        Cao, Zhu, Xu, Huang, TWC 2020, Theorem 1
``truncated_inversion``    average or  Zhu, Wang, Huang, TWC 2020
                           peak
``threshold_scheduling``   peak        drop the weakest, zero forcing / optimal on the rest
=========================  ==========  ==================================================

:func:`regularized_inversion` (Cao et al., Section IV: time-varying channels, average power)
is not in :data:`POLICIES`: it couples the fading states of axis ``-2`` (the average is taken
over them), so it does not follow the row-independent contract of the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .._checks import Registry, suggest
from .base import CONSTRAINTS, PowerControl, phase_aligned_mse
from .full_power import full_power
from .optimal_power import mse_at_eta, optimal_power
from .regularized_inversion import regularized_inversion, regularized_inversion_eta
from .threshold_scheduling import SchedulingFrontier, scheduling_frontier, threshold_scheduling
from .truncated_inversion import (
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
    "PowerControl",
    "PowerControlPolicy",
    "SchedulingFrontier",
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

#: Power-control policies by name. Each entry is a function
#: ``f(gain2, *, power, noise_var, target=None, **params) -> PowerControl``.
POLICIES: Registry[Callable[..., PowerControl]] = Registry("power-control policy")

_COMMON = ("gain2", "power", "noise_var", "target")


class PowerControlPolicy:
    """A registered policy with its parameters bound (built by :func:`make_power_control`).

    Calling it runs the policy: ``policy(gain2, power=P, noise_var=sigma2, target=None)``.
    """

    def __init__(self, name: str, function: Callable[..., PowerControl], params: dict) -> None:
        self.name = name
        self.function = function
        self.params = dict(params)

    def __call__(self, gain2, *, power, noise_var, target=None) -> PowerControl:
        return self.function(gain2, power=power, noise_var=noise_var, target=target,
                             **self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"make_power_control({self.name!r}{', ' if args else ''}{args})"


def register_power_control(
    name: str, function: Callable[..., PowerControl] | None = None, *, summary: str = "",
    overwrite: bool = False,
):
    """Register a policy under ``name`` (usable as a decorator).

    The function must accept ``(gain2, *, power, noise_var, target=None, **params)`` and
    return a :class:`PowerControl`; check it with
    :func:`channels.power_control.conformance.check_power_control`.
    """
    return POLICIES.register(name, function, summary=summary, overwrite=overwrite)


def list_power_control() -> list[str]:
    """Names of the registered power-control policies, sorted."""
    return POLICIES.names()


def make_power_control(name: str, **params) -> PowerControlPolicy:
    """Pick a policy by name and bind its parameters.

    Parameter names are checked here (with close-name suggestions); their values are
    validated when the policy runs.

    Parameters
    ----------
    name : str
        One of :func:`list_power_control`.
    **params
        Policy-specific keyword arguments (e.g. ``gain_threshold`` for
        ``truncated_inversion``).

    Returns
    -------
    PowerControlPolicy
        Callable as ``policy(gain2, power=..., noise_var=..., target=None)``.
    """
    function = POLICIES.get(name)
    sig = inspect.signature(function)
    accepted = [n for n, prm in sig.parameters.items()
                if n not in _COMMON and prm.kind is inspect.Parameter.KEYWORD_ONLY]
    for key in params:
        if key in _COMMON:
            raise TypeError(
                f"make_power_control({name!r}) binds policy parameters only; pass {key!r} "
                "when calling the policy."
            )
        if key not in accepted:
            raise TypeError(
                f"The power-control policy {name!r} has no parameter {key!r}; accepted: "
                f"{', '.join(accepted) or 'none'}.{suggest(key, accepted)}"
            )
    required = [n for n in accepted if sig.parameters[n].default is inspect.Parameter.empty]
    missing = [n for n in required if n not in params]
    if missing:
        raise TypeError(
            f"The power-control policy {name!r} requires the parameter(s) "
            f"{', '.join(repr(m) for m in missing)}; got {sorted(params) or 'none'}."
        )
    return PowerControlPolicy(name, function, params)


register_power_control("full_power", full_power)
register_power_control("zero_forcing", zero_forcing)
register_power_control("optimal_power", optimal_power)
register_power_control("truncated_inversion", truncated_inversion)
register_power_control("threshold_scheduling", threshold_scheduling)
