"""Datasets: Human3.6M (VideoPose3D files), the custom single-file format and the synthetic default."""
from model.data.dataset import PoseSet, Splits

__all__ = ["PoseSet", "Splits"]
