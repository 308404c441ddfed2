"""Motion analysis on hand-made cases with known answers, and on one real jump pair."""

from pathlib import Path

import numpy as np
import pytest

from sportanim import analysis as an
from sportanim.h36m import H36M, h36m17_to_smpl24

FS_JUMP3D = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fs_jump3d"


def rotation_to(up) -> np.ndarray:
    """A rotation matrix ``(3, 3)`` taking +z to unit ``up`` (Rodrigues)."""
    z, u = np.array([0.0, 0.0, 1.0]), np.asarray(up, float) / np.linalg.norm(up)
    axis, c = np.cross(z, u), float(z @ u)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * K + (1 - c) * K @ K


def spinning_hips(turns=2.5, frames=121, radius=0.15, heading0=0.3):
    """Hips turning ``turns`` counter-clockwise about +z while drifting and bobbing.
    Returns ``(left, right)`` ``(T, 3)``, metres."""
    t = np.linspace(0.0, 1.0, frames)
    theta = heading0 + turns * 2 * np.pi * t
    centre = np.stack([2.0 * t, -1.0 * t, 1.0 + 0.3 * np.sin(np.pi * t)], axis=-1)
    half = radius * np.stack([np.cos(theta), np.sin(theta), np.zeros_like(t)], axis=-1)
    return centre + half, centre - half


# --------------------------------------------------------------------------- rotation


def test_plane_basis_is_right_handed_and_orthonormal():
    for up in [(0, 0, 1), (0, 1, 0), (0, -1, 0), (1, 2, 3), (-0.2, 0.1, -1)]:
        e1, e2, u = an.plane_basis(up)
        basis = np.stack([e1, e2, u])
        assert np.allclose(basis @ basis.T, np.eye(3), atol=1e-12)
        assert np.allclose(np.cross(e1, e2), u)
    assert np.allclose(np.stack(an.plane_basis((0, 0, 1))), np.eye(3))


def test_hip_heading_reference_and_sense():
    right = np.zeros((2, 3))
    left = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # +x, then +y: a quarter turn CCW
    assert np.allclose(an.hip_heading(left, right), [0.0, np.pi / 2])


def test_count_revolutions_z_up():
    left, right = spinning_hips(turns=2.5)
    assert an.count_revolutions(left, right, 0, len(left) - 1) == pytest.approx(2.5, abs=1e-9)
    assert an.count_revolutions(right, left, 0, len(left) - 1) == pytest.approx(2.5, abs=1e-9)
    heading = an.hip_heading(left, right)
    assert np.all(np.diff(heading) > 0)  # unwrapped: continuous, no 2pi jumps


@pytest.mark.parametrize("up", [(0, -1, 0), (1, 1, 1), (0.3, -0.5, 0.2), (0, 0, -1)])
def test_count_revolutions_rotated_up(up):
    R = rotation_to(up)
    left, right = spinning_hips(turns=2.5)
    left, right = left @ R.T, right @ R.T
    last = len(left) - 1
    assert an.count_revolutions(left, right, 0, last, up=up) == pytest.approx(2.5, abs=1e-9)
    # seen from the other side the same spin is clockwise
    flipped = tuple(-np.asarray(up, float))
    assert an.count_revolutions(left, right, 0, last, up=flipped) == pytest.approx(-2.5, abs=1e-9)


def test_count_revolutions_part_of_clip():
    left, right = spinning_hips(turns=2.5, frames=101)
    assert an.count_revolutions(left, right, 20, 60) == pytest.approx(1.0, abs=1e-9)


def test_rotation_speed_constant_spin():
    fps, frames = 60.0, 61  # one second
    left, right = spinning_hips(turns=2.5, frames=frames)
    speed = an.rotation_speed(left, right, fps)
    assert speed.shape == (frames,)
    assert np.allclose(speed, 2.5, atol=1e-9)


def test_horizontal_speed_ignores_vertical_motion():
    t = np.arange(30) / 30.0
    points = np.stack([3 * t, 4 * t, 5 * np.sin(7 * t)], axis=-1)
    assert np.allclose(an.horizontal_speed(points, 30.0), 5.0)
    R = rotation_to((1, 2, 2))
    assert np.allclose(an.horizontal_speed(points @ R.T, 30.0, up=(1, 2, 2)), 5.0)


