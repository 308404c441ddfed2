"""Colour of the ice: smooth noise, skate scratches and faint hockey-style markings, all
anchored in world coordinates and anti-aliased by the pixel's footprint on the ice."""

from __future__ import annotations

import numpy as np

from sportanim.synth.render.layout import ICE, ICE_BLUE, ICE_RED, MARK_ALPHA, NOISE_TEXEL
from sportanim.synth.render.planar import cover
from sportanim.synth.render.pool import Pool
from sportanim.synth.render.rays import Rays
from sportanim.synth.render.textures import ice_textures, sample_bilinear, texel_index

# Circles about (x, y) in every quadrant (|x|, |y|): radius (0: none), centre dot radius,
# colour (0 red, 1 blue).
_CIRCLES = ((0.0, 0.0, 4.5, 0.15, 1), (22.0, 7.0, 4.5, 0.3, 0), (5.5, 7.0, 0.0, 0.3, 0))


def ice_colour(pool: Pool, rays: Rays) -> list[np.ndarray]:
    """Planar colours where ``rays`` (pointing down) meet the ice."""
    X, Y, inv_fp = _ground(pool, rays)
    shade = _shade(pool, X, Y, inv_fp)
    red, blue = _markings(pool, X, Y, inv_fp)
    tmp = pool.get(X.shape)
    np.subtract(1.0, red, out=tmp)
    tmp -= blue
    shade *= tmp
    col = [pool.get(X.shape) for _ in range(3)]
    for c in range(3):
        np.multiply(shade, ICE[c], out=col[c])
        np.multiply(red, ICE_RED[c], out=tmp)
        col[c] += tmp
        np.multiply(blue, ICE_BLUE[c], out=tmp)
        col[c] += tmp
    return col


def _ground(pool: Pool, rays: Rays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the rays meet z = 0, and 1 / the pixel's footprint there (1 / the square root of
    its area: f sqrt|dz| / t)."""
    down, t, inv_fp = (pool.get(rays.dz.shape) for _ in range(3))
    X, Y = pool.get(rays.dx.shape), pool.get(rays.dx.shape)
    np.negative(rays.dz, out=down)
    np.maximum(down, 1e-7, out=down)
    np.divide(rays.cz, down, out=t)
    np.minimum(t, 1e4, out=t)
    np.multiply(t, rays.dx, out=X)
    X += rays.cx
    np.multiply(t, rays.dy, out=Y)
    Y += rays.cy
    np.sqrt(down, out=inv_fp)
    inv_fp *= rays.focal
    inv_fp /= t
    return X, Y, inv_fp


def _shade(pool: Pool, X, Y, inv_fp) -> np.ndarray:
    """Brightness of the bare ice: smooth noise, and fine scratches faded out where a pixel
    covers several of them (footprint > 2-4 cm)."""
    shape = X.shape
    shade = pool.get(shape)
    mark = pool.mark()  # the rest are temporaries
    a, b = pool.get(shape), pool.get(shape)
    np.multiply(X, 1 / NOISE_TEXEL, out=a)
    np.multiply(Y, 1 / NOISE_TEXEL, out=b)
    noise, scratches = ice_textures()
    np.take(noise.reshape(-1), texel_index(pool, a, b, len(noise)), out=shade, mode="clip")
    shade *= 0.03
    shade += 1.0
    fade = pool.get(shape)
    np.divide(-60.0, inv_fp, out=fade)
    fade += 2.2
    np.clip(fade, 0.0, 1.0, out=fade)
    if fade.max() > 0:
        np.multiply(X, 1 / 0.03, out=a)
        np.multiply(Y, 1 / 0.03, out=b)
        scratch = sample_bilinear(pool, scratches, a, b, pool.get(shape))
        np.multiply(Y, 0.77 / 0.03, out=a)
        a += 91.0
        np.multiply(X, -0.77 / 0.03, out=b)
        scratch += sample_bilinear(pool, scratches, a, b, pool.get(shape))
        scratch -= 0.08
        scratch *= fade
        scratch *= 0.06
        shade += scratch
    pool.release(mark)
    return shade


def _markings(pool: Pool, X, Y, inv_fp) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of the red and of the blue markings, faint (MARK_ALPHA), blue over red."""
    shape = X.shape
    red, blue = pool.get(shape), pool.get(shape)
    mark = pool.mark()  # the rest are temporaries
    ax, ay, dist, cov, rad = (pool.get(shape) for _ in range(5))
    np.abs(X, out=ax)
    np.abs(Y, out=ay)

    def line(acc, first=False):
        cover(dist, inv_fp, cov)
        if first:
            acc[...] = cov
        else:
            np.maximum(acc, cov, out=acc)

    np.subtract(ax, 0.15, out=dist)
    line(red, True)  # centre line
    np.subtract(ax, 7.6, out=dist)
    np.abs(dist, out=dist)
    dist -= 0.15
    line(blue, True)  # blue lines
    np.subtract(ax, 26.0, out=dist)
    np.abs(dist, out=dist)
    dist -= 0.025
    line(red)  # goal lines
    for cx, cy, radius, dot, colour in _CIRCLES:
        acc = (red, blue)[colour]
        np.subtract(ax, cx, out=dist)
        dist *= dist
        np.subtract(ay, cy, out=rad)
        rad *= rad
        rad += dist
        np.sqrt(rad, out=rad)
        if radius:
            np.subtract(rad, radius, out=dist)
            np.abs(dist, out=dist)
            dist -= 0.03
            line(acc)
        np.subtract(rad, dot, out=dist)
        line(acc)
    np.subtract(1.0, blue, out=dist)
    np.minimum(red, dist, out=red)
    red *= MARK_ALPHA
    blue *= MARK_ALPHA
    pool.release(mark)
    return red, blue
