"""A 24-joint SMPL-ordered skeleton driven by joint rotations.

The body frame follows SMPL's rest pose: x to the body's left, y up, z forward, all
joint frames aligned at rest (T-pose). Poses are given as a few named angles per frame
(degrees, see ``POSE_PARAMS``) that are turned into local joint rotations; forward
kinematics then places the joints. Rotations preserve length, so every bone keeps its
rest length in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.skeleton import NUM_JOINTS, PARENTS

# Rest offsets of each joint from its parent for a 1.70 m adult (metres, body frame),
# close to SMPL's neutral template; the root's offset is unused.
_REST_OFFSETS_170 = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.07, -0.09, 0.0), "right_hip": (-0.07, -0.09, 0.0),
    "spine1": (0.0, 0.11, -0.02),
    "left_knee": (0.03, -0.38, 0.0), "right_knee": (-0.03, -0.38, 0.0),
    "spine2": (0.0, 0.135, 0.0),
    "left_ankle": (-0.01, -0.40, -0.04), "right_ankle": (0.01, -0.40, -0.04),
    "spine3": (0.0, 0.055, 0.0),
    "left_foot": (0.02, -0.05, 0.12), "right_foot": (-0.02, -0.05, 0.12),
    "neck": (0.0, 0.215, -0.03),
    "left_collar": (0.075, 0.12, -0.01), "right_collar": (-0.075, 0.12, -0.01),
    "head": (0.0, 0.09, 0.05),
    "left_shoulder": (0.10, 0.03, -0.01), "right_shoulder": (-0.10, 0.03, -0.01),
    "left_elbow": (0.26, 0.0, -0.02), "right_elbow": (-0.26, 0.0, -0.02),
    "left_wrist": (0.25, 0.0, 0.0), "right_wrist": (-0.25, 0.0, 0.0),
    "left_hand": (0.085, -0.01, -0.01), "right_hand": (-0.085, -0.01, -0.01),
}
# Top of the skull above the head joint and ankle above the floor (barefoot), metres.
_CROWN_ABOVE_HEAD = 0.15
_ANKLE_ABOVE_FLOOR = 0.08

LEG_JOINTS = ("hip", "knee", "ankle", "foot")
ARM_JOINTS = ("collar", "shoulder", "elbow", "wrist", "hand")

# Named pose angles (degrees). Per side ("l_"/"r_"): thigh flexion (forward +), abduction
# (outward +), twist; knee flexion; ankle plantar flexion (toe down +); arm raise (0 hanging,
# 90 horizontal, 180 overhead) and swing (0 sideways, 90 forward, -90 backward); elbow
# flexion. Whole body: spine lean (forward +), side bend (to the left +), twist (upper body
# turned left +), neck nod (down +).
SIDE_PARAMS = ("hip_flex", "hip_abd", "hip_twist", "knee", "ankle", "arm_raise", "arm_swing", "elbow")
BODY_PARAMS = ("spine_lean", "spine_side", "spine_twist", "neck_nod")
POSE_PARAMS = BODY_PARAMS + tuple(f"{s}_{p}" for s in "lr" for p in SIDE_PARAMS)


@dataclass(frozen=True)
class Body:
    """One athlete's skeleton: rest offsets scaled to a height, with per-athlete proportions."""

    height: float  # metres, floor to crown, barefoot
    offsets: np.ndarray  # (24, 3) metres, body frame, offset from parent

    @staticmethod
    def make(height: float, leg_ratio: float = 1.0, arm_ratio: float = 1.0,
             shoulder_ratio: float = 1.0) -> "Body":
        """A body of ``height`` metres; ratios (about 0.94-1.06) lengthen legs, arms or
        shoulders relative to the template before the whole is scaled to the height."""
        offsets = np.array([_REST_OFFSETS_170[name] for name in _joint_names()], dtype=np.float64)
        for side in "lr":
            name = {"l": "left", "r": "right"}[side]
            offsets[[J[f"{name}_knee"], J[f"{name}_ankle"]]] *= leg_ratio
            offsets[[J[f"{name}_elbow"], J[f"{name}_wrist"], J[f"{name}_hand"]]] *= arm_ratio
            offsets[J[f"{name}_shoulder"], 0] *= shoulder_ratio
        offsets *= height / _standing_height(offsets)
        return Body(height=height, offsets=offsets)

    @staticmethod
    def sample(rng: np.random.Generator, height_range=(1.50, 1.90)) -> "Body":
        return Body.make(
            height=float(rng.uniform(*height_range)),
            leg_ratio=float(rng.uniform(0.95, 1.05)),
            arm_ratio=float(rng.uniform(0.95, 1.05)),
            shoulder_ratio=float(rng.uniform(0.9, 1.1)),
        )


def _joint_names():
    from sportanim.skeleton import JOINT_NAMES
    return JOINT_NAMES


def _standing_height(offsets: np.ndarray) -> float:
    rest = forward_kinematics(offsets, np.broadcast_to(np.eye(3), (1, NUM_JOINTS, 3, 3)))[0]
    return float(rest[J["head"], 1] - rest[J["left_ankle"], 1]) + _CROWN_ABOVE_HEAD + _ANKLE_ABOVE_FLOOR


