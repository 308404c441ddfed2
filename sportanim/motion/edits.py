"""Edits of a 3D motion for feedback videos: slow motion, mirror, another view, a bigger jump.

Joints are SMPL-24 ``(T, 24, 3)``, camera space (x right, y down, z forward), mm, before
tokenizing. Each edit returns an :class:`Edit`: the new joints and JSON-ready parameters
(what was asked and what came out), so a feedback video can say exactly what it shows.

Every edit is physically consistent: bones keep their lengths, the world's "up" stays up and
a flight stays ballistic. Edits that need the up direction take it from the clip's
world->camera ``extrinsics`` ``(T, 3, 4)`` when given (FSJD synthetic and FS-Jump3D worlds are
z-up), else estimate it from the feet (:func:`sportanim.analysis.estimate_up_axis`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sportanim import analysis
from sportanim.skeleton import JOINT_INDEX, MIRROR, NUM_JOINTS, PARENTS

G_MM = 9810.0  # gravity, mm/s^2
NEAR_MM = 200.0  # joints closer to the image plane than this are behind (or in) the camera
CLEARANCE_MM = 300.0  # a camera nearer than this to any joint is inside the skater
MAX_SLOW = 16.0

PELVIS = JOINT_INDEX["pelvis"]
ANKLES = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])
HIPS = (JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"])


@dataclass(frozen=True)
class Edit:
    """An edited motion: ``joints`` float32 ``(T', 24, 3)`` mm; ``extrinsics`` the matching
    world->camera ``(T', 3, 4)`` path (None when the input had none); ``name`` of the edit;
    ``params`` JSON-ready numbers (asked and obtained)."""

    joints: np.ndarray
    extrinsics: np.ndarray | None
    name: str
    params: dict = field(default_factory=dict)


def check_joints(joints: np.ndarray, min_frames: int = 2) -> np.ndarray:
    """``joints`` as float64 ``(T, 24, 3)``, finite, ``T >= min_frames``; else ValueError."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3) or len(j) < min_frames:
        raise ValueError(f"motion must be SMPL-24 joints (T >= {min_frames}, 24, 3) in mm, got {j.shape}")
    if not np.isfinite(j).all():
        raise ValueError("motion has NaN/inf joints; fill or drop those frames first")
    return j


def check_extrinsics(extrinsics: np.ndarray | None, frames: int) -> np.ndarray | None:
    if extrinsics is None:
        return None
    e = np.asarray(extrinsics, dtype=np.float64)
    if e.shape != (frames, 3, 4) or not np.isfinite(e).all():
        raise ValueError(f"extrinsics must be finite ({frames}, 3, 4) world->camera matrices, got {e.shape}")
    return e


# --------------------------------------------------------------------------- skeleton helpers


def _bone_vectors(joints: np.ndarray) -> np.ndarray:
    """Joint minus parent for every joint but the root: ``(..., 24, 3)`` (root row zero)."""
    parents = np.array([max(p, 0) for p in PARENTS])
    vectors = joints - joints[..., parents, :]
    vectors[..., PELVIS, :] = 0.0
    return vectors


def _chain(root: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Forward kinematics: root ``(..., 3)`` + bone vectors ``(..., 24, 3)`` -> joints.
    SMPL-24 lists every parent before its children."""
    out = np.empty_like(vectors)
    out[..., PELVIS, :] = root
    for child in range(1, NUM_JOINTS):
        out[..., child, :] = out[..., PARENTS[child], :] + vectors[..., child, :]
    return out


def resample(joints: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Joints at fractional frame ``positions`` ``(N,)``: the root interpolated linearly, each
    bone's direction by normalised lerp and its length linearly, so bones do not shrink
    mid-turn as plain joint interpolation would. ``(T, 24, 3) -> (N, 24, 3)``."""
    j = np.asarray(joints, dtype=np.float64)
    pos = np.clip(np.asarray(positions, dtype=np.float64), 0.0, len(j) - 1.0)
    lo = np.minimum(np.floor(pos).astype(int), len(j) - 1)
    hi = np.minimum(lo + 1, len(j) - 1)
    w = (pos - lo)[:, None]
    vectors = _bone_vectors(j)
    lengths = np.linalg.norm(vectors, axis=-1)
    direction = (1.0 - w[..., None]) * vectors[lo] + w[..., None] * vectors[hi]
    norm = np.linalg.norm(direction, axis=-1, keepdims=True)
    # Opposite directions (never between frames of real motion) fall back to the nearer frame.
    nearer = np.where(w[..., None] < 0.5, vectors[lo], vectors[hi])
    direction = np.where(norm > 1e-9, direction / np.maximum(norm, 1e-12),
                         nearer / np.maximum(np.linalg.norm(nearer, axis=-1, keepdims=True), 1e-12))
    length = (1.0 - w) * lengths[lo] + w * lengths[hi]
    root = (1.0 - w) * j[lo, PELVIS] + w * j[hi, PELVIS]
    return _chain(root, direction * length[..., None])


def rotation_about(axis: np.ndarray, radians: float | np.ndarray) -> np.ndarray:
    """Right-handed rotation matrices about unit ``axis`` (Rodrigues): ``(3, 3)`` for a scalar
    angle, ``(N, 3, 3)`` for ``(N,)`` angles."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    a = np.asarray(radians, dtype=np.float64)
    cross = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    c, s = np.cos(a)[..., None, None], np.sin(a)[..., None, None]
    return c * np.eye(3) + s * cross + (1.0 - c) * np.outer(u, u)


def up_direction(joints: np.ndarray, extrinsics: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """World up in camera space per frame, ``(T, 3)`` unit, and where it came from: the
    rotations' third columns of world->camera ``extrinsics`` (z-up worlds; a following
    camera tilts, so it varies), else the normal of the ice fitted under the feet
    (one direction for the clip: a still camera)."""
    j = check_joints(joints)
    e = check_extrinsics(extrinsics, len(j))
    if e is not None:
        up = e[:, :, 2]
        return up / np.linalg.norm(up, axis=-1, keepdims=True), "extrinsics"
    up = analysis.estimate_up_axis(j)
    return np.broadcast_to(up, (len(j), 3)).copy(), "feet"


def _given_up(up, joints: np.ndarray, extrinsics) -> tuple[np.ndarray, str]:
    if up is None:
        return up_direction(joints, extrinsics)
    u = np.asarray(up, dtype=np.float64)
    u = np.broadcast_to(u / np.linalg.norm(u, axis=-1, keepdims=True), (len(joints), 3)).copy()
    return u, "given"


def _moved_camera(extrinsics: np.ndarray | None, linear: np.ndarray, offset: np.ndarray,
                  world: np.ndarray | None = None) -> np.ndarray | None:
    """The camera path after camera-space points moved by ``X' = linear_t X + offset_t``
    (``(T, 3, 3)``, ``(T, 3)``); ``world`` ``(3, 3)`` re-maps the world (a reflection)."""
    if extrinsics is None:
        return None
    R, t = extrinsics[:, :, :3], extrinsics[:, :, 3]
    R = np.einsum("tij,tjk->tik", linear, R)
    if world is not None:
        R = R @ world
    return np.concatenate([R, (np.einsum("tij,tj->ti", linear, t) + offset)[..., None]], axis=-1)


# --------------------------------------------------------------------------- slow motion


def resample_extrinsics(extrinsics: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """A camera path at fractional frame ``positions``: matrices interpolated linearly, the
    rotation part made a rotation again (nearest, by SVD)."""
    e = np.asarray(extrinsics, dtype=np.float64)
    pos = np.clip(np.asarray(positions, dtype=np.float64), 0.0, len(e) - 1.0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(e) - 1)
    w = (pos - lo)[:, None, None]
    m = (1.0 - w) * e[lo] + w * e[hi]
    u, _, vt = np.linalg.svd(m[:, :, :3])
    m[:, :, :3] = u @ vt
    return m


def slow(joints: np.ndarray, factor: float, extrinsics: np.ndarray | None = None) -> Edit:
    """Slow motion by ``factor`` (> 1 slower, < 1 faster): ``round((T - 1) factor) + 1``
    frames on the same path (:func:`resample`), to be played at the source's frame rate.
    ``params["real_time_factor"]`` is the share of real time shown per second of video."""
    j = check_joints(joints)
    e = check_extrinsics(extrinsics, len(j))
    if not (np.isfinite(factor) and 1.0 / MAX_SLOW <= factor <= MAX_SLOW):
        raise ValueError(f"--slow {factor:g}: the slow-motion factor must be in [{1 / MAX_SLOW:g}, {MAX_SLOW:g}] "
                         "(2.0 plays at half speed)")
    frames = int(round((len(j) - 1) * factor)) + 1
    positions = np.linspace(0.0, len(j) - 1.0, frames)
    achieved = (frames - 1) / (len(j) - 1)
    return Edit(resample(j, positions).astype(np.float32), None if e is None else resample_extrinsics(e, positions),
                "slow", {"factor": float(factor), "achieved_factor": achieved, "real_time_factor": 1.0 / achieved,
                         "frames_in": len(j), "frames_out": frames})


# --------------------------------------------------------------------------- mirror

WORLD_MIRROR = np.diag([-1.0, 1.0, 1.0])  # the mirrored world's x: a vertical plane of z-up worlds


def mirror(joints: np.ndarray, up: np.ndarray | None = None, extrinsics: np.ndarray | None = None) -> Edit:
    """The mirror image of the motion: each frame reflected in the vertical plane through the
    camera and the skater's mean pelvis, left and right joints swapped. The skater stays where
    they were in the picture, up stays up, and every turn changes sense (a clockwise skater
    becomes counter-clockwise). Mirroring twice gives the motion back."""
    j = check_joints(joints)
    e = check_extrinsics(extrinsics, len(j))
    u, source = _given_up(up, j, e)
    centre = j[:, PELVIS].mean(axis=0)
    normal = np.cross(u, centre)  # (T, 3): the plane holds up and the line of sight
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    if (norm < 1e-6 * np.linalg.norm(centre)).any():
        raise ValueError("cannot mirror: the skater is straight above or below the camera")
    normal /= norm
    reflection = np.eye(3) - 2.0 * np.einsum("ti,tj->tij", normal, normal)  # (T, 3, 3)
    reflected = np.einsum("tij,tkj->tki", reflection, j)
    return Edit(reflected[:, list(MIRROR)].astype(np.float32),
                _moved_camera(e, reflection, np.zeros((len(j), 3)), WORLD_MIRROR), "mirror",
                {"up_from": source, "mean_plane_normal": normal.mean(axis=0).tolist()})


# --------------------------------------------------------------------------- another view


def rotate_view(joints: np.ndarray, degrees: float, up: np.ndarray | None = None,
                extrinsics: np.ndarray | None = None) -> Edit:
    """The motion seen by the camera moved ``degrees`` around the skater: the camera orbits
    the vertical through the skater's mean pelvis (positive: counter-clockwise seen from
    above), keeping its distance and height. Refuses (ValueError) a view that puts the camera
    inside the skater or any joint behind the camera."""
    j = check_joints(joints)
    e = check_extrinsics(extrinsics, len(j))
    if not np.isfinite(degrees):
        raise ValueError(f"--view {degrees}: give an angle in degrees")
    u, source = _given_up(up, j, e)
    pivot = j[:, PELVIS].mean(axis=0)
    # Orbiting the camera by +a about the vertical = turning the scene by -a about it.
    rotation = np.stack([rotation_about(axis, -np.radians(degrees)) for axis in u])  # (T, 3, 3)
    moved = np.einsum("tij,tkj->tki", rotation, j - pivot) + pivot
    _check_visible(moved, degrees)
    offset = pivot - np.einsum("tij,j->ti", rotation, pivot)
    return Edit(moved.astype(np.float32), _moved_camera(e, rotation, offset), "view",
                {"degrees": float(degrees), "up_from": source, "pivot_mm": pivot.tolist(),
                 "distance_mm": float(np.linalg.norm(pivot))})


def _check_visible(joints: np.ndarray, degrees: float) -> None:
    nearest = float(np.linalg.norm(joints, axis=-1).min())
    if nearest < CLEARANCE_MM:
        raise ValueError(f"--view {degrees:g}: the camera would be inside the skater (a joint {nearest:.0f} mm "
                         f"from it); choose another angle")
    depth = float(joints[..., 2].min())
    if depth < NEAR_MM:
        raise ValueError(f"--view {degrees:g}: part of the skater would be behind the camera (depth "
                         f"{depth:.0f} mm); choose a smaller angle")


# --------------------------------------------------------------------------- jump flight
#
# Flights are edited in the world: with extrinsics the clip's own (z up), else the camera's
# frame (a still camera) with the up estimated from the feet.


def to_world(joints: np.ndarray, extrinsics: np.ndarray | None) -> np.ndarray:
    if extrinsics is None:
        return np.asarray(joints, dtype=np.float64)
    R, t = extrinsics[:, :, :3], extrinsics[:, :, 3]
    return np.einsum("tji,tkj->tki", R, joints - t[:, None, :])


def to_camera(world: np.ndarray, extrinsics: np.ndarray | None) -> np.ndarray:
    if extrinsics is None:
        return world
    return np.einsum("tij,tkj->tki", extrinsics[:, :, :3], world) + extrinsics[:, None, :, 3]


@dataclass(frozen=True)
class Ground:
    """The ice under the ankles in the world: unit ``normal`` (up) and ``offset`` mm."""

    normal: np.ndarray
    offset: float

    def heights_m(self, points: np.ndarray) -> np.ndarray:
        return analysis.height_above_plane(points, self.normal, self.offset) / 1000.0


def fit_ground(world: np.ndarray, up: np.ndarray) -> Ground:
    """The plane under the ankles (:func:`sportanim.analysis.fit_ground_plane`) of world joints."""
    normal, offset = analysis.fit_ground_plane(world[:, ANKLES[0]], world[:, ANKLES[1]], up=up)
    return Ground(normal, offset)


def _world_and_ground(joints, up, extrinsics) -> tuple[np.ndarray, Ground, np.ndarray | None]:
    j = check_joints(joints, 3)
    e = check_extrinsics(extrinsics, len(j))
    world = to_world(j, e)
    if up is None:
        up = (0.0, 0.0, 1.0) if e is not None else analysis.estimate_up_axis(j)
    return world, fit_ground(world, np.asarray(up, dtype=np.float64)), e


def find_flights(joints: np.ndarray, fps: float, up: np.ndarray | None = None,
                 extrinsics: np.ndarray | None = None) -> list[tuple[int, int]]:
    """The jumps' flights, inclusive ``(takeoff, landing)`` frames
    (:func:`sportanim.analysis.jump_flights`)."""
    world, ground, _ = _world_and_ground(joints, up, extrinsics)
    return _flights(world, fps, ground)


def _flights(world: np.ndarray, fps: float, ground: Ground) -> list[tuple[int, int]]:
    return analysis.jump_flights(ground.heights_m(world[:, ANKLES[0]]), ground.heights_m(world[:, ANKLES[1]]),
                                 ground.heights_m(analysis.center_of_mass(world)), fps)


def flight_stats(joints: np.ndarray, fps: float, takeoff: int, landing: int, up: np.ndarray | None = None,
                 extrinsics: np.ndarray | None = None) -> dict:
    """:func:`sportanim.analysis.flight_statistics` of one flight (air time s, revolutions,
    peak spin deg/s, the pelvis's fitted g m/s^2)."""
    world, ground, _ = _world_and_ground(joints, up, extrinsics)
    return _stats(world, fps, ground, takeoff, landing)


def _stats(world: np.ndarray, fps: float, ground: Ground, takeoff: int, landing: int) -> dict:
    return analysis.flight_statistics(world[:, HIPS[0]], world[:, HIPS[1]], ground.heights_m(world[:, PELVIS]),
                                      takeoff, landing, fps, up=ground.normal)


def scale_flight(joints: np.ndarray, fps: float, air_time_factor: float = 1.0,
                 rotation_speed_factor: float = 1.0, takeoff: int | None = None,
                 landing: int | None = None, up: np.ndarray | None = None,
                 extrinsics: np.ndarray | None = None) -> Edit:
    """A jump with ``air_time_factor`` times the air time and ``rotation_speed_factor`` times
    the spin: the flight (``takeoff..landing`` inclusive, else the first found) is re-timed
    to ``round(N * air_time_factor)`` frames, the pelvis flies an exact parabola with
    g = 9.81 m/s^2 between the take-off and landing heights (so a longer flight is a higher
    one: the rise grows with the air time squared), keeps its horizontal speed (a longer
    flight travels further) and the body turns ``rotation_speed_factor`` times as fast. The
    frames after landing are moved with the landing point and turned by the extra rotation.
    The camera path is re-timed with the body.
    """
    for name, value in (("air_time_factor", air_time_factor), ("rotation_speed_factor", rotation_speed_factor)):
        if not (np.isfinite(value) and 0.25 <= value <= 4.0):
            raise ValueError(f"{name} {value:g}: must be in [0.25, 4]")
    world, ground, e = _world_and_ground(joints, up, extrinsics)
    start, end = _flight(world, fps, ground, takeoff, landing)
    before = _stats(world, fps, ground, start, end)
    n_old = end - start + 1
    n_new = max(3, int(round(n_old * air_time_factor)))
    flight, positions, tail = _new_flight(world, fps, ground, start, end, n_new, rotation_speed_factor)
    out = np.concatenate([world[:start], flight, tail])
    new_end = start + n_new - 1
    after = _stats(out, fps, ground, start, new_end)
    camera = None
    if e is not None:
        index = np.concatenate([np.arange(start), positions, np.arange(end + 1, len(world))])
        camera = resample_extrinsics(e, index)
    return Edit(to_camera(out, camera).astype(np.float32), camera, "flight", {
        "air_time_factor": float(air_time_factor), "rotation_speed_factor": float(rotation_speed_factor),
        "takeoff": start, "landing_before": end, "landing_after": new_end,
        "frames_in": len(world), "frames_out": len(out), "before": before, "after": after})


def _flight(world: np.ndarray, fps: float, ground: Ground, takeoff: int | None,
            landing: int | None) -> tuple[int, int]:
    if (takeoff is None) != (landing is None):
        raise ValueError("give both takeoff and landing frames, or neither (the flight is then found)")
    if takeoff is None:
        flights = _flights(world, fps, ground)
        if not flights:
            raise ValueError("no jump flight in this motion (both ankles off the ice, the body rising); "
                             "give takeoff and landing frames")
        return flights[0]
    if not (1 <= takeoff < landing < len(world) - 1 and landing - takeoff >= 2):
        raise ValueError(f"takeoff {takeoff} / landing {landing}: need 1 <= takeoff, landing - takeoff >= 2 and "
                         f"landing < {len(world) - 1} (the motion has {len(world)} frames)")
    return int(takeoff), int(landing)


def _new_flight(j: np.ndarray, fps: float, ground: Ground, start: int, end: int, n_new: int,
                spin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flight frames ``(n_new, 24, 3)``, the old fractional frame of each, frames after
    landing moved to join it); all world coordinates."""
    u = ground.normal
    n_old = end - start + 1
    t_old, t_new = n_old / fps, n_new / fps
    pelvis = j[:, PELVIS]
    # Take-off and landing heights: the old pelvis parabola at the flight's ends (half a frame
    # outside the first and last airborne frames, as analysis dates the air time).
    tau = (np.arange(n_old) + 0.5) / fps
    coef = np.polyfit(tau, pelvis[start:end + 1] @ u, 2)
    h0, h1 = np.polyval(coef, 0.0), np.polyval(coef, t_old)
    flat = pelvis - np.outer(pelvis @ u, u)
    velocity = (flat[end] - flat[start]) / ((n_old - 1) / fps)  # horizontal, mm/s
    # The body: the old flight's poses re-timed, turned by the extra spin about the pelvis.
    positions = start + (np.arange(n_new) + 0.5) * n_old / n_new - 0.5
    poses = resample(j, positions)
    frames = np.arange(len(j))
    heading = analysis.hip_heading(j[:, HIPS[0]], j[:, HIPS[1]], up=u)
    turn = spin * n_new / n_old - 1.0  # extra turn per radian of the old flight's turn
    extra = turn * (np.interp(positions, frames, heading) - np.interp(start - 0.5, frames, heading))
    relative = poses - poses[:, PELVIS:PELVIS + 1]
    relative = np.einsum("nij,nkj->nki", rotation_about(u, extra), relative)
    tau_new = (np.arange(n_new) + 0.5) / fps
    height = h0 + (h1 - h0) * tau_new / t_new + 0.5 * G_MM * tau_new * (t_new - tau_new)
    root = flat[start] + np.outer(tau_new - tau[0], velocity) + np.outer(height, u)
    flight = relative + root[:, None, :]
    # After landing: shifted by the extra distance flown, turned by the whole extra rotation
    # about the vertical through the landing point.
    shift = velocity * (t_new - t_old)
    total = turn * (np.interp(end + 0.5, frames, heading) - np.interp(start - 0.5, frames, heading))
    pivot = flat[end] + shift
    tail = (j[end + 1:] + shift - pivot) @ rotation_about(u, total).T + pivot
    return flight, positions, tail
