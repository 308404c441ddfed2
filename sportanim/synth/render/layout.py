"""Layout and colours of the rink: its rounded-rectangle wall, boards, glass, stands and roof.

Metres, world frame as :mod:`sportanim.synth.camera` (z up, ice at z = 0, rink centre at the origin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sportanim.synth.render.pool import Pool
from sportanim.synth.render.rays import Rays


@dataclass(frozen=True)
class RoundedRect:
    """A rectangle centred on the origin with rounded corners (metres)."""

    half_x: float
    half_y: float
    radius: float

    def grown(self, by: float) -> "RoundedRect":
        """The outline ``by`` metres further out."""
        return RoundedRect(self.half_x + by, self.half_y + by, self.radius + by)


RINK = RoundedRect(30.0, 15.0, 8.5)  # the boards' inner face
BOARD_HEIGHT = 1.1
KICK_PLATE = 0.16  # height of the kick plate at the bottom of the boards
TOP_RAIL = 0.98  # start of the top rail
GLASS_TOP = 2.9
POST_SPACING = 2.0
STANDS_GAP = 2.0  # floor between the boards and the barrier of the stands
BARRIER = RINK.grown(STANDS_GAP)  # the stands' rows run parallel to it
STANDS_BASE = 1.2  # height of the first row's step (the barrier's top)
ROW_RISE = 0.42  # each row of seats is a step this high...
ROW_DEPTH = 0.8  # ...and this deep
PERSON_HEIGHT = 0.92  # a seated spectator's head above the step
STANDS_ROWS = 56
CEILING = STANDS_BASE + STANDS_ROWS * ROW_RISE + 3.0  # height of the roof, lights every LIGHT_SPACING
LIGHT_SPACING = 8.0
SEAT_WIDTH = 0.55
SECTION_SEATS = 16  # an aisle every 16 seats
CROWD_TABLE_ROWS, CROWD_TABLE_SEATS = 64, 256  # spectators are drawn once for this many cells
PANEL_TABLE = 64  # advertising panels drawn once
PANEL_WIDTH = 4.0

ICE = np.array([0.86, 0.91, 0.955], np.float32)
ICE_RED = np.array([0.78, 0.16, 0.18], np.float32)
ICE_BLUE = np.array([0.16, 0.30, 0.72], np.float32)
NOISE_TEXEL = 0.225  # metres per texel of the ice's smooth noise
MARK_ALPHA = 0.55  # markings lie under the ice: faint
KICK_COLOUR = np.array([0.92, 0.80, 0.30], np.float32)
RAIL_COLOUR = np.array([0.16, 0.22, 0.42], np.float32)
FLOOR_COLOUR = np.array([0.13, 0.13, 0.15], np.float32)
BARRIER_COLOUR = np.array([0.10, 0.14, 0.26], np.float32)
STANDS_DARK = np.array([0.07, 0.07, 0.09], np.float32)
ROOF_COLOUR = np.array([0.06, 0.06, 0.075], np.float32)
BEAM_COLOUR = np.array([0.13, 0.13, 0.15], np.float32)
LAMP_COLOUR = np.array([0.95, 0.93, 0.85], np.float32)
STAIRS_COLOUR = np.array([0.30, 0.30, 0.32], np.float32)
CROWD_MEAN = np.array([0.21, 0.19, 0.20], np.float32)
POST_COLOUR = np.array([0.32, 0.33, 0.36], np.float32)


class WallHit(NamedTuple):
    """Where rays leave a rounded rectangle: ray parameter, point and outward normal (x, y)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    nx: np.ndarray
    ny: np.ndarray


