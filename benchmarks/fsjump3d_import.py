"""FS-Jump3D import: the Human3.6M -> SMPL mapping's error, and the imported clips' flights
against the raw trials'.

    python benchmarks/fsjump3d_import.py [--fps 30] [--frames 49] [--size 64] [--seed 0]

1. Mapping error: synthetic SMPL-24 bodies (jumps and daily motions of ``sportanim.synth``,
   exact joints) -> FS-Jump3D's Human3.6M landmarks (``h36m.smpl24_to_h36m17``) -> SMPL-24
   (``h36m.h36m17_to_smpl24``): mean, 95th percentile and max distance per derived joint, mm.
2. Hip drop on the real trials: the centre of the sphere each knee moves on in the pelvis
   frame, below H36M's hip, in hip widths (the constant ``h36m.HIP_DOWN``), and the body's
   thigh/shin ratio before and after the mapping (the synthetic template's: 0.95).
3. Flights per trial, raw (the capture's tilted frame, 60 Hz, H36M joints; plane fitted under
   the ankles) against the imported clips (their stored camera-space joints taken back to
   their world with the stored extrinsics, at the clip's rate), at ``--fps`` and at 60 fps:
   air time, in-air revolutions, peak spin (deg/s), g fitted to the pelvis (SMPL's, mapped
   from the raw trial in its own frame; H36M's pelvis as ``g_pelvis_h36m``) and to the
   centre of mass (of the mapped SMPL joints). Plus the levelling check:
   the angle between the centre of mass's fitted acceleration in the air and the ice normal,
   and the capture's z.

Writes ``benchmarks/results/fsjump3d_import.json``; part 1 runs without ``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sportanim import analysis as an  # noqa: E402
from sportanim import fsjd, h36m  # noqa: E402
from sportanim.data import fsjump3d as fsj  # noqa: E402
from sportanim.h36m import H36M as H  # noqa: E402
from sportanim.skeleton import JOINT_INDEX as S  # noqa: E402
from sportanim.skeleton import JOINT_NAMES  # noqa: E402
from sportanim.synth.daily import DAILY_MOTIONS  # noqa: E402
from sportanim.synth.jumps import JUMP_TYPES, glide_track, jump_track, plan_jump  # noqa: E402
from sportanim.synth.kinematics import Body  # noqa: E402
from sportanim.synth.timeline import concat, perform, smooth_params  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "fs_jump3d"
OUT = REPO / "benchmarks" / "results" / "fsjump3d_import.json"
STATS = ("air_time_s", "revolutions", "peak_spin_deg_s", "g_pelvis", "g_com")


# ------------------------------------------------------------------------------ 1. mapping


def synthetic_bodies(count: int, fps: float = 30.0) -> list[np.ndarray]:
    """World joints (T, 24, 3) metres: ``count`` jumps between glides and ``count`` daily
    motions, each by a different sampled body."""
    clips = []
    for i in range(count):
        rng = np.random.default_rng([i, 21])
        plan = plan_jump(rng, list(JUMP_TYPES)[i % len(JUMP_TYPES)], fps)
        jump = jump_track(plan, fps)
        track = concat([glide_track(rng, fps, 1.0, plan.speed, jump.yaw_offset[0], jump.yaw_offset[0]),
                        jump, glide_track(rng, fps, 1.0, plan.speed, jump.yaw_offset[-1], jump.yaw_offset[-1])])
        clips.append(perform(smooth_params(track, 1.2), Body.sample(rng)).joints)
        motion = list(DAILY_MOTIONS)[i % len(DAILY_MOTIONS)]
        clips.append(perform(smooth_params(DAILY_MOTIONS[motion](rng, fps, 90), 1.2), Body.sample(rng)).joints)
    return clips


def mapping_errors(clips: list[np.ndarray]) -> dict:
    """Per derived SMPL joint: mean / p95 / max round-trip error, mm."""
    joints = 1000.0 * np.concatenate(clips)
    back = h36m.h36m17_to_smpl24(h36m.smpl24_to_h36m17(joints))
    error = np.linalg.norm(back - joints, axis=-1)  # (N, 24)
    rows = {name: {"mean_mm": float(error[:, S[name]].mean()),
                   "p95_mm": float(np.percentile(error[:, S[name]], 95)),
                   "max_mm": float(error[:, S[name]].max())} for name in h36m.DERIVED_JOINTS}
    copied = max(float(error[:, S[name]].max()) for name in h36m.SHARED_JOINTS)
    landmarks = h36m.smpl24_to_h36m17(joints)
    hips_copied = np.linalg.norm(landmarks[:, H["left_hip"]] - joints[:, S["left_hip"]], axis=-1)
    return {"frames": len(joints), "clips": len(clips), "per_joint": rows,
            "copied_joints_max_mm": copied, "hip_if_copied_mean_mm": float(hips_copied.mean())}


# ------------------------------------------------------------------------------ 2. hips


def knee_sphere_centres(j17: np.ndarray) -> list[dict]:
    """Per leg: where the centre of the sphere the knee moves on lies from H36M's hip, in hip
    widths, in the pelvis frame of ``h36m.h36m17_to_smpl24``: down, forward, outward."""
    j = j17[fsj.EDGE_FRAMES:-fsj.EDGE_FRAMES]
    x, up, fwd = h36m.pelvis_frame(j)
    width = np.median(np.linalg.norm(j[:, H["left_hip"]] - j[:, H["right_hip"]], axis=-1))
    centres = []
    for side, outward in (("left", 1.0), ("right", -1.0)):
        rel = j[:, H[f"{side}_knee"]] - j[:, H[f"{side}_hip"]]
        local = np.stack([np.sum(rel * axis, axis=-1) for axis in (x, up, fwd)], axis=-1)
        # Sphere |p - c|^2 = r^2 is linear in (c, r^2 - |c|^2).
        design = np.concatenate([2.0 * local, np.ones((len(local), 1))], axis=1)
        centre = np.linalg.lstsq(design, np.sum(local ** 2, axis=-1), rcond=None)[0][:3]
        centres.append({"down": float(-centre[1] / width), "forward": float(centre[2] / width),
                        "outward": float(outward * centre[0] / width)})
    return centres


def thigh_over_shin(joints: np.ndarray, hip: int, knee: int, ankle: int) -> float:
    thigh = np.median(np.linalg.norm(joints[:, knee] - joints[:, hip], axis=-1))
    return float(thigh / np.median(np.linalg.norm(joints[:, ankle] - joints[:, knee], axis=-1)))


# ------------------------------------------------------------------------------ 3. flights


def gravity_tilt_deg(com: np.ndarray, start: int, end: int, fps: float, up: np.ndarray) -> float:
    """Angle (deg) between the centre of mass's acceleration over a flight (a parabola fitted
    per axis) and ``-up``."""
    t = np.arange(end - start + 1) / fps
    design = np.stack([t * t, t, np.ones_like(t)], axis=-1)
    accel = 2.0 * np.linalg.lstsq(design, com[start:end + 1], rcond=None)[0][0]
    return float(np.degrees(np.arccos(np.clip(-accel @ up / np.linalg.norm(accel), -1.0, 1.0))))


def raw_flights(path: Path) -> list[dict]:
    """Flights of a raw trial in the capture's frame (no levelling; heights above the plane
    under the ankles), with their statistics."""
    j17 = np.load(path) / 1000.0
    normal, offset = an.fit_ground_plane(j17[:, H["left_ankle"]], j17[:, H["right_ankle"]])
    heights = {name: an.height_above_plane(j17[:, H[name]], normal, offset)
               for name in ("left_ankle", "right_ankle", "pelvis")}
    j24 = h36m.h36m17_to_smpl24(j17)
    com = an.center_of_mass(j24)
    com_h = an.height_above_plane(com, normal, offset)
    pelvis_h = an.height_above_plane(j24[:, S["pelvis"]], normal, offset)  # the clips' pelvis
    rows = []
    for s, e in an.jump_flights(heights["left_ankle"], heights["right_ankle"], com_h, fsj.SOURCE_FPS):
        row = an.flight_statistics(j17[:, H["left_hip"]], j17[:, H["right_hip"]], pelvis_h,
                                   s, e, fsj.SOURCE_FPS, normal)
        row.update(start_s=s / fsj.SOURCE_FPS, g_com=an.fit_gravity(com_h[s:e + 1], fsj.SOURCE_FPS),
                   g_pelvis_h36m=an.fit_gravity(heights["pelvis"][s:e + 1], fsj.SOURCE_FPS),
                   gravity_vs_ice_deg=gravity_tilt_deg(com, s, e, fsj.SOURCE_FPS, normal),
                   gravity_vs_capture_z_deg=gravity_tilt_deg(com, s, e, fsj.SOURCE_FPS, np.array([0.0, 0.0, 1.0])))
        rows.append(row)
    return rows


def clip_flight(root: Path, record: fsjd.ClipRecord) -> dict:
    """The labelled flight measured again on a stored clip (camera -> world, clip rate)."""
    clip = fsjd.load_clip(root, record)
    world = fsj.world_from_camera(clip["joints"], clip["extrinsics"])
    com = an.center_of_mass(world)
    flights = fsj.measure_flights(world, record.fps)
    takeoff = record.labels["takeoff_frame"]
    f = min(flights, key=lambda f: abs(f.start - 1 - takeoff))
    row = an.flight_statistics(world[:, S["left_hip"]], world[:, S["right_hip"]], world[:, S["pelvis"], 2],
                               f.start, f.end, record.fps)
    row.update(start_s=record.source["window_start_s"] + f.start / record.fps,
               g_com=an.fit_gravity(com[f.start:f.end + 1, 2], record.fps),
               gravity_vs_z_deg=gravity_tilt_deg(com, f.start, f.end, record.fps, np.array([0.0, 0.0, 1.0])))
    return row


def compare_flights(data: Path, fps: float, frames: int, size: int, seed: int) -> dict:
    """Import every trial at ``fps`` and compare each clip's flight with the raw one."""
    with tempfile.TemporaryDirectory() as tmp:
        records = fsj.import_fsjump3d(data, Path(tmp) / "fsjd", fps=fps, frames=frames, size=size,
                                      seed=seed, show_progress=False)
        imported = {r.id: (r, clip_flight(Path(tmp) / "fsjd", r)) for r in records}
    rows = []
    for record, clip in imported.values():
        raw = raw_flights(data / "npy" / record.source["file"])[record.source["flight"]]
        rows.append({"clip": record.id, "raw": raw, "imported": clip,
                     "difference": {k: clip[k] - raw[k] for k in STATS}})
    worst = {k: float(max(abs(r["difference"][k]) for r in rows)) for k in STATS}
    ice = [r["raw"]["gravity_vs_ice_deg"] for r in rows]
    capture = [r["raw"]["gravity_vs_capture_z_deg"] for r in rows]
    gravity = {"vs_ice_mean_deg": float(np.mean(ice)), "vs_capture_z_mean_deg": float(np.mean(capture)),
               "flights_closer_to_ice": int(sum(a < b for a, b in zip(ice, capture))), "flights": len(rows)}
    return {"fps": fps, "frames": frames, "clips": rows, "max_abs_difference": worst, "gravity": gravity}


