"""Renderer of the synthetic figure-skating world: a skater on an ice rink, seen by a camera.

World frame as :mod:`sportanim.synth.camera`: metres, z up, ice at z = 0, rink centre at the
origin. The rink is a 60 x 30 m rounded rectangle (corner radius 8.5 m) with 1.1 m boards
(advertising panels, kick plate, top rail) and a glass screen with posts above them. Behind
them, after a 2 m floor, rise stepped stands (a barrier, then 56 rows of seated spectators)
under a dark roof with lamps. The ice is bluish white with faint hockey-style markings, a
smooth noise and skate scratches, all anchored in world coordinates; a soft blob shadow lies
under the skater. Every edge of the rink is anti-aliased by the pixel's footprint there.

The skater is a set of shaded primitives, each a (possibly tapered) capsule between two
points: trunk columns, hips, shoulders, limbs, neck, head and hair, skate boots with holder
and blade (a skirt is a flat-ended cone). They are rasterised in screen space: per pixel
the closest point on the projected segment gives the signed distance to the outline
(analytic anti-aliasing), a depth (a z-buffer: the nearest part wins) and a normal for
shading (ambient + sky + one directional light + a fill from the camera + a specular).

Everything is vectorised numpy in float32, working in place in reused scratch arrays
(fresh memory is slow to touch on some machines). Outputs are deterministic: only
elementwise arithmetic and square roots make pixel values.
"""

from __future__ import annotations

import colorsys
import functools
import threading
from dataclasses import dataclass

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.camera import Camera

# ------------------------------------------------------------------------------ rink layout

RINK_HALF_X = 30.0
RINK_HALF_Y = 15.0
CORNER_RADIUS = 8.5
BOARD_HEIGHT = 1.1
KICK_PLATE = 0.16  # height of the kick plate at the bottom of the boards
TOP_RAIL = 0.98  # start of the top rail
GLASS_TOP = 2.9
POST_SPACING = 2.0
STANDS_GAP = 2.0  # floor between the boards and the barrier of the stands
STANDS_BASE = 1.2  # height of the first row's step (the barrier's top)
ROW_RISE = 0.42  # each row of seats is a step this high...
ROW_DEPTH = 0.8  # ...and this deep
PERSON_HEIGHT = 0.92  # a seated spectator's head above the step
STANDS_ROWS = 56
CEILING = STANDS_BASE + STANDS_ROWS * ROW_RISE + 3.0  # height of the roof, lights every LIGHT_SPACING
LIGHT_SPACING = 8.0
SEAT_WIDTH = 0.55
SECTION_SEATS = 16  # an aisle every 16 seats
CROWD_TABLE_ROWS, CROWD_TABLE_SEATS = 64, 256  # spectators are drawn once for this many cells
PANEL_TABLE = 64  # advertising panels drawn once
PANEL_WIDTH = 4.0

ICE = np.array([0.86, 0.91, 0.955], np.float32)
ICE_RED = np.array([0.78, 0.16, 0.18], np.float32)
ICE_BLUE = np.array([0.16, 0.30, 0.72], np.float32)
NOISE_TEXEL = 0.225  # metres per texel of the ice's smooth noise
MARK_ALPHA = 0.55  # markings lie under the ice: faint
KICK_COLOUR = np.array([0.92, 0.80, 0.30], np.float32)
RAIL_COLOUR = np.array([0.16, 0.22, 0.42], np.float32)
FLOOR_COLOUR = np.array([0.13, 0.13, 0.15], np.float32)
BARRIER_COLOUR = np.array([0.10, 0.14, 0.26], np.float32)
STANDS_DARK = np.array([0.07, 0.07, 0.09], np.float32)
ROOF_COLOUR = np.array([0.06, 0.06, 0.075], np.float32)
BEAM_COLOUR = np.array([0.13, 0.13, 0.15], np.float32)
LAMP_COLOUR = np.array([0.95, 0.93, 0.85], np.float32)
STAIRS_COLOUR = np.array([0.30, 0.30, 0.32], np.float32)
CROWD_MEAN = np.array([0.21, 0.19, 0.20], np.float32)
POST_COLOUR = np.array([0.32, 0.33, 0.36], np.float32)

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

# Light of the skater: a key light from above (world direction towards the light), an
# ambient term brighter from the sky, a fill from the camera and a small specular.
LIGHT_DIR = np.array([0.35, 0.25, 1.0]) / np.linalg.norm([0.35, 0.25, 1.0])
AMBIENT, SKY, KEY, FILL = 0.22, 0.18, 0.55, 0.30

AUTO_SUPERSAMPLE = 1  # 2 doubles the skater's cost: 64 x 64 clips would miss the 40 ms budget
_BLOCK_PIXELS = 1 << 16  # pixels per rink batch (several small frames, or rows of a large one)
_BODY_CHUNK_SAMPLES = 1 << 18  # samples per body batch
_BAND = 0.5  # anti-aliasing half-width, samples
_DEPTH_SCALE = 1e4  # key units per metre of depth (0.1 mm)
_MAX_DEPTH_KEY = float((1 << 18) - 1)


# ------------------------------------------------------------------------------ appearance

