"""FS-Jump3D import: the Human3.6M -> SMPL mapping on synthetic bodies, levelling, resampling,
bad inputs, and (when ../shared/data is there) the real trials."""

from pathlib import Path

import numpy as np
import pytest

from sportanim import fsjd, h36m
from sportanim.data import fsjump3d as fsj
from sportanim.h36m import H36M, h36m17_to_smpl24, smpl24_to_h36m17
from sportanim.skeleton import JOINT_INDEX as S
from sportanim.synth.daily import DAILY_MOTIONS
from sportanim.synth.jumps import glide_track, jump_track, plan_jump
from sportanim.synth.kinematics import Body
from sportanim.synth.timeline import concat, perform, smooth_params

FS_JUMP3D = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fs_jump3d"


def synthetic_jump(seed: int = 0, name: str = "lutz", fps: float = 60.0, glide_s: float = 0.0):
    """World joints (T, 24, 3) metres, z up, of one synthetic jump (between curving glides
    of ``glide_s`` seconds, like a real trial's approach and exit), and its plan's event."""
    rng = np.random.default_rng([seed, 5])
    plan = plan_jump(rng, name, fps)
    track = jump_track(plan, fps)
    if glide_s:
        yaw = track.yaw_offset
        before = glide_track(rng, fps, glide_s, plan.speed, yaw[0], yaw[0])
        before.turn_rate[:] = 0.5
        after = glide_track(rng, fps, glide_s, plan.speed, yaw[-1], yaw[-1])
        after.turn_rate[:] = -0.4
        track = concat([before, track, after])
    perf = perform(smooth_params(track, 1.2 * fps / 30.0), Body.sample(rng))
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


# ------------------------------------------------------------------------------ motion


def tilt(degrees: float, axis=(0.6, 0.8, 0.0)) -> np.ndarray:
    """Rotation by ``degrees`` about a horizontal ``axis`` (Rodrigues), ``(3, 3)``."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    a = np.radians(degrees)
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def as_fsjump3d(world24: np.ndarray, degrees: float = 1.5, lift: float = 0.4) -> np.ndarray:
    """Synthetic SMPL world joints (m, ice at z = 0) as an FS-Jump3D trial: Human3.6M
    landmarks on ice tilted by ``degrees`` and raised by ``lift`` metres, millimetres."""
    return 1000.0 * (smpl24_to_h36m17(world24) @ tilt(degrees).T + [5.0, -2.0, lift])


def test_level_recovers_a_tilted_jump():
    world, event = synthetic_jump(0, "lutz", 60.0, glide_s=2.0)
    trial = as_fsjump3d(world, degrees=1.5) / 1000.0
    levelled, tilt_deg = fsj.level(trial, H36M["left_ankle"], H36M["right_ankle"])
    assert tilt_deg == pytest.approx(1.5, abs=0.05)
    # Heights come back: no drift along the 15 m path, and the ice at z = 0 again up to the
    # centimetre by which the synthetic skates' ankles vary on the ice (toe picks, edges).
    for name in ("left_ankle", "right_ankle", "pelvis", "head"):
        change = levelled[:, H36M[name], 2] - smpl24_to_h36m17(world)[:, H36M[name], 2]
        assert np.ptp(change) < 0.006 and abs(change.mean()) < 0.02, name
    # Without levelling the tilt alone moves the ankles by centimetres over the path.
    raw_error = np.abs(trial[:, H36M["left_ankle"], 2] - 0.4 - world[:, S["left_ankle"], 2])
    assert raw_error.max() > 0.03


def test_measure_flights_on_a_synthetic_jump():
    world, event = synthetic_jump(2, "salchow", 60.0, glide_s=2.0)
    levelled, _ = fsj.level(smpl24_to_h36m17(world) @ tilt(1.0).T, H36M["left_ankle"], H36M["right_ankle"])
    flights = fsj.measure_flights(h36m17_to_smpl24(levelled), 60.0)
    assert len(flights) == 1
    f = flights[0]
    # The plan flies from the last frame on the ice (takeoff_frame) to the first back on it.
    assert abs(f.start - (event["takeoff_frame"] + 1)) <= 3 and abs(f.end - (event["landing_frame"] - 1)) <= 3
    assert f.air_revolutions == pytest.approx(event["revolutions"], abs=0.3)
    assert fsj.nominal_revolutions("Salchow", f.air_revolutions) == event["revolutions"]


def test_resample_interpolates_by_time():
    fps = 60.0
    t = np.arange(120) / fps
    x = np.stack([np.sin(2 * np.pi * 1.3 * t), 0.5 * t + 0.2], axis=-1)  # (T, 2)
    times = 0.1 + np.arange(40) / 25.0  # 25 fps: almost no instant falls on a captured frame
    out = fsj.resample(x, fps, times)
    assert out.shape == (40, 2)
    assert np.abs(out[:, 0] - np.sin(2 * np.pi * 1.3 * times)).max() < 2e-3  # cubic accuracy
    assert np.allclose(out[:, 1], 0.5 * times + 0.2, atol=1e-12)  # straight lines stay straight
    nearest = x[np.round(times * fps).astype(int), 0]  # frame dropping would be this far off
    assert np.abs(nearest - np.sin(2 * np.pi * 1.3 * times)).max() > 0.03
    on_grid = fsj.resample(x, fps, np.arange(0, 118, 2) / fps)  # 60 -> 30 fps
    assert np.array_equal(on_grid, x[0:118:2])
    with pytest.raises(ValueError, match="outside"):
        fsj.resample(x, fps, np.array([0.0, 2.5]))


# ------------------------------------------------------------------------------ import


def write_root(root: Path, trials: dict[str, np.ndarray]) -> Path:
    """An FS-Jump3D folder with ``trials`` (``"Skater_A/Lutz"`` -> array), as the data ships."""
    for name, joints in trials.items():
        folder = root / "npy" / name
        folder.mkdir(parents=True)
        if joints is not None:
            np.save(folder / f"{folder.name}_1.npy", joints)
    return root


def clip_flight(root: Path, record) -> tuple:
    """The clip's flight measured again on its stored joints (camera -> world) at its fps."""
    clip = fsjd.load_clip(root, record)
    world = fsj.world_from_camera(clip["joints"], clip["extrinsics"])
    flights = fsj.measure_flights(world, record.fps)
    return clip, world, flights


