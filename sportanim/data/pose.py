"""Pose backends: video frames -> SMPL-24 joints in camera space (mm), behind one interface.

``PoseBackend`` (a Protocol): ``name``, ``version``, ``estimate(frames) -> PoseResult`` and
``reset()`` (forget tracking state; call it at every shot cut and new video).

- ``MediapipeBackend``: MediaPipe Pose (BlazePose GHUM, ``mediapipe==0.10.14``), CPU,
  offline. That release ships the person detector (``pose_detection.tflite``) and the
  ``full`` landmark model (``pose_landmark_full.tflite``, ``model_complexity=1``) inside the
  wheel; later releases and the other complexities (0 = lite, 2 = heavy) download their
  models on first use, which fails offline, so only complexity 1 is accepted unless its
  file is present. The legacy ``mp.solutions.pose.Pose`` graph is used (the Tasks API
  needs a ``.task`` bundle that the wheel does not ship). It tracks one person: the first
  detection, then the landmarks' own region of interest from frame to frame.
  Its 33 landmarks are mapped to SMPL-24 (:func:`mediapipe_to_smpl24`) and lifted to
  camera space (:func:`fit_translation`).
- ``NLFBackend(model_path)``: NLF's TorchScript model (e.g. ``nlf_l_multi.torchscript``
  from NLF's releases, non-commercial licence) through its ``detect_smpl_batched``,
  batched, on CUDA when present. Returns every detected person per frame as candidates
  (the main athlete is chosen by :mod:`sportanim.data.track`).

Camera: both use NLF's default pinhole camera of the frames they see,
``nlf_intrinsics(W, H)`` (55 degrees across the larger side, centred principal point).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from sportanim.devices import check_device
from sportanim.skeleton import NUM_JOINTS, nlf_intrinsics, project

__all__ = ["PoseResult", "Candidates", "PoseBackend", "PoseBackendError", "MediapipeBackend",
           "NLFBackend", "make_backend", "mediapipe_to_smpl24", "fit_translation",
           "MEDIAPIPE_NAMES", "MAPPING_PARAMS", "boxes_from_points", "check_frames",
           "lift_landmarks", "select_best"]


class PoseBackendError(RuntimeError):
    """A pose backend that cannot run: missing package, missing or wrong model file."""


# --------------------------------------------------------------------------- results


@dataclass
class Candidates:
    """Every person a backend found in one frame: ``joints`` ``(k, 24, 3)`` mm camera space,
    ``scores`` ``(k,)``, ``boxes`` ``(k, 4)`` as ``x0, y0, x1, y1`` pixels."""

    joints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class PoseResult:
    """Per-frame estimates of one person (the backend's best; see ``candidates``).

    ``joints`` float32 ``(N, 24, 3)`` SMPL-24, camera space, mm, NaN where no person;
    ``intrinsics`` ``(3, 3)`` of the frames' camera; ``score`` ``(N,)`` in [0, 1] (0 where
    no person); ``boxes`` ``(N, 4)`` ``x0, y0, x1, y1`` pixels (NaN where no person);
    ``joints2d`` ``(N, 24, 2)`` pixels, the projection of ``joints``. ``candidates`` lists
    every detection per frame for multi-person backends (None for single-person ones).
    ``extra`` holds backend-specific arrays (MediaPipe: its 33 landmarks)."""

    joints: np.ndarray
    intrinsics: np.ndarray
    score: np.ndarray
    boxes: np.ndarray
    joints2d: np.ndarray
    candidates: list[Candidates] | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.joints)

    @property
    def found(self) -> np.ndarray:
        """bool ``(N,)``: frames with a person."""
        return np.isfinite(self.joints).all(axis=(1, 2))

    @staticmethod
    def concatenate(results: list["PoseResult"]) -> "PoseResult":
        """Join consecutive results of frames of one size."""
        if not results:
            raise ValueError("nothing to concatenate")
        candidates = None
        if all(r.candidates is not None for r in results):
            candidates = [c for r in results for c in r.candidates]
        keys = set.intersection(*(set(r.extra) for r in results))
        return PoseResult(
            joints=np.concatenate([r.joints for r in results]),
            intrinsics=results[0].intrinsics,
            score=np.concatenate([r.score for r in results]),
            boxes=np.concatenate([r.boxes for r in results]),
            joints2d=np.concatenate([r.joints2d for r in results]),
            candidates=candidates,
            extra={k: np.concatenate([r.extra[k] for r in results]) for k in sorted(keys)})


@runtime_checkable
class PoseBackend(Protocol):
    """What the dataset builder needs from a pose estimator."""

    name: str

    @property
    def version(self) -> str: ...

    def estimate(self, frames: np.ndarray) -> PoseResult:
        """uint8 RGB ``(N, H, W, 3)`` consecutive frames of one shot -> :class:`PoseResult`."""
        ...

    def reset(self) -> None:
        """Forget any state carried from frame to frame (call at cuts and new videos)."""
        ...


def check_frames(frames: np.ndarray) -> np.ndarray:
    """``frames`` as a C-contiguous uint8 ``(N, H, W, 3)`` array, else ``ValueError``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 RGB (N, H, W, 3), got {frames.dtype} {frames.shape}")
    return np.ascontiguousarray(frames)


