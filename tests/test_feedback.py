"""Feedback videos: motion edits (physics), retargeting to a photo's athlete, the long-video
window plan, the ``sportanim feedback`` command and one small end-to-end run."""

from __future__ import annotations

from pathlib import Path

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


# --------------------------------------------------------------------------- retarget


def _athlete_from(joints24, size=(256, 256)):
    """An Athlete built from known joints (no photo), for retargeting alone."""
    from sportanim.motion.retarget import Athlete, symmetric_bones
    from sportanim.skeleton import nlf_intrinsics

    return Athlete(joints24, symmetric_bones(joints24), 1.7, nlf_intrinsics(*size), size,
                   np.array([0.0, 0.0, 1.0, 1.0]), 1)


def test_retarget_keeps_joint_angles_and_takes_the_new_bones(jump):
    from sportanim.motion.retarget import retarget
    from sportanim.skeleton import BONES, project

    joints, _ = jump
    other = make_clip(0, 5, "walk", size=(256, 256), frames=2).joints[0].astype(np.float64)
    athlete = _athlete_from(other)
    out = retarget(joints, athlete).joints.astype(np.float64)
    np.testing.assert_allclose(bone_lengths(out), np.broadcast_to(athlete.bones, (len(out), 23)), rtol=1e-4)
    assert not np.allclose(athlete.bones, bone_lengths(joints).mean(0), rtol=0.02)  # really other bones
    for parent, child in BONES:  # every bone points where the source's does
        a = out[:, child] - out[:, parent]
        b = joints[:, child] - joints[:, parent]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > 1 - 1e-5
    # placed where the athlete stands: pelvis on their pixel, as tall in the picture
    K = athlete.intrinsics
    np.testing.assert_allclose(project(out[0, 0], K), project(other[0], K), atol=0.5)
    height = np.ptp(project(out[0], K)[:, 1])
    assert height == pytest.approx(np.ptp(project(other, K)[:, 1]), rel=0.02)


def test_follow_camera_keeps_a_travelling_skater_in_view_and_the_flight_height(jump):
    from sportanim.motion.edits import up_direction
    from sportanim.motion.retarget import retarget
    from sportanim.eval.motion_fidelity import inside_frame
    from sportanim.skeleton import project

    athlete = _athlete_from(make_clip(0, 5, "walk", size=(256, 256), frames=2).joints[0].astype(np.float64))
    walk = make_clip(5, 2, "walk", size=(64, 64), frames=49)  # walks toward the camera, out of view
    up = up_direction(walk.joints, walk.camera.extrinsics_mm())[0]
    seen = {mode: inside_frame(project(retarget(walk.joints, athlete, mode, up).joints, athlete.intrinsics),
                               (256, 256)).mean() for mode in ("fixed", "follow")}
    assert seen["fixed"] < 0.8 and seen["follow"] == 1.0
    # a jump: the pelvis's rise above its take-off (along up) is the same with the camera following
    joints, extrinsics = jump
    up = up_direction(joints, extrinsics)[0]
    rise = {mode: ((retarget(joints, athlete, mode, up).joints[:, 0] - retarget(joints, athlete, mode, up).joints[0, 0])
                   * up).sum(-1) for mode in ("fixed", "follow")}
    np.testing.assert_allclose(rise["follow"], rise["fixed"], atol=1.0)
    assert rise["fixed"].max() > 100  # really a flight (mm, along the per-frame up of a moving camera)
    with pytest.raises(ValueError, match="camera"):
        retarget(joints, athlete, "drone")


@pytest.fixture(scope="module")
def photo():
    """A synthetic skater rendered at 256 px (MediaPipe finds these; see the report)."""
    return make_clip(0, 2, "walk", size=(256, 256), frames=2).frames[0]


def test_find_athlete_in_a_synthetic_photo(photo):
    from sportanim.motion.retarget import find_athlete

    athlete = find_athlete(photo)
    assert athlete.people == 1 and athlete.height_m == pytest.approx(1.7)
    assert athlete.bones.shape == (23,) and (athlete.bones > 0).all()
    x0, y0, x1, y1 = athlete.box
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256 and y1 - y0 > 60


def test_find_athlete_picks_the_largest_of_two(photo):
    from PIL import Image

    from sportanim.motion.retarget import find_athlete

    small = np.asarray(Image.fromarray(photo).resize((192, 192)))  # MediaPipe misses it at half size
    pair = np.concatenate([np.full_like(photo, photo[0, 0]), photo], axis=1)  # 512 x 256
    pair[64:, 32:224] = small  # a smaller skater on the left, the full-size one on the right
    athlete = find_athlete(pair)
    assert athlete.people == 2 and "2 people found; the largest" in athlete.notes[0]
    assert athlete.box[0] > 256


