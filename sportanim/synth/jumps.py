"""Figure-skating jumps and the glides between them, as motion tracks.

Every jump rotates counter-clockwise seen from above (the common direction) and lands
backward on the right foot with the left leg extended. Phases: entry glide, take-off crouch
with the arms swung back, extension with the arms swung through (toe jumps vault over the
free foot's pick), ballistic flight in a tight air position (arms in, legs crossed) whose
spin ramps up to 4-6 rev/s, opening out, landing on one foot, exit glide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportanim.synth.timeline import Track, keyframes

AIR_TIME_RANGE = (0.45, 0.75)  # s, elite jumps
PEAK_SPIN_RANGE = (4.0, 6.0)  # rev/s in the tight air position


@dataclass(frozen=True)
class JumpType:
    name: str
    forward: bool  # take-off skating forward (Axel) or backward (all others)
    takeoff_foot: str  # "l" or "r"
    pick_foot: str | None  # toe jumps vault over the other foot's toe pick
    entry_turn: float  # sign of the entry curve (+ counter-clockwise, - clockwise as the Lutz)
    revolutions: tuple[float, ...]


JUMP_TYPES: dict[str, JumpType] = {
    j.name: j for j in (
        JumpType("axel", True, "l", None, +1.0, (1.5, 2.5, 3.5)),
        JumpType("toe_loop", False, "r", "l", +1.0, (1.0, 2.0, 3.0, 4.0)),
        JumpType("salchow", False, "l", None, +1.0, (1.0, 2.0, 3.0, 4.0)),
        JumpType("loop", False, "r", None, +1.0, (1.0, 2.0, 3.0, 4.0)),
        JumpType("flip", False, "l", "r", +1.0, (1.0, 2.0, 3.0, 4.0)),
        JumpType("lutz", False, "l", "r", -1.0, (1.0, 2.0, 3.0, 4.0)),
    )
}
# Doubles and triples dominate competition; quads and singles are rarer.
_REV_WEIGHTS = {1.0: 0.15, 2.0: 0.35, 3.0: 0.4, 4.0: 0.1, 1.5: 0.3, 2.5: 0.4, 3.5: 0.3}


@dataclass(frozen=True)
class JumpPlan:
    """The numbers that fix one jump."""

    type: JumpType
    revolutions: float
    air_frames: int  # frames from the last on the ice to the first back on it
    ramp: float  # share of the flight spent spinning up (and as much spinning down)
    speed: float  # m/s horizontal

    def peak_spin(self, fps: float) -> float:
        """Peak rotation speed in rev/s (trapezoid profile)."""
        return self.revolutions / ((self.air_frames / fps) * (1.0 - self.ramp))


def plan_jump(rng: np.random.Generator, name: str, fps: float, revolutions: float | None = None) -> JumpPlan:
    """Draw a jump's revolutions, air time and spin so that the air time lies in
    AIR_TIME_RANGE and the peak spin in PEAK_SPIN_RANGE (as far as the frame rate allows)."""
    jump = JUMP_TYPES[name]
    if revolutions is None:
        weights = np.array([_REV_WEIGHTS[r] for r in jump.revolutions])
        revolutions = float(rng.choice(jump.revolutions, p=weights / weights.sum()))
    spin = rng.uniform(*PEAK_SPIN_RANGE)
    air = float(np.clip(revolutions / (spin * 0.85), *AIR_TIME_RANGE))
    air_frames = max(3, int(round(air * fps)))
    air = air_frames / fps
    # Ramps fill whatever the flight leaves over; clip so the spin stays in range.
    ramp = 1.0 - revolutions / (spin * air)
    lo = max(0.05, 1.0 - revolutions / (PEAK_SPIN_RANGE[0] * air))
    hi = min(0.5, 1.0 - revolutions / (PEAK_SPIN_RANGE[1] * air))
    ramp = float(np.clip(ramp, min(lo, hi), max(lo, hi))) if lo <= hi else float(np.clip(ramp, 0.05, 0.5))
    return JumpPlan(jump, revolutions, air_frames, ramp, float(rng.uniform(3.0, 5.0)))


def spin_profile(num: int, ramp: float) -> np.ndarray:
    """Share of the flight's rotation done at each of ``num`` evenly spaced instants from
    take-off (0) to landing (1): the integral of a trapezoid spin speed."""
    s = np.linspace(0.0, 1.0, num)
    fine = np.linspace(0.0, 1.0, 4001)
    rate = np.minimum.reduce([fine / ramp, np.ones_like(fine), (1.0 - fine) / ramp])
    area = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(fine))])
    return np.interp(s, fine, area / area[-1])


# ------------------------------------------------------------------------------- poses

def _side(side: str, **angles) -> dict:
    return {f"{side}_{k}": v for k, v in angles.items()}


def _arms(**angles) -> dict:
    return {**_side("l", **angles), **_side("r", **angles)}


GLIDE = {"spine_lean": 8.0, **_arms(arm_raise=70.0, arm_swing=15.0, elbow=20.0),
         **_side("l", hip_flex=8.0, knee=15.0), **_side("r", hip_flex=8.0, knee=15.0)}
AIR_TIGHT = {"spine_lean": 0.0, "neck_nod": 5.0, **_arms(arm_raise=22.0, arm_swing=65.0, elbow=100.0),
             **_side("l", hip_flex=6.0, hip_abd=-12.0, knee=6.0, ankle=25.0),
             **_side("r", hip_flex=-2.0, hip_abd=-6.0, knee=3.0, ankle=25.0)}
LANDED = {"spine_lean": 18.0, **_arms(arm_raise=88.0, arm_swing=5.0, elbow=10.0),
          **_side("r", hip_flex=35.0, knee=45.0, ankle=-10.0),
          **_side("l", hip_flex=-45.0, hip_abd=22.0, knee=0.0, ankle=25.0)}
EXIT = {**LANDED, "spine_lean": 10.0, **_side("r", hip_flex=18.0, knee=25.0, ankle=0.0),
        **_side("l", hip_flex=-40.0, hip_abd=25.0, knee=0.0, ankle=25.0)}


def _takeoff_keys(plan: JumpPlan) -> list[tuple[float, dict]]:
    """Pose keys from 0.9 s before take-off to take-off (time 0)."""
    j = plan.type
    on, free = j.takeoff_foot, ("r" if j.takeoff_foot == "l" else "l")
    entry = {**_side(on, hip_flex=10.0, knee=20.0, hip_abd=0.0), **_side(free, hip_flex=-25.0, knee=15.0, hip_abd=10.0)}
    crouch = {"spine_lean": 25.0, **_side(on, hip_flex=50.0, knee=60.0, ankle=-10.0),
              **_arms(arm_raise=45.0, arm_swing=-50.0, elbow=20.0)}
    if j.forward:  # Axel: arms back, then the free knee drives up
        crouch.update(_side(free, hip_flex=-20.0, knee=40.0, hip_abd=0.0))
        drive = _side(free, hip_flex=80.0, knee=90.0)
    elif j.name == "salchow":  # free leg swings round from the side
        crouch.update(_side(free, hip_flex=-10.0, hip_abd=35.0, knee=20.0))
        drive = _side(free, hip_flex=35.0, hip_abd=10.0, knee=40.0)
    elif j.name == "loop":  # free leg crossed in front
        crouch.update(_side(free, hip_flex=25.0, hip_abd=-15.0, knee=20.0))
        drive = _side(free, hip_flex=20.0, hip_abd=-12.0, knee=15.0)
    else:  # toe jumps: the pick leg reaches far back and plants
        crouch.update(_side(free, hip_flex=-45.0, knee=5.0, hip_abd=5.0, ankle=20.0))
        drive = _side(free, hip_flex=-30.0, knee=5.0, ankle=45.0)
    extend = {"spine_lean": 5.0, **_side(on, hip_flex=10.0, knee=12.0, ankle=35.0),
              **_arms(arm_raise=75.0, arm_swing=70.0, elbow=35.0), **drive}
    lift = {**_side(on, knee=5.0, ankle=40.0), **_arms(arm_raise=60.0, arm_swing=80.0, elbow=60.0)}
    return [(-0.9, {**GLIDE, **entry}), (-0.45, crouch), (-0.12, extend), (0.0, lift)]


def jump_track(plan: JumpPlan, fps: float, lead: float = 0.9, tail: float = 0.7) -> Track:
    """One jump: ``lead`` seconds of entry before take-off, the flight, ``tail`` seconds after
    landing. Events: one dict with the jump's labels and frames."""
    f0 = int(round(lead * fps))
    f1 = f0 + plan.air_frames
    n = f1 + int(round(tail * fps)) + 1
    air = plan.air_frames / fps
    tight = min(0.13, 0.3 * air)
    keys = [(lead + t, pose) for t, pose in _takeoff_keys(plan)] + [
        (lead + tight, AIR_TIGHT), (lead + air - tight, AIR_TIGHT),
        (lead + air - 0.04, {**_arms(arm_raise=60.0, arm_swing=40.0, elbow=40.0),
                             **_side("r", hip_flex=5.0, hip_abd=0.0, knee=5.0, ankle=30.0),
                             **_side("l", hip_flex=-20.0, hip_abd=15.0, knee=3.0)}),
        (lead + air + 0.2, LANDED), (lead + air + 0.6, EXIT)]
    params = keyframes(n, fps, keys)
    yaw = np.full(n, 0.0 if plan.type.forward else np.pi)
    yaw[f0:f1 + 1] += 2 * np.pi * plan.revolutions * spin_profile(f1 - f0 + 1, plan.ramp)
    yaw[f1 + 1:] = yaw[f1]
    turn = np.zeros(n)
    turn[:f0] = plan.type.entry_turn * 0.45
    turn[f1:] = 0.35  # exit curve, counter-clockwise
    event = {"motion": plan.type.name, "revolutions": plan.revolutions,
             "takeoff_frame": f0, "landing_frame": f1,
             "air_time": air, "peak_spin": plan.peak_spin(fps)}
    return Track(fps, params, np.full(n, plan.speed), turn, yaw, [(f0, f1)], [event])


