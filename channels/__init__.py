"""channels: the physical layer of aircomp-agc (fading, power control, receivers, AirComp).

Usable on its own: it never imports :mod:`aircomp_agc`. Importing it does not import
TensorFlow; the Sionna-backed models import it on first use.
"""

__all__: list[str] = []
