"""The skater as tapered capsules (trunk, limbs, head, hair, skates) from its joints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sportanim.skeleton import JOINT_INDEX as J
from sportanim.synth.render.appearance import Appearance

# Body part kinds: colour slot of the appearance, specular strength, minimum radius (pixels).
_METAL = {"holder": (0.50, 0.51, 0.55), "blade": (0.80, 0.82, 0.86)}
_SPECULAR = {"skin": 0.05, "hair": 0.08, "top": 0.06, "bottom": 0.05, "boots": 0.3, "sleeve": 0.06,
             "holder": 0.4, "blade": 0.7}
_MIN_PIXELS = {"holder": 0.5, "blade": 0.45}
_TEMPLATE_TRUNK_LEG = 1.302  # pelvis->neck + thigh + shin of the 1.70 m template (metres)
MAX_PARTS = 32  # the depth key holds the part index in 5 bits


@dataclass(frozen=True, eq=False)
class BodyParts:
    """K tapered capsules over T frames, each between two ends (a flat-ended cone when ``flat``)."""

    a: np.ndarray  # (T, K, 3) first end, world metres
    b: np.ndarray  # (T, K, 3) second end
    radius_a: np.ndarray  # (K,) metres at a
    radius_b: np.ndarray  # (K,) metres at b
    albedo: np.ndarray  # (K, 3) float32 RGB
    specular: np.ndarray  # (K,) float32 strength
    min_pixels: np.ndarray  # (K,) float32: thinner parts are drawn this wide anyway
    flat: np.ndarray  # (K,) bool: flat disc ends rather than hemispheres


class _Part(NamedTuple):
    a: np.ndarray  # (T, 3) or (3,)
    b: np.ndarray
    radius_a: float
    radius_b: float
    kind: str  # colour slot / material
    flat: bool = False


class _Frame(NamedTuple):
    """The body's size and axes per frame: unit vectors ``(T, 3)``."""

    size: float  # body scale against the template
    left: np.ndarray
    up: np.ndarray  # pelvis -> neck
    fwd: np.ndarray
    head_up: np.ndarray  # neck -> head


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def body_parts(joints: np.ndarray, appearance: Appearance) -> BodyParts:
    """The capsules of the skater with joints ``(T, 24, 3)`` (world metres)."""
    j = np.asarray(joints, np.float64)
    T = len(j)
    P = {name: j[:, i] for name, i in J.items()}
    frame = _body_frame(P)
    g = frame.size * appearance.build  # girth of trunk and limbs
    gh = frame.size * np.sqrt(appearance.build)  # head, hands, boots
    parts = _trunk(P, frame, g, appearance.skirt) + _head(P, frame, gh)
    for s in ("left", "right"):
        parts += _arm(P, s, frame, g, gh, appearance.sleeves) + _leg(P, s, g) + _skate(P, s, frame.size, gh)
    assert len(parts) <= MAX_PARTS, (len(parts), MAX_PARTS)
    colours = {"skin": appearance.skin, "hair": appearance.hair, "top": appearance.top,
               "bottom": appearance.bottom, "boots": appearance.boots, "sleeve": appearance.top,
               **_METAL}
    return BodyParts(
        a=np.stack([np.broadcast_to(p.a, (T, 3)) for p in parts], 1),
        b=np.stack([np.broadcast_to(p.b, (T, 3)) for p in parts], 1),
        radius_a=np.array([p.radius_a for p in parts]),
        radius_b=np.array([p.radius_b for p in parts]),
        albedo=np.array([colours[p.kind] for p in parts], np.float32),
        specular=np.array([_SPECULAR[p.kind] for p in parts], np.float32),
        min_pixels=np.array([_MIN_PIXELS.get(p.kind, 0.8) for p in parts], np.float32),
        flat=np.array([p.flat for p in parts], bool),
    )


def _body_frame(P: dict) -> _Frame:
    """Scale from the median trunk + leg length; axes from the hips, shoulders and spine."""
    chain = [("pelvis", "spine1"), ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck"),
             ("left_hip", "left_knee"), ("left_knee", "left_ankle")]
    length = sum(np.linalg.norm(P[b] - P[a], axis=-1) for a, b in chain)
    size = float(np.clip(np.median(length) / _TEMPLATE_TRUNK_LEG, 0.7, 1.3))
    left = unit(P["left_hip"] - P["right_hip"] + P["left_shoulder"] - P["right_shoulder"])
    up = unit(P["neck"] - P["pelvis"])
    fwd = unit(np.cross(left, up))
    left = np.cross(up, fwd)
    return _Frame(size, left, up, fwd, unit(P["head"] - P["neck"]))


