"""Reference pictures of a clip's athlete that are not frames of the clip.

A video model trained with the reference taken from its own clip can copy the reference's body
where it stands and ignore the motion (the first frame already shows the pose and the place).
Feedback generation needs the opposite: the photo gives the athlete and the scene, the motion
says where the body goes. So each clip can carry pictures of the same athlete (body, costume,
skin) filmed by the same camera at the clip's first frame (for the still camera of everyday
video: the same view of the rink), standing in a pose of the clip turned to another heading,
at another place on the ice.
"""

from __future__ import annotations

import numpy as np

from sportanim.skeleton import project
from sportanim.synth.render import render

PLACE_TRIES = 50
MARGIN = 0.04  # share of the frame every joint stays inside
MAX_OFFSET = 1.5  # metres a reference may stand beside the clip's path
MIN_GAP = 0.4  # metres it stands at least from every place of the clip's path


def athlete_references(world: np.ndarray, camera, appearance, rng: np.random.Generator,
                       count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pictures of the athlete of a clip (world joints ``(T, 24, 3)`` m, its camera and
    appearance): uint8 ``(count, H, W, 3)`` and their joints in the camera of the clip's first
    frame, float32 ``(count, 24, 3)`` mm. Each takes the pose of a random frame, turned to a
    random heading about the pelvis, moved to a random place near the clip's path (``MIN_GAP``
    off it) where the whole body is in the picture (after ``PLACE_TRIES`` misses: the frame's own place)."""
    first = camera[0:1]
    images, joints = [], []
    for _ in range(count):
        pose = world[int(rng.integers(len(world)))]
        placed = _placed(pose, world[:, 0, :2], first, rng)
        pixels, _ = render(placed[None], first, appearance)
        images.append(pixels[0])
        joints.append(first.world_to_camera(placed[None])[0] * 1000.0)
    return np.stack(images), np.stack(joints).astype(np.float32)


def _placed(pose: np.ndarray, path_xy: np.ndarray, camera, rng: np.random.Generator) -> np.ndarray:
    """``pose`` (24, 3) turned and moved to a random place where it projects inside ``camera``."""
    pelvis = pose[0, :2]
    w, h = camera.width, camera.height
    low, high = np.array([w, h]) * MARGIN, np.array([w, h]) * (1 - MARGIN)
    for _ in range(PLACE_TRIES):
        yaw = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(yaw), np.sin(yaw)
        turned = pose.copy()
        turned[:, :2] = (pose[:, :2] - pelvis) @ np.array([[c, s], [-s, c]])
        goal = path_xy[int(rng.integers(len(path_xy)))] + rng.uniform(-MAX_OFFSET, MAX_OFFSET, 2)
        if np.linalg.norm(path_xy - goal, axis=1).min() < MIN_GAP:
            continue
        turned[:, :2] += goal
        cam = camera.world_to_camera(turned[None])[0]
        if cam[:, 2].min() > 1.0:
            px = project(cam, camera.intrinsics[0])
            if (px >= low).all() and (px <= high).all():
                return turned
    return pose
