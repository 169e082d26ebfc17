"""aircomp-agc: approximate gradient coding meets over-the-air computation.

Layers (dependencies run one way):

- :mod:`aircomp_agc.coding` -- codes, decoders, straggler models, storage frontiers
  (NumPy/SciPy only; never imports ``channels`` or TensorFlow);
- :mod:`channels` -- the physical layer (a separate top-level package);
- the composition, learning and scenario engine in :mod:`aircomp_agc`.

Importing this package does not import TensorFlow.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
