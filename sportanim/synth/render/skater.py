"""The skater rasterised in screen space.

Per sample (a pixel, or a sub-pixel when supersampling) the closest point on each part's
projected axis gives the signed distance to its outline (analytic anti-aliasing) and a
depth; a z-buffer keeps the nearest part, which :mod:`.shading` then lights. Frames are
drawn in batches sharing one box size, parts in batches of similar box sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sportanim.synth.camera import Camera
from sportanim.synth.render.appearance import Appearance
from sportanim.synth.render.body import BodyParts, body_parts, unit
from sportanim.synth.render.pool import Pool, scratch_pool
from sportanim.synth.render.shading import BAND, PART_BITS, Lighting, Segments, ZBuffer, camera_lighting, shade_samples

_BODY_CHUNK_SAMPLES = 1 << 18  # samples per body batch
_DEPTH_SCALE = 1e4  # key units per metre of depth (0.1 mm)
_MAX_DEPTH_KEY = float((1 << 18) - 1)
_NEAR = 0.05  # metres: parts closer to the camera plane are not drawn


class _Screen(NamedTuple):
    """The parts seen by the camera, per frame and part ``(T, K)`` float64: ends in samples,
    depths in metres (clamped to _NEAR), radii in samples, and each part's sample box."""

    ua: np.ndarray
    va: np.ndarray
    ub: np.ndarray
    vb: np.ndarray
    za: np.ndarray
    zb: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    valid: np.ndarray  # bool: both ends in front of the camera
    lo_u: np.ndarray
    hi_u: np.ndarray
    lo_v: np.ndarray
    hi_v: np.ndarray
    flat_stretch: np.ndarray  # 1 / foreshortening^2 - 1 of a flat end's disc
    z_ref: np.ndarray  # (T,) depth of each frame's key 0: just in front of its nearest part


class _Boxes(NamedTuple):
    """Per frame ``(T,)`` int64: the body's box in native pixels, [x0, x1) x [y0, y1)."""

    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray


@dataclass(frozen=True, eq=False)
class _Clip:
    """What every batch of frames draws from."""

    parts: BodyParts
    screen: _Screen
    boxes: _Boxes
    lights: Lighting
    ss: int  # samples per pixel side
    width: int  # native pixels
    height: int


class _Depth(NamedTuple):
    """Depth keys of a batch's parts ``(F, K)``: at the first end, their change along the
    axis, and the bulge of the radius towards the camera."""

    near: np.ndarray
    slope: np.ndarray
    bulge: np.ndarray


class _FlatEnds(NamedTuple):
    """Beyond a flat end a sample's distance along the axis counts 1 / foreshortening
    times: per (frame, part) ``(F, K)``, the axis length (samples) and that factor squared
    minus 1 (0 for round ends)."""

    length: np.ndarray
    stretch: np.ndarray
    parts: np.ndarray  # (K,) bool: which parts have flat ends


class _Tiles(NamedTuple):
    """Each part's box in each frame's sample box ``(F, K)`` (float), and the largest width
    and height of each part's boxes over the frames ``(K,)`` int64."""

    x_lo: np.ndarray
    y_lo: np.ndarray
    width: np.ndarray
    height: np.ndarray


class _Batch(NamedTuple):
    """The geometry a batch of frames draws, per (frame, part)."""

    segs: Segments
    flat: _FlatEnds
    depth: _Depth
    tiles: _Tiles


def body_layers(joints: np.ndarray, camera: Camera, appearance: Appearance, ss: int) -> dict:
    """Per frame with a visible body: ``frame -> (y0, x0, premultiplied colour (h, w, 3),
    coverage (h, w))`` over a box of the native image."""
    ss = int(ss)
    if ss < 1:
        raise ValueError(f"supersample must be >= 1, got {ss}")
    joints = np.asarray(joints, np.float64)
    T, H, W = camera.num_frames, camera.height, camera.width
    if joints.shape != (T, 24, 3):
        raise ValueError(f"joints must be ({T}, 24, 3) for a {T}-frame camera, got {joints.shape}")
    if T == 0:
        return {}
    parts = body_parts(joints, appearance)
    screen = _project(parts, camera, ss)
    boxes, frames = _frame_boxes(screen, ss, W, H)
    if len(frames) == 0:
        return {}
    clip = _Clip(parts, screen, boxes, camera_lighting(camera), ss, W, H)
    layers = {}
    pool = scratch_pool()
    for group in _group_frames(frames, boxes, ss):
        layers.update(_draw_frames(pool, clip, group))
    return layers