def test_import_a_synthetic_trial(tmp_path):
    world, event = synthetic_jump(5, "lutz", 60.0, glide_s=2.0)
    root = write_root(tmp_path / "fs", {"Skater_A/Lutz": as_fsjump3d(world)})
    records = fsj.import_fsjump3d(root, tmp_path / "out", frames=41, size=16, show_progress=False)
    assert [r.id for r in records] == ["fsj_A_lutz"]
    record = fsjd.read_manifest(tmp_path / "out")[0]
    labels = record.labels
    assert (labels["domain"], labels["motion"], labels["athlete"]) == ("jump", "lutz", "Skater_A")
    assert labels["revolutions"] == event["revolutions"]
    assert record.frames == 41 and record.fps == 30.0 and record.split == "eval"
    # Take-off and landing at the plan's instants (the plan counts 60 Hz frames from the start).
    t0 = record.source["window_start_s"]
    assert abs(labels["takeoff_frame"] - (event["takeoff_frame"] / 60.0 - t0) * 30.0) <= 1.01
    assert abs(labels["landing_frame"] - (event["landing_frame"] / 60.0 - t0) * 30.0) <= 1.01
    clip, clip_world, flights = clip_flight(tmp_path / "out", record)
    assert clip["frames"].shape == (41, 16, 16, 3) and clip["intrinsics"].shape == (3, 3)
    assert len(flights) == 1
    start, end = flights[0].start, flights[0].end
    assert abs(start - 1 - labels["takeoff_frame"]) <= 1 and abs(end + 1 - labels["landing_frame"]) <= 1
    assert abs(flights[0].air_revolutions - labels["air_revolutions"]) < 0.1
    # The stored world is the synthetic one again: level ice, same heights (joint centres).
    shared = [S[name] for name in h36m.SHARED_JOINTS]
    body = world[np.round((t0 + np.arange(41) / 30.0) * 60.0).astype(int)][:, shared]
    assert np.abs(np.ptp(clip_world[:, shared, 2] - body[..., 2], axis=0)).max() < 0.006
    assert fsjd.compute_stats(tmp_path / "out", [record])["counts"]["motion"] == {"lutz": 1}


def bad_trials():
    world, _ = synthetic_jump(6, "flip", 60.0, glide_s=1.0)
    good = as_fsjump3d(world)
    nan = good.copy()
    nan[40:43, 5] = np.nan
    glide = as_fsjump3d(world[:50])  # 0.8 s of approach only
    glide = np.concatenate([glide, glide[::-1], glide, glide[::-1]])  # 3.3 s, never airborne
    return {
        "joints": (good[:, :16], "Skater_A/Flip/Flip_1.npy", "17, 3"),
        "nan": (nan, "Skater_A/Flip/Flip_1.npy", "NaN"),
        "short": (good[:40], "Skater_A/Flip/Flip_1.npy", "only 40 frames"),
        "no_flight": (glide, "Skater_A/Flip/Flip_1.npy", "no flight"),
        "missing": (None, "Skater_A/Flip/Flip_1.npy", "missing"),
    }


@pytest.mark.parametrize("case", ["joints", "nan", "short", "no_flight", "missing"])
def test_bad_trial_names_its_file_and_writes_nothing(tmp_path, case):
    world, _ = synthetic_jump(7, "loop", 60.0, glide_s=1.0)
    joints, name, message = bad_trials()[case]
    root = write_root(tmp_path / "fs", {"Skater_B/Loop": as_fsjump3d(world), "Skater_A/Flip": joints})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message) as error:
        fsj.import_fsjump3d(root, out, frames=41, size=16, show_progress=False)
    assert name in str(error.value) and "\n" not in str(error.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "fs"]


