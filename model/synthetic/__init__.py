"""Synthetic default dataset: procedural human motion filmed by virtual cameras (docs/data.md).

Joint-angle activities within anatomical limits drive forward kinematics of several body sizes;
virtual cameras project the joints with the VideoPose3D camera model and a detector-like noise
model perturbs the 2D. Deterministic for a seed. For running and testing everything: its numbers
are not Human3.6M numbers.
"""

from model.io import cache_dir
from model.synthetic.writer import (
    GENERATOR_VERSION,
    build,
    default_dataset_path,
    generate,
)

__all__ = ["GENERATOR_VERSION", "build", "cache_dir", "default_dataset_path", "generate"]
