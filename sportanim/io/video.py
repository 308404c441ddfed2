"""Video files through PyAV: the one decoder and the one encoder.

Writing: ``write_video`` encodes RGB frames uint8 ``(T, H, W, 3)`` to an H.264 ``.mp4``,
atomically and byte-identically for identical inputs (same PyAV/x264 build; x86 CPUs with
AVX2 and AVX-512 give the same bytes, x264 without SIMD gives other bytes, so ARM may too).

Reading any common video:

- ``probe_video`` reads the header only; ``open_video -> VideoInfo`` also decodes the first
  frame (so a file that opens but cannot be decoded fails there, with one clear line) and
  reads its rotation; ``iter_frames`` decodes RGB uint8 batches, each frame with its
  decode-order index and presentation time; ``read_all`` gathers them in one batch;
  ``read_video`` is every frame plus the fps, ``read_frames`` the first N at a given size.
- Containers and codecs: whatever PyAV's FFmpeg decodes (mp4/mov/mkv/avi/webm; H.264, HEVC,
  MPEG-4 Part 2, VP9, AV1, ProRes...). Frame threads are used from 256x256 up.
- Variable frame rate: each frame's time comes from its own pts (``pts * time_base``, dts
  when a frame has no pts), never from ``index / fps``; ``VideoInfo.fps`` is only the
  average rate. Resample by time, not by index.
- Rotation: phones store portrait video as landscape frames plus a display matrix. FFmpeg
  (8.x in PyAV 18) attaches the matrix to every decoded frame as ``DISPLAYMATRIX`` side data;
  it is parsed into a quarter-turn count and a mirror flag (:func:`display_transform`)
  and applied to the pixels, so frames come out upright as a player shows them, and
  ``VideoInfo.width``/``height`` are the displayed (rotated) size. ``rotate=False`` gives the
  coded frames as stored. Angles that are not multiples of 90 degrees are rounded to one.
- Errors a user can cause raise ``VideoError`` (``VideoNotFoundError`` for a missing path)
  with one line naming the file, what is wrong and what to do: missing, empty (0 bytes),
  not a media file / corrupt, audio-only, a codec this FFmpeg cannot decode, a video with
  no decodable frame, and a truncated one (fewer frames than the header promises).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from sportanim.io.files import atomic_file

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
# Downscaling through swscale's area filter (antialiased), bit-exact on every CPU.
AREA_FLAGS = Interpolation.AREA | Interpolation.BITEXACT
# Drops the muxer's "Lavf<version>" tag; the container writes no creation_time.
MP4_OPTIONS = {"fflags": "+bitexact"}
# 29.97 -> 2997/100, 30000/1001 stays 30000/1001; mp4 time scales are integers.
MAX_FPS_DENOMINATOR = 10000
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts",
                    ".mts", ".m2ts", ".wmv", ".flv", ".3gp")
# A header whose frame count exceeds the decoded count by more than this is "truncated"
# for iter_frames (some muxers count a trailing frame that decoders drop).
TRUNCATION_SLACK = 1
# Frame threads pay off from this many pixels; below, starting them costs more than they save.
THREADED_PIXELS = 256 * 256


class VideoError(ValueError):
    """A video file that cannot be read: corrupt, truncated, or without a video stream."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video file does not exist (both a ``VideoError`` and a ``FileNotFoundError``)."""


class _Damaged(VideoError):
    """Decoding stopped mid-file on an FFmpeg error (damaged or cut-off data)."""


