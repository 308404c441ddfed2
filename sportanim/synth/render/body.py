"""The skater as tapered capsules (trunk, limbs, head, hair, skates) from its joints."""

from __future__ import annotations

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.render.appearance import Appearance

# Body part kinds: colour slot of the appearance, specular strength, minimum radius (pixels).
_METAL = {"holder": (0.50, 0.51, 0.55), "blade": (0.80, 0.82, 0.86)}
_SPECULAR = {"skin": 0.05, "hair": 0.08, "top": 0.06, "bottom": 0.05, "boots": 0.3, "sleeve": 0.06,
             "holder": 0.4, "blade": 0.7}
_MIN_PIXELS = {"holder": 0.5, "blade": 0.45}
_TEMPLATE_TRUNK_LEG = 1.302  # pelvis->neck + thigh + shin of the 1.70 m template (metres)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def body_parts(joints: np.ndarray, appearance: Appearance):
    """Tapered capsules of the body: ends A, B ``(T, K, 3)``, radii ``(K,)`` x 2 (metres),
    colour ``(K, 3)``, specular ``(K,)``, minimum pixel radius ``(K,)`` and whether the
    ends are flat discs rather than hemispheres ``(K,)``."""
    j = np.asarray(joints, np.float64)
    T = len(j)
    P = {name: j[:, i] for name, i in J.items()}
    chain = [("pelvis", "spine1"), ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck"),
             ("left_hip", "left_knee"), ("left_knee", "left_ankle")]
    length = sum(np.linalg.norm(P[b] - P[a], axis=-1) for a, b in chain)
    size = float(np.clip(np.median(length) / _TEMPLATE_TRUNK_LEG, 0.7, 1.3))
    g = size * appearance.build  # girth of trunk and limbs
    gh = size * np.sqrt(appearance.build)  # head, hands, boots

    left = unit(P["left_hip"] - P["right_hip"] + P["left_shoulder"] - P["right_shoulder"])
    up = unit(P["neck"] - P["pelvis"])
    fwd = unit(np.cross(left, up))
    left = np.cross(up, fwd)
    head_up = unit(P["head"] - P["neck"])

    parts: list[tuple] = []

    def add(a, b, ra, rb, slot, flat=False):
        parts.append((a, b, ra, rb, slot, flat))

    # Trunk: three vertical tapered capsules side by side (wider than deep), the hips, the
    # shoulder girdle; a flat-ended cone for a skirt.
    add(P["left_hip"], P["right_hip"], 0.097 * g, 0.097 * g, "bottom")
    for side in (1.0, 0.0, -1.0):  # three overlapping columns: wider than deep, no groove
        add(P["pelvis"] + side * 0.05 * size * left + 0.01 * size * up,
            P["spine3"] + side * 0.058 * size * left + 0.035 * size * up - 0.01 * size * fwd,
            0.102 * g, 0.108 * g, "top")
    add(P["left_collar"] - 0.01 * size * up, P["right_collar"] - 0.01 * size * up, 0.085 * g, 0.085 * g, "top")
    sh = -0.015 * size * up
    add(P["left_shoulder"] + sh, P["right_shoulder"] + sh, 0.058 * g, 0.058 * g, "top")
    if appearance.skirt:
        add(P["pelvis"] + 0.06 * size * up, P["pelvis"] - 0.19 * size * up, 0.125 * g, 0.2 * g, "top", True)
    add(P["neck"] - 0.03 * size * head_up, P["head"], 0.047 * gh, 0.047 * gh, "skin")
    head = P["head"] + 0.055 * size * head_up + 0.012 * size * fwd
    add(head, head, 0.098 * gh, 0.098 * gh, "skin")
    hair = P["head"] + 0.075 * size * head_up - 0.022 * size * fwd
    add(hair, hair, 0.099 * gh, 0.099 * gh, "hair")
    for s in ("left", "right"):
        sleeve = "sleeve" if appearance.sleeves else "skin"
        add(P[f"{s}_shoulder"], P[f"{s}_elbow"], 0.05 * g, 0.041 * g, sleeve)
        add(P[f"{s}_elbow"], P[f"{s}_wrist"], 0.04 * g, 0.03 * g, sleeve)
        hand_dir = unit(P[f"{s}_hand"] - P[f"{s}_wrist"])
        add(P[f"{s}_wrist"], P[f"{s}_hand"] + 0.06 * size * hand_dir, 0.033 * gh, 0.028 * gh, "skin")
        add(P[f"{s}_hip"], P[f"{s}_knee"], 0.085 * g, 0.058 * g, "bottom")
        add(P[f"{s}_knee"], P[f"{s}_ankle"], 0.055 * g, 0.043 * g, "bottom")
        # Skate: boot shaft and foot, holder and blade along the sole.
        ankle, foot, knee = P[f"{s}_ankle"], P[f"{s}_foot"], P[f"{s}_knee"]
        shin_up = unit(knee - ankle)
        f = unit(foot - ankle)
        w = unit(shin_up - np.sum(shin_up * f, -1, keepdims=True) * f)
        ca, sa = 0.923, 0.385  # the ankle->foot vector points 22.6 deg below the sole
        sole = ca * f + sa * w
        down = sa * f - ca * w
        add(ankle, ankle + 0.12 * size * shin_up, 0.052 * gh, 0.05 * gh, "boots")
        add(ankle + size * (0.035 * down - 0.035 * sole), ankle + size * (0.045 * down + 0.16 * sole),
            0.047 * gh, 0.045 * gh, "boots")
        add(ankle + size * (0.09 * down - 0.04 * sole), ankle + size * (0.09 * down + 0.15 * sole),
            0.017 * size, 0.017 * size, "holder")
        add(ankle + size * (0.121 * down - 0.075 * sole), ankle + size * (0.118 * down + 0.2 * sole),
            0.009 * size, 0.009 * size, "blade")

    assert len(parts) <= 32, "the depth key holds the part index in 5 bits"
    A = np.stack([np.broadcast_to(p[0], (T, 3)) for p in parts], 1)
    B = np.stack([np.broadcast_to(p[1], (T, 3)) for p in parts], 1)
    ra = np.array([p[2] for p in parts])
    rb = np.array([p[3] for p in parts])
    colours = {"skin": appearance.skin, "hair": appearance.hair, "top": appearance.top,
               "bottom": appearance.bottom, "boots": appearance.boots, "sleeve": appearance.top,
               **_METAL}
    albedo = np.array([colours[p[4]] for p in parts], np.float32)
    spec = np.array([_SPECULAR[p[4]] for p in parts], np.float32)
    min_px = np.array([_MIN_PIXELS.get(p[4], 0.8) for p in parts], np.float32)
    flat = np.array([p[5] for p in parts], bool)
    return A, B, ra, rb, albedo, spec, min_px, flat
