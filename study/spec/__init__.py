"""Study specs: reading a YAML file safely, checking it at one boundary, the search space, Optuna's factories.

Imports ``model`` only (and Optuna, PyYAML); never ``study.results``, ``study.tune``, ``study.report``, ``study.cli``.
"""
