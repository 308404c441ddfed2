"""SMPL-24 skeleton, NLF's default camera, joint normalisation, and pictures of joints.

Conventions (as NLF's ``joints3d_nonparam`` and MTVCrafter):
joints are float32 ``(T, 24, 3)`` in SMPL order, camera coordinates (x right, y down,
z forward), millimetres. Pixel coordinates are continuous with the image's top-left
corner at (0, 0), so the centre of pixel (i, j) is (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

NUM_JOINTS = 24

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# Parent of each joint in the SMPL kinematic tree (-1 for the root).
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

# Bones as (parent, child) pairs: the 23 edges of the tree.
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)

# Left/right mirror of each joint (for flips and augmentation).
MIRROR: tuple[int, ...] = tuple(
    JOINT_INDEX[n.replace("left_", "R#").replace("right_", "left_").replace("R#", "right_")]
    for n in JOINT_NAMES
)

NLF_FOV_DEGREES = 55.0


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Length of each bone. ``(..., 24, 3) -> (..., 23)``, in the joints' unit."""
    joints = np.asarray(joints)
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)


def nlf_intrinsics(width: int, height: int, fov_degrees: float = NLF_FOV_DEGREES) -> np.ndarray:
    """NLF's default pinhole camera: ``fov_degrees`` across the larger image side,
    principal point at the image centre. Returns float64 ``(3, 3)``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    focal = max(width, height) / (2.0 * math.tan(math.radians(fov_degrees) / 2.0))
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-space points ``(..., 3)`` -> pixel coordinates ``(..., 2)``.

    ``intrinsics`` is ``(3, 3)`` or one matrix per leading index, e.g. ``(T, 3, 3)``
    for joints ``(T, 24, 3)``. Points at or behind the camera give non-finite pixels.
    """
    points = np.asarray(points, dtype=np.float64)
    K = np.asarray(intrinsics, dtype=np.float64)
    if K.ndim == 3:  # per-frame cameras: broadcast over the joint axis
        K = K[:, None]
    z = points[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = points[..., 0] / np.where(z > 0, z, np.nan)
        y = points[..., 1] / np.where(z > 0, z, np.nan)
    u = K[..., 0, 0] * x + K[..., 0, 1] * y + K[..., 0, 2]
    v = K[..., 1, 1] * y + K[..., 1, 2]
    return np.stack([u, v], axis=-1)


def back_project(pixels: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixel coordinates ``(..., 2)`` at camera depth ``(...)`` -> camera-space points ``(..., 3)``.

    Inverse of :func:`project` for points in front of the camera.
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    K = np.asarray(intrinsics, dtype=np.float64)
    if K.ndim == 3:
        K = K[:, None]
    y = (pixels[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (pixels[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    return np.stack([x * depth, y * depth, depth], axis=-1)


def normalize(joints: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """MTVCrafter's per-joint, per-axis standardisation: ``(joints - mean) / std``."""
    mean, std = _check_stats(mean, std)
    return (np.asarray(joints) - mean) / std


def denormalize(joints: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize`."""
    mean, std = _check_stats(mean, std)
    return np.asarray(joints) * std + mean


def _check_stats(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = np.asarray(mean), np.asarray(std)
    if mean.shape != (NUM_JOINTS, 3) or std.shape != (NUM_JOINTS, 3):
        raise ValueError(f"mean/std must be (24, 3), got {mean.shape} and {std.shape}")
    if not np.all(std > 0):
        raise ValueError("std must be positive for every joint and axis")
    return mean, std


# --------------------------------------------------------------------------- drawing


def camera_for_output(intrinsics: np.ndarray, image_size: tuple[int, int], width: int, height: int) -> np.ndarray:
    """Intrinsics of an ``image_size`` = (w, h) image after ``pipeline.resize_cover`` to
    (width, height): scaled to cover, then centre-cropped. (3, 3) or (T, 3, 3) as given."""
    w0, h0 = image_size
    scale = max(width / w0, height / h0)
    new_w, new_h = max(width, round(w0 * scale)), max(height, round(h0 * scale))
    k = np.array(intrinsics, dtype=np.float64)
    k[..., 0, :] *= new_w / w0
    k[..., 1, :] *= new_h / h0
    k[..., 0, 2] -= (new_w - width) // 2
    k[..., 1, 2] -= (new_h - height) // 2
    return k


_SIDE_COLOURS = {"left": (80, 170, 255), "right": (255, 120, 80), "centre": (230, 230, 230)}


def _bone_colour(child: int) -> tuple[int, int, int]:
    name = JOINT_NAMES[child]
    return _SIDE_COLOURS["left" if name.startswith("left") else "right" if name.startswith("right") else "centre"]


def draw_skeleton(joints: np.ndarray, intrinsics: np.ndarray, width: int, height: int,
                  background: tuple[int, int, int] = (20, 22, 28)) -> np.ndarray:
    """Joints (T, 24, 3) mm projected with ``intrinsics`` ((3, 3) or (T, 3, 3)) as bones on
    a dark (height, width) frame: left side blue, right orange, spine white. -> uint8 (T, H, W, 3).
    Joints behind the camera are left out."""
    uv = project(joints, intrinsics)  # (T, 24, 2)
    line = max(1, round(min(width, height) / 96))
    frames = []
    for points in uv:
        canvas = Image.new("RGB", (width, height), background)
        draw = ImageDraw.Draw(canvas)
        for parent, child in BONES:
            a, b = points[parent], points[child]
            if np.isfinite(a).all() and np.isfinite(b).all():
                draw.line([tuple(a), tuple(b)], fill=_bone_colour(child), width=line)
        frames.append(np.asarray(canvas))
    return np.stack(frames)


def overlay_skeleton(frames: np.ndarray, joints: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``frames`` (T, H, W, 3) with the projected bones of ``joints`` drawn over them."""
    t, h, w = frames.shape[:3]
    bones = draw_skeleton(joints, intrinsics, w, h, background=(0, 0, 0))
    mask = bones.any(axis=-1)
    out = frames.copy()
    out[mask] = bones[mask]
    return out
