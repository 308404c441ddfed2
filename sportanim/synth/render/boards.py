"""Rays that leave the ice: the boards with their panels, the glass screen, and beyond them the stands."""

from __future__ import annotations

import numpy as np

from sportanim.synth.render.layout import (
    BOARD_HEIGHT, GLASS_TOP, KICK_COLOUR, KICK_PLATE, PANEL_TABLE, PANEL_WIDTH, POST_COLOUR, POST_SPACING,
    RAIL_COLOUR, RINK, TOP_RAIL, WallHit, along_wall, rounded_exit)
from sportanim.synth.render.planar import cover, mix, put_rows, take_rows
from sportanim.synth.render.pool import Pool
from sportanim.synth.render.rays import Rays
from sportanim.synth.render.stands import OverBoards, stands_colour
from sportanim.synth.render.textures import PANELS, cell_index, lookup


def surround_colour(pool: Pool, rays: Rays) -> tuple[list[np.ndarray], np.ndarray]:
    """Boards, glass, stands and roof (planar colours) and the height at which each ray
    meets the boards' wall (negative: it met the ice first)."""
    shape = rays.dx.shape
    norm, h, inv_fp, tmp = (pool.get(shape) for _ in range(4))
    np.multiply(rays.dx, rays.dx, out=norm)
    np.multiply(rays.dy, rays.dy, out=tmp)
    norm += tmp
    np.multiply(rays.dz, rays.dz, out=tmp)
    norm += tmp
    np.sqrt(norm, out=norm)
    hit = rounded_exit(pool, rays, RINK)
    np.multiply(hit.t, rays.dz, out=h)
    h += rays.cz
    np.multiply(hit.t, norm, out=inv_fp)
    np.divide(rays.focal, inv_fp, out=inv_fp)
    col = [pool.get(shape) for _ in range(3)]
    stand_rows, board_rows, glass_rows = _rows_reaching(h)
    # Where along the wall: only needed by the boards and the glass (a few rows).
    wall_rows = np.union1d(board_rows, glass_rows)
    along, side = along_wall(pool, take_rows(pool, hit.x, wall_rows), take_rows(pool, hit.y, wall_rows), RINK)
    if len(stand_rows):
        mark = pool.mark()
        over = _over_boards(pool, rays, hit, h, norm).rows(pool, stand_rows)
        put_rows(pool, col, stand_rows, stands_colour(pool, over))
        pool.release(mark)
    if len(glass_rows):
        mark = pool.mark()
        at = np.searchsorted(wall_rows, glass_rows)
        cg = [take_rows(pool, x, glass_rows) for x in col]
        _glass(pool, cg, take_rows(pool, along, at), take_rows(pool, h, glass_rows),
               take_rows(pool, inv_fp, glass_rows))
        put_rows(pool, col, glass_rows, cg)
        pool.release(mark)
    if len(board_rows):
        mark = pool.mark()
        at = np.searchsorted(wall_rows, board_rows)
        hb = take_rows(pool, h, board_rows)
        bcol = _board_colour(pool, take_rows(pool, along, at), take_rows(pool, side, at), hb,
                             take_rows(pool, inv_fp, board_rows))
        below = pool.get(hb.shape, bool)
        np.less_equal(hb, BOARD_HEIGHT, out=below)
        put_rows(pool, col, board_rows, bcol, below if len(stand_rows) else None)
        pool.release(mark)
    return col, h


