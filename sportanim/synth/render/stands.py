"""The stepped stands with their spectators, and the roof above them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sportanim.synth.render.layout import (
    BARRIER, BARRIER_COLOUR, BEAM_COLOUR, CEILING, CROWD_MEAN, CROWD_TABLE_ROWS, CROWD_TABLE_SEATS, FLOOR_COLOUR,
    LAMP_COLOUR, LIGHT_SPACING, PERSON_HEIGHT, ROOF_COLOUR, ROW_DEPTH, ROW_RISE, SEAT_WIDTH, STAIRS_COLOUR,
    STANDS_BASE, STANDS_DARK, STANDS_GAP, STANDS_ROWS, along_wall)
from sportanim.synth.render.planar import cover, mix, put_rows, take_rows
from sportanim.synth.render.pool import Pool
from sportanim.synth.render.textures import CROWD, cell_index, lookup


class OverBoards(NamedTuple):
    """Rays that pass over the boards, per image row ``(n, W)`` float32: direction (x, y),
    ray parameter and height where they cross the boards' wall, height gained per metre
    outwards beyond it, outward metres per unit of ray parameter, the direction's length;
    and per row ``(n, 1)`` the camera centre (x, y) and focal length."""

    dx: np.ndarray
    dy: np.ndarray
    t: np.ndarray
    h: np.ndarray
    rise: np.ndarray
    rate: np.ndarray
    norm: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    focal: np.ndarray

    def rows(self, pool: Pool, rows: np.ndarray) -> "OverBoards":
        """The rays of rows ``rows`` (sorted, unique)."""
        per_ray = [take_rows(pool, x, rows) for x in self[:7]]
        return OverBoards(*per_ray, *(x[rows] for x in self[7:]))


class _RowHit(NamedTuple):
    """Which row of the stands each ray meets, ``(n, W)`` float32."""

    row: np.ndarray  # 0 .. STANDS_ROWS - 1, STANDS_ROWS: over them all (the roof)
    above_step: np.ndarray  # the ray's height above that row's step (negative: its riser)
    at_barrier: np.ndarray  # the ray's height where it reaches the barrier


def stands_colour(pool: Pool, rays: OverBoards) -> list[np.ndarray]:
    """Stepped stands and roof for rays passing over the boards (planar)."""
    hit = _row_hit(pool, rays)
    along, side, inv_fp = _row_face(pool, rays, hit.row)
    col = _crowd(pool, along, side, hit.row, hit.above_step, inv_fp)
    tmp = pool.get(rays.dx.shape)
    np.multiply(hit.row, -0.5 / STANDS_ROWS, out=tmp)
    tmp += 1.0  # dimmer further up
    for c in range(3):
        col[c] *= tmp
    over = pool.get(rays.dx.shape, bool)
    np.greater_equal(hit.row, STANDS_ROWS, out=over)
    roof_rows = np.flatnonzero(over.any(1))
    if len(roof_rows):
        mark = pool.mark()
        put_rows(pool, col, roof_rows, _roof(pool, rays.rows(pool, roof_rows)), take_rows(pool, over, roof_rows))
        pool.release(mark)
    _barrier_risers_floor(pool, col, hit)
    return col


def _row_hit(pool: Pool, rays: OverBoards) -> _RowHit:
    """A floor runs STANDS_GAP metres from the boards to the barrier, then rows of seats,
    each a step ROW_RISE up and ROW_DEPTH back; a ray meets the first row whose spectators'
    heads (PERSON_HEIGHT above its step) it passes below."""
    shape = rays.dx.shape
    z0, k, lv = (pool.get(shape) for _ in range(3))
    mark = pool.mark()  # the rest are temporaries
    a0, b0, tmp = (pool.get(shape) for _ in range(3))
    np.multiply(rays.rise, STANDS_GAP, out=z0)
    z0 += rays.h  # height at the barrier / first row
    np.subtract(z0, STANDS_BASE + PERSON_HEIGHT, out=a0)
    np.multiply(rays.rise, -ROW_DEPTH, out=b0)
    b0 += ROW_RISE
    np.maximum(b0, 1e-6, out=tmp)
    np.divide(a0, tmp, out=k)
    np.ceil(k, out=k)
    np.maximum(k, 0.0, out=k)
    np.minimum(k, STANDS_ROWS, out=k)
    m, m2 = pool.get(shape, bool), pool.get(shape, bool)
    np.less_equal(b0, 1e-6, out=m)
    np.greater(a0, 0.0, out=m2)
    m &= m2
    np.copyto(k, STANDS_ROWS, where=m)  # rises faster than the stands: over them
    np.subtract(z0, STANDS_BASE, out=lv)
    np.multiply(k, b0, out=tmp)
    lv -= tmp
    pool.release(mark)
    return _RowHit(k, lv, z0)


def _row_face(pool: Pool, rays: OverBoards, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the rays meet their row's face: the coordinate along the rows and the quadrant's
    cell offset (as :func:`along_wall`), and 1 / the pixel's footprint there."""
    shape = rays.dx.shape
    t_row, px, py, tmp = (pool.get(shape) for _ in range(4))
    np.multiply(row, ROW_DEPTH, out=t_row)
    t_row += STANDS_GAP
    t_row /= rays.rate
    t_row += rays.t
    np.multiply(t_row, rays.dx, out=px)
    px += rays.cx
    np.multiply(t_row, rays.dy, out=py)
    py += rays.cy
    along, side = along_wall(pool, px, py, BARRIER)
    inv_fp = t_row
    inv_fp *= rays.norm
    np.divide(rays.focal, inv_fp, out=inv_fp)
    # Seen obliquely, a pixel spans more of the rows' faces along them: blur the crowd more.
    np.divide(rays.rate, rays.norm, out=tmp)
    np.clip(tmp, 0.15, 1.0, out=tmp)
    inv_fp *= tmp
    return along, side, inv_fp


