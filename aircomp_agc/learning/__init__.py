"""The learning layer: distributed and federated training under coding and channel error.

::

    from aircomp_agc.learning import make_problem, train
    prob = make_problem("logistic", dataset="breast-cancer", n_partitions=40,
                        partition="iid", reg=1e-2, rng=0)
    hist = train(prob, aggregator=agg, rounds=300, rng=1)     # or aggregator="ideal"

It uses :mod:`aircomp_agc.aggregation`, :mod:`aircomp_agc.coding` and :mod:`channels`;
nothing below it imports it. Keras models import TensorFlow only when built.
"""

from .bounds import applicable, inexact_gd_bound, inexact_gd_floor, source_text_bound
from .data import DATASETS, Dataset, load_dataset
from .mean_dynamics import mean_aggregate_gd
from .partition import SCHEMES, partition
from .problems import PROBLEMS, LinearProblem, Problem, make_problem
from .train import METHODS, History, train

__all__ = [
    "DATASETS",
    "METHODS",
    "PROBLEMS",
    "SCHEMES",
    "Dataset",
    "History",
    "LinearProblem",
    "Problem",
    "applicable",
    "inexact_gd_bound",
    "inexact_gd_floor",
    "load_dataset",
    "make_problem",
    "mean_aggregate_gd",
    "partition",
    "source_text_bound",
    "train",
]
