"""``sample_jump``: an ISU element -> jump motions, ready for the video pipeline.

Steps: condition -> code ids (the generator's iterative unmasking with classifier-free
guidance) -> the frozen tokenizer decodes them into the canonical camera -> the world frame
(exact inverse of the canonical camera) -> filmed by the synthetic world's broadcast
camera at ``size`` x ``size`` (NLF's intrinsics, what the pipeline and the skeleton
drawings take). Take-off and landing are read from the world motion by rule
(:func:`sportanim.motion.rules.read_flight`).

Physics guard (on by default, ``real_flight=False`` turns it off): a sample whose flight is
longer than a real skater's or too short for its turns (:func:`sportanim.motion.rules.
real_air_time_range`), or whose pelvis does not fly a parabola of g 8-11.5 m/s^2, is flown
again by :func:`sportanim.motion.edits.scale_flight`: a ballistic flight of the nearest
real length that spins as many turns, the exit glide continued or cut so the motion keeps
its frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sportanim import fsjd
from sportanim.motion import elements, frames
from sportanim.motion.generator import JumpCondition, JumpGenerator
from sportanim.motion.edits import scale_flight
from sportanim.motion.rules import (FlightReading, air_time_is_real, gravity_is_real, read_flight,
                                   real_airborne_frames)
from sportanim.motion.tokens import FrozenTokenizer
from sportanim.synth.camera import follow_camera

FPS = 30.0
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "motion"
MAX_COUNT = 256  # motions are sampled as one batch: 256 take ~0.3 GB of logits


def check_count(count: int) -> int:
    """``count`` if it is a number of motions one call can sample, else ``ValueError``."""
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"--count must be in [1, {MAX_COUNT}], got {count}")
    return count


@dataclass
class JumpMotion:
    """One sampled jump."""

    joints: np.ndarray  # float32 (T, 24, 3) mm, camera space of ``extrinsics``
    intrinsics: np.ndarray  # float32 (3, 3) for an image of ``size``
    size: tuple[int, int]  # (width, height)
    extrinsics: np.ndarray  # float32 (T, 3, 4) world->camera [R | t], t in mm
    world: np.ndarray  # float64 (T, 24, 3) metres, ice at z = 0
    element: elements.Element
    direction: str
    height: float | None
    takeoff_frame: int | None
    landing_frame: int | None
    fps: float = FPS
    sampled_flight: FlightReading | None = None  # the flight before the physics guard flew it again

    def save(self, path: str | Path) -> Path:
        """An npz ``sportanim.data.motion.load_motion`` reads (written atomically)."""
        path = Path(path)
        fsjd.write_npz(path, {
            "joints": self.joints, "intrinsics": self.intrinsics, "size": np.array(self.size, dtype=np.int64),
            "extrinsics": self.extrinsics, "fps": np.array(self.fps),
            "takeoff_frame": np.array(-1 if self.takeoff_frame is None else self.takeoff_frame),
            "landing_frame": np.array(-1 if self.landing_frame is None else self.landing_frame),
            "element": np.array(self.element.code), "motion": np.array(self.element.type),
            "revolutions": np.array(self.element.revolutions), "direction": np.array(self.direction),
            # the flight as the generator sampled it, where the physics guard changed it (else -1)
            "air_time_sampled": np.array(-1.0 if self.sampled_flight is None else self.sampled_flight.air_time_s),
            "g_sampled": np.array(-1.0 if self.sampled_flight is None else self.sampled_flight.g_pelvis),
        })
        return path


def load_generator(weights: str | Path | None = None) -> tuple[JumpGenerator, FrozenTokenizer]:
    """The generator in ``weights`` (default: the shipped one) and the tokenizer it fits."""
    from sportanim.weights import TINY_BASE

    model = JumpGenerator.from_pretrained(weights or SHIPPED)
    ref = model.config.tokenizer
    # "shipped": the tiny base's; else a folder, relative to the generator's (its own copy)
    folder = TINY_BASE if ref.get("folder") == "shipped" else Path(weights or SHIPPED) / ref["folder"]
    tok = FrozenTokenizer(folder)
    if ref.get("sha256") and ref["sha256"] != tok.sha256:
        raise ValueError(f"{weights or SHIPPED} was trained on a different tokenizer than {folder} "
                         "(sha256 mismatch); retrain it with `sportanim motion train`")
    return model, tok


def sample_jump(jump, direction: str = "ccw", height: float | None = None, count: int = 1, seed: int = 0,
                weights=None, guidance: float = 1.0, steps: int = 10, size: int = 512,
                loaded: tuple[JumpGenerator, FrozenTokenizer] | None = None,
                real_flight: bool = True) -> list[JumpMotion]:
    """``count`` motions of ``jump`` (an ISU code like ``"3Lz"``, an Element or a
    ``(type, revolutions)`` pair) rotating ``direction``; ``height`` (m) optional.
    ``loaded`` reuses a :func:`load_generator` result across calls; ``real_flight``: the
    physics guard (module docstring)."""
    element = elements.resolve(jump)
    direction = elements.check_direction(direction)
    height = elements.check_height(height)
    check_count(count)
    if not (math.isfinite(guidance) and guidance >= 0):
        raise ValueError(f"--guidance must be a finite number >= 0 (1: conditional only), got {guidance}")
    if size < 16:
        raise ValueError(f"--size must be >= 16 pixels, got {size}")
    model, tok = loaded or load_generator(weights)
    cond = JumpCondition.make(element.type, element.revolutions, direction, height, count)
    gen = torch.Generator().manual_seed(seed)
    ids = model.sample(cond, steps=steps, guidance=guidance, generator=gen)
    canonical = tok.decode(ids)  # (B, T, 24, 3) mm
    worlds = [frames.canonical_to_world(c) for c in canonical]
    guarded = [keep_flight_real(w, FPS) if real_flight else (w, None) for w in worlds]
    return [_film(w, element, direction, height, size, seed, i, sampled)
            for i, (w, sampled) in enumerate(guarded)]


def flight_is_real(flight: FlightReading, fps: float) -> bool:
    """An air time a skater can fly for its turns, and a ballistic pelvis."""
    return air_time_is_real(flight.air_time_s, flight.revolutions, fps) and gravity_is_real(flight.g_pelvis)


def keep_flight_real(world: np.ndarray, fps: float, tries: int = 3) -> tuple[np.ndarray, FlightReading | None]:
    """World joints ``(T, 24, 3)`` (metres) whose flight, if not :func:`flight_is_real`, is
    flown again: re-timed to the nearest air time :func:`sportanim.motion.rules.
    air_time_is_real` accepts (kept if it already was), the pelvis on a parabola of g =
    9.81 m/s^2; same frame count. Also the flight as sampled (None: left as it was, real or
    one scale_flight cannot fly again). The new flight is read again (its first or last frame
    can read as airborne or not): up to ``tries`` passes."""
    sampled = None
    for _ in range(tries):
        flight = read_flight(world, fps)
        if flight is None or flight_is_real(flight, fps):
            break
        n_old = flight.landing_frame - flight.takeoff_frame - 1  # airborne frames
        n_new = int(np.clip(n_old, *real_airborne_frames(flight.revolutions, fps)))  # the least change
        n_new = int(np.clip(n_new, math.ceil(0.25 * n_old), math.floor(4.0 * n_old)))  # what scale_flight takes
        # the spin scaled by exactly the frames' ratio: the same turns, so nothing after the
        # landing is turned; scale_flight takes the first and last airborne frames
        try:
            edit = scale_flight(world * 1000.0, fps, air_time_factor=n_new / n_old, rotation_speed_factor=n_old / n_new,
                                takeoff=flight.takeoff_frame + 1, landing=flight.landing_frame - 1,
                                up=(0.0, 0.0, 1.0))
        except ValueError:  # a flight it cannot fly again (cut by the clip's first frame): as it is
            break
        if sampled is None:
            sampled = flight
        world = _same_length(edit.joints.astype(np.float64) / 1000.0, len(world))
    return world, sampled


def _same_length(world: np.ndarray, frames_wanted: int) -> np.ndarray:
    """``world`` cut, or continued by gliding on at the speed of its last four frames."""
    if len(world) >= frames_wanted:
        return world[:frames_wanted]
    step = (world[-1, 0] - world[-5, 0]) / 4.0
    step[2] = 0.0  # along the ice
    extra = np.arange(1, frames_wanted - len(world) + 1)[:, None, None] * step
    return np.concatenate([world, world[-1] + extra])


def _film(world: np.ndarray, element, direction, height, size: int, seed: int, index: int,
          sampled_flight: FlightReading | None) -> JumpMotion:
    camera = follow_camera(world[:, 0], FPS, size, size, np.random.default_rng([seed, 21, index]))
    joints = (camera.world_to_camera(world) * 1000.0).astype(np.float32)
    flight = read_flight(world, FPS)
    return JumpMotion(joints, camera.intrinsics[0].astype(np.float32), (size, size),
                      camera.extrinsics_mm().astype(np.float32), world, element, direction, height,
                      flight.takeoff_frame if flight else None, flight.landing_frame if flight else None,
                      sampled_flight=sampled_flight)
