"""Names inside a study's run folder shared by several modules (docs/study.md §4).

The runner claims the folder by writing ``SPEC_FILE`` and puts Ray Tune's experiment under
``RAY_DIR`` (unless ``--storage-path``); the trainable saves each checkpoint as
``CHECKPOINT_FILE`` and the sampler sweep reads it back. The Parquet files' names live with their
tables (``tables.py``), the Optuna journal's with the storage (``storage.py``).
"""

from __future__ import annotations

SPEC_FILE = "spec.resolved.yaml"  # <run folder>/spec.resolved.yaml: the resolved spec and its hash, claims the folder
RAY_DIR = "ray"  # <run folder>/ray/<study>-<hash>/: Ray Tune's experiment folder
CHECKPOINT_FILE = "trial.pt"  # <trial folder>/checkpoint_<N>/trial.pt: one Ray checkpoint of a trial