def _barrier_risers_floor(pool: Pool, col: list[np.ndarray], hit: _RowHit) -> None:
    """Below the people: the barrier (row 0), the steps' risers, and the floor before the
    barrier (planar colours ``col``, in place)."""
    k = hit.row
    riser, m = pool.get(k.shape, bool), pool.get(k.shape, bool)
    np.less(hit.above_step, 0.0, out=riser)
    np.less(k, STANDS_ROWS, out=m)
    riser &= m
    np.equal(k, 0.0, out=m)
    m &= riser
    for c in range(3):
        np.copyto(col[c], BARRIER_COLOUR[c], where=m)
    np.greater(k, 0.0, out=m)
    m &= riser
    for c in range(3):
        np.copyto(col[c], STANDS_DARK[c], where=m)
    np.less(hit.at_barrier, 0.0, out=m)
    np.equal(k, 0.0, out=riser)
    m &= riser
    for c in range(3):
        np.copyto(col[c], FLOOR_COLOUR[c], where=m)


def _roof(pool: Pool, rays: OverBoards) -> list[np.ndarray]:
    """The dark roof: beams and a grid of lamps on the plane z = CEILING (planar)."""
    shape = rays.dx.shape
    t, x, y, d, cov = (pool.get(shape) for _ in range(5))
    np.multiply(rays.rise, rays.rate, out=t)  # the ray's dz
    np.maximum(t, 1e-6, out=t)
    np.subtract(CEILING, rays.h, out=d)
    np.maximum(d, 0.0, out=d)
    np.divide(d, t, out=t)
    t += rays.t
    np.multiply(t, rays.dx, out=x)
    x += rays.cx
    np.multiply(t, rays.dy, out=y)
    y += rays.cy
    inv_fp = t
    inv_fp *= rays.norm
    np.divide(rays.focal, inv_fp, out=inv_fp)
    for a in (x, y):  # offsets from the nearest lamp
        a *= 1.0 / LIGHT_SPACING
        np.subtract(a, np.round(a, out=d), out=a)
        a *= LIGHT_SPACING
    col = [pool.get(shape) for _ in range(3)]
    for c in range(3):
        col[c][...] = ROOF_COLOUR[c]
    # Beams half way between the lamps, then the lamps.
    np.abs(x, out=d)
    np.abs(y, out=cov)
    np.maximum(d, cov, out=d)
    np.subtract(0.5 * LIGHT_SPACING - 0.25, d, out=d)
    cover(d, inv_fp, cov)
    mix(col, BEAM_COLOUR, cov, d)
    x *= x
    y *= y
    x += y
    np.sqrt(x, out=x)
    x -= 0.5
    cover(x, inv_fp, cov)
    mix(col, LAMP_COLOUR, cov, d)
    return col


