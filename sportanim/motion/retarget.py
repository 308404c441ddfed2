"""Retarget a motion to the athlete in a photo: their bone lengths, the motion's joint angles,
standing where they stand in the photo.

1. :func:`find_athlete`: MediaPipe Pose (the project's backend, ``sportanim.data.pose``) on the
   photo; with several people, each found person is painted over and the photo searched again,
   and the largest is kept (a note says so). Their SMPL-24 joints give the proportions (bone
   lengths relative to the stature; left and right averaged: one photo often hides a limb).
   One photo cannot fix the absolute scale, so the height is the given one, else the centre of
   the adult prior ``HEIGHT_PRIOR_M``: MediaPipe's metric skeleton does not measure it (on 12
   synthetic 256 px photos its stature was 0.23 m short on average and uncorrelated with the
   truth, r = -0.29, against 0.11 m mean error for the prior's centre).
2. :func:`retarget`: every bone of the source keeps its direction in every frame and takes the
   athlete's length (so joint angles are the source's); the root path is scaled by the
   leg-length ratio (feet stay on the ice) and placed in the photo's camera (NLF's FOV-55
   camera of the photo size) where the athlete stands: at the depth at which the first
   frame's projected height matches the athlete's in the photo, on the ray of their pelvis.
3. The camera: ``follow`` (default) travels with the skater like a tracking shot, so a motion
   that crosses the rink stays where the athlete stands in the photo: the root's travel along
   the ice, smoothed over ``FOLLOW_SECONDS`` (the camera does not copy every sway of the
   hips), is taken out; height (a jump's flight) and turns stay. ``fixed``: the photo's
   camera stays still and the skater travels as the motion does, out of view if it goes far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sportanim.skeleton import BONES, JOINT_INDEX, MIRROR, PARENTS, bone_lengths, nlf_intrinsics, project

HEIGHT_PRIOR_M = (1.5, 1.9)  # adult athletes; one photo leaves the scale ambiguous
MIN_PHOTO_PX = 64  # MediaPipe's detector needs a person of some size; smaller is no photo
MAX_PEOPLE = 4
# Stature over the ankle -> knee -> hip -> pelvis -> spine -> neck -> head chain (crown above
# the head joint, sole below the ankle): 1.123 +- 0.002 over the synthetic world's athletes,
# whose body template follows human proportions.
STATURE_PER_CHAIN = 1.12
_CHAIN = ("left_ankle", "left_knee", "left_hip", "pelvis", "spine1", "spine2", "spine3", "neck", "head")
_LEG = (("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"))
PELVIS = JOINT_INDEX["pelvis"]
CAMERAS = ("follow", "fixed")
FOLLOW_SECONDS = 0.5  # std of the Gaussian the followed path is smoothed by: about a stride


@dataclass(frozen=True)
class Athlete:
    """The athlete of a photo: ``joints`` ``(24, 3)`` mm in the photo's camera
    (``intrinsics``), ``bones`` ``(23,)`` mm (BONES order), ``height_m``, ``box`` x0, y0, x1, y1
    px, ``image_size`` (width, height), ``people`` found, ``notes``."""

    joints: np.ndarray
    bones: np.ndarray
    height_m: float
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    box: np.ndarray
    people: int
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"height_m": round(self.height_m, 3), "people_found": self.people,
                "box_px": [round(float(v), 1) for v in self.box], "image_size": list(self.image_size),
                "bone_lengths_mm": [round(float(v), 1) for v in self.bones]}


def check_photo(image: np.ndarray, where: str = "photo") -> np.ndarray:
    """A photo as C-contiguous uint8 RGB ``(H, W, 3)``, at least ``MIN_PHOTO_PX`` a side."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{where}: need an RGB image (H, W, 3) uint8, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_PHOTO_PX:
        raise ValueError(f"{where}: a {w}x{h} image is too small to find an athlete in; "
                         f"give a photo at least {MIN_PHOTO_PX} px a side")
    return np.ascontiguousarray(image)


