"""Pinhole cameras of the synthetic world and the broadcast camera that follows the skater.

World frame: metres, z up, the ice is the plane z = 0, the rink centre is the origin.
Camera frame (as NLF): x right, y down, z forward; ``X_cam = R @ X_world + t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
