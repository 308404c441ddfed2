"""Jump clips for the motion models: FSJD folders -> canonical world motions with labels.

Every clip of ``domain == "jump"`` whose type the world knows (a combination's jumps are
unnamed) and whose quality gates passed is read through its extrinsics into the world,
turned into the canonical frame (:mod:`sportanim.motion.frames`) and, with ``mirrored``,
also mirrored, so each clip gives a counter-clockwise and a clockwise example.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sportanim import analysis as an
from sportanim import fsjd
from sportanim.io.joints import read_arrays
from sportanim.motion import frames
from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.jumps import JUMP_TYPES


@dataclass(frozen=True)
class JumpClip:
    id: str
    world: np.ndarray  # (T, 24, 3) canonical world, metres
    type: str
    revolutions: float  # nominal (the label)
    direction: str  # ccw | cw, measured from the hip axis over the flight
    height: float  # metres, from the skeleton
    takeoff: int
    landing: int
    athlete: str
    source: str  # synthetic | fs_jump3d | ...


def load_jump_clips(data_dirs, mirrored: bool = True, frames_wanted: int | None = None,
                    include_flagged: bool = False) -> list[JumpClip]:
    """Jump clips of every FSJD folder in ``data_dirs`` (and their mirror images);
    ``include_flagged`` also takes clips that failed a quality gate (for evaluation: a
    mocap glitch does not change which jump it is). ``ValueError`` naming the folders when
    none holds a usable jump clip."""
    out: list[JumpClip] = []
    for root in map(Path, data_dirs):
        for record in fsjd.read_manifest(root):
            clip = _read(root, record, frames_wanted, include_flagged)
            if clip is not None:
                out.append(clip)
                if mirrored:
                    out.append(mirror_clip(clip))
    if not out:
        raise ValueError(f"no usable jump clips in {', '.join(map(str, data_dirs))} (need domain 'jump', a named "
                         "jump type, take-off/landing labels, extrinsics and passed quality)")
    return out


def _read(root: Path, record: fsjd.ClipRecord, frames_wanted: int | None,
          include_flagged: bool) -> JumpClip | None:
    labels = record.labels
    usable = (labels.get("domain") == "jump" and labels.get("motion") in JUMP_TYPES
              and labels.get("takeoff_frame") is not None and labels.get("landing_frame") is not None
              and labels.get("revolutions") is not None
              and (include_flagged or record.quality.get("passed", True))
              and (frames_wanted is None or record.frames == frames_wanted))
    if not usable:
        return None
    arrays = read_arrays(root / record.joints, where=f"clip {record.id}")
    if "extrinsics" not in arrays:
        return None  # no way back to the world frame
    world = frames.world_from_clip(arrays["joints"], arrays["extrinsics"])
    world = frames.canonical_world(world)
    t0, t1 = int(labels["takeoff_frame"]), int(labels["landing_frame"])
    turns = an.air_revolutions(world[:, J["left_hip"]], world[:, J["right_hip"]], t0, t1)
    return JumpClip(record.id, world, labels["motion"], float(labels["revolutions"]),
                    frames.rotation_direction(turns), frames.body_height(world), t0, t1,
                    str(labels.get("athlete")), str(record.source.get("kind", "unknown")))


def count_by_source(clips: list[JumpClip]) -> dict[str, int]:
    """How many clips each source gave (synthetic, fs_jump3d, ...), sorted by name."""
    return {source: sum(c.source == source for c in clips) for source in sorted({c.source for c in clips})}


def mirror_clip(clip: JumpClip) -> JumpClip:
    """The clip mirrored: same jump, the other rotation direction."""
    return replace(clip, id=clip.id + "_mirror", world=frames.canonical_world(frames.mirror(clip.world)),
                   direction="cw" if clip.direction == "ccw" else "ccw")
