"""Shading of the skater's samples: the part that won each sample in the z-buffer is
recomputed there and lit (ambient + sky + one directional light + a fill from the camera +
a specular)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sportanim.synth.camera import Camera
from sportanim.synth.render.body import unit
from sportanim.synth.render.pool import Pool

# Light of the skater: a key light from above (world direction towards the light), an
# ambient term brighter from the sky, a fill from the camera and a small specular.
LIGHT_DIR = np.array([0.35, 0.25, 1.0]) / np.linalg.norm([0.35, 0.25, 1.0])
AMBIENT, SKY, KEY, FILL = 0.22, 0.18, 0.55, 0.30
BAND = 0.5  # anti-aliasing half-width, samples
PART_BITS = 5  # the low bits of a depth key name the part


class Lighting(NamedTuple):
    """Directions in camera space per frame ``(T, 3)``."""

    key: np.ndarray  # towards the key light
    sky: np.ndarray  # world up
    half: np.ndarray  # half way between the key light and the camera (specular)

    def frames(self, g: np.ndarray) -> "Lighting":
        return Lighting(self.key[g], self.sky[g], self.half[g])


def camera_lighting(camera: Camera) -> Lighting:
    R = np.asarray(camera.rotation, np.float64)
    key = np.einsum("tij,j->ti", R, LIGHT_DIR)
    return Lighting(key, R[:, :, 2], unit(key + np.array([0.0, 0.0, -1.0])))


class Segments(NamedTuple):
    """Projected capsules of a batch of frames, per (frame, part) ``(F, K)`` float64, in
    samples relative to the batch's box: the axis from (u, v) to (u + du, v + dv), the
    radius from ``radius`` to ``radius + dradius`` along it."""

    u: np.ndarray
    v: np.ndarray
    du: np.ndarray
    dv: np.ndarray
    inv_len2: np.ndarray  # 1 / (du^2 + dv^2)
    radius: np.ndarray
    dradius: np.ndarray


class ZBuffer(NamedTuple):
    """Per sample ``(F, hs, ws)`` float32: the nearest part's key (floor(depth) << PART_BITS
    + part; inf where no part) and the smallest signed distance to any outline (samples)."""

    key: np.ndarray
    sdf: np.ndarray


class _Hits(NamedTuple):
    """Samples some part covers: flat index, frame, row, column, and the flat (frame, part)
    index of the part that won each."""

    flat: np.ndarray
    frame: np.ndarray
    row: np.ndarray
    col: np.ndarray
    part: np.ndarray


def shade_samples(pool: Pool, zbuf: ZBuffer, segs: Segments, lights: Lighting, albedo: np.ndarray,
                  specular: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Colour (premultiplied, planar) and coverage ``(F, hs, ws)`` of body samples; ``lights``
    of the batch's frames, ``albedo`` ``(K, 3)`` and ``specular`` ``(K,)`` per part."""
    alpha = pool.get(zbuf.key.shape)
    np.subtract(BAND, zbuf.sdf, out=alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    premult = [pool.get(zbuf.key.shape) for _ in range(3)]
    for p in premult:
        p.fill(0.0)
    hits = _winners(pool, zbuf.key, alpha, segs.u.shape[1])
    if hits is None:
        return premult, alpha
    nx, ny, nz = _normals(pool, segs, hits)
    shade, sp = _brightness(pool, nx, ny, nz, lights, hits.frame)
    F, K = segs.u.shape
    sp *= _gather(pool, np.broadcast_to(specular, (F, K)), hits.part)
    cover = np.take(alpha.reshape(-1), hits.flat, out=pool.get(hits.flat.shape))
    for ch in range(3):
        c = _gather(pool, np.broadcast_to(albedo[:, ch], (F, K)), hits.part)
        c *= shade
        c += sp
        np.clip(c, 0.0, 1.0, out=c)
        c *= cover
        premult[ch].reshape(-1)[hits.flat] = c
    return premult, alpha


def _winners(pool: Pool, key: np.ndarray, alpha: np.ndarray, parts: int) -> _Hits | None:
    """The covered samples (None if none) and the part whose key won each."""
    F, hs, ws = key.shape
    hit = np.flatnonzero(alpha.reshape(-1) > 0)
    if len(hit) == 0:
        return None
    fi = hit // (hs * ws)
    rem = hit - fi * (hs * ws)
    row = rem // ws
    col = rem - row * ws
    idx = pool.get(hit.shape, np.intp)
    np.copyto(idx, np.take(key.reshape(-1), hit, out=pool.get(hit.shape)), casting="unsafe")
    idx &= (1 << PART_BITS) - 1
    idx += fi * parts
    return _Hits(hit, fi, row, col, idx)


def _gather(pool: Pool, table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``table`` ``(F, K)`` at flat (frame, part) indices, float32."""
    out = pool.get(idx.shape)
    np.take(np.ascontiguousarray(table, dtype=np.float32).reshape(-1), idx, out=out, mode="clip")
    return out


def _normals(pool: Pool, segs: Segments, hits: _Hits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-space unit normals of the winning capsules at the samples: from the axis to the
    sample in the image plane (over the radius there), then tilted towards the camera."""
    f32 = np.float32
    idx = hits.part
    ddx, ddy = _gather(pool, segs.u, idx), _gather(pool, segs.v, idx)
    np.subtract(hits.col.astype(f32) + f32(0.5), ddx, out=ddx)
    np.subtract(hits.row.astype(f32) + f32(0.5), ddy, out=ddy)
    e_u, e_v = _gather(pool, segs.du, idx), _gather(pool, segs.dv, idx)
    t, tmp, tmp2 = _gather(pool, segs.inv_len2, idx), pool.get(idx.shape), pool.get(idx.shape)
    np.multiply(ddx, e_u, out=tmp)
    np.multiply(ddy, e_v, out=tmp2)
    tmp += tmp2
    t *= tmp
    np.clip(t, 0.0, 1.0, out=t)  # the closest point on the axis
    r = _gather(pool, segs.dradius, idx)
    r *= t
    r += _gather(pool, segs.radius, idx)
    nx, ny = ddx, ddy
    np.multiply(t, e_u, out=tmp)
    nx -= tmp
    np.multiply(t, e_v, out=tmp)
    ny -= tmp
    nx /= r
    ny /= r
    n2, nz = tmp, tmp2
    np.multiply(nx, nx, out=n2)
    np.multiply(ny, ny, out=nz)
    n2 += nz
    np.sqrt(n2, out=nz)
    np.maximum(nz, 1.0, out=nz)  # samples just outside the silhouette: unit length
    nx /= nz
    ny /= nz
    np.minimum(n2, 1.0, out=n2)
    np.subtract(1.0, n2, out=nz)
    np.sqrt(nz, out=nz)
    np.negative(nz, out=nz)  # facing the camera (camera z is forward)
    return nx, ny, nz


def _brightness(pool: Pool, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray, lights: Lighting,
                fi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse factor and specular term of each sample (frames ``fi`` of ``lights``)."""
    f32 = np.float32
    scratch = pool.get(nx.shape)

    def dot(vec, out):
        v = np.asarray(vec, f32)
        np.multiply(nx, v[fi, 0], out=out)
        np.multiply(ny, v[fi, 1], out=scratch)
        out += scratch
        np.multiply(nz, v[fi, 2], out=scratch)
        out += scratch
        return out

    shade, lam = pool.get(nx.shape), pool.get(nx.shape)
    dot(lights.sky, shade)
    shade *= 0.5 * SKY
    shade += AMBIENT + 0.5 * SKY
    dot(lights.key, lam)
    np.maximum(lam, 0.0, out=lam)
    lam *= KEY
    shade += lam
    np.multiply(nz, -FILL, out=lam)
    shade += lam
    sp = dot(lights.half, lam)
    np.maximum(sp, 0.0, out=sp)
    for _ in range(4):
        sp *= sp  # ^16
    return shade, sp