@dataclass(frozen=True)
class Appearance:
    """Colours (RGB in [0, 1]) and build of one skater."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    top: tuple[float, float, float]  # costume torso (+ arms when sleeves)
    bottom: tuple[float, float, float]  # legs (tights/trousers)
    boots: tuple[float, float, float]  # skate boots
    sleeves: bool = True  # costume covers the arms, else skin
    build: float = 1.0  # radius scale (0.85 slim .. 1.15 broad)
    skirt: bool = False  # a short skirt flaring from the hips, in the top's colour

    @staticmethod
    def sample(rng: np.random.Generator) -> "Appearance":
        """A varied, plausible skater (always the same number of draws from ``rng``)."""
        u = rng.uniform(size=16)
        skins = ((0.96, 0.80, 0.69), (0.92, 0.72, 0.58), (0.86, 0.65, 0.50),
                 (0.74, 0.53, 0.39), (0.56, 0.38, 0.26), (0.40, 0.27, 0.18))
        skin = _jitter(skins[int(u[0] * len(skins))], u[1], 0.04)
        hairs = ((0.07, 0.05, 0.04), (0.07, 0.05, 0.04), (0.22, 0.14, 0.08), (0.38, 0.24, 0.13),
                 (0.78, 0.63, 0.38), (0.52, 0.23, 0.10), (0.58, 0.56, 0.54))
        hair = _jitter(hairs[int(u[2] * len(hairs))], u[3], 0.03)
        if u[4] < 0.12:
            top = _jitter((0.07, 0.07, 0.08), u[5], 0.03)
        elif u[4] < 0.2:
            top = _jitter((0.92, 0.92, 0.94), u[5], 0.03)
        else:
            top = colorsys.hsv_to_rgb(float(u[5]), 0.35 + 0.6 * float(u[6]), 0.3 + 0.65 * float(u[7]))
        if u[8] < 0.35:
            bottom = _jitter((0.06, 0.06, 0.08), u[9], 0.03)
        elif u[8] < 0.55:
            bottom = top
        elif u[8] < 0.8:
            bottom = _jitter((0.85, 0.70, 0.58), u[9], 0.06)  # skin-coloured tights
        else:
            bottom = colorsys.hsv_to_rgb(float(u[9]), 0.5, 0.2 + 0.3 * float(u[6]))
        # Boots: white (half), black, or beige.
        boots = (0.93, 0.93, 0.92) if u[10] < 0.5 else (0.06, 0.06, 0.07) if u[10] < 0.85 else (0.82, 0.72, 0.58)
        return Appearance(
            skin=skin, hair=hair, top=_rgb(top), bottom=_rgb(bottom), boots=_jitter(boots, u[14], 0.02),
            sleeves=bool(u[11] < 0.75), build=float(0.85 + 0.3 * u[12]), skirt=bool(u[13] < 0.3))


def _rgb(c) -> tuple[float, float, float]:
    return tuple(float(min(max(x, 0.0), 1.0)) for x in c)  # type: ignore[return-value]


def _jitter(c, u: float, amount: float) -> tuple[float, float, float]:
    return _rgb(x + amount * (2.0 * float(u) - 1.0) for x in c)


# ------------------------------------------------------------------------------ public API

def render_rink(camera: Camera) -> np.ndarray:
    """The empty rink: float32 ``(T, H, W, 3)`` in [0, 1]."""
    T, H, W = camera.num_frames, camera.height, camera.width
    out = np.empty((T, H, W, 3), np.float32)
    pool = _pool()
    for fs, rows in _blocks(T, H, W):
        mark = pool.mark()
        rgb = _rink_block(pool, camera, fs, rows)
        for c in range(3):
            out[fs, rows, :, c] = rgb[c]
        pool.release(mark)
    return out


def render_skater(joints: np.ndarray, camera: Camera, appearance: Appearance,
                  supersample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The skater alone: colour float32 ``(T, H, W, 3)`` in [0, 1] (0 where no body) and
    coverage float32 ``(T, H, W)`` in [0, 1]; ``supersample`` as :func:`render`."""
    T, H, W = camera.num_frames, camera.height, camera.width
    colour = np.zeros((T, H, W, 3), np.float32)
    coverage = np.zeros((T, H, W), np.float32)
    layers = _body_layers(joints, camera, appearance, AUTO_SUPERSAMPLE if supersample is None else supersample)
    for f, (y0, x0, premult, alpha) in layers.items():
        h, w = alpha.shape
        coverage[f, y0:y0 + h, x0:x0 + w] = alpha
        safe = np.where(alpha > 0, alpha, 1.0)[..., None]
        colour[f, y0:y0 + h, x0:x0 + w] = np.clip(np.where(alpha[..., None] > 0, premult / safe, 0.0), 0, 1)
    return colour, coverage


def render(joints: np.ndarray, camera: Camera, appearance: Appearance,
           supersample: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full frames: uint8 ``(T, H, W, 3)`` and the body mask bool ``(T, H, W)`` (coverage > 0.5).

    ``supersample``: samples per pixel side for the body; None is AUTO_SUPERSAMPLE. Every
    edge (the body's outline, the rink's lines and boxes) is anti-aliased analytically
    anyway, by its distance to the pixel centre; supersampling also smooths the edges
    between body parts, at 4x (9x...) the body's cost.
    """
    T, H, W = camera.num_frames, camera.height, camera.width
    if supersample is None:
        supersample = AUTO_SUPERSAMPLE
    layers = _body_layers(joints, camera, appearance, supersample)
    if T == 0:
        return np.zeros((0, H, W, 3), np.uint8), np.zeros((0, H, W), bool)
    shadows = _shadow_light(_shadow_blobs(np.asarray(joints, np.float64)), camera)
    frames = np.empty((T, H, W, 3), np.uint8)
    mask = np.zeros((T, H, W), bool)
    pool = _pool()
    for fs, rows in _blocks(T, H, W):
        mark = pool.mark()
        rgb = _rink_block(pool, camera, fs, rows)
        _darken_ice(rgb, fs, rows, shadows)
        for i, f in enumerate(range(fs.start, fs.stop)):
            if f not in layers:
                continue
            y0, x0, premult, alpha = layers[f]
            h, w = alpha.shape
            a, b = max(y0, rows.start), min(y0 + h, rows.stop)
            if b <= a:
                continue
            al = alpha[a - y0:b - y0]
            pm = premult[a - y0:b - y0]
            for c in range(3):
                box = rgb[c, i, a - rows.start:b - rows.start, x0:x0 + w]
                box *= 1.0 - al
                box += pm[..., c]
            mask[f, a:b, x0:x0 + w] = al > 0.5
        tmp = pool.get(rgb.shape[1:])
        for c in range(3):
            np.clip(rgb[c], 0.0, 1.0, out=tmp)
            tmp *= 255.0
            tmp += 0.5
            np.copyto(frames[fs, rows, :, c], tmp, casting="unsafe")
        pool.release(mark)
    return frames, mask


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float colours in [0, 1] -> uint8, rounded exactly as :func:`render` converts."""
    x = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0)
    x *= 255.0
    x += 0.5
    return x.astype(np.uint8)


