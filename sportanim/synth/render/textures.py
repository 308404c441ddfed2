"""Procedural textures (ice noise, skate scratches) and lookup tables (advertising panels,
spectators), made once from fixed seeds, and their sampling."""

from __future__ import annotations

import functools

import numpy as np

from sportanim.synth.render.layout import (
    CROWD_TABLE_ROWS, CROWD_TABLE_SEATS, KICK_PLATE, PANEL_TABLE, SECTION_SEATS, STAIRS_COLOUR, STANDS_DARK, TOP_RAIL)
from sportanim.synth.render.pool import Pool

_AD_BACKGROUNDS = np.array([
    [0.95, 0.95, 0.94], [0.95, 0.95, 0.94], [0.93, 0.94, 0.96], [0.96, 0.95, 0.90],
    [0.10, 0.25, 0.60], [0.75, 0.10, 0.12], [0.10, 0.45, 0.25], [0.12, 0.12, 0.14],
    [0.95, 0.55, 0.10], [0.20, 0.55, 0.80]], np.float32)
_AD_LOGOS = np.array([
    [0.80, 0.10, 0.12], [0.10, 0.22, 0.62], [0.08, 0.08, 0.10], [0.95, 0.75, 0.10],
    [0.96, 0.96, 0.96], [0.10, 0.55, 0.30], [0.55, 0.15, 0.60], [0.95, 0.45, 0.10]], np.float32)
_SHIRTS = np.array([
    [0.75, 0.12, 0.12], [0.12, 0.22, 0.55], [0.85, 0.85, 0.85], [0.10, 0.10, 0.11],
    [0.20, 0.45, 0.25], [0.85, 0.65, 0.15], [0.45, 0.45, 0.48], [0.50, 0.20, 0.45],
    [0.30, 0.55, 0.80], [0.80, 0.40, 0.30], [0.25, 0.18, 0.12], [0.90, 0.90, 0.60]], np.float32)
_CROWD_SKIN = np.array([[0.85, 0.66, 0.52], [0.70, 0.50, 0.36], [0.45, 0.31, 0.21],
                        [0.90, 0.74, 0.62]], np.float32)
_SEATS = np.array([[0.45, 0.10, 0.12], [0.12, 0.20, 0.42], [0.30, 0.30, 0.33]], np.float32)


def _box_blur(x: np.ndarray, radius: int, passes: int) -> np.ndarray:
    """Separable periodic box blur (sums of rolls: exact, machine independent)."""
    for _ in range(passes):
        for axis in (0, 1):
            acc = x.copy()
            for k in range(1, radius + 1):
                acc += np.roll(x, k, axis) + np.roll(x, -k, axis)
            x = acc / (2 * radius + 1)
    return x


@functools.cache
def ice_textures() -> tuple[np.ndarray, np.ndarray]:
    """Ice textures: smooth noise (512 x 512) and skate scratches (256 x 256), periodic."""
    rng = np.random.default_rng(20240611)
    noise = _smooth_noise(rng)
    return noise.astype(np.float32), _scratches(rng).astype(np.float32)


def _smooth_noise(rng: np.random.Generator) -> np.ndarray:
    """Blurred white noise (128 x 128) in [-1, 1], upsampled 4x (bilinear, periodic) so
    that a nearest-texel lookup is smooth enough."""
    noise = _box_blur(rng.standard_normal((128, 128)), 2, 3)
    noise /= np.abs(noise).max()
    up = np.zeros((512, 512))
    for i in range(4):
        for j in range(4):
            wy, wx = (i + 0.5) / 4 - 0.5, (j + 0.5) / 4 - 0.5
            a = np.roll(noise, (-int(np.floor(wy)), -int(np.floor(wx))), (0, 1))
            fy, fx = wy - np.floor(wy), wx - np.floor(wx)
            b = np.roll(a, -1, 1)
            c = np.roll(a, -1, 0)
            d = np.roll(c, -1, 1)
            up[i::4, j::4] = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    return up


def _scratches(rng: np.random.Generator, n: int = 256) -> np.ndarray:
    """Thin arcs of random circles, each drawn in a window round its middle, softened."""
    scratch = np.zeros((n, n))
    for _ in range(70):
        cx, cy = rng.uniform(0, n, 2)
        radius = rng.uniform(30, 400)
        dirx, diry = rng.standard_normal(2)
        norm = np.sqrt(dirx * dirx + diry * diry)
        dirx, diry = dirx / norm, diry / norm
        width = rng.uniform(0.35, 1.0)
        reach = min(rng.uniform(0.2, 0.9) * radius, 100.0)
        strength = rng.uniform(0.3, 1.0)
        x0, y0 = int(np.floor(cx - reach)) - 2, int(np.floor(cy - reach)) - 2
        size = int(2 * reach) + 5
        dx = (np.arange(x0, x0 + size) + 0.5 - cx)[None, :]  # from the arc's middle
        dy = (np.arange(y0, y0 + size) + 0.5 - cy)[:, None]
        ox, oy = dx + radius * dirx, dy + radius * diry  # relative to the circle's centre
        r = np.sqrt(ox * ox + oy * oy)
        near = (dx * dx + dy * dy) < reach * reach
        line = np.clip(1.0 - np.abs(r - radius) / width, 0.0, 1.0) * near
        rows, cols = np.arange(y0, y0 + size) % n, np.arange(x0, x0 + size) % n
        window = scratch[np.ix_(rows, cols)]
        scratch[np.ix_(rows, cols)] = np.maximum(window, strength * line)
    return _box_blur(scratch, 1, 1) * 0.7 + scratch * 0.3