def _project(parts: BodyParts, camera: Camera, ss: int) -> _Screen:
    """The parts in the image, ``ss`` samples per pixel side."""
    K = np.asarray(camera.intrinsics, np.float64)
    Ac, Bc = camera.world_to_camera(parts.a), camera.world_to_camera(parts.b)
    valid = (Ac[..., 2] > _NEAR) & (Bc[..., 2] > _NEAR)
    zA, zB = np.maximum(Ac[..., 2], _NEAR), np.maximum(Bc[..., 2], _NEAR)

    def pix(P, z):
        x, y = P[..., 0] / z, P[..., 1] / z
        u = K[:, None, 0, 0] * x + K[:, None, 0, 1] * y + K[:, None, 0, 2]
        v = K[:, None, 1, 1] * y + K[:, None, 1, 2]
        return u * ss, v * ss

    ua, va = pix(Ac, zA)
    ub, vb = pix(Bc, zB)
    focal = np.sqrt(K[:, 0, 0] * K[:, 1, 1])[:, None] * ss
    rpa = np.maximum(focal * parts.radius_a / zA, parts.min_pixels * ss)
    rpb = np.maximum(focal * parts.radius_b / zB, parts.min_pixels * ss)
    valid &= np.isfinite(ua) & np.isfinite(ub) & np.isfinite(va) & np.isfinite(vb)
    for arr in (ua, va, ub, vb):
        arr[~valid] = -1e6  # far outside every box
    reach = np.maximum(rpa, rpb) + BAND + 1.0
    # Flat ends: the disc's foreshortening |axis . view|.
    axis = unit(Bc - Ac)
    view = unit(0.5 * (Ac + Bc))
    fore = np.clip(np.abs(np.sum(axis * view, -1)), 0.05, 1.0)
    z_ref = np.min(np.where(valid, np.minimum(zA, zB), np.inf), 1) - 0.5
    return _Screen(ua, va, ub, vb, zA, zB, rpa, rpb, valid,
                   lo_u=np.minimum(ua, ub) - reach, hi_u=np.maximum(ua, ub) + reach,
                   lo_v=np.minimum(va, vb) - reach, hi_v=np.maximum(va, vb) + reach,
                   flat_stretch=(1.0 / fore ** 2 - 1.0), z_ref=z_ref)


def _frame_boxes(s: _Screen, ss: int, W: int, H: int) -> tuple[_Boxes, np.ndarray]:
    """Per-frame boxes in native pixels, and the frames whose box is not empty."""
    x0 = np.clip(np.floor(np.where(s.valid, s.lo_u, np.inf).min(1) / ss), 0, W)
    x1 = np.clip(np.ceil(np.where(s.valid, s.hi_u, -np.inf).max(1) / ss), 0, W)
    y0 = np.clip(np.floor(np.where(s.valid, s.lo_v, np.inf).min(1) / ss), 0, H)
    y1 = np.clip(np.ceil(np.where(s.valid, s.hi_v, -np.inf).max(1) / ss), 0, H)
    frames = np.flatnonzero(s.valid.any(1) & (x1 > x0) & (y1 > y0))
    return _Boxes(*(a.astype(np.int64) for a in (x0, x1, y0, y1))), frames


def _group_frames(frames: np.ndarray, b: _Boxes, ss: int) -> list[list[int]]:
    """Consecutive frames in batches sharing one box size, each under _BODY_CHUNK_SAMPLES."""
    groups, cur, hh, ww = [], [], 0, 0
    for f in frames:
        h2, w2 = max(hh, b.y1[f] - b.y0[f]), max(ww, b.x1[f] - b.x0[f])
        if cur and (len(cur) + 1) * h2 * w2 * ss * ss > _BODY_CHUNK_SAMPLES:
            groups.append(cur)
            cur, h2, w2 = [], b.y1[f] - b.y0[f], b.x1[f] - b.x0[f]
        cur.append(f)
        hh, ww = h2, w2
    groups.append(cur)
    return groups


