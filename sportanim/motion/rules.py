"""Rule-based reading of a jump from world joints: the flight (both ankles off the ice,
the body rising; ``analysis.jump_flights``), the hip axis's turns over it, its air time and
the gravity fitted to the pelvis. No learning: the yardstick the learnt models answer to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportanim import analysis as an
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.timeline import ANKLE_ON_ICE


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