# --------------------------------------------------------------------------- flight


def test_fit_gravity_parabola_30fps():
    t = np.arange(16) / 30.0  # half a second
    h = 1.0 + 2.4 * t - 0.5 * 9.81 * t**2
    assert an.fit_gravity(h, 30.0) == pytest.approx(9.81, abs=1e-9)
    assert an.fit_gravity(1000 * h, 30.0) == pytest.approx(9810.0, rel=1e-9)  # mm in, mm/s^2 out
    with pytest.raises(ValueError):
        an.fit_gravity(h[:2], 30.0)


def foot_heights():
    """A made-up take-off/landing: metres above an ice at 0.10 m (ankle height).
    Flight frames 10-17 (both feet up); frames 30-31 only the left foot is up."""
    left = np.full(40, 0.10)
    right = np.full(40, 0.10)
    left[8:20] = [0.13, 0.14, 0.2, 0.3, 0.4, 0.45, 0.45, 0.4, 0.3, 0.2, 0.12, 0.10]
    right[9:19] = [0.12, 0.17, 0.25, 0.35, 0.4, 0.4, 0.35, 0.25, 0.18, 0.14]
    left[30:32] = 0.5
    return left, right


def test_airborne_mask_and_phases():
    left, right = foot_heights()
    mask = an.airborne_mask(left, right)  # ground estimated, 5 cm margin, metres
    assert mask.dtype == bool and mask.shape == (40,)
    assert np.flatnonzero(mask).tolist() == list(range(10, 18))
    assert an.flight_phases(mask) == [(10, 17)]
    mm = an.airborne_mask(1000 * left, 1000 * right, unit_scale=1000.0)
    assert np.array_equal(mm, mask)
    strict = an.airborne_mask(left, right, ground=0.10, margin=0.2)
    assert an.flight_phases(strict, min_frames=1) == [(12, 15)]
    assert an.flight_phases(strict, min_frames=5) == []


def test_airborne_mask_release_widens_within_limit():
    left, right = foot_heights()
    wide = an.airborne_mask(left, right, ground=0.10, margin=0.2, release=0.035)
    assert an.flight_phases(wide, min_frames=1) == [(10, 17)]
    capped = an.airborne_mask(left, right, ground=0.10, margin=0.2, release=0.035, max_widen=1)
    assert an.flight_phases(capped, min_frames=1) == [(11, 16)]


def test_airborne_mask_per_frame_ground():
    left, right = foot_heights()
    slope = np.linspace(0.0, 0.5, 40)  # the ice rises under a travelling skater
    mask = an.airborne_mask(left + slope, right + slope, ground=0.10 + slope)
    assert an.flight_phases(mask) == [(10, 17)]


def test_jump_flights_and_statistics_of_a_made_up_jump():
    """A 0.5 s flight at 60 fps: ankles up 0.1-0.3 m, centre of mass and pelvis on a 9.81
    parabola, hips turning 2 rev/s before and 5 rev/s in the air; a second lift-off in
    which the body does not rise (a fall) is not a jump."""
    fps, T = 60.0, 150
    t = np.arange(T) / fps
    air = (t >= 1.0) & (t < 1.5)
    lift = np.where(air, 0.11 + 0.8 * (t - 1.0) * (1.5 - t) * 4, 0.0)
    fall = (t >= 2.0) & (t < 2.2)
    lift = lift + np.where(fall, 0.12, 0.0)
    com = 0.9 + np.where(air, 0.5 * 9.81 * (t - 1.0) * (1.5 - t), 0.0)
    flights = an.flight_candidates(lift, lift, fps)
    assert flights == [(60, 89), (120, 131)]
    assert an.jump_flights(lift, lift, com, fps) == [(60, 89)]
    rate = np.where(air, 5.0, 2.0)  # rev/s
    heading = 2 * np.pi * np.concatenate([[0.0], np.cumsum(rate[:-1]) / fps])
    half = 0.1 * np.stack([np.cos(heading), np.sin(heading), np.zeros(T)], axis=-1)
    stats = an.flight_statistics(half, -half, com, 60, 89, fps)
    assert stats["air_time_s"] == pytest.approx(0.5)
    assert stats["revolutions"] == pytest.approx(2.5, abs=0.05)
    assert stats["peak_spin_deg_s"] == pytest.approx(5.0 * 360, rel=1e-6)
    assert stats["g_pelvis"] == pytest.approx(9.81, rel=1e-6)