@dataclass(frozen=True)
class VideoInfo:
    """Header facts of a video plus what its first decoded frame tells.

    ``width``/``height`` are the displayed size (after rotation), ``coded_width``/
    ``coded_height`` the stored one. ``frames`` is the header's count (0 when the container
    does not say, e.g. many mkv/webm). ``fps`` is the average rate (frames / duration);
    ``variable_frame_rate`` is True when the container's base and average rates disagree
    (a hint only: trust the per-frame times). ``rotation`` is the counter-clockwise quarter
    turn in degrees (0, 90, 180, 270) and ``mirror`` a left-right flip applied after it."""

    path: Path
    width: int
    height: int
    coded_width: int
    coded_height: int
    fps: float
    frames: int
    duration_s: float
    codec: str
    rotation: int
    mirror: bool
    time_base: Fraction
    start_time_s: float
    variable_frame_rate: bool
    has_audio: bool

    @property
    def size(self) -> tuple[int, int]:
        """Displayed ``(width, height)``."""
        return self.width, self.height


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive decoded frames: ``frames`` uint8 ``(N, H, W, 3)`` RGB, ``index`` int64
    ``(N,)`` decode-order frame numbers from 0, ``time`` float64 ``(N,)`` presentation times
    in seconds (from pts; the first frame of most files is at 0)."""

    frames: np.ndarray
    index: np.ndarray
    time: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


# ------------------------------------------------------------------------------ writing


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 12) -> None:
    """Encode ``frames`` uint8 ``(T, H, W, 3)`` RGB (H, W even) to an H.264 ``.mp4`` at
    ``fps`` frames per second (may be fractional, e.g. 29.97). Atomic and byte-deterministic."""
    path = Path(path)
    _check_frames(frames, path)
    rate = _fps_fraction(fps, path)
    if not (isinstance(crf, (int, np.integer)) and 0 <= crf <= 51):
        raise ValueError(f"{path}: crf must be an integer in 0..51, got {crf!r}")
    with atomic_file(path) as tmp:
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


# ------------------------------------------------------------------------------ opening


def probe_video(path: str | os.PathLike) -> dict:
    """Header facts of ``path`` without decoding: ``frames`` (0 if unknown), ``fps``,
    ``width``, ``height`` (as stored, before any rotation), ``codec`` (e.g. "h264") and
    ``duration_s``."""
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
        raise VideoError(f"cannot read {path}: {_reason(error)}; the file is corrupt, "
                         "truncated or not a video, re-encode or re-download it") from None


def open_video(path: str | os.PathLike) -> VideoInfo:
    """Header facts of ``path`` and the first frame's rotation; ``VideoError`` (one line,
    naming the file and the fix) when it is missing, empty, not a video, audio-only, in a
    codec this FFmpeg cannot decode, or has no decodable frame."""
    with _open(path) as (info, _):
        return info


@contextlib.contextmanager
def _open(path: str | os.PathLike,
          threads: bool = False) -> Iterator[tuple[VideoInfo, Iterator[tuple[int, float, av.VideoFrame]]]]:
    """Open ``path`` once: yields its ``VideoInfo`` (from the header and the first decoded
    frame) and every frame from the first on as ``(index, time s, frame)`` in decode order
    (``_Damaged`` if FFmpeg fails mid-file). ``threads``: frame threads from 256x256 up."""
    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            stream = _decodable(_video_stream(container, path), path)
            coded = int(stream.codec_context.width) * int(stream.codec_context.height)
            if threads and coded >= THREADED_PIXELS:
                stream.thread_type = "AUTO"
            decoded = container.decode(stream)
            first = _first_frame(decoded, stream, path)
            info = _info(container, stream, path, first)
            yield info, _timed(itertools.chain([first], decoded), info)
    except av.FFmpegError as error:
        raise VideoError(f"cannot read {path}: {_reason(error)}; the file is corrupt, truncated "
                         "or not a video, re-encode or re-download it") from None


def _info(container, stream, path: Path, first: av.VideoFrame) -> VideoInfo:
    """``VideoInfo`` from an open stream and its first decoded frame."""
    rotation, mirror = display_transform(_display_matrix(first))
    coded_w, coded_h = int(stream.codec_context.width), int(stream.codec_context.height)
    if not coded_w or not coded_h:
        coded_w, coded_h = first.width, first.height
    width, height = (coded_h, coded_w) if rotation % 180 else (coded_w, coded_h)
    base, average = stream.base_rate, stream.average_rate
    vfr = bool(base and average and abs(float(base) - float(average)) > 0.01 * float(average))
    return VideoInfo(
        path=path, width=width, height=height, coded_width=coded_w, coded_height=coded_h,
        fps=_stream_fps(stream), frames=int(stream.frames or 0),
        duration_s=_duration_s(container, stream),
        codec=stream.codec_context.name, rotation=rotation, mirror=mirror,
        time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 1),
        start_time_s=float(stream.start_time * stream.time_base)
        if stream.start_time is not None and stream.time_base else 0.0,
        variable_frame_rate=vfr, has_audio=bool(container.streams.audio))


def find_videos(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, by extension, sorted) into video paths;
    ``VideoNotFoundError`` for a path that does not exist, ``VideoError`` if none found."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*")
                                if q.is_file() and q.suffix.lower() in VIDEO_EXTENSIONS))
        elif p.is_file():
            found.append(p)
        else:
            raise VideoNotFoundError(f"video not found: {p}; check the path")
    if not found:
        raise VideoError(f"no video files ({', '.join(VIDEO_EXTENSIONS[:6])}...) in "
                         f"{', '.join(map(str, paths))}; pass video files or folders holding them")
    return found


def _existing(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path``: ``VideoNotFoundError`` if missing, ``VideoError`` if it is a
    folder or empty."""
    path = Path(path)
    if not path.exists():
        raise VideoNotFoundError(f"video not found: {path}; check the path (and the dataset's "
                                 "clips/ folder)")
    if not path.is_file():
        raise VideoError(f"{path} is not a file; pass a video file (folders are expanded by "
                         "find_videos)")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes); the download or copy failed, fetch it again")
    return path


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    """The first video stream of ``container``; ``VideoError`` if there is none."""
    if not container.streams.video:
        what = " (only audio)" if container.streams.audio else ""
        raise VideoError(f"{path} has no video stream{what}; pass a video file")
    return container.streams.video[0]


