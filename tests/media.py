"""Test media written with PyAV directly (codecs and container options the project's own
writer does not choose): shared by the video-reading and clip-builder tests."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_encoded(path: Path, frames: np.ndarray, codec: str = "libx264", **options) -> None:
    """``frames`` uint8 (T, H, W, 3) encoded with ``codec`` at 30 fps, pts = frame index;
    ``options`` go to the container (e.g. ``movflags="faststart"``)."""
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_audio_only(path: Path) -> None:
    """A short silent AAC file with no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_lossless_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Any-size (odd too) lossless video: FFV1 in Matroska (no frame count in the header)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
