"""Human3.6M-17 joints (FS-Jump3D, most 3D pose lifters) and their conversion to SMPL-24.

FS-Jump3D builds its Human3.6M joints from the landmarks of a fitted body model
(``rig.json`` beside the data): each hip is the mean of the ASIS and PSIS of its side, the
spine the mean of xiphoid and T10, the thorax the clavicle notch (CLAV), the neck/nose the
mean of CLAV and nasion, the head the mean of vertex and ear centre; shoulders, elbows,
wrists, knees and ankles are joint centres. SMPL's hips are the hip-joint centres, its pelvis
sits above them, its spine joints lie along the back and its collars inside the chest.
:func:`h36m17_to_smpl24` maps one onto the other; :func:`smpl24_to_h36m17` is the reverse
landmark model used to measure that mapping on synthetic bodies with exact SMPL joints.

Frames used below (all per frame, from the H36M joints): the *pelvis frame* has ``x`` along
the hip axis (right hip -> left hip), ``up`` the pelvis -> spine direction made orthogonal
to it and ``fwd = x x up``; ``w`` is the hip width. The *chest frame* takes ``x`` from the
shoulders and ``up`` from spine -> thorax. ``L`` is the trunk length, pelvis -> thorax.
The constants come from the synthetic skeleton (:mod:`sportanim.synth.kinematics`, close to
SMPL's neutral template), except the hips' drop, which is measured on FS-Jump3D.

=================  =====================================================================
SMPL joint         from Human3.6M
=================  =====================================================================
left/right hip     H36M hip - 0.22 w up (ASIS/PSIS level down to the hip-joint centre:
                   the centre of the sphere the knee moves on, fitted on FS-Jump3D)
pelvis             mid-hips (SMPL's, above) + 0.18 L up
spine1, spine2     pelvis -> H36M spine at 0.425 and 0.946
spine3             H36M spine -> thorax at 0.197
neck               thorax + 0.095 L up - 0.10 L fwd (chest frame)
head               below H36M's head point along the skull's up axis, which the nasion
                   (2 neck/nose - thorax) and the head point give
left/right collar  thorax -> shoulder at 0.43, then 0.08 L down (chest frame)
knee, ankle,       copied: joint centres in both skeletons
shoulder, elbow,
wrist (both sides)
left/right foot    ankle + 0.30 shin forward - 0.10 shin along the shin ("forward" square
                   to shin and hip axis: a stiff boot; pointed toes in the air are missed)
left/right hand    forearm extended 34% past the wrist
=================  =====================================================================

Measured error (``benchmarks/fsjump3d_import.py``): SMPL joints of 48 synthetic clips (24
jumps between glides, 24 daily motions, each by its own sampled body; 5187 frames) -> their
FS-Jump3D landmarks (:func:`smpl24_to_h36m17`) -> SMPL joints again, distance in mm:

==============  ====  ====  =====
SMPL joint      mean  p95   max
==============  ====  ====  =====
pelvis           5.8   7.5    7.9
hips             1.3   2.0    2.2
spine1          12.8  19.8   26.0
spine2           1.7   3.3    4.8
spine3           5.3   7.6    9.5
neck            13.2  15.1   15.9
head             0.0   0.0    0.0
collars          9.8  11.1   11.9
feet (l / r)    33.4  71.1  106.5
                30.2  61.8  109.7
hands           13.9  15.4   16.3
==============  ====  ====  =====

Copying H36M's hips as SMPL's would be 30 mm off on the same bodies. These numbers say how
much a pose loses in H36M-17 against this landmark model (spine curvature, shrugs, pointed
feet; the head comes back exactly, nods included, since nasion and head point are both fixed
in the model's skull), not how far either model is from a real body. On the real trials the
mapping brings the thigh/shin ratio from 0.94-1.28 to 0.86-1.19 (the template's is 0.95).
"""

from __future__ import annotations

import numpy as np

from sportanim.skeleton import JOINT_INDEX as S

H36M17_NAMES: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow",
    "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
H36M = {name: i for i, name in enumerate(H36M17_NAMES)}