def glide_track(rng: np.random.Generator, fps: float, seconds: float, speed: float,
                start_yaw: float, end_yaw: float) -> Track:
    """Stroking/gliding between elements; turns the body by ``end_yaw - start_yaw``
    (a three-turn or mohawk) in the middle when the two differ."""
    n = max(2, int(round(seconds * fps)))
    t = np.arange(n) / fps
    sway = rng.uniform(0, 2 * np.pi)
    params = keyframes(n, fps, [(0.0, GLIDE)])
    params["l_knee"] = params["l_knee"] + 8 * np.sin(2 * np.pi * 0.8 * t + sway)
    params["r_knee"] = params["r_knee"] - 8 * np.sin(2 * np.pi * 0.8 * t + sway)
    params["l_arm_swing"] = params["l_arm_swing"] + 10 * np.sin(2 * np.pi * 0.4 * t)
    params["r_arm_swing"] = params["r_arm_swing"] + 10 * np.sin(2 * np.pi * 0.4 * t + 1.0)
    s = np.clip((t - 0.3 * t[-1]) / max(0.4 * t[-1], 1e-6), 0, 1)
    yaw = start_yaw + (end_yaw - start_yaw) * (0.5 - 0.5 * np.cos(np.pi * s))
    turn = np.full(n, rng.uniform(-0.3, 0.3))
    return Track(fps, params, np.full(n, speed), turn, yaw)
