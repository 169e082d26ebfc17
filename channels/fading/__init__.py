"""Fading models (one small file each) and the composable large-scale part.

Importing this package registers the built-in models; the Sionna-backed ones register
here too but import TensorFlow only when built.
"""

from . import sionna_models  # noqa: F401  (registers sionna-*; TensorFlow imported lazily)
from .awgn import AWGNChannel
from .correlated import CorrelatedRayleighChannel, exp_corr_matrix, psd_sqrt
from .gauss_markov import GaussMarkovChannel, jakes_rho
from .large_scale import AnnulusDrop, LargeScale, LogDistancePathLoss
from .nakagami import NakagamiChannel
from .rayleigh import RayleighChannel
from .rician import RicianChannel

__all__ = [
    "AWGNChannel",
    "AnnulusDrop",
    "CorrelatedRayleighChannel",
    "GaussMarkovChannel",
    "LargeScale",
    "LogDistancePathLoss",
    "NakagamiChannel",
    "RayleighChannel",
    "RicianChannel",
    "exp_corr_matrix",
    "jakes_rho",
    "psd_sqrt",
]
