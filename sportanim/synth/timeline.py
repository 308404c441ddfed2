"""Motion tracks: what a skater does frame by frame, and how it becomes world joints.

A :class:`Track` describes a performance without geometry: named pose angles, travel speed
and turning, the body's heading relative to its travel, and flights. :func:`perform` turns
it into joints on the ice: it integrates the travel path, runs forward kinematics, keeps the
lowest skate on the ice while grounded and flies the pelvis on a ballistic parabola while
airborne.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.kinematics import POSE_PARAMS, Body, forward_kinematics, pose_rotations, yaw_rotation

GRAVITY = 9.81  # m/s^2
# Height above the ice of the skate's ankle joint when the blade stands flat on it (boot
# sole + blade). The toe joint sits this much lower than the ankle when flat, so a skate
# on its toe pick touches with the toe joint.
ANKLE_ON_ICE = 0.13
TOE_BELOW_ANKLE = 0.05


@dataclass
class Track:
    """Per-frame description of a performance at ``fps`` frames per second."""

    fps: float
    params: dict[str, np.ndarray]  # pose angles, each (T,) degrees (see kinematics.POSE_PARAMS)
    speed: np.ndarray  # (T,) m/s along the travel heading
    turn_rate: np.ndarray  # (T,) rad/s, change of the travel heading
    yaw_offset: np.ndarray  # (T,) rad, body heading minus travel heading
    flights: list[tuple[int, int]] = field(default_factory=list)  # (last frame on ice, first frame back)
    events: list[dict] = field(default_factory=list)  # labelled moments, frame indices in this track

    def __len__(self) -> int:
        return len(self.speed)


def concat(tracks: list[Track]) -> Track:
    """Tracks one after the other; frame indices of flights and events are shifted."""
    fps = tracks[0].fps
    assert all(t.fps == fps for t in tracks), [t.fps for t in tracks]
    offsets = np.cumsum([0] + [len(t) for t in tracks[:-1]])
    yaw_parts, last_yaw = [], 0.0
    for t in tracks:  # whole turns carry over, so each track continues the previous one's yaw
        shift = 2 * np.pi * np.round((last_yaw - t.yaw_offset[0]) / (2 * np.pi)) if yaw_parts else 0.0
        if yaw_parts and abs(t.yaw_offset[0] + shift - last_yaw) > 1e-6:
            raise ValueError("tracks do not join: the body faces another way where the next one starts")
        yaw_parts.append(t.yaw_offset + shift)
        last_yaw = yaw_parts[-1][-1]
    return Track(
        fps=fps,
        params={k: np.concatenate([t.params[k] for t in tracks]) for k in POSE_PARAMS},
        speed=np.concatenate([t.speed for t in tracks]),
        turn_rate=np.concatenate([t.turn_rate for t in tracks]),
        yaw_offset=np.concatenate(yaw_parts),
        flights=[(a + o, b + o) for t, o in zip(tracks, offsets) for a, b in t.flights],
        events=[_shift_event(e, o) for t, o in zip(tracks, offsets) for e in t.events],
    )


def _shift_event(event: dict, offset: int) -> dict:
    return {k: (v + int(offset) if k.endswith("_frame") else v) for k, v in event.items()}


def smooth_params(track: Track, sigma_frames: float) -> Track:
    """Gaussian-smooth the pose angles (not the yaw: rotation counts stay exact)."""
    if sigma_frames <= 0:
        return track
    radius = int(3 * sigma_frames)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()

    def blur(x: np.ndarray) -> np.ndarray:
        return np.convolve(np.pad(x, radius, mode="edge"), kernel, mode="valid")

    params = {k: blur(v) for k, v in track.params.items()}
    return Track(track.fps, params, track.speed, track.turn_rate, track.yaw_offset,
                 list(track.flights), list(track.events))


def keyframes(num_frames: int, fps: float, keys: list[tuple[float, dict]], base: dict | None = None) -> dict:
    """Pose angles over ``num_frames`` frames from ``(time_s, pose)`` keys, eased with a
    cosine between keys and held before the first and after the last. A key's pose is
    laid over ``base`` (and the previous key), so keys name only what changes."""
    t = np.arange(num_frames) / fps
    full, current = [], dict(base or {})
    for time, pose in keys:
        current = {**current, **pose}
        full.append((time, dict(current)))
    times = np.array([k[0] for k in full])
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
    j = np.minimum(i + 1, len(times) - 1)
    span = np.where(j > i, times[j] - times[i], 1.0)
    s = np.clip((t - times[i]) / span, 0.0, 1.0)
    w = 0.5 - 0.5 * np.cos(np.pi * s)
    out = {}
    for name in POSE_PARAMS:
        values = np.array([pose.get(name, 0.0) for _, pose in full])
        out[name] = values[i] * (1 - w) + values[j] * w
    return out


@dataclass
class Performance:
    """A track performed by a body on the ice (world frame, metres, z up)."""

    joints: np.ndarray  # (T, 24, 3)
    heading: np.ndarray  # (T,) body heading, radians, unwrapped
    travel_heading: np.ndarray  # (T,)
    airborne: np.ndarray  # (T,) bool
    flights: list[tuple[int, int]]
    events: list[dict]


def perform(track: Track, body: Body, start_xy=(0.0, 0.0), start_heading: float = 0.0) -> Performance:
    """World joints for ``track`` done by ``body``, starting at ``start_xy`` heading
    ``start_heading`` (radians, counter-clockwise from +x)."""
    dt = 1.0 / track.fps
    T = len(track)
    # 1. Travel path: heading and pelvis position on the ice (explicit Euler per frame).
    travel = start_heading + np.concatenate([[0.0], np.cumsum(track.turn_rate[:-1]) * dt])
    step = track.speed[:, None] * np.stack([np.cos(travel), np.sin(travel)], -1) * dt
    xy = np.asarray(start_xy, dtype=np.float64) + np.concatenate([[[0.0, 0.0]], np.cumsum(step[:-1], 0)])
    heading = travel + track.yaw_offset
    # 2. Pose relative to the pelvis.
    local = pose_rotations(track.params)
    rel = forward_kinematics(body.offsets, local, root_rotation=yaw_rotation(heading))
    # 3. Pelvis height: the lowest skate on the ice, or a parabola in flight.
    pelvis_z = ANKLE_ON_ICE - lowest_skate(rel)
    airborne = np.zeros(T, dtype=bool)
    for f0, f1 in track.flights:
        t = np.arange(f0, f1 + 1) * dt
        t0, t1 = t[0], t[-1]
        z0, z1 = pelvis_z[f0], pelvis_z[f1]
        pelvis_z[f0:f1 + 1] = z0 + (z1 - z0) * (t - t0) / (t1 - t0) + 0.5 * GRAVITY * (t - t0) * (t1 - t)
        airborne[f0 + 1:f1] = True
    root = np.concatenate([xy, pelvis_z[:, None]], axis=1)
    return Performance(rel + root[:, None], heading, travel, airborne, list(track.flights), list(track.events))


def lowest_skate(joints: np.ndarray) -> np.ndarray:
    """Height of the lowest skate's ankle-equivalent point, ``(T, 24, 3) -> (T,)``:
    the ankle, or the toe raised by TOE_BELOW_ANKLE when the skate tips onto its pick."""
    z = joints[..., 2]
    per_foot = [np.minimum(z[:, J[f"{s}_ankle"]], z[:, J[f"{s}_foot"]] + TOE_BELOW_ANKLE) for s in ("left", "right")]
    return np.minimum(*per_foot)
