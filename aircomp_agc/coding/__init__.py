"""Gradient coding: codes, decoders, straggler models and storage frontiers (NumPy/SciPy)."""
