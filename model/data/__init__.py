"""Datasets: Human3.6M (VideoPose3D files), the custom single-file format and the synthetic default."""

from model.data.dataset import PoseSet, Splits
from model.data.splits import load_splits

__all__ = ["PoseSet", "Splits", "load_splits"]
