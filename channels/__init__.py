"""channels: the physical layer of aircomp-agc (fading, power control, receivers, AirComp).

Usable on its own: it never imports :mod:`aircomp_agc`. Importing it does not import
TensorFlow; the Sionna-backed models import it on first use.
"""

from .base import PRECISIONS, ChannelDraw, ChannelModel, complex_normal
from .fading import AnnulusDrop, LargeScale, LogDistancePathLoss
from .registry import CHANNELS, list_channels, make_channel, register_channel

__all__: list[str] = [
    "CHANNELS",
    "PRECISIONS",
    "AnnulusDrop",
    "ChannelDraw",
    "ChannelModel",
    "LargeScale",
    "LogDistancePathLoss",
    "complex_normal",
    "list_channels",
    "make_channel",
    "register_channel",
]
