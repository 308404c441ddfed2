"""Motion sources for generation, and pictures of them.

``load_motion(spec)`` reads SMPL-24 joints (T, 24, 3), camera space, mm, from:
- our ``.npz``: array ``joints``; optional ``intrinsics`` (3, 3) or (T, 3, 3) and ``size``
  (width, height) of the image they belong to; ``FILE.npz#KEY`` takes array KEY instead of
  ``joints`` (e.g. a ``poses.npz`` keyed by video name);
- a ``.npy`` holding the (T, 24, 3) array alone;
- an FSJD clip id, looked up in ``fsjd_root``'s manifest (the clip's video comes along);
- an upstream MTVCrafter ``.pkl`` (``sampled_data.pkl`` format, read with the restricted
  unpickler): ``FILE.pkl#2`` picks sample 2, plain ``FILE.pkl`` the first; the camera is NLF's
  default for the sample's video size and the video is read from beside the pkl if present.

``fit_motion`` crops (or, for short clips, resamples) to the pipeline's frame count.
(Pictures of joints, ``draw_skeleton`` / ``camera_for_output``, are in ``sportanim.skeleton``.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sportanim import fsjd
from sportanim.io.joints import check_intrinsics, check_joints, read_arrays
from sportanim.skeleton import nlf_intrinsics


class LoadedMotion(NamedTuple):
    """What ``load_motion`` returns; the first three fields are the motion proper."""

    joints: np.ndarray  # float32 (T, 24, 3), camera space, mm
    intrinsics: np.ndarray | None  # (3, 3) or (T, 3, 3) for an image of ``image_size``
    source_video: np.ndarray | None  # uint8 (T', H, W, 3), the video the joints came from
    fps: float | None  # of the source, if known
    image_size: tuple[int, int] | None  # (width, height) that ``intrinsics`` belong to


def load_motion(spec: str | os.PathLike, fsjd_root: str | os.PathLike | None = None,
                max_frames: int | None = None, read_video: bool = True) -> LoadedMotion:
    """Joints (and camera, video) from a file or an FSJD clip id; see the module notes.
    ``max_frames`` limits how many frames of an upstream sample's video are decoded;
    ``read_video=False`` skips the video (``source_video`` None, ``fps`` still known for FSJD).
    Raises ValueError / FileNotFoundError with the fix in the message."""
    text = str(spec)
    path_part, _, selector = text.partition("#")
    path = Path(path_part)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy", ".pkl"):
        if not path.is_file():
            raise FileNotFoundError(f"motion file not found: {path}")
        if suffix == ".pkl":
            return _load_pkl(path, selector, max_frames, read_video)
        return _load_array(path, selector)
    if selector:
        raise ValueError(f"motion {text!r}: '#' selects a sample of a .pkl or an array of a .npz only")
    if fsjd_root is None:
        raise ValueError(f"motion {text!r} is not a .npz, .npy or .pkl file; for an FSJD clip id pass the "
                         "dataset folder (--data DIR)")
    return _load_fsjd(Path(fsjd_root), text, read_video)


def _checked_joints(joints: np.ndarray, where: str) -> np.ndarray:
    if not len(joints):
        raise ValueError(f"{where}: the motion has no frames")
    return check_joints(joints, where, dtype=np.float32)


def _checked_camera(intrinsics: np.ndarray, frames: int, size, where: str):
    """(intrinsics, (width, height)): a pinhole camera with positive focal lengths; without a
    stored ``size`` the image is the one centred on the principal point."""
    intrinsics = check_intrinsics(intrinsics, where, frames)
    k = np.asarray(intrinsics, dtype=np.float64).reshape(-1, 3, 3)
    if not ((k[:, 0, 0] > 0).all() and (k[:, 1, 1] > 0).all()):
        raise ValueError(f"{where}: intrinsics need positive focal lengths (fx, fy); got zeros or negatives")
    if size is not None:
        return intrinsics, tuple(int(v) for v in size)
    if not ((k[0, 0, 2] > 0) and (k[0, 1, 2] > 0)):
        raise ValueError(f"{where}: without a 'size' array the image size comes from the principal point, "
                         "which must be positive; store 'size' (width, height)")
    return intrinsics, (round(2 * k[0, 0, 2]), round(2 * k[0, 1, 2]))


def _load_array(path: Path, key: str) -> LoadedMotion:
    if path.suffix.lower() == ".npy":
        if key:
            raise ValueError(f"{path}: a .npy holds one array; drop '#{key}'")
        try:
            joints = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable .npy array of joints ({err})") from None
        return LoadedMotion(_checked_joints(joints, str(path)), None, None, None, None)
    arrays = read_arrays(path)
    key = key or "joints"
    if key not in arrays:
        raise ValueError(f"{path}: no array {key!r}; it holds {sorted(arrays)} (pick one with {path.name}#NAME)")
    joints = _checked_joints(arrays[key], f"{path}#{key}")
    if "intrinsics" not in arrays:
        return LoadedMotion(joints, None, None, None, None)
    intrinsics, size = _checked_camera(arrays["intrinsics"], len(joints), arrays.get("size"), str(path))
    return LoadedMotion(joints, intrinsics, None, None, size)


def _load_fsjd(root: Path, clip_id: str, read_video: bool) -> LoadedMotion:
    if not (root / fsjd.MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"{root} is not an FSJD folder (no {fsjd.MANIFEST_NAME})")
    record = next((r for r in fsjd.read_manifest(root) if r.id == clip_id), None)
    if record is None:
        raise ValueError(f"clip {clip_id!r} is not in {root / fsjd.MANIFEST_NAME} (and is not a .npz/.npy/.pkl file)")
    if read_video:
        clip = fsjd.load_clip(root, record)
    else:
        arrays = read_arrays(root / record.joints, ["joints", "intrinsics"], f"clip {clip_id}")
        clip = {**arrays, "frames": None}
    joints = _checked_joints(clip["joints"], f"{root}: clip {clip_id}")
    return LoadedMotion(joints, clip["intrinsics"], clip["frames"], record.fps, tuple(record.size))


def _load_pkl(path: Path, selector: str, max_frames: int | None, read_video: bool) -> LoadedMotion:
    from sportanim.data.upstream import load_upstream_pkl, scaled_intrinsics
    from sportanim.io.video import read_frames

    samples = load_upstream_pkl(path)
    if selector and not selector.isdigit():
        raise ValueError(f"{path}#{selector}: the sample index must be a number, e.g. {path.name}#0")
    index = int(selector or 0)
    if index >= len(samples):
        raise ValueError(f"{path}#{index}: the file holds {len(samples)} samples (0..{len(samples) - 1})")
    sample = samples[index]
    joints = _checked_joints(sample["pose"], f"{path}#{index}")
    size = (sample["video_width"], sample["video_height"])
    intrinsics = nlf_intrinsics(*size)  # NLF's default camera on the frames it ran on
    video_path = Path(sample["video_path"])
    video_path = video_path if video_path.is_absolute() else path.parent / video_path
    if not (read_video and video_path.is_file()):
        return LoadedMotion(joints, intrinsics, None, None, size)
    frames, fps, _ = read_frames(video_path, limit=max_frames)
    decoded = (frames.shape[2], frames.shape[1])
    if decoded != size:  # the pkl's size is what NLF saw; map its camera to the decoded frames
        intrinsics, size = scaled_intrinsics(intrinsics, size, decoded), decoded
    return LoadedMotion(joints, intrinsics, frames, fps, size)


# --------------------------------------------------------------------------- lengths and stats


def fit_motion(joints: np.ndarray, num_frames: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Joints (T, 24, 3) -> (joints (num_frames, 24, 3), source frame index per output frame).

    T >= start + num_frames: the window ``start .. start + num_frames - 1`` (upstream samples
    49 consecutive frames, stride 1). Shorter clips (only with start 0) are resampled in time
    by linear interpolation; the indices are then the nearest source frames."""
    total = len(joints)
    if start < 0 or (start and start + num_frames > total):
        raise ValueError(f"--start {start}: the motion has {total} frames, {num_frames} are needed from the start")
    if total >= num_frames:
        index = np.arange(start, start + num_frames)
        return np.asarray(joints[index], dtype=np.float32), index
    pos = np.linspace(0.0, total - 1.0, num_frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, total - 1)
    w = (pos - lo)[:, None, None]
    out = (1.0 - w) * joints[lo] + w * joints[hi]
    return out.astype(np.float32), np.rint(pos).astype(int)


def motion_stats(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint mean and std (24, 3) over the frames of one clip, std at least 1 mm: a
    stand-in normalisation for untrained weights only (trained ones carry theirs)."""
    joints = np.asarray(joints, dtype=np.float64)
    return joints.mean(axis=0), np.maximum(joints.std(axis=0), 1.0)
