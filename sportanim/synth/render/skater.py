"""The skater rasterised in screen space: a z-buffer over its capsules, then shading."""

from __future__ import annotations

import numpy as np

from sportanim.synth.camera import Camera
from sportanim.synth.render.appearance import Appearance
from sportanim.synth.render.body import body_parts, unit
from sportanim.synth.render.pool import scratch_pool

# Light of the skater: a key light from above (world direction towards the light), an
# ambient term brighter from the sky, a fill from the camera and a small specular.
LIGHT_DIR = np.array([0.35, 0.25, 1.0]) / np.linalg.norm([0.35, 0.25, 1.0])
AMBIENT, SKY, KEY, FILL = 0.22, 0.18, 0.55, 0.30
_BODY_CHUNK_SAMPLES = 1 << 18  # samples per body batch
BAND = 0.5  # anti-aliasing half-width, samples
_DEPTH_SCALE = 1e4  # key units per metre of depth (0.1 mm)
_MAX_DEPTH_KEY = float((1 << 18) - 1)


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
    A, B, ra, rb, albedo, spec, min_px, flat = body_parts(joints, appearance)
    Kn = len(ra)
    K = np.asarray(camera.intrinsics, np.float64)
    Ac, Bc = camera.world_to_camera(A), camera.world_to_camera(B)
    near = 0.05
    valid = (Ac[..., 2] > near) & (Bc[..., 2] > near)
    zA, zB = np.maximum(Ac[..., 2], near), np.maximum(Bc[..., 2], near)

    def pix(P, z):
        x, y = P[..., 0] / z, P[..., 1] / z
        u = K[:, None, 0, 0] * x + K[:, None, 0, 1] * y + K[:, None, 0, 2]
        v = K[:, None, 1, 1] * y + K[:, None, 1, 2]
        return u * ss, v * ss

    ua, va = pix(Ac, zA)
    ub, vb = pix(Bc, zB)
    focal = np.sqrt(K[:, 0, 0] * K[:, 1, 1])[:, None] * ss
    rpa = np.maximum(focal * ra / zA, min_px * ss)
    rpb = np.maximum(focal * rb / zB, min_px * ss)
    valid &= np.isfinite(ua) & np.isfinite(ub) & np.isfinite(va) & np.isfinite(vb)
    for arr in (ua, va, ub, vb):
        arr[~valid] = -1e6  # far outside every box
    reach = np.maximum(rpa, rpb) + BAND + 1.0
    lo_u = np.minimum(ua, ub) - reach
    hi_u = np.maximum(ua, ub) + reach
    lo_v = np.minimum(va, vb) - reach
    hi_v = np.maximum(va, vb) + reach
    # Per-frame box in native pixels.
    x0 = np.clip(np.floor(np.where(valid, lo_u, np.inf).min(1) / ss), 0, W)
    x1 = np.clip(np.ceil(np.where(valid, hi_u, -np.inf).max(1) / ss), 0, W)
    y0 = np.clip(np.floor(np.where(valid, lo_v, np.inf).min(1) / ss), 0, H)
    y1 = np.clip(np.ceil(np.where(valid, hi_v, -np.inf).max(1) / ss), 0, H)
    frames = np.flatnonzero(valid.any(1) & (x1 > x0) & (y1 > y0))
    if len(frames) == 0:
        return {}
    x0, x1, y0, y1 = (a.astype(np.int64) for a in (x0, x1, y0, y1))
    # Depth keys relative to the nearest point of each frame's body, camera-space lights.
    z_ref = np.min(np.where(valid, np.minimum(zA, zB), np.inf), 1) - 0.5
    R = np.asarray(camera.rotation, np.float64)
    light = np.einsum("tij,j->ti", R, LIGHT_DIR)
    sky = R[:, :, 2]
    half = unit(light + np.array([0.0, 0.0, -1.0]))
    wr = np.broadcast_to(0.5 * (ra + rb), (T, Kn))
    # Flat ends: the disc's foreshortening |axis . view| and the segment's pixel length.
    axis = unit(Bc - Ac)
    view = unit(0.5 * (Ac + Bc))
    fore = np.clip(np.abs(np.sum(axis * view, -1)), 0.05, 1.0)
    flat_k = (1.0 / fore ** 2 - 1.0)

    # Group consecutive frames into batches sharing one box size.
    groups, cur, hh, ww = [], [], 0, 0
    for f in frames:
        h2, w2 = max(hh, y1[f] - y0[f]), max(ww, x1[f] - x0[f])
        if cur and (len(cur) + 1) * h2 * w2 * ss * ss > _BODY_CHUNK_SAMPLES:
            groups.append(cur)
            cur, h2, w2 = [], y1[f] - y0[f], x1[f] - x0[f]
        cur.append(f)
        hh, ww = h2, w2
    groups.append(cur)

    layers = {}
    pool = scratch_pool()
    f32 = np.float32
    for group in groups:
        g = np.array(group)
        F = len(g)
        hn = int(max(y1[g] - y0[g]))
        wn = int(max(x1[g] - x0[g]))
        gx0 = np.minimum(x0[g], W - wn)
        gy0 = np.minimum(y0[g], H - hn)
        hs, ws = hn * ss, wn * ss
        ox = (gx0 * ss).astype(np.float64)[:, None]
        oy = (gy0 * ss).astype(np.float64)[:, None]
        # Per (frame, part) constants relative to the box origin.
        pa_u, pa_v = ua[g] - ox, va[g] - oy
        eu, ev = ub[g] - ua[g], vb[g] - va[g]
        len2 = np.maximum(eu * eu + ev * ev, 1e-12)
        il = 1.0 / len2
        ra_p, rb_p = rpa[g], rpb[g]
        dr = rb_p - ra_p
        za_k = (zA[g] - z_ref[g, None]) * _DEPTH_SCALE
        dz_k = (zB[g] - zA[g]) * _DEPTH_SCALE
        wr_k = wr[g] * _DEPTH_SCALE
        rlo_u, rhi_u = lo_u[g] - ox, hi_u[g] - ox
        rlo_v, rhi_v = lo_v[g] - oy, hi_v[g] - oy
        vg = valid[g]
        mark = pool.mark()
        shape = (F, hs, ws)
        best = pool.get(shape)
        best.fill(np.inf)
        min_sdf = pool.get(shape)
        min_sdf.fill(1e9)
        # Each part's box in each frame, padded to a common size per batch of parts of
        # similar sizes: parts are drawn a batch at a time, and the z-buffer takes the
        # minimum key over them with an unbuffered np.minimum.at (boxes overlap).
        x_lo = np.clip(np.floor(rlo_u), 0, ws)
        x_hi = np.clip(np.ceil(rhi_u), 0, ws)
        y_lo = np.clip(np.floor(rlo_v), 0, hs)
        y_hi = np.clip(np.ceil(rhi_v), 0, hs)
        tw_k = np.where(vg, x_hi - x_lo, 0).max(0).astype(np.int64)
        th_k = np.where(vg, y_hi - y_lo, 0).max(0).astype(np.int64)
        area = tw_k * th_k
        order = [k for k in np.argsort(-area, kind="stable") if area[k] > 0]
        batches = []
        for k in order:
            if batches and 2 * area[k] >= area[batches[-1][0]]:
                batches[-1].append(k)
            else:
                batches.append([k])
        best_flat, min_sdf_flat = best.reshape(-1), min_sdf.reshape(-1)
        for ks in batches:
            ks = np.array(ks)
            Kb = len(ks)
            th, tw = int(th_k[ks].max()), int(tw_k[ks].max())
            shp = (Kb, F, th, tw)

            def c(a, ks=ks):
                return np.ascontiguousarray(a[:, ks].T, dtype=f32).reshape(len(ks), len(a), 1, 1)

            m2 = pool.mark()
            x_org = np.clip(x_lo[:, ks].T, 0, ws - tw).astype(np.intp).reshape(Kb, F, 1, 1)
            y_org = np.clip(y_lo[:, ks].T, 0, hs - th).astype(np.intp).reshape(Kb, F, 1, 1)
            xs = x_org + np.arange(tw).reshape(1, 1, 1, tw)
            ys = y_org + np.arange(th).reshape(1, 1, th, 1)
            gx = xs.astype(f32) + (f32(0.5) - c(pa_u))  # (Kb, F, 1, tw)
            gy = ys.astype(f32) + (f32(0.5) - c(pa_v))  # (Kb, F, th, 1)
            idx = pool.get(shp, np.intp)
            np.add(ys * ws + (np.arange(F) * (hs * ws)).reshape(1, F, 1, 1), xs, out=idx)
            t, qx, qy, sdf = (pool.get(shp) for _ in range(4))
            np.multiply(gx, c(eu * il), out=t)
            t += gy * c(ev * il)
            flat_b = bool(flat[ks].any())
            if flat_b:
                over = pool.get(shp)
                np.subtract(t, 0.5, out=over)
            np.clip(t, 0.0, 1.0, out=t)
            np.multiply(t, -c(eu), out=qx)
            qx += gx
            np.multiply(t, -c(ev), out=qy)
            qy += gy
            d2 = qx
            d2 *= qx
            qy *= qy
            d2 += qy
            if flat_b:
                # Beyond a flat end: distances along the axis count 1/foreshortening times.
                np.abs(over, out=over)
                over -= 0.5
                np.maximum(over, 0.0, out=over)
                over *= c(np.sqrt(len2))
                over *= over
                over *= c(np.where(flat[None, :], flat_k[g], 0.0))
                d2 += over
            r = qy
            np.multiply(t, c(dr), out=r)
            r += c(ra_p)
            np.sqrt(d2, out=sdf)
            sdf -= r
            np.minimum.at(min_sdf_flat, idx.reshape(-1), sdf.reshape(-1))
            # Depth: the centre line, pulled towards the camera by the capsule's bulge.
            r *= r
            d2 /= r
            np.subtract(1.0, d2, out=d2)
            np.maximum(d2, 0.0, out=d2)
            np.sqrt(d2, out=d2)
            d2 *= c(wr_k)
            key = t
            key *= c(dz_k)
            key += c(za_k)
            key -= d2
            np.minimum(key, _MAX_DEPTH_KEY, out=key)  # (never negative: z_ref is in front)
            np.floor(key, out=key)
            key *= 32.0
            key += ks.astype(f32).reshape(Kb, 1, 1, 1)
            outside = pool.get(shp, bool)
            np.greater_equal(sdf, BAND, out=outside)  # samples this part does not touch
            np.copyto(key, np.inf, where=outside)
            np.minimum.at(best_flat, idx.reshape(-1), key.reshape(-1))
            pool.release(m2)

        # The winning part of every sample: recompute its geometry and shade it.
        premult, alpha = shade_samples(pool, best, min_sdf, g, Kn, pa_u, pa_v, eu, ev, il, ra_p, dr,
                                        light, sky, half, albedo, spec)
        if ss > 1:
            alpha = _downsample(alpha, ss)
            premult = [_downsample(p, ss) for p in premult]
        else:
            alpha = alpha.copy()
            premult = [p.copy() for p in premult]
        premult = np.stack(premult, -1)
        pool.release(mark)
        for i, f in enumerate(group):
            layers[int(f)] = (int(gy0[i]), int(gx0[i]), premult[i], alpha[i])
    return layers


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