# Joints with the same anatomical point in both skeletons (H36M name == SMPL name).
SHARED_JOINTS: tuple[str, ...] = (
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
# SMPL joints that the mapping interpolates or extrapolates (the ones with an error).
DERIVED_JOINTS: tuple[str, ...] = tuple(
    name for name in S if name not in SHARED_JOINTS)

# Hip-joint centre below the ASIS/PSIS mean, in hip widths: measured on FS-Jump3D as the
# centre of the sphere each knee moves on in the pelvis frame (median of the 28 legs: 0.224
# down, 0.015 ahead and 0.062 outside, the last two left out; benchmarks/fsjump3d_import.py).
HIP_DOWN = 0.22
PELVIS_ABOVE_HIPS = 0.18  # SMPL's pelvis joint above its hip centres, in trunk lengths
SPINE1_AT, SPINE2_AT, SPINE3_AT = 0.425, 0.946, 0.197
NECK_UP, NECK_BACK = 0.095, 0.10  # in trunk lengths, chest frame
COLLAR_AT, COLLAR_DOWN = 0.43, 0.08
FOOT_FORWARD, FOOT_DOWN = 0.30, 0.10  # in shin lengths
HAND_PAST_WRIST = 0.34  # in forearm lengths

# Landmarks of the reverse model, in trunk lengths (head frame: up = neck -> head).
CLAV_FORWARD = 0.08  # the clavicle notch lies on the chest's front, ahead of the spine joints
NASION_UP, NASION_FORWARD = 0.058, 0.194
HEAD_POINT_UP = 0.175  # mean of vertex (0.29) and ear centre (0.06) above SMPL's head joint


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _lerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return a + w * (b - a)


def _frame(x_from: np.ndarray, x_to: np.ndarray, up_from: np.ndarray, up_to: np.ndarray):
    """Right-handed axes ``(x, up, fwd)``, each ``(..., 3)``: ``x`` along ``x_to - x_from``,
    ``up`` along ``up_to - up_from`` made orthogonal to ``x``, ``fwd = x x up``."""
    x = _unit(x_to - x_from)
    up = up_to - up_from
    up = _unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    return x, up, np.cross(x, up)


def _check(joints: np.ndarray, count: int, what: str) -> np.ndarray:
    j = np.asarray(joints)
    if j.shape[-2:] != (count, 3):
        raise ValueError(f"expected (..., {count}, 3) {what} joints, got {j.shape}")
    return j if np.issubdtype(j.dtype, np.floating) else j.astype(np.float64)


def pelvis_frame(joints17: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pelvis frame ``(x, up, fwd)`` of Human3.6M joints ``(..., 17, 3)``, each
    ``(..., 3)``: ``x`` right hip -> left hip, ``up`` pelvis -> spine orthogonal to it."""
    j = _check(joints17, 17, "Human3.6M")
    return _frame(j[..., H36M["right_hip"], :], j[..., H36M["left_hip"], :],
                  j[..., H36M["pelvis"], :], j[..., H36M["spine"], :])


def h36m17_to_smpl24(joints17: np.ndarray) -> np.ndarray:
    """SMPL-24 joints from Human3.6M-17 joints (table in the module docstring).

    ``(..., 17, 3) -> (..., 24, 3)``, unit-agnostic (every offset is a fraction of a body
    segment), dtype kept for float input. Not a fitted SMPL body: the trunk, head, hands
    and feet follow the template's proportions.
    """
    j = _check(joints17, 17, "Human3.6M")
    g = {name: j[..., i, :] for name, i in H36M.items()}
    out = np.empty(j.shape[:-2] + (24, 3), dtype=j.dtype)
    for name in SHARED_JOINTS:
        out[..., S[name], :] = g[name]
    # Pelvis and hips: the H36M hips sit at the ASIS/PSIS level, about SMPL's pelvis height.
    x, up, _ = pelvis_frame(j)
    w = np.linalg.norm(g["left_hip"] - g["right_hip"], axis=-1, keepdims=True)
    for side in ("left", "right"):
        out[..., S[f"{side}_hip"], :] = g[f"{side}_hip"] - HIP_DOWN * w * up
    trunk = np.linalg.norm(g["thorax"] - g["pelvis"], axis=-1, keepdims=True)
    pelvis = 0.5 * (out[..., S["left_hip"], :] + out[..., S["right_hip"], :]) + PELVIS_ABOVE_HIPS * trunk * up
    out[..., S["pelvis"], :] = pelvis
    # Spine and neck along the trunk.
    out[..., S["spine1"], :] = _lerp(pelvis, g["spine"], SPINE1_AT)
    out[..., S["spine2"], :] = _lerp(pelvis, g["spine"], SPINE2_AT)
    out[..., S["spine3"], :] = _lerp(g["spine"], g["thorax"], SPINE3_AT)
    chest_x, chest_up, chest_fwd = _frame(g["right_shoulder"], g["left_shoulder"], g["spine"], g["thorax"])
    out[..., S["neck"], :] = g["thorax"] + trunk * (NECK_UP * chest_up - NECK_BACK * chest_fwd)
    out[..., S["head"], :] = _head_joint(g, chest_x)
    for side in ("left", "right"):
        out[..., S[f"{side}_collar"], :] = (_lerp(g["thorax"], g[f"{side}_shoulder"], COLLAR_AT)
                                           - COLLAR_DOWN * trunk * chest_up)
    # Feet (H36M has no toes): a stiff skate boot holds the foot about square to the shin,
    # so "forward" is orthogonal to both the shin and the hip axis.
    for side in ("left", "right"):
        ankle, knee = g[f"{side}_ankle"], g[f"{side}_knee"]
        shin = knee - ankle
        shin_len = np.linalg.norm(shin, axis=-1, keepdims=True)
        forward = _unit(np.cross(x, shin))
        out[..., S[f"{side}_foot"], :] = ankle + shin_len * (FOOT_FORWARD * forward - FOOT_DOWN * _unit(shin))
        out[..., S[f"{side}_hand"], :] = _lerp(g[f"{side}_elbow"], g[f"{side}_wrist"], 1.0 + HAND_PAST_WRIST)
    return out


def _head_joint(g: dict, x: np.ndarray) -> np.ndarray:
    """SMPL's head joint from H36M's head and neck/nose points, ``(..., 3)``.

    neck/nose is the mean of thorax and nasion, so the nasion is ``2 neck_nose - thorax``;
    nasion and head point are both fixed in the skull, and with the shoulder axis ``x`` as
    the head's left they give its up axis (the reverse model's nasion -> head-point angle),
    hence the head joint below the head point. Follows nods the trunk does not make.
    """
    v = 2.0 * g["neck_nose"] - g["thorax"] - g["head"]  # head point -> nasion
    v = v - np.sum(v * x, axis=-1, keepdims=True) * x
    size = np.linalg.norm(v, axis=-1, keepdims=True)
    a, b = NASION_UP - HEAD_POINT_UP, NASION_FORWARD  # v in (up, fwd) of the head
    a, b = a / np.hypot(a, b), b / np.hypot(a, b)
    v_hat = _unit(v)
    up = a * v_hat - b * np.cross(x, v_hat)
    return g["head"] - (HEAD_POINT_UP / np.hypot(NASION_UP - HEAD_POINT_UP, NASION_FORWARD)) * size * up


def smpl24_to_h36m17(joints24: np.ndarray) -> np.ndarray:
    """FS-Jump3D's Human3.6M-17 landmarks placed on SMPL-24 joints (the reverse model).

    ``(..., 24, 3) -> (..., 17, 3)``: joint centres are copied; hips are raised from the
    hip-joint centres to the ASIS/PSIS level; the pelvis is their midpoint (as in the data,
    where it lies within about 1 cm of it); the spine point is a quarter of the way from
    spine2 to spine3 (xiphoid/T10 level); the thorax (clavicle notch) between the collars'
    midpoint and the neck, on the chest's front; neck/nose the mean of thorax and a nasion
    ahead of the head joint; the head point the mean of vertex and ear centre.
    """
    j = _check(joints24, 24, "SMPL-24")
    s = {name: j[..., i, :] for name, i in S.items()}
    out = np.empty(j.shape[:-2] + (17, 3), dtype=j.dtype)
    for name in SHARED_JOINTS:
        out[..., H36M[name], :] = s[name]
    _, up, _ = _frame(s["right_hip"], s["left_hip"], 0.5 * (s["left_hip"] + s["right_hip"]), s["pelvis"])
    w = np.linalg.norm(s["left_hip"] - s["right_hip"], axis=-1, keepdims=True)
    for side in ("left", "right"):
        out[..., H36M[f"{side}_hip"], :] = s[f"{side}_hip"] + HIP_DOWN * w * up
    out[..., H36M["pelvis"], :] = 0.5 * (out[..., H36M["left_hip"], :] + out[..., H36M["right_hip"], :])
    out[..., H36M["spine"], :] = _lerp(s["spine2"], s["spine3"], 0.25)
    trunk = np.linalg.norm(s["neck"] - s["pelvis"], axis=-1, keepdims=True)
    _, _, chest_fwd = _frame(s["right_shoulder"], s["left_shoulder"], s["spine3"], s["neck"])
    collars = 0.5 * (s["left_collar"] + s["right_collar"])
    thorax = 0.5 * (collars + s["neck"]) + CLAV_FORWARD * trunk * chest_fwd
    out[..., H36M["thorax"], :] = thorax
    _, head_up, head_fwd = _frame(s["right_shoulder"], s["left_shoulder"], s["neck"], s["head"])
    nasion = s["head"] + trunk * (NASION_UP * head_up + NASION_FORWARD * head_fwd)
    out[..., H36M["neck_nose"], :] = 0.5 * (thorax + nasion)
    out[..., H36M["head"], :] = s["head"] + HEAD_POINT_UP * trunk * head_up
    return out


def round_trip_error(joints24: np.ndarray) -> np.ndarray:
    """Mean distance per SMPL joint between ``joints24`` ``(..., 24, 3)`` and the joints mapped
    back from their Human3.6M landmarks, ``(24,)`` in the joints' unit (0 for copied joints)."""
    j = _check(joints24, 24, "SMPL-24")
    back = h36m17_to_smpl24(smpl24_to_h36m17(j))
    return np.linalg.norm(back - j, axis=-1).reshape(-1, 24).mean(axis=0)