def _draw_frames(pool: Pool, clip: _Clip, group: list[int]) -> dict:
    """The layers of one batch of frames: z-buffer, shading, then back to native pixels."""
    ss, b = clip.ss, clip.boxes
    g = np.array(group)
    hn = int(max(b.y1[g] - b.y0[g]))
    wn = int(max(b.x1[g] - b.x0[g]))
    gx0 = np.minimum(b.x0[g], clip.width - wn)
    gy0 = np.minimum(b.y0[g], clip.height - hn)
    ox = (gx0 * ss).astype(np.float64)[:, None]
    oy = (gy0 * ss).astype(np.float64)[:, None]
    batch = _batch_geometry(clip, g, ox, oy, (hn * ss, wn * ss))
    mark = pool.mark()
    zbuf = _depth_test(pool, batch, (len(g), hn * ss, wn * ss))
    premult, alpha = shade_samples(pool, zbuf, batch.segs, clip.lights.frames(g), clip.parts.albedo,
                                   clip.parts.specular)
    if ss > 1:
        alpha = _downsample(alpha, ss)
        premult = [_downsample(p, ss) for p in premult]
    else:
        alpha = alpha.copy()
        premult = [p.copy() for p in premult]
    premult = np.stack(premult, -1)
    pool.release(mark)
    return {int(f): (int(gy0[i]), int(gx0[i]), premult[i], alpha[i]) for i, f in enumerate(group)}


def _batch_geometry(clip: _Clip, g: np.ndarray, ox: np.ndarray, oy: np.ndarray,
                    size: tuple[int, int]) -> _Batch:
    """Per (frame, part) constants of frames ``g`` relative to their sample box at
    (``ox``, ``oy``) of ``size`` (hs, ws) samples."""
    s, parts = clip.screen, clip.parts
    eu, ev = s.ub[g] - s.ua[g], s.vb[g] - s.va[g]
    len2 = np.maximum(eu * eu + ev * ev, 1e-12)
    segs = Segments(s.ua[g] - ox, s.va[g] - oy, eu, ev, 1.0 / len2, s.ra[g], s.rb[g] - s.ra[g])
    flat = _FlatEnds(np.sqrt(len2), np.where(parts.flat[None, :], s.flat_stretch[g], 0.0), parts.flat)
    wr = np.broadcast_to(0.5 * (parts.radius_a + parts.radius_b), (len(g), len(parts.flat)))
    depth = _Depth(near=(s.za[g] - s.z_ref[g, None]) * _DEPTH_SCALE, slope=(s.zb[g] - s.za[g]) * _DEPTH_SCALE,
                   bulge=wr * _DEPTH_SCALE)
    return _Batch(segs, flat, depth, _tiles(s, g, ox, oy, size))


def _tiles(s: _Screen, g: np.ndarray, ox: np.ndarray, oy: np.ndarray, size: tuple[int, int]) -> _Tiles:
    """The parts' sample boxes clipped to the batch's box, and their largest sizes."""
    hs, ws = size
    x_lo = np.clip(np.floor(s.lo_u[g] - ox), 0, ws)
    x_hi = np.clip(np.ceil(s.hi_u[g] - ox), 0, ws)
    y_lo = np.clip(np.floor(s.lo_v[g] - oy), 0, hs)
    y_hi = np.clip(np.ceil(s.hi_v[g] - oy), 0, hs)
    vg = s.valid[g]
    return _Tiles(x_lo, y_lo, np.where(vg, x_hi - x_lo, 0).max(0).astype(np.int64),
                  np.where(vg, y_hi - y_lo, 0).max(0).astype(np.int64))


def _depth_test(pool: Pool, batch: _Batch, shape: tuple[int, int, int]) -> ZBuffer:
    """The z-buffer of a batch of frames ``shape`` (F, hs, ws). Each part's box in each frame
    is padded to a common size per batch of parts of similar sizes: parts are drawn a batch
    at a time, and the z-buffer takes the minimum key over them with an unbuffered
    np.minimum.at (boxes overlap)."""
    zbuf = ZBuffer(pool.get(shape), pool.get(shape))
    zbuf.key.fill(np.inf)
    zbuf.sdf.fill(1e9)
    area = batch.tiles.width * batch.tiles.height
    order = [k for k in np.argsort(-area, kind="stable") if area[k] > 0]
    batches = []
    for k in order:
        if batches and 2 * area[k] >= area[batches[-1][0]]:
            batches[-1].append(k)
        else:
            batches.append([k])
    for ks in batches:
        m = pool.mark()
        _draw_parts(pool, zbuf, batch, np.array(ks))
        pool.release(m)
    return zbuf


