"""From a jump window in a source video to a clip: frame span, resampling, crop, gates.

Numpy only; the builder (:mod:`sportanim.data.build`) decodes and writes.

- :func:`clip_span`: the source frames ``s..e`` of a clip. A window shorter than
  ``frames`` source frames grows around its centre (inside its shot) to ``frames``, so
  short jumps keep the source's frame rate and no frame is shown twice.
- :func:`sample_frames`: ``frames`` source frames evenly spaced *in time* over ``s..e``
  (presentation times, so variable frame rate is handled) and the clip's frame rate.
- :func:`follow_crop`: one square box per clip frame that follows the athlete: box centres
  smoothed over time, one side for the whole clip (the athlete's scale does not jump),
  large enough that the smoothed box always holds the athlete's raw box with a margin,
  kept inside the picture where it fits. The joints stay in camera space; the crop's
  camera is ``video.crop_intrinsics`` of each box (stored per frame).
- :func:`clip_quality`: gates (missing detections, jitter, athlete leaving the picture)
  and their reasons, for the manifest's ``quality``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sportanim.analysis import fill_missing
from sportanim.skeleton import BONES, project

__all__ = ["GateConfig", "clip_span", "sample_frames", "fill_missing", "follow_crop",
           "clip_quality"]

PELVIS = 0


@dataclass(frozen=True)
class GateConfig:
    """Quality gate limits (a clip over any limit gets ``passed: false`` and a reason)."""

    max_missing: float = 0.2      # share of clip frames without the athlete
    max_gap_s: float = 0.5        # longest run of such frames
    max_outside: float = 0.1      # share of frames with >= 3 joints outside the picture
    # Median |second difference| of root-relative joints, mm per frame² (depends on the
    # frame rate). On 13 MediaPipe clips of rendered programmes (30 fps) the 3 clips above
    # 100 had root-aligned MPJPE 144-235 mm against the truth, the others 107-170 mm;
    # exact joints give about 10, MediaPipe on the real dance videos 26-47.
    max_jitter_mm: float = 100.0
    max_bone_cv: float = 0.25     # mean over bones of std/mean bone length


def clip_span(start: int, end: int, shot: tuple[int, int], frames: int) -> tuple[int, int] | None:
    """Inclusive source frames ``(s, e)`` holding window ``start..end`` inside ``shot``
    (``[a, b)``), grown around the window's centre to at least ``frames`` frames; None
    when the shot holds fewer than ``frames`` frames."""
    a, b = int(shot[0]), int(shot[1])
    if b - a < frames:
        return None
    s, e = max(int(start), a), min(int(end), b - 1)
    if e - s + 1 < frames:
        centre = (s + e) / 2.0
        s = int(np.floor(centre - (frames - 1) / 2.0))
        s = min(max(s, a), b - frames)
        e = s + frames - 1
    return s, e


def sample_frames(times: np.ndarray, s: int, e: int, frames: int) -> tuple[np.ndarray, float]:
    """Indices ``(frames,)`` of the source frames nearest to ``frames`` times evenly
    spaced from ``times[s]`` to ``times[e]``, and the clip's frame rate."""
    t = np.asarray(times, dtype=np.float64)[s:e + 1]
    if len(t) < frames:
        raise ValueError(f"span {s}..{e} holds {len(t)} frames, fewer than {frames}")
    if len(t) == frames:
        index = np.arange(s, e + 1)
    else:
        wanted = np.linspace(t[0], t[-1], frames)
        right = np.clip(np.searchsorted(t, wanted), 1, len(t) - 1)
        nearer_left = wanted - t[right - 1] <= t[right] - wanted
        index = s + np.where(nearer_left, right - 1, right)
    duration = float(times[index[-1]] - times[index[0]])
    fps = (frames - 1) / duration if duration > 0 else 30.0
    return index.astype(np.int64), fps


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of ``(T, D)`` along time (edge-padded)."""
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    half = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, [(half, half), (0, 0)], mode="edge")
    return np.stack([np.convolve(padded[:, d], kernel, mode="valid") for d in range(x.shape[1])],
                    axis=1)


def follow_crop(boxes: np.ndarray, found: np.ndarray, frame_size: tuple[int, int],
                margin: float = 1.25, sigma: float = 3.0, min_side: float = 16.0) -> np.ndarray:
    """Square crop boxes ``(T, 4)`` (x0, y0, x1, y1 px) following the athlete's boxes
    ``(T, 4)`` (rows where ``found`` is False are interpolated). ``sigma``: smoothing in
    clip frames; ``margin``: side over the athlete's largest extent (after smoothing)."""
    b = fill_missing(boxes, found)
    centre = 0.5 * (b[:, :2] + b[:, 2:])
    half_extent = 0.5 * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    smooth = _smooth(centre, sigma)
    # Half side so that every raw box fits in its smoothed square: extent + drift.
    reach = half_extent + np.abs(centre - smooth).max(axis=1)
    side = max(2.0 * margin * float(reach.max()), min_side)
    width, height = frame_size
    for axis, length in ((0, width), (1, height)):
        if side <= length:
            smooth[:, axis] = np.clip(smooth[:, axis], side / 2.0, length - side / 2.0)
        else:  # larger than the picture: centre it, the rest is padding
            smooth[:, axis] = length / 2.0
    return np.concatenate([smooth - side / 2.0, smooth + side / 2.0], axis=1)


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def clip_quality(joints: np.ndarray, found: np.ndarray, intrinsics: np.ndarray,
                 frame_size: tuple[int, int], fps: float,
                 config: GateConfig | None = None) -> dict:
    """Quality of a clip's raw track at the source rate: ``joints`` ``(T, 24, 3)`` (NaN
    where not found), camera ``intrinsics`` of the source picture of ``frame_size``.

    Returns ``passed``, ``reasons`` (one short line per failed gate) and the measures:
    ``missing`` (share of frames), ``longest_gap_s``, ``outside`` (share of found frames
    with 3 or more joints outside the picture), ``jitter_mm`` (median over frames of the
    mean |second difference| of root-relative joints, mm per frame², on frames whose
    neighbours are found: noise shows there, a smooth motion barely does) and
    ``bone_cv`` (mean over the 23 bones of the std/mean of their length)."""
    c = config or GateConfig()
    j = np.asarray(joints, dtype=np.float64)
    found = np.asarray(found, dtype=bool)
    n = len(j)
    missing = float(1.0 - found.mean()) if n else 1.0
    gap_s = _longest_run(~found) / fps
    width, height = frame_size
    px = project(j[found], intrinsics)
    out_of_picture = ~((px[..., 0] >= 0) & (px[..., 0] <= width)
                       & (px[..., 1] >= 0) & (px[..., 1] <= height))
    outside = float((out_of_picture.sum(axis=1) >= 3).mean()) if found.any() else 0.0
    rel = j - j[:, PELVIS:PELVIS + 1]
    triple = found[:-2] & found[1:-1] & found[2:] if n >= 3 else np.zeros(0, bool)
    if triple.any():
        second = rel[2:] - 2 * rel[1:-1] + rel[:-2]
        jitter = float(np.median(np.linalg.norm(second[triple], axis=-1).mean(axis=-1)))
    else:
        jitter = 0.0
    if found.sum() >= 2:
        lengths = np.linalg.norm(j[found][:, [q for _, q in BONES]] - j[found][:, [p for p, _ in BONES]],
                                 axis=-1)
        bone_cv = float((lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-6)).mean())
    else:
        bone_cv = 0.0
    reasons = []
    if missing > c.max_missing:
        reasons.append(f"athlete missing in {missing:.0%} of frames (limit {c.max_missing:.0%})")
    if gap_s > c.max_gap_s:
        reasons.append(f"athlete missing for {gap_s:.2f} s in a row (limit {c.max_gap_s} s)")
    if outside > c.max_outside:
        reasons.append(f"athlete partly outside the picture in {outside:.0%} of frames "
                       f"(limit {c.max_outside:.0%})")
    if jitter > c.max_jitter_mm:
        reasons.append(f"jittery joints: {jitter:.0f} mm/frame² (limit {c.max_jitter_mm:.0f})")
    if bone_cv > c.max_bone_cv:
        reasons.append(f"unstable bone lengths: {bone_cv:.2f} std/mean (limit {c.max_bone_cv})")
    return {"passed": not reasons, "reasons": reasons, "missing": round(missing, 4),
            "longest_gap_s": round(gap_s, 3), "outside": round(outside, 4),
            "jitter_mm": round(jitter, 1), "bone_cv": round(bone_cv, 4), "limits": asdict(c)}