def _blocks(T: int, H: int, W: int):
    """Batches of the frames: several whole frames, or bands of rows of one frame."""
    if H * W <= _BLOCK_PIXELS:
        n = _BLOCK_PIXELS // (H * W)
        return [(slice(a, min(a + n, T)), slice(0, H)) for a in range(0, T, n)]
    rows = max(1, _BLOCK_PIXELS // W)
    return [(slice(f, f + 1), slice(r, min(r + rows, H))) for f in range(T) for r in range(0, H, rows)]


class _Pool:
    """Scratch arrays reused from batch to batch and call to call: first touching fresh
    memory is slow (page faults), and numpy would allocate a new array per operation."""

    def __init__(self) -> None:
        self.arrays: dict[type, list[np.ndarray]] = {}  # by dtype (numpy scalar type)
        self.used: dict[type, int] = {}

    def get(self, shape, dtype=np.float32) -> np.ndarray:
        if type(shape) is not tuple:
            shape = (int(shape),)
        n = 1
        for s in shape:
            n *= int(s)
        arrays = self.arrays.setdefault(dtype, [])
        i = self.used.get(dtype, 0)
        if i == len(arrays):
            arrays.append(np.empty(max(n, 1024), dtype))
        elif arrays[i].size < n:
            arrays[i] = np.empty(n, dtype)
        self.used[dtype] = i + 1
        return arrays[i][:n].reshape(shape)

    def mark(self) -> dict:
        return dict(self.used)

    def release(self, mark: dict) -> None:
        self.used = dict(mark)


_LOCAL = threading.local()


def _pool() -> _Pool:
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        pool = _LOCAL.pool = _Pool()
    pool.release({})
    return pool


# ------------------------------------------------------------------------------ procedural textures

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
def _textures() -> tuple[np.ndarray, np.ndarray]:
    """Ice textures: smooth noise (128 x 128) and skate scratches (256 x 256), periodic."""
    rng = np.random.default_rng(20240611)
    noise = _box_blur(rng.standard_normal((128, 128)), 2, 3)
    noise /= np.abs(noise).max()
    # Upsampled 4x (bilinear, periodic) so that a nearest-texel lookup is smooth enough.
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
    noise = up
    n = 256
    scratch = np.zeros((n, n))
    for _ in range(70):  # thin arcs of random circles, each drawn in a window round its middle
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
    scratch = _box_blur(scratch, 1, 1) * 0.7 + scratch * 0.3
    return noise.astype(np.float32), scratch.astype(np.float32)


def _planar_table(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, np.float32).T)


def _make_tables():
    """Advertising panels and spectators, drawn once (lookup tables indexed by cell)."""
    rng = np.random.default_rng(7)
    n = PANEL_TABLE
    panels = {
        "bg": _planar_table(_AD_BACKGROUNDS[rng.integers(len(_AD_BACKGROUNDS), size=n)]),
        "logo": _planar_table(_AD_LOGOS[rng.integers(len(_AD_LOGOS), size=n)]),
        "half_w": rng.uniform(0.18, 0.38, n).astype(np.float32),  # of the panel's width
        "half_h": ((TOP_RAIL - KICK_PLATE) * rng.uniform(0.12, 0.26, n)).astype(np.float32),  # metres
    }
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
    crowd = {
        "mean": _planar_table(mean.reshape(-1, 3)), "shirt": _planar_table(shirt.reshape(-1, 3)),
        "skin": _planar_table(skin.reshape(-1, 3)), "seat": _planar_table(seat_colour.reshape(-1, 3)),
        "occupied": occupied.reshape(-1).astype(np.float32), "empty": empty.reshape(-1).astype(np.float32),
        "aisle": aisle.reshape(-1),
    }
    return panels, crowd


_PANELS, _CROWD = _make_tables()


