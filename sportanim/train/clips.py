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

from sportanim.io.files import FormatError
from sportanim.io.joints import read_arrays
from sportanim.io.video import VideoError, probe_video, read_video
from sportanim.train.data import DataError, JointsDataset, JointStats


class ClipsDataset(JointsDataset):
    """Joint windows (``batch`` -> ``joints``, ``index``) and their video frames."""

    def __init__(self, root: str | Path, frames: int, stats: JointStats, split: str = "train", stride: int = 0,
                 size: tuple[int, int] | None = None, quality: str = "passed"):
        super().__init__(root, frames, stats, split, stride, quality)
        self._file_keys: dict[str, str] = {}
        self._npz_keys: dict[str, str] = {}
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

    def athlete_references(self, index: int) -> np.ndarray:
        """Window ``index``'s clip's pictures of its athlete elsewhere in the scene (npz
        ``references``, ``sportanim.synth.references``), uint8 (K, H, W, 3) at ``size``."""
        record, _ = self.sources[index]
        try:
            images = read_arrays(self.root / record.joints, ["references"], where=f"clip {record.id}")["references"]
        except FormatError as err:
            raise DataError(f"{err}; diffusion.reference_frame=athlete needs the clips' athlete pictures: "
                            "make the data with `sportanim synth --references K`") from None
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or not len(images):
            raise DataError(f"clip {record.id}: references must be uint8 (K, H, W, 3), got {images.dtype} "
                            f"{images.shape}")
        h, w = self.size
        if images.shape[1:3] != (h, w):
            from sportanim.models.pipeline import resize_cover

            images = np.stack([resize_cover(f, w, h) for f in images])
        return images

    def reference_key(self, index: int, k: int) -> str:
        """Content key of athlete picture ``k`` of window ``index``'s clip at the training size."""
        record, _ = self.sources[index]
        if record.id not in self._npz_keys:
            self._npz_keys[record.id] = hashlib.sha256((self.root / record.joints).read_bytes()).hexdigest()[:16]
        h, w = self.size
        return f"{self._npz_keys[record.id]}-athlete{k}-{h}x{w}"

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
