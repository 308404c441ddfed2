"""``sportanim synth --programme``: competition-style videos for the dataset builder.

A programme is one long video: glides around the rink, several jumps, camera cuts between
shots (never during a jump), and a labels file with each jump's window, take-off and landing
frames, so jump detection can be scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sportanim.io.files import atomic_dir, write_npz
from sportanim.io.video import write_video
from sportanim.progress import progress_bar
from sportanim.synth.dataset import MAX_CLIPS, check_in_memory
from sportanim.synth.jumps import JUMP_TYPES, glide_track, jump_track, plan_jump
from sportanim.synth.timeline import concat, perform, smooth_params
from sportanim.synth.world import NUM_ATHLETES, POSE_SMOOTHING, athlete, film, motion_domain

# Jump windows span from this long before take-off to this long after landing (s).
WINDOW_BEFORE, WINDOW_AFTER = 0.6, 0.5
# The skater circles an oval this size (semi-axes, m), inside the 60 x 30 m rink.
_OVAL = np.array([20.0, 7.0])
# Upper bounds of a programme's length: a glide (<= 3 s) and a jump (<= 2.4 s) per jump, and
# a last glide; sizes the whole video before it is rendered in memory.
SECONDS_PER_JUMP, LAST_GLIDE_S = 6.0, 3.0


@dataclass(frozen=True)
class ProgrammeConfig:
    out: Path
    programmes: int = 1
    jumps: int = 5
    size: int = 64
    fps: float = 30.0
    seed: int = 0
    motions: tuple[str, ...] = ()  # jump types to draw from (empty: all)
    overwrite: bool = False

    def validate(self) -> "ProgrammeConfig":
        if self.programmes < 1 or self.jumps < 1:
            raise ValueError(f"need at least one programme and one jump, got {self.programmes} and {self.jumps}")
        if self.programmes > MAX_CLIPS:
            raise ValueError(f"--clips (programmes) must be at most {MAX_CLIPS}, got {self.programmes}")
        if self.size < 16 or self.size % 16:
            raise ValueError(f"--size must be a positive multiple of 16, got {self.size}")
        if not 0 < self.fps <= 240:
            raise ValueError(f"--fps must be in (0, 240], got {self.fps}")
        frames = math.ceil(self.fps * (SECONDS_PER_JUMP * self.jumps + LAST_GLIDE_S))
        check_in_memory(self.size, frames, f"--size {self.size} x --jumps {self.jumps} at --fps {self.fps:g} "
                                           f"(up to {frames} frames)")
        for m in self.motions:
            if motion_domain(m) != "jump":
                raise ValueError(f"--programme takes jumps only, {m!r} is not a jump")
        return self


def make_programme(seed: int, index: int, jumps: int, size: tuple[int, int], fps: float,
                   motions: tuple[str, ...] = ()) -> dict:
    """One programme: frames, body mask, joints (camera, mm), camera and labels."""
    rng = np.random.default_rng([seed, 3, index])
    person = athlete(seed, int(rng.integers(NUM_ATHLETES)))
    kinds = motions or tuple(JUMP_TYPES)
    speed = rng.uniform(3.5, 4.5)
    state = np.array([-_OVAL[0], 0.0, -np.pi / 2])  # x, y, heading: start on the oval's far end
    parts, glides, yaw = [], [], np.pi
    for k in range(jumps + 1):
        plan = plan_jump(rng, str(rng.choice(kinds)), fps) if k < jumps else None
        # Turn to face the way the next jump takes off (a three-turn when they differ).
        wanted = yaw if plan is None else (0.0 if plan.type.forward else np.pi)
        next_yaw = yaw + np.pi if np.cos(wanted - yaw) < 0 else yaw
        glide = glide_track(rng, fps, rng.uniform(1.5, 3.0), speed, yaw, next_yaw)
        glide.turn_rate, state = _steer(state, glide.speed, fps)
        glides.append((sum(len(p) for p in parts), len(glide)))
        parts.append(glide)
        if plan is not None:
            plan = replace(plan, speed=speed)  # one pace for the whole programme
            jump = jump_track(plan, fps)
            state = _advance(state, jump.speed, jump.turn_rate, fps)
            parts.append(jump)
            yaw = jump.yaw_offset[-1]
    track = smooth_params(concat(parts), POSE_SMOOTHING * fps / 30.0)
    perf = perform(track, person.body, start_xy=(-_OVAL[0], 0.0), start_heading=-np.pi / 2)
    cuts = _cuts(rng, glides, fps)
    camera, pixels, mask, joints = film(perf.joints, person.appearance, fps, size, rng, tuple(cuts))
    before, after = int(round(WINDOW_BEFORE * fps)), int(round(WINDOW_AFTER * fps))
    n = len(track)
    labels = {
        "id": f"s{seed}_programme_{index:03d}", "fps": fps, "frames": n, "size": list(size),
        "athlete": person.id, "cuts": cuts,
        "jumps": [{"motion": e["motion"], "revolutions": e["revolutions"],
                   "takeoff_frame": e["takeoff_frame"], "landing_frame": e["landing_frame"],
                   "start_frame": max(0, e["takeoff_frame"] - before),
                   "end_frame": min(n - 1, e["landing_frame"] + after)} for e in track.events],
    }
    return {"frames": pixels, "mask": mask, "joints": joints, "world_joints": perf.joints,
            "camera": camera, "labels": labels}


def write_programmes(config: ProgrammeConfig, show_progress: bool = True) -> list[dict]:
    """Write ``ID.mp4``, ``ID.npz`` (joints, intrinsics, extrinsics) per programme and
    ``labels.json`` listing them all; nothing is left unless all were written."""
    config = config.validate()
    all_labels = []
    with atomic_dir(config.out, overwrite=config.overwrite) as tmp, \
            progress_bar(f"synth {config.programmes} programme(s)", config.programmes, show_progress) as advance:
        for i in range(config.programmes):
            p = make_programme(config.seed, i, config.jumps, (config.size, config.size), config.fps, config.motions)
            labels = {**p["labels"], "video": f"{p['labels']['id']}.mp4", "joints": f"{p['labels']['id']}.npz"}
            write_video(tmp / labels["video"], p["frames"], config.fps)
            write_npz(tmp / labels["joints"], {
                "joints": p["joints"], "intrinsics": p["camera"].intrinsics[0].astype(np.float32),
                "extrinsics": p["camera"].extrinsics_mm().astype(np.float32)})
            all_labels.append(labels)
            advance()
        (tmp / "labels.json").write_text(json.dumps(all_labels, indent=1) + "\n")
    return all_labels


def _advance(state: np.ndarray, speed: np.ndarray, turn: np.ndarray, fps: float) -> np.ndarray:
    """Integrate position and heading as :func:`timeline.perform` does."""
    x, y, h = state
    for v, w in zip(speed, turn):
        x, y, h = x + v * np.cos(h) / fps, y + v * np.sin(h) / fps, h + w / fps
    return np.array([x, y, h])


def _steer(state: np.ndarray, speed: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn rates that keep the skater circling the oval counter-clockwise."""
    x, y, h = state
    turn = np.empty(len(speed))
    for i, v in enumerate(speed):
        angle = np.arctan2(y / _OVAL[1], x / _OVAL[0]) + 0.7  # aim a bit ahead on the oval
        goal = _OVAL * np.array([np.cos(angle), np.sin(angle)])
        error = np.angle(np.exp(1j * (np.arctan2(goal[1] - y, goal[0] - x) - h)))
        turn[i] = np.clip(2.0 * error, -1.2, 1.2)
        x, y, h = x + v * np.cos(h) / fps, y + v * np.sin(h) / fps, h + turn[i] / fps
    return turn, np.array([x, y, h])


def _cuts(rng, glides: list[tuple[int, int]], fps: float) -> list[int]:
    """Camera cuts in the middle of some glides (never the first), at least one."""
    candidates = [start + length // 2 for start, length in glides[1:] if length >= fps]
    chosen = [c for c in candidates if rng.random() < 0.6]
    if not chosen and candidates:
        chosen = [candidates[int(rng.integers(len(candidates)))]]
    return sorted(int(c) for c in chosen)