def shade_samples(pool, best, min_sdf, g, Kn, pa_u, pa_v, eu, ev, il, ra_p, dr, light, sky, half,
                   albedo, spec):
    """Colour (premultiplied, planar) and coverage ``(F, hs, ws)`` of body samples from the
    z-buffer: the winning part's geometry is recomputed and shaded where it covers."""
    F, hs, ws = best.shape
    f32 = np.float32
    alpha = pool.get(best.shape)
    np.subtract(BAND, min_sdf, out=alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    hit = np.flatnonzero(alpha.reshape(-1) > 0)
    n = len(hit)
    shape = (n,)
    premult = [pool.get(best.shape) for _ in range(3)]
    for p in premult:
        p.fill(0.0)
    if n == 0:
        return premult, alpha
    fi = hit // (hs * ws)
    rem = hit - fi * (hs * ws)
    row = rem // ws
    col = rem - row * ws
    idx = pool.get(shape, np.intp)
    np.copyto(idx, np.take(best.reshape(-1), hit, out=pool.get(shape)), casting="unsafe")
    idx &= 31
    idx += fi * Kn

    def gather(table):
        out = pool.get(shape)
        np.take(np.ascontiguousarray(table, dtype=f32).reshape(-1), idx, out=out, mode="clip")
        return out

    ddx, ddy = gather(pa_u), gather(pa_v)
    np.subtract(col.astype(f32) + f32(0.5), ddx, out=ddx)
    np.subtract(row.astype(f32) + f32(0.5), ddy, out=ddy)
    e_u, e_v = gather(eu), gather(ev)
    t, tmp, tmp2 = gather(il), pool.get(shape), pool.get(shape)
    np.multiply(ddx, e_u, out=tmp)
    np.multiply(ddy, e_v, out=tmp2)
    tmp += tmp2
    t *= tmp
    np.clip(t, 0.0, 1.0, out=t)
    r = gather(dr)
    r *= t
    r += gather(ra_p)
    # Normal: from the axis to the sample in the image plane, then towards the camera.
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

    def dot(vec, out):
        v = np.asarray(vec, f32)
        np.multiply(nx, v[fi, 0], out=out)
        np.multiply(ny, v[fi, 1], out=r)
        out += r
        np.multiply(nz, v[fi, 2], out=r)
        out += r
        return out

    shade, lam = e_u, e_v
    dot(sky[g], shade)
    shade *= 0.5 * SKY
    shade += AMBIENT + 0.5 * SKY
    dot(light[g], lam)
    np.maximum(lam, 0.0, out=lam)
    lam *= KEY
    shade += lam
    np.multiply(nz, -FILL, out=lam)
    shade += lam
    sp = dot(half[g], lam)
    np.maximum(sp, 0.0, out=sp)
    for _ in range(4):
        sp *= sp  # ^16
    sp *= gather(np.broadcast_to(spec, (F, Kn)))
    cover = np.take(alpha.reshape(-1), hit, out=pool.get(shape))
    for ch in range(3):
        c = gather(np.broadcast_to(albedo[:, ch], (F, Kn)))
        c *= shade
        c += sp
        np.clip(c, 0.0, 1.0, out=c)
        c *= cover
        premult[ch].reshape(-1)[hit] = c
    return premult, alpha