def boxes_from_points(points: np.ndarray) -> np.ndarray:
    """Tight boxes ``(..., 4)`` (x0, y0, x1, y1) around finite 2D points ``(..., J, 2)``;
    NaN where a set has no finite point."""
    p = np.asarray(points, dtype=np.float64)
    ok = np.isfinite(p).all(axis=-1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        lo = np.nanmin(np.where(ok, p, np.nan), axis=-2)
        hi = np.nanmax(np.where(ok, p, np.nan), axis=-2)
    return np.concatenate([lo, hi], axis=-1)


# ------------------------------------------------------------- MediaPipe 33 -> SMPL-24

MEDIAPIPE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
_MP = {name: i for i, name in enumerate(MEDIAPIPE_NAMES)}

# Placement of the SMPL joints that MediaPipe lacks, as fractions of body segments (so any
# unit and any body size). Torso and head values were fitted by least squares (one set for
# the three videos, root-aligned after lifting) to NLF's joints on the shared MTVCrafter
# dance videos (605 frames); leave-one-video-out fits agree within 0.05 for each, and
# evaluated on the held-out video they lower the root-aligned MPJPE of dance_00001 /
# dance_16 / dance_17 from 161 / 111 / 104 mm (first guesses: pelvis at mid-hips, hips at
# BlazePose's, spine at 0.22 / 0.45 / 0.55) to 132 / 73 / 82 mm (these values, in-sample:
# 133 / 71 / 77 mm, benchmarks/data.py). The hand and foot values could not be fitted
# stably (fold-to-fold spread > 0.5, < 2 mm MPJPE effect): they are anatomical guesses.
MAPPING_PARAMS: dict[str, float] = {
    "pelvis_up": 0.14,   # pelvis = mid-hips + 0.14 torso (torso = mid-shoulders - mid-hips)
    "hip_in": 0.49,      # SMPL hip = mid-hips + 0.49 (MediaPipe hip - mid-hips) - 0.03 torso:
    "hip_down": 0.03,    #   BlazePose's hips are at the outer hip, SMPL's at the femoral heads
    "spine1": 0.34,      # spine1/2/3 = mid-hips + f torso
    "spine2": 0.59,
    "spine3": 0.68,
    "neck": -0.16,       # neck = mid-shoulders + f (mid-ears - mid-shoulders): BlazePose's
    "head": 0.55,        #   shoulders sit on top of the joint, SMPL's neck at their level
    "collar": 0.43,      # collar = neck + 0.43 (shoulder - neck)
    "hand": 0.5,         # hand = wrist + 0.5 (mean(index, pinky) knuckles - wrist): mid-palm
    "foot": 1.0,         # foot = heel + 1.0 (foot_index - heel): the foot_index landmark
}
# SMPL joints copied from one landmark: same anatomical point (up to each model's habits).
_DIRECT = (("left_knee", "left_knee"), ("right_knee", "right_knee"),
           ("left_ankle", "left_ankle"), ("right_ankle", "right_ankle"),
           ("left_shoulder", "left_shoulder"), ("right_shoulder", "right_shoulder"),
           ("left_elbow", "left_elbow"), ("right_elbow", "right_elbow"),
           ("left_wrist", "left_wrist"), ("right_wrist", "right_wrist"))


def mediapipe_to_smpl24(landmarks: np.ndarray, params: dict[str, float] | None = None) -> np.ndarray:
    """MediaPipe Pose's 33 landmarks ``(..., 33, 3)`` -> SMPL-24 joints ``(..., 24, 3)``.

    Unit-agnostic, NaN in gives NaN out. Left/right are the person's own in both skeletons.
    Direct copies: knees, ankles, shoulders, elbows, wrists. The rest (``MAPPING_PARAMS``):
    pelvis above the hips' midpoint; SMPL hips halfway between the hips' midpoint and
    BlazePose's (outer) hips; spine1/2/3 interpolated from mid-hips to mid-shoulders; neck
    and head on the line from mid-shoulders to mid-ears; collars between neck and shoulders;
    hands between the wrist and the index/pinky knuckles; feet at foot_index.
    """
    from sportanim.skeleton import JOINT_INDEX

    x = np.asarray(landmarks)
    if x.shape[-2:] != (33, 3):
        raise ValueError(f"expected MediaPipe landmarks (..., 33, 3), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    p = {**MAPPING_PARAMS, **(params or {})}
    g = {name: x[..., i, :] for name, i in _MP.items()}
    mid_hip = 0.5 * (g["left_hip"] + g["right_hip"])
    mid_shoulder = 0.5 * (g["left_shoulder"] + g["right_shoulder"])
    mid_ear = 0.5 * (g["left_ear"] + g["right_ear"])
    torso = mid_shoulder - mid_hip
    out = np.empty(x.shape[:-2] + (NUM_JOINTS, 3), dtype=x.dtype)
    j = JOINT_INDEX
    for smpl, mp_name in _DIRECT:
        out[..., j[smpl], :] = g[mp_name]
    out[..., j["pelvis"], :] = mid_hip + p["pelvis_up"] * torso
    for side in ("left", "right"):
        out[..., j[f"{side}_hip"], :] = (mid_hip + p["hip_in"] * (g[f"{side}_hip"] - mid_hip)
                                         - p["hip_down"] * torso)
    for name in ("spine1", "spine2", "spine3"):
        out[..., j[name], :] = mid_hip + p[name] * torso
    neck = mid_shoulder + p["neck"] * (mid_ear - mid_shoulder)
    out[..., j["neck"], :] = neck
    out[..., j["head"], :] = mid_shoulder + p["head"] * (mid_ear - mid_shoulder)
    for side in ("left", "right"):
        out[..., j[f"{side}_collar"], :] = neck + p["collar"] * (g[f"{side}_shoulder"] - neck)
        knuckles = 0.5 * (g[f"{side}_index"] + g[f"{side}_pinky"])
        out[..., j[f"{side}_hand"], :] = g[f"{side}_wrist"] + p["hand"] * (knuckles - g[f"{side}_wrist"])
        out[..., j[f"{side}_foot"], :] = g[f"{side}_heel"] + p["foot"] * (
            g[f"{side}_foot_index"] - g[f"{side}_heel"])
    return out


# -------------------------------------------------------------------------- lifting


def fit_translation(points: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray,
                    weights: np.ndarray | None = None, iterations: int = 2,
                    min_depth: float = 100.0) -> np.ndarray:
    """Translation ``t`` per frame so that ``project(points + t, K)`` best matches ``pixels``.

    ``points`` ``(N, J, 3)`` root-relative 3D (camera-aligned axes: x right, y down, z
    forward; MediaPipe's world landmarks are) in any unit, ``pixels`` ``(N, J, 2)``,
    ``weights`` ``(N, J)`` (e.g. visibilities; NaN points get weight 0). Each point gives two
    equations linear in ``t``: ``fx (X + tx) - (u - cx)(Z + tz) = 0`` (same for y); they are
    solved by weighted least squares, then re-solved ``iterations`` times with each
    equation divided by the point's depth from the last solution, which turns the algebraic
    error into the pixel error. Returns ``(N, 3)`` in the points' unit; NaN rows for frames
    with fewer than 2 usable points. The depth is kept >= ``min_depth`` in the reweighting.
    """
    X = np.asarray(points, dtype=np.float64)
    uv = np.asarray(pixels, dtype=np.float64)
    K = np.asarray(intrinsics, dtype=np.float64)
    if X.ndim != 3 or X.shape[-1] != 3 or uv.shape != X.shape[:-1] + (2,):
        raise ValueError(f"need points (N, J, 3) and pixels (N, J, 2), got {X.shape}, {uv.shape}")
    w = np.ones(X.shape[:2]) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    usable = np.isfinite(X).all(-1) & np.isfinite(uv).all(-1) & np.isfinite(w) & (w > 0)
    w = np.where(usable, w, 0.0)
    X = np.where(usable[..., None], X, 0.0)
    uv = np.where(usable[..., None], uv, 0.0)
    fx, fy, cx, cy, skew = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    du, dv = uv[..., 0] - cx, uv[..., 1] - cy
    n, j = X.shape[:2]
    # rows: [fx, skew, -du] . t = du Z - fx X - skew Y ;  [0, fy, -dv] . t = dv Z - fy Y
    A = np.zeros((n, j, 2, 3))
    A[..., 0, 0], A[..., 0, 1], A[..., 0, 2] = fx, skew, -du
    A[..., 1, 1], A[..., 1, 2] = fy, -dv
    b = np.stack([du * X[..., 2] - fx * X[..., 0] - skew * X[..., 1],
                  dv * X[..., 2] - fy * X[..., 1]], axis=-1)
    ok = usable.sum(axis=1) >= 2
    t = np.full((n, 3), np.nan)
    scale = w
    for step in range(iterations + 1):
        sw = scale[..., None]  # (n, j, 1) weights each point's two rows
        AtA = np.einsum("njrk,njr,njrl->nkl", A, np.broadcast_to(sw, (n, j, 2)), A)
        Atb = np.einsum("njrk,njr,njr->nk", A, np.broadcast_to(sw, (n, j, 2)), b)
        good = ok & (np.abs(np.linalg.det(AtA)) > 1e-12)
        t[good] = np.linalg.solve(AtA[good], Atb[good][..., None])[..., 0]
        if step < iterations:
            depth = np.maximum(X[..., 2] + np.nan_to_num(t[:, None, 2], nan=1.0), min_depth)
            scale = w / depth ** 2  # squared residual / depth^2 = squared pixel error / f^2
    t[~ok] = np.nan
    return t


# ------------------------------------------------------------------------- MediaPipe


def _mediapipe():
    """Import mediapipe quietly, or raise ``PoseBackendError`` with the install line."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe as mp
            from mediapipe.python.solutions import pose as mp_pose
    except ImportError as error:
        raise PoseBackendError(
            f"the mediapipe pose backend needs mediapipe ({error}); install it with "
            "pip install mediapipe==0.10.14 (the last release whose wheel ships its pose "
            "models, so it works offline), or use --pose-backend nlf") from None
    return mp, mp_pose


_COMPLEXITY_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite",
                     2: "pose_landmark_heavy.tflite"}


class MediapipeBackend:
    """MediaPipe Pose on the CPU, one person, tracked from frame to frame.

    ``estimate`` runs the frames in order through one graph (tracking and, with ``smooth``,
    MediaPipe's landmark filter carry across calls until :meth:`reset`). Per frame: the 33
    world landmarks (metres, hip-centred, camera-aligned axes) become mm, their root
    translation is fitted to the 33 image landmarks (weights = visibility, floored at 0.05)
    with NLF's camera of the frame size, and they are mapped to SMPL-24. ``score`` = mean
    visibility of the 33 landmarks; ``boxes`` = tight box of the 33 image landmarks.
    ``extra``: ``landmarks2d`` ``(N, 33, 2)`` px, ``landmarks3d`` ``(N, 33, 3)`` mm camera
    space, ``visibility`` ``(N, 33)``.

    Confidences default to 0.3 (MediaPipe's own default is 0.5): on the shared practice-rink
    double-axel video, 0.5 lost the skater for the whole flight (frames 64-78) and found
    them again only after landing; 0.3 re-detects after 4 frames.
    """

    name = "mediapipe"

    def __init__(self, model_complexity: int = 1, smooth: bool = True,
                 min_detection_confidence: float = 0.3, min_tracking_confidence: float = 0.3,
                 static_image_mode: bool = False, fov_degrees: float = 55.0) -> None:
        mp, mp_pose = _mediapipe()
        if model_complexity not in _COMPLEXITY_FILES:
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        model_file = (Path(mp.__file__).parent / "modules" / "pose_landmark"
                      / _COMPLEXITY_FILES[model_complexity])
        if not model_file.is_file():
            raise PoseBackendError(
                f"MediaPipe's {model_file.name} is not installed (mediapipe {mp.__version__} "
                "downloads it on first use, which needs the internet); use model_complexity=1, "
                "whose model ships in the mediapipe==0.10.14 wheel")
        self._mp, self._mp_pose = mp, mp_pose
        self._options = dict(static_image_mode=static_image_mode,
                             model_complexity=model_complexity, smooth_landmarks=smooth,
                             enable_segmentation=False,
                             min_detection_confidence=min_detection_confidence,
                             min_tracking_confidence=min_tracking_confidence)
        self.fov_degrees = fov_degrees
        self._graph = None

    @property
    def version(self) -> str:
        c = self._options["model_complexity"]
        return (f"mediapipe-{self._mp.__version__}:{_COMPLEXITY_FILES[c].removesuffix('.tflite')}"
                f":smooth={int(self._options['smooth_landmarks'])}")

    def _pose(self):
        if self._graph is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._graph = self._mp_pose.Pose(**self._options)
        return self._graph

    def reset(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    close = reset

    def __enter__(self) -> "MediapipeBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def estimate(self, frames: np.ndarray) -> PoseResult:
        frames = check_frames(frames)
        n, h, w, _ = frames.shape
        world = np.full((n, 33, 3), np.nan)
        image = np.full((n, 33, 2), np.nan)
        vis = np.zeros((n, 33))
        pose = self._pose()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protobuf deprecation noise inside mediapipe
            for i in range(n):
                result = pose.process(frames[i])
                if result.pose_landmarks is None or result.pose_world_landmarks is None:
                    continue
                lm = result.pose_landmarks.landmark
                wl = result.pose_world_landmarks.landmark
                image[i] = [(p.x * w, p.y * h) for p in lm]
                world[i] = [(p.x, p.y, p.z) for p in wl]
                vis[i] = [p.visibility for p in lm]
        return self.lift(world * 1000.0, image, vis, (w, h))

    def lift(self, world_mm: np.ndarray, image_px: np.ndarray, visibility: np.ndarray,
             size: tuple[int, int]) -> PoseResult:
        """Landmarks -> :class:`PoseResult` (public so recorded landmarks can be re-lifted)."""
        K = nlf_intrinsics(size[0], size[1], self.fov_degrees)
        return lift_landmarks(world_mm, image_px, visibility, K)


def lift_landmarks(world_mm: np.ndarray, image_px: np.ndarray, visibility: np.ndarray,
                   intrinsics: np.ndarray) -> PoseResult:
    """MediaPipe world landmarks ``(N, 33, 3)`` mm + image landmarks ``(N, 33, 2)`` px +
    visibility ``(N, 33)`` -> :class:`PoseResult` in camera space (see MediapipeBackend)."""
    world_mm = np.asarray(world_mm, dtype=np.float64)
    found = np.isfinite(world_mm).all(axis=(1, 2)) & np.isfinite(image_px).all(axis=(1, 2))
    t = fit_translation(world_mm, image_px, intrinsics, np.clip(visibility, 0.05, 1.0))
    found &= np.isfinite(t).all(axis=1) & (t[:, 2] > 0)
    cam = world_mm + t[:, None, :]
    cam[~found] = np.nan
    joints = mediapipe_to_smpl24(cam).astype(np.float32)
    score = np.where(found, np.asarray(visibility, dtype=np.float64).mean(axis=1), 0.0)
    boxes = boxes_from_points(np.where(found[:, None, None], image_px, np.nan))
    return PoseResult(joints=joints, intrinsics=np.asarray(intrinsics, dtype=np.float64),
                      score=score.astype(np.float32), boxes=boxes.astype(np.float32),
                      joints2d=project(joints, intrinsics).astype(np.float32),
                      extra={"landmarks2d": np.asarray(image_px, np.float32),
                             "landmarks3d": cam.astype(np.float32),
                             "visibility": np.asarray(visibility, np.float32)})


# ------------------------------------------------------------------------------- NLF


class NLFBackend:
    """NLF (Neural Localizer Fields) from its TorchScript release file.

    ``model.detect_smpl_batched(images uint8 (B, 3, H, W), default_fov_degrees=55,
    detector_threshold=..., num_aug=..., internal_batch_size=..., max_detections=...)``
    returns a dict of per-image lists; per person: ``boxes`` ``(k, 5)`` = x, y, w, h,
    confidence; ``joints3d`` (SMPL fit) and ``joints3d_nonparam`` (the network's direct
    joints, what MTVCrafter's data uses) ``(k, 24, 3)`` mm in the camera of the default FOV.
    Frames go to the model in batches of ``batch_size`` on ``device`` (CUDA when available).
    Note: MTVCrafter's own script fed OpenCV's BGR frames; these frames are RGB, as NLF
    expects.
    """

    name = "nlf"

    def __init__(self, model_path: str | os.PathLike, device: str | None = None,
                 batch_size: int = 16, detector_threshold: float = 0.3, num_aug: int = 1,
                 max_detections: int = 8, joints_key: str = "joints3d_nonparam",
                 fov_degrees: float = 55.0) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise PoseBackendError(
                f"NLF model not found: {path}; download a TorchScript model (e.g. "
                "nlf_l_multi.torchscript) from NLF's GitHub releases (isarandi/nlf, "
                "non-commercial licence) and pass its path, or use --pose-backend mediapipe")
        if joints_key not in ("joints3d_nonparam", "joints3d"):
            raise ValueError(f"joints_key must be joints3d_nonparam or joints3d, got {joints_key!r}")
        import torch

        self._torch = torch
        self.device = torch.device(check_device(device or "auto"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit in torch 2.13
                self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as error:
            raise PoseBackendError(f"cannot load {path} as TorchScript: "
                                   f"{str(error).splitlines()[0]}; pass NLF's .torchscript "
                                   "file (not a checkpoint or a TensorFlow SavedModel)") from None
        if not hasattr(self.model, "detect_smpl_batched"):
            raise PoseBackendError(f"{path} has no detect_smpl_batched method; it is not an NLF "
                                   "multi-person TorchScript model (use nlf_l_multi / nlf_s_multi)")
        self.path, self.batch_size = path, int(batch_size)
        self.options = dict(default_fov_degrees=float(fov_degrees),
                            detector_threshold=float(detector_threshold), num_aug=int(num_aug),
                            max_detections=int(max_detections))
        self.joints_key, self.fov_degrees = joints_key, fov_degrees

    @property
    def version(self) -> str:
        return f"nlf:{self.path.name}:{self.path.stat().st_size}:{self.joints_key}"

    def reset(self) -> None:
        """NLF works frame by frame: nothing to forget."""

    def estimate(self, frames: np.ndarray) -> PoseResult:
        frames = check_frames(frames)
        n, h, w, _ = frames.shape
        torch = self._torch
        candidates: list[Candidates] = []
        for start in range(0, n, self.batch_size):
            chunk = torch.from_numpy(frames[start:start + self.batch_size]).to(self.device)
            images = chunk.permute(0, 3, 1, 2).contiguous()
            with torch.inference_mode():
                pred = self.model.detect_smpl_batched(
                    images, internal_batch_size=max(self.batch_size, 1), **self.options)
            for b in range(len(images)):
                candidates.append(_nlf_candidates(pred, b, self.joints_key))
        return select_best(candidates, nlf_intrinsics(w, h, self.fov_degrees))


def _nlf_candidates(pred: dict, b: int, key: str) -> Candidates:
    """Image ``b``'s detections from NLF's output dict."""
    def arr(value):
        return value.detach().float().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)

    joints = arr(pred[key][b]).reshape(-1, NUM_JOINTS, 3)
    raw = arr(pred["boxes"][b]).reshape(-1, 5) if "boxes" in pred else np.zeros((len(joints), 5))
    boxes = np.concatenate([raw[:, :2], raw[:, :2] + raw[:, 2:4]], axis=1)
    return Candidates(joints.astype(np.float32), raw[:, 4].astype(np.float32),
                      boxes.astype(np.float32))


def select_best(candidates: list[Candidates], intrinsics: np.ndarray) -> PoseResult:
    """A :class:`PoseResult` whose main person per frame is the highest-scoring candidate
    (``sportanim.data.track`` re-chooses with continuity); candidates are kept."""
    n = len(candidates)
    joints = np.full((n, NUM_JOINTS, 3), np.nan, dtype=np.float32)
    score = np.zeros(n, dtype=np.float32)
    boxes = np.full((n, 4), np.nan, dtype=np.float32)
    for i, c in enumerate(candidates):
        if len(c):
            k = int(np.argmax(c.scores))
            joints[i], score[i], boxes[i] = c.joints[k], c.scores[k], c.boxes[k]
    return PoseResult(joints=joints, intrinsics=np.asarray(intrinsics, dtype=np.float64),
                      score=score, boxes=boxes,
                      joints2d=project(joints, intrinsics).astype(np.float32),
                      candidates=candidates)


# ---------------------------------------------------------------------------- factory


def make_backend(name: str, model_path: str | os.PathLike | None = None,
                 device: str | None = None, **options) -> PoseBackend:
    """``"mediapipe"`` or ``"nlf"`` (needs ``model_path``) -> a backend."""
    if name == "mediapipe":
        return MediapipeBackend(**options)
    if name == "nlf":
        if model_path is None:
            raise PoseBackendError("--pose-backend nlf needs the model file: pass --nlf-model "
                                   "PATH to NLF's .torchscript file")
        return NLFBackend(model_path, device=device, **options)
    raise ValueError(f"unknown pose backend {name!r}; use mediapipe or nlf")

