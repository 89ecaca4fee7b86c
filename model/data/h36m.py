"""Reader for Human3.6M in VideoPose3D's files, with the built-in published cameras.

A directory holding data_3d_h36m.npz (positions_3d: subject -> action -> [T, 32|17, 3] world
metres) and data_2d_h36m_<keypoints>.npz (positions_2d: subject -> action -> 4 per-camera arrays
[T2, 17, 2] pixels, or DiffPose's *_gmm files [T2, 17, K, 5]; optional metadata).
"""

from __future__ import annotations

from pathlib import Path

from model.data.assemble import RawDataset
from model.data.sequences import read_sequences
from model.data.validate import as_dict, open_npz, read_entry, where
from model.errors import PoseDiffError
from model.h36m_cameras import SUBJECTS, h36m_cameras

FILE_3D = "data_3d_h36m.npz"
DEFAULT_SPLITS = (("S1", "S5", "S6", "S7"), ("S8",), ("S9", "S11"))  # train, val, test


def read_h36m(directory: Path, keypoints: str) -> RawDataset:
    """Read and validate a VideoPose3D Human3.6M directory for one 2D keypoint source (gt, cpn_ft_h36m_dbb, ...)."""
    path_3d, path_2d = directory / FILE_3D, directory / f"data_2d_h36m_{keypoints}.npz"
    with open_npz(path_3d) as npz:
        positions_3d = as_dict(
            read_entry(npz, path_3d, "positions_3d"), path_3d, "positions_3d", what="a dict subject -> action -> array"
        )
    with open_npz(path_2d) as npz:
        positions_2d = as_dict(
            read_entry(npz, path_2d, "positions_2d"),
            path_2d,
            "positions_2d",
            what="a dict subject -> action -> list of 4 camera arrays",
        )
        if "metadata" in npz:
            _check_metadata(read_entry(npz, path_2d, "metadata"), path_2d)
    for subject in positions_3d:
        if subject not in SUBJECTS:
            raise PoseDiffError(
                where(path_3d, "positions_3d", str(subject)),
                f"a subject with built-in cameras ({', '.join(SUBJECTS)})",
                "a subject with no cameras",
            )
    cameras = {subject: h36m_cameras(subject) for subject in positions_3d}
    sequences = read_sequences(positions_3d, positions_2d, {s: len(c) for s, c in cameras.items()}, path_3d, path_2d)
    return RawDataset(
        name=f"h36m-{keypoints}",
        sources=(path_3d, path_2d),
        sequences=sequences,
        cameras=cameras,
        default_splits=DEFAULT_SPLITS,
        is_h36m=True,
    )


def _check_metadata(metadata: object, path: Path) -> None:
    """VideoPose3D's 2D metadata, when present, must describe 17 keypoints."""
    metadata = as_dict(metadata, path, "metadata")
    if metadata.get("num_joints", 17) != 17:
        raise PoseDiffError(where(path, "metadata", "num_joints"), "17", repr(metadata["num_joints"]))
