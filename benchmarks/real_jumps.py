"""Statistics of the real FS-Jump3D jumps, to check the synthetic jumps against.

Reads ``<repo>/../shared/data/fs_jump3d/npy/<Skater>/<Jump>/<Jump>_1.npy`` (float64
``(T, 17, 3)``, Human3.6M joints, mm, world frame with z up, 60 Hz), prints a table and
writes ``benchmarks/results/real_jumps.json``. Exits cleanly when the data are absent.

Flight detection: the ice is a plane fitted under the ankles (it is tilted about 1 degree in
the data's world frame), flights follow ``sportanim.analysis.jump_flights`` (ankles 10 cm
above their gliding height, widened by up to 0.05 s a side while above 5 cm, at least 0.1 s,
the centre of mass rising 5 cm: B-Loop's fall lifts both ankles off the ice). The centre of
mass's vertical acceleration is about -g over exactly these frames, and the g fitted to its
height is the check.

    python benchmarks/real_jumps.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sportanim import analysis as an  # noqa: E402
from sportanim.data import fsjump3d as fsj  # noqa: E402
from sportanim.h36m import H36M as H  # noqa: E402
from sportanim.h36m import H36M17_NAMES, h36m17_to_smpl24  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "fs_jump3d" / "npy"
OUT = REPO / "benchmarks" / "results" / "real_jumps.json"

FPS = fsj.SOURCE_FPS
ON_ICE_M = 0.03  # lower ankle within this of its gliding height: on the ice
GLITCH_ACCEL = fsj.GLITCH_ACCEL
EDGE_FRAMES = fsj.EDGE_FRAMES


def flight_candidates(j17: np.ndarray, normal: np.ndarray, offset: float) -> list[tuple[int, int]]:
    """Flights as inclusive frame ranges, from the ankles' heights above the ice plane."""
    left = an.height_above_plane(j17[:, H["left_ankle"]], normal, offset)
    right = an.height_above_plane(j17[:, H["right_ankle"]], normal, offset)
    return an.flight_candidates(left, right, FPS)


def flight_stats(j17: np.ndarray, com: np.ndarray, normal: np.ndarray, offset: float,
                 start: int, end: int) -> dict:
    """Air time, rotation, rise, fitted g and speeds of one flight (SI units)."""
    air = slice(start, end + 1)
    spin = an.rotation_speed(j17[:, H["left_hip"]], j17[:, H["right_hip"]], FPS, normal)
    pelvis_h = an.height_above_plane(j17[:, H["pelvis"]], normal, offset)
    com_h = an.height_above_plane(com, normal, offset)
    speed = an.horizontal_speed(com, FPS, normal)
    before = slice(max(start - 6, 0), start)  # the 0.1 s before take-off
    air_time = (end - start + 1) / FPS
    revs = an.air_revolutions(j17[:, H["left_hip"]], j17[:, H["right_hip"]], start, end, normal)
    return {
        "start": start, "end": end, "air_time_s": air_time,
        "revolutions": revs,
        "peak_rev_s": float(np.max(np.abs(spin[air]))),
        "mean_rev_s": revs / air_time,
        "pelvis_rise_m": float(pelvis_h[air].max() - pelvis_h[start]),
        "com_rise_m": float(com_h[air].max() - com_h[start]),
        "g_pelvis": an.fit_gravity(pelvis_h[air], FPS),
        "g_com": an.fit_gravity(com_h[air], FPS),
        "takeoff_speed_m_s": float(speed[before].mean()),
        "air_speed_m_s": float(speed[air].mean()),
        "distance_m": float(np.linalg.norm(_flat(com[end] - com[start], normal))),
    }


def _flat(v: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Component of ``v`` ``(..., 3)`` orthogonal to unit ``up``."""
    return v - (v @ up)[..., None] * up


def head_to_ankle(j17: np.ndarray, normal: np.ndarray, offset: float) -> float:
    """Standing height from the ankles to H36M's head point (mean of vertex and ear centre,
    so a few cm under the top of the head), m: 95th percentile over on-ice frames of the
    head's height above the ankle plane."""
    core = slice(EDGE_FRAMES, len(j17) - EDGE_FRAMES)
    ankles = j17[core][:, [H["left_ankle"], H["right_ankle"]]]
    lower = an.height_above_plane(ankles, normal, offset).min(axis=1)
    head = an.height_above_plane(j17[core, H["head"]], normal, offset)
    return float(np.percentile(head[lower < ON_ICE_M], 95))


