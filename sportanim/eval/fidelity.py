"""The motion-fidelity and appearance metrics of ``evaluate``: ``motion_pck``, ``motion_akd``
and ``appearance``, scored clip by clip with one keypoint pass per generated video.

Per clip: the driving joints are the generated clip's ``ID.npz`` when present (the motion
the generator was given), else the real clip's; the camera is the real clip's intrinsics,
so the generated video must have the real clip's size and as many frames as the driving
joints. The appearance reference is the image the generator was given: ``reference`` when
the caller passes one (``evaluate`` reads ``ID.reference.png`` beside the generated video,
which cross-drive generation writes: another athlete's picture), else the real clip's first
frame (the reference image of the paper's protocol). See :mod:`sportanim.eval.motion_fidelity` and
:mod:`sportanim.eval.appearance` for the measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sportanim.eval import appearance as A
from sportanim.eval.keypoints import make_detector
from sportanim.eval import weights as W
from sportanim.eval.motion_fidelity import PCK_THRESHOLD, mean_of, motion_scores
from sportanim.io.video import probe_video, read_video

METRICS = ("motion_pck", "motion_akd", "appearance")
# name -> (unit, lower is better)
INFO = {"motion_pck": ("", False), "motion_akd": ("px", True), "appearance": ("delta E (CIELAB)", True)}


def build_detector(keypoints: str | None):
    """``None``: the shipped synthetic-world detector; ``"mediapipe"``; else a detector folder."""
    if keypoints in (None, "heatmap"):
        return make_detector("heatmap")
    if keypoints == "mediapipe":
        return make_detector("mediapipe")
    return make_detector("heatmap", keypoints)


def calibrated_lpips(weights: dict | None):
    """The LPIPS extractor when the AlexNet weights are found (given or ``$SPORTANIM_ALEXNET``),
    else None: LPIPS of body crops with a random trunk would mean nothing."""
    from sportanim.eval.extractors import build_lpips

    path = W.resolve(W.ALEXNET, (weights or {}).get("alexnet"))
    return build_lpips(path) if path is not None else None


class FidelityAccumulator:
    """Per-clip motion and appearance scores, summarised by :meth:`results`."""

    def __init__(self, metrics: tuple[str, ...], detector, lpips=None,
                 threshold: float = PCK_THRESHOLD):
        self.metrics, self.detector, self.lpips, self.threshold = metrics, detector, lpips, threshold
        self.rows: list[dict] = []

    def add(self, clip_id: str, generated: np.ndarray, driving: np.ndarray,
            intrinsics: np.ndarray, real_video: Path, reference: np.ndarray | None = None) -> None:
        """Score one generated video ``(T, H, W, 3)``; appearance against ``reference``
        (uint8 ``(H, W, 3)``, the image the video was generated from; None: the real clip's
        first frame). ``ValueError`` (one line) if the video's size or length does not fit
        the real clip and the driving joints."""
        info = probe_video(real_video)
        t, h, w, _ = generated.shape
        if (w, h) != (info["width"], info["height"]):
            raise ValueError(f"clip {clip_id}: generated video is {w}x{h}, the real clip "
                             f"{info['width']}x{info['height']}; motion metrics project the "
                             "driving joints with the real clip's camera, generate at its size")
        if t != len(driving):
            raise ValueError(f"clip {clip_id}: generated video has {t} frames, its driving "
                             f"joints {len(driving)}; generate one frame per driving pose")
        keypoints = self.detector.detect(generated)
        scores = motion_scores(keypoints, driving, intrinsics, self.threshold)
        row = {"clip": clip_id, "pck": scores.pck, "akd_px": scores.akd_px, "akd": scores.akd,
               "found": scores.found, "given_reference": reference is not None}
        if "appearance" in self.metrics:
            if reference is None:
                reference = read_video(real_video)[0][0]
            row["delta_e"] = A.appearance_distance(self.detector, reference, generated, keypoints)["delta_e"]
            if self.lpips is not None:
                row["lpips_body"] = A.lpips_body(self.lpips.net, self.detector, reference,
                                                 generated, keypoints)
        self.rows.append(row)

    def results(self) -> dict[str, dict]:
        clips = [r["clip"] for r in self.rows]
        out = {}
        if "motion_pck" in self.metrics:
            # A clip with no scored joint (driving body entirely off-frame) has no PCK.
            out["motion_pck"] = {"value": mean_of([r["pck"] for r in self.rows]),
                                 "threshold": self.threshold,
                                 "found": mean_of([r["found"] for r in self.rows]),
                                 "per_clip": dict(zip(clips, (r["pck"] for r in self.rows)))}
        if "motion_akd" in self.metrics:
            out["motion_akd"] = {"value": mean_of([r["akd_px"] for r in self.rows]),
                                 "normalised": mean_of([r["akd"] for r in self.rows]),
                                 "clips_without_detections": sum(r["akd_px"] is None for r in self.rows),
                                 "per_clip": dict(zip(clips, (r["akd_px"] for r in self.rows)))}
        if "appearance" in self.metrics:
            given = sum(r["given_reference"] for r in self.rows)
            entry = {"value": mean_of([r["delta_e"] for r in self.rows]),
                     "per_clip": dict(zip(clips, (r["delta_e"] for r in self.rows))),
                     # which picture each clip's colours were compared with
                     "reference": f"{given} clips: the written ID.reference.png; "
                                  f"{len(self.rows) - given}: the real clip's first frame"}
            if self.lpips is not None:
                entry["lpips_body"] = mean_of([r["lpips_body"] for r in self.rows])
                entry.update({f"lpips_{k}": v for k, v in self.lpips.provenance().items()})
            out["appearance"] = entry
        provenance = self.detector.provenance()
        for name, entry in out.items():
            unit, lower = INFO[name]
            entry.update(unit=unit, lower_is_better=lower, calibrated=True,
                         keypoints=provenance)
        return out
