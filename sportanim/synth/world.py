"""The synthetic skating world: athletes, clips and programmes, rendered with exact joints.

Everything is a pure function of ``(seed, index)``: clip ``i`` of seed ``s`` is the same
whatever else is generated, so datasets are repeatable byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportanim.synth.camera import Camera, follow_camera, static_camera
from sportanim.synth.daily import DAILY_MOTIONS
from sportanim.synth.jumps import JUMP_TYPES, glide_track, jump_track, plan_jump
from sportanim.synth.kinematics import Body
from sportanim.synth.render import Appearance, render
from sportanim.synth.timeline import Performance, Track, concat, perform, smooth_params

DOMAINS = {"jump": tuple(JUMP_TYPES), "daily": tuple(DAILY_MOTIONS)}
NUM_ATHLETES = 24
POSE_SMOOTHING = 1.2  # frames at 30 fps: softens key-pose corners like real muscles do
# Where a clip's path may run: well inside the 60 x 30 m rink, so the camera stays on the ice.
_ARENA = np.array([18.0, 5.0])
# Everyday motion on ice is carried along by a slow glide (m/s); with the still camera of
# everyday video the skater crosses the frame, so where the body is follows the motion.
DAILY_GLIDE = (0.3, 0.9)


@dataclass(frozen=True)
class Athlete:
    id: str
    body: Body
    appearance: Appearance


def athlete(seed: int, k: int) -> Athlete:
    """Athlete ``k`` of the pool of ``seed``."""
    rng = np.random.default_rng([seed, 1, k])
    return Athlete(f"a{k:02d}", Body.sample(rng), Appearance.sample(rng))


@dataclass
class SynthClip:
    id: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    mask: np.ndarray  # (T, H, W) bool, body pixels
    joints: np.ndarray  # (T, 24, 3) float32, camera space, mm
    world_joints: np.ndarray  # (T, 24, 3) float64, world, metres
    camera: Camera
    appearance: Appearance
    labels: dict


def motion_domain(motion: str) -> str:
    for domain, motions in DOMAINS.items():
        if motion in motions:
            return domain
    known = ", ".join(m for ms in DOMAINS.values() for m in ms)
    raise ValueError(f"unknown motion {motion!r}; known: {known}")


def clip_motion(index: int, motions: tuple[str, ...]) -> str:
    """The motion of clip ``index``: cycles through ``motions`` so every one is covered."""
    return motions[index % len(motions)]


def make_clip(seed: int, index: int, motion: str, size: tuple[int, int] = (64, 64),
              frames: int = 49, fps: float = 30.0) -> SynthClip:
    """Clip ``index`` of ``seed``: one athlete doing ``motion``, ``frames`` long, rendered at
    ``size = (width, height)``."""
    domain = motion_domain(motion)
    rng = np.random.default_rng([seed, 2, index])
    person = athlete(seed, int(rng.integers(NUM_ATHLETES)))
    if domain == "jump":
        track, window_start, event = _jump_performance_track(rng, motion, frames, fps)
    else:
        track, window_start, event = DAILY_MOTIONS[motion](rng, fps, frames), 0, None
        track.speed = np.maximum(track.speed, rng.uniform(*DAILY_GLIDE))
    perf = _place(perform(smooth_params(track, POSE_SMOOTHING * fps / 30.0), person.body,
                          start_heading=travel_heading(rng)), rng, window_start, frames)
    world = perf.joints[window_start:window_start + frames]
    # Sport is filmed by a broadcast camera that follows the athlete; everyday video by a still one.
    camera_kind = "follow" if domain == "jump" else "static"
    camera, pixels, mask, joints = film(world, person.appearance, fps, size, rng, camera=camera_kind)
    labels = {"domain": domain, "motion": motion, "athlete": person.id,
              "revolutions": None, "takeoff_frame": None, "landing_frame": None}
    if event is not None:
        labels.update(revolutions=event["revolutions"], air_time=round(event["air_time"], 4),
                      peak_spin=round(event["peak_spin"], 3),
                      takeoff_frame=_in_window(event["takeoff_frame"] - window_start, frames),
                      landing_frame=_in_window(event["landing_frame"] - window_start, frames))
    return SynthClip(f"s{seed}_{index:05d}_{motion}", pixels, mask, joints, world, camera, person.appearance, labels)


def film(world: np.ndarray, appearance: Appearance, fps: float, size: tuple[int, int], rng,
         cuts: tuple[int, ...] = (), camera: str = "follow") -> tuple[Camera, np.ndarray, np.ndarray, np.ndarray]:
    """Film world joints ``(T, 24, 3)`` (m) with the broadcast camera that follows the skater
    (``camera="follow"``, cut at ``cuts``) or a still one (``"static"``) and render them: the
    camera, frames uint8 ``(T, H, W, 3)``, body mask ``(T, H, W)`` and the joints in that
    camera's coordinates, float32 mm (NLF's form)."""
    if camera == "follow":
        camera = follow_camera(world[:, 0], fps, size[0], size[1], rng, cuts=cuts)
    elif camera == "static" and not cuts:
        camera = static_camera(world, size[0], size[1], rng)
    else:
        raise ValueError(f"camera must be 'follow' or 'static' (without cuts), got {camera!r}")
    pixels, mask = render(world, camera, appearance)
    return camera, pixels, mask, (camera.world_to_camera(world) * 1000.0).astype(np.float32)


def _jump_performance_track(rng, motion: str, frames: int, fps: float) -> tuple[Track, int, dict]:
    """Glide, jump, glide; and where a ``frames`` window starts so take-off falls at about
    a third of it (the paper's clips show entry, flight and landing)."""
    plan = plan_jump(rng, motion, fps)
    jump = jump_track(plan, fps)
    yaw = jump.yaw_offset
    pad = frames / fps + 0.5
    before = glide_track(rng, fps, pad, plan.speed, yaw[0], yaw[0])
    after = glide_track(rng, fps, pad, plan.speed, yaw[-1], yaw[-1])
    track = concat([before, jump, after])
    event = track.events[0]
    takeoff_in_window = int(round(frames * rng.uniform(0.28, 0.4)))
    return track, event["takeoff_frame"] - takeoff_in_window, event


def travel_heading(rng) -> float:
    """Jumps run mostly along the rink's long axis, either way."""
    return float(rng.choice([0.0, np.pi]) + rng.uniform(-0.6, 0.6))


def _place(perf: Performance, rng, start: int, frames: int) -> Performance:
    """Shift the performance so its clip window runs inside the arena."""
    perf.joints = perf.joints + arena_shift(perf.joints[start:start + frames, 0, :2], rng)
    return perf


def arena_shift(path_xy: np.ndarray, rng) -> np.ndarray:
    """A random horizontal shift ``(3,)`` (metres) that puts a pelvis path ``(T, 2)`` inside
    the arena, where the camera sees ice around it."""
    centre = 0.5 * (path_xy.min(0) + path_xy.max(0))
    goal = rng.uniform(-1, 1, 2) * np.maximum(_ARENA - 0.5 * np.ptp(path_xy, 0), 0.0)
    return np.concatenate([goal - centre, [0.0]])


def _in_window(frame: int, frames: int) -> int | None:
    return int(frame) if 0 <= frame < frames else None
