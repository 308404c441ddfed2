"""Where jump motion lives: world frame, the generator's canonical camera, mirroring.

Clips store joints in their own (following, panning) broadcast camera. The generator needs
one frame for every clip, and the frozen 4DMoT needs joints that look like what it was
trained on (a camera about 3.3 m from the skater, the skater near the image centre). So:

1. camera -> world through the clip's extrinsics (metres, ice at z = 0, z up);
2. world -> canonical world: pelvis starts above the origin, net travel along +x;
3. canonical world -> canonical camera: a camera ``CAMERA_DISTANCE`` to the skater's right
   (at -y) looking along +y, pitched down, that rides after the pelvis with a one-pole lag.
   Its orientation never changes and its lag is a fixed recursion, so the world motion is
   recovered exactly from camera-space joints alone (:func:`canonical_to_world`): that is
   what makes decoded token codes a world motion with a physics one can measure.

Mirroring a world motion in the vertical x-z plane swaps left and right and turns a
counter-clockwise jump into a clockwise one (how both directions are trained).
"""

from __future__ import annotations

import math

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.skeleton import MIRROR, nlf_intrinsics
from sportanim.synth.camera import look_at

CAMERA_DISTANCE = 3.3  # m, the middle of the synthetic broadcast camera's 2.9-3.7 m
CAMERA_HEIGHT = 1.5  # m above the ice
CAMERA_AIM_HEIGHT = 1.15  # m aimed at straight ahead; chosen by the tokenizer's round trip on jump clips (143 mm vs 166-350 for 0.95-1.7)
RIDE_LAG = 0.4  # share of the remaining pelvis offset the camera catches up each frame
# Stature from the skeleton's ankle-to-head chain: the chain runs through joints that are not
# stacked vertically, so a line maps it to standing height (least squares on 12 synthetic
# athletes of 1.51-1.86 m, whose heights the world knows; residuals under 1 cm).
_STATURE_SCALE, _STATURE_OFFSET = 1.19, 0.035


def world_from_clip(joints_mm: np.ndarray, extrinsics_mm: np.ndarray) -> np.ndarray:
    """Camera-space joints ``(T, 24, 3)`` mm -> world ``(T, 24, 3)`` metres through the
    clip's ``(T, 3, 4)`` world->camera extrinsics (t in mm)."""
    R, t = extrinsics_mm[..., :3].astype(np.float64), extrinsics_mm[..., 3].astype(np.float64)
    return np.einsum("tji,tnj->tni", R, joints_mm.astype(np.float64) - t[:, None]) / 1000.0


def mirror(world: np.ndarray) -> np.ndarray:
    """World joints ``(T, 24, 3)`` mirrored in the x-z plane: left <-> right, ccw <-> cw."""
    out = world[:, list(MIRROR)].copy()
    out[..., 1] *= -1.0
    return out


def canonical_world(world: np.ndarray) -> np.ndarray:
    """Turn and shift world joints ``(T, 24, 3)`` so the pelvis starts at x = y = 0 and the
    net travel (first to last frame) runs along +x; heights are kept."""
    pelvis = world[:, J["pelvis"], :2]
    travel = pelvis[-1] - pelvis[0]
    angle = -math.atan2(travel[1], travel[0]) if np.linalg.norm(travel) > 1e-6 else 0.0
    c, s = math.cos(angle), math.sin(angle)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    shifted = world - np.array([pelvis[0, 0], pelvis[0, 1], 0.0])
    return shifted @ turn.T


def camera_rotation() -> np.ndarray:
    """The canonical camera's fixed world->camera rotation ``(3, 3)``."""
    eye = np.array([[0.0, -CAMERA_DISTANCE, CAMERA_HEIGHT]])
    return look_at(eye, np.array([[0.0, 0.0, CAMERA_AIM_HEIGHT]]))[0]


def _ride(pelvis_xy: np.ndarray) -> np.ndarray:
    """The camera's horizontal anchor ``(T, 2)`` lagging after the pelvis, starting on it."""
    anchor = np.empty_like(pelvis_xy)
    anchor[0] = pelvis_xy[0]
    for i in range(1, len(pelvis_xy)):
        anchor[i] = anchor[i - 1] + RIDE_LAG * (pelvis_xy[i] - anchor[i - 1])
    return anchor


def _eyes(anchor: np.ndarray) -> np.ndarray:
    eye = np.empty((len(anchor), 3))
    eye[:, 0], eye[:, 1], eye[:, 2] = anchor[:, 0], anchor[:, 1] - CAMERA_DISTANCE, CAMERA_HEIGHT
    return eye


def world_to_canonical(world: np.ndarray) -> np.ndarray:
    """Canonical world joints ``(T, 24, 3)`` m -> canonical camera ``(T, 24, 3)`` mm (float32)."""
    eye = _eyes(_ride(world[:, J["pelvis"], :2]))
    rel = world - eye[:, None]
    return (1000.0 * rel @ camera_rotation().T).astype(np.float32)


def canonical_to_world(camera_mm: np.ndarray) -> np.ndarray:
    """Inverse of :func:`world_to_canonical`: ``(T, 24, 3)`` mm -> world metres. The anchor
    steps by ``lag / (1 - lag)`` of the pelvis's offset from it each frame (the ride's
    recursion solved for the step), starting at the origin."""
    rel = np.asarray(camera_mm, dtype=np.float64) @ camera_rotation() / 1000.0  # R^T
    offset = rel[:, J["pelvis"], :2] + np.array([0.0, -CAMERA_DISTANCE])  # pelvis - anchor
    steps = RIDE_LAG / (1.0 - RIDE_LAG) * offset
    steps[0] = 0.0
    anchor = np.cumsum(steps, axis=0)
    return rel + _eyes(anchor)[:, None]


def canonical_intrinsics(size: int = 512) -> np.ndarray:
    """NLF's intrinsics at ``size`` x ``size``: how a canonical-camera motion is pictured."""
    return nlf_intrinsics(size, size).astype(np.float32)


def body_height(world: np.ndarray) -> float:
    """Standing height (m) from the skeleton's bone lengths ``(T, 24, 3)``: the median over
    frames of ankle-knee-hip plus pelvis-spine-neck-head, mapped by the fitted line."""
    chain = [("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("pelvis", "spine1"),
             ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck"), ("neck", "head")]
    lengths = sum(np.linalg.norm(world[:, J[a]] - world[:, J[b]], axis=-1) for a, b in chain)
    return _STATURE_SCALE * float(np.median(lengths)) + _STATURE_OFFSET


def rotation_direction(revolutions: float) -> str:
    """``ccw`` for positive (counter-clockwise from above) hip-axis turns, else ``cw``."""
    return "ccw" if revolutions >= 0 else "cw"
