"""The stepped stands with their spectators, and the roof above them."""

from __future__ import annotations

import numpy as np

from sportanim.synth.render.layout import (
    BARRIER_COLOUR, BEAM_COLOUR, CEILING, CORNER_RADIUS, CROWD_MEAN, CROWD_TABLE_ROWS, CROWD_TABLE_SEATS,
    FLOOR_COLOUR, LAMP_COLOUR, LIGHT_SPACING, PERSON_HEIGHT, RINK_HALF_X, RINK_HALF_Y, ROOF_COLOUR, ROW_DEPTH,
    ROW_RISE, SEAT_WIDTH, STAIRS_COLOUR, STANDS_BASE, STANDS_DARK, STANDS_GAP, STANDS_ROWS, along_wall)
from sportanim.synth.render.planar import cover, mix, put_rows, take_rows
from sportanim.synth.render.pool import Pool
from sportanim.synth.render.textures import CROWD, cell_index, lookup


def stands_colour(pool: Pool, dx, dy, t_boards, h_boards, rise, rate, norm, Cx, Cy, focal) -> list[np.ndarray]:
    """Stepped stands and roof for rays passing over the boards (planar).

    Beyond the boards (ray parameter ``t_boards``, height ``h_boards``) a ray climbs
    ``rise`` metres per metre away from the rink. A floor runs STANDS_GAP metres to the
    barrier, then rows of seats, each a step ROW_RISE up and ROW_DEPTH back; the ray
    meets the first row whose spectators' heads (PERSON_HEIGHT above its step) it passes
    below.
    """
    shape = dx.shape
    z0, a0, b0, k, lv, tmp = (pool.get(shape) for _ in range(6))
    np.multiply(rise, STANDS_GAP, out=z0)
    z0 += h_boards  # height at the barrier / first row
    np.subtract(z0, STANDS_BASE + PERSON_HEIGHT, out=a0)
    np.multiply(rise, -ROW_DEPTH, out=b0)
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
    lv -= tmp  # height above the row's step
    # The row's face: where the ray meets it and how large a pixel is there.
    t_row, px, py = a0, b0, pool.get(shape)
    np.multiply(k, ROW_DEPTH, out=t_row)
    t_row += STANDS_GAP
    t_row /= rate
    t_row += t_boards
    np.multiply(t_row, dx, out=px)
    px += Cx
    np.multiply(t_row, dy, out=py)
    py += Cy
    along, side = along_wall(pool, px, py, RINK_HALF_X + STANDS_GAP, RINK_HALF_Y + STANDS_GAP,
                               CORNER_RADIUS + STANDS_GAP)
    inv_fp = t_row
    inv_fp *= norm
    np.divide(focal, inv_fp, out=inv_fp)
    # Seen obliquely, a pixel spans more of the rows' faces along them: blur the crowd more.
    np.divide(rate, norm, out=tmp)
    np.clip(tmp, 0.15, 1.0, out=tmp)
    inv_fp *= tmp
    col = _crowd(pool, along, side, k, lv, inv_fp)
    np.multiply(k, -0.5 / STANDS_ROWS, out=tmp)
    tmp += 1.0  # dimmer further up
    for c in range(3):
        col[c] *= tmp
    # Roof above the stands, the barrier and the steps' risers below the people, the floor.
    np.greater_equal(k, STANDS_ROWS, out=m)
    roof_rows = np.flatnonzero(m.any(1))
    if len(roof_rows):
        mark = pool.mark()
        args = [take_rows(pool, x, roof_rows) for x in (dx, dy, t_boards, h_boards, rise, rate, norm)]
        roof = _roof(pool, *args, *(x[roof_rows] for x in (Cx, Cy, focal)))
        put_rows(pool, col, roof_rows, roof, take_rows(pool, m, roof_rows))
        pool.release(mark)
    riser = pool.get(shape, bool)
    np.less(lv, 0.0, out=riser)
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
    np.less(z0, 0.0, out=m)
    np.equal(k, 0.0, out=riser)
    m &= riser
    for c in range(3):
        np.copyto(col[c], FLOOR_COLOUR[c], where=m)
    return col


def _roof(pool: Pool, dx, dy, t_boards, h_boards, rise, rate, norm, Cx, Cy, focal) -> list[np.ndarray]:
    """The dark roof: beams and a grid of lamps on the plane z = CEILING (planar)."""
    shape = dx.shape
    t, x, y, d, cov = (pool.get(shape) for _ in range(5))
    np.multiply(rise, rate, out=t)  # the ray's dz
    np.maximum(t, 1e-6, out=t)
    np.subtract(CEILING, h_boards, out=d)
    np.maximum(d, 0.0, out=d)
    np.divide(d, t, out=t)
    t += t_boards
    np.multiply(t, dx, out=x)
    x += Cx
    np.multiply(t, dy, out=y)
    y += Cy
    inv_fp = t
    inv_fp *= norm
    np.divide(focal, inv_fp, out=inv_fp)
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
    """Spectators seated in rows (planar); ``lv`` is the height above the row's step."""
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
        # Near enough to draw the seats: an empty seat's back, a spectator's torso and head.
        mark = pool.mark()
        mu, amu, sd, cov = ri, pool.get(shape), pool.get(shape), pool.get(shape)
        mu = pool.get(shape)
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
        mix(mean, col, detail, w)
        pool.release(mark)
    np.multiply(fp, 1.0 / 0.6, out=w)
    w -= 0.5
    np.clip(w, 0.0, 0.8, out=w)
    mix(mean, CROWD_MEAN, w, tmp)
    return mean