def find_athlete(image: np.ndarray, where: str = "photo", height_m: float | None = None) -> Athlete:
    """The largest person in ``image`` (uint8 RGB) and their body; ValueError when there is
    none. ``height_m``: the athlete's height (default: the prior's centre), within the prior."""
    from sportanim.data.pose import MediapipeBackend

    image = check_photo(image, where)
    h, w = image.shape[:2]
    people, search = [], image.copy()
    with MediapipeBackend(static_image_mode=True, smooth=False) as backend:
        for _ in range(MAX_PEOPLE):
            result = backend.estimate(search[None])
            backend.reset()  # static mode: no tracking carried to the painted-over photo
            if not result.found[0]:
                break
            box = result.boxes[0].astype(np.float64)
            people.append((result.joints[0].astype(np.float64), box))
            _paint_over(search, box)
    if not people:
        raise ValueError(f"{where}: no person found (MediaPipe Pose); give a photo with the athlete in full view")
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for _, b in people]
    joints, box = people[int(np.argmax(areas))]
    notes = []
    if len(people) > 1:
        notes.append(f"{where}: {len(people)} people found; the largest (box {box[2] - box[0]:.0f}x"
                     f"{box[3] - box[1]:.0f} px) is the athlete")
    low, high = HEIGHT_PRIOR_M
    if height_m is None:
        height_m = 0.5 * (low + high)
        notes.append(f"athlete height {height_m:.2f} m (the prior's centre: one photo does not fix the scale); "
                     "the photo gives the proportions")
    elif not low <= height_m <= high:
        raise ValueError(f"athlete height {height_m:g} m: outside {low}-{high} m")
    bones = symmetric_bones(joints)
    bones = bones * (height_m / stature_m(bones))
    return Athlete(joints, bones, float(height_m), nlf_intrinsics(w, h), (w, h), box, len(people), notes)


def _paint_over(image: np.ndarray, box: np.ndarray, margin: float = 0.15) -> None:
    """Fill a person's box (grown by ``margin``) with the photo's mean colour, in place."""
    h, w = image.shape[:2]
    dx, dy = margin * (box[2] - box[0]), margin * (box[3] - box[1])
    x0, y0 = int(max(0, box[0] - dx)), int(max(0, box[1] - dy))
    x1, y1 = int(min(w, box[2] + dx + 1)), int(min(h, box[3] + dy + 1))
    image[y0:y1, x0:x1] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)


def symmetric_bones(joints: np.ndarray) -> np.ndarray:
    """Bone lengths ``(23,)`` of one skeleton ``(24, 3)`` with each left/right pair averaged."""
    lengths = bone_lengths(np.asarray(joints, dtype=np.float64))
    index = {child: k for k, (_, child) in enumerate(BONES)}
    mirrored = np.array([lengths[index[MIRROR[child]]] for _, child in BONES])
    return 0.5 * (lengths + mirrored)


def stature_m(bones: np.ndarray) -> float:
    """Standing height (m) of a body with these bone lengths (mm, BONES order)."""
    index = {child: k for k, (_, child) in enumerate(BONES)}
    chain = 0.0
    for a, b in zip(_CHAIN[:-1], _CHAIN[1:]):
        child = JOINT_INDEX[a] if PARENTS[JOINT_INDEX[a]] == JOINT_INDEX[b] else JOINT_INDEX[b]
        chain += bones[index[child]]
    return STATURE_PER_CHAIN * chain / 1000.0


# --------------------------------------------------------------------------- retargeting


@dataclass(frozen=True)
class Retargeted:
    """``joints`` ``(T, 24, 3)`` mm in the photo's camera; ``params`` JSON-ready."""

    joints: np.ndarray
    params: dict


def with_bones(joints: np.ndarray, bones: np.ndarray) -> np.ndarray:
    """Every bone of ``joints`` ``(T, 24, 3)`` in its own direction at length ``bones``
    ``(23,)`` (BONES order), chained from the source's root. Joint angles are kept."""
    j = np.asarray(joints, dtype=np.float64)
    out = np.empty_like(j)
    out[:, PELVIS] = j[:, PELVIS]
    for k, (parent, child) in enumerate(BONES):  # parents come first in SMPL-24 order
        v = j[:, child] - j[:, parent]
        unit = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
        out[:, child] = out[:, parent] + unit * bones[k]
    return out


