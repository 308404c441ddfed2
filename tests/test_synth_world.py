"""The rendered synthetic world, its FSJD output and the `sportanim synth` command."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sportanim import fsjd
from sportanim.analysis import count_revolutions, fit_gravity
from sportanim.cli import app
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.skeleton import bone_lengths, project
from sportanim.synth.programme import make_programme
from sportanim.synth.world import DOMAINS, make_clip

runner = CliRunner()
ALL_MOTIONS = DOMAINS["jump"] + DOMAINS["daily"]


def _to_world(joints_mm: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """Camera-space joints back to the world with the stored [R | t] (mm)."""
    R, t = extrinsics[:, :, :3].astype(np.float64), extrinsics[:, :, 3].astype(np.float64)
    return np.einsum("tji,tnj->tni", R, joints_mm - t[:, None])


def _on_body(mask: np.ndarray, joints: np.ndarray, K: np.ndarray) -> float:
    """Share of the projected joints inside the frame that land on ``mask``."""
    uv = np.floor(project(joints, K)).astype(int)
    visible = ((uv >= 0) & (uv < mask.shape[1])).all(-1)
    t = np.broadcast_to(np.arange(len(joints))[:, None], visible.shape)
    return float(mask[t[visible], uv[..., 1][visible], uv[..., 0][visible]].mean())


@pytest.mark.parametrize("motion", ALL_MOTIONS)
def test_projected_joints_land_on_the_rendered_body(motion):
    clip = make_clip(0, 3, motion, (64, 64), 49)
    uv = project(clip.joints, clip.camera.intrinsics)
    cols, rows = np.floor(uv[..., 0]).astype(int), np.floor(uv[..., 1]).astype(int)
    visible = (cols >= 0) & (cols < 64) & (rows >= 0) & (rows < 64)
    assert visible.mean() > 0.9, "the camera should keep the skater in the frame"
    assert _on_body(clip.mask, clip.joints, clip.camera.intrinsics) >= 0.95


def test_daily_clips_are_filmed_still_and_the_skater_crosses_the_frame():
    """Everyday video: a still camera, the skater gliding through it, every joint in the
    picture; so joints in another frame's place miss the body (what tiny_base.py measures)."""
    true, shuffled = [], []
    for i, motion in enumerate(DOMAINS["daily"]):
        clip = make_clip(2, i, motion, (64, 64), 49)
        ext = clip.camera.extrinsics_mm()
        np.testing.assert_array_equal(ext, np.broadcast_to(ext[0], ext.shape))
        uv = project(clip.joints, clip.camera.intrinsics)
        assert ((uv >= 0) & (uv < 64)).all(), motion
        order = np.random.default_rng(i).permutation(49)
        true.append(_on_body(clip.mask, clip.joints, clip.camera.intrinsics))
        shuffled.append(_on_body(clip.mask, clip.joints[order], clip.camera.intrinsics))
    assert min(true) >= 0.9
    assert np.mean(shuffled) < np.mean(true) - 0.25, (true, shuffled)
    walk = make_clip(2, 0, "walk", (64, 64), 49)
    pelvis = project(walk.joints[:, :1], walk.camera.intrinsics)[:, 0]
    assert np.linalg.norm(pelvis - pelvis[0], axis=-1).max() > 8  # pixels


def test_jump_clips_are_filmed_by_a_moving_broadcast_camera():
    clip = make_clip(2, 0, "lutz", (64, 64), 49)
    centres = clip.camera.centre
    assert np.linalg.norm(centres - centres[0], axis=-1).max() > 1.0  # metres: it rides along


def test_clip_joints_are_camera_space_mm_of_the_world_motion():
    clip = make_clip(1, 0, "flip", (64, 64), 49)
    back = _to_world(clip.joints.astype(np.float64), clip.camera.extrinsics_mm()) / 1000.0
    np.testing.assert_allclose(back, clip.world_joints, atol=2e-6)  # float32 rounding only
    depth = clip.joints[..., 2]
    assert 1500 < depth.mean() < 6000  # mm, a camera a few metres away as NLF would see it


def test_jump_labels_survive_the_camera(tmp_path):
    """Revolutions and gravity measured from what the files hold: camera-space float32 joints."""
    clip = make_clip(2, 5, "lutz", (64, 64), 49)
    lab = clip.labels
    f0, f1 = lab["takeoff_frame"], lab["landing_frame"]
    world = _to_world(clip.joints.astype(np.float64), clip.camera.extrinsics_mm())
    revs = count_revolutions(world[:, J["left_hip"]], world[:, J["right_hip"]], f0, f1)
    assert abs(revs - lab["revolutions"]) <= 0.1
    g = fit_gravity(world[f0:f1 + 1, J["pelvis"], 2] / 1000.0, 30.0)
    assert abs(g - 9.81) / 9.81 < 0.05
    drift = np.ptp(bone_lengths(clip.joints.astype(np.float64)), axis=0).max()
    assert drift < 0.01  # mm: float32 storage of coordinates a few metres from the camera


def _synth(tmp_path, name, *extra):
    out = tmp_path / name
    result = runner.invoke(app, ["synth", "--out", str(out), "--quiet", "--workers", "1", *extra])
    return out, result


