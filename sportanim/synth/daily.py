"""Everyday motions: the 'web video' domain MTVCrafter was trained on.

Each motion is a function ``(rng, fps, num_frames) -> Track`` with randomised tempo,
amplitude and phase, so no two clips are the same.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from sportanim.synth.kinematics import POSE_PARAMS
from sportanim.synth.timeline import Track

STAND = {"l_arm_raise": 10.0, "r_arm_raise": 10.0, "l_elbow": 10.0, "r_elbow": 10.0,
         "l_knee": 3.0, "r_knee": 3.0, "l_hip_abd": 3.0, "r_hip_abd": 3.0}


def _base(n: int, **overrides) -> dict[str, np.ndarray]:
    pose = {**STAND, **overrides}
    return {k: np.full(n, float(pose.get(k, 0.0))) for k in POSE_PARAMS}


def _phase(rng: np.random.Generator, fps: float, n: int, hz: tuple[float, float]) -> np.ndarray:
    """Phase angle (radians) of an oscillation at a random tempo in ``hz``, random start."""
    return 2 * np.pi * rng.uniform(*hz) * np.arange(n) / fps + rng.uniform(0, 2 * np.pi)


def _track(fps: float, params: dict, speed=0.0, yaw=None, n: int | None = None) -> Track:
    n = len(params["spine_lean"])
    return Track(fps, params, np.broadcast_to(np.asarray(speed, float), (n,)).copy(),
                 np.zeros(n), np.zeros(n) if yaw is None else yaw)


def _sagittal_arm(forward_deg: np.ndarray, outward_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Arm raise/swing angles for an arm swung ``forward_deg`` from hanging (negative:
    backward) and held ``outward_deg`` away from the side."""
    f, o = np.radians(forward_deg), np.radians(outward_deg)
    lateral, down, front = np.sin(o) * np.cos(f), np.cos(o) * np.cos(f), np.sin(f)
    return np.degrees(np.arccos(down)), np.degrees(np.arctan2(front, lateral))


def walk(rng, fps, n):
    ph = _phase(rng, fps, n, (0.8, 1.0))  # one stride (two steps) per cycle
    amp = rng.uniform(20, 30)
    p = _base(n, spine_lean=3.0)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        swing = sign * np.sin(ph)
        p[f"{side}_hip_flex"] = amp * swing
        p[f"{side}_knee"] = 5 + 35 * np.clip(np.sin(ph * sign + 0.8 * sign), 0, None) ** 2
        # Arms swing against the legs, hanging slightly away from the body.
        p[f"{side}_arm_raise"], p[f"{side}_arm_swing"] = _sagittal_arm(-0.8 * amp * swing, 10.0)
    return _track(fps, p, speed=rng.uniform(1.0, 1.5) * (amp / 25))


def idle_sway(rng, fps, n):
    ph = _phase(rng, fps, n, (0.2, 0.4))
    p = _base(n)
    p["spine_side"] = rng.uniform(3, 7) * np.sin(ph)
    p["l_hip_abd"] = 3 + 4 * np.sin(ph)
    p["r_hip_abd"] = 3 - 4 * np.sin(ph)
    p["spine_twist"] = 5 * np.sin(0.5 * ph + 1.0)
    p["neck_nod"] = 5 * np.sin(0.7 * ph)
    return _track(fps, p)


def arm_wave(rng, fps, n):
    ph = _phase(rng, fps, n, (1.2, 2.0))
    side = "l" if rng.random() < 0.5 else "r"
    ramp = np.clip(np.arange(n) / (0.4 * fps), 0, 1)
    p = _base(n)
    p[f"{side}_arm_raise"] = 10 + ramp * (rng.uniform(130, 160) - 10)
    p[f"{side}_arm_swing"] = 30 * ramp
    p[f"{side}_elbow"] = 10 + ramp * (35 + 30 * np.sin(ph))
    p["spine_side"] = (-4 if side == "l" else 4) * ramp
    return _track(fps, p)


def squat(rng, fps, n):
    ph = _phase(rng, fps, n, (0.4, 0.7))
    depth = rng.uniform(0.6, 1.0) * (0.5 - 0.5 * np.cos(ph))
    p = _base(n)
    for side in "lr":
        p[f"{side}_hip_flex"] = 95 * depth
        p[f"{side}_knee"] = 3 + 110 * depth
        p[f"{side}_ankle"] = -25 * depth
        p[f"{side}_hip_abd"] = 3 + 10 * depth
        p[f"{side}_arm_raise"] = 10 + 75 * depth
        p[f"{side}_arm_swing"] = 90 * np.ones(n)
    p["spine_lean"] = 35 * depth
    return _track(fps, p)


def dance_step(rng, fps, n):
    ph = _phase(rng, fps, n, (0.8, 1.3))
    s = np.sin(ph)
    p = _base(n)
    p["l_hip_abd"] = 5 + 18 * np.clip(s, 0, None)
    p["r_hip_abd"] = 5 + 18 * np.clip(-s, 0, None)
    p["l_knee"] = 10 + 25 * np.clip(s, 0, None)
    p["r_knee"] = 10 + 25 * np.clip(-s, 0, None)
    p["l_arm_raise"] = 60 + 40 * s
    p["r_arm_raise"] = 60 - 40 * s
    p["l_arm_swing"] = 40 + 30 * np.cos(ph)
    p["r_arm_swing"] = 40 - 30 * np.cos(ph)
    p["l_elbow"] = p["r_elbow"] = 40 + 20 * np.cos(2 * ph)
    p["spine_side"] = 8 * s
    p["spine_twist"] = 15 * np.cos(ph)
    return _track(fps, p, yaw=0.3 * np.sin(0.5 * ph))


def turn_in_place(rng, fps, n):
    ph = _phase(rng, fps, n, (1.5, 2.0))
    total = rng.choice([-1, 1]) * rng.uniform(np.pi, 2 * np.pi)
    s = np.arange(n) / max(n - 1, 1)
    p = _base(n)
    p["l_knee"] = 5 + 20 * np.clip(np.sin(ph), 0, None)
    p["r_knee"] = 5 + 20 * np.clip(-np.sin(ph), 0, None)
    p["l_hip_flex"] = 10 * np.clip(np.sin(ph), 0, None)
    p["r_hip_flex"] = 10 * np.clip(-np.sin(ph), 0, None)
    p["l_arm_raise"] = p["r_arm_raise"] = np.full(n, 25.0)
    return _track(fps, p, yaw=total * (0.5 - 0.5 * np.cos(np.pi * s)))


DAILY_MOTIONS: dict[str, Callable[[np.random.Generator, float, int], Track]] = {
    "walk": walk, "idle_sway": idle_sway, "arm_wave": arm_wave,
    "squat": squat, "dance_step": dance_step, "turn_in_place": turn_in_place,
}