def leg_length(bones: np.ndarray) -> float:
    index = {child: k for k, (_, child) in enumerate(BONES)}
    return float(np.mean([bones[index[JOINT_INDEX[c]]] for _, c in _LEG]) * 2.0)


def retarget(joints: np.ndarray, athlete: Athlete, camera: str = "follow", up: np.ndarray | None = None,
             fps: float = 30.0) -> Retargeted:
    """``joints`` ``(T, 24, 3)`` mm (any camera) as done by ``athlete``, in the photo's camera.
    ``camera``: ``follow`` (a tracking shot keeps the skater where they stand) or ``fixed``;
    ``up``: world up in the motion's camera, ``(3,)`` or per frame ``(T, 3)`` (default:
    estimated from the feet); ``fps``: the motion's frame rate (the follow's smoothing)."""
    from sportanim.motion.edits import check_joints, up_direction

    if camera not in CAMERAS:
        raise ValueError(f"camera {camera!r}: choose from {', '.join(CAMERAS)}")
    j = check_joints(joints, 1)
    source_bones = bone_lengths(j).mean(axis=0)
    scale = leg_length(athlete.bones) / leg_length(source_bones)
    body = with_bones(j, athlete.bones)
    relative = body - body[:, PELVIS:PELVIS + 1]
    path = scale * (j[:, PELVIS] - j[0, PELVIS])  # the root's travel, from frame 0
    params = {"camera": camera}
    if camera == "follow" and len(j) > 1:
        if up is None:
            up = up_direction(j)[0]
        taken = followed_travel(path, np.broadcast_to(np.asarray(up, np.float64), path.shape), fps)
        path = path - taken
        params["followed_mm"] = round(float(np.linalg.norm(taken, axis=-1).max()), 1)
    posed = relative + path[:, None, :]  # frame 0's pelvis at the origin
    depth, anchor = _placement(posed[0], athlete)
    moved = posed + anchor
    return Retargeted(moved.astype(np.float32), {
        "athlete_height_m": round(athlete.height_m, 3), "path_scale": round(scale, 4),
        "depth_mm": round(depth, 1), "root_mm": [round(float(v), 1) for v in anchor], **params})


def followed_travel(path: np.ndarray, up: np.ndarray, fps: float) -> np.ndarray:
    """What a tracking camera takes out of a root ``path`` ``(T, 3)`` (from its first frame):
    the travel along the ice (``up`` ``(T, 3)`` unit, the part along it kept), smoothed by a
    Gaussian of ``FOLLOW_SECONDS`` (ends held), less its value at frame 0 so the first frame
    stays where the athlete stands; nothing along ``up``."""
    unit = up / np.linalg.norm(up, axis=-1, keepdims=True)
    along_ice = path - (path * unit).sum(-1, keepdims=True) * unit
    sigma = FOLLOW_SECONDS * fps
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(along_ice, ((radius, radius), (0, 0)), mode="edge")
    smooth = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(3)], -1)
    taken = smooth - smooth[0]
    # a tilting camera's up varies: what is taken must not touch the height in any frame
    return taken - (taken * unit).sum(-1, keepdims=True) * unit


def _placement(first: np.ndarray, athlete: Athlete, iterations: int = 3) -> tuple[float, np.ndarray]:
    """(depth, root position) putting frame 0 (root-relative ``(24, 3)``) on the athlete's
    pelvis ray at the depth where its projected head-to-feet height equals theirs."""
    K = athlete.intrinsics
    seen = project(athlete.joints, K)
    target_px = float(np.ptp(seen[:, 1]))
    pelvis_px = seen[PELVIS]
    ray = np.linalg.solve(K, np.array([pelvis_px[0], pelvis_px[1], 1.0]))
    depth = float(athlete.joints[PELVIS, 2])
    for _ in range(iterations):  # the projected height depends on the depth: fixed point
        anchor = ray * depth
        height_px = float(np.ptp(project(first + anchor, K)[:, 1]))
        depth *= height_px / max(target_px, 1e-6)
    return depth, ray * depth
