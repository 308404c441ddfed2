"""The rink seen by a camera: rays of the pixels, split between the ice and its surroundings."""

from __future__ import annotations

import numpy as np

from sportanim.synth.camera import Camera
from sportanim.synth.render.boards import surround_colour
from sportanim.synth.render.ice import ice_colour
from sportanim.synth.render.layout import inside_rink
from sportanim.synth.render.planar import put_rows
from sportanim.synth.render.pool import Pool


def inverse_intrinsics(K: np.ndarray) -> np.ndarray:
    """Closed-form inverse of upper-triangular intrinsics ``(T, 3, 3)``."""
    fx, s, cx = K[:, 0, 0], K[:, 0, 1], K[:, 0, 2]
    fy, cy = K[:, 1, 1], K[:, 1, 2]
    inv = np.zeros_like(K)
    inv[:, 0, 0] = 1.0 / fx
    inv[:, 0, 1] = -s / (fx * fy)
    inv[:, 0, 2] = (s * cy - cx * fy) / (fx * fy)
    inv[:, 1, 1] = 1.0 / fy
    inv[:, 1, 2] = -cy / fy
    inv[:, 2, 2] = 1.0
    return inv



def rink_block(pool: Pool, camera: Camera, fs: slice, rows: slice) -> np.ndarray:
    """Rink colours of frames ``fs``, image rows ``rows``: planar float32 ``(3, F, h, W)``.

    An image row is a line; its ground points form a segment and the rink is convex, so a
    row whose two end pixels see the ice sees only ice, and one whose end rays point up
    sees none: the ice and the surroundings are each computed on the rows that need them.
    """
    W = camera.width
    K = np.asarray(camera.intrinsics[fs], np.float64)
    R = np.asarray(camera.rotation[fs], np.float64)
    F = len(K)
    M = np.einsum("tji,tjk->tik", R, inverse_intrinsics(K))  # pixel (u, v, 1) -> world ray
    C = camera[fs].centre
    focal = np.sqrt(K[:, 0, 0] * K[:, 1, 1])
    v = np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5
    h = len(v)
    slope = M[:, :, 0]  # (F, 3): ray change per pixel across a row
    base = M[:, None, :, 1] * v[None, :, None] + M[:, None, :, 2]  # (F, h, 3): ray at u = 0
    ends = np.array([0.5, W - 0.5])
    d_end = slope[:, None, None, :] * ends[None, None, :, None] + base[:, :, None, :]  # (F, h, 2, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_end = C[:, None, None, 2] / -d_end[..., 2]
        ice_end = (d_end[..., 2] < -1e-9) & inside_rink(C[:, None, None, 0] + t_end * d_end[..., 0],
                                                          C[:, None, None, 1] + t_end * d_end[..., 1], 0.01)
    ice_rows = np.flatnonzero(~(d_end[..., 2] >= 0).all(-1).reshape(-1))
    wall_rows = np.flatnonzero(~ice_end.all(-1).reshape(-1))
    planar = pool.get((3, F * h, W))
    out = [planar[0], planar[1], planar[2]]
    u = (np.arange(W, dtype=np.float32) + np.float32(0.5))[None, :]

    level = bool(np.all(slope[:, 2] == 0))  # no roll: a row's rays all dip alike

    def setup(ids):
        f, r = ids // h, ids % h
        d = []
        for c in range(3):
            if c == 2 and level:
                d.append(base[f, r, c].astype(np.float32)[:, None])
                continue
            dc = pool.get((len(ids), W))
            np.multiply(u, slope[f, c].astype(np.float32)[:, None], out=dc)
            dc += base[f, r, c].astype(np.float32)[:, None]
            d.append(dc)
        const = [C[f, k].astype(np.float32)[:, None] for k in range(3)]
        return f, d, const, focal[f].astype(np.float32)[:, None]

    if len(ice_rows):
        mark = pool.mark()
        f, (dx, dy, dz), (Cx, Cy, Cz), foc = setup(ice_rows)
        shape = dx.shape
        down, t, inv_fp = (pool.get(dz.shape) for _ in range(3))
        X, Y = pool.get(shape), pool.get(shape)
        np.negative(dz, out=down)
        np.maximum(down, 1e-7, out=down)
        np.divide(Cz, down, out=t)
        np.minimum(t, 1e4, out=t)
        np.multiply(t, dx, out=X)
        X += Cx
        np.multiply(t, dy, out=Y)
        Y += Cy
        # Footprint of a pixel on the ice (square root of its area): t / (f sqrt|dz|).
        np.sqrt(down, out=inv_fp)
        inv_fp *= foc
        inv_fp /= t
        col = ice_colour(pool, X, Y, inv_fp)
        put_rows(pool, out, ice_rows, col)
        pool.release(mark)
    if len(wall_rows):
        mark = pool.mark()
        f, (dx, dy, dz), (Cx, Cy, Cz), foc = setup(wall_rows)
        col, height = surround_colour(pool, dx, dy, dz, Cx, Cy, Cz, foc)
        seen = pool.get(dx.shape, bool)  # rays that reach the boards above the ice
        np.greater_equal(height, 0.0, out=seen)
        put_rows(pool, out, wall_rows, col, None if len(ice_rows) == 0 else seen)
        pool.release(mark)
    return planar.reshape(3, F, h, W)
