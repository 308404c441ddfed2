"""In-place helpers on planar colours (a list of three channel arrays) and masks."""

from __future__ import annotations

import numpy as np

from sportanim.synth.render.pool import Pool


def cover(signed: np.ndarray, inv_fp: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Coverage of a shape with signed distance ``signed`` (metres, negative inside) by a
    pixel whose footprint is 1 / inv_fp metres (a box filter)."""
    np.multiply(signed, inv_fp, out=out)
    np.subtract(0.5, out, out=out)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def mix(col: list[np.ndarray], other, weight: np.ndarray, tmp: np.ndarray) -> None:
    """col += weight * (other - col), per channel; ``other`` planar arrays or an RGB triple."""
    for c in range(3):
        np.subtract(other[c], col[c], out=tmp)
        tmp *= weight
        col[c] += tmp


def take_rows(pool: Pool, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (sorted, unique) of ``x``; ``x`` itself when that is all of them."""
    if len(rows) == len(x):
        return x
    return np.take(x, rows, axis=0, out=pool.get((len(rows),) + x.shape[1:], x.dtype.type))


def put_rows(pool: Pool, dst: list[np.ndarray], rows: np.ndarray, src: list[np.ndarray],
             where: np.ndarray | None = None) -> None:
    """dst[c][rows] = src[c] (only where ``where``, an array shaped like ``src[c]``)."""
    whole = len(rows) == len(dst[0])
    for c in range(3):
        if where is None:
            if whole:
                dst[c][...] = src[c]
            else:
                dst[c][rows] = src[c]
        elif whole:
            np.copyto(dst[c], src[c], where=where)
        else:
            buf = np.take(dst[c], rows, axis=0, out=pool.get(src[c].shape))
            np.copyto(buf, src[c], where=where)
            dst[c][rows] = buf
