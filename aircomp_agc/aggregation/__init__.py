"""Coded over-the-air aggregation: the coding layer and the channel layer, joined.

::

    from aircomp_agc.aggregation import CodedAirComp
    agg = CodedAirComp(code=code, channel="rayleigh", power_control="optimal_power",
                       power=1.0, noise_var=0.1, stragglers=make_stragglers("fixed", s=5),
                       threshold=0.2, decoder="lstsq")
    res = agg.round(G, batch=256, rng=0)       # estimate, exact, error_parts, responders...
    agg.expected_mse(G, n_draws=2000, rng=1)   # mean, ci_low, ci_high, parts

This package imports the public APIs of :mod:`aircomp_agc.coding` and :mod:`channels`;
neither imports it.
"""

from .boxqp import BoxQPResult, solve_box_qp
from .codesign import CodesignResult, codesign
from .compress import CommonSupportTopK, CompressedRoundResult, PerDeviceTopK
from .digital import DigitalAggregation, DigitalPlan, DigitalRoundResult
from .error import PART_NAMES, conditional_error, quadratic_form, split_error
from .joint import correlation_aware_allocation, joint_allocation
from .messages import (
    GradientModel,
    OnlineGradientModel,
    coded_rms,
    encode,
    message_rms,
    normalize,
    partition_gram,
)
from .plan import Allocation, PlanContext, RoundPlan
from .policies import AGGREGATION_POLICIES, AllocationPolicy, register_policy, resolve_policy
from .quantize import payload_bits, quantization_variance, stochastic_quantize
from .result import ErrorViews, ExpectedError, RoundResult
from .round import CodedAirComp
from .stateful import StatefulAggregator

__all__ = [
    "AGGREGATION_POLICIES",
    "PART_NAMES",
    "Allocation",
    "BoxQPResult",
    "AllocationPolicy",
    "CodedAirComp",
    "CodesignResult",
    "ErrorViews",
    "ExpectedError",
    "GradientModel",
    "OnlineGradientModel",
    "PlanContext",
    "RoundPlan",
    "RoundResult",
    "codesign",
    "conditional_error",
    "correlation_aware_allocation",
    "joint_allocation",
    "encode",
    "coded_rms",
    "message_rms",
    "normalize",
    "partition_gram",
    "quadratic_form",
    "register_policy",
    "resolve_policy",
    "solve_box_qp",
    "split_error",
    # baselines and layers (digital, compress, stateful)
    "CommonSupportTopK",
    "CompressedRoundResult",
    "DigitalAggregation",
    "DigitalPlan",
    "DigitalRoundResult",
    "PerDeviceTopK",
    "StatefulAggregator",
    "payload_bits",
    "quantization_variance",
    "stochastic_quantize",
]
