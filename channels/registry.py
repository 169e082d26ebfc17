"""Registry of channel models, picked by name, with metadata (tags).

A model is a :class:`~channels.base.ChannelModel` subclass (or any factory returning one)
registered with :func:`register_channel`; :func:`make_channel` builds it from keyword
parameters, checked against the factory's signature first. Every registered model must
pass the conformance suite (:func:`channels.testing.check_channel_model`).

Tags (what the toolkit reads instead of names; defaults in :data:`CHANNEL_TAGS`):

``randomized`` : bool
    The small-scale draw depends on ``rng`` (``False``: AWGN). A ``LargeScale`` adds
    randomness to any model regardless.
``backend`` : {"numpy", "sionna"}
    ``"sionna"`` models import TensorFlow on their first draw.
``path_loss`` : bool
    The gains include path loss (the model draws its own large scale), so an SNR in dB
    needs a reference: use a link budget (:func:`channels.noise.make_noise_var`).
``extra_axes`` : tuple of str
    Trailing axes a draw may append after ``device`` (``("subcarrier",)``); the built
    model's ``extra_axes`` attribute says which it does for its parameters.
``time_correlated`` : bool
    Rounds (``n_rounds``) are correlated in time rather than independent blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._checks import Entry, Registry
from .base import ChannelModel

__all__ = ["CHANNELS", "CHANNEL_TAGS", "list_channels", "make_channel", "register_channel"]

#: Tags every channel model has, with their defaults.
CHANNEL_TAGS: Mapping[str, Any] = MappingProxyType({
    "randomized": True,
    "backend": "numpy",
    "path_loss": False,
    "extra_axes": (),
    "time_correlated": False,
})

CHANNELS: Registry[Callable[..., ChannelModel]] = Registry(
    "channel model", default_tags=CHANNEL_TAGS
)


def register_channel(
    name: str,
    *,
    summary: str = "",
    tags: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Callable[[Callable[..., ChannelModel]], Callable[..., ChannelModel]]:
    """Decorator registering a channel model (class or factory) under ``name``.

    The class is registered as it is (nothing is set on it); a model built by
    :func:`make_channel` learns its registered name as its ``name`` attribute.

    Parameters
    ----------
    name : str
        The name :func:`make_channel` takes (no ``":"``).
    summary : str
        One line for ``list_channels`` (default: the first docstring line).
    tags : mapping, optional
        Overrides of :data:`CHANNEL_TAGS` (unknown tag names raise ``ValueError``).
    overwrite : bool
        Replace an existing registration of ``name``.

    Examples
    --------
    >>> from channels import CHANNELS, ChannelModel, complex_normal, register_channel
    >>> @register_channel("my-rayleigh", summary="CN(0,1) again", tags={"randomized": True})
    ... class MyRayleigh(ChannelModel):
    ...     def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
    ...         return complex_normal(self.shape(batch, n_devices, n_rx_ant, n_rounds),
    ...                               self.precision, rng=rng)
    >>> CHANNELS.unregister("my-rayleigh")
    """

    def add(factory: Callable[..., ChannelModel]) -> Callable[..., ChannelModel]:
        CHANNELS.register(name, factory, summary=summary, tags=tags, overwrite=overwrite)
        return factory

    return add


def make_channel(name: str, **params) -> ChannelModel:
    """Build the registered channel model ``name`` (or ``"package.module:Name"``).

    Parameters
    ----------
    name : str
        A registered name (:func:`list_channels`) or a reference to a user's
        :class:`ChannelModel` subclass, imported without registering it.
    **params
        The model's keyword parameters. Unknown or missing ones raise a ``ValueError``
        listing the accepted parameters; values are validated by the model.

    Returns
    -------
    ChannelModel
        With ``name`` set to ``name``.

    Examples
    --------
    >>> model = make_channel("rician", k_factor=3.0)
    >>> model.name, model.draw(batch=2, n_devices=4, rng=0).h.shape
    ('rician', (2, 1, 4))
    """
    _load_builtin()
    model = CHANNELS.build(name, **params)
    if not isinstance(model, ChannelModel):
        raise TypeError(
            f"The channel model factory registered as {name!r} must return a ChannelModel; "
            f"got {type(model).__name__}."
        )
    model.name = name
    return model


def list_channels() -> list[Entry]:
    """One :class:`~channels._checks.Entry` (name, summary, tags, parameters) per model.

    Sorted by name.
    """
    _load_builtin()
    return CHANNELS.entries()


def _load_builtin() -> None:
    # Importing the package registers the built-in models (idempotent, no TensorFlow).
    from . import fading  # noqa: F401
