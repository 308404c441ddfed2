"""sportanim.data: restricted pkl loading, MTVCrafter import, split, stats and the CLI."""

from __future__ import annotations

import itertools
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sportanim import fsjd
from sportanim.cli import app
from sportanim.data.split import choose_eval_groups, split_dataset
from sportanim.data.stats import dataset_stats, format_stats_table
from sportanim.data.upstream import (RestrictedUnpickler, UnsafePickleError, UpstreamFormatError,
                                     import_mtvcrafter, load_upstream_pkl, scaled_intrinsics)
from sportanim.skeleton import JOINT_INDEX, nlf_intrinsics, project

from media import write_lossless_video

LEGS = [JOINT_INDEX[f"{side}_{part}"] for side in ("left", "right")
        for part in ("knee", "ankle", "foot")]
TORSO_AND_HEAD = [JOINT_INDEX[name] for name in (
    "pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar",
    "left_shoulder", "right_shoulder")]


@pytest.fixture
def real_pkl(shared_data: Path) -> Path:
    path = shared_data / "mtvcrafter_samples" / "sampled_data.pkl"
    if not path.is_file():
        pytest.skip(f"MTVCrafter samples not found at {path}")
    return path


def in_frame(joints: np.ndarray, intrinsics: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bool (T, 24): the joint projects inside a width x height image."""
    uv = project(joints, intrinsics)
    return (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height)


# ------------------------------------------------------------------ restricted unpickler


class Evil:
    """Unpickling this runs a shell command (touches ``target``)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def test_real_pkl_loads_with_numpy_globals_only(real_pkl):
    samples = load_upstream_pkl(real_pkl)
    assert len(samples) == 3
    for sample in samples:
        assert sample["pose"].dtype == np.float32
        assert sample["pose"].shape == (sample["video_length"], 24, 3)
        assert sample["video_path"].startswith("./videos/")
    globals_ = set()

    class Recording(RestrictedUnpickler):
        def find_class(self, module, name):
            globals_.add(f"{module}.{name}")
            return super().find_class(module, name)

    with open(real_pkl, "rb") as file:
        Recording(file, real_pkl).load()
    assert globals_ == {"numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_data_and_arrays_load_at_every_protocol(tmp_path, protocol):
    data = [{"video_path": "a.mp4", "pose": np.ones((2, 24, 3), np.float32),
             "video_length": np.int64(2), "video_height": 4, "video_width": 6,
             "extra": {"set": {1, 2}, "bytes": b"ab", "complex": 1j, "f": 1.5, "none": None}}]
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_upstream_pkl(path)
    assert loaded[0]["video_length"] == 2 and loaded[0]["extra"] == data[0]["extra"]
    np.testing.assert_array_equal(loaded[0]["pose"], data[0]["pose"])


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_before_running(tmp_path, protocol):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    payload = [{"video_path": "a.mp4", "pose": np.zeros((1, 24, 3), np.float32),
                "video_length": 1, "video_height": 2, "video_width": 2, "x": Evil(target)}]
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(UnsafePickleError) as info:
        load_upstream_pkl(path)
    message = str(info.value)
    assert f"refusing to load GLOBAL {os.system.__module__}.system from {path}" in message
    assert "only numpy arrays and plain types are allowed" in message
    assert isinstance(info.value, pickle.UnpicklingError) and isinstance(info.value, ValueError)
    assert not target.exists()


def test_builtin_eval_and_getattr_are_refused(tmp_path):
    class Sneaky:
        def __reduce__(self):
            return eval, ("1 + 1",)

    path = tmp_path / "eval.pkl"
    path.write_bytes(pickle.dumps([Sneaky()]))
    with pytest.raises(UnsafePickleError, match="GLOBAL builtins.eval"):
        load_upstream_pkl(path)


def _sample(**changes) -> dict:
    sample = {"video_path": "./v.mp4", "pose": np.zeros((3, 24, 3), np.float32),
              "video_length": 3, "video_height": 8, "video_width": 8}
    return {**sample, **changes}


@pytest.mark.parametrize("data, match", [
    ({"a": 1}, "expected a non-empty list of sample dicts, got dict"),
    ([], "expected a non-empty list"),
    ([[1, 2]], "sample 0 is list, expected a dict"),
    ([{"pose": 1}], r"sample 0 lacks keys \['video_path', 'video_length'"),
    ([_sample(pose=np.zeros((3, 17, 3)))], r"pose must be a float array \(T, 24, 3\)"),
    ([_sample(pose=[[0.0]])], "got list"),
    ([_sample(), _sample(pose=np.full((3, 24, 3), np.nan, np.float32))], r"sample 1 .*NaN/inf in frames \[0, 1, 2\]"),
    ([_sample(video_width=0)], "video_width must be a positive int"),
    ([_sample(video_path=3)], "video_path must be a non-empty str"),
])
def test_malformed_pkl_gives_clear_errors(tmp_path, data, match):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(UpstreamFormatError, match=match):
        load_upstream_pkl(path)


def test_unreadable_or_missing_pkl(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps([_sample()])[:40])
    with pytest.raises(UpstreamFormatError, match="not a readable pickle"):
        load_upstream_pkl(path)
    with pytest.raises(FileNotFoundError, match="pkl not found"):
        load_upstream_pkl(tmp_path / "nope.pkl")


# --------------------------------------------------------------------- import (real data)


def test_import_real_samples_resized(real_pkl, tmp_path):
    samples = load_upstream_pkl(real_pkl)
    out = tmp_path / "fsjd"
    records = import_mtvcrafter(real_pkl, out, size=256, frames=17)
    assert [r.id for r in records] == ["dance_00001", "dance_17", "dance_16"]
    assert [r.id for r in fsjd.read_manifest(out)] == [r.id for r in records]
    assert fsjd.read_stats(out)["counts"]["total"] == 3
    for record, sample in zip(records, samples):
        clip = fsjd.load_clip(out, record)
        width, height = sample["video_width"], sample["video_height"]
        assert clip["frames"].shape == (17, 256, 256 if width == height else 144, 3)
        np.testing.assert_array_equal(clip["joints"], sample["pose"][:17])
        new = (round(width * 256 / 1080), 256) if width != height else (256, 256)
        expected = scaled_intrinsics(nlf_intrinsics(width, height), (width, height), new)
        np.testing.assert_allclose(clip["intrinsics"], expected, rtol=1e-6)
        assert record.labels == {"domain": "daily", "motion": None, "revolutions": None,
                                 "takeoff_frame": None, "landing_frame": None, "athlete": None}
        assert record.source["original_size"] == [width, height]
        assert record.source["video_path"] == sample["video_path"]
        assert record.quality["passed"] and record.quality["video_frames"] == len(sample["pose"])
        inside = in_frame(clip["joints"], clip["intrinsics"], *new)
        if width == height == 1024:
            assert inside.mean() > 0.99
        else:  # dance_00001: a waist-up close-up, NLF's legs lie below the frame
            assert not inside[:, LEGS].any()
            assert inside[:, TORSO_AND_HEAD].all()


def test_import_real_samples_full_length_counts_match(real_pkl, tmp_path):
    records = import_mtvcrafter(real_pkl, tmp_path / "fsjd", size=32)
    for record, sample in zip(records, load_upstream_pkl(real_pkl)):
        assert record.frames == len(sample["pose"]) == sample["video_length"]
        assert record.quality["video_frames"] == record.frames and record.quality["passed"]
        assert record.size[0] % 2 == 0 and record.size[1] % 2 == 0


# ---------------------------------------------------------------- import (synthetic pkl)


W, H, FPS = 135, 81, 25.0


def make_dot_sample(folder: Path, n_video: int = 12, n_pose: int = 12) -> dict:
    """A 135x81 video with a white 5x5 dot at the pelvis' projection (NLF camera)."""
    rng = np.random.default_rng(1)
    K = nlf_intrinsics(W, H)
    pixels = np.stack([rng.integers(20, W - 20, n_pose), rng.integers(20, H - 20, n_pose)], -1)
    depth = 3000.0
    pose = rng.normal(0, 100, (n_pose, 24, 3)) + [0, 0, depth]
    pose[:, 0, 0] = (pixels[:, 0] + 0.5 - K[0, 2]) * depth / K[0, 0]
    pose[:, 0, 1] = (pixels[:, 1] + 0.5 - K[1, 2]) * depth / K[1, 1]
    pose[:, 0, 2] = depth
    video = np.full((n_video, H, W, 3), 20, np.uint8)
    for t in range(n_video):
        u, v = pixels[min(t, n_pose - 1)]
        video[t, v - 2:v + 3, u - 2:u + 3] = 255
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    write_lossless_video(folder / "videos" / "dot clip.mkv", video, FPS)
    return {"video_path": "./videos/dot clip.mkv", "pose": pose.astype(np.float32),
            "video_length": n_video, "video_height": H, "video_width": W}


def write_pkl(folder: Path, samples: list[dict]) -> Path:
    path = folder / "sampled_data.pkl"
    path.write_bytes(pickle.dumps(samples, protocol=4))
    return path


def dot_centroid(frame: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (u, v) of the bright pixels, continuous pixel coords."""
    gray = frame.astype(np.float64).mean(axis=-1)
    weight = np.clip(gray - 60, 0, None)
    v, u = np.mgrid[:gray.shape[0], :gray.shape[1]] + 0.5
    return np.array([(weight * u).sum(), (weight * v).sum()]) / weight.sum()


@pytest.mark.parametrize("size", [None, 65])
def test_odd_sizes_are_padded_and_the_camera_still_fits(tmp_path, size):
    pkl = write_pkl(tmp_path, [make_dot_sample(tmp_path)])
    (record,) = import_mtvcrafter(pkl, tmp_path / "out", size=size)
    clip = fsjd.load_clip(tmp_path / "out", record)
    content = (W, H) if size is None else (65, 39)
    assert record.size == (content[0] + 1, content[1] + 1) and record.source["pad"] == [1, 1]
    assert record.id == "dot_clip" and record.fps == FPS and record.frames == 12
    np.testing.assert_array_equal(clip["frames"][:, :, -1], clip["frames"][:, :, -2])  # edge pad
    uv = project(clip["joints"][:, 0], clip["intrinsics"])
    found = np.stack([dot_centroid(frame) for frame in clip["frames"]])
    np.testing.assert_allclose(found, uv, atol=0.5)


def test_frame_count_mismatch_keeps_common_prefix_and_says_so(tmp_path):
    pkl = write_pkl(tmp_path, [make_dot_sample(tmp_path, n_video=12, n_pose=10)])
    (record,) = import_mtvcrafter(pkl, tmp_path / "out")
    assert record.frames == 10
    assert not record.quality["passed"]
    assert "pose has 10 frames, the video 12: kept the first 10" in record.quality["reasons"][0]
    with pytest.raises(ValueError, match="--frames 11 but the sample has only 10 aligned"):
        import_mtvcrafter(pkl, tmp_path / "out2", frames=11)
    assert not (tmp_path / "out2").exists()


def test_import_errors_leave_nothing_behind(tmp_path):
    sample = make_dot_sample(tmp_path)
    pkl = write_pkl(tmp_path, [sample, {**sample, "video_width": 134}])
    with pytest.raises(ValueError, match="the pkl says 134x81 but .* is 135x81"):
        import_mtvcrafter(pkl, tmp_path / "out")
    pkl = write_pkl(tmp_path, [sample, {**sample, "video_path": "./videos/missing.mp4"}])
    with pytest.raises(FileNotFoundError, match="video not found"):
        import_mtvcrafter(pkl, tmp_path / "out")
    with pytest.raises(ValueError, match=r"--size must be an integer in \[16, 4096\]"):
        import_mtvcrafter(pkl, tmp_path / "out", size=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sampled_data.pkl", "videos"]


def test_duplicate_video_stems_get_unique_ids(tmp_path):
    sample = make_dot_sample(tmp_path)
    records = import_mtvcrafter(write_pkl(tmp_path, [sample, sample]), tmp_path / "out", frames=2)
    assert [r.id for r in records] == ["dot_clip", "dot_clip-1"]


# ---------------------------------------------------------------------------- split


def make_dataset(root: Path, athletes: list[str | None], videos: list[str | None] | None = None,
                 seed: int = 0) -> Path:
    """Tiny FSJD folder: one 9-frame 16x16 clip per entry of ``athletes``."""
    rng = np.random.default_rng(seed)
    videos = videos or [None] * len(athletes)
    records = []
    for i, (athlete, video) in enumerate(zip(athletes, videos)):
        source = {"kind": "test"} if video is None else {"kind": "test", "video": video}
        record = fsjd.ClipRecord(id=f"c{i:03d}", fps=30.0, size=(16, 16), frames=9,
                                 split="train", labels={"domain": "jump", "athlete": athlete},
                                 source=source, quality={"passed": True, "reasons": []})
        frames = rng.integers(0, 255, (9, 16, 16, 3), dtype=np.uint8)
        joints = rng.normal(0, 300, (9, 24, 3)) + [0, 0, 3000]
        records.append(fsjd.write_clip(root, record, frames, joints, np.eye(3), crf=30))
    fsjd.write_manifest(root, records)
    fsjd.write_stats(root, fsjd.compute_stats(root, records))
    return root


ATHLETES = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 3 + ["e"] * 2 + ["f"] * 2 + ["g"]


def splits(root: Path) -> dict[str, str]:
    return {r.id: r.split for r in fsjd.read_manifest(root)}


def test_split_by_athlete_exact_whole_groups_deterministic(tmp_path):
    root = make_dataset(tmp_path / "d", ATHLETES)
    before = [r.to_dict() for r in fsjd.read_manifest(root)]
    for n_eval in (1, 4, 7, 12, 19):
        result = split_dataset(root, n_eval=n_eval, by="athlete", seed=3)
        assert result["eval"] == n_eval and result["exact"] and result["train"] == 20 - n_eval
        records = fsjd.read_manifest(root)
        assert sum(r.split == "eval" for r in records) == n_eval
        for athlete in set(ATHLETES):
            assert len({r.split for r in records if r.labels["athlete"] == athlete}) == 1
        assert [{**r.to_dict(), "split": None} for r in records] == [{**d, "split": None} for d in before]
        assert fsjd.read_stats(root)["counts"]["split"] == {"eval": n_eval, "train": 20 - n_eval}
    first = splits(root)
    split_dataset(root, n_eval=19, by="athlete", seed=3)
    assert splits(root) == first
    chosen = {tuple(sorted(split_dataset(root, n_eval=5, by="athlete", seed=s)["eval_ids"]))
              for s in range(8)}
    assert len(chosen) > 1  # the seed matters


def test_split_nearest_when_exact_is_impossible(tmp_path):
    root = make_dataset(tmp_path / "d", ["a"] * 3 + ["b"] * 3 + ["c"] * 3)
    result = split_dataset(root, n_eval=2, by="athlete")
    assert result["eval"] == 3 and not result["exact"] and result["eval_groups"] == 1
    result = split_dataset(root, n_eval=8, by="athlete")
    assert result["eval"] == 6  # 9 would leave no train clip


def test_split_by_video_and_clip(tmp_path):
    videos = ["v1", "v1", "v2", "v2", "v2", None, None, "v3"]
    root = make_dataset(tmp_path / "d", [None] * 8, videos)
    result = split_dataset(root, n_eval=3, by="video", seed=1)
    assert result["eval"] == 3 and result["groups"] == 5
    by_id = splits(root)
    for video in ("v1", "v2"):
        members = [f"c{i:03d}" for i, v in enumerate(videos) if v == video]
        assert len({by_id[m] for m in members}) == 1
    result = split_dataset(root, n_eval=5, by="clip", seed=1)
    assert result["eval"] == 5 and result["groups"] == 8


def test_split_errors(tmp_path):
    root = make_dataset(tmp_path / "d", ["a", "a", None, "b"])
    with pytest.raises(ValueError, match="has 4 clips, so the eval count must be in 0..3"):
        split_dataset(root, n_eval=4, by="clip")
    with pytest.raises(ValueError, match="--by must be one of athlete, video, clip, got 'team'"):
        split_dataset(root, n_eval=1, by="team")
    with pytest.raises(ValueError, match="clip c002 has no labels.athlete.*use --by video"):
        split_dataset(root, n_eval=1, by="athlete")
    one = make_dataset(tmp_path / "one", ["a", "a", "a"])
    with pytest.raises(ValueError, match="without splitting a group; use a finer --by"):
        split_dataset(one, n_eval=1, by="athlete")
    assert split_dataset(one, n_eval=0, by="athlete")["eval"] == 0


def test_choose_eval_groups_is_exact_whenever_possible():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(1, 7, rng.integers(2, 8)).tolist()
        n_eval = int(rng.integers(1, sum(sizes)))
        chosen = choose_eval_groups(sizes, n_eval, seed=int(rng.integers(100)))
        reachable = {sum(c) for k in range(1, len(sizes)) for c in itertools.combinations(sizes, k)}
        best = min(reachable, key=lambda s: (abs(s - n_eval), s))
        assert sum(sizes[i] for i in chosen) == best


# ---------------------------------------------------------------------------- stats


def test_dataset_stats_matches_numpy(tmp_path):
    root = make_dataset(tmp_path / "d", ATHLETES[:6])
    (root / fsjd.STATS_NAME).unlink()
    stats = dataset_stats(root)
    joints = np.concatenate([fsjd.load_clip(root, r)["joints"] for r in fsjd.read_manifest(root)])
    np.testing.assert_allclose(stats["mean"], joints.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], joints.astype(np.float64).std(axis=0), rtol=1e-9)
    assert stats["counts"]["frames"] == 54 and stats["counts"]["split"] == {"train": 6}
    assert json.loads((root / fsjd.STATS_NAME).read_text()) == stats
    table = format_stats_table(stats)
    assert table.row_count == 2 + 1 + 1 + 1 + 2


# ------------------------------------------------------------------------------ CLI


def test_cli_import_split_stats(tmp_path):
    runner = CliRunner()
    sample = make_dot_sample(tmp_path)
    pkl = write_pkl(tmp_path, [sample, sample, {**sample, "pose": sample["pose"][:8]}])
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "import-mtvcrafter", str(pkl), "--out", str(out),
                                      "--size", "32", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 clips" in result.output and "quality flags on dot_clip-2" in result.output
    result = runner.invoke(app, ["data", "split", str(out), "--eval", "1", "--by", "video"])
    assert result.exit_code == 2 and "cannot split 3 clips in 1 group(s)" in result.output
    result = runner.invoke(app, ["data", "split", str(out), "--eval", "1", "--by", "clip", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "1 eval, 2 train clips" in result.output
    result = runner.invoke(app, ["data", "stats", str(out)])
    assert result.exit_code == 0 and "clips" in result.output and "split eval" in result.output
    result = runner.invoke(app, ["data", "import-mtvcrafter", str(pkl), "--out", str(out)])
    assert result.exit_code == 2 and "exists and is not empty; pass --overwrite" in result.output


def test_cli_refuses_malicious_pkl(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([Evil(target)]))
    result = CliRunner().invoke(app, ["data", "import-mtvcrafter", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "refusing to load GLOBAL" in result.output and not target.exists()
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(app, ["data", "split", str(tmp_path / "nothing"), "--by", "clip"])
    assert result.exit_code == 2 and "no manifest.jsonl" in result.output
