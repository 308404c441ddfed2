"""``sportanim data build``: clips from videos, bad inputs, resume, shards, crop camera."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from sportanim import fsjd
from sportanim.cli import app
from sportanim.data import build as build_module
from sportanim.data.annotations import read_annotations
from sportanim.data.build import BuildConfig, build_dataset, parse_shard, shard_inputs
from sportanim.data.clips import clip_quality, clip_span, follow_crop, sample_frames
from sportanim.data.jumps import JumpWindow, match_windows
from sportanim.data.pose import PoseResult
from sportanim.data.crop import crop_resize
from sportanim.io.video import read_all, write_video
from sportanim.skeleton import nlf_intrinsics, project
from sportanim.synth.programme import make_programme

from media import write_audio_only, write_encoded

FPS = 30.0


class TruthBackend:
    """A pose backend that knows the synthetic programme's exact joints: it recognises
    each decoded frame by its bytes (H.264 decoding is deterministic) and returns the
    true camera-space joints and the body mask's box; unknown frames have no person."""

    name = "truth"
    version = "truth-1"

    def __init__(self) -> None:
        self.table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.calls = 0

    def add(self, video: Path, joints: np.ndarray, mask: np.ndarray) -> None:
        for frame, j, m in zip(read_all(video).frames, joints, mask):
            ys, xs = np.nonzero(m)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            self.table[hashlib.sha1(frame.tobytes()).hexdigest()] = (j.astype(np.float32), box)

    def reset(self) -> None:
        pass

    def estimate(self, frames: np.ndarray) -> PoseResult:
        self.calls += 1
        n, h, w, _ = frames.shape
        K = nlf_intrinsics(w, h)
        joints = np.full((n, 24, 3), np.nan, np.float32)
        boxes = np.full((n, 4), np.nan, np.float32)
        for i, frame in enumerate(frames):
            hit = self.table.get(hashlib.sha1(frame.tobytes()).hexdigest())
            if hit is not None:
                joints[i], boxes[i] = hit
        found = np.isfinite(joints).all(axis=(1, 2))
        return PoseResult(joints, K, found.astype(np.float32), boxes,
                          project(joints, K).astype(np.float32))


@pytest.fixture(scope="module")
def programme(tmp_path_factory):
    """A 128 px synthetic programme with two jumps and a camera cut, written to mp4, and a
    backend that knows its true joints."""
    folder = tmp_path_factory.mktemp("programme")
    p = make_programme(0, 0, jumps=2, size=(128, 128), fps=FPS)
    path = folder / "prog.mp4"
    write_video(path, p["frames"], FPS)
    backend = TruthBackend()
    backend.add(path, p["joints"], p["mask"])
    return {"path": path, "p": p, "backend": backend}


def _config(out: Path, **kw) -> BuildConfig:
    return BuildConfig(out=out, size=64, frames=49, pose_max_side=None, show_progress=False, **kw)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except the build's private folder, by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and build_module.BUILD_DIR not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def built(programme, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "fsjd"
    report = build_dataset([programme["path"]], _config(out), backend=programme["backend"])
    return {"out": out, "report": report}


# ------------------------------------------------------------------------ end to end


def test_detected_clips_hold_the_labelled_jumps(built, programme):
    report, out = built["report"], built["out"]
    labels = programme["p"]["labels"]
    records = fsjd.read_manifest(out)
    assert len(records) == len(labels["jumps"]) == 2 and not report.skipped
    for record, jump in zip(records, labels["jumps"]):
        clip = fsjd.load_clip(out, record)
        source = clip["source_frame"]
        assert clip["frames"].shape == (49, 64, 64, 3) and clip["intrinsics"].shape == (49, 3, 3)
        assert source[record.labels["takeoff_frame"]] == pytest.approx(jump["takeoff_frame"], abs=1)
        assert source[record.labels["landing_frame"]] == pytest.approx(jump["landing_frame"], abs=1)
        # no clip crosses a cut
        assert not any(source[0] < c <= source[-1] for c in labels["cuts"])
        np.testing.assert_allclose(clip["joints"], programme["p"]["joints"][source], atol=1e-3)
        assert record.quality["passed"], record.quality
        assert record.source["backend_version"] == "truth-1"
        assert record.source["time_range_s"][0] == pytest.approx(source[0] / FPS, abs=1e-3)
        assert record.labels["domain"] == "jump"
    assert (out / fsjd.STATS_NAME).is_file()