REAL_PHOTOS = Path("/work/shared/data/mtvcrafter_samples/ref_images")


@pytest.mark.skipif(not REAL_PHOTOS.is_dir(), reason="needs /work/shared/data (MTVCrafter's sample images)")
@pytest.mark.parametrize("name", ["human.png", "woman.png"])
def test_find_athlete_in_a_real_photo(name):
    from sportanim.generation import read_image
    from sportanim.motion.retarget import find_athlete

    image = read_image(REAL_PHOTOS / name)
    athlete = find_athlete(image, name)
    x0, y0, x1, y1 = athlete.box
    assert y1 - y0 > 0.3 * image.shape[0]  # the person fills much of these portraits
    assert athlete.bones.shape == (23,) and (athlete.bones > 0).all()


@pytest.mark.parametrize("image, message", [
    (np.zeros((1, 1, 3), np.uint8), "too small"),
    (np.full((256, 256, 3), 90, np.uint8), "no person found"),
])
def test_find_athlete_refuses(image, message):
    from sportanim.motion.retarget import find_athlete

    with pytest.raises(ValueError, match=message):
        find_athlete(image)


# --------------------------------------------------------------------------- windows


def test_window_plan_covers_long_motions_on_latent_frames():
    from sportanim.studio.windows import pad_motion, plan_windows

    one = plan_windows(40, 49)
    assert one.count == 1 and one.padded == 49 and one.overlap == 0
    for total in (97, 145, 50):
        plan = plan_windows(total, 49, overlap=12)
        assert plan.step % 4 == 0 and plan.overlap >= 12
        assert plan.padded >= total and plan.padded - plan.step < total  # no window wasted
        ends = [s + 49 for s in plan.starts]
        assert all(b < a for a, b in zip(ends, plan.starts[1:]))  # consecutive windows overlap
    assert plan_windows(97, 49, 12).starts == [0, 36, 72]
    held = pad_motion(np.arange(3 * 72, dtype=float).reshape(3, 24, 3), 5)
    np.testing.assert_array_equal(held[3:], np.broadcast_to(held[2], (2, 24, 3)))
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(97, 49, overlap=48)