# ------------------------------------------------------------------------------ main


def print_report(report: dict) -> None:
    print(f"{'SMPL joint':16s}{'mean mm':>9s}{'p95 mm':>9s}{'max mm':>9s}")
    for name, row in report["mapping"]["per_joint"].items():
        print(f"{name:16s}{row['mean_mm']:9.1f}{row['p95_mm']:9.1f}{row['max_mm']:9.1f}")
    if "hips" in report:
        hips = report["hips"]
        print(f"\nknee-sphere centre below H36M's hip: median {hips['median']['down']:.3f} hip widths "
              f"(HIP_DOWN {hips['HIP_DOWN']}), forward {hips['median']['forward']:.3f}, outward {hips['median']['outward']:.3f}")
    for run in report.get("flights", []):
        print(f"\n{run['fps']:g} fps clips vs raw 60 Hz trials (raw / imported)")
        print(f"{'clip':14s}" + "".join(f"{k:>22s}" for k in STATS))
        for row in run["clips"]:
            print(f"{row['clip']:14s}" + "".join(f"{row['raw'][k]:11.3f}{row['imported'][k]:11.3f}" for k in STATS))
        print(f"{'max |diff|':14s}" + "".join(f"{run['max_abs_difference'][k]:22.3f}" for k in STATS))
        g = run["gravity"]
        print(f"centre of mass's acceleration in the air vs the ice normal {g['vs_ice_mean_deg']:.2f} deg, "
              f"vs the capture's z {g['vs_capture_z_mean_deg']:.2f} deg (mean; nearer the ice normal in "
              f"{g['flights_closer_to_ice']} of {g['flights']} flights)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=30.0, help="clip rate of the import (a 60 fps import runs too)")
    parser.add_argument("--frames", type=int, default=49, help="clip length at --fps (the 60 fps import spans the same time)")
    parser.add_argument("--size", type=int, default=64, help="rendered frame size, pixels")
    parser.add_argument("--seed", type=int, default=0, help="camera, placement and appearance seed")
    parser.add_argument("--bodies", type=int, default=24, help="synthetic jumps (and as many daily motions) for the mapping error")
    parser.add_argument("--data", type=Path, default=DATA, help="FS-Jump3D folder (with npy/)")
    args = parser.parse_args()
    report = {"mapping": mapping_errors(synthetic_bodies(args.bodies))}
    paths = sorted((args.data / "npy").glob("*/*/*_1.npy")) if (args.data / "npy").is_dir() else []
    if paths:
        centres = {f"{p.parts[-3][-1]}-{p.parts[-2]}": knee_sphere_centres(np.load(p) / 1000.0) for p in paths}
        legs = [leg for trial in centres.values() for leg in trial]
        ratios = {f"{p.parts[-3][-1]}-{p.parts[-2]}": {
            "raw": thigh_over_shin(np.load(p), H["left_hip"], H["left_knee"], H["left_ankle"]),
            "mapped": thigh_over_shin(h36m.h36m17_to_smpl24(np.load(p)), S["left_hip"], S["left_knee"], S["left_ankle"])}
            for p in paths}
        report["hips"] = {"knee_sphere_centre_hip_widths": centres,
                          "median": {k: float(np.median([leg[k] for leg in legs])) for k in legs[0]},
                          "HIP_DOWN": h36m.HIP_DOWN, "thigh_over_shin_left": ratios}
        duration_frames = round((args.frames - 1) * 60.0 / args.fps) + 1
        report["flights"] = [compare_flights(args.data, fps, n, args.size, args.seed)
                             for fps, n in ((args.fps, args.frames), (60.0, duration_frames))]
    else:
        print(f"FS-Jump3D not found under {args.data}: mapping error only.")
    print_report(report)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"joint_names": list(JOINT_NAMES), **report}, indent=1) + "\n")
    print(f"\nwrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
