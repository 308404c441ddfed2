"""Motion fidelity: does a video perform the motion that drove it?

A 2D keypoint detector (:mod:`sportanim.eval.keypoints`) finds the joints in every frame of
the video; they are compared with the DRIVING joints projected by the clip's camera.

- Body size of a frame: the larger side of the tight box around the driving joints'
  projections (all joints in front of the camera). The larger side, not the height, so a
  body stretched along the ice (a spiral, a fall) does not get a tiny tolerance.
- Scored joints: those the detector provides whose driving projection lies inside the
  frame. A scored joint the detector misses (confidence below ``confidence``) counts as
  wrong for PCK and is left out of AKD (the share found is reported beside).
- PCK: share of scored joints within ``threshold`` x body size of their driving position.
  Default ``PCK_THRESHOLD`` = 0.1 (about a head's height; 0.2 is reported beside it): at
  0.2 a joint may land on its neighbour (a wrist on the elbow) and still count.
- AKD: mean distance (px, at the video's size) of the found scored joints from their
  driving positions, and the same divided by the body size.

Per frame and per clip (a clip pools its frames' joints). A video with no skater gives
PCK 0 and no AKD.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportanim import fsjd
from sportanim.eval.keypoints import DEFAULT_CONFIDENCE, Keypoints2D
from sportanim.skeleton import project

PCK_THRESHOLD = 0.1
REPORTED_THRESHOLDS = (0.1, 0.2)


@dataclass
class MotionScores:
    """One clip's scores. Per frame ``(T,)`` arrays (NaN where a frame has no scored joint,
    or, for AKD, no found one); clip values pool all frames (None when undefined)."""

    pck_frames: np.ndarray
    akd_px_frames: np.ndarray
    akd_frames: np.ndarray       # normalised by the frame's body size
    pck: float | None
    akd_px: float | None
    akd: float | None
    found: float | None          # share of scored joints the detector found
    scored: int                  # joints scored over all frames
    threshold: float

    def summary(self) -> dict:
        return {"pck": self.pck, "akd_px": self.akd_px, "akd": self.akd, "found": self.found,
                "scored_joints": self.scored}


def body_size(pixels: np.ndarray) -> np.ndarray:
    """Larger side of the tight box of each frame's finite points ``(T, J, 2)`` -> ``(T,)``
    (NaN for a frame with fewer than two)."""
    finite = np.isfinite(pixels).all(-1)
    lo = np.where(finite[..., None], pixels, np.inf).min(1)
    hi = np.where(finite[..., None], pixels, -np.inf).max(1)
    side = (hi - lo).max(-1)
    return np.where(finite.sum(1) >= 2, side, np.nan)


def inside_frame(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool ``(T, J)``: points inside ``[0, width) x [0, height)``."""
    w, h = size
    with np.errstate(invalid="ignore"):
        return ((pixels[..., 0] >= 0) & (pixels[..., 0] < w) & (pixels[..., 1] >= 0)
                & (pixels[..., 1] < h))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def motion_scores(keypoints: Keypoints2D, driving: np.ndarray, intrinsics: np.ndarray,
                  threshold: float = PCK_THRESHOLD,
                  confidence: float = DEFAULT_CONFIDENCE) -> MotionScores:
    """Score detections of one video against driving joints ``(T, 24, 3)`` (mm, camera
    space) seen by ``intrinsics`` ``(3, 3)`` or ``(T, 3, 3)`` of the video's size."""
    driving = np.asarray(driving, dtype=np.float64)
    if driving.shape != (len(keypoints.xy), 24, 3):
        raise ValueError(f"the video has {len(keypoints.xy)} frames, the driving joints "
                         f"{driving.shape}; expected ({len(keypoints.xy)}, 24, 3)")
    target = project(driving, intrinsics)                                  # (T, 24, 2)
    size = body_size(target)                                               # (T,)
    provided = np.zeros(24, bool)
    provided[list(keypoints.provided)] = True
    scored = inside_frame(target, keypoints.size) & provided & np.isfinite(size)[:, None]
    found = scored & keypoints.found(confidence)
    dist = np.linalg.norm(keypoints.xy.astype(np.float64) - target, axis=-1)
    dist = np.where(found, dist, np.nan)
    norm = dist / np.where(np.isfinite(size), size, np.nan)[:, None]
    with np.errstate(invalid="ignore"):
        correct = found & (norm <= threshold)
    dist0, norm0 = np.nan_to_num(dist), np.nan_to_num(norm)
    n_scored, n_found = scored.sum(1), found.sum(1)
    total, total_found = int(scored.sum()), int(found.sum())

    def pooled(values: np.ndarray, count: int) -> float | None:
        return float(values.sum() / count) if count else None

    return MotionScores(
        pck_frames=_ratio(correct.sum(1), n_scored), akd_px_frames=_ratio(dist0.sum(1), n_found),
        akd_frames=_ratio(norm0.sum(1), n_found), pck=pooled(correct, total),
        akd_px=pooled(dist0, total_found), akd=pooled(norm0, total_found),
        found=pooled(found, total), scored=total, threshold=threshold)


def mean_of(values: list[float | None]) -> float | None:
    """Mean of the defined values, None if there are none."""
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarise(rows: list[dict], keys: tuple[str, ...]) -> dict:
    """Mean over clips of each key in ``rows`` (clips where it is undefined left out)."""
    return {key: mean_of([row[key] for row in rows]) for key in keys}


def score_clips(detector, root: str | os.PathLike, split: str | None = None,
                thresholds: tuple[float, ...] = REPORTED_THRESHOLDS) -> dict:
    """Detector accuracy on an FSJD folder's own videos and joints (ground truth): per
    clip PCK at each threshold, AKD and the share found; a summary over all clips and per
    domain label."""
    root = Path(root)
    rows = []
    for record in fsjd.read_manifest(root):
        if split is not None and record.split != split:
            continue
        clip = fsjd.load_clip(root, record)
        keypoints = detector.detect(clip["frames"])
        row = {"clip": record.id, "domain": record.labels.get("domain")}
        for t in thresholds:
            row[f"pck@{t}"] = motion_scores(keypoints, clip["joints"], clip["intrinsics"], t).pck
        row.update(motion_scores(keypoints, clip["joints"], clip["intrinsics"]).summary())
        rows.append(row)
    keys = tuple(f"pck@{t}" for t in thresholds) + ("akd_px", "akd", "found")
    domains = sorted({r["domain"] for r in rows if r["domain"]})
    summary = {"clips": len(rows), **summarise(rows, keys),
               "per_domain": {d: summarise([r for r in rows if r["domain"] == d], keys) for d in domains}}
    return {"summary": summary, "per_clip": rows}


def load_intrinsics(path: str | os.PathLike, clip_id: str) -> np.ndarray:
    """The ``intrinsics`` ``(3, 3)`` or ``(T, 3, 3)`` of a clip's ``.npz``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            K = archive["intrinsics"].astype(np.float64)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"clip {clip_id}: cannot read intrinsics from {path}: {error}") from None
    if K.shape[-2:] != (3, 3) or K.ndim not in (2, 3):
        raise ValueError(f"clip {clip_id}: {path} holds intrinsics {K.shape}, expected (3, 3)")
    return K