def _decodable(stream: av.video.VideoStream, path: Path) -> av.video.VideoStream:
    """``stream``, or ``VideoError`` if this FFmpeg has no decoder for its codec."""
    if stream.codec_context is None or stream.codec_context.codec is None:
        raise VideoError(f"{path}: its video codec cannot be decoded by this FFmpeg "
                         f"(libavcodec {'.'.join(map(str, av.library_versions.get('libavcodec', ())))}); "
                         "re-encode it to H.264")
    return stream


def _first_frame(decoded: Iterator[av.VideoFrame], stream, path: Path) -> av.VideoFrame:
    try:
        for frame in decoded:
            return frame
    except av.FFmpegError as error:
        raise VideoError(f"cannot decode {path} ({stream.codec_context.name}): "
                         f"{_reason(error)}; the file is corrupt or truncated, re-encode or "
                         "re-download it") from None
    raise VideoError(f"{path}: no frame could be decoded ({stream.codec_context.name}); the "
                     "file is corrupt, truncated or empty, re-encode or re-download it")


def _reason(error: av.FFmpegError) -> str:
    """FFmpeg's message without the file name PyAV appends."""
    text = getattr(error, "strerror", None) or str(error)
    return str(text).split(": '")[0].rstrip(".")


def _stream_fps(stream: av.video.VideoStream) -> float:
    """Frames per second: the stream's average rate, else its guessed or base rate; 0.0 if unknown."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _duration_s(container: av.container.InputContainer, stream: av.video.VideoStream) -> float:
    """Stream duration in seconds (container duration as a fallback; 0.0 if unknown)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


# ----------------------------------------------------------------------------- rotation


def _display_matrix(frame: av.VideoFrame) -> np.ndarray | None:
    """The frame's 3x3 display matrix (16.16 fixed point decoded; None if it has none)."""
    for data in frame.side_data:
        if "DISPLAYMATRIX" in str(data.type):
            raw = bytes(data)
            if len(raw) >= 36:
                m = np.array(struct.unpack("<9i", raw[:36]), dtype=np.float64)
                m[[0, 1, 3, 4, 6, 7]] /= 65536.0  # a, b, c, d, x, y are 16.16; u, v, w 2.30
                return m.reshape(3, 3)
    return None


def display_transform(matrix: np.ndarray | None) -> tuple[int, bool]:
    """FFmpeg display matrix -> ``(rotation, mirror)``: display = mirror-left-right(
    rotate-counter-clockwise(coded, rotation)), rotation in {0, 90, 180, 270}.

    FFmpeg's matrix ``[[a, b, u], [c, d, v], [x, y, w]]`` maps a coded pixel ``(p, q)``
    (x right, y down) to the displayed ``(a p + c q, b p + d q)``; its 2x2 part is
    rounded to the nearest quarter turn (with a mirror when its determinant is negative).
    """
    if matrix is None:
        return 0, False
    m = np.asarray(matrix, dtype=np.float64)
    a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
    if not np.all(np.isfinite([a, b, c, d])) or abs(a * d - b * c) < 1e-9:
        return 0, False
    mirror = a * d - b * c < 0
    if mirror:  # undo a left-right mirror applied after the rotation: negate the output x
        a, c = -a, -c
    # Pure rotation by theta counter-clockwise on screen (y down): the image x axis (1, 0)
    # goes to (a, b) = (cos theta, -sin theta).
    theta = math.degrees(math.atan2(-b, a))
    rotation = int(round(theta / 90.0)) % 4 * 90
    return rotation, bool(mirror)