def _rows_reaching(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image rows some of whose rays pass over the boards, meet the boards, meet the glass
    (``h``: heights where the rays cross the boards' wall, ``(n, W)``)."""
    lowest, highest = h.min(1), h.max(1)
    stand_rows = np.flatnonzero(highest > BOARD_HEIGHT)
    if len(stand_rows) >= 0.8 * len(h):
        stand_rows = np.arange(len(h))  # cheaper than gathering the rows
    board_rows = np.flatnonzero((lowest <= BOARD_HEIGHT) & (highest >= 0.0))
    glass_rows = np.flatnonzero((lowest < GLASS_TOP) & (highest > BOARD_HEIGHT))
    return stand_rows, board_rows, glass_rows


def _over_boards(pool: Pool, rays: Rays, hit: WallHit, h: np.ndarray, norm: np.ndarray) -> OverBoards:
    """The rays as they carry on outwards from the boards' wall."""
    rate, rise = pool.get(h.shape), pool.get(h.shape)
    np.multiply(rays.dx, hit.nx, out=rate)
    np.multiply(rays.dy, hit.ny, out=rise)
    rate += rise
    np.maximum(rate, 1e-6, out=rate)
    np.divide(rays.dz, rate, out=rise)
    return OverBoards(rays.dx, rays.dy, hit.t, h, rise, rate, norm, rays.cx, rays.cy, rays.focal)


def _glass(pool: Pool, col, along, h, inv_fp) -> None:
    """The glass screen above the boards over colours ``col`` (planar, in place): a slight
    sheen, its posts and its top edge."""
    shape = h.shape
    glass, cov, tmp, m = pool.get(shape), pool.get(shape), pool.get(shape), pool.get(shape, bool)
    np.greater(h, BOARD_HEIGHT, out=m)
    np.copyto(glass, m)
    np.less(h, GLASS_TOP, out=m)
    glass *= m
    np.multiply(along, 1.0 / POST_SPACING, out=tmp)
    np.round(tmp, out=cov)
    tmp -= cov
    np.abs(tmp, out=tmp)
    tmp *= POST_SPACING
    tmp -= 0.035
    cover(tmp, inv_fp, cov)
    np.subtract(h, GLASS_TOP, out=tmp)
    np.abs(tmp, out=tmp)
    tmp -= 0.03
    np.maximum(cov, cover(tmp, inv_fp, tmp), out=cov)
    cov *= glass
    np.multiply(glass, -0.12, out=tmp)
    tmp += 1.0
    glass *= 0.07
    for c in range(3):
        col[c] *= tmp
        col[c] += glass
    mix(col, POST_COLOUR, cov, tmp)


def _board_colour(pool: Pool, along, side, h, inv_fp) -> list[np.ndarray]:
    """The boards (planar): advertising panels with a logo each, seams between them, the
    kick plate below and the top rail above."""
    shape = along.shape
    p, fu, tmp, sd = (pool.get(shape) for _ in range(4))
    np.multiply(along, 1.0 / PANEL_WIDTH, out=p)
    panel = cell_index(pool, p, side, PANEL_TABLE)
    np.floor(p, out=fu)
    np.subtract(p, fu, out=fu)  # across the panel, 0..1
    bg = lookup(pool, PANELS["bg"], panel)
    logo = lookup(pool, PANELS["logo"], panel)
    half_w = lookup(pool, PANELS["half_w"], panel)
    half_h = lookup(pool, PANELS["half_h"], panel)
    hh = np.maximum(h, 0.0, out=p)
    # The logo: a box in the middle of the panel (signed distance in metres).
    np.subtract(fu, 0.5, out=sd)
    np.abs(sd, out=sd)
    sd -= half_w
    sd *= PANEL_WIDTH
    np.subtract(hh, 0.5 * (KICK_PLATE + TOP_RAIL), out=tmp)
    np.abs(tmp, out=tmp)
    tmp -= half_h
    np.maximum(sd, tmp, out=sd)
    cov = cover(sd, inv_fp, sd)
    mix(bg, logo, cov, tmp)
    col = bg
    # Seams between panels, the kick plate and the top rail.
    np.subtract(1.0, fu, out=tmp)
    np.minimum(fu, tmp, out=tmp)
    tmp *= PANEL_WIDTH
    tmp -= 0.015
    cover(tmp, inv_fp, cov)
    cov *= -0.5
    cov += 1.0
    for c in range(3):
        col[c] *= cov
    np.subtract(hh, KICK_PLATE, out=tmp)
    cover(tmp, inv_fp, cov)
    mix(col, KICK_COLOUR, cov, tmp)
    np.subtract(TOP_RAIL, hh, out=tmp)
    cover(tmp, inv_fp, cov)
    mix(col, RAIL_COLOUR, cov, tmp)
    return col