def _draw_parts(pool: Pool, zbuf: ZBuffer, batch: _Batch, ks: np.ndarray) -> None:
    """Parts ``ks`` into the z-buffer: their signed distances and depth keys over their tiles."""
    segs, depth, tiles = batch.segs, batch.depth, batch.tiles
    f32 = np.float32
    F, hs, ws = zbuf.key.shape
    Kb = len(ks)
    th, tw = int(tiles.height[ks].max()), int(tiles.width[ks].max())
    shp = (Kb, F, th, tw)

    x_org = np.clip(tiles.x_lo[:, ks].T, 0, ws - tw).astype(np.intp).reshape(Kb, F, 1, 1)
    y_org = np.clip(tiles.y_lo[:, ks].T, 0, hs - th).astype(np.intp).reshape(Kb, F, 1, 1)
    xs = x_org + np.arange(tw).reshape(1, 1, 1, tw)
    ys = y_org + np.arange(th).reshape(1, 1, th, 1)
    idx = pool.get(shp, np.intp)  # the samples' flat indices in the z-buffer
    np.add(ys * ws + (np.arange(F) * (hs * ws)).reshape(1, F, 1, 1), xs, out=idx)
    gx = xs.astype(f32) + (f32(0.5) - _columns(segs.u, ks))  # (Kb, F, 1, tw): from the first end
    gy = ys.astype(f32) + (f32(0.5) - _columns(segs.v, ks))  # (Kb, F, th, 1)
    t, d2, r = _closest_on_axis(pool, segs, batch.flat if batch.flat.parts[ks].any() else None, ks, gx, gy)
    sdf = pool.get(shp)
    np.sqrt(d2, out=sdf)
    sdf -= r
    np.minimum.at(zbuf.sdf.reshape(-1), idx.reshape(-1), sdf.reshape(-1))
    # Depth: the centre line, pulled towards the camera by the capsule's bulge.
    r *= r
    d2 /= r
    np.subtract(1.0, d2, out=d2)
    np.maximum(d2, 0.0, out=d2)
    np.sqrt(d2, out=d2)
    d2 *= _columns(depth.bulge, ks)
    key = t
    key *= _columns(depth.slope, ks)
    key += _columns(depth.near, ks)
    key -= d2
    np.minimum(key, _MAX_DEPTH_KEY, out=key)  # (never negative: z_ref is in front)
    np.floor(key, out=key)
    key *= float(1 << PART_BITS)
    key += ks.astype(f32).reshape(Kb, 1, 1, 1)
    outside = pool.get(shp, bool)
    np.greater_equal(sdf, BAND, out=outside)  # samples this part does not touch
    np.copyto(key, np.inf, where=outside)
    np.minimum.at(zbuf.key.reshape(-1), idx.reshape(-1), key.reshape(-1))


def _closest_on_axis(pool: Pool, segs: Segments, flat: _FlatEnds | None, ks: np.ndarray, gx: np.ndarray,
                     gy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample of parts ``ks``' tiles (``gx``, ``gy``: from the first end): the axis
    parameter of the closest point (0..1), the squared distance to it (samples^2) and the
    radius there; ``flat`` None when none of these parts has flat ends."""
    shp = np.broadcast_shapes(gx.shape, gy.shape)
    t, qx, qy = (pool.get(shp) for _ in range(3))
    np.multiply(gx, _columns(segs.du * segs.inv_len2, ks), out=t)
    t += gy * _columns(segs.dv * segs.inv_len2, ks)
    if flat is not None:
        over = pool.get(shp)
        np.subtract(t, 0.5, out=over)
    np.clip(t, 0.0, 1.0, out=t)
    np.multiply(t, -_columns(segs.du, ks), out=qx)
    qx += gx
    np.multiply(t, -_columns(segs.dv, ks), out=qy)
    qy += gy
    d2 = qx
    d2 *= qx
    qy *= qy
    d2 += qy
    if flat is not None:
        # Beyond a flat end: distances along the axis count 1/foreshortening times.
        np.abs(over, out=over)
        over -= 0.5
        np.maximum(over, 0.0, out=over)
        over *= _columns(flat.length, ks)
        over *= over
        over *= _columns(flat.stretch, ks)
        d2 += over
    r = qy
    np.multiply(t, _columns(segs.dradius, ks), out=r)
    r += _columns(segs.radius, ks)
    return t, d2, r


def _columns(a: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Per (frame, part) ``(F, K)`` float64 -> parts ``ks`` as ``(Kb, F, 1, 1)`` float32."""
    return np.ascontiguousarray(a[:, ks].T, dtype=np.float32).reshape(len(ks), len(a), 1, 1)


def _downsample(x: np.ndarray, ss: int) -> np.ndarray:
    """Box-filter ``(F, h*ss, w*ss)`` to ``(F, h, w)`` (fixed summation order)."""
    F, hs, ws = x.shape
    v = x.reshape(F, hs // ss, ss, ws // ss, ss)
    out = v[:, :, 0, :, 0].copy()
    for i in range(ss):
        for j in range(ss):
            if i or j:
                out += v[:, :, i, :, j]
    out *= 1.0 / (ss * ss)
    return out