def _planar_table(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, np.float32).T)


def _panel_table(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per advertising panel: background and logo colours (planar), the logo's half width
    (of the panel's) and half height (metres)."""
    n = PANEL_TABLE
    return {
        "bg": _planar_table(_AD_BACKGROUNDS[rng.integers(len(_AD_BACKGROUNDS), size=n)]),
        "logo": _planar_table(_AD_LOGOS[rng.integers(len(_AD_LOGOS), size=n)]),
        "half_w": rng.uniform(0.18, 0.38, n).astype(np.float32),
        "half_h": ((TOP_RAIL - KICK_PLATE) * rng.uniform(0.12, 0.26, n)).astype(np.float32),
    }


def _crowd_table(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per seat (row-major over CROWD_TABLE_ROWS x CROWD_TABLE_SEATS): whether it is an aisle,
    occupied or empty, the spectator's shirt and skin, the seat's colour (planar), and the
    mean colour of the whole cell, seen from afar."""
    rows, seats = CROWD_TABLE_ROWS, CROWD_TABLE_SEATS
    seat = np.arange(seats)[None, :].repeat(rows, 0)
    row = np.arange(rows)[:, None].repeat(seats, 1)
    aisle = (seat % SECTION_SEATS == 0).astype(np.float32)
    occupied = (rng.uniform(size=(rows, seats)) < 0.8) * (1.0 - aisle)
    shirt = _SHIRTS[rng.integers(len(_SHIRTS), size=(rows, seats))] * rng.uniform(0.55, 1.05, (rows, seats, 1))
    skin = _CROWD_SKIN[rng.integers(len(_CROWD_SKIN), size=(rows, seats))]
    seat_colour = _SEATS[(seat // SECTION_SEATS + row // 12) % len(_SEATS)]
    empty = (1.0 - occupied - aisle)[..., None]
    occ = occupied[..., None]
    dark = STANDS_DARK
    mean = dark + occ * (0.42 * (shirt - dark) + 0.12 * (skin - dark)) + 0.35 * empty * (seat_colour - dark) \
        + 0.6 * aisle[..., None] * (STAIRS_COLOUR - dark)
    return {
        "mean": _planar_table(mean.reshape(-1, 3)), "shirt": _planar_table(shirt.reshape(-1, 3)),
        "skin": _planar_table(skin.reshape(-1, 3)), "seat": _planar_table(seat_colour.reshape(-1, 3)),
        "occupied": occupied.reshape(-1).astype(np.float32), "empty": empty.reshape(-1).astype(np.float32),
        "aisle": aisle.reshape(-1),
    }


def _tables() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)  # one stream: panels first, then the crowd
    return _panel_table(rng), _crowd_table(rng)


PANELS, CROWD = _tables()  # lookup tables indexed by cell


def sample_bilinear(pool: Pool, tex: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Bilinear, periodic lookup of the square power-of-two ``tex`` at texel coordinates
    ``(x, y)`` into ``out``."""
    n = tex.shape[0]
    flat = tex.reshape(-1)
    shape = x.shape
    fx, fy = pool.get(shape), pool.get(shape)
    np.floor(x, out=fx)
    np.floor(y, out=fy)
    ix, iy, i1, idx = (pool.get(shape, np.intp) for _ in range(4))
    np.copyto(ix, fx, casting="unsafe")
    np.copyto(iy, fy, casting="unsafe")
    np.subtract(x, fx, out=fx)  # fractions
    np.subtract(y, fy, out=fy)
    ix &= n - 1
    iy &= n - 1
    np.add(ix, 1, out=i1)
    i1 &= n - 1
    iy *= n  # row offsets
    a, b = pool.get(shape), pool.get(shape)
    np.add(iy, ix, out=idx)
    np.take(flat, idx, out=a, mode="clip")
    np.add(iy, i1, out=idx)
    np.take(flat, idx, out=b, mode="clip")
    b -= a
    b *= fx
    a += b  # top row
    iy += n
    iy &= n * n - 1
    np.add(iy, ix, out=idx)
    np.take(flat, idx, out=out, mode="clip")
    np.add(iy, i1, out=idx)
    np.take(flat, idx, out=b, mode="clip")
    b -= out
    b *= fx
    out += b  # bottom row
    out -= a
    out *= fy
    out += a
    return out


def texel_index(pool: Pool, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Flat index of the texel at ``(x, y)`` in a periodic ``n x n`` texture (n a power of two)."""
    ix, iy, f = pool.get(x.shape, np.intp), pool.get(x.shape, np.intp), pool.get(x.shape)
    np.copyto(ix, np.floor(x, out=f), casting="unsafe")
    np.copyto(iy, np.floor(y, out=f), casting="unsafe")
    ix &= n - 1
    iy &= n - 1
    iy *= n
    iy += ix
    return iy


def cell_index(pool: Pool, coord: np.ndarray, offset: np.ndarray | None, size: int) -> np.ndarray:
    """Integer cell index ``(floor(coord) + offset) mod size`` (size a power of two)."""
    idx = pool.get(coord.shape, np.intp)
    np.copyto(idx, np.floor(coord, out=pool.get(coord.shape)), casting="unsafe")
    if offset is not None:
        idx += offset
    idx &= size - 1
    return idx


def lookup(pool: Pool, table: np.ndarray, idx: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """``table[..., idx]``: planar colours for a ``(3, N)`` table, else one array."""
    if table.ndim == 1:
        return np.take(table, idx, out=pool.get(idx.shape), mode="clip")
    return [np.take(table[c], idx, out=pool.get(idx.shape), mode="clip") for c in range(len(table))]