def test_latent_join_lines_windows_up():
    import torch

    from sportanim.studio.windows import join_frames, join_latents, plan_windows, seam_score

    plan = plan_windows(97, 49, 12)  # 3 windows of 13 latent frames, 9 apart
    # window k's latent i holds the long video's latent 9 k + i (i >= 1): a ramp joins exactly
    windows = [torch.arange(13, dtype=torch.float32).view(1, 13, 1, 1, 1) + 9 * k for k in range(3)]
    joined = join_latents(windows, plan)
    assert joined.shape[1] == 1 + (plan.padded - 1) // 4
    np.testing.assert_allclose(joined.flatten().numpy(), np.arange(joined.shape[1]))
    # pixel joins of a steady video are seamless; a jump at each window start is a seam
    steady = [np.full((49, 4, 4, 3), 100, np.uint8) + (np.arange(49) + s)[:, None, None, None].astype(np.uint8)
              for s in plan.starts]
    video = join_frames(steady, plan, "frames")
    np.testing.assert_array_equal(video[:, 0, 0, 0], 100 + np.arange(plan.padded))
    jumpy = [w + np.uint8(40 * k) for k, w in enumerate(steady)]
    assert seam_score(join_frames(jumpy, plan, "cut"), plan)["peak_ratio"] > 10
    assert seam_score(video, plan)["seam_ratio"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def studio(tmp_path_factory, jump, photo):
    """Tiny random weights of a 17-frame window at 32 px, a photo, and motion files."""
    from PIL import Image

    from sportanim.data.motion import motion_stats
    from sportanim.models.pipeline import build_pipeline, save_pipeline

    root = tmp_path_factory.mktemp("studio")
    joints, ext = jump
    mean, std = motion_stats(joints)
    save_pipeline(build_pipeline("tiny", mean, std, num_frames=17, height=32, width=32), root / "weights", "tiny")
    np.savez(root / "jump.npz", joints=joints[:17].astype(np.float32), extrinsics=ext[:17].astype(np.float32))
    Image.fromarray(photo).save(root / "athlete.png")
    Image.fromarray(np.full((256, 256, 3), 90, np.uint8)).save(root / "empty.png")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(root / "dot.png")
    (root / "notes.png").write_text("not an image")
    np.savez(root / "wrong.npz", joints=np.zeros((17, 17, 3), np.float32))
    # one pose gliding 3 m across the picture 1.2 m from the camera: no view from 90 degrees
    up = ext[0, :, 2]
    side = np.cross(up, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    near = (joints[0] - joints[0, 0])[None] + np.linspace(-1500, 1500, 20)[:, None, None] * side + [0, 0, 1200.0]
    np.savez(root / "near.npz", joints=near.astype(np.float32), extrinsics=np.repeat(ext[:1], 20, 0))
    return root


def _feedback(root, *args):
    from typer.testing import CliRunner

    from sportanim.cli import app

    base = {"--athlete": str(root / "athlete.png"), "--motion": str(root / "jump.npz"),
            "--weights": str(root / "weights"), "--out": str(root / "out" / "fb.mp4")}
    flags = list(args)
    for flag, value in base.items():
        if flag not in flags:
            flags += [flag, value]
    return CliRunner().invoke(app, ["feedback", "--steps", "1", "--quiet", *flags])


@pytest.mark.parametrize("args, words", [
    (("--athlete", "{root}/empty.png"), ("no person found",)),
    (("--athlete", "{root}/dot.png"), ("1x1", "too small")),
    (("--athlete", "{root}/notes.png"), ("not a readable image",)),
    (("--athlete", "{root}/missing.png"), ("not found",)),
    (("--motion", "{root}/wrong.npz"), ("joints must be", "(17, 17, 3)")),
    (("--slow", "0"), ("--slow 0",)),
    (("--frames", "5"), ("--frames 5", "17")),
    (("--motion", "{root}/near.npz", "--view", "90"), ("--view 90", "camera")),
    (("--out", "{root}/out/fb.gif"), ("--out", ".mp4")),
    (("--camera", "drone"), ("--camera drone", "follow")),
])
def test_feedback_refuses_bad_input_in_one_line(studio, args, words):
    result = _feedback(studio, *[a.format(root=studio) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    for word in words:
        assert word in result.output, (word, result.output)
    assert not (studio / "out").exists() or not any((studio / "out").iterdir())  # nothing half-written


def test_feedback_end_to_end(studio):
    import json

    from sportanim.io.video import read_video

    result = _feedback(studio, "--slow", "1.5", "--mirror", "--view", "20", "--seed", "3")
    assert result.exit_code == 0, result.output
    out = studio / "out"
    video, _ = read_video(out / "fb.mp4")
    panel, _ = read_video(out / "fb.panel.mp4")
    report = json.loads((out / "fb.json").read_text())
    assert video.shape == (25, 32, 32, 3) and panel.shape == (25, 32, 96, 3)  # 17 frames slowed 1.5x
    assert [e["edit"] for e in report["edits"]] == ["view", "mirror", "slow"]
    assert report["edits"][2]["real_time_factor"] == pytest.approx(2 / 3)
    # the default 12-frame overlap on a 17-frame window steps by one latent frame (4)
    assert report["windows"]["windows"] == [[0, 16], [4, 20], [8, 24]] and report["sampling"]["seeds"] == [3, 4, 5]
    fidelity = report["motion_fidelity"]  # random tiny weights: a score, not a good one
    assert 0.0 <= fidelity["pck"] <= 1.0 and fidelity["pck_threshold"] > 0 and fidelity["detector"]
    assert report["seam"]["seam_ratio"] > 0 and report["athlete"]["people_found"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["fb.json", "fb.mp4", "fb.panel.mp4"]  # no temporaries


def _feedback_jump(root, code, *extra, folder="jumpout"):
    from typer.testing import CliRunner

    from sportanim.cli import app

    return CliRunner().invoke(app, ["feedback", "--athlete", str(root / "athlete.png"), "--jump", code, "--weights",
                                    str(root / "weights"), "--out", str(root / folder / "fb.mp4"), "--steps", "1",
                                    "--quiet", *extra])


def test_feedback_of_a_chosen_element(studio):
    import json

    from sportanim.io.video import read_video

    result = _feedback_jump(studio, "2A")
    assert result.exit_code == 0, result.output
    report = json.loads((studio / "jumpout" / "fb.json").read_text())
    assert report["inputs"]["motion"] == "jump 2A" and any("2A sampled" in n for n in report["notes"])
    assert len(read_video(studio / "jumpout" / "fb.mp4")[0]) == 49  # one sampled jump, in overlapping windows


@pytest.mark.parametrize("code, extra, words", [("3X", (), ("3X",)), ("5A", (), ("5A",)),
                                                 ("2A", ("--motion", "x.npz"), ("one motion source",))])
def test_feedback_refuses_a_bad_element_in_one_line(studio, code, extra, words):
    result = _feedback_jump(studio, code, *extra, folder="refused")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert all(word in result.output for word in words), result.output
    assert not (studio / "refused").exists()