def test_projected_joints_land_on_the_athlete_in_the_crop(built, programme):
    """The stored per-frame camera maps the (unchanged) camera-space joints onto the
    athlete's silhouette in the cropped, resized frames."""
    mask = programme["p"]["mask"]
    for record in fsjd.read_manifest(built["out"]):
        clip = fsjd.load_clip(built["out"], record)
        masks = np.repeat(mask[clip["source_frame"]][..., None].astype(np.uint8) * 255, 3, axis=-1)
        crop_masks = crop_resize(masks, clip["crop_boxes"], (64, 64))[..., 0] > 127
        px = project(clip["joints"], clip["intrinsics"])  # (49, 24, 2)
        torso = [0, 3, 6, 9, 12]
        inside = []
        for t in range(len(px)):
            for jnt in torso:
                x, y = px[t, jnt]
                assert 0 <= x < 64 and 0 <= y < 64  # the crop holds the athlete
                inside.append(crop_masks[t, int(y), int(x)])
        assert np.mean(inside) > 0.9
        # and the crop is the athlete: most of the silhouette falls inside it
        assert crop_masks.mean() > 0.03


def test_rerun_is_idempotent(built, programme):
    before = _tree(built["out"])
    calls = programme["backend"].calls
    report = build_dataset([programme["path"]], _config(built["out"]), backend=programme["backend"])
    assert report.new == [] and len(report.clips) == 2
    assert programme["backend"].calls == calls  # poses came from the cache
    assert _tree(built["out"]) == before


def test_pose_cache_is_per_backend_version(built, programme, tmp_path):
    backend = programme["backend"]
    out = tmp_path / "fsjd"
    build_dataset([programme["path"]], _config(out), backend=backend)
    calls = backend.calls
    build_dataset([programme["path"]], _config(out), backend=backend)
    assert backend.calls == calls
    backend.version = "truth-2"  # another model: estimate again
    try:
        build_dataset([programme["path"]], _config(out), backend=backend)
    finally:
        backend.version = TruthBackend.version
    assert backend.calls > calls
    assert len(list((out / build_module.BUILD_DIR / "poses").glob("*.npz"))) == 2


def test_resume_after_a_kill_equals_an_uninterrupted_build(built, programme, tmp_path, monkeypatch):
    out = tmp_path / "fsjd"
    real = fsjd.write_clip
    count = {"n": 0}

    def dying_write_clip(root, record, frames, joints, intrinsics, extras=None, crf=12):
        count["n"] += 1
        if count["n"] == 2:  # killed after the video of the second clip, before its joints
            fsjd.write_video(Path(root) / record.video, frames, record.fps, crf=crf)
            raise KeyboardInterrupt
        return real(root, record, frames, joints, intrinsics, extras, crf)

    monkeypatch.setattr(build_module.fsjd, "write_clip", dying_write_clip)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([programme["path"]], _config(out), backend=programme["backend"])
    assert len(fsjd.read_manifest(out)) == 1  # the finished clip only
    assert not list(out.rglob(".*tmp-*"))  # no temporary file left
    monkeypatch.setattr(build_module.fsjd, "write_clip", real)
    report = build_dataset([programme["path"]], _config(out), backend=programme["backend"])
    assert len(report.new) == 1
    assert _tree(out) == _tree(built["out"])