def _crowd(pool: Pool, along, side, row, lv, inv_fp) -> list[np.ndarray]:
    """Spectators seated in rows (planar); ``lv`` is the height above the row's step. Each
    seat's mean colour, with the seats drawn where a pixel is small enough (< 14 cm)."""
    shape = along.shape
    su, tmp, w = (pool.get(shape) for _ in range(3))
    np.multiply(along, 1.0 / SEAT_WIDTH, out=su)
    seat = cell_index(pool, su, side, CROWD_TABLE_SEATS)
    ri = cell_index(pool, row, None, CROWD_TABLE_ROWS)
    ri *= CROWD_TABLE_SEATS
    seat += ri  # the cell's index in the tables
    mean = lookup(pool, CROWD["mean"], seat)
    fp = pool.get(shape)
    np.divide(1.0, inv_fp, out=fp)
    detail = pool.get(shape)
    np.multiply(fp, -1.0 / 0.07, out=detail)
    detail += 2.0
    np.clip(detail, 0.0, 1.0, out=detail)
    if detail.max() > 0:
        mark = pool.mark()
        mix(mean, _seats(pool, su, seat, lv, inv_fp), detail, w)
        pool.release(mark)
    np.multiply(fp, 1.0 / 0.6, out=w)
    w -= 0.5
    np.clip(w, 0.0, 0.8, out=w)
    mix(mean, CROWD_MEAN, w, tmp)
    return mean


def _seats(pool: Pool, su, seat, lv, inv_fp) -> list[np.ndarray]:
    """Near enough to draw the seats: an empty seat's back, a spectator's torso and head,
    the aisles' stairs (planar); ``su`` is the position in seat widths, ``seat`` the cell."""
    shape = su.shape
    mu, amu, sd, cov, w = (pool.get(shape) for _ in range(5))
    np.floor(su, out=mu)
    np.subtract(su, mu, out=mu)
    mu -= 0.5
    mu *= SEAT_WIDTH  # metres across the seat
    np.abs(mu, out=amu)
    col = [pool.get(shape) for _ in range(3)]
    for c in range(3):
        col[c][...] = STANDS_DARK[c]
    for kind, half_w, mid, half_h in (("seat", 0.2, 0.3, 0.3), ("shirt", 0.17, 0.47, 0.25)):
        np.subtract(amu, half_w, out=sd)
        np.subtract(lv, mid, out=w)
        np.abs(w, out=w)
        w -= half_h
        np.maximum(sd, w, out=sd)
        cover(sd, inv_fp, cov)
        cov *= lookup(pool, CROWD["empty" if kind == "seat" else "occupied"], seat)
        mix(col, lookup(pool, CROWD[kind], seat), cov, w)
    np.subtract(lv, 0.82, out=sd)
    sd *= sd
    np.multiply(mu, mu, out=w)
    sd += w
    np.sqrt(sd, out=sd)
    sd -= 0.1
    cover(sd, inv_fp, cov)
    cov *= lookup(pool, CROWD["occupied"], seat)
    mix(col, lookup(pool, CROWD["skin"], seat), cov, w)
    mix(col, STAIRS_COLOUR, lookup(pool, CROWD["aisle"], seat), w)
    return col
