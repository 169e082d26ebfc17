"""Allocation policies of a coded over-the-air round, picked by name.

A policy maps a :class:`~aircomp_agc.aggregation.plan.PlanContext` (responder candidates,
message RMS, channel gains, budgets, noise, decoder, second moments) to an
:class:`~aircomp_agc.aggregation.plan.Allocation` (decoder weights, powers, ``eta``, signs).

- Any power-control policy of :mod:`channels.power_control` (a name or a bound policy)
  runs the standard pipeline (:func:`~aircomp_agc.aggregation.standard.standard_allocation`):
  decode, then power control for the targets ``a_i s_i`` as if the messages were
  independent unit-variance symbols.
- The policies registered in :data:`AGGREGATION_POLICIES` know that coded messages are
  correlated and use second moments ``S`` of the partition gradients (the oracle Gram
  matrix ``G G^T`` or a :class:`~aircomp_agc.aggregation.messages.GradientModel`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.power_control import PowerControlPolicy, list_power_control, make_power_control

from .._checks import Registry
from .plan import Allocation, PlanContext
from .standard import standard_allocation

__all__ = ["AGGREGATION_POLICIES", "AllocationPolicy", "register_policy", "resolve_policy"]

#: Policies of this package (name -> factory ``(**params) -> callable(ctx) -> Allocation``).
AGGREGATION_POLICIES: Registry[Callable[..., Any]] = Registry(
    "aggregation policy", default_tags={"needs_second_moments": False}
)


def register_policy(name: str, *, summary: str = "", needs_second_moments: bool = True):
    """Register an allocation-policy factory (decorator)."""
    return AGGREGATION_POLICIES.register(
        name, summary=summary, tags={"needs_second_moments": needs_second_moments})


class AllocationPolicy:
    """A named callable ``ctx -> Allocation`` with its metadata."""

    def __init__(self, name: str, function: Callable[[PlanContext], Allocation], *,
                 needs_second_moments: bool = False, params: dict | None = None) -> None:
        self.name = name
        self.function = function
        self.needs_second_moments = needs_second_moments
        self.params = dict(params or {})

    def __call__(self, ctx: PlanContext) -> Allocation:
        return self.function(ctx)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.name!r}{args}" if not args else f"({self.name!r}{args})"


def _standard(pc: Callable, name: str) -> AllocationPolicy:
    return AllocationPolicy(name, lambda ctx: standard_allocation(ctx, pc, name=name))


def resolve_policy(spec: Any) -> AllocationPolicy:
    """An :class:`AllocationPolicy` from a name, a bound power-control policy or a table.

    ``spec`` may be: an :class:`AllocationPolicy`; a name in :data:`AGGREGATION_POLICIES`
    or of :mod:`channels.power_control`; a ``PowerControlPolicy`` (bound parameters); a
    mapping ``{"name": ..., **params}``; or any callable with the power-control signature.
    """
    if isinstance(spec, AllocationPolicy):
        return spec
    params: dict = {}
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "name"}
        spec = spec.get("name")
    if isinstance(spec, str):
        if spec in AGGREGATION_POLICIES:
            factory = AGGREGATION_POLICIES.get(spec)
            fn = factory(**AGGREGATION_POLICIES.check_params(spec, params))
            return AllocationPolicy(spec, fn, params=params, needs_second_moments=bool(
                AGGREGATION_POLICIES.tags(spec)["needs_second_moments"]))
        if spec in list_names():
            return _standard(make_power_control(spec, **params), spec)
        choices = sorted(set(list_names()) | set(AGGREGATION_POLICIES.names()))
        from .._checks import suggest

        raise ValueError(f"The 'power_control' parameter must be one of {', '.join(choices)} "
                         f"(or a bound policy); got {spec!r}.{suggest(spec, choices)}")
    if isinstance(spec, PowerControlPolicy):
        return _standard(spec, spec.name)
    if callable(spec):
        return _standard(spec, getattr(spec, "__name__", "custom"))
    raise TypeError("The 'power_control' parameter must be a policy name, a bound policy or a "
                    f"callable; got {type(spec).__name__}.")


def list_names() -> list[str]:
    """Names of the channel layer's power-control policies."""
    names = list_power_control()
    return [getattr(n, "name", n) for n in names]
