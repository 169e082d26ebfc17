"""One BLAS thread for a block of NumPy work (threadpoolctl, a scikit-learn dependency).

On a few cores OpenBLAS's threads hurt this package's hot paths twice: its threaded SVD is
pathologically slow on small stacked matrices (measured on 2 cores: 300 SVDs of 50 x 40
take 1.2 s threaded, 0.13 s on one thread), and after a threaded product its worker
threads keep spinning, slowing the single-threaded work that follows (a coded round at
n = k = 200, D = 10,000 took 136-156 ms with two BLAS threads, 70 ms with one).
"""

from __future__ import annotations

import contextlib

__all__ = ["single_thread_blas"]

_CONTROLLER = None


def single_thread_blas():
    """A context in which BLAS runs on one thread (a no-op without threadpoolctl)."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional speed-up only
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
