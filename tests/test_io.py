"""sportanim.io: atomic files, stats.json, joints files and the first-N-frames reader.

(The encoder and the whole-file decoders are tested in test_video_io.py and test_data_build.py,
atomic folders through ``fsjd.output_dir`` in test_fsjd.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sportanim.io.files import FormatError, atomic_file, write_json, write_npz, write_text
from sportanim.io.joints import check_joints, read_arrays, read_joints, validate_arrays, write_joints
from sportanim.io.stats import has_joint_stats, read_joint_stats, read_stats, write_stats
from sportanim.io.video import VideoError, read_frames, write_video

from media import write_lossless_video

# ------------------------------------------------------------------------------ files


def test_atomic_file_replaces_only_on_success(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="died"):
        with atomic_file(path) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".a.txt.tmp-")
            tmp.write_text("half")
            raise RuntimeError("died")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with atomic_file(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_full_disk_names_the_file_being_written(tmp_path):
    import errno
    import os

    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(OSError, match=f"cannot write {path}: No space left on device") as error:
        with atomic_file(path) as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() reports it: no file
    assert error.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_two_writers_of_one_file_get_distinct_temporaries(tmp_path):
    with atomic_file(tmp_path / "a") as first, atomic_file(tmp_path / "a") as second:
        assert first != second and first.is_file() and second.is_file()


def test_write_text_makes_the_folder_unless_told_not_to(tmp_path):
    assert write_text(tmp_path / "x" / "y.txt", "é\n").read_text(encoding="utf-8") == "é\n"
    with pytest.raises(OSError, match=f"cannot write to {tmp_path / 'z' / 'y.txt'}"):
        write_text(tmp_path / "z" / "y.txt", "a", make_parents=False)


def test_write_json_is_indented_plain_and_finite_only(tmp_path):
    path = write_json(tmp_path / "r.json", {"a": np.float32(0.5), "b": np.arange(2), "c": "é"})
    assert path.read_text(encoding="utf-8") == '{\n  "a": 0.5,\n  "b": [\n    0,\n    1\n  ],\n  "c": "é"\n}\n'
    with pytest.raises(ValueError, match=f"{tmp_path / 'bad.json'}: can hold finite numbers only"):
        write_json(tmp_path / "bad.json", {"loss": float("nan")})
    assert not (tmp_path / "bad.json").exists()


# ------------------------------------------------------------------------------ stats


def _stats(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"mean": rng.normal(0, 100, (24, 3)), "std": rng.uniform(10, 50, (24, 3)), "source": "x"}


def test_stats_round_trip_through_file_or_folder(tmp_path):
    stats = _stats()
    write_stats(tmp_path, stats)
    text = (tmp_path / "stats.json").read_text()
    assert list(json.loads(text)) == ["mean", "source", "std"]  # sorted: same bytes every time
    mean, std = read_joint_stats(tmp_path)
    np.testing.assert_array_equal(mean, stats["mean"])
    np.testing.assert_array_equal(read_joint_stats(tmp_path / "stats.json")[1], std)
    assert read_stats(tmp_path)["source"] == "x" and has_joint_stats(tmp_path)


def test_upstream_mean_std_npy_read_like_stats_json(tmp_path):
    stats = _stats(1)
    np.save(tmp_path / "mean.npy", stats["mean"])
    assert not has_joint_stats(tmp_path)
    np.save(tmp_path / "std.npy", stats["std"])
    assert has_joint_stats(tmp_path)
    mean, std = read_joint_stats(tmp_path)
    np.testing.assert_array_equal(std, stats["std"])


@pytest.mark.parametrize("content, message", [
    ("{", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"mean": []}', "no 'std' entry"),
    (json.dumps({"mean": np.zeros((24, 3)).tolist(), "std": np.zeros((17, 3)).tolist()}),
     r"must be \(24, 3\), got \(24, 3\) and \(17, 3\)"),
    (json.dumps({"mean": np.zeros((24, 3)).tolist(), "std": np.zeros((24, 3)).tolist()}), "std > 0"),
    (json.dumps({"mean": "abc", "std": 1}), r"mean/std must be \(24, 3\)"),
])
def test_bad_stats_files_name_the_file(tmp_path, content, message):
    (tmp_path / "stats.json").write_text(content)
    with pytest.raises(FormatError, match=message) as error:
        read_joint_stats(tmp_path)
    assert str(tmp_path / "stats.json") in str(error.value) and "\n" not in str(error.value)


def test_missing_stats_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="stats file not found: .*sportanim data stats"):
        read_joint_stats(tmp_path)


def test_write_stats_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="stats.json: stats must hold finite numbers"):
        write_stats(tmp_path, {"mean": [float("inf")]})
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- joints


def test_joints_file_round_trip_keeps_extras_and_float32(tmp_path):
    joints = np.random.default_rng(2).normal(0, 300, (5, 24, 3))  # float64 in, float32 stored
    path = write_joints(tmp_path / "c.npz", joints, np.eye(3), {"found": np.ones(5, np.uint8)})
    arrays = read_arrays(path)
    assert sorted(arrays) == ["found", "intrinsics", "joints"] and arrays["joints"].dtype == np.float32
    np.testing.assert_array_equal(read_joints(path, frames=5), joints.astype(np.float32))


@pytest.mark.parametrize("joints, frames, message", [
    (np.zeros((5, 17, 3)), None, r"got float64 \(5, 17, 3\): 17 joints per frame, expected 24"),
    (np.zeros((5, 24, 2)), None, r"shape \(frames, 24, 3\), got float64 \(5, 24, 2\)$"),
    (np.zeros((5, 24, 3)), 6, r"shape \(6, 24, 3\), got float64 \(5, 24, 3\)$"),
    (np.full((1, 24, 3), "a"), None, r"got <U1 \(1, 24, 3\)$"),
])
def test_check_joints_names_shape_and_skeleton(joints, frames, message):
    with pytest.raises(ValueError, match=f"^clip z: joints must be a float array of .*{message}"):
        check_joints(joints, "clip z", frames)


def test_check_joints_reports_nan_and_float32_overflow():
    joints = np.zeros((4, 24, 3))
    joints[2, 3, 1] = 1e300  # finite as float64, inf as float32
    assert check_joints(joints, "w").dtype == np.float64  # read side: the dtype is kept
    with pytest.raises(ValueError, match=r"w: joints has NaN/inf values \(first index \[2\]\)"):
        check_joints(joints, "w", dtype=np.float32)
    with pytest.raises(ValueError, match="extra array name 'joints'"):
        validate_arrays(np.zeros((4, 24, 3)), np.eye(3), {"joints": np.zeros(4)}, "w")


def test_read_joints_errors_name_the_file_and_clip(tmp_path):
    path = tmp_path / "c.npz"
    with pytest.raises(FileNotFoundError, match=r"joints file not found: .*c.npz \(clip c\)"):
        read_joints(path, "clip c")
    path.write_bytes(b"not a zip")
    with pytest.raises(FormatError, match=r"c.npz: unreadable npz \(clip c\)"):
        read_joints(path, "clip c")
    write_npz(path, {"pose": np.zeros((3, 24, 3))})
    with pytest.raises(FormatError, match=r"missing arrays \['joints'\] \(clip c\) \(it holds \['pose'\]\)"):
        read_joints(path, "clip c")
    write_npz(path, {"joints": np.full((3, 24, 3), np.nan, np.float32)})
    with pytest.raises(FormatError, match=r"clip c \(.*c.npz\): joints has NaN/inf"):
        read_joints(path, "clip c")


# ------------------------------------------------------------------------ read_frames


def test_read_frames_counts_every_frame_even_past_the_limit(tmp_path):
    frames = np.random.default_rng(3).integers(0, 255, (9, 21, 33, 3), dtype=np.uint8)
    write_lossless_video(tmp_path / "a.mkv", frames, 25.0)
    got, fps, total = read_frames(tmp_path / "a.mkv", limit=4)
    assert fps == 25.0 and total == 9  # the header has no count: decoded on
    np.testing.assert_allclose(got, frames[:4], atol=2)  # FFV1 yuv444: only rounding, stored orientation
    small, _, total = read_frames(tmp_path / "a.mkv", size=(17, 11))
    assert small.shape == (9, 11, 17, 3) and total == 9


def test_read_frames_takes_the_header_count_when_it_has_one(tmp_path):
    write_video(tmp_path / "a.mp4", np.zeros((7, 16, 16, 3), np.uint8), 30)
    got, _, total = read_frames(tmp_path / "a.mp4", limit=2)
    assert len(got) == 2 and total == 7
    (tmp_path / "b.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(VideoError, match="b.mp4"):
        read_frames(tmp_path / "b.mp4")