def test_flight_phases_edges():
    assert an.flight_phases(np.zeros(5, bool)) == []
    assert an.flight_phases(np.ones(5, bool)) == [(0, 4)]
    mask = np.array([1, 1, 1, 0, 1, 0, 0, 1, 1, 1], bool)
    assert an.flight_phases(mask) == [(0, 2), (7, 9)]
    assert an.flight_phases(mask, min_frames=1) == [(0, 2), (4, 4), (7, 9)]


def tilted_glide(up=(0.0, 0.0, 1.0), frames=200, seed=0):
    """Feet gliding on a tilted ice plane with one lifted foot at a time and a jump.
    Returns ``(left, right, normal)`` with ``normal`` the ice normal in the output frame."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, frames)
    xy = np.stack([12 * t, 3 * np.sin(4 * t)], axis=-1)
    a, b = 0.012, -0.008  # ice height = a x + b y + 0.1
    on_ice = 0.1 + xy @ [a, b]
    left = np.column_stack([xy + [0.0, 0.1], on_ice + 0.002 * rng.standard_normal(frames)])
    right = np.column_stack([xy - [0.0, 0.1], on_ice + 0.002 * rng.standard_normal(frames)])
    left[(t > 0.2) & (t < 0.4), 2] += 0.3  # free leg lifted
    right[(t > 0.6) & (t < 0.7), 2] += 0.2
    left[(t > 0.5) & (t < 0.55), 2] += 0.4  # a jump: both feet up
    right[(t > 0.5) & (t < 0.55), 2] += 0.4
    normal = np.array([-a, -b, 1.0]) / np.linalg.norm([-a, -b, 1.0])
    R = rotation_to(up)
    return left @ R.T, right @ R.T, R @ normal


@pytest.mark.parametrize("up", [(0, 0, 1), (0, -1, 0), (1, -2, 0.5)])
def test_fit_ground_plane_recovers_tilted_ice(up):
    left, right, normal = tilted_glide(up)
    n, offset = an.fit_ground_plane(left, right, up=up)
    assert np.degrees(np.arccos(np.clip(n @ normal, -1, 1))) < 0.1
    lower = np.minimum(an.height_above_plane(left, n, offset),
                       an.height_above_plane(right, n, offset))
    assert np.median(np.abs(lower)) < 0.003


def test_fit_ground_plane_stays_level_across_a_straight_glide_it_cannot_see():
    # Feet on level ice (z = 0) along a straight 3 m glide, one stride wide, heights noisy by
    # 2 cm: across the strip the tilt is unknown to ~10 degrees, so the plane keeps to up;
    # with a wide curve under the same noise it is fitted again.
    rng = np.random.default_rng(3)
    along = np.linspace(0.0, 3.0, 40)
    for across, level in ((0.1, True), (2.0, False)):
        side = np.where(np.arange(40) % 2, across, -across) / 2
        feet = np.stack([along, side, rng.normal(0.0, 0.02, 40)], axis=-1)
        feet[:, 2] += 0.05 * feet[:, 1] if not level else 0.0  # a 3 degree tilt the curve can show
        normal, offset = an.fit_ground_plane(feet, feet + [0, 0, 0.3])
        tilt = np.degrees(np.arccos(abs(normal[2])))
        across_tilt = np.degrees(np.arctan2(abs(normal[1]), normal[2]))
        assert (across_tilt < 0.01) if level else (across_tilt == pytest.approx(2.9, abs=1.0)), (across, tilt)


def test_estimate_up_axis_torso_and_ground():
    up_true = np.array([0.2, -0.9, 0.1])
    up_true /= np.linalg.norm(up_true)
    left, right, normal = tilted_glide(up_true)
    frames = len(left)
    joints = np.zeros((frames, 24, 3))
    lean = rotation_to(up_true) @ np.array([0.0, 0.25, 1.0])  # everyone leans forward
    joints[:, 0] = 0.5 * (left + right) + 0.9 * normal
    joints[:, 12] = joints[:, 0] + 0.5 * lean / np.linalg.norm(lean)
    joints[:, 7], joints[:, 8] = left, right
    torso = an.estimate_up_axis(joints, feet=None)
    lean_deg = np.degrees(np.arctan(0.25))
    assert np.degrees(np.arccos(torso @ normal)) == pytest.approx(lean_deg, abs=1.5)
    refined = an.estimate_up_axis(joints)
    assert np.degrees(np.arccos(np.clip(refined @ normal, -1, 1))) < 0.1


# --------------------------------------------------------------------------- mapping


def standing_h36m() -> np.ndarray:
    """A standing skater facing +y, z up (so their right is +x), metres. ``(17, 3)``,
    Human3.6M order."""
    return np.array([
        [0.0, 0.0, 0.95],  # pelvis
        [0.1, 0.0, 0.92], [0.1, 0.0, 0.5], [0.1, 0.0, 0.1],  # right hip, knee, ankle
        [-0.1, 0.0, 0.92], [-0.1, 0.0, 0.5], [-0.1, 0.0, 0.1],  # left hip, knee, ankle
        [0.0, 0.0, 1.2], [0.0, 0.0, 1.45], [0.0, 0.05, 1.6], [0.0, 0.0, 1.72],  # spine..head
        [-0.18, 0.0, 1.42], [-0.2, 0.0, 1.14], [-0.2, 0.0, 0.88],  # left shoulder, elbow, wrist
        [0.18, 0.0, 1.42], [0.2, 0.0, 1.14], [0.2, 0.0, 0.88],  # right arm
    ])


def test_center_of_mass_symmetric_and_equivariant():
    j = h36m17_to_smpl24(standing_h36m())
    com = an.center_of_mass(j)
    assert com.shape == (3,)
    assert abs(com[0]) < 1e-12  # left-right symmetric skeleton
    assert 0.85 < com[2] < 1.1  # about hip height
    shift = np.array([3.0, -2.0, 0.5])
    assert np.allclose(an.center_of_mass(j + shift), com + shift)
    assert an.center_of_mass(np.stack([j, j])).shape == (2, 3)


# --------------------------------------------------------------------------- real data


def detect_axel(path: Path) -> dict:
    """The real Axel's flight with the detection used by benchmarks/real_jumps.py."""
    j = np.load(path) / 1000.0  # mm -> m
    H = H36M
    left, right = j[:, H["left_ankle"]], j[:, H["right_ankle"]]
    normal, offset = an.fit_ground_plane(left, right)
    phases = an.flight_candidates(an.height_above_plane(left, normal, offset),
                                  an.height_above_plane(right, normal, offset), 60.0)
    assert len(phases) == 1
    start, end = phases[0]
    com_h = an.height_above_plane(an.center_of_mass(h36m17_to_smpl24(j)), normal, offset)
    return {
        "air_time": (end - start + 1) / 60.0,
        "revolutions": an.count_revolutions(j[:, H["left_hip"]], j[:, H["right_hip"]],
                                            start, end, up=normal),
        "g_com": an.fit_gravity(com_h[start:end + 1], 60.0),
    }


@pytest.mark.parametrize("skater", ["Skater_A", "Skater_B"])
def test_real_axel_flight(skater):
    path = FS_JUMP3D / "npy" / skater / "Axel" / "Axel_1.npy"
    if not path.is_file():
        pytest.skip(f"FS-Jump3D not found at {FS_JUMP3D}")
    axel = detect_axel(path)
    assert 0.3 <= axel["air_time"] <= 0.9  # measured: A 0.52 s, B 0.40 s
    # A single Axel is 1.5 turns take-off to landing, but 0.25-0.4 of it happens on the ice:
    # the hips turn 1.21 (A) and 1.11 (B) in the air, counter-clockwise.
    assert 1.0 < axel["revolutions"] < 1.5
    assert abs(axel["g_com"] - 9.81) < 0.5  # measured: A 9.88, B 9.90
    if skater == "Skater_A":
        assert abs(axel["revolutions"] - 1.5) <= 0.35
