"""Reading any common video for the dataset builder (PyAV): header facts, rotation, batches.

``open_video(path) -> VideoInfo`` reads the header and decodes the first frame (so a file
that opens but cannot be decoded fails here, with one clear line, not deep inside a build);
``iter_frames(path, batch_size=...)`` decodes RGB uint8 frames in batches, each with the
frame's decode-order index and its presentation time in seconds.

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
  no decodable frame, and a truncated one (fewer frames than the header promises, raised
  after the decodable frames were yielded when ``strict``).
"""

from __future__ import annotations

import math
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

from sportanim.video_io import SWS_FLAGS, VideoError, VideoNotFoundError

__all__ = ["VideoInfo", "FrameBatch", "VideoError", "VideoNotFoundError", "open_video",
           "iter_frames", "read_all", "display_transform", "apply_display_transform",
           "crop_resize", "VIDEO_EXTENSIONS", "find_videos"]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts",
                    ".mts", ".m2ts", ".wmv", ".flv", ".3gp")
# Downscaling through swscale's area filter (antialiased), bit-exact on every CPU.
AREA_FLAGS = Interpolation.AREA | Interpolation.BITEXACT
# A header whose frame count exceeds the decoded count by more than this is "truncated"
# (some muxers count a trailing frame that decoders drop).
TRUNCATION_SLACK = 1


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


# ------------------------------------------------------------------------------ opening


def open_video(path: str | os.PathLike) -> VideoInfo:
    """Header facts of ``path`` and the first frame's rotation; ``VideoError`` (one line,
    naming the file and the fix) when it is missing, empty, not a video, audio-only, in a
    codec this FFmpeg cannot decode, or has no decodable frame."""
    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            first = _first_frame(container, stream, path)
            rotation, mirror = display_transform(_display_matrix(first))
            coded_w, coded_h = int(stream.codec_context.width), int(stream.codec_context.height)
            if not coded_w or not coded_h:
                coded_w, coded_h = first.width, first.height
            width, height = (coded_h, coded_w) if rotation % 180 else (coded_w, coded_h)
            base, average = stream.base_rate, stream.average_rate
            fps = float(average or stream.guessed_rate or base or 0.0)
            vfr = bool(base and average and abs(float(base) - float(average)) > 0.01 * float(average))
            return VideoInfo(
                path=path, width=width, height=height, coded_width=coded_w, coded_height=coded_h,
                fps=fps, frames=int(stream.frames or 0), duration_s=_duration_s(container, stream),
                codec=stream.codec_context.name, rotation=rotation, mirror=mirror,
                time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 1),
                start_time_s=float(stream.start_time * stream.time_base)
                if stream.start_time is not None and stream.time_base else 0.0,
                variable_frame_rate=vfr, has_audio=bool(container.streams.audio))
    except av.FFmpegError as error:
        raise VideoError(f"cannot read {path}: {_reason(error)}; the file is corrupt, truncated "
                         "or not a video, re-encode or re-download it") from None


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
    path = Path(path)
    if not path.exists():
        raise VideoNotFoundError(f"video not found: {path}; check the path")
    if not path.is_file():
        raise VideoError(f"{path} is not a file; pass a video file (folders are expanded by "
                         "find_videos)")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes); the download or copy failed, fetch it again")
    return path


def _video_stream(container, path: Path):
    if not container.streams.video:
        what = "only audio" if container.streams.audio else "no video stream"
        raise VideoError(f"{path} has {what}; pass a video file")
    stream = container.streams.video[0]
    if stream.codec_context is None or stream.codec_context.codec is None:
        raise VideoError(f"{path}: its video codec cannot be decoded by this FFmpeg "
                         f"(libavcodec {'.'.join(map(str, av.library_versions.get('libavcodec', ())))}); "
                         "re-encode it to H.264")
    return stream


def _first_frame(container, stream, path: Path) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
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


