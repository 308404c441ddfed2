"""Import FS-Jump3D's real figure-skating jumps (markerless mocap) as FSJD clips.

Input: ``ROOT/npy/<Skater>/<Jump>/<Jump>_1.npy`` (``ROOT`` may also be the ``npy`` folder),
float64 ``(T, 17, 3)`` Human3.6M joints, millimetres, world frame with z up, 60 Hz, on ice
tilted 0.4-1.6 degrees from the world's horizontal. Each flight of a trial becomes one clip:

1. Load and check the trial (17 joints, finite, long enough), in metres.
2. Level the ice: fit a plane under the ankles (``analysis.fit_ground_plane``), rotate its
   normal onto +z and lift it to the synthetic world's ankle height on the ice
   (``synth.timeline.ANKLE_ON_ICE``), so heights mean what they mean in synthetic clips and
   the renderer's blades touch the ice.
3. Map the joints to SMPL-24 (:func:`sportanim.h36m.h36m17_to_smpl24`, table there).
4. Find the flights at 60 Hz (``analysis.jump_flights``: both ankles off the ice, the centre
   of mass rising) and measure each: air time, in-air revolutions of the hip axis
   (``analysis.air_revolutions``), peak spin.
5. Window: ``frames`` frames at ``fps`` with take-off at a seeded 28-40% of the window (as
   the synthetic jump clips), resampled from 60 Hz by time (cubic Catmull-Rom
   interpolation, exact where an output instant falls on a captured frame), kept clear of
   the first and last 3 captured frames, whose filter transients are not motion.
6. Place the window on the synthetic rink (seeded heading along the long axis, seeded
   position in the arena) and film it with the synthetic broadcast camera
   (``synth.world.film``: NLF's FOV 55, 2.9-3.7 m away on a seeded side, following the
   skater), which gives joints in camera space (mm), intrinsics and extrinsics exactly as
   synthetic clips store them.

Motion-only data, and why each clip still has a video: the capture has no usable footage, but
every FSJD reader (``fsjd.load_clip``, the training data, the evaluation) expects a video.
Rather than teaching each of them a ``video: null`` case, the clip's video is rendered from
its own joints by the synthetic renderer, with one seeded appearance per skater. Real motion
can then train and test the whole pipeline (tokenizer on real jumps, the video model on real
motion in a synthetic world); the pixels are synthetic, the motion is real, and the source
says so (``source.kind == "fs_jump3d"``, ``source.video == "rendered"``).

Labels: ``motion`` from the folder (Axel -> axel, Toeloop -> toe_loop, ...; a combination's
jumps are not named in the data, so they get ``None``), ``athlete`` the skater folder,
``takeoff_frame``/``landing_frame`` the last frame on the ice before and the first after
the flight (the synthetic convention), ``revolutions`` the jump's nominal count nearest the
measured in-air turns (ties to the lower; part of a real jump's rotation happens on the
ice, so the two differ), plus the measured ``air_revolutions``, ``air_time`` (s) and
``peak_spin`` (rev/s). Windows containing mocap glitches (a joint accelerating over
400 m/s^2) are flagged in ``quality``, so training leaves them out by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportanim import analysis as an
from sportanim import fsjd
from sportanim.h36m import H36M, h36m17_to_smpl24
from sportanim.progress import progress_bar
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.skeleton import JOINT_NAMES
from sportanim.synth.dataset import MIN_FRAMES, check_in_memory
from sportanim.synth.jumps import JUMP_TYPES
from sportanim.synth.kinematics import rotation_between
from sportanim.synth.render import Appearance
from sportanim.synth.timeline import ANKLE_ON_ICE
from sportanim.synth.world import arena_shift, film, travel_heading

SOURCE_FPS = 60.0
EDGE_FRAMES = 3  # the mocap filter leaves transients in the first and last frames
GLITCH_ACCEL = 400.0  # m/s^2 (about 40 g): no joint of a skater accelerates like that
TAKEOFF_SHARE = (0.28, 0.4)  # where take-off falls in the window, as in synthetic jump clips
# Folder name -> the project's motion name (None: a combination, whose jumps are not named).
JUMP_MOTIONS: dict[str, str | None] = {
    "Axel": "axel", "Flip": "flip", "Loop": "loop", "Lutz": "lutz", "Salchow": "salchow",
    "Toeloop": "toe_loop", "Comb": None,
}


@dataclass(frozen=True)
class Flight:
    """One flight of a levelled track: its first and last airborne frames at ``fps``."""

    start: int
    end: int
    fps: float
    air_revolutions: float
    peak_spin: float  # rev/s

    @property
    def air_time(self) -> float:
        return (self.end - self.start + 1) / self.fps


@dataclass(frozen=True)
class Trial:
    """A loaded, levelled trial and its flights."""

    path: Path  # the trial's file
    name: str  # its path under the npy folder, e.g. Skater_A/Axel/Axel_1.npy
    skater: str
    jump: str
    joints: np.ndarray  # (T, 24, 3) SMPL-24, metres, levelled world frame (ice at z = 0)
    tilt_deg: float  # the ice's tilt in the capture's world frame
    flights: tuple[Flight, ...]


# ------------------------------------------------------------------------------ input


def find_trials(root: Path) -> list[Path]:
    """Every ``<Skater>/<Jump>/<Jump>_1.npy`` under ``root/npy`` (or ``root``), sorted.
    ``FileNotFoundError`` if there is none, ``ValueError`` for an unknown jump folder or a
    jump folder without its trial."""
    root = Path(root)
    npy = root / "npy" if (root / "npy").is_dir() else root
    if not npy.is_dir():
        raise FileNotFoundError(f"FS-Jump3D folder not found: {root}")
    paths = []
    for folder in sorted(p for p in npy.glob("*/*") if p.is_dir()):
        if folder.name not in JUMP_MOTIONS:
            raise ValueError(f"{folder}: unknown jump folder {folder.name!r}; FS-Jump3D has "
                             f"{', '.join(JUMP_MOTIONS)}")
        path = folder / f"{folder.name}_1.npy"
        if not path.is_file():
            raise ValueError(f"{path}: trial missing (the jump folder has no {path.name})")
        paths.append(path)
    if not paths:
        raise FileNotFoundError(f"no FS-Jump3D trials (<Skater>/<Jump>/<Jump>_1.npy) under {npy}")
    return paths


def load_joints(path: Path) -> np.ndarray:
    """A trial's Human3.6M joints in metres, ``(T, 17, 3)`` float64; ``ValueError`` naming
    the file when it is unreadable, odd-shaped, non-finite or shorter than a second."""
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy array ({error})") from None
    if raw.ndim != 3 or raw.shape[1:] != (17, 3) or raw.dtype.kind not in "iuf":
        raise ValueError(f"{path}: expected (frames, 17, 3) Human3.6M joints, got {raw.dtype} {raw.shape}")
    if not np.isfinite(raw).all():
        frames = np.unique(np.nonzero(~np.isfinite(raw))[0])
        raise ValueError(f"{path}: {len(frames)} frames hold NaN/inf (first {frames[:5].tolist()}); "
                         "repair or drop the trial")
    if len(raw) < SOURCE_FPS + 2 * EDGE_FRAMES:
        raise ValueError(f"{path}: only {len(raw)} frames ({len(raw) / SOURCE_FPS:.2f} s at 60 Hz); "
                         "a jump trial needs at least a second")
    return raw.astype(np.float64) / 1000.0


# ------------------------------------------------------------------------------ motion


def level(joints: np.ndarray, left_ankle: int, right_ankle: int) -> tuple[np.ndarray, float]:
    """Joints ``(T, J, 3)`` (metres, z roughly up) turned so the plane under the ankles is
    horizontal and lifted so it lies at ``ANKLE_ON_ICE``: the ice at z = 0. Returns the
    levelled joints and the plane's tilt in degrees."""
    normal, offset = an.fit_ground_plane(joints[:, left_ankle], joints[:, right_ankle])
    z = np.array([0.0, 0.0, 1.0])
    rotation = rotation_between(normal[None], z[None])[0]
    levelled = joints @ rotation.T
    levelled[..., 2] += ANKLE_ON_ICE - offset  # the plane p . normal = offset becomes z = offset
    tilt = float(np.degrees(np.arccos(np.clip(normal @ z, -1.0, 1.0))))
    return levelled, tilt


