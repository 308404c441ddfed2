"""FS-Jump3D import: the Human3.6M -> SMPL mapping on synthetic bodies, levelling, resampling,
bad inputs, and (when ../shared/data is there) the real trials."""

from pathlib import Path

import numpy as np
import pytest

from sportanim import h36m
from sportanim.h36m import H36M, h36m17_to_smpl24, smpl24_to_h36m17
from sportanim.skeleton import JOINT_INDEX as S
from sportanim.synth.daily import DAILY_MOTIONS
from sportanim.synth.jumps import JUMP_TYPES, jump_track, plan_jump
from sportanim.synth.kinematics import Body
from sportanim.synth.timeline import perform, smooth_params

FS_JUMP3D = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fs_jump3d"


def synthetic_jump(seed: int = 0, name: str = "lutz", fps: float = 60.0):
    """World joints (T, 24, 3) metres, z up, of one synthetic jump, and its plan's event."""
    rng = np.random.default_rng([seed, 5])
    plan = plan_jump(rng, name, fps)
    perf = perform(smooth_params(jump_track(plan, fps), 1.2 * fps / 30.0), Body.sample(rng))
    return perf.joints, perf.events[0]


def standing_h36m() -> np.ndarray:
    """A standing skater facing +y, z up (so their right is +x), metres. ``(17, 3)``."""
    return np.array([
        [0.0, 0.0, 0.95],  # pelvis
        [0.1, 0.0, 0.95], [0.1, 0.0, 0.5], [0.1, 0.0, 0.1],  # right hip, knee, ankle
        [-0.1, 0.0, 0.95], [-0.1, 0.0, 0.5], [-0.1, 0.0, 0.1],  # left hip, knee, ankle
        [0.0, 0.0, 1.2], [0.0, 0.03, 1.45], [0.0, 0.07, 1.55], [0.0, 0.0, 1.68],  # spine..head
        [-0.18, 0.0, 1.42], [-0.2, 0.0, 1.14], [-0.2, 0.0, 0.88],  # left shoulder, elbow, wrist
        [0.18, 0.0, 1.42], [0.2, 0.0, 1.14], [0.2, 0.0, 0.88],  # right arm
    ])


# ------------------------------------------------------------------------------ mapping


def test_mapping_shapes_dtype_and_copies():
    rng = np.random.default_rng(1)
    clip = standing_h36m() + 0.02 * rng.standard_normal((7, 17, 3))
    out = h36m17_to_smpl24(clip)
    assert out.shape == (7, 24, 3) and out.dtype == clip.dtype
    assert h36m17_to_smpl24(clip[0]).shape == (24, 3)
    assert h36m17_to_smpl24(np.stack([clip, clip])).shape == (2, 7, 24, 3)
    assert h36m17_to_smpl24(clip.astype(np.float32)).dtype == np.float32
    for name in h36m.SHARED_JOINTS:
        assert np.array_equal(out[:, S[name]], clip[:, H36M[name]])
    assert np.all(np.isfinite(out))
    with pytest.raises(ValueError, match="17, 3"):
        h36m17_to_smpl24(np.zeros((5, 24, 3)))


def test_mapping_geometry_of_a_standing_skater():
    j = h36m17_to_smpl24(standing_h36m())
    z = j[:, 2]
    assert z[S["pelvis"]] < z[S["spine1"]] < z[S["spine2"]] < z[S["spine3"]] < z[S["neck"]] < z[S["head"]]
    # SMPL's hips are the hip-joint centres, below H36M's ASIS/PSIS-level hips and the pelvis.
    for side in ("left", "right"):
        assert z[S[f"{side}_hip"]] < 0.95 - 0.03 and z[S[f"{side}_hip"]] < z[S["pelvis"]] - 0.05
    for foot, ankle in ((S["left_foot"], S["left_ankle"]), (S["right_foot"], S["right_ankle"])):
        assert j[foot, 1] > j[ankle, 1] + 0.1 and j[foot, 2] < j[ankle, 2]  # forward (+y), down
    for hand, wrist in ((S["left_hand"], S["left_wrist"]), (S["right_hand"], S["right_wrist"])):
        assert j[hand, 2] < j[wrist, 2] and np.isclose(j[hand, 0], j[wrist, 0])
    for collar, shoulder in ((S["left_collar"], S["left_shoulder"]), (S["right_collar"], S["right_shoulder"])):
        assert 0 < abs(j[collar, 0]) < abs(j[shoulder, 0]) and j[collar, 2] < j[shoulder, 2]


def test_mapping_round_trip_error_on_synthetic_bodies():
    """SMPL joints -> FS-Jump3D landmarks -> SMPL joints on a jump and a daily motion: the
    copied joints come back exactly, the derived ones within bounds a little above what the
    benchmark measures (feet: pointed toes in the air are invisible in H36M-17)."""
    jump, _ = synthetic_jump(3, "axel", 30.0)
    rng = np.random.default_rng(4)
    daily = perform(DAILY_MOTIONS["dance_step"](rng, 30.0, 60), Body.sample(rng)).joints
    error_mm = h36m.round_trip_error(1000.0 * np.concatenate([jump, daily]))
    for name in h36m.SHARED_JOINTS:
        assert error_mm[S[name]] < 1e-6
    bounds = {"pelvis": 10, "left_hip": 5, "right_hip": 5, "spine1": 25, "spine2": 8,
              "spine3": 12, "neck": 20, "head": 5, "left_collar": 15, "right_collar": 15,
              "left_hand": 20, "right_hand": 20, "left_foot": 80, "right_foot": 80}
    for name, bound in bounds.items():
        assert error_mm[S[name]] < bound, (name, error_mm[S[name]])
    assert set(bounds) == set(h36m.DERIVED_JOINTS)


def test_reverse_model_is_equivariant():
    jump, _ = synthetic_jump(1, "flip", 30.0)
    turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    moved = jump @ turn.T + np.array([3.0, -1.0, 0.2])
    assert np.allclose(smpl24_to_h36m17(moved), smpl24_to_h36m17(jump) @ turn.T + [3.0, -1.0, 0.2])
    assert np.allclose(h36m17_to_smpl24(smpl24_to_h36m17(moved)),
                       h36m17_to_smpl24(smpl24_to_h36m17(jump)) @ turn.T + [3.0, -1.0, 0.2])
