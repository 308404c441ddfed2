"""Pinhole cameras of the synthetic world: the broadcast camera that follows the skater, and
the still camera of everyday video (a phone on a tripod).

World frame: metres, z up, the ice is the plane z = 0, the rink centre is the origin.
Camera frame (as NLF): x right, y down, z forward; ``X_cam = R @ X_world + t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportanim.skeleton import nlf_intrinsics, project


@dataclass(frozen=True)
class Camera:
    """One pinhole camera per frame."""

    intrinsics: np.ndarray  # (T, 3, 3) pixels
    rotation: np.ndarray  # (T, 3, 3) world -> camera
    translation: np.ndarray  # (T, 3) metres
    width: int
    height: int

    def __post_init__(self) -> None:
        T = len(self.rotation)
        assert self.intrinsics.shape == (T, 3, 3), (self.intrinsics.shape, T)
        assert self.rotation.shape == (T, 3, 3), self.rotation.shape
        assert self.translation.shape == (T, 3), (self.translation.shape, T)

    @property
    def num_frames(self) -> int:
        return len(self.rotation)

    @property
    def centre(self) -> np.ndarray:
        """Camera centres in world coordinates, ``(T, 3)``."""
        return -np.einsum("tji,tj->ti", self.rotation, self.translation)

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``(T, N, 3)`` -> camera points ``(T, N, 3)``, same unit (metres)."""
        return np.einsum("tij,tnj->tni", self.rotation, points) + self.translation[:, None]

    def extrinsics_mm(self) -> np.ndarray:
        """``(T, 3, 4)`` world->camera ``[R | t]`` with t in millimetres (the joints' unit)."""
        return np.concatenate([self.rotation, 1000.0 * self.translation[:, :, None]], axis=2)

    def __getitem__(self, frames) -> "Camera":
        return Camera(self.intrinsics[frames], self.rotation[frames], self.translation[frames],
                      self.width, self.height)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World->camera rotations ``(T, 3, 3)`` for cameras at ``eye`` looking at ``target``
    (both ``(T, 3)``), with no roll: image 'down' is the world's -z projected."""
    forward = target - eye
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), forward.shape)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)  # rows: camera axes in world coordinates


def follow_camera(pelvis: np.ndarray, fps: float, width: int, height: int, rng: np.random.Generator,
                  cuts: tuple[int, ...] = ()) -> Camera:
    """A broadcast camera following a skater whose pelvis is at ``pelvis (T, 3)``.

    Each shot (a new one starts at every frame in ``cuts``) has its own side, height and
    distance. The camera pans after the skater with a short lag and rides along with a
    longer one. It keeps NLF's intrinsics (FOV 55 degrees on the larger side) in every
    frame, as NLF assumes for any footage, so it zooms by moving closer or further (a
    dolly); for the small, distant skater of broadcast footage the two look alike.
    """
    T = len(pelvis)
    dt = 1.0 / fps
    bounds = [0, *sorted(c for c in cuts if 0 < c < T), T]
    eye, target = np.empty((T, 3)), np.empty((T, 3))
    for a, b in zip(bounds[:-1], bounds[1:]):
        side = rng.uniform(0, 2 * np.pi)
        offset = np.array([np.cos(side), np.sin(side)])
        cam_height = rng.uniform(1.0, 2.2)
        distance = rng.uniform(2.9, 3.7)
        t = np.arange(b - a) * dt
        zoom = 1.0 + 0.07 * np.sin(2 * np.pi * t / rng.uniform(3.0, 6.0) + rng.uniform(0, 2 * np.pi))
        aim = _lagged(pelvis[a:b], 1.0 - np.exp(-dt / 0.08))
        ride = _lagged(pelvis[a:b], 1.0 - np.exp(-dt / 0.2))
        # Zoom out as the skater rises, so a jump stays in the frame.
        rise = np.clip(ride[:, 2] - ride[0, 2], 0.0, None)
        reach = distance * zoom + 1.2 * rise
        eye[a:b, :2] = ride[:, :2] + reach[:, None] * offset
        eye[a:b, 2] = cam_height
        target[a:b] = aim - np.array([0.0, 0.0, 0.1])
    rotation = look_at(eye, target)
    translation = -np.einsum("tij,tj->ti", rotation, eye)
    K = np.broadcast_to(nlf_intrinsics(width, height), (T, 3, 3)).copy()
    return Camera(K, rotation, translation, width, height)


def static_camera(world: np.ndarray, width: int, height: int, rng: np.random.Generator,
                  margin: float = 0.06) -> Camera:
    """A camera that stands still for the whole clip, framing everything ``world (T, 24, 3)``
    does: a random side and height, aimed at the middle of the path, stepped back until every
    joint of every frame projects at least ``margin`` (a share of the frame) inside the
    picture. The skater moves across the frame, as in phone video of everyday motion; NLF's
    intrinsics as everywhere in this world.
    """
    T = len(world)
    K = nlf_intrinsics(width, height)
    points = world.reshape(-1, 3)
    target = 0.5 * (points.min(0) + points.max(0))
    side = rng.uniform(0, 2 * np.pi)
    offset = np.array([np.cos(side), np.sin(side), 0.0])
    eye_height = rng.uniform(1.0, 1.8)
    distance = rng.uniform(3.0, 3.6)
    bounds = np.array([width, height]) * np.array([[margin], [1 - margin]])  # (2, 2): low, high
    for _ in range(60):  # each try steps back 6%; 60 tries reach 30x the start distance
        eye = target + distance * offset
        eye[2] = eye_height
        rotation = look_at(eye[None], target[None])[0]
        cam = points @ rotation.T - rotation @ eye
        if cam[:, 2].min() > 1.0:
            px = project(cam, K)
            if (px >= bounds[0]).all() and (px <= bounds[1]).all():
                break
        distance *= 1.06
    else:
        raise ValueError("static_camera: the motion does not fit in the picture from any distance tried")
    rotation = np.broadcast_to(rotation, (T, 3, 3)).copy()
    translation = np.broadcast_to(-rotation[0] @ eye, (T, 3)).copy()
    return Camera(np.broadcast_to(K, (T, 3, 3)).copy(), rotation, translation, width, height)


def _lagged(x: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential smoothing along time (a causal lag), starting on the first sample."""
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = out[i - 1] + alpha * (x[i] - out[i - 1])
    return out
