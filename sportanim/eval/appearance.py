"""Appearance consistency: does a generated video keep the look of the reference athlete?

Colour distance (needs no downloaded weights): the body is found from a keypoint
detector's joints, in the reference image and in the video's frames. Colours are read
along the middle of each bone (from a fifth to four fifths of its length, where the limb
covers the line even when a joint is off by a pixel or two) and grouped into body parts
that a costume colours differently (torso, upper arms, forearms, thighs, shins, boots,
head). Each part's colour is the median, in CIELAB, over all its samples; the distance is
the mean over the parts seen in both of the CIE76 colour difference (Euclidean in L*a*b*,
about 2.3 is a just-noticeable difference) between the video's and the reference's colour.
A video in which no part is found scores None.

LPIPS of body crops (where the AlexNet weights of ``sportanim.eval.weights`` are given):
square crops around the detected joints (10% margin) of the reference and of every
``LPIPS_STRIDE``-th frame, resized to ``LPIPS_SIZE``, their LPIPS averaged. The pose
changes between frames, so this mixes pose with look; the colour distance does not.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import rgb2lab

from sportanim.eval.keypoints import DEFAULT_CONFIDENCE, Keypoints2D
from sportanim.skeleton import JOINT_INDEX

_J = JOINT_INDEX
PARTS: dict[str, tuple[tuple[int, int], ...]] = {
    "torso": ((_J["pelvis"], _J["spine2"]), (_J["spine2"], _J["neck"]),
              (_J["left_hip"], _J["right_shoulder"]), (_J["right_hip"], _J["left_shoulder"])),
    "upper_arms": ((_J["left_shoulder"], _J["left_elbow"]), (_J["right_shoulder"], _J["right_elbow"])),
    "forearms": ((_J["left_elbow"], _J["left_wrist"]), (_J["right_elbow"], _J["right_wrist"])),
    "thighs": ((_J["left_hip"], _J["left_knee"]), (_J["right_hip"], _J["right_knee"])),
    "shins": ((_J["left_knee"], _J["left_ankle"]), (_J["right_knee"], _J["right_ankle"])),
    "boots": ((_J["left_ankle"], _J["left_foot"]), (_J["right_ankle"], _J["right_foot"])),
    "head": ((_J["neck"], _J["head"]),),
}
ALONG = np.linspace(0.2, 0.8, 5)  # where along a bone colours are read
LPIPS_SIZE = 64
LPIPS_STRIDE = 4


def _bilinear(frame: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Colours ``(N, 3)`` float of ``frame`` ``(H, W, 3)`` at continuous pixel points ``(N, 2)``."""
    h, w, _ = frame.shape
    x = np.clip(xy[:, 0] - 0.5, 0, w - 1)
    y = np.clip(xy[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    f = frame.astype(np.float64)
    top = f[y0, x0] * (1 - fx) + f[y0, x1] * fx
    bottom = f[y1, x0] * (1 - fx) + f[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def part_colours(frames: np.ndarray, keypoints: Keypoints2D,
                 confidence: float = DEFAULT_CONFIDENCE) -> dict[str, np.ndarray]:
    """Median CIELAB colour ``(3,)`` of each body part seen in ``frames`` ``(T, H, W, 3)``
    (bones whose two joints were both found and lie inside the frame)."""
    found = keypoints.found(confidence)
    w, h = keypoints.size
    samples: dict[str, list[np.ndarray]] = {part: [] for part in PARTS}
    for t, frame in enumerate(frames):
        xy = keypoints.xy[t].astype(np.float64)
        ok = found[t] & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        for part, bones in PARTS.items():
            for a, b in bones:
                if ok[a] and ok[b]:
                    points = xy[a] + ALONG[:, None] * (xy[b] - xy[a])
                    samples[part].append(_bilinear(frame, points))
    out = {}
    for part, chunks in samples.items():
        if chunks:
            rgb = np.concatenate(chunks) / 255.0
            out[part] = np.median(rgb2lab(rgb[None])[0], axis=0)
    return out


def colour_distance(reference: dict[str, np.ndarray], video: dict[str, np.ndarray]) -> dict:
    """Mean CIE76 difference over the parts in both ``part_colours`` results; per part too."""
    common = [p for p in PARTS if p in reference and p in video]
    per_part = {p: float(np.linalg.norm(video[p] - reference[p])) for p in common}
    return {"delta_e": float(np.mean(list(per_part.values()))) if common else None,
            "parts": per_part}


def appearance_distance(detector, reference: np.ndarray, frames: np.ndarray,
                        keypoints: Keypoints2D | None = None,
                        confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Colour distance of ``frames`` ``(T, H, W, 3)`` from the athlete in ``reference``
    ``(H, W, 3)``; ``keypoints`` of ``frames`` if already detected."""
    ref_points = detector.detect(reference[None])
    keypoints = keypoints if keypoints is not None else detector.detect(frames)
    return colour_distance(part_colours(reference[None], ref_points, confidence),
                           part_colours(frames, keypoints, confidence))


def body_crops(frames: np.ndarray, keypoints: Keypoints2D, size: int = LPIPS_SIZE,
               confidence: float = DEFAULT_CONFIDENCE) -> tuple[torch.Tensor, np.ndarray]:
    """Square crops around the found joints, resized to ``size``: float ``(N, 3, size, size)``
    in [-1, 1] of the frames with at least two found joints, and those frames' indices."""
    found = keypoints.found(confidence)
    crops, kept = [], []
    for t, frame in enumerate(frames):
        pts = keypoints.xy[t][found[t]]
        if len(pts) < 2:
            continue
        centre = 0.5 * (pts.min(0) + pts.max(0))
        half = 0.5 * 1.2 * max(float((pts.max(0) - pts.min(0)).max()), 8.0)
        # affine_grid's normalised coordinates: crop box -> [-1, 1] of the frame
        h, w = frame.shape[:2]
        theta = torch.tensor([[half * 2 / w, 0, centre[0] * 2 / w - 1],
                              [0, half * 2 / h, centre[1] * 2 / h - 1]], dtype=torch.float32)
        image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 127.5 - 1
        grid = F.affine_grid(theta[None], [1, 3, size, size], align_corners=False)
        crops.append(F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False))
        kept.append(t)
    if not crops:
        return torch.zeros(0, 3, size, size), np.zeros(0, int)
    return torch.cat(crops), np.array(kept)


@torch.no_grad()
def lpips_body(metric, detector, reference: np.ndarray, frames: np.ndarray,
               keypoints: Keypoints2D | None = None, stride: int = LPIPS_STRIDE,
               confidence: float = DEFAULT_CONFIDENCE) -> float | None:
    """Mean LPIPS (``metric``: the lpips extractor's net) between the reference's body crop
    and every ``stride``-th frame's; None when the body is missing in either."""
    keypoints = keypoints if keypoints is not None else detector.detect(frames)
    ref, _ = body_crops(reference[None], detector.detect(reference[None]), confidence=confidence)
    chosen = np.arange(0, len(frames), stride)
    sub = Keypoints2D(keypoints.xy[chosen], keypoints.confidence[chosen], keypoints.provided, keypoints.size)
    crops, _ = body_crops(frames[chosen], sub, confidence=confidence)
    if not len(ref) or not len(crops):
        return None
    return float(metric(crops, ref.expand(len(crops), -1, -1, -1)).mean())
