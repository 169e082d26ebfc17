"""Experiments the scenario engine can run, picked by name (see :mod:`.registry`).

Importing this package is cheap: the built-in experiment modules in this folder are
imported on first use of :func:`get_experiment` or :func:`list_experiments`.
"""

from .registry import (
    EXPERIMENTS,
    OUTPUT_KINDS,
    RESERVED_PARAMETERS,
    Experiment,
    experiment_outputs,
    experiment_parameters,
    get_experiment,
    import_modules,
    list_experiments,
    register_experiment,
)

__all__ = [
    "EXPERIMENTS",
    "OUTPUT_KINDS",
    "RESERVED_PARAMETERS",
    "Experiment",
    "experiment_outputs",
    "experiment_parameters",
    "get_experiment",
    "import_modules",
    "list_experiments",
    "register_experiment",
]
