"""Whole frames: the rink, the skater's shadow, the skater over them, as floats or uint8."""

from __future__ import annotations

import numpy as np

from sportanim.synth.camera import Camera
from sportanim.synth.render.appearance import Appearance
from sportanim.synth.render.pool import scratch_pool
from sportanim.synth.render.rink import rink_block
from sportanim.synth.render.shadow import darken_ice, shadow_blobs, shadow_light
from sportanim.synth.render.skater import body_layers

AUTO_SUPERSAMPLE = 1  # 2 doubles the skater's cost: 64 x 64 clips would miss the 40 ms budget
_BLOCK_PIXELS = 1 << 16  # pixels per rink batch (several small frames, or rows of a large one)


def render_rink(camera: Camera) -> np.ndarray:
    """The empty rink: float32 ``(T, H, W, 3)`` in [0, 1]."""
    T, H, W = camera.num_frames, camera.height, camera.width
    out = np.empty((T, H, W, 3), np.float32)
    pool = scratch_pool()
    for fs, rows in _blocks(T, H, W):
        mark = pool.mark()
        rgb = rink_block(pool, camera, fs, rows)
        for c in range(3):
            out[fs, rows, :, c] = rgb[c]
        pool.release(mark)
    return out


def render_skater(joints: np.ndarray, camera: Camera, appearance: Appearance,
                  supersample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The skater alone: colour float32 ``(T, H, W, 3)`` in [0, 1] (0 where no body) and
    coverage float32 ``(T, H, W)`` in [0, 1]; ``supersample`` as :func:`render`."""
    T, H, W = camera.num_frames, camera.height, camera.width
    colour = np.zeros((T, H, W, 3), np.float32)
    coverage = np.zeros((T, H, W), np.float32)
    layers = body_layers(joints, camera, appearance, AUTO_SUPERSAMPLE if supersample is None else supersample)
    for f, (y0, x0, premult, alpha) in layers.items():
        h, w = alpha.shape
        coverage[f, y0:y0 + h, x0:x0 + w] = alpha
        safe = np.where(alpha > 0, alpha, 1.0)[..., None]
        colour[f, y0:y0 + h, x0:x0 + w] = np.clip(np.where(alpha[..., None] > 0, premult / safe, 0.0), 0, 1)
    return colour, coverage


def render(joints: np.ndarray, camera: Camera, appearance: Appearance,
           supersample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full frames: uint8 ``(T, H, W, 3)`` and the body mask bool ``(T, H, W)`` (coverage > 0.5).

    ``supersample``: samples per pixel side for the body; None is AUTO_SUPERSAMPLE. Every
    edge (the body's outline, the rink's lines and boxes) is anti-aliased analytically
    anyway, by its distance to the pixel centre; supersampling also smooths the edges
    between body parts, at 4x (9x...) the body's cost.
    """
    T, H, W = camera.num_frames, camera.height, camera.width
    if supersample is None:
        supersample = AUTO_SUPERSAMPLE
    layers = body_layers(joints, camera, appearance, supersample)
    if T == 0:
        return np.zeros((0, H, W, 3), np.uint8), np.zeros((0, H, W), bool)
    shadows = shadow_light(shadow_blobs(np.asarray(joints, np.float64)), camera)
    frames = np.empty((T, H, W, 3), np.uint8)
    mask = np.zeros((T, H, W), bool)
    pool = scratch_pool()
    for fs, rows in _blocks(T, H, W):
        mark = pool.mark()
        rgb = rink_block(pool, camera, fs, rows)
        darken_ice(rgb, fs, rows, shadows)
        _paste_body(rgb, mask, layers, fs, rows)
        tmp = pool.get(rgb.shape[1:])
        for c in range(3):  # as to_uint8, in place
            np.clip(rgb[c], 0.0, 1.0, out=tmp)
            tmp *= 255.0
            tmp += 0.5
            np.copyto(frames[fs, rows, :, c], tmp, casting="unsafe")
        pool.release(mark)
    return frames, mask


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float colours in [0, 1] -> uint8, rounded exactly as :func:`render` converts."""
    x = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0)
    x *= 255.0
    x += 0.5
    return x.astype(np.uint8)


def _paste_body(rgb: np.ndarray, mask: np.ndarray, layers: dict, fs: slice, rows: slice) -> None:
    """The body's layers (:func:`body_layers`) over a block of rink colours (planar
    ``(3, F, h, W)``, in place), and its mask into ``mask`` ``(T, H, W)``."""
    for i, f in enumerate(range(fs.start, fs.stop)):
        if f not in layers:
            continue
        y0, x0, premult, alpha = layers[f]
        h, w = alpha.shape
        a, b = max(y0, rows.start), min(y0 + h, rows.stop)
        if b <= a:
            continue
        al = alpha[a - y0:b - y0]
        pm = premult[a - y0:b - y0]
        for c in range(3):
            box = rgb[c, i, a - rows.start:b - rows.start, x0:x0 + w]
            box *= 1.0 - al
            box += pm[..., c]
        mask[f, a:b, x0:x0 + w] = al > 0.5


def _blocks(T: int, H: int, W: int):
    """Batches of the frames: several whole frames, or bands of rows of one frame."""
    if H * W <= _BLOCK_PIXELS:
        n = _BLOCK_PIXELS // (H * W)
        return [(slice(a, min(a + n, T)), slice(0, H)) for a in range(0, T, n)]
    rows = max(1, _BLOCK_PIXELS // W)
    return [(slice(f, f + 1), slice(r, min(r + rows, H))) for f in range(T) for r in range(0, H, rows)]