def inside_rink(x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Whether ground points lie inside the rink by at least ``margin`` metres (float64)."""
    qx = np.abs(x) - (RINK.half_x - RINK.radius)
    qy = np.abs(y) - (RINK.half_y - RINK.radius)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0)) + np.minimum(np.maximum(qx, qy), 0.0)
    return outside - RINK.radius < -margin


def rounded_exit(pool: Pool, rays: Rays, wall: RoundedRect) -> WallHit:
    """Where ``rays`` from inside ``wall`` leave it seen from above (arrays from ``pool``):
    through a side, or else through a corner's circle."""
    ox, oy, dx, dy = rays.cx, rays.cy, rays.dx, rays.dy
    shape = dx.shape
    t, px, py, nx, ny, tmp = (pool.get(shape) for _ in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):  # a ray along an axis: t = inf
        np.copysign(np.float32(wall.half_x), dx, out=t)
        t -= ox
        t /= dx
        np.copysign(np.float32(wall.half_y), dy, out=tmp)
        tmp -= oy
        tmp /= dy
    xfirst = pool.get(shape, bool)
    np.less(t, tmp, out=xfirst)
    np.minimum(t, tmp, out=t)
    np.minimum(t, 1e4, out=t)  # (rays straight up)
    np.sign(dx, out=nx)
    nx *= xfirst
    np.sign(dy, out=ny)
    np.logical_not(xfirst, out=xfirst)
    ny *= xfirst
    np.multiply(t, dx, out=px)
    px += ox
    np.multiply(t, dy, out=py)
    py += oy
    hit = WallHit(t, px, py, nx, ny)
    corner, other = xfirst, pool.get(shape, bool)
    np.abs(px, out=tmp)
    np.greater(tmp, wall.half_x - wall.radius, out=corner)
    np.abs(py, out=tmp)
    np.greater(tmp, wall.half_y - wall.radius, out=other)
    corner &= other
    if corner.any():
        _corner_exit(pool, rays, wall, hit, corner)
    return hit


def _corner_exit(pool: Pool, rays: Rays, wall: RoundedRect, hit: WallHit, corner: np.ndarray) -> None:
    """Replace ``hit`` where ``corner`` (in place) by the exit through the corner's circle:
    the larger root of |o + t d - c| = r."""
    ox, oy, dx, dy = rays.cx, rays.cy, rays.dx, rays.dy
    shape = dx.shape
    radius = wall.radius
    cx, cy = pool.get(shape), pool.get(shape)
    np.copysign(np.float32(wall.half_x - radius), hit.x, out=cx)
    np.copysign(np.float32(wall.half_y - radius), hit.y, out=cy)
    np.subtract(ox, cx, out=cx)  # o - c
    np.subtract(oy, cy, out=cy)
    a, b, c, e = (pool.get(shape) for _ in range(4))
    np.multiply(cx, cx, out=c)
    np.multiply(cy, cy, out=e)
    c += e
    c -= radius * radius  # |o - c|^2 - r^2
    np.multiply(dx, dx, out=a)
    np.multiply(dy, dy, out=e)
    a += e  # |d|^2
    np.multiply(cx, dx, out=b)
    np.multiply(cy, dy, out=e)
    b += e  # (o - c) . d
    c *= a
    np.multiply(b, b, out=e)
    np.subtract(e, c, out=c)  # discriminant / 4
    np.maximum(c, 0.0, out=c)
    np.sqrt(c, out=c)
    c -= b
    c /= a  # the larger root
    np.copyto(hit.t, c, where=corner)
    for p, d, o, cc, n in ((hit.x, dx, ox, cx, hit.nx), (hit.y, dy, oy, cy, hit.ny)):
        np.multiply(c, d, out=a)
        a += cc  # o + t d - c
        a *= 1.0 / radius
        np.copyto(n, a, where=corner)
        a *= radius
        a -= cc
        a += o
        np.copyto(p, a, where=corner)


def along_wall(pool: Pool, px, py, wall: RoundedRect):
    """Coordinate along ``wall`` (metres) from the middle of a long side to the middle of a
    short side, continuous round the corner, per quadrant; and a cell offset (intp) that
    differs between the four quadrants."""
    half_x, half_y, radius = wall.half_x, wall.half_y, wall.radius
    shape = px.shape
    ax, ay, ex, ey = (pool.get(shape) for _ in range(4))
    np.abs(px, out=ax)
    np.abs(py, out=ay)
    np.subtract(ax, half_x - radius, out=ex)
    np.maximum(ex, 0.0, out=ex)
    np.subtract(ay, half_y - radius, out=ey)
    np.maximum(ey, 0.0, out=ey)
    ey += ex
    np.maximum(ey, 1e-9, out=ey)
    np.divide(ex, ey, out=ex)  # 0 where the corner's arc leaves the long side, 1 at the short
    ex *= radius * np.pi / 2
    np.minimum(ax, half_x - radius, out=ax)
    ex += ax
    np.subtract(half_y - radius, ay, out=ay)
    np.maximum(ay, 0.0, out=ay)
    ex += ay
    side, flag = pool.get(shape, np.intp), pool.get(shape, bool)
    np.greater(px, 0.0, out=flag)
    np.multiply(flag, 2, out=side, casting="unsafe")
    np.greater(py, 0.0, out=flag)
    side += flag
    side *= 1543  # decorrelates the quadrants' cells
    return ex, side