def test_synth_writes_fsjd_and_is_byte_deterministic(tmp_path):
    args = ("--clips", "4", "--size", "32", "--frames", "12", "--seed", "3", "--eval-fraction", "0.25")
    a, ra = _synth(tmp_path, "a", *args)
    b, rb = _synth(tmp_path, "b", *args)
    assert ra.exit_code == 0 and rb.exit_code == 0, ra.output + rb.output
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 4 * 2 + 2
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    records = fsjd.read_manifest(a)
    assert [r.split for r in records] == ["train", "train", "train", "eval"]
    clip = fsjd.load_clip(a, records[0])
    assert clip["frames"].shape == (12, 32, 32, 3) and clip["joints"].shape == (12, 24, 3)
    assert clip["extrinsics"].shape == (12, 3, 4)
    stats = json.loads((a / "stats.json").read_text())
    assert np.array(stats["mean"]).shape == (24, 3)


def test_other_seed_gives_other_clips(tmp_path):
    one = make_clip(0, 0, "walk", (32, 32), 12)
    two = make_clip(1, 0, "walk", (32, 32), 12)
    assert not np.array_equal(one.frames, two.frames)


@pytest.mark.parametrize("args,message", [
    (("--motions", "quintuple_axel"), "unknown motion"),
    (("--frames", "8"), "--frames"),
    (("--size", "50"), "multiple of 16"),
    (("--domain", "daily", "--motions", "lutz"), "jump motion"),
])
def test_bad_arguments_fail_in_one_line_and_write_nothing(tmp_path, args, message):
    out, result = _synth(tmp_path, "out", "--clips", "1", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


def test_unwritable_output_fails_cleanly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out, result = _synth(tmp_path, "file/sub", "--clips", "1", "--frames", "9", "--size", "16")
    assert result.exit_code == 2 and "cannot write" in result.output, result.output
    assert blocker.read_text() == "x"


def test_programme_has_jump_windows_cuts_and_exact_joints():
    p = make_programme(0, 0, jumps=3, size=(32, 32), fps=30.0)
    lab = p["labels"]
    assert len(lab["jumps"]) == 3 and lab["cuts"], lab
    n = lab["frames"]
    assert p["frames"].shape == (n, 32, 32, 3) and p["joints"].shape == (n, 24, 3)
    for jump in lab["jumps"]:
        assert jump["start_frame"] < jump["takeoff_frame"] < jump["landing_frame"] < jump["end_frame"]
        assert not any(jump["start_frame"] <= c <= jump["end_frame"] for c in lab["cuts"])
        world = p["world_joints"]
        revs = count_revolutions(world[:, J["left_hip"]], world[:, J["right_hip"]],
                                 jump["takeoff_frame"], jump["landing_frame"])
        assert abs(revs - jump["revolutions"]) <= 0.1
    # The skater stays on the rink, well inside the boards.
    assert np.all(np.abs(p["world_joints"][:, 0, 0]) < 27) and np.all(np.abs(p["world_joints"][:, 0, 1]) < 12)


def test_programme_cli_writes_labels(tmp_path):
    out = tmp_path / "prog"
    result = runner.invoke(app, ["synth", "--programme", "--out", str(out), "--clips", "1", "--jumps", "2",
                                 "--size", "16", "--quiet"])
    assert result.exit_code == 0, result.output
    labels = json.loads((out / "labels.json").read_text())
    assert len(labels) == 1 and len(labels[0]["jumps"]) == 2
    assert (out / labels[0]["video"]).stat().st_size > 0 and (out / labels[0]["joints"]).exists()


def test_worker_count_does_not_change_the_bytes(tmp_path):
    args = ("--clips", "3", "--size", "16", "--frames", "9", "--seed", "5")
    one, r1 = _synth(tmp_path, "one", *args)
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "two"), "--quiet", "--workers", "2", *args])
    assert r1.exit_code == 0 and result.exit_code == 0, r1.output + result.output
    for path in one.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "two" / path.relative_to(one)).read_bytes(), path


def test_athlete_references_show_the_clips_athlete_elsewhere_and_leave_the_clip_as_it_was(tmp_path):
    plain, with_refs = tmp_path / "plain", tmp_path / "refs"
    for out, k in ((plain, 0), (with_refs, 2)):
        assert runner.invoke(app, ["synth", "--out", str(out), "--domain", "daily", "--clips", "3", "--size", "32",
                                   "--workers", "1", "--references", str(k), "--quiet"]).exit_code == 0
    for record in fsjd.read_manifest(with_refs):
        assert (plain / record.video).read_bytes() == (with_refs / record.video).read_bytes()
        before, clip = fsjd.load_clip(plain, record), fsjd.load_clip(with_refs, record)
        np.testing.assert_array_equal(before["joints"], clip["joints"])
        images, joints = clip["references"], clip["reference_joints"]
        assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8 and joints.shape == (2, 24, 3)
        # Another place: the pelvis is not where any frame of the clip had it.
        pelvis_gap = np.linalg.norm(joints[:, None, 0] - clip["joints"][None, :, 0], axis=-1).min(1)
        assert (pelvis_gap > 300).all(), pelvis_gap
        # The same athlete: bone lengths equal the clip's (one body), and the body is in the picture.
        np.testing.assert_allclose(bone_lengths(joints), bone_lengths(clip["joints"][:2]), atol=0.5)
        uv = project(joints, clip["intrinsics"])
        assert ((uv >= 0) & (uv < 32)).all()
        # The still camera: the scene behind is the clip's (away from either body, pixels agree).
        assert np.abs(images.astype(int) - clip["frames"][0].astype(int)).mean() < 40
    rerun = tmp_path / "again"
    runner.invoke(app, ["synth", "--out", str(rerun), "--domain", "daily", "--clips", "3", "--size", "32",
                        "--workers", "1", "--references", "2", "--quiet"])
    for record in fsjd.read_manifest(rerun):
        assert (rerun / record.joints).read_bytes() == (with_refs / record.joints).read_bytes()
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), "--references", "99"])
    assert result.exit_code == 2 and "--references" in result.output