# ---------------------------------------------------------------------------- rotations

def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotations about a body axis ``'x'|'y'|'z'``: ``(T,) -> (T, 3, 3)``."""
    a = np.radians(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    rows = {
        "x": ((o, z, z), (z, c, -s), (z, s, c)),
        "y": ((c, z, s), (z, o, z), (-s, z, c)),
        "z": ((c, -s, z), (s, c, z), (z, z, o)),
    }[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest rotations taking unit vectors ``u`` to ``v``: ``(T, 3), (T, 3) -> (T, 3, 3)``.
    Not defined for exactly opposite vectors (never asked for here)."""
    u = np.broadcast_to(u, v.shape)
    k = np.cross(u, v)
    c = np.einsum("ti,ti->t", u, v)
    K = np.zeros(v.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    K[..., 1, 0], K[..., 2, 0], K[..., 2, 1] = k[..., 2], -k[..., 1], k[..., 0]
    return np.eye(3) + K + (K @ K) / (1.0 + c)[..., None, None]


def yaw_rotation(radians: np.ndarray) -> np.ndarray:
    """Body frame -> world frame for a body facing heading ``radians`` (world z up):
    body forward (z) -> (cos, sin, 0), body up (y) -> world z, body left (x) -> (-sin, cos, 0)."""
    c, s = np.cos(radians), np.sin(radians)
    o, z = np.ones_like(c), np.zeros_like(c)
    cols = (np.stack([-s, c, z], -1), np.stack([z, z, o], -1), np.stack([c, s, z], -1))
    return np.stack(cols, axis=-1)


def pose_rotations(params: dict[str, np.ndarray]) -> np.ndarray:
    """Named pose angles (each ``(T,)`` degrees; missing ones are 0) -> local joint
    rotations ``(T, 24, 3, 3)``; the root's is the whole-body lean only."""
    T = len(next(iter(params.values())))
    p = {name: np.asarray(params.get(name, np.zeros(T)), dtype=np.float64) for name in POSE_PARAMS}
    R = np.broadcast_to(np.eye(3), (T, NUM_JOINTS, 3, 3)).copy()
    # Spine bend and twist spread over the three spine joints (and a little to the neck).
    for joint, share in (("spine1", 0.35), ("spine2", 0.35), ("spine3", 0.3)):
        R[:, J[joint]] = (axis_rotation("y", share * p["spine_twist"])
                          @ axis_rotation("z", -share * p["spine_side"])
                          @ axis_rotation("x", share * p["spine_lean"]))
    R[:, J["neck"]] = axis_rotation("x", 0.5 * p["neck_nod"])
    R[:, J["head"]] = axis_rotation("x", 0.5 * p["neck_nod"])
    for side, name, sign in (("l", "left", 1.0), ("r", "right", -1.0)):
        q = {k: p[f"{side}_{k}"] for k in SIDE_PARAMS}
        R[:, J[f"{name}_hip"]] = _thigh_rotation(q["hip_flex"], q["hip_abd"], sign) @ axis_rotation("y", sign * q["hip_twist"])
        R[:, J[f"{name}_knee"]] = axis_rotation("x", q["knee"])
        R[:, J[f"{name}_ankle"]] = axis_rotation("x", q["ankle"])
        R[:, J[f"{name}_shoulder"]] = _upper_arm_rotation(q["arm_raise"], q["arm_swing"], sign)
        R[:, J[f"{name}_elbow"]] = axis_rotation("y", -sign * q["elbow"])
    return R


def _thigh_rotation(flex: np.ndarray, abduct: np.ndarray, sign: float) -> np.ndarray:
    f, b = np.radians(flex), np.radians(abduct)
    direction = np.stack([sign * np.sin(b), -np.cos(f) * np.cos(b), np.sin(f) * np.cos(b)], -1)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    return rotation_between(np.array([0.0, -1.0, 0.0]), direction)


def _upper_arm_rotation(raise_: np.ndarray, swing: np.ndarray, sign: float) -> np.ndarray:
    e, a = np.radians(raise_), np.radians(swing)
    direction = np.stack([sign * np.sin(e) * np.cos(a), -np.cos(e), np.sin(e) * np.sin(a)], -1)
    return rotation_between(np.array([sign, 0.0, 0.0]), direction)


# ---------------------------------------------------------------------- forward kinematics

def forward_kinematics(offsets: np.ndarray, local: np.ndarray, root_rotation: np.ndarray | None = None,
                       root_position: np.ndarray | None = None) -> np.ndarray:
    """Joint positions ``(T, 24, 3)`` from rest ``offsets (24, 3)`` and local rotations
    ``(T, 24, 3, 3)``; ``root_rotation (T, 3, 3)`` maps the body frame to the world and
    ``root_position (T, 3)`` places the pelvis."""
    T = local.shape[0]
    glob = np.empty_like(local)
    pos = np.zeros((T, NUM_JOINTS, 3))
    glob[:, 0] = local[:, 0] if root_rotation is None else root_rotation @ local[:, 0]
    if root_position is not None:
        pos[:, 0] = root_position
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        pos[:, j] = pos[:, parent] + glob[:, parent] @ offsets[j]
        glob[:, j] = glob[:, parent] @ local[:, j]
    return pos
