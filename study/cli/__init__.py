"""The ``posediff-study`` command line (``app.main``): thin Typer commands, one module per command group.

May import every other room; nothing imports ``study.cli``.
"""
