"""Pose metrics between predicted and ground-truth 3D joints, and motion FID.

Joints are ``(..., 24, 3)`` arrays (SMPL order, camera space, mm), predictions and ground
truth of the same shape. Every error is a mean Euclidean distance over joints and frames:

- ``mpjpe``: camera space, no alignment (the paper's tokenizer MPJPE);
- ``root_aligned_mpjpe``: both skeletons translated so the pelvis (SMPL joint 0) is at 0;
- ``pa_mpjpe``: each frame aligned by a similarity transform (rotation, translation and
  scale; Umeyama/Procrustes) before measuring;
- ``accel_error``: difference of second time differences (mm/frame^2; HMR/VIBE convention);
- ``motion_fid``: Frechet distance between motion features of two clip sets (see
  ``MOTION_FEATURE``).
"""

from __future__ import annotations

import numpy as np

from sportanim.eval.frechet import frechet_distance_features

ROOT_JOINT = 0  # SMPL pelvis
MOTION_WINDOW = 49  # frames per motion-FID window: one MTVCrafter clip
MOTION_COMPONENTS = 32  # PCA axes kept (fewer when the real set has fewer windows)
MOTION_FEATURE = ("{window}-frame windows of root-relative joints + pelvis "
                  "trajectory + their frame-to-frame velocities (mm), standardised per "
                  "coordinate by the real set, projected on the real set's top {k} PCA axes")


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64, checked to be ``(..., J, 3)`` of one shape with finite values."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"predicted and true joints must both be (..., joints, 3), got "
                         f"{pred.shape} and {gt.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
        raise ValueError("joints hold NaN/inf values")
    return pred, gt


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean())


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error in the joints' own frame (mm for camera-space mm)."""
    pred, gt = _pair(pred, gt)
    return _mean_distance(pred, gt)


def root_aligned_mpjpe(pred: np.ndarray, gt: np.ndarray, root: int = ROOT_JOINT) -> float:
    """MPJPE after moving each skeleton's ``root`` joint to the origin, frame by frame."""
    pred, gt = _pair(pred, gt)
    return _mean_distance(pred - pred[..., root:root + 1, :], gt - gt[..., root:root + 1, :])


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred (..., J, 3)`` moved by the similarity transform (s, R, t), per skeleton, that
    best fits ``gt`` in least squares (Umeyama 1991; reflections excluded)."""
    pred, gt = _pair(pred, gt)
    mu_p, mu_g = pred.mean(axis=-2, keepdims=True), gt.mean(axis=-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.swapaxes(g, -1, -2) @ p  # (..., 3, 3): sum_j g_j p_j^T
    u, s, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))  # -1 would be a reflection: flip the last axis
    d = np.ones_like(s)
    d[..., -1] = np.where(sign == 0, 1.0, sign)
    rotation = (u * d[..., None, :]) @ vt
    var_p = (p**2).sum(axis=(-2, -1))
    scale = (s * d).sum(axis=-1) / np.where(var_p > 0, var_p, 1.0)
    return scale[..., None, None] * p @ np.swapaxes(rotation, -1, -2) + mu_g


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after Procrustes alignment (rotation, translation, scale) of every frame."""
    pred, gt = _pair(pred, gt)
    return _mean_distance(procrustes_align(pred, gt), gt)


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean distance between predicted and true joint accelerations, ``(T, J, 3)`` with
    T >= 3, as second differences x[t-1] - 2 x[t] + x[t+1] (units per frame^2)."""
    pred, gt = _pair(pred, gt)
    if pred.ndim != 3 or len(pred) < 3:
        raise ValueError(f"acceleration error needs (frames >= 3, joints, 3), got {pred.shape}")

    def accel(x: np.ndarray) -> np.ndarray:
        return x[:-2] - 2 * x[1:-1] + x[2:]

    return _mean_distance(accel(pred), accel(gt))


# ---------------------------------------------------------------------------- motion FID


def motion_windows(joints: np.ndarray, window: int = MOTION_WINDOW) -> np.ndarray:
    """Raw motion vectors of one clip ``(T, J, 3)``: one row per non-overlapping ``window``
    of frames (a trailing remainder is dropped): root-relative joints, the root's path from
    the window's first frame, and the frame-to-frame differences of both, flattened."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"joints must be (frames, joints, 3), got {joints.shape}")
    if len(joints) < window:
        raise ValueError(f"motion FID uses {window}-frame windows, the clip has {len(joints)} "
                         "frames; pass a smaller window")
    rows = []
    for start in range(0, len(joints) - window + 1, window):
        clip = joints[start:start + window]
        root = clip[:, ROOT_JOINT:ROOT_JOINT + 1]
        pose = np.concatenate([clip - root, root - root[:1]], axis=1)  # (W, J+1, 3)
        rows.append(np.concatenate([pose.ravel(), np.diff(pose, axis=0).ravel()]))
    return np.stack(rows)


class MotionFeatureSpace:
    """Standardisation and PCA fitted once on the real clips' motion windows."""

    def __init__(self, real_windows: np.ndarray, components: int = MOTION_COMPONENTS):
        if len(real_windows) < 3:
            raise ValueError(f"motion FID needs at least 3 real windows, got {len(real_windows)}")
        self.mean = real_windows.mean(axis=0)
        std = real_windows.std(axis=0)
        self.std = np.where(std > 1e-6 * max(std.max(), 1e-12), std, 1.0)  # constant coords
        z = (real_windows - self.mean) / self.std
        # Keep fewer axes than real windows so the real covariance has full rank.
        self.k = int(min(components, len(real_windows) - 1, z.shape[1]))
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        self.axes = vt[:self.k]  # (k, D)

    def transform(self, windows: np.ndarray) -> np.ndarray:
        return ((windows - self.mean) / self.std) @ self.axes.T


def motion_fid(real: list[np.ndarray], generated: list[np.ndarray],
               window: int = MOTION_WINDOW, components: int = MOTION_COMPONENTS) -> dict:
    """Frechet distance between the motion features of ``real`` and ``generated`` clips
    (lists of ``(T, 24, 3)`` joints). Returns ``value``, ``feature`` (the description to
    print with it), ``components`` and the window counts."""
    real_w = np.concatenate([motion_windows(j, window) for j in real])
    gen_w = np.concatenate([motion_windows(j, window) for j in generated])
    if real_w.shape[1] != gen_w.shape[1]:
        raise ValueError(f"real and generated joints differ in joint count "
                         f"({real_w.shape[1]} vs {gen_w.shape[1]} values per window)")
    space = MotionFeatureSpace(real_w, components)
    value = frechet_distance_features(space.transform(real_w), space.transform(gen_w))
    return {"value": value, "feature": MOTION_FEATURE.format(window=window, k=space.k),
            "components": space.k, "n_real": len(real_w), "n_generated": len(gen_w)}


def pose_metrics(real: list[np.ndarray], generated: list[np.ndarray]) -> dict[str, float]:
    """Frame-weighted means over clip pairs of MPJPE, root-aligned MPJPE, PA-MPJPE (mm) and
    acceleration error (mm/frame^2)."""
    if len(real) != len(generated) or not real:
        raise ValueError(f"pose metrics need matched clip pairs, got {len(real)} real and "
                         f"{len(generated)} generated clips")
    metrics = {"mpjpe": mpjpe, "root_mpjpe": root_aligned_mpjpe, "pa_mpjpe": pa_mpjpe,
               "accel_error": accel_error}
    frames = np.array([len(g) for g in real], dtype=np.float64)
    return {name: float(np.average([fn(p, g) for p, g in zip(generated, real)], weights=frames))
            for name, fn in metrics.items()}
