"""sportanim.io.video: round trips, determinism, atomicity and error messages."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from sportanim.io import video as video_io
from sportanim.io.video import (VideoError, VideoNotFoundError, probe_video, read_video,
                                write_video)


def smooth_frames(t: int = 8, height: int = 48, width: int = 96) -> np.ndarray:
    """Smooth moving colour gradients, uint8 ``(t, height, width, 3)``."""
    y, x = np.mgrid[:height, :width] / max(height, width)
    frames = [np.stack([128 + 90 * np.sin(2 * np.pi * (x + i / t)),
                        128 + 90 * np.cos(2 * np.pi * (0.5 * y + i / t)),
                        128 + 60 * np.sin(np.pi * (x + y))], axis=-1) for i in range(t)]
    return np.stack(frames).round().astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def test_round_trip_keeps_shape_fps_and_quality(tmp_path):
    frames = smooth_frames()
    path = tmp_path / "clip.mp4"
    write_video(path, frames, fps=30)
    decoded, fps = read_video(path)
    assert decoded.dtype == np.uint8 and decoded.shape == frames.shape
    assert fps == 30.0
    assert psnr(decoded, frames) > 35.0
    # Frames stay in order: each decoded frame is closest to its own original.
    errors = [[np.abs(d.astype(int) - f).mean() for f in frames] for d in decoded]
    assert np.argmin(errors, axis=1).tolist() == list(range(len(frames)))


@pytest.mark.parametrize("fps", [29.97, 30000 / 1001, Fraction(30000, 1001), 12.5, 24])
def test_fractional_fps_round_trips(tmp_path, fps):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_frames(t=5), fps=fps)
    assert read_video(path)[1] == pytest.approx(float(fps), rel=1e-12)
    info = probe_video(path)
    assert info["fps"] == pytest.approx(float(fps), rel=1e-12)
    assert info["duration_s"] == pytest.approx(5 / float(fps), rel=1e-6)


def test_probe_reads_the_header(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_frames(t=7, height=48, width=96), fps=25)
    assert probe_video(path) == {"frames": 7, "fps": 25.0, "width": 96, "height": 48,
                                 "codec": "h264", "duration_s": pytest.approx(7 / 25)}


@pytest.mark.parametrize("height, width", [(64, 64), (48, 96), (128, 128)])
def test_same_frames_give_identical_bytes(tmp_path, height, width):
    # 64x64 and 96-wide were non-deterministic with x264's mbtree on AVX-512 CPUs.
    frames = smooth_frames(t=12, height=height, width=width)
    blobs = []
    for i in range(6):
        write_video(tmp_path / f"{i}.mp4", frames, fps=30)
        blobs.append((tmp_path / f"{i}.mp4").read_bytes())
    assert all(blob == blobs[0] for blob in blobs)
    frames[3] //= 2
    write_video(tmp_path / "other.mp4", frames, fps=30)
    assert (tmp_path / "other.mp4").read_bytes() != blobs[0]


def test_file_has_no_timestamps_or_version_tags(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_frames(t=3), fps=30)
    with av.open(str(path)) as container:
        assert "creation_time" not in container.metadata
        assert "creation_time" not in container.streams.video[0].metadata
    assert b"Lavf" not in path.read_bytes()


def test_write_leaves_no_temporary_files(tmp_path):
    write_video(tmp_path / "clip.mp4", smooth_frames(t=3), fps=30)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old")

    def broken_encode(tmp, frames, rate, crf):
        tmp.write_bytes(b"half a video")
        raise RuntimeError("encoder died")

    monkeypatch.setattr(video_io, "_encode", broken_encode)
    with pytest.raises(RuntimeError, match="encoder died"):
        write_video(path, smooth_frames(t=3), fps=30)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_write_into_missing_folder_names_the_path(tmp_path):
    path = tmp_path / "missing" / "clip.mp4"
    with pytest.raises(OSError, match=f"cannot write to {path}"):
        write_video(path, smooth_frames(t=2), fps=30)


@pytest.mark.parametrize("frames, message", [
    (np.zeros((2, 8, 8, 3), np.float32), "must be uint8"),
    (np.zeros((8, 8, 3), np.uint8), r"shape \(T, H, W, 3\)"),
    (np.zeros((2, 8, 8, 4), np.uint8), r"shape \(T, H, W, 3\)"),
    (np.zeros((0, 8, 8, 3), np.uint8), "non-empty"),
    (np.zeros((2, 8, 7, 3), np.uint8), "even width and height, got 7x8"),
    (np.zeros((2, 9, 8, 3), np.uint8), "even width and height, got 8x9"),
    ([[[[0, 0, 0]]]], "numpy array"),
])
def test_bad_frames_are_rejected_before_writing(tmp_path, frames, message):
    path = tmp_path / "clip.mp4"
    with pytest.raises(ValueError, match=message) as info:
        write_video(path, frames, fps=30)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [0, -30, float("nan"), float("inf"), "30"])
def test_bad_fps_is_rejected(tmp_path, fps):
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_video(tmp_path / "clip.mp4", smooth_frames(t=2), fps=fps)


@pytest.mark.parametrize("crf", [-1, 52, 12.5])
def test_bad_crf_is_rejected(tmp_path, crf):
    with pytest.raises(ValueError, match="crf must be an integer"):
        write_video(tmp_path / "clip.mp4", smooth_frames(t=2), fps=30, crf=crf)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    for function in (read_video, probe_video):
        with pytest.raises(VideoNotFoundError, match=f"video not found: {path}") as info:
            function(path)
        assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, VideoError)


def test_corrupt_file(tmp_path):
    path = tmp_path / "random.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    for function in (read_video, probe_video):
        with pytest.raises(VideoError, match=str(path)) as info:
            function(path)
        assert "\n" not in str(info.value)


def test_truncated_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_frames(t=8), fps=30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=str(path)):
        read_video(path)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for function in (read_video, probe_video):
        with pytest.raises(VideoError, match=f"{path} has no video stream"):
            function(path)
