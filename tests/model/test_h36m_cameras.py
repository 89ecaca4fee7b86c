"""The built-in Human3.6M cameras: every evaluated subject has four calibrated cameras."""

from __future__ import annotations

import numpy as np
import pytest

from model.camera import (
    image_coordinates,
    normalised_intrinsic,
    project_to_2d,
    world_to_camera,
)
from model.h36m_cameras import CAMERA_IDS, SUBJECTS, h36m_cameras


@pytest.mark.parametrize("subject", ["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
def test_subject_has_four_calibrated_cameras(subject: str) -> None:
    cams = h36m_cameras(subject)
    assert [c.id for c in cams] == list(CAMERA_IDS)
    for cam in cams:
        assert np.linalg.norm(cam.orientation) == pytest.approx(1.0, abs=1e-6)
        assert 3.0 < np.linalg.norm(cam.translation) < 7.0  # metres from the capture centre
        assert cam.intrinsic.shape == (9,) and 1100 < cam.intrinsic[0] < 1200


@pytest.mark.parametrize("subject", SUBJECTS)
def test_capture_centre_projects_inside_every_image(subject: str) -> None:
    """A point 1 m above the floor's origin is in front of each camera and inside its image."""
    for cam in h36m_cameras(subject):
        X = world_to_camera(np.array([[0.0, 0.0, 1.0]]), cam.orientation, cam.translation)
        assert X[0, 2] > 0
        u, v = image_coordinates(project_to_2d(X, normalised_intrinsic(cam).astype(np.float64)), cam.res_w, cam.res_h)[
            0
        ]
        assert 0 < u < cam.res_w and 0 < v < cam.res_h


def test_subjects_without_published_extrinsics_are_absent() -> None:
    assert set(SUBJECTS) == {"S1", "S5", "S6", "S7", "S8", "S9", "S11"}
    with pytest.raises(KeyError):
        h36m_cameras("S2")
