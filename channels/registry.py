"""Registry of channel models, picked by name.

A model is a :class:`~channels.base.ChannelModel` subclass (or any factory returning one)
registered with :func:`register_channel`; :func:`make_channel` builds it from keyword
parameters. Every registered model must pass the conformance suite
(:func:`channels.testing.check_channel_model`).
"""

from __future__ import annotations

from collections.abc import Callable

from ._checks import Registry
from .base import ChannelModel

__all__ = ["CHANNELS", "list_channels", "make_channel", "register_channel"]

CHANNELS: Registry[Callable[..., ChannelModel]] = Registry("channel model")


def register_channel(
    name: str, *, summary: str = "", overwrite: bool = False
) -> Callable[[Callable[..., ChannelModel]], Callable[..., ChannelModel]]:
    """Decorator registering a channel model (class or factory) under ``name``.

    A registered class gets ``name`` as its ``name`` attribute.

    Examples
    --------
    >>> from channels import ChannelModel, complex_normal, register_channel
    >>> @register_channel("my-rayleigh", summary="CN(0,1) again", overwrite=True)
    ... class MyRayleigh(ChannelModel):
    ...     def _small_scale(self, rng, *, batch, n_devices, n_rx_ant, n_rounds):
    ...         return complex_normal(rng, self.shape(batch, n_devices, n_rx_ant, n_rounds),
    ...                               self.precision)
    """

    def add(factory: Callable[..., ChannelModel]) -> Callable[..., ChannelModel]:
        CHANNELS.register(name, factory, summary=summary, overwrite=overwrite)
        if isinstance(factory, type) and issubclass(factory, ChannelModel):
            factory.name = name
        return factory

    return add


def make_channel(name: str, **params) -> ChannelModel:
    """Build the registered channel model ``name`` with ``params``.

    Examples
    --------
    >>> model = make_channel("rician", k_factor=3.0)
    >>> model.draw(batch=2, n_devices=4, rng=0).h.shape
    (2, 1, 4)
    """
    _load_builtin()
    model = CHANNELS.get(name)(**params)
    if not isinstance(model, ChannelModel):
        raise TypeError(
            f"The channel model factory registered as {name!r} must return a ChannelModel; "
            f"got {type(model).__name__}."
        )
    return model


def list_channels() -> list[tuple[str, str]]:
    """``(name, summary)`` of every registered channel model, sorted by name."""
    _load_builtin()
    return [(n, CHANNELS.summary(n)) for n in CHANNELS.names()]


def _load_builtin() -> None:
    # Importing the package registers the built-in models (idempotent, no TensorFlow).
    from . import fading  # noqa: F401
