"""Colour of the ice: smooth noise, skate scratches and faint hockey markings, anchored in world coordinates."""

from __future__ import annotations

import numpy as np

from sportanim.synth.render.layout import ICE, ICE_BLUE, ICE_RED, MARK_ALPHA, NOISE_TEXEL
from sportanim.synth.render.planar import cover
from sportanim.synth.render.pool import Pool
from sportanim.synth.render.textures import ice_textures, sample_bilinear, texel_index


def ice_colour(pool: Pool, X, Y, inv_fp) -> list[np.ndarray]:
    shape = X.shape
    shade, a, b, tmp = (pool.get(shape) for _ in range(4))
    np.multiply(X, 1 / NOISE_TEXEL, out=a)
    np.multiply(Y, 1 / NOISE_TEXEL, out=b)
    noise, scratches = ice_textures()
    np.take(noise.reshape(-1), texel_index(pool, a, b, len(noise)), out=shade, mode="clip")
    shade *= 0.03
    shade += 1.0
    # Fine scratches, faded out where a pixel covers several of them (footprint > 2-4 cm).
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
        scratch += sample_bilinear(pool, scratches, a, b, tmp)
        scratch -= 0.08
        scratch *= fade
        scratch *= 0.06
        shade += scratch
    # Markings (hockey-style, faint under the ice): red and blue coverage.
    ax, ay = a, b
    np.abs(X, out=ax)
    np.abs(Y, out=ay)
    red, blue, dist, cov = fade, pool.get(shape), pool.get(shape), tmp

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
    rad = pool.get(shape)
    for cx, cy, radius, dot, acc in ((0.0, 0.0, 4.5, 0.15, blue), (22.0, 7.0, 4.5, 0.3, red),
                                     (5.5, 7.0, 0.0, 0.3, red)):
        # Circles about (cx, cy) in every quadrant (|x|, |y|), and their centre dots.
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
    np.subtract(1.0, red, out=dist)
    dist -= blue
    shade *= dist
    col = [pool.get(shape) for _ in range(3)]
    for c in range(3):
        np.multiply(shade, ICE[c], out=col[c])
        np.multiply(red, ICE_RED[c], out=cov)
        col[c] += cov
        np.multiply(blue, ICE_BLUE[c], out=cov)
        col[c] += cov
    return col