def test_a_full_disk_is_one_line_naming_the_file_and_the_rerun_resumes(built, programme, tmp_path, monkeypatch,
                                                                       capsys):
    import errno
    import os

    import typer

    from sportanim.cli.errors import run
    from sportanim.io import files

    out = tmp_path / "fsjd"

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as np.savez's write() reports it

    monkeypatch.setattr(files.np, "savez", full_disk)
    with pytest.raises(typer.Exit) as stop:
        run(build_dataset, [programme["path"]], _config(out), backend=programme["backend"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.exit_code == 2 and len(lines) == 1, lines
    assert "No space left on device" in lines[0] and f"cannot write {out}/" in lines[0] and ".npz" in lines[0]
    assert not list(out.rglob(".*tmp-*"))  # no temporary file left
    monkeypatch.undo()
    build_dataset([programme["path"]], _config(out), backend=programme["backend"])
    assert _tree(out) == _tree(built["out"])


def test_split_survives_a_rerun(built, programme, tmp_path):
    out = tmp_path / "fsjd"
    build_dataset([programme["path"]], _config(out), backend=programme["backend"])
    records = fsjd.read_manifest(out)
    records[0].split = "eval"
    fsjd.write_manifest(out, records)
    build_dataset([programme["path"]], _config(out), backend=programme["backend"])
    assert [r.split for r in fsjd.read_manifest(out)] == ["eval", "train"]


# ------------------------------------------------------------------------ annotations


def test_annotations_csv_chooses_and_labels_windows(programme, tmp_path):
    jump = programme["p"]["labels"]["jumps"][1]
    csv = tmp_path / "jumps.csv"
    csv.write_text("video,start,end,jump_type\n"
                   f"prog.mp4,{jump['takeoff_frame'] / FPS},{jump['landing_frame'] / FPS},lutz\n"
                   "prog,0.5,5.5,\n"
                   "other.mp4,1,2,axel\n")
    report = build_dataset([programme["path"]], _config(tmp_path / "out", annotations=csv),
                           backend=programme["backend"])
    assert len(report.clips) == 1  # the "prog.mp4" rows win over the "prog" row
    record = report.clips[0]
    clip = fsjd.load_clip(tmp_path / "out", record)
    assert record.labels["motion"] == "lutz" and record.labels["domain"] == "jump"
    assert clip["source_frame"][record.labels["takeoff_frame"]] == jump["takeoff_frame"]
    assert clip["source_frame"][record.labels["landing_frame"]] == jump["landing_frame"]
    assert record.source["window"] == "annotation" and record.source["annotation"]["line"] == 2
    # a long window is resampled evenly in time to --frames
    csv.write_text("prog,0.5,5.5,\n")
    report = build_dataset([programme["path"]], _config(tmp_path / "long", annotations=csv),
                           backend=programme["backend"])
    record = report.clips[0]
    steps = np.diff(fsjd.load_clip(tmp_path / "long", record)["source_frame"])
    assert record.labels["domain"] is None and record.labels["takeoff_frame"] is None
    assert steps.min() >= 2 and steps.max() - steps.min() <= 1
    assert record.fps == pytest.approx(48 / (record.source["time_range_s"][1]
                                             - record.source["time_range_s"][0]), rel=1e-3)


def test_annotations_errors_name_the_line(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("a.mp4,1,2,lutz\nb.mp4,3,x,flip\n")
    with pytest.raises(ValueError, match=r"a\.csv:2: start and end must be seconds"):
        read_annotations(csv)
    csv.write_text("a.mp4,2,1,lutz\n")
    with pytest.raises(ValueError, match=r"a\.csv:1: need 0 <= start < end"):
        read_annotations(csv)
    with pytest.raises(FileNotFoundError, match="annotations file not found"):
        read_annotations(tmp_path / "none.csv")


def test_video_without_annotation_row_is_skipped(programme, tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("elsewhere.mp4,1,2,lutz\n")
    report = build_dataset([programme["path"]], _config(tmp_path / "out", annotations=csv),
                           backend=programme["backend"])
    assert not report.clips and "no row for it" in report.skipped[0].reason


# ------------------------------------------------------------------------- bad inputs


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Bad input files -> a word their skip reason must hold."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (60, 64, 64, 3), dtype=np.uint8)
    bad = {}
    (folder / "empty.mp4").write_bytes(b"")
    bad["empty.mp4"] = "empty"
    (folder / "junk.mp4").write_bytes(rng.bytes(4000))
    bad["junk.mp4"] = "corrupt"
    write_encoded(folder / "whole.mp4", noise, movflags="faststart")
    data = (folder / "whole.mp4").read_bytes()
    (folder / "whole.mp4").unlink()
    (folder / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    bad["truncated.mp4"] = "truncated"
    with av.open(str(folder / "zero_frames.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = 64
        container.start_encoding()
    bad["zero_frames.mp4"] = "no video stream"
    write_audio_only(folder / "audio.mp4")
    bad["audio.mp4"] = "only audio"
    write_encoded(folder / "m4.avi", noise[:5, :32, :32], codec="mpeg4")
    data = (folder / "m4.avi").read_bytes()
    (folder / "m4.avi").unlink()
    strf = data.find(b"strf")
    patched = bytearray(data.replace(b"FMP4", b"ZQZQ"))
    patched[strf + 24:strf + 28] = b"ZQZQ"  # BITMAPINFOHEADER.biCompression
    (folder / "odd_codec.avi").write_bytes(bytes(patched))
    bad["odd_codec.avi"] = "codec"
    write_video(folder / "nobody.mp4", noise, 30.0)
    bad["nobody.mp4"] = "no person"
    write_video(folder / "short.mp4", noise[:20], 30.0)
    bad["short.mp4"] = "fewer than --frames"
    return bad


def test_every_bad_input_is_skipped_with_one_line(programme, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = _bad_inputs(folder)
    report = build_dataset([folder, tmp_path / "missing.mp4", programme["path"]],
                           _config(tmp_path / "out"), backend=programme["backend"])
    reasons = {Path(s.input).name: s.reason for s in report.skipped}
    assert set(reasons) == {*bad, "missing.mp4"}
    assert "not found" in reasons["missing.mp4"]
    for name, word in bad.items():
        assert word in reasons[name], (name, reasons[name])
    assert all("\n" not in r for r in reasons.values())
    assert len(report.clips) == 2  # the good video still builds


def test_cli_exits_non_zero_only_when_nothing_was_built(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 100)
    result = CliRunner().invoke(app, ["data", "build", str(tmp_path / "junk.mp4"),
                                      str(tmp_path / "gone.mp4"), "--out", str(tmp_path / "o"),
                                      "--quiet"])
    assert result.exit_code == 1, result.output
    assert "gone.mp4" in result.output and "nothing could be built" in result.output
    result = CliRunner().invoke(app, ["data", "build", str(tmp_path), "--out",
                                      str(tmp_path / "o"), "--shard", "3/2"])
    assert result.exit_code == 2 and "--shard" in result.output


def test_out_folder_of_something_else_is_refused(programme, tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not made by 'sportanim data build'"):
        build_dataset([programme["path"]], _config(tmp_path), backend=programme["backend"])


# ------------------------------------------------------------------------------ shards


def test_shards_cover_every_input_exactly_once(tmp_path):
    for name in ("a.mp4", "b.mov", "c.mkv", "d.avi", "sub/e.mp4", "sub/f.MP4", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    inputs = [tmp_path, tmp_path / "gone.mp4"]
    every, _ = shard_inputs(inputs)
    shards = [shard_inputs(inputs, (i, 3)) for i in range(3)]
    names = [v[0] for videos, _ in shards for v in videos] + [s.input for _, sk in shards for s in sk]
    assert sorted(names) == sorted([v[0] for v in every] + [str(tmp_path / "gone.mp4")])
    assert len(names) == len(set(names)) == 7
    assert [len(v) + len(s) for v, s in shards] == [3, 2, 2]
    assert shard_inputs(inputs, (1, 3)) == shards[1]  # deterministic
    assert parse_shard("2/4") == (2, 4)
    for text in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(text)


# ------------------------------------------------------------------------- clip pieces


def test_clip_span_grows_short_windows_inside_their_shot():
    assert clip_span(100, 120, (0, 300), 49) == (86, 134)
    assert clip_span(5, 20, (0, 300), 49) == (0, 48)  # held at the shot's start
    assert clip_span(280, 299, (200, 300), 49) == (251, 299)
    assert clip_span(10, 200, (0, 300), 49) == (10, 200)  # long windows are kept
    assert clip_span(10, 20, (0, 40), 49) is None


def test_sample_frames_by_time_handles_variable_frame_rate():
    times = np.cumsum(np.r_[0, np.where(np.arange(99) % 2, 0.02, 0.05)])  # VFR: 20/50 ms
    index, fps = sample_frames(times, 0, 99, 11)
    wanted = np.linspace(times[0], times[99], 11)
    assert np.all(np.abs(times[index] - wanted) <= 0.025 + 1e-9)
    assert fps == pytest.approx(10 / (times[index[-1]] - times[index[0]]))
    assert np.array_equal(sample_frames(times, 5, 15, 11)[0], np.arange(5, 16))


def test_follow_crop_holds_the_athlete_and_stays_in_the_picture():
    t = np.arange(40)
    centre = np.stack([100 + 8 * t, 200 + 20 * np.sin(t / 3)], axis=1)
    boxes = np.concatenate([centre - [20, 50], centre + [20, 50]], axis=1)
    found = np.ones(40, bool)
    found[10:14] = False
    boxes[10:14] = np.nan
    crop = follow_crop(boxes, found, (640, 360))
    side = crop[:, 2] - crop[:, 0]
    assert np.allclose(side, side[0]) and np.allclose(crop[:, 3] - crop[:, 1], side[0])
    ok = found
    assert np.all(crop[ok, :2] <= boxes[ok, :2] + 1e-6) and np.all(crop[ok, 2:] >= boxes[ok, 2:] - 1e-6)
    assert crop[:, 0].min() >= 0 and crop[:, 1].min() >= 0 and crop[:, 3].max() <= 360
    assert np.abs(np.diff(crop[:, 1], 2)).max() < np.abs(np.diff(boxes[ok, 1], 2)).max()


def test_quality_gates_report_reasons(programme):
    p = programme["p"]
    K = nlf_intrinsics(128, 128)
    joints = p["joints"][:60].astype(np.float64)
    found = np.ones(60, bool)
    good = clip_quality(joints, found, K, (128, 128), FPS)
    assert good["passed"] and good["reasons"] == []
    noisy = joints + np.random.default_rng(0).normal(0, 80, joints.shape)
    gone = found.copy()
    gone[10:40] = False
    bad = clip_quality(np.where(gone[:, None, None], noisy, np.nan), gone, K, (128, 128), FPS)
    text = " ".join(bad["reasons"])
    assert not bad["passed"] and "missing" in text and "jittery" in text and "bone" in text
    shifted = joints + np.array([3000.0, 0, 0])  # far to the right: outside the picture
    assert "outside the picture" in " ".join(clip_quality(shifted, found, K, (128, 128), FPS)["reasons"])


# -------------------------------------------------------------------- real backend, slow


@pytest.mark.slow
def test_cli_builds_a_programme_with_mediapipe(tmp_path):
    pytest.importorskip("mediapipe")
    p = make_programme(1, 0, jumps=2, size=(256, 256), fps=FPS)
    write_video(tmp_path / "prog.mp4", p["frames"], FPS)
    out = tmp_path / "fsjd"
    result = CliRunner().invoke(app, ["data", "build", str(tmp_path), "--out", str(out),
                                      "--size", "128", "--quiet"])
    assert result.exit_code == 0, result.output
    records = fsjd.read_manifest(out)
    assert records and json.loads((out / fsjd.STATS_NAME).read_text())["counts"]["total"] == len(records)
    # each clip's source span as a window, with the detector's take-off and landing
    windows = [JumpWindow(**{**r.source["detection"], "start": r.source["frame_range"][0],
                             "end": r.source["frame_range"][1]}) for r in records]
    score = match_windows(windows, p["labels"]["jumps"])
    assert score["recall"] >= 0.5 and score["precision"] >= 0.5
    for record in records:
        assert record.source["backend"] == "mediapipe"
        assert "mediapipe-0.10.14" in record.source["backend_version"]
