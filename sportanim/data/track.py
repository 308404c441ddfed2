"""Keep the main athlete's identity across frames. Numpy only.

Policy (honest about what it can and cannot do):

- It works on image boxes: per frame the candidates are every person a backend found
  (``PoseResult.candidates``; NLF finds several) or its single person (MediaPipe tracks one
  and never reports a second, so here the only choice is to keep or reject it).
- Seeding: with no identity yet, the candidate with the highest ``score * sqrt(box area) *
  centrality`` is taken (a broadcast camera keeps the skater large and near the centre).
- Following: a candidate continues the identity when its box centre lies within
  ``max_shift`` box diagonals of the last kept box (the limit grows by half for every
  further frame since the last kept one) and its box size is within a factor
  ``max_scale`` of it; of several, the nearest wins.
- A frame without such a candidate is *missing* (its joints NaN), never switched: a
  single-person backend that jumps to a referee or to the audience is rejected there.
- After ``reacquire_after`` missing frames in a row, or at a shot cut, the identity is
  dropped and seeded again: the next person kept starts a new ``segment``. The tracker
  cannot know whether it is the same athlete, so clips must not span two segments.
- Segments shorter than ``min_segment`` frames (a spurious detection that seeded) are
  dropped.

It does not re-identify people by appearance and cannot tell two overlapping, similarly
sized people apart once their boxes cross; what it prevents is the silent switch to a
distant or differently sized person, the common failure in competition footage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sportanim.data.pose import Candidates, PoseResult

__all__ = ["TrackConfig", "Track", "track_main_athlete"]


@dataclass(frozen=True)
class TrackConfig:
    max_shift: float = 0.5
    max_scale: float = 1.6
    min_score: float = 0.3
    reacquire_after: int = 15
    min_segment: int = 5


@dataclass
class Track:
    """The main athlete per frame. ``joints`` ``(N, 24, 3)`` (NaN where not kept),
    ``boxes`` ``(N, 4)``, ``score`` ``(N,)``, ``kept`` bool ``(N,)``, ``segment`` int ``(N,)``
    (identity segment from 0, -1 where not kept), ``chosen`` int ``(N,)`` (candidate index,
    -1 where none), ``rejected`` bool ``(N,)`` (a person was found but not kept: a would-be
    switch or a dropped short segment)."""

    joints: np.ndarray
    boxes: np.ndarray
    score: np.ndarray
    kept: np.ndarray
    segment: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray

    def segments(self) -> list[tuple[int, int, int]]:
        """``(segment id, first frame, last frame + 1)`` of each identity segment."""
        out = []
        for s in np.unique(self.segment[self.segment >= 0]):
            idx = np.flatnonzero(self.segment == s)
            out.append((int(s), int(idx[0]), int(idx[-1]) + 1))
        return out


def _per_frame(result: PoseResult) -> list[Candidates]:
    if result.candidates is not None:
        return result.candidates
    out, found = [], result.found
    for i in range(len(result)):
        if found[i] and np.isfinite(result.boxes[i]).all():
            out.append(Candidates(result.joints[i:i + 1], result.score[i:i + 1],
                                  result.boxes[i:i + 1]))
        else:
            out.append(Candidates(np.zeros((0, 24, 3), np.float32), np.zeros(0, np.float32),
                                  np.zeros((0, 4), np.float32)))
    return out


def _centre_diag(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.asarray(boxes, dtype=np.float64)
    centre = 0.5 * (boxes[..., :2] + boxes[..., 2:])
    diag = np.maximum(np.hypot(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]), 1e-6)
    return centre, diag


def track_main_athlete(result: PoseResult, config: TrackConfig | None = None,
                       cuts: Iterable[int] = ()) -> Track:
    """Choose the main athlete in every frame of ``result`` (see the module's policy).
    ``cuts``: shot cut frames, where the identity is dropped and seeded again."""
    c = config or TrackConfig()
    frames = _per_frame(result)
    n = len(frames)
    image_centre = np.asarray(result.intrinsics, dtype=np.float64)[:2, 2]
    cut_set = {int(x) for x in cuts}
    chosen = np.full(n, -1, dtype=np.int64)
    segment = np.full(n, -1, dtype=np.int64)
    rejected = np.zeros(n, dtype=bool)
    last_box, last_frame, misses, seg = None, -1, 0, -1
    for i, cand in enumerate(frames):
        if i in cut_set:
            last_box, misses = None, 0
        good = np.flatnonzero(np.asarray(cand.scores) >= c.min_score) if len(cand) else np.zeros(0, int)
        good = good[np.isfinite(cand.boxes[good]).all(axis=1)] if len(good) else good
        if len(good) == 0:
            misses += 1
            if last_box is not None and misses >= c.reacquire_after:
                last_box = None
            continue
        centre, diag = _centre_diag(cand.boxes[good])
        if last_box is None:
            off = np.linalg.norm(centre - image_centre, axis=1) / max(np.linalg.norm(image_centre), 1e-6)
            area = np.prod(np.maximum(cand.boxes[good, 2:] - cand.boxes[good, :2], 0), axis=1)
            value = cand.scores[good] * np.sqrt(area) * (1.0 - 0.5 * np.clip(off, 0, 1))
            k = int(good[int(np.argmax(value))])
            seg += 1
        else:
            last_centre, last_diag = _centre_diag(last_box)
            gap = i - last_frame
            limit = c.max_shift * last_diag * (1.0 + 0.5 * (gap - 1))
            dist = np.linalg.norm(centre - last_centre, axis=1)
            ratio = diag / last_diag
            ok = (dist <= limit) & (ratio <= c.max_scale) & (ratio >= 1.0 / c.max_scale)
            if not ok.any():
                rejected[i] = True
                misses += 1
                if misses >= c.reacquire_after:
                    last_box = None
                continue
            k = int(good[np.flatnonzero(ok)[int(np.argmin(dist[ok]))]])
        chosen[i], segment[i] = k, seg
        last_box, last_frame, misses = np.asarray(cand.boxes[k], dtype=np.float64), i, 0
    # drop short segments (spurious seeds)
    for s in np.unique(segment[segment >= 0]):
        idx = np.flatnonzero(segment == s)
        if len(idx) < c.min_segment:
            segment[idx], chosen[idx], rejected[idx] = -1, -1, True
    # renumber segments 0..m-1
    ids = np.unique(segment[segment >= 0])
    remap = {int(s): r for r, s in enumerate(ids)}
    segment = np.array([remap.get(int(s), -1) for s in segment], dtype=np.int64)
    joints = np.full((n, 24, 3), np.nan, dtype=np.float32)
    boxes = np.full((n, 4), np.nan, dtype=np.float32)
    score = np.zeros(n, dtype=np.float32)
    for i in np.flatnonzero(chosen >= 0):
        k = chosen[i]
        joints[i], boxes[i], score[i] = frames[i].joints[k], frames[i].boxes[k], frames[i].scores[k]
    return Track(joints=joints, boxes=boxes, score=score, kept=chosen >= 0, segment=segment,
                 chosen=chosen, rejected=rejected)
