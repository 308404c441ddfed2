"""The rink seen by a camera, a block of image rows at a time, split between the rows that
see the ice and those that see its surroundings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportanim.synth.camera import Camera
from sportanim.synth.render.boards import surround_colour
from sportanim.synth.render.ice import ice_colour
from sportanim.synth.render.layout import inside_rink
from sportanim.synth.render.planar import put_rows
from sportanim.synth.render.pool import Pool
from sportanim.synth.render.rays import Rays, pixel_to_ray


@dataclass(frozen=True, eq=False)
class _ImageRows:
    """The rays of ``h`` image rows in F frames: in row r of frame f, pixel column u looks
    along ``slope[f] * u + base[f, r]``."""

    slope: np.ndarray  # (F, 3)
    base: np.ndarray  # (F, h, 3)
    centre: np.ndarray  # (F, 3) camera centres
    focal: np.ndarray  # (F,)
    width: int

    def rays(self, pool: Pool, ids: np.ndarray) -> Rays:
        """The rays of rows ``ids`` (flat frame * h + row indices), float32."""
        h, W = self.base.shape[1], self.width
        f, r = ids // h, ids % h
        u = (np.arange(W, dtype=np.float32) + np.float32(0.5))[None, :]
        level = bool(np.all(self.slope[:, 2] == 0))  # no roll: a row's rays all dip alike
        d = []
        for c in range(3):
            if c == 2 and level:
                d.append(self.base[f, r, c].astype(np.float32)[:, None])
                continue
            dc = pool.get((len(ids), W))
            np.multiply(u, self.slope[f, c].astype(np.float32)[:, None], out=dc)
            dc += self.base[f, r, c].astype(np.float32)[:, None]
            d.append(dc)
        centre = [self.centre[f, k].astype(np.float32)[:, None] for k in range(3)]
        return Rays(*d, *centre, self.focal[f].astype(np.float32)[:, None])


def rink_block(pool: Pool, camera: Camera, fs: slice, rows: slice) -> np.ndarray:
    """Rink colours of frames ``fs``, image rows ``rows``: planar float32 ``(3, F, h, W)``."""
    W = camera.width
    K = np.asarray(camera.intrinsics[fs], np.float64)
    M = pixel_to_ray(K, np.asarray(camera.rotation[fs], np.float64))
    v = np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5
    image = _ImageRows(slope=M[:, :, 0], base=M[:, None, :, 1] * v[None, :, None] + M[:, None, :, 2],
                       centre=camera[fs].centre, focal=np.sqrt(K[:, 0, 0] * K[:, 1, 1]), width=W)
    F, h = image.base.shape[:2]
    ice_rows, wall_rows = _split_rows(image)
    planar = pool.get((3, F * h, W))
    out = [planar[0], planar[1], planar[2]]
    if len(ice_rows):
        mark = pool.mark()
        put_rows(pool, out, ice_rows, ice_colour(pool, image.rays(pool, ice_rows)))
        pool.release(mark)
    if len(wall_rows):
        mark = pool.mark()
        col, height = surround_colour(pool, image.rays(pool, wall_rows))
        seen = pool.get(height.shape, bool)  # rays that reach the boards above the ice
        np.greater_equal(height, 0.0, out=seen)
        put_rows(pool, out, wall_rows, col, None if len(ice_rows) == 0 else seen)
        pool.release(mark)
    return planar.reshape(3, F, h, W)


def _split_rows(image: _ImageRows) -> tuple[np.ndarray, np.ndarray]:
    """Rows (flat indices) that may see the ice, and rows that may see something else.

    An image row is a line; its ground points form a segment and the rink is convex, so a
    row whose two end pixels see the ice sees only ice, and one whose end rays point up
    sees none.
    """
    C = image.centre
    ends = np.array([0.5, image.width - 0.5])
    d_end = image.slope[:, None, None, :] * ends[None, None, :, None] + image.base[:, :, None, :]  # (F, h, 2, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_end = C[:, None, None, 2] / -d_end[..., 2]
        ice_end = (d_end[..., 2] < -1e-9) & inside_rink(C[:, None, None, 0] + t_end * d_end[..., 0],
                                                         C[:, None, None, 1] + t_end * d_end[..., 1], 0.01)
    ice_rows = np.flatnonzero(~(d_end[..., 2] >= 0).all(-1).reshape(-1))
    wall_rows = np.flatnonzero(~ice_end.all(-1).reshape(-1))
    return ice_rows, wall_rows
