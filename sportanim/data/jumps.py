"""Jump windows from a 3D pose track in camera space (no annotations). Numpy only.

A jump is a short burst of fast rotation of the hip axis about the vertical during which
both ankles leave the ice. In camera coordinates neither the vertical nor the ice is known
and a broadcast camera pans, tilts and rides along, so a height along one fixed "up" is
off by (up error) x (distance to the camera): 5 degrees at 3.5 m is 0.3 m, as high as a
jump. Rotation about the vertical is far less sensitive to a small tilt of the axis, so it
leads, and heights are only compared within a second around each burst:

1. Runs: the track is cut at shot cuts, at identity-segment changes and where the person
   is missing for more than ``max_gap_s`` (shorter gaps are interpolated linearly).
2. Up of a run: the mean unit pelvis -> neck vector (``analysis.estimate_up_axis(...,
   feet=None)``: its ground-plane refinement assumes a static camera).
3. Rotation bursts: ``|analysis.rotation_speed|`` of the hip axis about that up (smoothed
   over 3 frames) above ``spin_on`` rev/s, widened while above ``spin_off`` (hysteresis);
   bursts at most ``merge_gap`` frames apart are merged. A burst longer than
   ``max_burst_s`` is a spin, one with fewer than ``min_revolutions`` turns a turn; both
   are dropped. With ``undirected_hips`` a frame-to-frame turn of more than 3/8 turn
   loses half a turn, so a left/right swap of the pose estimator is not a burst (true
   rotation must stay below 3/8 turn per frame: 11 rev/s at 30 fps, 5.6 at 15 fps).
   A skater turns fast only in the air (or in a spin), so on exact joints the burst
   starts the frame after take-off and ends the frame before landing.
4. Flight test: the lower ankle's height along the body's own up (pelvis -> neck, smoothed
   over ``up_smooth_s``; it follows the camera's tilt, which a fixed up would not) must
   peak at least ``margin_m`` above the line through its medians over the ``baseline_s``
   before and after the burst. This rejects fast turns on the ice; the lean of a skater
   biases such heights by decimetres, so the test only compares a burst with its
   neighbourhood and does not date the flight. A burst that fails it still counts when
   its peak rotation reaches ``flight_spin`` rev/s with at least ``flight_revolutions``
   turns: MediaPipe's depth makes the ankles' height useless in the air (on rendered
   programmes it rejected 2 of 15 jumps whose true lift was 0.3-0.5 m), while turning
   that fast for a whole turn does not happen on the ice outside a spin (too long: see
   ``max_burst_s``). Fast multi-turn twizzles would pass; the lift test alone would not.
5. Take-off = the frame before the burst (last on the ice), landing = the frame after it;
   the window adds ``before_s`` before take-off and ``after_s`` after landing, clipped to
   the run, so both stay inside.

``score`` in [0, 1] grows with the turns (saturating at one revolution) and the lift
(saturating at 0.2 m). Synthetic skaters do not spin; real spins are dropped by
``max_burst_s`` and by the flight test, which is the part to check on real footage.

Measured (``benchmarks/data.py``): on the exact camera-space joints of 12 synthetic
programmes (60 jumps) precision and recall 1.0, take-off/landing within 1 frame; from
MediaPipe on the rendered programmes (3 x 5 jumps) 1.0 / 1.0 at 256 px and 0.94 / 1.0 at
512 px, timing off by 2 frames on average (22 at worst); on the real practice-rink double
axel the window holds both labelled frames (take-off exact, landing 14 frames late), with
-1.6 turns for 2.5 (MediaPipe's hips lag in the air). ``revolutions`` is therefore a rough
count and ``height_m`` is meaningful only on accurate 3D (MediaPipe's depth noise makes it
metres).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from sportanim.analysis import TWO_PI, estimate_up_axis, fill_missing, flight_phases, hip_heading, widen_runs

__all__ = ["JumpConfig", "JumpWindow", "detect_jump_windows", "match_windows", "track_runs"]

PELVIS, L_HIP, R_HIP, L_ANKLE, R_ANKLE, NECK = 0, 1, 2, 7, 8, 12


@dataclass(frozen=True)
class JumpConfig:
    undirected_hips: bool = True
    spin_on: float = 2.0
    spin_off: float = 1.0
    merge_gap: int = 2
    max_burst_s: float = 1.5
    min_revolutions: float = 0.6
    baseline_s: float = 0.4
    up_smooth_s: float = 0.3
    margin_m: float = 0.08
    flight_spin: float = 3.5
    flight_revolutions: float = 1.0
    min_air_s: float = 0.15
    before_s: float = 0.6
    after_s: float = 0.5
    max_gap_s: float = 0.25
    min_run_s: float = 1.0


@dataclass(frozen=True)
class JumpWindow:
    """Frames ``start..end`` (inclusive) hold a jump taking off after frame ``takeoff``
    (last frame on the ice) and landing at ``landing`` (first frame back on it).
    ``revolutions`` (signed, counter-clockwise seen from above positive), ``air_s``,
    ``height_m`` (peak lift of the lower ankle over its neighbourhood, along the body's
    axis: see the module notes), ``score`` in [0, 1]."""

    start: int
    end: int
    takeoff: int
    landing: int
    score: float
    revolutions: float
    air_s: float
    height_m: float

    def to_dict(self) -> dict:
        return asdict(self)


def track_runs(valid: np.ndarray, cuts: Iterable[int] = (), max_gap: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` runs (stop exclusive) of frames that are valid or inside a gap of at
    most ``max_gap`` invalid frames between valid ones, never crossing a cut."""
    valid = np.asarray(valid, dtype=bool)
    n = len(valid)
    bounds = [0, *sorted(int(c) for c in cuts if 0 < c < n), n]
    runs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = np.flatnonzero(valid[a:b]) + a
        if len(idx) == 0:
            continue
        start = idx[0]
        for prev, cur in zip(idx[:-1], idx[1:]):
            if cur - prev - 1 > max_gap:
                runs.append((int(start), int(prev) + 1))
                start = cur
        runs.append((int(start), int(idx[-1]) + 1))
    return runs