def _trunk(P: dict, fr: _Frame, g: float, skirt: bool) -> list[_Part]:
    """The hips, three columns side by side (wider than deep, no groove between them), the
    collar and shoulder girdle; a flat-ended cone for a skirt."""
    size, left, up, fwd = fr.size, fr.left, fr.up, fr.fwd
    parts = [_Part(P["left_hip"], P["right_hip"], 0.097 * g, 0.097 * g, "bottom")]
    for side in (1.0, 0.0, -1.0):
        parts.append(_Part(P["pelvis"] + side * 0.05 * size * left + 0.01 * size * up,
                           P["spine3"] + side * 0.058 * size * left + 0.035 * size * up - 0.01 * size * fwd,
                           0.102 * g, 0.108 * g, "top"))
    parts.append(_Part(P["left_collar"] - 0.01 * size * up, P["right_collar"] - 0.01 * size * up,
                       0.085 * g, 0.085 * g, "top"))
    sh = -0.015 * size * up
    parts.append(_Part(P["left_shoulder"] + sh, P["right_shoulder"] + sh, 0.058 * g, 0.058 * g, "top"))
    if skirt:
        parts.append(_Part(P["pelvis"] + 0.06 * size * up, P["pelvis"] - 0.19 * size * up,
                           0.125 * g, 0.2 * g, "top", True))
    return parts


def _head(P: dict, fr: _Frame, gh: float) -> list[_Part]:
    """Neck, head and hair (a sphere a little behind and above the head's)."""
    size, head_up, fwd = fr.size, fr.head_up, fr.fwd
    head = P["head"] + 0.055 * size * head_up + 0.012 * size * fwd
    hair = P["head"] + 0.075 * size * head_up - 0.022 * size * fwd
    return [_Part(P["neck"] - 0.03 * size * head_up, P["head"], 0.047 * gh, 0.047 * gh, "skin"),
            _Part(head, head, 0.098 * gh, 0.098 * gh, "skin"),
            _Part(hair, hair, 0.099 * gh, 0.099 * gh, "hair")]


def _arm(P: dict, s: str, fr: _Frame, g: float, gh: float, sleeves: bool) -> list[_Part]:
    sleeve = "sleeve" if sleeves else "skin"
    hand_dir = unit(P[f"{s}_hand"] - P[f"{s}_wrist"])
    return [_Part(P[f"{s}_shoulder"], P[f"{s}_elbow"], 0.05 * g, 0.041 * g, sleeve),
            _Part(P[f"{s}_elbow"], P[f"{s}_wrist"], 0.04 * g, 0.03 * g, sleeve),
            _Part(P[f"{s}_wrist"], P[f"{s}_hand"] + 0.06 * fr.size * hand_dir, 0.033 * gh, 0.028 * gh, "skin")]


def _leg(P: dict, s: str, g: float) -> list[_Part]:
    return [_Part(P[f"{s}_hip"], P[f"{s}_knee"], 0.085 * g, 0.058 * g, "bottom"),
            _Part(P[f"{s}_knee"], P[f"{s}_ankle"], 0.055 * g, 0.043 * g, "bottom")]


def _skate(P: dict, s: str, size: float, gh: float) -> list[_Part]:
    """Boot shaft and foot, then holder and blade along the sole."""
    ankle, foot, knee = P[f"{s}_ankle"], P[f"{s}_foot"], P[f"{s}_knee"]
    shin_up = unit(knee - ankle)
    f = unit(foot - ankle)
    w = unit(shin_up - np.sum(shin_up * f, -1, keepdims=True) * f)
    ca, sa = 0.923, 0.385  # the ankle->foot vector points 22.6 deg below the sole
    sole = ca * f + sa * w
    down = sa * f - ca * w
    return [_Part(ankle, ankle + 0.12 * size * shin_up, 0.052 * gh, 0.05 * gh, "boots"),
            _Part(ankle + size * (0.035 * down - 0.035 * sole), ankle + size * (0.045 * down + 0.16 * sole),
                  0.047 * gh, 0.045 * gh, "boots"),
            _Part(ankle + size * (0.09 * down - 0.04 * sole), ankle + size * (0.09 * down + 0.15 * sole),
                  0.017 * size, 0.017 * size, "holder"),
            _Part(ankle + size * (0.121 * down - 0.075 * sole), ankle + size * (0.118 * down + 0.2 * sole),
                  0.009 * size, 0.009 * size, "blade")]