def _duration_s(container, stream) -> float:
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
    rotation, mirror = (info.rotation, info.mirror) if rotate else (0, False)
    if size is None:
        out_w, out_h = (info.width, info.height) if rotate else (info.coded_width, info.coded_height)
    else:
        out_w, out_h = int(size[0]), int(size[1])
    coded_w, coded_h = (out_h, out_w) if rotation % 180 else (out_w, out_h)  # before rotation
    resize = (coded_w, coded_h) != (info.coded_width, info.coded_height)
    flags = AREA_FLAGS if resize else SWS_FLAGS
    path = info.path
    count, failure = 0, None
    frames, index, times = [], [], []
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise VideoError(f"cannot read {path}: {_reason(error)}; the file changed or is "
                         "corrupt, re-encode or re-download it") from None
    with container:
        stream = container.streams.video[0]
        if threads and info.coded_width * info.coded_height >= 256 * 256:
            stream.thread_type = "AUTO"
        to_rgb = VideoReformatter()  # reused: a fresh converter per frame is 3x slower
        last_time, step = None, 1.0 / info.fps if info.fps > 0 else 0.0
        decoded = container.decode(stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except av.FFmpegError as error:
                failure = error
                break
            i, count = count, count + 1
            t = _frame_time(frame, last_time, step)
            last_time = t
            if i < start:
                continue
            if stop is not None and i >= stop:
                break
            rgb = to_rgb.reformat(frame, width=coded_w, height=coded_h, format="rgb24",
                                  interpolation=flags, threads=1).to_ndarray()
            frames.append(rgb)
            index.append(i)
            times.append(t)
            if len(frames) == batch_size:
                yield _batch(frames, index, times, rotation, mirror)
                frames, index, times = [], [], []
    if failure is not None and strict:
        raise VideoError(f"cannot decode {path} after frame {count}: {_reason(failure)}; the "
                         "file is corrupt or truncated, re-encode or re-download it (or pass "
                         "strict=False to keep the frames before the damage)")
    if frames:
        yield _batch(frames, index, times, rotation, mirror)
    wanted = info.frames if stop is None else min(stop, info.frames)
    if strict and info.frames and count < wanted - TRUNCATION_SLACK:
        raise VideoError(f"{path}: decoded {count} of {info.frames} frames; the file is "
                         "truncated, re-download it (or pass strict=False to keep the frames "
                         "that decode)")


def _frame_time(frame: av.VideoFrame, last: float | None, step: float) -> float:
    """Presentation time in seconds from the frame's pts (dts if none; else last + step)."""
    stamp = frame.pts if frame.pts is not None else frame.dts
    if stamp is not None and frame.time_base is not None:
        return float(stamp * frame.time_base)
    return 0.0 if last is None else last + step


def _batch(frames: list[np.ndarray], index: list[int], times: list[float], rotation: int,
           mirror: bool) -> FrameBatch:
    stacked = np.stack(frames)
    if rotation or mirror:
        stacked = np.ascontiguousarray(apply_display_transform(stacked, rotation, mirror))
    return FrameBatch(stacked, np.asarray(index, dtype=np.int64), np.asarray(times, dtype=np.float64))


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
    return FrameBatch(np.concatenate([b.frames for b in batches]),
                      np.concatenate([b.index for b in batches]),
                      np.concatenate([b.time for b in batches]))


# ------------------------------------------------------------------------- crop + resize


def crop_resize(frames: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                fill: int = 0) -> np.ndarray:
    """Crop each frame to its box and resize the crop to ``size`` = (width, height).

    ``frames`` uint8 ``(N, H, W, 3)``; ``boxes`` float ``(N, 4)`` or ``(4,)`` as ``x0, y0,
    x1, y1`` pixels (continuous, top-left origin; may reach outside the frame: the outside is
    ``fill``). Uses swscale's area filter through one reused converter. The crop of pixel box
    ``(x0, y0, x1, y1)`` is rounded to whole pixels; camera intrinsics of the result are
    ``K' = S @ T @ K`` with ``T`` the shift by ``(-round(x0), -round(y0))`` and ``S`` the
    scale ``size / (round(x1) - round(x0), round(y1) - round(y0))`` (see
    :func:`crop_intrinsics`). Returns uint8 ``(N, size[1], size[0], 3)``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}")
    boxes = np.broadcast_to(np.asarray(boxes, dtype=np.float64), (len(frames), 4))
    out_w, out_h = int(size[0]), int(size[1])
    out = np.empty((len(frames), out_h, out_w, 3), dtype=np.uint8)
    scaler = VideoReformatter()
    _, h, w, _ = frames.shape
    for n, (frame, box) in enumerate(zip(frames, boxes)):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ValueError(f"crop box {box.tolist()} of frame {n} is empty")
        if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
            crop = frame[y0:y1, x0:x1]
        else:
            crop = np.full((y1 - y0, x1 - x0, 3), fill, dtype=np.uint8)
            sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if sx1 > sx0 and sy1 > sy0:
                crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
        if crop.shape[:2] == (out_h, out_w):
            out[n] = crop
            continue
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format="rgb24")
        out[n] = scaler.reformat(image, width=out_w, height=out_h, format="rgb24",
                                 interpolation=AREA_FLAGS, threads=1).to_ndarray()
    return out


def crop_intrinsics(intrinsics: np.ndarray, box, size: tuple[int, int]) -> np.ndarray:
    """Intrinsics ``(3, 3)`` of the crop made by :func:`crop_resize` from one box."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    K = np.array(intrinsics, dtype=np.float64)
    K[0, 2] -= x0
    K[1, 2] -= y0
    K[0] *= size[0] / (x1 - x0)
    K[1] *= size[1] / (y1 - y0)
    return K
