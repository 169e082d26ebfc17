"""Gradient coding: codes, decoders, straggler models and storage frontiers (NumPy/SciPy).

Build a code by name and decode a responder set::

    from aircomp_agc.coding import make_code, decoding_error
    code = make_code("frc", n=12, s=3)
    a = code.decode([0, 5, 6, 9, 10, 11, 1, 2], method="exact")
    decoding_error(code, [0, 5, 6], method="lstsq")  # ||B_T^T a - 1||^2 / k

Every registered code and straggler model carries tags (``code_tags``, ``straggler_tags``);
:mod:`aircomp_agc.coding.testing` holds the conformance checks every entry passes.
``Estimate`` and ``mean_ci`` are the toolkit's one Monte-Carlo estimate type (from
``aircomp_agc._checks``), re-exported here.

This package imports NumPy and SciPy only (never TensorFlow or :mod:`channels`).
"""

from .adversarial import (
    AdversarialSearchResult,
    AdversarialStragglers,
    worst_stragglers_exhaustive,
)
from .base import Code
from .decoders import (
    NotDecodableError,
    coefficients,
    decode,
    decoding_error,
    decoding_errors,
    decoding_vectors,
    realized_error,
    realized_errors,
)
from .frontier import (
    FrontierPoint,
    FrontierResult,
    exact_storage,
    log_storage,
    source_text_storage,
    storage_frontier,
    storage_lower_bound,
)
from .montecarlo import Estimate, estimate_error, estimate_realized_error, mean_ci
from .registry import CODES, code_tags, list_codes, make_code, register_code, storage_params
from .stragglers import (
    STRAGGLERS,
    BernoulliStragglers,
    FixedStragglers,
    MarkovStragglers,
    ShiftedExponentialStragglers,
    StragglerModel,
    list_stragglers,
    make_stragglers,
    straggler_tags,
)

__all__ = [
    "CODES",
    "Code",
    "NotDecodableError",
    "code_tags",
    "coefficients",
    "decode",
    "decoding_error",
    "decoding_errors",
    "decoding_vectors",
    "list_codes",
    "make_code",
    "realized_error",
    "realized_errors",
    "register_code",
    "storage_params",
    # straggler models, Monte Carlo, storage frontier
    "STRAGGLERS",
    "AdversarialSearchResult",
    "AdversarialStragglers",
    "BernoulliStragglers",
    "Estimate",
    "FixedStragglers",
    "FrontierPoint",
    "FrontierResult",
    "MarkovStragglers",
    "ShiftedExponentialStragglers",
    "StragglerModel",
    "estimate_error",
    "estimate_realized_error",
    "exact_storage",
    "list_stragglers",
    "log_storage",
    "make_stragglers",
    "mean_ci",
    "source_text_storage",
    "storage_frontier",
    "storage_lower_bound",
    "straggler_tags",
    "worst_stragglers_exhaustive",
]
