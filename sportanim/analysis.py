"""Motion analysis for skating jumps: rotation, flight detection, gravity, ground.

Numpy only, for any "up" axis. Positions may be in any length unit (the world tracks use
metres, NLF and FS-Jump3D millimetres); a function says where the unit matters. Arrays of
joints are ``(T, J, 3)``; a single joint's track is ``(T, 3)``; time runs at ``fps``.

Headings are measured in the plane orthogonal to ``up`` against a fixed reference direction
(:func:`plane_basis`), counter-clockwise positive seen from above, i.e. by the right-hand
rule about ``up``.
"""

from __future__ import annotations

import numpy as np

TWO_PI = 2.0 * np.pi
_EPS = 1e-12

# --------------------------------------------------------------------------- geometry


def _unit(v: np.ndarray) -> np.ndarray:
    """Normalise along the last axis; zero vectors stay zero. ``(..., 3) -> (..., 3)``."""
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, _EPS)


def _lerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """``a + w (b - a)``, broadcast over leading axes."""
    return a + w * (b - a)


def plane_basis(up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-handed orthonormal basis ``(e1, e2, u)`` with ``u`` = unit ``up``, each ``(3,)``.

    ``e1`` (heading 0) is the world axis least aligned with ``up`` (lowest index on ties),
    projected onto the plane orthogonal to ``up``; ``e2 = u x e1`` (heading +pi/2). For
    ``up = z`` this is ``(x, y, z)``.
    """
    u = _unit(np.asarray(up, dtype=np.float64))
    if not np.any(u):
        raise ValueError("up must be a non-zero vector")
    axis = np.eye(3)[int(np.argmin(np.abs(u)))]
    e1 = _unit(axis - np.dot(axis, u) * u)
    e2 = np.cross(u, e1)
    return e1, e2, u


def height_along(points: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Height of points along unit ``up``. ``(..., 3) -> (...)``, in the points' unit."""
    return np.asarray(points, dtype=np.float64) @ plane_basis(up)[2]


def horizontal_speed(points: np.ndarray, fps: float, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Speed in the plane orthogonal to ``up`` (central differences).

    ``points`` ``(T, 3)`` -> ``(T,)`` in the points' unit per second (``T >= 2``).
    """
    e1, e2, _ = plane_basis(up)
    p = np.asarray(points, dtype=np.float64)
    flat = np.stack([p @ e1, p @ e2], axis=-1)
    velocity = np.gradient(flat, 1.0 / fps, axis=0)
    return np.linalg.norm(velocity, axis=-1)


# --------------------------------------------------------------------------- rotation


def hip_heading(left_hip: np.ndarray, right_hip: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Unwrapped heading (radians) of the hip axis, right hip -> left hip.

    ``left_hip``, ``right_hip``: ``(T, 3)``. The axis is projected onto the plane orthogonal
    to ``up`` and its angle measured from ``e1`` toward ``e2`` of :func:`plane_basis`
    (counter-clockwise seen from above is positive), then unwrapped so it is continuous.
    Returns ``(T,)``; the first value lies in ``(-pi, pi]``.
    """
    e1, e2, _ = plane_basis(up)
    axis = np.asarray(left_hip, dtype=np.float64) - np.asarray(right_hip, dtype=np.float64)
    return np.unwrap(np.arctan2(axis @ e2, axis @ e1))


def count_revolutions(left_hip: np.ndarray, right_hip: np.ndarray, start: int, end: int,
                      up=(0.0, 0.0, 1.0)) -> float:
    """Signed turns of the hip axis from frame ``start`` to frame ``end`` (inclusive).

    ``(heading[end] - heading[start]) / 2pi``; positive is counter-clockwise seen from above.
    The heading is unwrapped over the whole clip, so it must be sampled finely enough that
    the axis turns less than half a turn between frames.
    """
    heading = hip_heading(left_hip, right_hip, up)
    return float((heading[end] - heading[start]) / TWO_PI)


def rotation_speed(left_hip: np.ndarray, right_hip: np.ndarray, fps: float,
                   up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Signed rotation speed of the hip axis, rev/s, ``(T,)`` (central differences inside,
    one-sided at the ends; ``T >= 2``)."""
    heading = hip_heading(left_hip, right_hip, up)
    return np.gradient(heading, 1.0 / fps) / TWO_PI


# --------------------------------------------------------------------------- ground and flight


def fit_ground_plane(left_foot: np.ndarray, right_foot: np.ndarray, up=(0.0, 0.0, 1.0),
                     keep: float = 0.6, iterations: int = 5) -> tuple[np.ndarray, float]:
    """Robust plane under the feet: ``(normal (3,), offset)`` with ``p . normal = offset``.

    ``left_foot``, ``right_foot``: ``(T, 3)`` (ankles work). Each frame contributes its lower
    foot (along ``up``); the plane ``h = a*s + b*t + c`` (``s, t`` along ``e1, e2``) is fitted
    by least squares, then refitted ``iterations`` times on the ``keep`` fraction of frames
    with the lowest residuals, which drops flights and lifted feet. ``normal`` is a unit
    vector on the side of ``up``; ``offset`` is in the feet's unit. The plane tilts only
    along directions where the feet's spread determines the tilt to about a degree
    (:func:`_sure_tilt_fit`); elsewhere it keeps level with ``up``. Use it when the ice is
    not exactly orthogonal to ``up`` (FS-Jump3D's ice is tilted 0.4-1.6 degrees from its
    world z axis).
    """
    e1, e2, u = plane_basis(up)
    left = np.asarray(left_foot, dtype=np.float64)
    right = np.asarray(right_foot, dtype=np.float64)
    lower = np.where((left @ u < right @ u)[:, None], left, right)
    flat = np.stack([lower @ e1, lower @ e2], axis=-1)
    h = lower @ u
    chosen = np.ones(len(h), dtype=bool)
    for _ in range(iterations + 1):
        (a, b), c = _sure_tilt_fit(flat[chosen], h[chosen])
        residual = h - flat @ (a, b) - c
        chosen = residual <= np.quantile(residual, keep)
    normal = u - a * e1 - b * e2
    norm = float(np.linalg.norm(normal))
    return normal / norm, float(c / norm)


MAX_TILT_ERROR = 0.02  # rad (~1 degree): a tilt known less surely than this is not fitted


def _sure_tilt_fit(flat: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares ``h = slope . flat + c`` (``flat (n, 2)``, ``h (n,)``) with the slope
    kept only along the principal directions of ``flat`` where its standard error is below
    ``MAX_TILT_ERROR``: across a straight glide the feet cover a strip one stride wide, and a
    plane fitted to noisy heights there would pivot on the noise."""
    centre = flat.mean(0)
    _, spread, axes = np.linalg.svd(flat - centre, full_matrices=False)
    design = np.concatenate([(flat - centre) @ axes.T, np.ones((len(h), 1))], axis=-1)
    coef = np.linalg.lstsq(design, h, rcond=None)[0]
    noise = np.sqrt(np.sum((h - design @ coef) ** 2) / max(len(h) - design.shape[1], 1))
    sure = noise < MAX_TILT_ERROR * spread
    coef = np.linalg.lstsq(design[:, np.append(sure, True)], h, rcond=None)[0]
    slope = coef[:-1] @ axes[sure]
    return slope, float(coef[-1] - slope @ centre)


def height_above_plane(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Signed distance of points above a plane from :func:`fit_ground_plane`.
    ``(..., 3) -> (...)``, in the points' unit."""
    return np.asarray(points, dtype=np.float64) @ np.asarray(normal, dtype=np.float64) - offset


def estimate_ground(left_foot_heights: np.ndarray, right_foot_heights: np.ndarray,
                    percentile: float = 10.0) -> float:
    """Ice level: a low percentile of the lower foot's height, ``(T,), (T,) -> float``.

    Robust to flights (the feet are on the ice most of the time) and to single-frame dips.
    """
    lower = np.minimum(np.asarray(left_foot_heights), np.asarray(right_foot_heights))
    return float(np.percentile(lower, percentile))


def airborne_mask(left_foot_heights: np.ndarray, right_foot_heights: np.ndarray,
                  ground=None, margin: float = 0.05, unit_scale: float = 1.0,
                  release: float | None = None, max_widen: int | None = None) -> np.ndarray:
    """Frames with both feet off the ice: ``(T,), (T,) -> bool (T,)``.

    A frame is airborne when both feet are more than ``margin`` metres above ``ground``
    (a scalar or ``(T,)`` in the heights' unit; :func:`estimate_ground` when ``None``).
    ``unit_scale`` is the heights' unit per metre: 1 for metres, 1000 for millimetres (NLF,
    FS-Jump3D). With ``release`` (metres, below ``margin``) each airborne run is widened
    while both feet stay above ``release`` (hysteresis), which keeps the strict ``margin``
    against ice-contact noise yet dates take-off and landing closer to the real ones;
    ``max_widen`` (frames) caps the widening on each side, so a foot that lingers just
    above ``release`` after landing (a skid, a fall) cannot stretch the flight.
    """
    left = np.asarray(left_foot_heights, dtype=np.float64)
    right = np.asarray(right_foot_heights, dtype=np.float64)
    if ground is None:
        ground = estimate_ground(left, right)
    lower = np.minimum(left, right) - np.asarray(ground, dtype=np.float64)
    mask = lower > margin * unit_scale
    if release is not None:
        mask = widen_runs(mask, lower > release * unit_scale, max_widen)
    return mask


def widen_runs(core: np.ndarray, loose: np.ndarray, max_widen: int | None = None) -> np.ndarray:
    """Grow each True run of ``core`` over the adjacent True frames of ``loose``, by at most
    ``max_widen`` frames per side (unlimited when None). bool (T,) -> bool (T,)."""
    limit = len(core) if max_widen is None else max_widen
    out = core.copy()
    for start, end in flight_phases(core, min_frames=1):
        first, last = start, end
        while first > 0 and loose[first - 1] and start - first < limit:
            first -= 1
        while last + 1 < len(out) and loose[last + 1] and last - end < limit:
            last += 1
        out[first:last + 1] = True
    return out


def flight_phases(mask: np.ndarray, min_frames: int = 3) -> list[tuple[int, int]]:
    """Contiguous True runs of a bool ``(T,)`` mask as ``[(start, end), ...]``, inclusive
    frame indices, keeping runs of at least ``min_frames`` frames."""
    m = np.asarray(mask, dtype=bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], m, [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends) if e - s + 1 >= min_frames]


# Jump flights from the ankles' heights above the ice (tuned on all 14 FS-Jump3D trials): a
# frame is airborne when both ankles are FLIGHT_MARGIN_M above their gliding height, widened
# by up to FLIGHT_WIDEN_S a side while both stay above FLIGHT_RELEASE_M (so a skid or fall
# after landing cannot stretch the flight); runs under FLIGHT_MIN_S are dropped, and so are
# runs in which the centre of mass rises less than FLIGHT_MIN_RISE_M (a fall lifts both
# ankles off the ice too). The centre of mass's vertical acceleration is about -g over
# exactly these frames.
FLIGHT_MARGIN_M = 0.10
FLIGHT_RELEASE_M = 0.05
FLIGHT_WIDEN_S = 0.05
FLIGHT_MIN_S = 0.1
FLIGHT_MIN_RISE_M = 0.05


def flight_candidates(left_heights: np.ndarray, right_heights: np.ndarray,
                      fps: float) -> list[tuple[int, int]]:
    """Runs with both ankles off the ice, inclusive ``(start, end)`` frames.

    ``left_heights``, ``right_heights``: ``(T,)`` metres above the ankles' gliding height
    (:func:`height_above_plane` over a plane fitted under the ankles). The widening is
    the whole frames within ``FLIGHT_WIDEN_S`` (at least one), the shortest run the frames
    nearest ``FLIGHT_MIN_S``.
    """
    mask = airborne_mask(left_heights, right_heights, ground=0.0, margin=FLIGHT_MARGIN_M,
                         release=FLIGHT_RELEASE_M, max_widen=max(1, int(FLIGHT_WIDEN_S * fps + 1e-9)))
    return flight_phases(mask, min_frames=max(2, round(FLIGHT_MIN_S * fps)))


def flight_rise(heights: np.ndarray, start: int, end: int) -> float:
    """Rise of a height track ``(T,)`` over a flight: highest in the air minus take-off."""
    return float(np.max(heights[start:end + 1]) - heights[start])


def jump_flights(left_heights: np.ndarray, right_heights: np.ndarray, com_heights: np.ndarray,
                 fps: float) -> list[tuple[int, int]]:
    """:func:`flight_candidates` in which the centre of mass (``(T,)`` metres, e.g. from
    :func:`center_of_mass`) rises at least ``FLIGHT_MIN_RISE_M``: the jumps' flights."""
    return [(s, e) for s, e in flight_candidates(left_heights, right_heights, fps)
            if flight_rise(com_heights, s, e) >= FLIGHT_MIN_RISE_M]


def air_revolutions(left_hip: np.ndarray, right_hip: np.ndarray, start: int, end: int,
                    up=(0.0, 0.0, 1.0)) -> float:
    """Hip-axis turns in a flight of frames ``start..end``, from half a frame before take-off
    to half a frame after landing so it matches the air time ``(end - start + 1) / fps``
    (mean of the two one-frame-shifted :func:`count_revolutions`)."""
    first, last = max(start - 1, 0), min(end + 1, len(left_hip) - 1)
    return 0.5 * (count_revolutions(left_hip, right_hip, first, end, up)
                  + count_revolutions(left_hip, right_hip, start, last, up))


def flight_statistics(left_hip: np.ndarray, right_hip: np.ndarray, pelvis_heights: np.ndarray,
                      start: int, end: int, fps: float, up=(0.0, 0.0, 1.0)) -> dict:
    """Air time (s), revolutions, peak spin (deg/s, signed peak's magnitude) and the g fitted
    to the pelvis's height (``(T,)`` metres) of the flight ``start..end`` (inclusive)."""
    spin = rotation_speed(left_hip, right_hip, fps, up)[start:end + 1]
    return {
        "air_time_s": (end - start + 1) / fps,
        "revolutions": air_revolutions(left_hip, right_hip, start, end, up),
        "peak_spin_deg_s": float(360.0 * np.max(np.abs(spin))),
        "g_pelvis": fit_gravity(pelvis_heights[start:end + 1], fps),
    }


def fit_gravity(heights: np.ndarray, fps: float) -> float:
    """Gravity from a ballistic height track: least-squares ``h(t) = a t^2 + b t + c``.

    ``heights``: ``(N,)``, ``N >= 3`` samples at ``fps``. Returns ``g = -2a`` in the heights'
    unit per s^2 (9.81 for metres in free fall, 9810 for millimetres).
    """
    h = np.asarray(heights, dtype=np.float64)
    if h.size < 3:
        raise ValueError(f"need at least 3 samples to fit a parabola, got {h.size}")
    t = np.arange(h.size) / fps
    t = t - t.mean()  # centred time keeps the normal equations well conditioned
    design = np.stack([t * t, t, np.ones_like(t)], axis=-1)
    a = np.linalg.lstsq(design, h, rcond=None)[0][0]
    return float(-2.0 * a)


def estimate_up_axis(joints: np.ndarray, pelvis: int = 0, neck: int = 12,
                     feet: tuple[int, int] | None = (7, 8), iterations: int = 3) -> np.ndarray:
    """Up direction from the skeleton, for data whose frame has no known "up" (camera space).

    ``joints`` ``(T, J, 3)`` -> unit ``(3,)``; default indices are SMPL-24's (for H36M-17
    use ``neck=8, feet=(6, 3)``). First guess: the normalised mean of the unit
    pelvis -> neck vectors. Skaters lean forward while gliding, so this alone is 2-16 degrees
    off on FS-Jump3D. With ``feet`` (ankle indices) it is then refined ``iterations`` times
    as the normal of :func:`fit_ground_plane` under the lower foot, which is within 0.1 degree
    there. The refinement assumes the ice is a fixed plane in the data's frame (a static
    camera, or world coordinates); for a panning camera pass ``feet=None``. It also needs the
    skater to travel across the ice, not along one line.
    """
    j = np.asarray(joints, dtype=np.float64)
    up = _unit(_unit(j[:, neck] - j[:, pelvis]).mean(axis=0))
    if feet is not None:
        for _ in range(iterations):
            up, _ = fit_ground_plane(j[:, feet[0]], j[:, feet[1]], up=up)
    return up


# Body-segment masses (share of body mass) and centre positions along each segment, after
# de Leva (1996, male): (proximal joint, distal joint, fraction from proximal, mass share).
# SMPL-24 indices. Skates (about 1 kg each) are not modelled.
_SEGMENTS_SMPL24: tuple[tuple[int, int, float, float], ...] = (
    (12, 15, 1.0, 0.0694),  # head + neck, at SMPL's head joint
    (0, 3, 0.5, 0.1117),  # lower trunk
    (3, 9, 0.5, 0.1633),  # middle trunk
    (9, 12, 0.5, 0.1596),  # upper trunk
    (16, 18, 0.45, 0.0271), (17, 19, 0.45, 0.0271),  # upper arms
    (18, 20, 0.43, 0.0162), (19, 21, 0.43, 0.0162),  # forearms
    (20, 22, 0.5, 0.0061), (21, 23, 0.5, 0.0061),  # hands
    (1, 4, 0.41, 0.1416), (2, 5, 0.41, 0.1416),  # thighs
    (4, 7, 0.44, 0.0433), (5, 8, 0.44, 0.0433),  # shanks
    (7, 10, 0.5, 0.0137), (8, 11, 0.5, 0.0137),  # feet
)


def center_of_mass(joints24: np.ndarray) -> np.ndarray:
    """Approximate whole-body centre of mass from SMPL-24 joints. ``(..., 24, 3) -> (..., 3)``.

    Mass-weighted mean of segment centres (table above), in the joints' unit. Unlike the
    pelvis, whose height in the air moves with the tuck of the legs, this follows the
    ballistic parabola in flight closely (about 9.7-10.4 m/s^2 fitted on FS-Jump3D).
    """
    j = np.asarray(joints24, dtype=np.float64)
    total = np.zeros(j.shape[:-2] + (3,))
    for prox, dist, frac, mass in _SEGMENTS_SMPL24:
        total += mass * _lerp(j[..., prox, :], j[..., dist, :], frac)
    return total / sum(seg[3] for seg in _SEGMENTS_SMPL24)


def fill_missing(x: np.ndarray, found: np.ndarray) -> np.ndarray:
    """``x`` ``(T, ...)`` with rows where ``found`` is False interpolated linearly in time
    from the found ones (ends held); ``ValueError`` if none is found."""
    found = np.asarray(found, dtype=bool)
    if not found.any():
        raise ValueError("no frame with the athlete to interpolate from")
    x = np.array(x, dtype=np.float64)
    if found.all():
        return x
    t = np.arange(len(x))
    flat = x.reshape(len(x), -1)
    for k in range(flat.shape[1]):
        flat[~found, k] = np.interp(t[~found], t[found], flat[found, k])
    return flat.reshape(x.shape)
