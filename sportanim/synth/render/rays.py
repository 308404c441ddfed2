"""Rays of image pixels in the world, from the camera's intrinsics and rotation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Rays(NamedTuple):
    """Rays of some image rows: world directions ``(n, W)`` float32 (unnormalised; ``dz``
    is ``(n, 1)`` when a row's rays all dip alike), and per row ``(n, 1)`` the camera centre
    and focal length (pixels)."""

    dx: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    cz: np.ndarray
    focal: np.ndarray


def pixel_to_ray(K: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` matrices taking a pixel (u, v, 1) to its world ray direction."""
    return np.einsum("tji,tjk->tik", R, _inverse_intrinsics(K))


def _inverse_intrinsics(K: np.ndarray) -> np.ndarray:
    """Closed-form inverse of upper-triangular intrinsics ``(T, 3, 3)``."""
    fx, s, cx = K[:, 0, 0], K[:, 0, 1], K[:, 0, 2]
    fy, cy = K[:, 1, 1], K[:, 1, 2]
    inv = np.zeros_like(K)
    inv[:, 0, 0] = 1.0 / fx
    inv[:, 0, 1] = -s / (fx * fy)
    inv[:, 0, 2] = (s * cy - cx * fy) / (fx * fy)
    inv[:, 1, 1] = 1.0 / fy
    inv[:, 1, 2] = -cy / fy
    inv[:, 2, 2] = 1.0
    return inv