def data_quality(j17: np.ndarray) -> dict:
    """Missing values, noise, impossible accelerations (glitches) and bone-length drift."""
    accel = np.linalg.norm(np.diff(j17, 2, axis=0), axis=-1) * FPS**2  # (T-2, 17) m/s^2
    frames, joints = np.nonzero(accel > GLITCH_ACCEL)
    glitches = sorted({(int(f) + 1, H36M17_NAMES[j]) for f, j in zip(frames, joints)})
    # White noise of std s gives a 4th difference of std s*sqrt(70); smooth motion adds little.
    d4 = np.diff(j17, 4, axis=0)
    noise_mm = float(np.median(np.abs(d4)) * 1.4826 / np.sqrt(70) * 1000)
    shin = np.linalg.norm(j17[:, H["left_knee"]] - j17[:, H["left_ankle"]], axis=-1)
    edge_pelvis = np.concatenate([accel[:EDGE_FRAMES, 0], accel[-EDGE_FRAMES:, 0]])
    return {
        "frames": len(j17), "nan_values": int(np.isnan(j17).sum()),
        "duplicate_frames": int(np.all(np.diff(j17, axis=0) == 0, axis=(1, 2)).sum()),
        "noise_mm": noise_mm,
        "shin_length_cv": float(shin.std() / shin.mean()),
        "glitches": [f"{f}:{name}" for f, name in glitches],
        "edge_pelvis_accel_max_m_s2": float(edge_pelvis.max()),
    }


def analyse_trial(path: Path) -> dict:
    """Ground, flights and data quality of one trial."""
    j17 = fsj.load_joints(path)
    normal, offset = an.fit_ground_plane(j17[:, H["left_ankle"]], j17[:, H["right_ankle"]])
    j24 = h36m17_to_smpl24(j17)
    com = an.center_of_mass(j24)
    up_est = an.estimate_up_axis(j24, feet=None)
    up_ground = an.estimate_up_axis(j24)
    candidates = [flight_stats(j17, com, normal, offset, s, e)
                  for s, e in flight_candidates(j17, normal, offset)]
    flights = [f for f in candidates if f["com_rise_m"] >= an.FLIGHT_MIN_RISE_M]
    rejected = [f for f in candidates if f["com_rise_m"] < an.FLIGHT_MIN_RISE_M]
    pelvis_h = an.height_above_plane(j17[:, H["pelvis"]], normal, offset)
    return {
        "skater": path.parts[-3], "jump": path.parts[-2],
        "ice_tilt_deg": _angle_deg(normal, np.array([0.0, 0.0, 1.0])),
        "up_torso_error_deg": _angle_deg(up_est, normal),
        "up_ground_error_deg": _angle_deg(up_ground, normal),
        "head_to_ankle_m": head_to_ankle(j17, normal, offset),
        "min_pelvis_height_m": float(pelvis_h[EDGE_FRAMES:-EDGE_FRAMES].min()),
        "travel_m": float(np.linalg.norm(np.ptp(_flat(j17[:, H["pelvis"]], normal), axis=0))),
        "flights": flights,
        "rejected_candidates": rejected,
        "quality": data_quality(j17),
    }


