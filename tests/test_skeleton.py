import math

import numpy as np
import pytest

from sportanim.skeleton import (BONES, JOINT_NAMES, MIRROR, NUM_JOINTS, PARENTS, back_project, bone_lengths,
                                denormalize, nlf_intrinsics, normalize, project)


def test_tree_is_smpl():
    assert len(JOINT_NAMES) == len(PARENTS) == NUM_JOINTS == 24
    assert PARENTS[0] == -1 and all(0 <= p < c for c, p in enumerate(PARENTS) if c)
    assert len(BONES) == 23
    assert JOINT_NAMES[15] == "head" and PARENTS[15] == 12  # head hangs from the neck
    assert [JOINT_NAMES[i] for i in (MIRROR[1], MIRROR[22], MIRROR[0])] == ["right_hip", "right_hand", "pelvis"]


def test_nlf_camera_has_55_degrees_on_the_larger_side():
    K = nlf_intrinsics(604, 1080)
    assert K[0, 2] == 302 and K[1, 2] == 540 and K[0, 0] == K[1, 1]
    # A point on the top edge of the frame is 27.5 degrees off the optical axis.
    edge = back_project(np.array([302.0, 0.0]), 1.0, K)
    assert math.degrees(math.atan2(-edge[1], edge[2])) == pytest.approx(27.5)


def test_project_back_project_round_trip():
    rng = np.random.default_rng(0)
    pts = rng.normal([0, 0, 3000], [500, 500, 300], size=(7, 24, 3))
    K = np.stack([nlf_intrinsics(512, 512)] * 7)
    K[:, 0, 2] += np.arange(7)  # per-frame cameras
    uv = project(pts, K)
    np.testing.assert_allclose(back_project(uv, pts[..., 2], K), pts, rtol=1e-12)
    assert np.isnan(project(np.array([1.0, 1.0, -1.0]), K[0])).all()  # behind the camera


def test_normalize_round_trip_and_checks():
    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=(24, 3)), rng.uniform(1, 2, (24, 3))
    x = rng.normal(size=(49, 24, 3))
    np.testing.assert_allclose(denormalize(normalize(x, mean, std), mean, std), x)
    with pytest.raises(ValueError, match="24, 3"):
        normalize(x, mean[:23], std[:23])
    with pytest.raises(ValueError, match="positive"):
        normalize(x, mean, np.zeros((24, 3)))


def test_bone_lengths_of_real_nlf_joints_are_plausible(shared_data):
    poses = np.load(shared_data / "mtvcrafter_samples" / "poses.npz")
    for name in poses:
        femur = np.median(bone_lengths(poses[name])[:, BONES.index((1, 4))])
        assert 300 < femur < 500, (name, femur)  # mm


@pytest.mark.parametrize("video", ["dance_16", "dance_17"])
def test_real_nlf_joints_project_onto_their_frames(shared_data, video):
    joints = np.load(shared_data / "mtvcrafter_samples" / "poses.npz")[video]
    uv = project(joints, nlf_intrinsics(1024, 1024))
    inside = ((uv >= 0) & (uv < 1024)).all(-1).mean()
    assert inside > 0.99