def _fill_gaps(x: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN frames of ``(T, J, 3)`` (ends held constant)."""
    ok = np.isfinite(x).all(axis=(1, 2))
    return fill_missing(x, ok) if ok.any() else np.array(x, dtype=np.float64)


def _moving(x: np.ndarray, window: int, fn) -> np.ndarray:
    """``fn`` over a centred window of ``window`` frames (edge-padded) along axis 0."""
    half = max(window // 2, 0)
    padded = np.pad(x, [(half, half)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)
    return fn(view, axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def detect_jump_windows(joints: np.ndarray, fps: float, cuts: Iterable[int] = (),
                        config: JumpConfig | None = None,
                        segments: np.ndarray | None = None) -> list[JumpWindow]:
    """Jump windows of a SMPL-24 track ``(T, 24, 3)``, camera space, mm (NaN where no person).

    ``cuts``: shot cut frames (no window crosses one); ``segments``: optional ``(T,)``
    identity segment ids from :func:`sportanim.data.track.track_main_athlete` (a change of
    id is treated as a cut). See the module docstring for the method."""
    c = config or JumpConfig()
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (24, 3):
        raise ValueError(f"joints must be (T, 24, 3) SMPL-24, got {j.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    cuts = set(int(x) for x in cuts)
    if segments is not None:
        seg = np.asarray(segments)
        kept = np.flatnonzero(seg >= 0)
        cuts |= {int(b) for a, b in zip(kept[:-1], kept[1:]) if seg[a] != seg[b]}
    valid = np.isfinite(j).all(axis=(1, 2))
    out: list[JumpWindow] = []
    for a, b in track_runs(valid, cuts, max_gap=int(round(c.max_gap_s * fps))):
        if b - a >= max(int(round(c.min_run_s * fps)), 3):
            out.extend(_detect_run(_fill_gaps(j[a:b]), fps, c, a))
    return out


def _detect_run(j: np.ndarray, fps: float, c: JumpConfig, offset: int) -> list[JumpWindow]:
    n = len(j)
    body_up = _unit(j[:, NECK] - j[:, PELVIS])
    up = estimate_up_axis(j, pelvis=PELVIS, neck=NECK, feet=None)
    heading = hip_heading(j[:, L_HIP], j[:, R_HIP], up=up)
    if c.undirected_hips:
        heading = _undirected(heading)
    speed = _moving(np.abs(np.gradient(heading, 1.0 / fps) / TWO_PI), 3, np.mean)
    fast = _close_gaps(widen_runs(speed > c.spin_on, speed > c.spin_off), c.merge_gap)
    # Per-frame up for the lift test: the camera tilts to follow a jump, so one fixed up
    # would hide the rise; the body's own axis (lightly smoothed) follows the tilt.
    frame_up = _unit(_moving(body_up, max(int(round(c.up_smooth_s * fps)) | 1, 1), np.mean))
    lower = np.minimum(np.einsum("tk,tk->t", j[:, L_ANKLE], frame_up),
                       np.einsum("tk,tk->t", j[:, R_ANKLE], frame_up))
    pad = max(int(round(c.baseline_s * fps)), 2)
    found = []
    for s, e in flight_phases(fast, min_frames=max(int(round(c.min_air_s * fps)), 2)):
        if (e - s + 1) / fps > c.max_burst_s:
            continue  # a spin
        revolutions = float((heading[e] - heading[s]) / TWO_PI)
        if abs(revolutions) < c.min_revolutions:
            continue
        height = _lift(lower, s, e, pad) / 1000.0
        fast_enough = (speed[s:e + 1].max() >= c.flight_spin
                       and abs(revolutions) >= c.flight_revolutions)
        if not (height >= c.margin_m or fast_enough):
            continue  # a fast turn on the ice
        takeoff, landing = max(s - 1, 0), min(e + 1, n - 1)
        lift = min(height / 0.2, 1.0) if np.isfinite(height) else 0.0
        score = min(abs(revolutions), 1.0) * max(lift, 0.5 if fast_enough else 0.0)
        start = max(takeoff - int(round(c.before_s * fps)), 0)
        end = min(landing + int(round(c.after_s * fps)), n - 1)
        found.append(JumpWindow(start + offset, end + offset, takeoff + offset, landing + offset,
                                round(score, 4), round(revolutions, 3),
                                round((landing - takeoff - 1) / fps, 4), round(height, 4)))
    return found


def _undirected(heading: np.ndarray, limit: float = 0.75 * np.pi) -> np.ndarray:
    """Heading whose frame-to-frame steps larger than ``limit`` lose half a turn: a pose
    estimator that swaps left and right for a frame turns the hip axis by about half a
    turn, which this removes (true rotation must stay under 3/8 turn per frame)."""
    steps = np.diff(heading)
    steps = np.where(np.abs(steps) > limit, steps - np.pi * np.sign(steps), steps)
    return np.concatenate([heading[:1], heading[0] + np.cumsum(steps)])


def _lift(lower: np.ndarray, s: int, e: int, pad: int) -> float:
    """Peak of ``lower[s..e]`` above the line through its medians over the ``pad`` frames
    before ``s - 1`` and after ``e + 1`` (one side only at a run's end; NaN if neither)."""
    n = len(lower)
    a, b = max(s - 1 - pad, 0), min(e + 2 + pad, n)
    before, after = lower[a:max(s - 1, 0)], lower[min(e + 2, n):b]
    if len(before) < 2 and len(after) < 2:
        return float("nan")
    if len(before) < 2:
        before = after
    if len(after) < 2:
        after = before
    t = np.arange(s, e + 1)
    baseline = np.interp(t, [(a + s - 2) / 2.0, (e + 1 + b) / 2.0],
                         [np.median(before), np.median(after)])
    return float((lower[s:e + 1] - baseline).max())


def _close_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill False runs of at most ``gap`` frames between True frames."""
    out = mask.copy()
    if gap < 1:
        return out
    idx = np.flatnonzero(mask)
    for prev, cur in zip(idx[:-1], idx[1:]):
        if 1 < cur - prev <= gap + 1:
            out[prev:cur] = True
    return out


def match_windows(found: list[JumpWindow], labels: list[dict]) -> dict:
    """Precision/recall of detected windows against labelled jumps (dicts with
    ``takeoff_frame`` and ``landing_frame``): a window matches a label when it contains
    both frames; each label and each window matches at most once (greedy, nearest take-off
    first). Empty sets score 1."""
    pairs = []
    for wi, w in enumerate(found):
        for li, lab in enumerate(labels):
            up, down = int(lab["takeoff_frame"]), int(lab["landing_frame"])
            if w.start <= up and down <= w.end:
                pairs.append((abs(w.takeoff - up) + abs(w.landing - down), wi, li))
    used_w, used_l = set(), set()
    errors = []
    for dist, wi, li in sorted(pairs):
        if wi not in used_w and li not in used_l:
            used_w.add(wi)
            used_l.add(li)
            errors.append((found[wi].takeoff - int(labels[li]["takeoff_frame"]),
                           found[wi].landing - int(labels[li]["landing_frame"])))
    tp = len(used_w)
    return {"precision": tp / len(found) if found else 1.0,
            "recall": tp / len(labels) if labels else 1.0,
            "true_positives": tp, "found": len(found), "labelled": len(labels),
            "takeoff_error_frames": [e[0] for e in errors],
            "landing_error_frames": [e[1] for e in errors]}