def _sample(pool: _Pool, tex: np.ndarray, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
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


def _texel_index(pool: _Pool, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Flat index of the texel at ``(x, y)`` in a periodic ``n x n`` texture (n a power of two)."""
    ix, iy, f = pool.get(x.shape, np.intp), pool.get(x.shape, np.intp), pool.get(x.shape)
    np.copyto(ix, np.floor(x, out=f), casting="unsafe")
    np.copyto(iy, np.floor(y, out=f), casting="unsafe")
    ix &= n - 1
    iy &= n - 1
    iy *= n
    iy += ix
    return iy


def _cell_index(pool: _Pool, coord: np.ndarray, offset: np.ndarray | None, size: int) -> np.ndarray:
    """Integer cell index ``(floor(coord) + offset) mod size`` (size a power of two)."""
    idx = pool.get(coord.shape, np.intp)
    np.copyto(idx, np.floor(coord, out=pool.get(coord.shape)), casting="unsafe")
    if offset is not None:
        idx += offset
    idx &= size - 1
    return idx


def _lookup(pool: _Pool, table: np.ndarray, idx: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """``table[..., idx]``: planar colours for a ``(3, N)`` table, else one array."""
    if table.ndim == 1:
        return np.take(table, idx, out=pool.get(idx.shape), mode="clip")
    return [np.take(table[c], idx, out=pool.get(idx.shape), mode="clip") for c in range(len(table))]


def _cover(signed: np.ndarray, inv_fp: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Coverage of a shape with signed distance ``signed`` (metres, negative inside) by a
    pixel whose footprint is 1 / inv_fp metres (a box filter)."""
    np.multiply(signed, inv_fp, out=out)
    np.subtract(0.5, out, out=out)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _mix(col: list[np.ndarray], other, weight: np.ndarray, tmp: np.ndarray) -> None:
    """col += weight * (other - col), per channel; ``other`` planar arrays or an RGB triple."""
    for c in range(3):
        np.subtract(other[c], col[c], out=tmp)
        tmp *= weight
        col[c] += tmp


def _take_rows(pool: _Pool, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (sorted, unique) of ``x``; ``x`` itself when that is all of them."""
    if len(rows) == len(x):
        return x
    return np.take(x, rows, axis=0, out=pool.get((len(rows),) + x.shape[1:], x.dtype.type))


def _put_rows(pool: _Pool, dst: list[np.ndarray], rows: np.ndarray, src: list[np.ndarray],
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


# ------------------------------------------------------------------------------ rink

def _inverse_intrinsics(K: np.ndarray) -> np.ndarray:
    """Closed-form inverse of upper-triangular intrinsics ``(T, 3, 3)``."""
    fx, s, cx = K[:, 0, 0], K[:, 0, 1], K[:, 0, 2]
    fy, cy = K[:, 1, 1], K[:, 1, 2]
    inv = np.zeros_like(K)
    inv[:, 0, 0] = 1.0 / fx
    inv[:, 0, 1] = -s / (fx * fy)
    inv[:, 0, 2] = (s * cy - cx * fy) / (fx * fy)
    inv[:, 1, 1] = 1.0 / fy
    inv[:, 1, 2] = -cy / fy
    inv[:, 2, 2] = 1.0
    return inv


def _inside_rink(x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Whether ground points lie inside the rink by at least ``margin`` metres (float64)."""
    qx = np.abs(x) - (RINK_HALF_X - CORNER_RADIUS)
    qy = np.abs(y) - (RINK_HALF_Y - CORNER_RADIUS)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0)) + np.minimum(np.maximum(qx, qy), 0.0)
    return outside - CORNER_RADIUS < -margin


def _rink_block(pool: _Pool, camera: Camera, fs: slice, rows: slice) -> np.ndarray:
    """Rink colours of frames ``fs``, image rows ``rows``: planar float32 ``(3, F, h, W)``.

    An image row is a line; its ground points form a segment and the rink is convex, so a
    row whose two end pixels see the ice sees only ice, and one whose end rays point up
    sees none: the ice and the surroundings are each computed on the rows that need them.
    """
    W = camera.width
    K = np.asarray(camera.intrinsics[fs], np.float64)
    R = np.asarray(camera.rotation[fs], np.float64)
    F = len(K)
    M = np.einsum("tji,tjk->tik", R, _inverse_intrinsics(K))  # pixel (u, v, 1) -> world ray
    C = camera[fs].centre
    focal = np.sqrt(K[:, 0, 0] * K[:, 1, 1])
    v = np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5
    h = len(v)
    slope = M[:, :, 0]  # (F, 3): ray change per pixel across a row
    base = M[:, None, :, 1] * v[None, :, None] + M[:, None, :, 2]  # (F, h, 3): ray at u = 0
    ends = np.array([0.5, W - 0.5])
    d_end = slope[:, None, None, :] * ends[None, None, :, None] + base[:, :, None, :]  # (F, h, 2, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_end = C[:, None, None, 2] / -d_end[..., 2]
        ice_end = (d_end[..., 2] < -1e-9) & _inside_rink(C[:, None, None, 0] + t_end * d_end[..., 0],
                                                          C[:, None, None, 1] + t_end * d_end[..., 1], 0.01)
    ice_rows = np.flatnonzero(~(d_end[..., 2] >= 0).all(-1).reshape(-1))
    wall_rows = np.flatnonzero(~ice_end.all(-1).reshape(-1))
    planar = pool.get((3, F * h, W))
    out = [planar[0], planar[1], planar[2]]
    u = (np.arange(W, dtype=np.float32) + np.float32(0.5))[None, :]

    level = bool(np.all(slope[:, 2] == 0))  # no roll: a row's rays all dip alike

    def setup(ids):
        f, r = ids // h, ids % h
        d = []
        for c in range(3):
            if c == 2 and level:
                d.append(base[f, r, c].astype(np.float32)[:, None])
                continue
            dc = pool.get((len(ids), W))
            np.multiply(u, slope[f, c].astype(np.float32)[:, None], out=dc)
            dc += base[f, r, c].astype(np.float32)[:, None]
            d.append(dc)
        const = [C[f, k].astype(np.float32)[:, None] for k in range(3)]
        return f, d, const, focal[f].astype(np.float32)[:, None]

    if len(ice_rows):
        mark = pool.mark()
        f, (dx, dy, dz), (Cx, Cy, Cz), foc = setup(ice_rows)
        shape = dx.shape
        down, t, inv_fp = (pool.get(dz.shape) for _ in range(3))
        X, Y = pool.get(shape), pool.get(shape)
        np.negative(dz, out=down)
        np.maximum(down, 1e-7, out=down)
        np.divide(Cz, down, out=t)
        np.minimum(t, 1e4, out=t)
        np.multiply(t, dx, out=X)
        X += Cx
        np.multiply(t, dy, out=Y)
        Y += Cy
        # Footprint of a pixel on the ice (square root of its area): t / (f sqrt|dz|).
        np.sqrt(down, out=inv_fp)
        inv_fp *= foc
        inv_fp /= t
        col = _ice_colour(pool, X, Y, inv_fp)
        _put_rows(pool, out, ice_rows, col)
        pool.release(mark)
    if len(wall_rows):
        mark = pool.mark()
        f, (dx, dy, dz), (Cx, Cy, Cz), foc = setup(wall_rows)
        col, height = _surround_colour(pool, dx, dy, dz, Cx, Cy, Cz, foc)
        seen = pool.get(dx.shape, bool)  # rays that reach the boards above the ice
        np.greater_equal(height, 0.0, out=seen)
        _put_rows(pool, out, wall_rows, col, None if len(ice_rows) == 0 else seen)
        pool.release(mark)
    return planar.reshape(3, F, h, W)


def _ice_colour(pool: _Pool, X, Y, inv_fp) -> list[np.ndarray]:
    shape = X.shape
    shade, a, b, tmp = (pool.get(shape) for _ in range(4))
    np.multiply(X, 1 / NOISE_TEXEL, out=a)
    np.multiply(Y, 1 / NOISE_TEXEL, out=b)
    noise, scratches = _textures()
    np.take(noise.reshape(-1), _texel_index(pool, a, b, len(noise)), out=shade, mode="clip")
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
        scratch = _sample(pool, scratches, a, b, pool.get(shape))
        np.multiply(Y, 0.77 / 0.03, out=a)
        a += 91.0
        np.multiply(X, -0.77 / 0.03, out=b)
        scratch += _sample(pool, scratches, a, b, tmp)
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
        _cover(dist, inv_fp, cov)
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


def _rounded_exit(pool: _Pool, ox, oy, dx, dy, half_x: float, half_y: float, radius: float):
    """Where rays from inside leave a rounded rectangle: ray parameter, the point and the
    outward normal there (arrays from ``pool``)."""
    shape = dx.shape
    t, px, py, nx, ny, tmp = (pool.get(shape) for _ in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):  # a ray along an axis: t = inf
        np.copysign(np.float32(half_x), dx, out=t)
        t -= ox
        t /= dx
        np.copysign(np.float32(half_y), dy, out=tmp)
        tmp -= oy
        tmp /= dy
    xfirst = pool.get(shape, bool)
    np.less(t, tmp, out=xfirst)
    np.minimum(t, tmp, out=t)
    np.minimum(t, 1e4, out=t)  # (rays straight up)
    np.sign(dx, out=nx)
    nx *= xfirst
    np.sign(dy, out=ny)
    np.logical_not(xfirst, out=xfirst)
    ny *= xfirst
    np.multiply(t, dx, out=px)
    px += ox
    np.multiply(t, dy, out=py)
    py += oy
    corner, other = xfirst, pool.get(shape, bool)
    np.abs(px, out=tmp)
    np.greater(tmp, half_x - radius, out=corner)
    np.abs(py, out=tmp)
    np.greater(tmp, half_y - radius, out=other)
    corner &= other
    if corner.any():
        # Leave through the corner's circle instead: the larger root of |o + t d - c| = r.
        cx, cy = pool.get(shape), pool.get(shape)
        np.copysign(np.float32(half_x - radius), px, out=cx)
        np.copysign(np.float32(half_y - radius), py, out=cy)
        np.subtract(ox, cx, out=cx)  # o - c
        np.subtract(oy, cy, out=cy)
        a, b, c, e = pool.get(shape), pool.get(shape), tmp, pool.get(shape)
        np.multiply(cx, cx, out=c)
        np.multiply(cy, cy, out=e)
        c += e
        c -= radius * radius  # |o - c|^2 - r^2
        np.multiply(dx, dx, out=a)
        np.multiply(dy, dy, out=e)
        a += e  # |d|^2
        np.multiply(cx, dx, out=b)
        np.multiply(cy, dy, out=e)
        b += e  # (o - c) . d
        c *= a
        np.multiply(b, b, out=e)
        np.subtract(e, c, out=c)  # discriminant / 4
        np.maximum(c, 0.0, out=c)
        np.sqrt(c, out=c)
        c -= b
        c /= a  # the larger root
        np.copyto(t, c, where=corner)
        for p, d, o, cc, n in ((px, dx, ox, cx, nx), (py, dy, oy, cy, ny)):
            np.multiply(c, d, out=a)
            a += cc  # o + t d - c
            a *= 1.0 / radius
            np.copyto(n, a, where=corner)
            a *= radius
            a -= cc
            a += o
            np.copyto(p, a, where=corner)
    return t, px, py, nx, ny


def _along_wall(pool: _Pool, px, py, half_x: float, half_y: float, radius: float):
    """Coordinate along a rounded-rectangle wall (metres) from the middle of a long side to
    the middle of a short side, continuous round the corner, per quadrant; and a cell
    offset (intp) that differs between the four quadrants."""
    shape = px.shape
    ax, ay, ex, ey = (pool.get(shape) for _ in range(4))
    np.abs(px, out=ax)
    np.abs(py, out=ay)
    np.subtract(ax, half_x - radius, out=ex)
    np.maximum(ex, 0.0, out=ex)
    np.subtract(ay, half_y - radius, out=ey)
    np.maximum(ey, 0.0, out=ey)
    ey += ex
    np.maximum(ey, 1e-9, out=ey)
    np.divide(ex, ey, out=ex)  # 0 where the corner's arc leaves the long side, 1 at the short
    ex *= radius * np.pi / 2
    np.minimum(ax, half_x - radius, out=ax)
    ex += ax
    np.subtract(half_y - radius, ay, out=ay)
    np.maximum(ay, 0.0, out=ay)
    ex += ay
    side, flag = pool.get(shape, np.intp), pool.get(shape, bool)
    np.greater(px, 0.0, out=flag)
    np.multiply(flag, 2, out=side, casting="unsafe")
    np.greater(py, 0.0, out=flag)
    side += flag
    side *= 1543  # decorrelates the quadrants' cells
    return ex, side


def _surround_colour(pool: _Pool, dx, dy, dz, Cx, Cy, Cz, focal):
    """Boards, glass, stands and roof (planar colours) and the height at which each ray
    meets the boards' wall (negative: it met the ice first)."""
    shape = dx.shape
    norm, h, inv_fp, tmp = (pool.get(shape) for _ in range(4))
    np.multiply(dx, dx, out=norm)
    np.multiply(dy, dy, out=tmp)
    norm += tmp
    np.multiply(dz, dz, out=tmp)
    norm += tmp
    np.sqrt(norm, out=norm)
    t, px, py, nx, ny = _rounded_exit(pool, Cx, Cy, dx, dy, RINK_HALF_X, RINK_HALF_Y, CORNER_RADIUS)
    np.multiply(t, dz, out=h)
    h += Cz
    np.multiply(t, norm, out=inv_fp)
    np.divide(focal, inv_fp, out=inv_fp)
    col = [pool.get(shape) for _ in range(3)]
    lowest, highest = h.min(1), h.max(1)
    stand_rows = np.flatnonzero(highest > BOARD_HEIGHT)
    if len(stand_rows) >= 0.8 * len(h):
        stand_rows = np.arange(len(h))  # cheaper than gathering the rows
    board_rows = np.flatnonzero((lowest <= BOARD_HEIGHT) & (highest >= 0.0))
    glass_rows = np.flatnonzero((lowest < GLASS_TOP) & (highest > BOARD_HEIGHT))
    # Where along the wall: only needed by the boards and the glass (a few rows).
    wall_rows = np.union1d(board_rows, glass_rows)
    along, side = _along_wall(pool, _take_rows(pool, px, wall_rows), _take_rows(pool, py, wall_rows),
                              RINK_HALF_X, RINK_HALF_Y, CORNER_RADIUS)
    if len(stand_rows):
        mark = pool.mark()
        # rate: outward metres per unit of t; rise: ray height gained per outward metre
        rate, rise = px, py
        np.multiply(dx, nx, out=rate)
        np.multiply(dy, ny, out=tmp)
        rate += tmp
        np.maximum(rate, 1e-6, out=rate)
        np.divide(dz, rate, out=rise)
        sel = [_take_rows(pool, x, stand_rows) for x in (dx, dy, t, h, rise, rate, norm)]
        consts = [x[stand_rows] for x in (Cx, Cy, focal)]
        _put_rows(pool, col, stand_rows, _stands_colour(pool, *sel, *consts))
        pool.release(mark)
    if len(glass_rows):
        mark = pool.mark()
        at = np.searchsorted(wall_rows, glass_rows)
        cg = [_take_rows(pool, x, glass_rows) for x in col]
        _glass(pool, cg, _take_rows(pool, along, at), _take_rows(pool, h, glass_rows),
               _take_rows(pool, inv_fp, glass_rows))
        _put_rows(pool, col, glass_rows, cg)
        pool.release(mark)
    if len(board_rows):
        mark = pool.mark()
        at = np.searchsorted(wall_rows, board_rows)
        hb = _take_rows(pool, h, board_rows)
        bcol = _board_colour(pool, _take_rows(pool, along, at), _take_rows(pool, side, at), hb,
                             _take_rows(pool, inv_fp, board_rows))
        below = pool.get(hb.shape, bool)
        np.less_equal(hb, BOARD_HEIGHT, out=below)
        _put_rows(pool, col, board_rows, bcol, below if len(stand_rows) else None)
        pool.release(mark)
    return col, h


def _glass(pool: _Pool, col, along, h, inv_fp) -> None:
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
    _cover(tmp, inv_fp, cov)
    np.subtract(h, GLASS_TOP, out=tmp)
    np.abs(tmp, out=tmp)
    tmp -= 0.03
    np.maximum(cov, _cover(tmp, inv_fp, tmp), out=cov)
    cov *= glass
    np.multiply(glass, -0.12, out=tmp)
    tmp += 1.0
    glass *= 0.07
    for c in range(3):
        col[c] *= tmp
        col[c] += glass
    _mix(col, POST_COLOUR, cov, tmp)


def _board_colour(pool: _Pool, along, side, h, inv_fp) -> list[np.ndarray]:
    shape = along.shape
    p, fu, tmp, sd = (pool.get(shape) for _ in range(4))
    np.multiply(along, 1.0 / PANEL_WIDTH, out=p)
    panel = _cell_index(pool, p, side, PANEL_TABLE)
    np.floor(p, out=fu)
    np.subtract(p, fu, out=fu)  # across the panel, 0..1
    bg = _lookup(pool, _PANELS["bg"], panel)
    logo = _lookup(pool, _PANELS["logo"], panel)
    half_w = _lookup(pool, _PANELS["half_w"], panel)
    half_h = _lookup(pool, _PANELS["half_h"], panel)
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
    cov = _cover(sd, inv_fp, sd)
    _mix(bg, logo, cov, tmp)
    col = bg
    # Seams between panels, the kick plate and the top rail.
    np.subtract(1.0, fu, out=tmp)
    np.minimum(fu, tmp, out=tmp)
    tmp *= PANEL_WIDTH
    tmp -= 0.015
    _cover(tmp, inv_fp, cov)
    cov *= -0.5
    cov += 1.0
    for c in range(3):
        col[c] *= cov
    np.subtract(hh, KICK_PLATE, out=tmp)
    _cover(tmp, inv_fp, cov)
    _mix(col, KICK_COLOUR, cov, tmp)
    np.subtract(TOP_RAIL, hh, out=tmp)
    _cover(tmp, inv_fp, cov)
    _mix(col, RAIL_COLOUR, cov, tmp)
    return col


def _stands_colour(pool: _Pool, dx, dy, t_boards, h_boards, rise, rate, norm, Cx, Cy, focal) -> list[np.ndarray]:
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
    along, side = _along_wall(pool, px, py, RINK_HALF_X + STANDS_GAP, RINK_HALF_Y + STANDS_GAP,
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
        args = [_take_rows(pool, x, roof_rows) for x in (dx, dy, t_boards, h_boards, rise, rate, norm)]
        roof = _roof(pool, *args, *(x[roof_rows] for x in (Cx, Cy, focal)))
        _put_rows(pool, col, roof_rows, roof, _take_rows(pool, m, roof_rows))
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


def _roof(pool: _Pool, dx, dy, t_boards, h_boards, rise, rate, norm, Cx, Cy, focal) -> list[np.ndarray]:
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
    _cover(d, inv_fp, cov)
    _mix(col, BEAM_COLOUR, cov, d)
    x *= x
    y *= y
    x += y
    np.sqrt(x, out=x)
    x -= 0.5
    _cover(x, inv_fp, cov)
    _mix(col, LAMP_COLOUR, cov, d)
    return col


def _crowd(pool: _Pool, along, side, row, lv, inv_fp) -> list[np.ndarray]:
    """Spectators seated in rows (planar); ``lv`` is the height above the row's step."""
    shape = along.shape
    su, tmp, w = (pool.get(shape) for _ in range(3))
    np.multiply(along, 1.0 / SEAT_WIDTH, out=su)
    seat = _cell_index(pool, su, side, CROWD_TABLE_SEATS)
    ri = _cell_index(pool, row, None, CROWD_TABLE_ROWS)
    ri *= CROWD_TABLE_SEATS
    seat += ri  # the cell's index in the tables
    mean = _lookup(pool, _CROWD["mean"], seat)
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
            _cover(sd, inv_fp, cov)
            cov *= _lookup(pool, _CROWD["empty" if kind == "seat" else "occupied"], seat)
            _mix(col, _lookup(pool, _CROWD[kind], seat), cov, w)
        np.subtract(lv, 0.82, out=sd)
        sd *= sd
        np.multiply(mu, mu, out=w)
        sd += w
        np.sqrt(sd, out=sd)
        sd -= 0.1
        _cover(sd, inv_fp, cov)
        cov *= _lookup(pool, _CROWD["occupied"], seat)
        _mix(col, _lookup(pool, _CROWD["skin"], seat), cov, w)
        _mix(col, STAIRS_COLOUR, _lookup(pool, _CROWD["aisle"], seat), w)
        _mix(mean, col, detail, w)
        pool.release(mark)
    np.multiply(fp, 1.0 / 0.6, out=w)
    w -= 0.5
    np.clip(w, 0.0, 0.8, out=w)
    _mix(mean, CROWD_MEAN, w, tmp)
    return mean


# ------------------------------------------------------------------------------ skater

# Body part kinds: colour slot of the appearance, specular strength, minimum radius (pixels).
_METAL = {"holder": (0.50, 0.51, 0.55), "blade": (0.80, 0.82, 0.86)}
_SPECULAR = {"skin": 0.05, "hair": 0.08, "top": 0.06, "bottom": 0.05, "boots": 0.3, "sleeve": 0.06,
             "holder": 0.4, "blade": 0.7}
_MIN_PIXELS = {"holder": 0.5, "blade": 0.45}
_TEMPLATE_TRUNK_LEG = 1.302  # pelvis->neck + thigh + shin of the 1.70 m template (metres)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _primitives(joints: np.ndarray, appearance: Appearance):
    """Tapered capsules of the body: ends A, B ``(T, K, 3)``, radii ``(K,)`` x 2 (metres),
    colour ``(K, 3)``, specular ``(K,)``, minimum pixel radius ``(K,)`` and whether the
    ends are flat discs rather than hemispheres ``(K,)``."""
    j = np.asarray(joints, np.float64)
    T = len(j)
    P = {name: j[:, i] for name, i in J.items()}
    chain = [("pelvis", "spine1"), ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck"),
             ("left_hip", "left_knee"), ("left_knee", "left_ankle")]
    length = sum(np.linalg.norm(P[b] - P[a], axis=-1) for a, b in chain)
    size = float(np.clip(np.median(length) / _TEMPLATE_TRUNK_LEG, 0.7, 1.3))
    g = size * appearance.build  # girth of trunk and limbs
    gh = size * np.sqrt(appearance.build)  # head, hands, boots

    left = _unit(P["left_hip"] - P["right_hip"] + P["left_shoulder"] - P["right_shoulder"])
    up = _unit(P["neck"] - P["pelvis"])
    fwd = _unit(np.cross(left, up))
    left = np.cross(up, fwd)
    head_up = _unit(P["head"] - P["neck"])

    parts: list[tuple] = []

    def add(a, b, ra, rb, slot, flat=False):
        parts.append((a, b, ra, rb, slot, flat))

    # Trunk: three vertical tapered capsules side by side (wider than deep), the hips, the
    # shoulder girdle; a flat-ended cone for a skirt.
    add(P["left_hip"], P["right_hip"], 0.097 * g, 0.097 * g, "bottom")
    for side in (1.0, 0.0, -1.0):  # three overlapping columns: wider than deep, no groove
        add(P["pelvis"] + side * 0.05 * size * left + 0.01 * size * up,
            P["spine3"] + side * 0.058 * size * left + 0.035 * size * up - 0.01 * size * fwd,
            0.102 * g, 0.108 * g, "top")
    add(P["left_collar"] - 0.01 * size * up, P["right_collar"] - 0.01 * size * up, 0.085 * g, 0.085 * g, "top")
    sh = -0.015 * size * up
    add(P["left_shoulder"] + sh, P["right_shoulder"] + sh, 0.058 * g, 0.058 * g, "top")
    if appearance.skirt:
        add(P["pelvis"] + 0.06 * size * up, P["pelvis"] - 0.19 * size * up, 0.125 * g, 0.2 * g, "top", True)
    add(P["neck"] - 0.03 * size * head_up, P["head"], 0.047 * gh, 0.047 * gh, "skin")
    head = P["head"] + 0.055 * size * head_up + 0.012 * size * fwd
    add(head, head, 0.098 * gh, 0.098 * gh, "skin")
    hair = P["head"] + 0.075 * size * head_up - 0.022 * size * fwd
    add(hair, hair, 0.099 * gh, 0.099 * gh, "hair")
    for s in ("left", "right"):
        sleeve = "sleeve" if appearance.sleeves else "skin"
        add(P[f"{s}_shoulder"], P[f"{s}_elbow"], 0.05 * g, 0.041 * g, sleeve)
        add(P[f"{s}_elbow"], P[f"{s}_wrist"], 0.04 * g, 0.03 * g, sleeve)
        hand_dir = _unit(P[f"{s}_hand"] - P[f"{s}_wrist"])
        add(P[f"{s}_wrist"], P[f"{s}_hand"] + 0.06 * size * hand_dir, 0.033 * gh, 0.028 * gh, "skin")
        add(P[f"{s}_hip"], P[f"{s}_knee"], 0.085 * g, 0.058 * g, "bottom")
        add(P[f"{s}_knee"], P[f"{s}_ankle"], 0.055 * g, 0.043 * g, "bottom")
        # Skate: boot shaft and foot, holder and blade along the sole.
        ankle, foot, knee = P[f"{s}_ankle"], P[f"{s}_foot"], P[f"{s}_knee"]
        shin_up = _unit(knee - ankle)
        f = _unit(foot - ankle)
        w = _unit(shin_up - np.sum(shin_up * f, -1, keepdims=True) * f)
        ca, sa = 0.923, 0.385  # the ankle->foot vector points 22.6 deg below the sole
        sole = ca * f + sa * w
        down = sa * f - ca * w
        add(ankle, ankle + 0.12 * size * shin_up, 0.052 * gh, 0.05 * gh, "boots")
        add(ankle + size * (0.035 * down - 0.035 * sole), ankle + size * (0.045 * down + 0.16 * sole),
            0.047 * gh, 0.045 * gh, "boots")
        add(ankle + size * (0.09 * down - 0.04 * sole), ankle + size * (0.09 * down + 0.15 * sole),
            0.017 * size, 0.017 * size, "holder")
        add(ankle + size * (0.121 * down - 0.075 * sole), ankle + size * (0.118 * down + 0.2 * sole),
            0.009 * size, 0.009 * size, "blade")

    assert len(parts) <= 32, "the depth key holds the part index in 5 bits"
    A = np.stack([np.broadcast_to(p[0], (T, 3)) for p in parts], 1)
    B = np.stack([np.broadcast_to(p[1], (T, 3)) for p in parts], 1)
    ra = np.array([p[2] for p in parts])
    rb = np.array([p[3] for p in parts])
    colours = {"skin": appearance.skin, "hair": appearance.hair, "top": appearance.top,
               "bottom": appearance.bottom, "boots": appearance.boots, "sleeve": appearance.top,
               **_METAL}
    albedo = np.array([colours[p[4]] for p in parts], np.float32)
    spec = np.array([_SPECULAR[p[4]] for p in parts], np.float32)
    min_px = np.array([_MIN_PIXELS.get(p[4], 0.8) for p in parts], np.float32)
    flat = np.array([p[5] for p in parts], bool)
    return A, B, ra, rb, albedo, spec, min_px, flat


def _shadow_blobs(joints: np.ndarray) -> np.ndarray:
    """Soft shadows on the ice ``(T, 3, 4)``: (x, y, radius, strength) under the body and
    under each skate, fading as they leave the ice."""
    j = joints
    T = len(j)
    lowest = np.minimum(j[:, J["left_ankle"], 2], j[:, J["right_ankle"], 2])
    lift = np.clip(lowest - 0.13, 0.0, None)
    blobs = np.zeros((T, 3, 4))
    centre = 0.5 * (j[:, J["pelvis"], :2] + j[:, J["spine3"], :2])
    blobs[:, 0, :2] = centre
    blobs[:, 0, 2] = 0.55 + 0.4 * lift
    blobs[:, 0, 3] = 0.30 / (1.0 + 3.0 * lift)
    for k, s in enumerate(("left", "right"), start=1):
        a, f = j[:, J[f"{s}_ankle"]], j[:, J[f"{s}_foot"]]
        blobs[:, k, :2] = 0.5 * (a[:, :2] + f[:, :2])
        blobs[:, k, 2] = 0.2
        blobs[:, k, 3] = 0.35 * np.clip(1.0 - (a[:, 2] - 0.13) / 0.35, 0.0, 1.0)
    return blobs


def _shadow_light(blobs: np.ndarray, camera: Camera) -> dict:
    """Blob shadows as multipliers of the rink's colours: ``frame -> (y0, x0, light (h, w))``
    over a box around them (1 exactly outside the blobs and off the ice)."""
    T, W, H = len(blobs), camera.width, camera.height
    angle = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle)], -1)  # (16, 2)
    pts = blobs[:, :, None, :2] + blobs[:, :, None, 2:3] * ring  # (T, B, 16, 2)
    pts = np.concatenate([pts, np.zeros(pts.shape[:-1] + (1,))], -1).reshape(T, -1, 3)
    cam = camera.world_to_camera(pts)
    K = camera.intrinsics
    z = np.maximum(cam[..., 2], 1e-9)
    u = K[:, 0, 0, None] * cam[..., 0] / z + K[:, 0, 1, None] * cam[..., 1] / z + K[:, 0, 2, None]
    v = K[:, 1, 1, None] * cam[..., 1] / z + K[:, 1, 2, None]
    behind = np.any(cam[..., 2] <= 0.05, 1)
    with np.errstate(invalid="ignore"):
        x0 = np.where(behind, 0, np.clip(np.floor(u.min(1)) - 1, 0, W)).astype(np.int64)
        x1 = np.where(behind, W, np.clip(np.ceil(u.max(1)) + 1, 0, W)).astype(np.int64)
        y0 = np.where(behind, 0, np.clip(np.floor(v.min(1)) - 1, 0, H)).astype(np.int64)
        y1 = np.where(behind, H, np.clip(np.ceil(v.max(1)) + 1, 0, H)).astype(np.int64)
    frames = np.flatnonzero(np.any(blobs[:, :, 3] > 0, 1) & (x1 > x0) & (y1 > y0))
    if len(frames) == 0:
        return {}
    # All boxes at once, padded to the largest.
    h, w = int((y1 - y0)[frames].max()), int((x1 - x0)[frames].max())
    bx0, by0 = np.minimum(x0[frames], W - w), np.minimum(y0[frames], H - h)
    M = np.einsum("tji,tjk->tik", camera.rotation[frames], _inverse_intrinsics(camera.intrinsics[frames]))
    M = M.astype(np.float32)
    C = camera.centre[frames].astype(np.float32)
    f32 = np.float32
    uu = (bx0[:, None] + np.arange(w)).astype(f32)[:, None, :] + f32(0.5)
    vv = (by0[:, None] + np.arange(h)).astype(f32)[:, :, None] + f32(0.5)
    d = [M[:, c, 0, None, None] * uu + (M[:, c, 1, None, None] * vv + M[:, c, 2, None, None]) for c in range(3)]
    t = C[:, 2, None, None] / np.maximum(-d[2], f32(1e-7))
    X = C[:, 0, None, None] + t * d[0]
    Y = C[:, 1, None, None] + t * d[1]
    light = np.ones_like(X)
    for b in range(blobs.shape[1]):
        bx, by, br, bs = (blobs[frames, b, k].astype(f32)[:, None, None] for k in range(4))
        r2 = (X - bx) ** 2 + (Y - by) ** 2
        wgt = np.maximum(f32(1.0) - r2 / (br * br), f32(0.0))
        light -= bs * wgt * wgt
    np.maximum(light, f32(0.3), out=light)
    light[~((d[2] < 0) & _inside_rink(X, Y))] = 1.0
    return {int(f): (int(by0[i]), int(bx0[i]), light[i]) for i, f in enumerate(frames)}


