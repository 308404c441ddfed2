"""Feedback videos: motion edits (physics), retargeting to a photo's athlete, the long-video
window plan, the ``sportanim feedback`` command and one small end-to-end run."""

from __future__ import annotations

import numpy as np
import pytest

from sportanim import analysis
from sportanim.motion import edits
from sportanim.skeleton import MIRROR, bone_lengths
from sportanim.synth.world import make_clip

FPS = 30.0


@pytest.fixture(scope="module")
def jump():
    """A synthetic triple lutz filmed by the following broadcast camera (moving, tilting)."""
    clip = make_clip(0, 1, "lutz", size=(64, 64), frames=49)
    return clip.joints.astype(np.float64), clip.camera.extrinsics_mm()


def world(joints, extrinsics):
    return edits.to_world(np.asarray(joints, np.float64), extrinsics)


# --------------------------------------------------------------------------- slow


def test_slow_keeps_the_path_and_stretches_time(jump):
    joints, ext = jump
    out = edits.slow(joints, 2.0, extrinsics=ext)
    assert len(out.joints) == 2 * (len(joints) - 1) + 1
    assert out.params["real_time_factor"] == pytest.approx(0.5)
    np.testing.assert_allclose(out.joints[::2], joints, atol=1e-2)  # the old frames, in order
    mid = out.joints[1::2, 0]  # pelvis halfway between frames lies on the segment
    np.testing.assert_allclose(mid, 0.5 * (joints[:-1, 0] + joints[1:, 0]), atol=1e-2)
    np.testing.assert_allclose(bone_lengths(out.joints), np.repeat(bone_lengths(joints), 2, 0)[:len(out.joints)],
                               atol=1.0)
    # the same world seen by the re-timed camera
    np.testing.assert_allclose(world(out.joints, out.extrinsics)[::2], world(joints, ext), atol=0.1)


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan"), 100.0])
def test_slow_refuses_non_factors(jump, factor):
    with pytest.raises(ValueError, match="--slow"):
        edits.slow(jump[0], factor)


# --------------------------------------------------------------------------- mirror


def test_mirror_twice_is_identity_and_flips_the_turn(jump):
    joints, ext = jump
    once = edits.mirror(joints, extrinsics=ext)
    twice = edits.mirror(once.joints, extrinsics=once.extrinsics)
    np.testing.assert_allclose(twice.joints, joints, atol=0.5)
    np.testing.assert_allclose(bone_lengths(once.joints), bone_lengths(joints)[:, _mirror_bones()], atol=0.1)
    start, end = edits.find_flights(joints, FPS, extrinsics=ext)[0]
    w0, w1 = world(joints, ext), world(once.joints, once.extrinsics)
    turns0 = analysis.count_revolutions(w0[:, 1], w0[:, 2], start, end)
    turns1 = analysis.count_revolutions(w1[:, 1], w1[:, 2], start, end)
    assert turns0 > 2 and turns1 == pytest.approx(-turns0, abs=1e-3)
    np.testing.assert_allclose(w1[..., 2], w0[:, list(MIRROR), 2], atol=0.1)  # heights kept
    # the skater stays where they were in the picture (the plane holds the line of sight)
    np.testing.assert_allclose(once.joints[:, 0].mean(0), joints[:, 0].mean(0), atol=1.0)


def _mirror_bones():
    from sportanim.skeleton import BONES

    index = {child: k for k, (_, child) in enumerate(BONES)}
    return [index[MIRROR[child]] for _, child in BONES]


def test_mirror_without_extrinsics_estimates_up(jump):
    joints, _ = jump
    twice = edits.mirror(edits.mirror(joints).joints)
    np.testing.assert_allclose(twice.joints, joints, atol=0.5)


# --------------------------------------------------------------------------- view


@pytest.mark.parametrize("degrees", [30.0, 90.0, -120.0, 180.0])
def test_view_keeps_bones_distance_and_world(jump, degrees):
    joints, ext = jump
    out = edits.rotate_view(joints, degrees, extrinsics=ext)
    np.testing.assert_allclose(bone_lengths(out.joints), bone_lengths(joints), atol=0.1)
    pivot = joints[:, 0].mean(0)
    assert np.linalg.norm(out.joints[:, 0].mean(0)) == pytest.approx(np.linalg.norm(pivot), rel=1e-3)
    assert out.params["up_from"] == "extrinsics"
    np.testing.assert_allclose(world(out.joints, out.extrinsics), world(joints, ext), atol=0.1)
    heights = world(joints, ext)[..., 2]  # the camera orbits: the skater's heights stay
    assert not np.allclose(out.joints, joints, atol=10.0)
    assert heights.min() > -50


def test_view_refuses_a_camera_inside_or_behind_the_skater(jump):
    joints, ext = jump
    up = edits.up_direction(joints, ext)[0][0]
    side = np.cross(up, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    # one pose gliding 3 m across the picture, 1.2 m in front of the camera: seen from 90
    # degrees round, one end of the glide is behind the camera
    pose = joints[0] - joints[0, 0]
    travel = np.linspace(-1500.0, 1500.0, 20)[:, None] * side
    near = pose[None] + travel[:, None, :] + np.array([0.0, 0.0, 1200.0])
    for degrees in (90.0, -90.0):
        with pytest.raises(ValueError, match=f"--view {degrees:g}: .*(behind the camera|inside the skater)"):
            edits.rotate_view(near, degrees, up=up)
    edits.rotate_view(near, 10.0, up=up)  # a small turn is fine


# --------------------------------------------------------------------------- flight


@pytest.mark.parametrize("air, spin", [(1.0, 1.0), (1.3, 1.0), (1.0, 1.5), (0.8, 1.2)])
def test_scale_flight_is_ballistic(jump, air, spin):
    joints, ext = jump
    out = edits.scale_flight(joints, FPS, air_time_factor=air, rotation_speed_factor=spin, extrinsics=ext)
    before, after = out.params["before"], out.params["after"]
    assert after["g_pelvis"] == pytest.approx(9.81, abs=0.05)  # the pelvis flies a parabola under g
    frames = out.params["landing_before"] - out.params["takeoff"] + 1
    assert after["air_time_s"] == pytest.approx(round(frames * air) / FPS)
    expected = before["revolutions"] * spin * after["air_time_s"] / before["air_time_s"]
    assert after["revolutions"] == pytest.approx(expected, rel=0.03)
    np.testing.assert_allclose(bone_lengths(out.joints), np.broadcast_to(bone_lengths(joints).mean(0),
                                                                      (len(out.joints), 23)), atol=2.0)
    assert len(out.joints) == len(joints) + round(frames * air) - frames
    assert out.extrinsics.shape == (len(out.joints), 3, 4)


def test_longer_flight_is_higher(jump):
    joints, ext = jump
    rises = []
    for air in (1.0, 1.25):
        out = edits.scale_flight(joints, FPS, air_time_factor=air, extrinsics=ext)
        w = world(out.joints, out.extrinsics)
        start, end = out.params["takeoff"], out.params["landing_after"]
        rises.append(analysis.flight_rise(w[:, 0, 2], start, end))
    ratio = rises[1] / rises[0]
    assert 1.3 < ratio < 1.9  # ballistic: rise ~ air time squared (1.25^2 = 1.56)


def test_scale_flight_refuses_a_motion_without_a_jump():
    walk = make_clip(0, 0, "walk", size=(64, 64), frames=49)
    with pytest.raises(ValueError, match="no jump flight"):
        edits.scale_flight(walk.joints, FPS, 1.2, extrinsics=walk.camera.extrinsics_mm())
