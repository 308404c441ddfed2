"""Soft blob shadows of the skater on the ice."""

from __future__ import annotations

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.camera import Camera
from sportanim.synth.render.layout import inside_rink
from sportanim.synth.render.rays import pixel_to_ray


def shadow_blobs(joints: np.ndarray) -> np.ndarray:
    """Soft shadows on the ice ``(T, 3, 4)``: (x, y, radius, strength) under the body and
    under each skate, fading as they leave the ice."""
    j = joints
    T = len(j)
    lowest = np.minimum(j[:, J["left_ankle"], 2], j[:, J["right_ankle"], 2])
    lift = np.clip(lowest - 0.13, 0.0, None)
    blobs = np.zeros((T, 3, 4))
    centre = 0.5 * (j[:, J["pelvis"], :2] + j[:, J["spine3"], :2])
    blobs[:, 0, :2] = centre
    blobs[:, 0, 2] = 0.55 + 0.4 * lift
    blobs[:, 0, 3] = 0.30 / (1.0 + 3.0 * lift)
    for k, s in enumerate(("left", "right"), start=1):
        a, f = j[:, J[f"{s}_ankle"]], j[:, J[f"{s}_foot"]]
        blobs[:, k, :2] = 0.5 * (a[:, :2] + f[:, :2])
        blobs[:, k, 2] = 0.2
        blobs[:, k, 3] = 0.35 * np.clip(1.0 - (a[:, 2] - 0.13) / 0.35, 0.0, 1.0)
    return blobs


def shadow_light(blobs: np.ndarray, camera: Camera) -> dict:
    """Blob shadows as multipliers of the rink's colours: ``frame -> (y0, x0, light (h, w))``
    over a box around them (1 exactly outside the blobs and off the ice)."""
    W, H = camera.width, camera.height
    x0, x1, y0, y1 = _blob_boxes(blobs, camera)
    frames = np.flatnonzero(np.any(blobs[:, :, 3] > 0, 1) & (x1 > x0) & (y1 > y0))
    if len(frames) == 0:
        return {}
    # All boxes at once, padded to the largest.
    h, w = int((y1 - y0)[frames].max()), int((x1 - x0)[frames].max())
    bx0, by0 = np.minimum(x0[frames], W - w), np.minimum(y0[frames], H - h)
    M = pixel_to_ray(camera.intrinsics[frames], camera.rotation[frames]).astype(np.float32)
    C = camera.centre[frames].astype(np.float32)
    f32 = np.float32
    uu = (bx0[:, None] + np.arange(w)).astype(f32)[:, None, :] + f32(0.5)
    vv = (by0[:, None] + np.arange(h)).astype(f32)[:, :, None] + f32(0.5)
    d = [M[:, c, 0, None, None] * uu + (M[:, c, 1, None, None] * vv + M[:, c, 2, None, None]) for c in range(3)]
    t = C[:, 2, None, None] / np.maximum(-d[2], f32(1e-7))
    X = C[:, 0, None, None] + t * d[0]
    Y = C[:, 1, None, None] + t * d[1]
    light = np.ones_like(X)
    for b in range(blobs.shape[1]):
        bx, by, br, bs = (blobs[frames, b, k].astype(f32)[:, None, None] for k in range(4))
        r2 = (X - bx) ** 2 + (Y - by) ** 2
        wgt = np.maximum(f32(1.0) - r2 / (br * br), f32(0.0))
        light -= bs * wgt * wgt
    np.maximum(light, f32(0.3), out=light)
    light[~((d[2] < 0) & inside_rink(X, Y))] = 1.0
    return {int(f): (int(by0[i]), int(bx0[i]), light[i]) for i, f in enumerate(frames)}


def _blob_boxes(blobs: np.ndarray, camera: Camera) -> tuple[np.ndarray, ...]:
    """Per frame ``(T,)`` int64 x0, x1, y0, y1: the pixel box round the blobs' outlines (the
    whole image when some of them lie behind the camera)."""
    T, W, H = len(blobs), camera.width, camera.height
    angle = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle)], -1)  # (16, 2)
    pts = blobs[:, :, None, :2] + blobs[:, :, None, 2:3] * ring  # (T, B, 16, 2)
    pts = np.concatenate([pts, np.zeros(pts.shape[:-1] + (1,))], -1).reshape(T, -1, 3)
    cam = camera.world_to_camera(pts)
    K = camera.intrinsics
    z = np.maximum(cam[..., 2], 1e-9)
    u = K[:, 0, 0, None] * cam[..., 0] / z + K[:, 0, 1, None] * cam[..., 1] / z + K[:, 0, 2, None]
    v = K[:, 1, 1, None] * cam[..., 1] / z + K[:, 1, 2, None]
    behind = np.any(cam[..., 2] <= 0.05, 1)
    with np.errstate(invalid="ignore"):
        x0 = np.where(behind, 0, np.clip(np.floor(u.min(1)) - 1, 0, W)).astype(np.int64)
        x1 = np.where(behind, W, np.clip(np.ceil(u.max(1)) + 1, 0, W)).astype(np.int64)
        y0 = np.where(behind, 0, np.clip(np.floor(v.min(1)) - 1, 0, H)).astype(np.int64)
        y1 = np.where(behind, H, np.clip(np.ceil(v.max(1)) + 1, 0, H)).astype(np.int64)
    return x0, x1, y0, y1


def darken_ice(rgb: np.ndarray, fs: slice, rows: slice, shadows: dict) -> None:
    """Apply :func:`shadow_light` to a block of rink colours (planar ``(3, F, h, W)``)."""
    for i, f in enumerate(range(fs.start, fs.stop)):
        if f not in shadows:
            continue
        y0, x0, light = shadows[f]
        h, w = light.shape
        a, b = max(y0, rows.start), min(y0 + h, rows.stop)
        if b > a:
            rgb[:, i, a - rows.start:b - rows.start, x0:x0 + w] *= light[a - y0:b - y0]