def _darken_ice(rgb: np.ndarray, fs: slice, rows: slice, shadows: dict) -> None:
    """Apply :func:`_shadow_light` to a block of rink colours (planar ``(3, F, h, W)``)."""
    for i, f in enumerate(range(fs.start, fs.stop)):
        if f not in shadows:
            continue
        y0, x0, light = shadows[f]
        h, w = light.shape
        a, b = max(y0, rows.start), min(y0 + h, rows.stop)
        if b > a:
            rgb[:, i, a - rows.start:b - rows.start, x0:x0 + w] *= light[a - y0:b - y0]


def _body_layers(joints: np.ndarray, camera: Camera, appearance: Appearance, ss: int) -> dict:
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
    A, B, ra, rb, albedo, spec, min_px, flat = _primitives(joints, appearance)
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
    reach = np.maximum(rpa, rpb) + _BAND + 1.0
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
    half = _unit(light + np.array([0.0, 0.0, -1.0]))
    wr = np.broadcast_to(0.5 * (ra + rb), (T, Kn))
    # Flat ends: the disc's foreshortening |axis . view| and the segment's pixel length.
    axis = _unit(Bc - Ac)
    view = _unit(0.5 * (Ac + Bc))
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
    pool = _pool()
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
            np.greater_equal(sdf, _BAND, out=outside)  # samples this part does not touch
            np.copyto(key, np.inf, where=outside)
            np.minimum.at(best_flat, idx.reshape(-1), key.reshape(-1))
            pool.release(m2)

        # The winning part of every sample: recompute its geometry and shade it.
        premult, alpha = _shade_samples(pool, best, min_sdf, g, Kn, pa_u, pa_v, eu, ev, il, ra_p, dr,
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


def _shade_samples(pool, best, min_sdf, g, Kn, pa_u, pa_v, eu, ev, il, ra_p, dr, light, sky, half,
                   albedo, spec):
    """Colour (premultiplied, planar) and coverage ``(F, hs, ws)`` of body samples from the
    z-buffer: the winning part's geometry is recomputed and shaded where it covers."""
    F, hs, ws = best.shape
    f32 = np.float32
    alpha = pool.get(best.shape)
    np.subtract(_BAND, min_sdf, out=alpha)
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
