"""sportanim.fsjd: records, clip files, manifest, stats and output folders."""

from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pytest

from sportanim import fsjd
from sportanim.fsjd import (ClipRecord, FormatError, append_manifest, compute_stats,
                            load_clip, output_dir, read_manifest, read_stats, write_clip,
                            write_manifest, write_stats)
from sportanim.io.files import write_npz
from sportanim.io.video import VideoError, VideoNotFoundError

T, WIDTH, HEIGHT = 6, 64, 48


def make_record(clip_id: str = "c01", split: str = "train", **labels) -> ClipRecord:
    return ClipRecord(id=clip_id, fps=30.0, size=(WIDTH, HEIGHT), frames=T, split=split,
                      labels=labels, source={"kind": "synthetic", "seed": 3},
                      quality={"passed": True, "reasons": []})


def make_arrays(seed: int = 0, frames: int = T):
    """Smooth video uint8 (frames, H, W, 3), joints (frames, 24, 3) mm, intrinsics (3, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:HEIGHT, :WIDTH] / WIDTH
    video = np.stack([np.stack([100 + 80 * np.sin(2 * np.pi * (x + i / frames + seed)),
                                120 + 60 * y + 10 * i, 90 + 50 * x], axis=-1)
                      for i in range(frames)]).round().astype(np.uint8)
    joints = (rng.normal(0, 300, (frames, 24, 3)) + [0, 0, 4000]).astype(np.float32)
    intrinsics = np.array([[60, 0, 32], [0, 60, 24], [0, 0, 1]], np.float32)
    return video, joints, intrinsics


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---------------------------------------------------------------------------- records


def test_record_json_round_trip_and_defaults():
    record = make_record(domain="jump", motion="lutz", revolutions=3.0, takeoff_frame=2)
    assert record.video == "clips/c01.mp4" and record.joints == "clips/c01.npz"
    assert record.labels == {"domain": "jump", "motion": "lutz", "revolutions": 3.0,
                             "takeoff_frame": 2, "landing_frame": None, "athlete": None}
    line = record.to_json()
    assert "\n" not in line
    data = json.loads(line)
    assert list(data) == ["id", "video", "joints", "fps", "size", "frames", "split",
                          "labels", "source", "quality"]
    assert data["size"] == [WIDTH, HEIGHT]
    assert ClipRecord.from_json(line) == record
    assert ClipRecord.from_json(data) == record


@pytest.mark.parametrize("clip_id", ["../x", ".hidden", "a/b", "", "a b", "x" * 129, None,
                                     "é"])
def test_unsafe_ids_are_rejected(clip_id):
    with pytest.raises(ValueError, match="not a safe file name"):
        make_record(clip_id)


@pytest.mark.parametrize("change, message", [
    ({"split": "test"}, "split must be one of"),
    ({"fps": 0}, "fps must be a positive number"),
    ({"size": (64,)}, r"size must be \[width, height\]"),
    ({"size": (64.5, 48)}, r"size must be \[width, height\]"),
    ({"frames": 0}, "frames must be an integer >= 1"),
    ({"video": "/abs/c.mp4"}, "video path '/abs/c.mp4' must be relative"),
    ({"joints": "../c.npz"}, "joints path '../c.npz' must be relative"),
    ({"labels": {"domain": "swim"}}, "labels.domain"),
    ({"labels": {"landing_frame": T}}, "labels.landing_frame"),
    ({"source": None}, "source must be a JSON object"),
])
def test_bad_record_fields_name_the_clip(change, message):
    data = make_record().to_dict() | change
    with pytest.raises(ValueError, match=f"clip c01: {message}"):
        ClipRecord(**data)


# ------------------------------------------------------------------------------ clips


def test_write_and_load_clip_round_trip(tmp_path):
    video, joints, intrinsics = make_arrays()
    extrinsics = np.tile(np.eye(3, 4, dtype=np.float32), (T, 1, 1))
    record = write_clip(tmp_path, make_record(), video, joints, intrinsics,
                        extras={"extrinsics": extrinsics})
    assert files_under(tmp_path) == ["clips", "clips/c01.mp4", "clips/c01.npz"]
    write_manifest(tmp_path, [record])
    for key in (record, "c01"):
        clip = load_clip(tmp_path, key)
        assert sorted(clip) == ["extrinsics", "frames", "intrinsics", "joints"]
        assert clip["frames"].shape == (T, HEIGHT, WIDTH, 3)
        assert psnr(clip["frames"], video) > 35.0
        np.testing.assert_array_equal(clip["joints"], joints)
        assert clip["joints"].dtype == np.float32
        np.testing.assert_array_equal(clip["intrinsics"], intrinsics)
        np.testing.assert_array_equal(clip["extrinsics"], extrinsics)


def test_float64_joints_are_stored_as_float32(tmp_path):
    video, joints, intrinsics = make_arrays()
    write_clip(tmp_path, make_record(), video, joints.astype(np.float64),
               np.tile(intrinsics.astype(np.float64), (T, 1, 1)))
    with np.load(tmp_path / "clips/c01.npz") as npz:
        assert npz["joints"].dtype == np.float32 and npz["intrinsics"].shape == (T, 3, 3)


def test_clip_files_are_byte_identical(tmp_path, monkeypatch):
    video, joints, intrinsics = make_arrays()
    extras = {"extrinsics": np.zeros((T, 3, 4), np.float32), "a_flag": np.arange(3)}
    write_clip(tmp_path / "a", make_record(), video, joints, intrinsics, extras)
    # Days later: a zip writer that stamps the current time (ZipFile.writestr) would differ.
    later = time.time() + 3 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    write_clip(tmp_path / "b", make_record(), video, joints, intrinsics, dict(extras))
    for name in ("clips/c01.mp4", "clips/c01.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with zipfile.ZipFile(tmp_path / "a/clips/c01.npz") as archive:
        assert archive.namelist() == ["a_flag.npy", "extrinsics.npy", "intrinsics.npy",
                                      "joints.npy"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("what, message", [
    ("joints_shape", r"joints must be a float array of shape \(6, 24, 3\)"),
    ("joints_nan", r"joints has NaN/inf values \(first index \[2\]\)"),
    ("joints_inf", "joints has NaN/inf values"),
    ("joints_overflow", "joints has NaN/inf values"),
    ("intrinsics_shape", "intrinsics must be a float array of shape"),
    ("frames_count", r"frames have shape \(5, 48, 64, 3\), the record says \(6, 48, 64, 3\)"),
    ("frames_size", r"frames have shape \(6, 64, 48, 3\)"),
    ("extra_name", "extra array name 'joints'"),
    ("extra_savez_name", "extra array name 'allow_pickle'"),
    ("extra_object", "extra array 'meta' must be numeric"),
])
def test_write_clip_rejects_bad_inputs_before_writing(tmp_path, what, message):
    video, joints, intrinsics = make_arrays()
    extras = {}
    if what == "joints_shape":
        joints = joints[:, :23]
    elif what == "joints_nan":
        joints[2, 5, 1] = np.nan
    elif what == "joints_inf":
        joints[0, 0, 0] = np.inf
    elif what == "joints_overflow":
        joints = joints.astype(np.float64)
        joints[1, 1, 1] = 1e300  # finite in float64, inf in float32
    elif what == "intrinsics_shape":
        intrinsics = intrinsics[:2]
    elif what == "frames_count":
        video = video[:5]
    elif what == "frames_size":
        video = video.transpose(0, 2, 1, 3)
    elif what == "extra_name":
        extras = {"joints": joints}
    elif what == "extra_savez_name":
        extras = {"allow_pickle": joints}
    elif what == "extra_object":
        extras = {"meta": np.array([{"a": 1}], dtype=object)}
    with pytest.raises(ValueError, match=f"clip c01: {message}"):
        write_clip(tmp_path, make_record(), video, joints, intrinsics, extras)
    assert files_under(tmp_path) == []


def test_load_clip_reports_missing_and_corrupt_files(tmp_path):
    video, joints, intrinsics = make_arrays()
    record = write_clip(tmp_path, make_record(), video, joints, intrinsics)
    mp4 = tmp_path / record.video
    mp4.write_bytes(np.random.default_rng(1).integers(0, 256, 3000, np.uint8).tobytes())
    with pytest.raises(VideoError, match=str(mp4)):
        load_clip(tmp_path, record)
    mp4.unlink()
    with pytest.raises(VideoNotFoundError, match=f"video not found: {mp4}"):
        load_clip(tmp_path, record)
    (tmp_path / record.joints).write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="c01.npz: unreadable npz"):
        load_clip(tmp_path, record)
    (tmp_path / record.joints).unlink()
    with pytest.raises(FileNotFoundError, match="joints file not found"):
        load_clip(tmp_path, record)
    write_manifest(tmp_path, [record])
    with pytest.raises(KeyError, match="clip 'zz' is not in"):
        load_clip(tmp_path, "zz")


def test_load_clip_checks_files_against_the_record(tmp_path):
    video, joints, intrinsics = make_arrays()
    record = write_clip(tmp_path, make_record(), video, joints, intrinsics)
    longer = ClipRecord(**(record.to_dict() | {"frames": T + 1}))
    with pytest.raises(FormatError, match=r"clip c01: video clips/c01.mp4 decodes to \(6,"):
        load_clip(tmp_path, longer)
    write_npz(tmp_path / record.joints, {"joints": joints})
    with pytest.raises(FormatError, match=r"holds intrinsics nothing"):
        load_clip(tmp_path, record)


# --------------------------------------------------------------------------- manifest


def test_manifest_write_append_read(tmp_path):
    records = [make_record("a", domain="jump", motion="axel"), make_record("b", "eval")]
    write_manifest(tmp_path, records)
    assert read_manifest(tmp_path) == records
    extra = make_record("c", domain="daily")
    append_manifest(tmp_path, extra)
    assert read_manifest(tmp_path) == records + [extra]
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.jsonl"]


def test_append_manifest_creates_the_file_and_mends_a_missing_newline(tmp_path):
    append_manifest(tmp_path, make_record("a"))
    path = tmp_path / "manifest.jsonl"
    path.write_text(path.read_text().rstrip("\n"))
    append_manifest(tmp_path, make_record("b"))
    assert [r.id for r in read_manifest(tmp_path)] == ["a", "b"]


@pytest.mark.parametrize("bad_line, message", [
    ('{"id": "x", "fps": ', "manifest.jsonl:2: not valid JSON"),
    ("[1, 2]", "manifest.jsonl:2: expected a JSON object"),
    ('{"id": "x"}', r"manifest.jsonl:2: clip 'x': missing fields \['video'"),
    (None, "manifest.jsonl:2: clip x: split must be one of"),
    (None, r"manifest.jsonl:2: clip 'x': unknown fields \['extra'\]"),
    (None, "manifest.jsonl:2: clip id 'a' repeats line 1"),
])
def test_malformed_manifest_line_names_file_and_line(tmp_path, bad_line, message):
    if bad_line is None:
        data = make_record("x").to_dict()
        if "split" in message:
            data["split"] = "val"
        elif "unknown" in message:
            data["extra"] = 1
        else:
            data["id"] = "a"
        bad_line = json.dumps(data)
    good = make_record("a").to_json()
    (tmp_path / "manifest.jsonl").write_text(f"{good}\n{bad_line}\n\n{good.replace('a', 'b')}\n")
    with pytest.raises(FormatError, match=message):
        read_manifest(tmp_path)


def test_manifest_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.jsonl in"):
        read_manifest(tmp_path)
    with pytest.raises(ValueError, match=r"repeat clip ids \['a'\]"):
        write_manifest(tmp_path, [make_record("a"), make_record("a")])
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ stats


def test_stats_match_numpy_and_count_labels(tmp_path):
    specs = [("a", "train", {"domain": "jump", "motion": "lutz"}, 6),
             ("b", "train", {"domain": "jump", "motion": "axel"}, 4),
             ("c", "eval", {"domain": "daily"}, 8)]
    records, all_joints = [], []
    for seed, (clip_id, split, labels, frames) in enumerate(specs):
        video, joints, intrinsics = make_arrays(seed, frames)
        joints += np.float32(1000 * seed)  # different means: exercises merging clip moments
        record = ClipRecord(id=clip_id, fps=30, size=(WIDTH, HEIGHT), frames=frames,
                            split=split, labels=labels)
        records.append(write_clip(tmp_path, record, video, joints, intrinsics))
        all_joints.append(joints)
    stats = compute_stats(tmp_path, records)
    reference = np.concatenate(all_joints).astype(np.float64)
    np.testing.assert_allclose(stats["mean"], reference.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], reference.std(axis=0), rtol=1e-10)
    assert np.shape(stats["mean"]) == (24, 3) and isinstance(stats["std"][0][0], float)
    assert stats["counts"] == {"total": 3, "frames": 18, "split": {"eval": 1, "train": 2},
                               "domain": {"daily": 1, "jump": 2},
                               "motion": {"axel": 1, "lutz": 1, "null": 1}}
    write_stats(tmp_path, stats)
    first = (tmp_path / "stats.json").read_bytes()
    assert read_stats(tmp_path) == stats
    write_stats(tmp_path, json.loads(json.dumps(stats)))
    assert (tmp_path / "stats.json").read_bytes() == first
    assert list(json.loads(first)) == ["counts", "mean", "std"]


def test_stats_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one clip"):
        compute_stats(tmp_path, [])
    with pytest.raises(ValueError, match="stats.json: stats must hold finite numbers"):
        write_stats(tmp_path, {"mean": [float("nan")]})
    write_stats(tmp_path, {"mean": np.zeros((2, 3), np.float32), "n": np.int64(4)})
    assert read_stats(tmp_path) == {"mean": [[0.0] * 3] * 2, "n": 4}


# ------------------------------------------------------------------------ output dirs


def test_output_dir_moves_the_folder_into_place(tmp_path):
    target = tmp_path / "out" / "ds"
    with output_dir(target) as work:
        assert work.parent == target.parent and work.name.startswith(".ds.tmp-")
        assert not target.exists()
        (work / "manifest.jsonl").write_text("")
    assert files_under(tmp_path) == ["out", "out/ds", "out/ds/manifest.jsonl"]


def test_output_dir_failure_leaves_nothing(tmp_path):
    target = tmp_path / "ds"
    with pytest.raises(RuntimeError, match="boom"):
        with output_dir(target) as work:
            (work / "clips").mkdir()
            (work / "clips" / "half.mp4").write_bytes(b"x")
            raise RuntimeError("boom")
    assert files_under(tmp_path) == []


def test_output_dir_refuses_a_non_empty_target_before_any_work(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("keep")
    ran = False
    message = f"{target} exists and is not empty; pass --overwrite"
    with pytest.raises(FileExistsError, match=message):
        with output_dir(target):
            ran = True
    assert not ran
    assert files_under(tmp_path) == ["ds", "ds/old.txt"]


def test_output_dir_accepts_an_empty_target(tmp_path):
    (tmp_path / "ds").mkdir()
    with output_dir(tmp_path / "ds") as work:
        (work / "new.txt").write_text("new")
    assert files_under(tmp_path) == ["ds", "ds/new.txt"]


def test_output_dir_overwrite_replaces_only_on_success(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with output_dir(target, overwrite=True) as work:
            (work / "new.txt").write_text("new")
            raise RuntimeError("boom")
    assert files_under(tmp_path) == ["ds", "ds/old.txt"]
    with output_dir(target, overwrite=True) as work:
        (work / "new.txt").write_text("new")
    assert files_under(tmp_path) == ["ds", "ds/new.txt"]


def test_output_dir_reports_an_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=f"cannot write to {blocker / 'ds'}"):
        with output_dir(blocker / "ds"):
            pass
    with pytest.raises(FileExistsError, match="exists and is not a folder"):
        with output_dir(blocker, overwrite=True):
            pass


def test_full_dataset_build(tmp_path):
    target = tmp_path / "fsjd"
    with output_dir(target) as work:
        records = []
        for i in range(2):
            video, joints, intrinsics = make_arrays(i)
            record = write_clip(work, make_record(f"clip{i}", domain="jump"), video, joints,
                                intrinsics)
            append_manifest(work, record)
            records.append(record)
        write_stats(work, compute_stats(work, records))
    assert files_under(target) == ["clips", "clips/clip0.mp4", "clips/clip0.npz",
                                   "clips/clip1.mp4", "clips/clip1.npz", "manifest.jsonl",
                                   "stats.json"]
    assert read_manifest(target) == records
    assert load_clip(target, "clip1")["joints"].shape == (T, 24, 3)
