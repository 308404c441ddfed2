"""Deterministic, atomic H.264 video files (PyAV).

``write_video`` encodes RGB frames ``uint8 (T, H, W, 3)`` to an ``.mp4`` that is
byte-identical for identical inputs (same PyAV/x264 build; x86 CPUs with AVX2 and with
AVX-512 give the same bytes, x264 without SIMD gives other bytes, so ARM may too),
written through a temporary sibling file so that a crash never leaves a half-written
video behind.
``read_video`` decodes a whole file back to RGB; ``probe_video`` reads only the header.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import secrets
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

# x264 settings, chosen for tiny clips (49 frames of 64x64 .. 512x512), measured on
# one core of a Xeon with AVX-512 (with mbtree=0, below):
# - preset "veryfast": 49x64x64 writes in ~9 ms (x264 itself ~8 ms) and 49x512x512
#   in ~0.25-0.6 s (content-dependent). "ultrafast" (no CABAC, no deblocking) is ~3x faster at 512 but its files are
#   2-2.6x larger at the same CRF, "superfast" ~1.25x larger on textured content;
#   "faster"/"medium" cost 1.5-2x the time for files at most ~8% smaller.
# - one thread: x264's output depends on its thread count (auto = 1.5 x CPU cores, so
#   the bytes would change from machine to machine); one thread is also the fastest
#   for tiny clips. Parallelise across clips instead.
# - mbtree=0: with macroblock-tree rate control, x264's AVX-512 code reads
#   uninitialised memory, so the same frames gave different bytes from run to run
#   (most widths that are not a multiple of 128 px), and AVX2 and AVX-512 machines
#   gave different bytes at every size. Without it the output is stable and the same
#   on both; the price is ~20-30% larger files at equal quality (at a given CRF the
#   quality is a little higher instead).
X264_OPTIONS = {"preset": "veryfast", "x264-params": "mbtree=0"}
X264_THREADS = 1
# Colour conversion through swscale's exact C path: the same on every CPU, and no slower.
SWS_FLAGS = Interpolation.BILINEAR | Interpolation.BITEXACT
# Drops the muxer's "Lavf<version>" tag; the container writes no creation_time.
MP4_OPTIONS = {"fflags": "+bitexact"}
# 29.97 -> 2997/100, 30000/1001 stays 30000/1001; mp4 time scales are integers.
MAX_FPS_DENOMINATOR = 10000


class VideoError(ValueError):
    """A video file that cannot be read: corrupt, truncated, or without a video stream."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video file does not exist (both a ``VideoError`` and a ``FileNotFoundError``)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary sibling of ``path`` to write to; on success move it onto
    ``path`` with ``os.replace``, on any error remove it and re-raise."""
    path = Path(path)
    tmp = _reserve_temp_file(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reserve_temp_file(path: Path) -> Path:
    """Create an empty hidden file ``.{name}.tmp-XXXXXXXX`` next to ``path``."""
    while True:
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
        try:
            with open(tmp, "x"):
                return tmp
        except FileExistsError:
            continue
        except OSError as error:
            raise OSError(f"cannot write to {path}: {error.strerror or error}; check that "
                          "its folder exists and is writable") from None


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 12) -> None:
    """Encode ``frames`` uint8 ``(T, H, W, 3)`` RGB (H, W even) to an H.264 ``.mp4`` at
    ``fps`` frames per second (may be fractional, e.g. 29.97). Atomic and byte-deterministic."""
    path = Path(path)
    _check_frames(frames, path)
    rate = _fps_fraction(fps, path)
    if not (isinstance(crf, (int, np.integer)) and 0 <= crf <= 51):
        raise ValueError(f"{path}: crf must be an integer in 0..51, got {crf!r}")
    with atomic_path(path) as tmp:
        _encode(tmp, frames, rate, int(crf))


def _check_frames(frames: np.ndarray, path: Path) -> None:
    """Raise ``ValueError`` unless ``frames`` is uint8 ``(T>=1, H, W, 3)`` with even H, W."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"{path}: frames must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8, got {frames.dtype}; convert with "
                         "np.clip(x, 0, 255).astype(np.uint8)")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: frames must have shape (T, H, W, 3), got {frames.shape}")
    t, h, w, _ = frames.shape
    if t < 1 or h < 2 or w < 2:
        raise ValueError(f"{path}: frames must be non-empty, got shape {frames.shape}")
    if h % 2 or w % 2:
        raise ValueError(f"{path}: H.264 yuv420p needs even width and height, got "
                         f"{w}x{h}; crop or pad the frames by one pixel")