def test_window_too_long_and_odd_folders(tmp_path):
    world, _ = synthetic_jump(8, "axel", 60.0, glide_s=1.0)
    root = write_root(tmp_path / "fs", {"Skater_A/Axel": as_fsjump3d(world)})
    with pytest.raises(ValueError, match="Axel_1.npy: .* too short for a 150-frame window"):
        fsj.import_fsjump3d(root, tmp_path / "out", frames=150, size=16, show_progress=False)
    with pytest.raises(ValueError, match="Axel_1.npy: a 10-frame window .* cannot hold the flight"):
        fsj.import_fsjump3d(root, tmp_path / "out", frames=10, size=16, show_progress=False)
    (root / "npy" / "Skater_A" / "Backflip").mkdir()
    with pytest.raises(ValueError, match="unknown jump folder 'Backflip'"):
        fsj.import_fsjump3d(root, tmp_path / "out", size=16, show_progress=False)
    (tmp_path / "empty" / "npy").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no FS-Jump3D trials"):
        fsj.import_fsjump3d(tmp_path / "empty", tmp_path / "out", size=16, show_progress=False)
    with pytest.raises(ValueError, match="--frames"):
        fsj.import_fsjump3d(root, tmp_path / "out", frames=4, show_progress=False)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ real data


def raw_flights(path: Path) -> list[tuple[int, int]]:
    """Flights of a raw trial measured on its own tilted frame (no levelling, no mapping of
    the ankles): a plane fitted under the ankles, heights above it."""
    from sportanim import analysis as an

    j = np.load(path) / 1000.0
    left, right = j[:, H36M["left_ankle"]], j[:, H36M["right_ankle"]]
    normal, offset = an.fit_ground_plane(left, right)
    com = an.height_above_plane(an.center_of_mass(h36m17_to_smpl24(j)), normal, offset)
    return an.jump_flights(an.height_above_plane(left, normal, offset),
                           an.height_above_plane(right, normal, offset), com, 60.0)


def test_real_trials_import_with_their_flights(tmp_path):
    npy = FS_JUMP3D / "npy"
    if not npy.is_dir():
        pytest.skip(f"FS-Jump3D not found at {FS_JUMP3D}")
    for name in ("Skater_A/Axel", "Skater_B/Comb"):
        (tmp_path / "fs" / "npy" / name).mkdir(parents=True)
        source = npy / name / f"{name.split('/')[1]}_1.npy"
        (tmp_path / "fs" / "npy" / name / source.name).symlink_to(source)
    records = fsj.import_fsjump3d(tmp_path / "fs", tmp_path / "out", size=16, show_progress=False)
    assert [r.id for r in records] == ["fsj_A_axel", "fsj_B_comb1", "fsj_B_comb2"]
    raw = {"fsj_A_axel": raw_flights(npy / "Skater_A/Axel/Axel_1.npy")[0]}
    raw["fsj_B_comb1"], raw["fsj_B_comb2"] = raw_flights(npy / "Skater_B/Comb/Comb_1.npy")
    for record in records:
        start, end = raw[record.id]
        assert record.labels["air_time"] == pytest.approx((end - start + 1) / 60.0, abs=1e-4)
        _, _, flights = clip_flight(tmp_path / "out", record)
        assert len(flights) >= 1
        ours = min(flights, key=lambda f: abs(f.start - record.labels["takeoff_frame"]))
        assert abs(ours.air_time - record.labels["air_time"]) <= 1 / 30 + 1e-9  # 30 fps counts
        assert ours.air_revolutions == pytest.approx(record.labels["air_revolutions"], abs=0.12)
    axel = records[0].labels
    assert axel["motion"] == "axel" and axel["revolutions"] == 1.5 and 1.0 < axel["air_revolutions"] < 1.5
    assert records[1].labels["motion"] is None and records[1].labels["athlete"] == "Skater_B"


def test_cli_import_fsjump3d_writes_clips_or_one_line(tmp_path):
    from typer.testing import CliRunner

    from sportanim.cli import app

    world, _ = synthetic_jump(5, "lutz", 60.0, glide_s=2.0)
    root = write_root(tmp_path / "fs", {"Skater_A/Lutz": as_fsjump3d(world)})
    result = CliRunner().invoke(app, ["data", "import-fsjump3d", str(root), "--out", str(tmp_path / "out"),
                                      "--frames", "41", "--size", "16", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "wrote 1 clips" in result.output and len(fsjd.read_manifest(tmp_path / "out")) == 1
    bad = write_root(tmp_path / "bad", {"Skater_A/Flip": as_fsjump3d(world)[:40]})
    result = CliRunner().invoke(app, ["data", "import-fsjump3d", str(bad), "--out", str(tmp_path / "o2"), "--quiet"])
    assert result.exit_code == 2 and "Flip_1.npy" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o2").exists()
