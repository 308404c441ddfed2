"""Per-video pose pass and its cache, so a rerun of the builder does not re-estimate.

``pose_video(info, backend, cuts)`` runs the backend over every frame of a video (the
backend is reset at each shot cut), decoding in batches on a background thread so decoding
overlaps estimation; frames larger than ``max_side`` are scaled down while decoding (the
FOV-55 camera of a scaled picture is the scaled camera, so the 3D joints do not change;
boxes are scaled back to the full picture). The result is saved as one npz per video and
backend under the build folder: ``save_poses`` / ``load_poses``.

The cache key is :func:`video_key` (size and the first and last MiB of the file, so a
renamed copy hits and an edited file misses) plus the backend's version string.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportanim.data.pose import Candidates, PoseBackend, PoseResult
from sportanim.io.files import write_npz
from sportanim.io.video import VideoInfo, iter_frames
from sportanim.skeleton import nlf_intrinsics, project

__all__ = ["VideoPoses", "video_key", "pose_size", "pose_video", "save_poses", "load_poses",
           "cache_path"]

CACHE_FORMAT = 1


@dataclass
class VideoPoses:
    """A whole video's pose pass: ``result`` in full-picture pixels (its intrinsics are the
    full picture's FOV-55 camera), ``times`` ``(T,)`` seconds, ``cuts`` shot cut frames."""

    result: PoseResult
    times: np.ndarray
    cuts: list[int]
    backend: str

    @property
    def frames(self) -> int:
        return len(self.times)


def video_key(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """12 hex digits from the file's size and its first and last ``chunk`` bytes."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha1(str(size).encode())
    with open(path, "rb") as file:
        digest.update(file.read(chunk))
        if size > chunk:
            file.seek(max(size - chunk, chunk))
            digest.update(file.read(chunk))
    return digest.hexdigest()[:12]


def cache_path(folder: Path, key: str, backend_version: str) -> Path:
    tag = hashlib.sha1(backend_version.encode()).hexdigest()[:8]
    return folder / f"{key}-{tag}.npz"


def pose_size(info: VideoInfo, max_side: int | None) -> tuple[int, int] | None:
    """Decode size for the pose pass: the picture scaled so its longer side is at most
    ``max_side`` (even sizes, aspect kept), or None to keep it."""
    longest = max(info.width, info.height)
    if not max_side or longest <= max_side:
        return None
    scale = max_side / longest
    return (max(2, int(round(info.width * scale / 2)) * 2),
            max(2, int(round(info.height * scale / 2)) * 2))


def pose_video(info: VideoInfo, backend: PoseBackend, cuts: list[int],
               max_side: int | None = None, batch_size: int = 32,
               advance: Callable[[int], None] = lambda n=1: None) -> VideoPoses:
    """Estimate every frame of ``info`` (see the module notes); ``advance(n)`` per batch."""
    size = pose_size(info, max_side)
    cut_set = {int(c) for c in cuts}
    parts, times = [], []
    backend.reset()
    for batch in iter_frames(info, batch_size=batch_size, size=size, prefetch=2):
        starts = [0] + [k for k in range(1, len(batch)) if int(batch.index[k]) in cut_set]
        for a, b in zip(starts, starts[1:] + [len(batch)]):
            if int(batch.index[a]) in cut_set:
                backend.reset()
            parts.append(backend.estimate(batch.frames[a:b]))
        times.append(batch.time)
        advance(len(batch))
    backend.reset()
    result = PoseResult.concatenate(parts)
    if size is not None:
        result = _to_full_picture(result, info)
    return VideoPoses(result, np.concatenate(times), sorted(cut_set), backend.version)


def _to_full_picture(result: PoseResult, info: VideoInfo) -> PoseResult:
    """Boxes and 2D joints of a scaled-down pose pass in full-picture pixels."""
    K = nlf_intrinsics(info.width, info.height)
    scale = K[0, 0] / result.intrinsics[0, 0]
    candidates = None
    if result.candidates is not None:
        candidates = [Candidates(c.joints, c.scores, c.boxes * np.float32(scale))
                      for c in result.candidates]
    return PoseResult(joints=result.joints, intrinsics=K, score=result.score,
                      boxes=(result.boxes * scale).astype(np.float32),
                      joints2d=project(result.joints, K).astype(np.float32),
                      candidates=candidates, extra={})


def save_poses(path: Path, poses: VideoPoses) -> None:
    """One npz (atomic): the main estimate, every candidate (flattened) and the cuts."""
    r = poses.result
    arrays = {"joints": r.joints, "score": r.score, "boxes": r.boxes, "intrinsics": r.intrinsics,
              "times": poses.times, "cuts": np.asarray(poses.cuts, dtype=np.int64),
              "meta": np.frombuffer(json.dumps({"format": CACHE_FORMAT,
                                                "backend": poses.backend}).encode(), np.uint8)}
    if r.candidates is not None:
        arrays["cand_count"] = np.array([len(c) for c in r.candidates], dtype=np.int64)
        arrays["cand_joints"] = np.concatenate([c.joints for c in r.candidates]).reshape(-1, 24, 3)
        arrays["cand_scores"] = np.concatenate([c.scores for c in r.candidates]).reshape(-1)
        arrays["cand_boxes"] = np.concatenate([c.boxes for c in r.candidates]).reshape(-1, 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(path, arrays)


def load_poses(path: Path, backend_version: str) -> VideoPoses | None:
    """The cached pass, or None when missing, unreadable or from another backend version."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {name: z[name] for name in z.files}
        meta = json.loads(bytes(data["meta"]).decode())
    except Exception:  # a damaged cache is just a miss
        return None
    if meta.get("format") != CACHE_FORMAT or meta.get("backend") != backend_version:
        return None
    candidates = None
    if "cand_count" in data:
        ends = np.cumsum(data["cand_count"])
        candidates = [Candidates(data["cand_joints"][e - k:e], data["cand_scores"][e - k:e],
                                 data["cand_boxes"][e - k:e])
                      for k, e in zip(data["cand_count"], ends)]
    K = data["intrinsics"]
    result = PoseResult(joints=data["joints"], intrinsics=K, score=data["score"],
                        boxes=data["boxes"], joints2d=project(data["joints"], K).astype(np.float32),
                        candidates=candidates)
    return VideoPoses(result, data["times"], [int(c) for c in data["cuts"]], backend_version)
