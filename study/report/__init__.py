"""Reading finished studies back: tables, plots, importances, the rendered report; the dataset inspector.

Imports ``study.spec``, ``study.results`` and ``model`` (and matplotlib, Rich); never ``study.tune`` or ``study.cli``.
"""