def _fps_fraction(fps: float, path: Path) -> Fraction:
    """``fps`` as an exact ``Fraction`` with a small denominator (29.97 -> 2997/100)."""
    if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"{path}: fps must be a positive number, got {fps!r}")
    exact = fps if isinstance(fps, Fraction) else Fraction(float(fps))
    return exact.limit_denominator(MAX_FPS_DENOMINATOR)


def _encode(tmp: Path, frames: np.ndarray, rate: Fraction, crf: int) -> None:
    """Encode and mux all frames into ``tmp`` (mp4, libx264, yuv420p)."""
    with av.open(str(tmp), "w", format="mp4", options=MP4_OPTIONS) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / rate
        stream.codec_context.thread_count = X264_THREADS
        stream.options = {**X264_OPTIONS, "crf": str(crf)}
        to_yuv = VideoReformatter()  # one reused converter: 3x faster on tiny frames
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = to_yuv.reformat(frame, format="yuv420p", interpolation=SWS_FLAGS, threads=1)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode every frame of ``path`` as RGB. Returns ``(frames uint8 (T, H, W, 3), fps)``.

    Raises ``VideoNotFoundError`` for a missing file and ``VideoError`` for a file that
    has no video stream, cannot be decoded, or holds fewer frames than its header says."""
    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            frames = _decode_rgb(container, stream)
            fps, expected = _stream_fps(stream), stream.frames
    except av.FFmpegError as error:
        raise VideoError(f"cannot decode {path}: {error}; the file is corrupt or "
                         "not a video, re-create it") from None
    if not frames:
        raise VideoError(f"{path}: no frame could be decoded; the file is corrupt, re-create it")
    if expected and len(frames) < expected:
        raise VideoError(f"{path}: decoded {len(frames)} of {expected} frames; the file is "
                         "truncated, re-create it")
    return np.stack(frames), fps


def _decode_rgb(container: av.container.InputContainer,
                stream: av.video.VideoStream) -> list[np.ndarray]:
    """All frames of ``stream`` as uint8 ``(H, W, 3)`` RGB arrays."""
    width, height = stream.codec_context.width, stream.codec_context.height
    # Frame threads pay off from ~256x256; below, starting them costs more than they save.
    stream.thread_type = "AUTO" if width * height >= 256 * 256 else "SLICE"
    to_rgb = VideoReformatter()  # reused: a fresh converter per frame is 3x slower
    return [to_rgb.reformat(frame, format="rgb24", interpolation=SWS_FLAGS, threads=1).to_ndarray()
            for frame in container.decode(stream)]


def probe_video(path: str | os.PathLike) -> dict:
    """Header facts of ``path`` without decoding: ``frames`` (0 if unknown), ``fps``,
    ``width``, ``height``, ``codec`` (e.g. "h264") and ``duration_s``."""
    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            return {
                "frames": int(stream.frames),
                "fps": _stream_fps(stream),
                "width": int(stream.codec_context.width),
                "height": int(stream.codec_context.height),
                "codec": stream.codec_context.name,
                "duration_s": _duration_s(container, stream),
            }
    except av.FFmpegError as error:
        raise VideoError(f"cannot open {path}: {error}; the file is corrupt or not a "
                         "video, re-create it") from None


def _existing(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path``; ``VideoNotFoundError`` if it is not an existing file."""
    path = Path(path)
    if not path.is_file():
        raise VideoNotFoundError(f"video not found: {path}; check the path (and the "
                                 "dataset's clips/ folder)")
    return path


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    """The first video stream of ``container``; ``VideoError`` if there is none."""
    if not container.streams.video:
        raise VideoError(f"{path} has no video stream; pass a video file")
    return container.streams.video[0]


def _stream_fps(stream: av.video.VideoStream) -> float:
    """Frames per second from the stream's average (else guessed) rate; 0.0 if unknown."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else 0.0


def _duration_s(container: av.container.InputContainer, stream: av.video.VideoStream) -> float:
    """Stream duration in seconds (container duration as a fallback; 0.0 if unknown)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
