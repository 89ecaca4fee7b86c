"""Running a study on Ray: the Optuna-Ray bridge, the trainable, the results callback, the runner, the sweep.

Imports ``study.spec``, ``study.results`` and ``model`` (and Ray, Optuna, Rich); never ``study.report`` or ``study.cli``.
"""
