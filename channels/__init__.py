"""channels: the physical layer of aircomp-agc (fading, power control, receivers, AirComp).

Usable on its own: it never imports :mod:`aircomp_agc`. Importing it does not import
TensorFlow; the Sionna-backed models import it on first use, through
:func:`import_tensorflow` (which keeps TensorFlow's start-up logging off the terminal).
"""

from ._checks import Entry, Estimate
from ._tf import import_sionna, import_tensorflow, quiet_tensorflow_logs
from .aircomp import aircomp_mse, over_the_air_sum
from .base import PRECISIONS, ChannelDraw, ChannelModel, complex_normal
from .beamforming import effective_channel, maxmin_beamformer, mrc_beamformer
from .fading import AnnulusDrop, LargeScale, LogDistancePathLoss
from .noise import dbm_to_watt, make_noise_var, noise_var_from_psd, noise_var_from_snr_db
from .power_control import (
    PowerControl,
    list_power_control,
    make_power_control,
    optimal_power,
    truncated_inversion,
    zero_forcing,
)
from .registry import CHANNEL_TAGS, CHANNELS, list_channels, make_channel, register_channel

__all__: list[str] = [
    "CHANNELS",
    "CHANNEL_TAGS",
    "Entry",
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
    # receiver and over-the-air sum
    "Estimate",
    "aircomp_mse",
    "dbm_to_watt",
    "effective_channel",
    "make_noise_var",
    "maxmin_beamformer",
    "mrc_beamformer",
    "noise_var_from_psd",
    "noise_var_from_snr_db",
    "over_the_air_sum",
    # power control
    "PowerControl",
    "list_power_control",
    "make_power_control",
    "optimal_power",
    "truncated_inversion",
    "zero_forcing",
    # TensorFlow (Sionna-backed models), imported quietly and only when called
    "import_sionna",
    "import_tensorflow",
    "quiet_tensorflow_logs",
]
