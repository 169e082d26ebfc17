"""Models in scenario parameters: a registered name, or a table with its parameters.

Every model an experiment takes -- a code, a channel, a straggler model, a power-control
policy -- is given in a scenario the same way::

    channel = "rayleigh"                                   # a name: default parameters
    channel = { name = "rician", k_factor = 4 }            # a table: name + parameters
    policy = { name = "threshold_scheduling", keep = 16 }
    channel = { name = "mypkg.models:Weibull", shape = 3 } # a user's model, unregistered

The table's keys other than ``name`` are the model's keyword parameters, checked by the
model's own registry (a ``ValueError`` listing the accepted parameters). A channel's
``large_scale`` may itself be a table::

    channel = { name = "rayleigh", large_scale = {
        drop = { r_min_m = 10, r_max_m = 250 },
        path_loss = { exponent = 3.5, ref_distance_m = 10, ref_loss_db = 60 },
        shadowing_db = 8 } }

These helpers turn such values into :class:`ModelSpec` records and build the models; the
experiments read each model's registry tags (never its name) to decide what to do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._checks import suggest

__all__ = [
    "ModelSpec",
    "build_channel",
    "label",
    "large_scale_from_table",
    "model_spec",
]


@dataclass(frozen=True)
class ModelSpec:
    """A model chosen in a scenario: its registered name (or ``module:Name``) and parameters."""

    name: str
    params: dict[str, Any]

    def __str__(self) -> str:
        if not self.params:
            return self.name
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def model_spec(value: Any, what: str, owner: str) -> ModelSpec:
    """Read a scenario value naming a model: ``"name"`` or ``{name = ..., **params}``.

    Parameters
    ----------
    value : str or mapping
    what : str
        The parameter's name (``"channel"``), for messages.
    owner : str
        Who reads it (``"experiment 'aircomp-mse'"``), for messages.

    Raises
    ------
    TypeError, ValueError
        One line naming the parameter, what is allowed and what was received.
    """
    if isinstance(value, str) and value:
        return ModelSpec(value, {})
    if isinstance(value, Mapping):
        name = value.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"The '{what}' parameter of {owner} must be a model name or a table with a "
                f"'name' key and the model's parameters; got a table with keys "
                f"{sorted(value)}."
            )
        return ModelSpec(name, {k: v for k, v in value.items() if k != "name"})
    raise TypeError(
        f"The '{what}' parameter of {owner} must be a model name or a table "
        f"{{ name = ..., parameter = value, ... }}; got {type(value).__name__} {value!r}."
    )


def label(value: Any) -> str:
    """Compact text of a model value: ``"rician(k_factor=4)"`` for a table, else ``str``.

    Accepts the value itself or its JSON text (how the results table stores a table).
    """
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return str(ModelSpec(value["name"], {k: v for k, v in value.items() if k != "name"}))
    return str(value)


# ------------------------------------------------------------------------- channels


def _from_table(cls: type, table: Any, where: str) -> Any:
    """``cls(**table)`` for a dataclass ``cls``, with unknown keys named in one line."""
    if isinstance(table, cls):
        return table
    if not isinstance(table, Mapping):
        raise TypeError(
            f"The '{where}' entry must be a table of {cls.__name__} parameters; got "
            f"{type(table).__name__} {table!r}."
        )
    fields = [f.name for f in dataclasses.fields(cls)]
    for key in table:
        if key not in fields:
            raise ValueError(
                f"The '{where}' table has no key {key!r}; accepted: {', '.join(fields)}."
                f"{suggest(key, fields)}"
            )
    return cls(**table)


def large_scale_from_table(table: Any, where: str = "large_scale") -> Any:
    """A :class:`channels.LargeScale` from ``{drop = {...}, path_loss = {...}, shadowing_db}``.

    ``drop`` holds :class:`channels.AnnulusDrop` parameters (``r_min_m``, ``r_max_m``),
    ``path_loss`` those of :class:`channels.LogDistancePathLoss` (``exponent``,
    ``ref_distance_m``, ``ref_loss_db``); each part is optional.
    """
    from channels import AnnulusDrop, LargeScale, LogDistancePathLoss

    if isinstance(table, LargeScale):
        return table
    if not isinstance(table, Mapping):
        raise TypeError(
            f"The '{where}' entry must be a table with drop, path_loss and shadowing_db; got "
            f"{type(table).__name__} {table!r}."
        )
    params = dict(table)
    for key, cls in (("drop", AnnulusDrop), ("path_loss", LogDistancePathLoss)):
        if key in params:
            params[key] = _from_table(cls, params[key], f"{where}.{key}")
    return _from_table(LargeScale, params, where)


def build_channel(spec: ModelSpec) -> Any:
    """The channel model of ``spec`` (``make_channel``), a ``large_scale`` table converted."""
    from channels import make_channel

    params = dict(spec.params)
    if isinstance(params.get("large_scale"), Mapping):
        params["large_scale"] = large_scale_from_table(
            params["large_scale"], f"channel.large_scale of {spec.name!r}"
        )
    return make_channel(spec.name, **params)