def apply_display_transform(frames: np.ndarray, rotation: int, mirror: bool) -> np.ndarray:
    """Rotate ``(..., H, W, C)`` frames counter-clockwise by ``rotation`` degrees (multiple
    of 90), then mirror left-right if ``mirror``. Returns a view when possible."""
    k = (int(rotation) // 90) % 4
    out = np.rot90(frames, k=k, axes=(-3, -2)) if k else frames
    return out[..., :, ::-1, :] if mirror else out


# ------------------------------------------------------------------------------ decoding


def _timed(decoded: Iterator[av.VideoFrame], info: VideoInfo) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """``(index, time s, frame)`` for each decoded frame; ``_Damaged`` if FFmpeg fails
    mid-file (after the frames before the damage)."""
    last_time, step = None, 1.0 / info.fps if info.fps > 0 else 0.0
    count = 0
    while True:
        try:
            frame = next(decoded)
        except StopIteration:
            return
        except av.FFmpegError as error:
            raise _Damaged(f"cannot decode {info.path} after frame {count}: {_reason(error)}; the "
                           "file is corrupt or truncated, re-encode or re-download it") from None
        last_time = _frame_time(frame, last_time, step)
        yield count, last_time, frame
        count += 1


def _frame_time(frame: av.VideoFrame, last: float | None, step: float) -> float:
    """Presentation time in seconds from the frame's pts (dts if none; else last + step)."""
    stamp = frame.pts if frame.pts is not None else frame.dts
    if stamp is not None and frame.time_base is not None:
        return float(stamp * frame.time_base)
    return 0.0 if last is None else last + step


def _rgb_converter(info: VideoInfo, size: tuple[int, int] | None,
                   rotate: bool) -> tuple[Callable[[av.VideoFrame], np.ndarray], int, bool]:
    """``(convert, rotation, mirror)``: ``convert(frame)`` gives the coded-orientation RGB
    array that becomes ``size`` (displayed (width, height); None: native) once rotated."""
    rotation, mirror = (info.rotation, info.mirror) if rotate else (0, False)
    if size is None:
        out_w, out_h = (info.width, info.height) if rotate else (info.coded_width, info.coded_height)
    else:
        out_w, out_h = int(size[0]), int(size[1])
    coded_w, coded_h = (out_h, out_w) if rotation % 180 else (out_w, out_h)  # before rotation
    resize = (coded_w, coded_h) != (info.coded_width, info.coded_height)
    flags = AREA_FLAGS if resize else SWS_FLAGS
    to_rgb = VideoReformatter()  # reused: a fresh converter per frame is 3x slower

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return to_rgb.reformat(frame, width=coded_w, height=coded_h, format="rgb24",
                               interpolation=flags, threads=1).to_ndarray()

    return convert, rotation, mirror


def iter_frames(video: str | os.PathLike | VideoInfo, batch_size: int = 32,
                size: tuple[int, int] | None = None, start: int = 0, stop: int | None = None,
                rotate: bool = True, strict: bool = True, threads: bool = True,
                prefetch: int = 0) -> Iterator[FrameBatch]:
    """Decode frames ``start <= index < stop`` of a video as RGB uint8 batches.

    ``size`` = displayed ``(width, height)`` to resize to (swscale's area filter, in the same
    pass as the YUV -> RGB conversion), None for the native size. Frames before ``start`` are
    decoded (H.264 needs them) but not converted. With ``strict``, a video that ends before
    the header's frame count (and before ``stop``) raises ``VideoError`` after its last
    decodable batch was yielded, and a read error mid-file (damaged or cut-off data) raises
    ``VideoError`` naming the frame; without it both just end the iteration (the frames
    before the damage are yielded).

    ``prefetch`` > 0 decodes up to that many batches ahead in a background thread (FFmpeg
    and swscale release the GIL), so decoding overlaps whatever the caller does with a
    batch (pose estimation); errors surface in the caller, in order.
    """
    info = video if isinstance(video, VideoInfo) else open_video(video)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    if size is not None and (int(size[0]) < 1 or int(size[1]) < 1):
        raise ValueError(f"size must be positive, got {size}")
    if prefetch > 0:
        return _prefetched(lambda: _iter_frames(info, batch_size, size, start, stop, rotate,
                                                strict, threads), int(prefetch))
    return _iter_frames(info, batch_size, size, start, stop, rotate, strict, threads)


def _prefetched(make: Callable[[], Iterator[FrameBatch]], depth: int) -> Iterator[FrameBatch]:
    """Run the iterator ``make()`` in a daemon thread, ``depth`` items ahead."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for item in make():
                while not stop.is_set():
                    try:
                        items.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(("end", done))
        except BaseException as error:  # forwarded to the consumer
            items.put(("error", error))

    thread = threading.Thread(target=work, name="sportanim-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def _iter_frames(info: VideoInfo, batch_size: int, size: tuple[int, int] | None, start: int,
                 stop: int | None, rotate: bool, strict: bool,
                 threads: bool) -> Iterator[FrameBatch]:
    convert, rotation, mirror = _rgb_converter(info, size, rotate)
    count, frames, index, times = 0, [], [], []
    try:
        with _open(info.path, threads) as (_, decoded):
            for i, t, frame in decoded:
                count = i + 1
                if i < start:
                    continue
                if stop is not None and i >= stop:
                    break
                frames.append(convert(frame))
                index.append(i)
                times.append(t)
                if len(frames) == batch_size:
                    yield _batch(frames, index, times, rotation, mirror)
                    frames, index, times = [], [], []
    except _Damaged as damage:
        if strict:
            raise VideoError(f"{damage}; re-download or re-encode the file") from None
    if frames:
        yield _batch(frames, index, times, rotation, mirror)
    wanted = info.frames if stop is None else min(stop, info.frames)
    if strict and info.frames and count < wanted - TRUNCATION_SLACK:
        raise VideoError(f"{info.path}: decoded {count} of {info.frames} frames; the file is "
                         "truncated, re-download or re-encode it")


def _batch(frames: list[np.ndarray], index: list[int], times: list[float], rotation: int,
           mirror: bool) -> FrameBatch:
    return FrameBatch(_upright(frames, rotation, mirror), np.asarray(index, dtype=np.int64),
                      np.asarray(times, dtype=np.float64))


def _upright(frames: list[np.ndarray], rotation: int, mirror: bool) -> np.ndarray:
    """Coded-orientation frames stacked and turned as a player shows them."""
    stacked = np.stack(frames)
    if rotation or mirror:
        stacked = np.ascontiguousarray(apply_display_transform(stacked, rotation, mirror))
    return stacked


def read_all(video: str | os.PathLike | VideoInfo, size: tuple[int, int] | None = None,
             start: int = 0, stop: int | None = None, rotate: bool = True,
             strict: bool = True) -> FrameBatch:
    """Every frame ``start <= index < stop`` in one :class:`FrameBatch` (mind the memory:
    ``N * H * W * 3`` bytes)."""
    batches = list(iter_frames(video, batch_size=256, size=size, start=start, stop=stop,
                               rotate=rotate, strict=strict))
    if not batches:
        path = video.path if isinstance(video, VideoInfo) else video
        raise VideoError(f"{path}: no frame in [{start}, {stop}); lower --start")
    if len(batches) == 1:
        return batches[0]
    return FrameBatch(np.concatenate([b.frames for b in batches]),
                      np.concatenate([b.index for b in batches]),
                      np.concatenate([b.time for b in batches]))


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode every frame of ``path`` as upright RGB. Returns ``(frames uint8 (T, H, W, 3),
    fps)``. ``VideoNotFoundError`` for a missing file; ``VideoError`` for a file that has no
    video stream, cannot be decoded, or holds fewer frames than its header says."""
    with _open(path, threads=True) as (info, decoded):  # one open: this runs per training item
        convert, rotation, mirror = _rgb_converter(info, None, rotate=True)
        frames = _upright([convert(frame) for _, _, frame in decoded], rotation, mirror)
    if info.frames and len(frames) < info.frames:
        raise VideoError(f"{info.path}: decoded {len(frames)} of {info.frames} frames; the file "
                         "is truncated, re-create it")
    return frames, info.fps


def read_frames(path: str | os.PathLike, limit: int | None = None,
                size: tuple[int, int] | None = None) -> tuple[np.ndarray, float, int]:
    """The first ``limit`` frames (all if None) of ``path`` as RGB in the stored orientation,
    resized to ``size`` = (width, height) if given. Returns (uint8 ``(n, H, W, 3)``, fps,
    total frames of the video: counted when decoding everything, else the header's count,
    counted by decoding on when the header has none). A video shorter than its header is
    not an error (the count says so); a damaged one is (``VideoError``)."""
    frames, total = [], 0
    with _open(path, threads=True) as (info, decoded):
        if info.fps <= 0:
            raise VideoError(f"{path}: unknown frame rate; re-mux the video with a frame rate")
        convert, _, _ = _rgb_converter(info, size, rotate=False)
        for i, _, frame in decoded:
            total = i + 1
            if limit is None or total <= limit:
                frames.append(convert(frame))
            elif info.frames > 0:
                total = info.frames
                break
    return np.stack(frames), info.fps, total