def resample(x: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Samples ``x`` ``(T, ...)`` at ``fps`` interpolated at ``times`` (seconds, frame 0 at
    0, inside the track) by cubic Catmull-Rom splines: exact at captured frames, smooth
    between them, ends extended by repeating the end frames."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64) * fps
    t = np.where(np.abs(t - np.round(t)) < 1e-6, np.round(t), t)  # on a captured frame: exact
    if t.min() < -1e-9 or t.max() > len(x) - 1 + 1e-9:
        raise ValueError(f"resample: times {times.min():.3f}-{times.max():.3f} s lie outside the "
                         f"track (0-{(len(x) - 1) / fps:.3f} s)")
    i = np.clip(np.floor(t + 1e-9).astype(int), 0, len(x) - 2)
    u = (t - i).reshape((-1,) + (1,) * (x.ndim - 1))
    p0, p1, p2, p3 = (x[np.clip(i + k, 0, len(x) - 1)] for k in (-1, 0, 1, 2))
    return p1 + 0.5 * u * ((p2 - p0) + u * ((2 * p0 - 5 * p1 + 4 * p2 - p3) + u * (3 * (p1 - p2) + p3 - p0)))


def measure_flights(joints24: np.ndarray, fps: float) -> list[Flight]:
    """Flights of levelled SMPL-24 joints ``(T, 24, 3)`` (metres, ice at z = 0)."""
    left = joints24[:, J["left_ankle"], 2] - ANKLE_ON_ICE
    right = joints24[:, J["right_ankle"], 2] - ANKLE_ON_ICE
    com = an.center_of_mass(joints24)[:, 2]
    lh, rh = joints24[:, J["left_hip"]], joints24[:, J["right_hip"]]
    spin = an.rotation_speed(lh, rh, fps)
    return [Flight(s, e, fps, an.air_revolutions(lh, rh, s, e), float(np.abs(spin[s:e + 1]).max()))
            for s, e in an.jump_flights(left, right, com, fps)]


def world_from_camera(joints_mm: np.ndarray, extrinsics_mm: np.ndarray) -> np.ndarray:
    """A clip's camera-space joints ``(T, 24, 3)`` mm back in its world frame (metres, ice at
    z = 0) through its world->camera extrinsics ``(T, 3, 4)`` ``[R | t]`` (t in mm)."""
    R, t = extrinsics_mm[..., :3].astype(np.float64), extrinsics_mm[..., 3].astype(np.float64)
    return np.einsum("tji,tnj->tni", R, joints_mm.astype(np.float64) - t[:, None]) / 1000.0


def read_trial(path: Path, npy_root: Path) -> Trial:
    """Load, level, map and measure one trial; ``ValueError`` naming the file if it has no
    flight."""
    j17 = load_joints(path)
    levelled, tilt = level(j17, H36M["left_ankle"], H36M["right_ankle"])
    joints = h36m17_to_smpl24(levelled)
    flights = tuple(measure_flights(joints, SOURCE_FPS))
    if not flights:
        raise ValueError(f"{path}: no flight found (both ankles {an.FLIGHT_MARGIN_M * 100:.0f} cm "
                         f"off the ice for {an.FLIGHT_MIN_S} s with the body rising); is it a jump?")
    rel = path.relative_to(npy_root)
    return Trial(path, rel.as_posix(), rel.parts[0], rel.parts[1], joints, tilt, flights)


def nominal_revolutions(jump: str, air_revolutions: float) -> float:
    """The jump's nominal count (its type's counts; an integer for a combination's jumps)
    nearest the measured in-air turns, ties to the lower."""
    motion = JUMP_MOTIONS[jump]
    counts = JUMP_TYPES[motion].revolutions if motion else (1.0, 2.0, 3.0, 4.0)
    return float(min(counts, key=lambda c: (abs(c - air_revolutions), c)))


def window_times(trial: Trial, flight: Flight, fps: float, frames: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Output instants (seconds into the trial) of a ``frames`` window with take-off at a
    seeded share of it, moved so the landing fits and so it stays on the trial's clean
    frames; ``ValueError`` naming the file when the window cannot hold the flight with a
    frame on the ice each side, or the trial cannot hold the window."""
    step, span = 1.0 / fps, (frames - 1) / fps
    takeoff, landing = flight.start / SOURCE_FPS, flight.end / SOURCE_FPS
    if landing - takeoff + 2 * step > span:
        raise ValueError(f"{trial.path}: a {frames}-frame window at {fps:g} fps ({span:.2f} s) "
                         f"cannot hold the flight at {takeoff:.2f}-{landing:.2f} s with a frame "
                         "on the ice each side; use more --frames")
    start = takeoff - round(frames * rng.uniform(*TAKEOFF_SHARE)) * step
    start = min(max(start, landing + step - span), takeoff - step)
    first, last = EDGE_FRAMES / SOURCE_FPS, (len(trial.joints) - 1 - EDGE_FRAMES) / SOURCE_FPS
    start = min(max(start, first), last - span)
    if start < first - 1e-9 or start > takeoff - step + 1e-9 or landing + step > start + span + 1e-9:
        raise ValueError(f"{trial.path}: {len(trial.joints) / SOURCE_FPS:.2f} s is too short for "
                         f"a {frames}-frame window at {fps:g} fps around the flight at "
                         f"{takeoff:.2f}-{landing:.2f} s; use fewer --frames")
    return start + np.arange(frames) * step


def glitches(joints: np.ndarray, times: np.ndarray) -> list[str]:
    """Joints whose acceleration at the source rate exceeds GLITCH_ACCEL within the window."""
    a, b = int(math.floor(times[0] * SOURCE_FPS)), int(math.ceil(times[-1] * SOURCE_FPS))
    x = joints[max(a - 1, 0):b + 2]
    accel = np.linalg.norm(np.diff(x, 2, axis=0), axis=-1) * SOURCE_FPS ** 2
    return [JOINT_NAMES[j] for j in np.flatnonzero((accel > GLITCH_ACCEL).any(axis=0))]


# ------------------------------------------------------------------------------ import


def import_fsjump3d(root: Path, out: Path, fps: float = 30.0, frames: int = 49, size: int = 64,
                    seed: int = 0, split: str = "eval", overwrite: bool = False,
                    show_progress: bool = True) -> list[fsjd.ClipRecord]:
    """Every flight of every FS-Jump3D trial under ``root`` as a ``frames``-frame clip at
    ``fps`` (rendered at ``size`` x ``size``) in a new FSJD folder ``out``, all in ``split``.

    Every trial is read and checked before anything is written; a bad one raises
    ``ValueError`` naming its file, and ``out`` is only created once every clip is written.
    """
    _check_options(fps, frames, size, split)
    paths = find_trials(root)
    npy_root = paths[0].parents[2]
    trials = [read_trial(p, npy_root) for p in paths]
    skaters = sorted({t.skater for t in trials})
    jobs = []
    for trial in trials:
        for k, flight in enumerate(trial.flights):
            rng = np.random.default_rng([seed, 11, len(jobs)])
            jobs.append((trial, k, flight, window_times(trial, flight, fps, frames, rng), rng))
    with fsjd.output_dir(out, overwrite=overwrite) as tmp:
        records = []
        with progress_bar(f"FS-Jump3D {len(jobs)} clips", total=len(jobs), enabled=show_progress) as advance:
            for trial, k, flight, times, rng in jobs:
                appearance = Appearance.sample(np.random.default_rng([seed, 12, skaters.index(trial.skater)]))
                records.append(_write_clip(tmp, trial, k, flight, times, rng, appearance, fps, size, seed, split))
                advance()
        fsjd.write_manifest(tmp, records)
        fsjd.write_stats(tmp, fsjd.compute_stats(tmp, records))
    return records


def _check_options(fps: float, frames: int, size: int, split: str) -> None:
    if not 0 < fps <= 240:
        raise ValueError(f"--fps must be in (0, 240], got {fps}")
    if frames < MIN_FRAMES:
        raise ValueError(f"--frames must be at least {MIN_FRAMES}, got {frames}")
    if size < 16 or size % 16:
        raise ValueError(f"--size must be a positive multiple of 16 (video codecs and the VAE need it), got {size}")
    check_in_memory(size, frames, f"--size {size} x --frames {frames}")
    if split not in fsjd.SPLITS:
        raise ValueError(f"--split must be one of {fsjd.SPLITS}, got {split!r}")


def place_on_rink(world: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Levelled joints ``(T, 24, 3)`` turned about z so the skater travels along a seeded
    heading (the rink's long axis, either way) and shifted into the arena."""
    pelvis = world[:, J["pelvis"], :2]
    travel = pelvis[-1] - pelvis[0]
    turn = travel_heading(rng) - math.atan2(travel[1], travel[0])
    c, s = math.cos(turn), math.sin(turn)
    turned = world @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
    return turned + arena_shift(turned[:, J["pelvis"], :2], rng)


def _write_clip(root: Path, trial: Trial, k: int, flight: Flight, times: np.ndarray,
                rng: np.random.Generator, appearance: Appearance, fps: float, size: int,
                seed: int, split: str) -> fsjd.ClipRecord:
    """Resample, place, film and write one flight's window; returns its record."""
    world = place_on_rink(resample(trial.joints, SOURCE_FPS, times), rng)
    camera, pixels, _, joints = film(world, appearance, fps, (size, size), rng)
    # The flight's first/last airborne instants -> last output frame before, first after.
    t0 = times[0]
    takeoff = int(math.ceil((flight.start / SOURCE_FPS - t0) * fps - 1e-6)) - 1
    landing = int(math.floor((flight.end / SOURCE_FPS - t0) * fps + 1e-6)) + 1
    several = len(trial.flights) > 1
    skater = trial.skater.removeprefix("Skater_")
    clip_id = f"fsj_{skater}_{trial.jump.lower()}" + (f"{k + 1}" if several else "")
    bad = glitches(trial.joints, times)
    labels = {
        "domain": "jump", "motion": JUMP_MOTIONS[trial.jump], "athlete": trial.skater,
        "revolutions": nominal_revolutions(trial.jump, flight.air_revolutions),
        "takeoff_frame": takeoff if 0 <= takeoff < len(times) else None,
        "landing_frame": landing if 0 <= landing < len(times) else None,
        "air_revolutions": round(flight.air_revolutions, 4), "air_time": round(flight.air_time, 4),
        "peak_spin": round(flight.peak_spin, 3),
    }
    record = fsjd.ClipRecord(
        id=clip_id, fps=fps, size=(size, size), frames=len(times), split=split, labels=labels,
        source={"kind": "fs_jump3d", "dataset": "FS-Jump3D (CC BY-NC-SA 4.0)",
                "file": trial.name, "flight": k, "video": "rendered",
                "window_start_s": round(float(t0), 6), "source_fps": SOURCE_FPS,
                "ice_tilt_deg": round(trial.tilt_deg, 4), "seed": seed},
        quality={"passed": not bad,
                 "reasons": [f"mocap glitch: {', '.join(bad)} accelerate over {GLITCH_ACCEL:.0f} m/s^2"] if bad else []},
    )
    extras = {"extrinsics": camera.extrinsics_mm().astype(np.float32)}
    return fsjd.write_clip(root, record, pixels, joints, camera.intrinsics[0].astype(np.float32), extras)
