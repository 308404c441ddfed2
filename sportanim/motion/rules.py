"""Rule-based reading of a jump from world joints: the flight (both ankles off the ice,
the body rising; ``analysis.jump_flights``), the hip axis's turns over it, its air time and
the gravity fitted to the pelvis. No learning: the yardstick the learnt models answer to.

What a real jump's flight can be (:func:`real_air_time_range`). More revolutions come from
spinning faster, not from flying longer (King et al. 1994, single/double/triple Axels of
elite men): the longest published elite flights are quads of 0.65-0.75 s (rotating 4.5-6
rev/s; sports scientists quoted in The Globe and Mail, 2011) and a triple Axel of 0.73 s
(Midori Ito, 66 cm high), so the upper bound is one number for every jump; the lower bound
is the revolutions at the fastest mean spin those flights show (4 turns in 0.65 s). The
FS-Jump3D captures (singles and doubles, 0.30-0.63 s) lie inside. Scaling the real singles'
and doubles' air time per revolution up to triples would ask for 0.8-1.7 s, which no
skater flies (a 1 s flight is a 1.2 m rise of the body).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sportanim import analysis as an
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.timeline import ANKLE_ON_ICE


G_RANGE = (8.0, 11.5)  # m/s^2: g fitted to a pelvis in free flight, with the fit's noise
MAX_AIR_TIME_S = 0.75  # the longest published elite flights
MAX_MEAN_SPIN_REV_S = 4.0 / 0.65  # the fastest: a quad in 0.65 s


def real_air_time_range(revolutions: float) -> tuple[float, float]:
    """The air times (s) a real jump of ``revolutions`` turns can have (module docstring)."""
    return abs(revolutions) / MAX_MEAN_SPIN_REV_S, MAX_AIR_TIME_S


def air_time_is_real(air_time_s: float, revolutions: float, fps: float) -> bool:
    """Whether a measured air time lies in :func:`real_air_time_range`, give or take the
    frame a count of airborne frames can miss or add at either end."""
    lo, hi = real_air_time_range(revolutions)
    return lo - 1.0 / fps - 1e-9 <= air_time_s <= hi + 1.0 / fps + 1e-9


def real_airborne_frames(revolutions: float, fps: float) -> tuple[int, int]:
    """The fewest and most airborne frames whose air time (frames / ``fps``)
    :func:`air_time_is_real` accepts."""
    lo, hi = real_air_time_range(revolutions)
    return math.ceil(lo * fps - 1.0 - 1e-9 * fps), math.floor(hi * fps + 1.0 + 1e-9 * fps)


def gravity_is_real(g: float) -> bool:
    """Whether a g fitted to a pelvis is that of a free flight (``G_RANGE``)."""
    return G_RANGE[0] <= g <= G_RANGE[1]


@dataclass(frozen=True)
class FlightReading:
    takeoff_frame: int  # last frame on the ice before the flight (the FSJD label convention)
    landing_frame: int  # first frame back on the ice
    revolutions: float  # signed hip-axis turns in the air, + counter-clockwise from above
    air_time_s: float
    g_pelvis: float  # m/s^2 fitted to the pelvis height over the flight


def read_flight(world: np.ndarray, fps: float) -> FlightReading | None:
    """The longest flight of world joints ``(T, 24, 3)`` (metres, ice at z = 0), or None."""
    left = world[:, J["left_ankle"], 2] - ANKLE_ON_ICE
    right = world[:, J["right_ankle"], 2] - ANKLE_ON_ICE
    flights = an.jump_flights(left, right, an.center_of_mass(world)[:, 2], fps)
    if not flights:
        return None
    start, end = max(flights, key=lambda f: f[1] - f[0])
    stats = an.flight_statistics(world[:, J["left_hip"]], world[:, J["right_hip"]], world[:, J["pelvis"], 2],
                                 start, end, fps)
    return FlightReading(max(start - 1, 0), min(end + 1, len(world) - 1), stats["revolutions"],
                         stats["air_time_s"], stats["g_pelvis"])
