"""Training windows with their video: what the MV-DiT learns from.

``ClipsDataset`` is ``JointsDataset`` (normalised joint windows) plus, per window, where its
frames are: the clip's mp4 and the window's first frame. Frames are decoded only when asked
(``video``), since the VAE posteriors computed from them are cached (``latent_cache``); each
window carries a content key (hash of the mp4 bytes, first frame, length, size) so that a
cache never serves the latents of a clip that was re-created since.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from sportanim.io.video import VideoError, probe_video, read_video
from sportanim.train.data import DataError, JointsDataset, JointStats


class ClipsDataset(JointsDataset):
    """Joint windows (``batch`` -> ``joints``, ``index``) and their video frames."""

    def __init__(self, root: str | Path, frames: int, stats: JointStats, split: str = "train", stride: int = 0,
                 size: tuple[int, int] | None = None, quality: str = "passed"):
        super().__init__(root, frames, stats, split, stride, quality)
        self._file_keys: dict[str, str] = {}
        for record, _ in self.sources:
            if record.id not in self._file_keys:
                self._file_keys[record.id] = self._check_video(record)
        first = self.sources[0][0]
        # (height, width) every window is brought to: the pipeline's, else the first clip's
        self.size = tuple(size) if size else (int(first.size[1]), int(first.size[0]))

    def _check_video(self, record) -> str:
        """The clip's mp4 content hash, after checking it exists and has the joints' frames."""
        path = self.root / record.video
        where = f"clip {record.id} ({path})"
        try:
            facts = probe_video(path)
        except (OSError, VideoError) as err:
            raise DataError(f"{where}: video unreadable ({err}); the diffusion strategies train on the clips' "
                            "videos, re-create the clip") from None
        if facts["frames"] and facts["frames"] != record.frames:
            raise DataError(f"{where}: the video has {facts['frames']} frames but the joints {record.frames}; "
                            "re-create the clip")
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"joints": self.samples[indices], "index": indices.clone()}

    def video_key(self, index: int) -> str:
        """Content key of window ``index``'s frames at the training size."""
        record, start = self.sources[index]
        h, w = self.size
        return f"{self._file_keys[record.id]}-{start}-{self.frames}-{h}x{w}"

    def motion_key(self, index: int) -> str:
        """Content key of window ``index``'s normalised joints."""
        return hashlib.sha256(self.samples[index].numpy().tobytes()).hexdigest()[:20]

    def video(self, index: int) -> np.ndarray:
        """Window ``index``'s frames, uint8 (T, H, W, 3) at ``size`` (resized to cover and
        centre-cropped, as the pipeline prepares its images)."""
        from sportanim.models.pipeline import resize_cover

        record, start = self.sources[index]
        path = self.root / record.video
        try:
            frames, _ = read_video(path)
        except (OSError, VideoError) as err:
            raise DataError(f"clip {record.id} ({path}): video unreadable ({err})") from None
        window = frames[start:start + self.frames]
        if len(window) != self.frames:
            raise DataError(f"clip {record.id} ({path}): the video has {len(frames)} frames, the window "
                            f"needs {start + self.frames}")
        h, w = self.size
        if window.shape[1:3] != (h, w):
            window = np.stack([resize_cover(f, w, h) for f in window])
        return window