def _runs(frames: list[int]) -> str:
    """Compact frame list: ``[1, 2, 3, 7] -> "1-3, 7"``."""
    parts, i = [], 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
            j += 1
        parts.append(f"{frames[i]}" if i == j else f"{frames[i]}-{frames[j]}")
        i = j + 1
    return ", ".join(parts)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two unit vectors, degrees."""
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def print_table(trials: list[dict]) -> None:
    """One row per flight."""
    head = (f"{'trial':<12}{'frames':>10}{'air s':>7}{'revs':>6}{'pk r/s':>7}{'mn r/s':>7}"
            f"{'pelv rise':>10}{'g pelv':>7}{'g CoM':>7}{'h-ank m':>8}{'v_to m/s':>9}")
    print(head)
    print("-" * len(head))
    for t in trials:
        name = f"{t['skater'][-1]}-{t['jump']}"
        if not t["flights"]:
            print(f"{name:<12}  no flight detected")
        for f in t["flights"]:
            print(f"{name:<12}{f['start']:>5}-{f['end']:<4}{f['air_time_s']:>7.3f}"
                  f"{f['revolutions']:>6.2f}{f['peak_rev_s']:>7.2f}{f['mean_rev_s']:>7.2f}"
                  f"{f['pelvis_rise_m']:>10.3f}{f['g_pelvis']:>7.2f}{f['g_com']:>7.2f}"
                  f"{t['head_to_ankle_m']:>8.3f}{f['takeoff_speed_m_s']:>9.2f}")


def summary(trials: list[dict]) -> dict:
    """Ranges over all flights and trials."""
    flights = [f for t in trials for f in t["flights"]]

    def span(key, rows):
        vals = [r[key] for r in rows]
        return [float(min(vals)), float(max(vals)), float(np.mean(vals))]

    keys = ("air_time_s", "revolutions", "peak_rev_s", "mean_rev_s", "pelvis_rise_m",
            "com_rise_m", "g_pelvis", "g_com", "takeoff_speed_m_s", "air_speed_m_s")
    out = {k: span(k, flights) for k in keys}
    for k in ("ice_tilt_deg", "up_torso_error_deg", "up_ground_error_deg", "head_to_ankle_m"):
        out[k] = span(k, trials)
    return {"min_max_mean": out, "flights": len(flights)}


NOTES = [
    "Ice plane is tilted 0.4-1.6 deg from the world z axis (about 1.5 cm per metre); the "
    "skater travels 8-18 m per trial, so a single ice height would drift by 5-30 cm. Heights "
    "are measured above a plane fitted under the ankles.",
    "The pelvis is not ballistic in the air (the legs tuck under it): g fitted to its height "
    "spreads over 9.1-11.2 m/s^2, g fitted to the approximate centre of mass over 9.7-10.4.",
    "In-air hip rotation is below the nominal count of a jump: part of the turn happens on "
    "the ice during take-off and landing (rotation is already 1.5-2.5 rev/s at take-off). "
    "Both Axels (nominally 1.5) turn 1.15-1.25 rev in the air.",
    "Skater A's Lutz, Salchow, Toeloop and first combination jump turn 2.15-2.5 rev in the "
    "air (doubles); A's Axel, Loop, second combination jump and all of skater B's jumps "
    "1.0-1.45 (singles and single Axels).",
    "A-Flip: the rotation stops half-way through a high flight (hips and shoulders below "
    "0.5 rev/s for its second half): an opened-out or popped jump, not a detection error.",
    "B-Loop: a fall after the landing (pelvis down to about 0.15 m). During the fall both "
    "ankles leave the ice (rejected: the centre of mass does not rise), and just after the "
    "landing they hover 5-7 cm up, which is why widening is capped at 3 frames.",
    "The data are smooth (noise about 0.4 mm) with nearly fixed bone lengths (shin length "
    "varies by under 2.5%): the mocap pipeline fits and filters a skeleton. No NaNs and no "
    "duplicated frames, but the first and last 1-3 frames carry filter transients (pelvis "
    "accelerations of 100-250 m/s^2, 800 in A-Lutz's frame 1) and several trials have "
    "elbow/wrist glitches: jumps of decimetres within 1-3 frames (accelerations up to "
    "2300 m/s^2), listed per trial under quality.glitches.",
    "Rotation is counter-clockwise seen from above in every trial (as the synthetic jumps).",
    "The up axis estimated from the torso alone is 2-16 deg off (skaters lean forward); "
    "refined with a plane fitted under the ankles it is within 0.1 deg.",
    "Compared with sportanim.synth.jumps (air time 0.45-0.75 s, peak spin 4-6 rev/s): "
    "skater A's jumps fit (0.43-0.62 s, 3.8-5.2 rev/s), skater B's singles are shorter and "
    "slower (0.30-0.45 s, 3.3-3.9 rev/s); nothing here is longer than 0.62 s in the air.",
]


def main() -> int:
    """Analyse every trial found; 0 on success or when the data are absent."""
    paths = sorted(DATA.glob("*/*/*_1.npy")) if DATA.is_dir() else []
    if not paths:
        print(f"FS-Jump3D not found under {DATA}; nothing to do.")
        return 0
    trials = [analyse_trial(p) for p in paths]
    print_table(trials)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "data": "FS-Jump3D (CC BY-NC-SA 4.0), Human3.6M-17 joints, 60 Hz",
        "detection": {"margin_m": an.FLIGHT_MARGIN_M, "release_m": an.FLIGHT_RELEASE_M,
                      "max_widen_s": an.FLIGHT_WIDEN_S, "min_flight_s": an.FLIGHT_MIN_S,
                      "min_com_rise_m": an.FLIGHT_MIN_RISE_M, "fps": FPS},
        "summary": summary(trials), "notes": NOTES, "trials": trials,
    }
    OUT.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {OUT.relative_to(REPO)}")
    for t in trials:
        name, q = f"{t['skater'][-1]}-{t['jump']}", t["quality"]
        for f in t["rejected_candidates"]:
            print(f"{name}: rejected candidate {f['start']}-{f['end']} "
                  f"(centre of mass rises {f['com_rise_m']:.3f} m, g fit {f['g_com']:.1f})")
        if q["glitches"]:
            joints = sorted({g.split(":")[1] for g in q["glitches"]})
            frames = sorted({int(g.split(":")[0]) for g in q["glitches"]})
            print(f"{name}: accelerations > {GLITCH_ACCEL:.0f} m/s^2 in frames {_runs(frames)} "
                  f"({', '.join(joints)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
