"""2D keypoint detectors for motion-fidelity and appearance metrics: video frames -> the
24 SMPL joints in pixels, with a confidence per joint.

- ``HeatmapDetector``: a small CNN for the synthetic world, trained on the exact projected
  joints of rendered clips (:mod:`sportanim.eval.keypoint_training`); the trained one ships
  in ``sportanim/weights/keypoints/`` (:func:`load_keypoint_detector`). Frames of any size
  are resized to ``input_size`` (64) square; the network predicts one heatmap per joint at
  half that resolution; a joint sits at the heatmap's peak, refined to sub-cell precision
  by a parabola through the log values of the peak and its neighbours (exact for a
  Gaussian), and its confidence is the peak's height (targets peak at 1; no skater: ~0).
- ``MediapipeDetector``: MediaPipe Pose (the project's pose backend) for real footage: its
  33 image landmarks mapped to the SMPL joints by the backend's own mapping, with the
  landmarks' visibility as confidence.

Both return :class:`Keypoints2D`; joints a detector does not provide are NaN with
confidence 0, and metrics score only ``Keypoints2D.provided``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sportanim.skeleton import JOINT_INDEX, MIRROR, NUM_JOINTS

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
RECORD_NAME = "training.json"
SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "keypoints"
# Peak height below which a joint counts as not found: on the empty rink of 12 held-out clips
# (seed 1001) 0.014% of the shipped detector's peaks reach it (the highest 0.21); on the skater
# 0.23% of joints fall below it.
DEFAULT_CONFIDENCE = 0.2
BATCH = 64  # frames per forward pass: bounds memory, any size works
MAX_INPUT_SIZE = 1024  # side frames are resized to (the shipped detector: 64)
MAX_CONTEXT = 8  # neighbour frames each side a detector may stack


@dataclass
class Keypoints2D:
    """Detections of one video: ``xy`` float32 ``(T, 24, 2)`` pixels of the video it was run
    on (top-left corner of the image at (0, 0), pixel centres at +0.5), ``confidence``
    float32 ``(T, 24)`` in [0, 1]; ``provided`` the joint indices this detector can find
    (others are NaN, confidence 0); ``size`` the video's ``(width, height)``."""

    xy: np.ndarray
    confidence: np.ndarray
    provided: tuple[int, ...]
    size: tuple[int, int]

    def found(self, threshold: float = DEFAULT_CONFIDENCE) -> np.ndarray:
        """bool ``(T, 24)``: joints detected with confidence >= ``threshold``."""
        return (self.confidence >= threshold) & np.isfinite(self.xy).all(-1)


def check_video(frames: np.ndarray, what: str = "video") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{what}: expected uint8 RGB frames (T, H, W, 3), got {frames.dtype} "
                         f"{frames.shape}")
    return frames


# ------------------------------------------------------------------------- the network


@dataclass
class KeypointNetConfig:
    input_size: int = 64      # frames are resized to this square; heatmaps are half of it
    widths: tuple[int, ...] = (24, 48, 72)  # channels at 1/2, 1/4, 1/8 of the input
    decoder_width: int = 32   # channels of the 1/2-resolution decoder stage
    num_joints: int = NUM_JOINTS
    sigma: float = 1.0        # target Gaussian's std in heatmap cells (2 px at 64)
    context_frames: int = 0   # neighbours on each side stacked with a frame (motion tells
                              # an arm from the torso of the same colour); 0: single frames

    @property
    def in_channels(self) -> int:
        return 3 * (2 * self.context_frames + 1)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class KeypointNet(nn.Module):
    """A three-level U-Net: ``(B, 3 (2c + 1), S, S)`` in [-1, 1] (a frame and its ``c`` =
    ``context_frames`` neighbours each side, channels in time order) -> heatmaps of the middle
    frame ``(B, J, S/2, S/2)``."""

    def __init__(self, config: KeypointNetConfig | None = None):
        super().__init__()
        self.config = c = config or KeypointNetConfig()
        w1, w2, w3 = c.widths
        self.stem = nn.Sequential(_conv(c.in_channels, w1, 2), _conv(w1, w1))  # 1/2
        self.down2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))        # 1/4
        self.down3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))        # 1/8
        self.up2 = _conv(w3 + w2, w2)                                      # 1/4
        self.up1 = nn.Sequential(_conv(w2 + w1, c.decoder_width), _conv(c.decoder_width, c.decoder_width))
        self.head = nn.Conv2d(c.decoder_width, c.num_joints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.stem(x)
        s2 = self.down2(s1)
        s3 = self.down3(s2)
        u2 = self.up2(torch.cat([F.interpolate(s3, size=s2.shape[-2:], mode="nearest"), s2], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, size=s1.shape[-2:], mode="nearest"), s1], 1))
        return self.head(u1)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"_class_name": type(self).__name__, **asdict(self.config)}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "KeypointNet":
        """Rebuild from a ``save_pretrained`` folder (strict load), in eval mode."""
        from sportanim.io.tensors import load_small_model

        folder = Path(folder)
        config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not config_path.is_file() or not weights_path.is_file():
            raise FileNotFoundError(f"{folder}: not a keypoint detector folder (needs "
                                    f"{CONFIG_NAME} and {WEIGHTS_NAME}); train one with "
                                    "sportanim.eval.keypoint_training.train_keypoint_detector")
        known = {f.name for f in fields(KeypointNetConfig)}

        def build(raw: dict) -> "KeypointNet":
            unknown = sorted(set(raw) - known - {"_class_name"})
            if unknown:
                raise ValueError(f"{config_path} has unknown config keys {unknown}")
            config = KeypointNetConfig(**{k: tuple(v) if isinstance(v, list) else v
                                          for k, v in raw.items() if k in known})
            if not (isinstance(config.context_frames, int) and 0 <= config.context_frames <= MAX_CONTEXT):
                raise ValueError(f"{config_path}: context_frames must be in [0, {MAX_CONTEXT}], "
                                 f"got {config.context_frames!r}")
            if not (isinstance(config.input_size, int) and 16 <= config.input_size <= MAX_INPUT_SIZE):
                # every frame is resized to input_size squared before the network sees it
                raise ValueError(f"{config_path}: input_size must be in [16, {MAX_INPUT_SIZE}], "
                                 f"got {config.input_size!r}")
            return cls(config)

        return load_small_model(folder, build)


def to_input(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float ``(T, 3, size, size)`` in [-1, 1] (area-like resize)."""
    # decoded frames may be read-only (torch warns on those): copied only then
    x = torch.from_numpy(np.require(frames, requirements=("C", "W"))).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x / 127.5 - 1.0


def with_context(x: torch.Tensor, context: int) -> torch.Tensor:
    """Frames ``(T, 3, S, S)`` -> ``(T, 3 (2 context + 1), S, S)``: each frame with its
    ``context`` neighbours either side (the first and last frames repeated at the ends)."""
    if context == 0:
        return x
    t = len(x)
    index = (torch.arange(t)[:, None] + torch.arange(-context, context + 1)[None]).clamp(0, max(t - 1, 0))
    return x[index].flatten(1, 2)


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps ``(B, J, h, w)`` -> peak positions ``(B, J, 2)`` in cell units (cell centres
    at integers) and peak heights ``(B, J)``. Sub-cell offsets from the parabola through
    the log heights at the peak and its two neighbours on each axis (clamped to half a cell;
    none at the border)."""
    b, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, j, -1)
    peak, index = flat.max(-1)
    iy, ix = index // w, index % w
    logs = heatmaps.clamp_min(1e-4).log()

    def offset(a: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        curve = a - 2 * c + d
        return torch.where(curve < 0, 0.5 * (a - d) / curve.clamp(max=-1e-6), 0.0).clamp(-0.5, 0.5)

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logs.reshape(b, j, -1).gather(-1, (y.clamp(0, h - 1) * w + x.clamp(0, w - 1))[..., None])[..., 0]

    centre = at(iy, ix)
    dx = offset(at(iy, ix - 1), centre, at(iy, ix + 1)) * ((ix > 0) & (ix < w - 1))
    dy = offset(at(iy - 1, ix), centre, at(iy + 1, ix)) * ((iy > 0) & (iy < h - 1))
    return torch.stack([ix + dx, iy + dy], -1), peak


class HeatmapDetector:
    """The synthetic-world keypoint CNN, ready to run on videos."""

    name = "heatmap"

    def __init__(self, net: KeypointNet, source: str = "", sha256: str = "", flip_average: bool = False):
        self.net = net.eval()
        self.source, self.sha256 = source, sha256
        self.flip_average = flip_average

    def provenance(self) -> dict:
        return {"detector": self.name, "weights": self.source, "sha256": self.sha256,
                "flip_average": self.flip_average}

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """The network's heatmaps ``(B, 24, S/2, S/2)``; with ``flip_average`` averaged with
        those of the mirrored input, mirrored back (cell k of the half-resolution grid covers
        input pixels [2k, 2k + 2), so a flip maps it exactly onto cell S/2 - 1 - k) with
        left and right joints swapped."""
        heat = self.net(x)
        if self.flip_average:
            heat = 0.5 * (heat + self.net(x.flip(-1)).flip(-1)[:, list(MIRROR)])
        return heat

    @torch.no_grad()
    def detect(self, frames: np.ndarray) -> Keypoints2D:
        frames = check_video(frames)
        t, h, w, _ = frames.shape
        size, context = self.net.config.input_size, self.net.config.context_frames
        xy, conf = [], []
        for i in range(0, t, BATCH):
            lo, hi = max(i - context, 0), min(i + BATCH + context, t)  # the batch and its neighbours
            x = with_context(to_input(frames[lo:hi], size), context)[i - lo:i - lo + min(BATCH, t - i)]
            cells, peak = decode_heatmaps(self.heatmaps(x))
            xy.append(cells)
            conf.append(peak)
        cells = torch.cat(xy).double().numpy() if t else np.zeros((0, NUM_JOINTS, 2))
        # cell k covers input pixels [2k, 2k + 2): its centre is at 2k + 1; then to video pixels
        scale = np.array([w, h], dtype=np.float64) / size
        pixels = (cells * 2.0 + 1.0) * scale
        confidence = torch.cat(conf).clamp(0, 1).numpy() if t else np.zeros((0, NUM_JOINTS))
        return Keypoints2D(pixels.astype(np.float32), confidence.astype(np.float32),
                           tuple(range(NUM_JOINTS)), (w, h))


def load_keypoint_detector(path: str | os.PathLike | None = None, flip_average: bool = False) -> HeatmapDetector:
    """The heatmap detector in ``path`` (a ``save_pretrained`` folder), by default the
    shipped one; ``FileNotFoundError`` naming the fix when it is absent. ``flip_average``:
    see :meth:`HeatmapDetector.heatmaps` (twice the work)."""
    from sportanim.eval.weights import sha256_of

    folder = Path(path) if path is not None else SHIPPED
    net = KeypointNet.from_pretrained(folder)
    return HeatmapDetector(net, str(folder), sha256_of(folder / WEIGHTS_NAME), flip_average)


# ---------------------------------------------------------------------------- MediaPipe

# SMPL joint -> the MediaPipe landmarks its position is made from (sportanim.data.pose's
# mapping); its confidence is their lowest visibility.
_TORSO = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
_UPPER = ("left_shoulder", "right_shoulder", "left_ear", "right_ear")
_MEDIAPIPE_SOURCES = {
    "pelvis": _TORSO, "spine1": _TORSO, "spine2": _TORSO, "spine3": _TORSO,
    "left_hip": _TORSO, "right_hip": _TORSO, "neck": _UPPER, "head": _UPPER,
    "left_collar": _UPPER, "right_collar": _UPPER,
    **{f"{s}_{j}": (f"{s}_{j}",) for s in ("left", "right")
       for j in ("knee", "ankle", "shoulder", "elbow", "wrist")},
    **{f"{s}_hand": (f"{s}_wrist", f"{s}_index", f"{s}_pinky") for s in ("left", "right")},
    **{f"{s}_foot": (f"{s}_heel", f"{s}_foot_index") for s in ("left", "right")},
}
MEDIAPIPE_JOINTS: tuple[int, ...] = tuple(range(NUM_JOINTS))


def mediapipe_keypoints(landmarks2d: np.ndarray, visibility: np.ndarray,
                        size: tuple[int, int]) -> Keypoints2D:
    """MediaPipe's image landmarks ``(T, 33, 2)`` px and visibility ``(T, 33)`` ->
    :class:`Keypoints2D`. Positions: ``mediapipe_to_smpl24`` applied in the image plane
    (its affine combinations of landmarks commute with projection up to perspective, small
    for a body far from the camera); confidence: the lowest visibility of the landmarks a
    joint is made from."""
    from sportanim.data.pose import MEDIAPIPE_NAMES, mediapipe_to_smpl24

    index = {name: i for i, name in enumerate(MEDIAPIPE_NAMES)}
    planar = np.concatenate([np.asarray(landmarks2d, np.float64),
                             np.zeros(np.shape(landmarks2d)[:-1] + (1,))], -1)
    xy = mediapipe_to_smpl24(planar)[..., :2].astype(np.float32)
    vis = np.nan_to_num(np.asarray(visibility, np.float32))
    conf = np.zeros(xy.shape[:-1], np.float32)
    for joint, sources in _MEDIAPIPE_SOURCES.items():
        conf[:, JOINT_INDEX[joint]] = vis[:, [index[s] for s in sources]].min(1)
    conf[~np.isfinite(xy).all(-1)] = 0.0
    return Keypoints2D(xy, conf, MEDIAPIPE_JOINTS, size)


class MediapipeDetector:
    """MediaPipe Pose (``sportanim.data.pose.MediapipeBackend``) as a 2D keypoint detector
    for real footage; tracking restarts for every video."""

    name = "mediapipe"

    def __init__(self, **options):
        from sportanim.data.pose import MediapipeBackend

        self.backend = MediapipeBackend(**options)

    def provenance(self) -> dict:
        return {"detector": self.name, "weights": self.backend.version, "sha256": ""}

    def detect(self, frames: np.ndarray) -> Keypoints2D:
        frames = check_video(frames)
        self.backend.reset()
        result = self.backend.estimate(frames)
        self.backend.reset()
        size = (frames.shape[2], frames.shape[1])
        return mediapipe_keypoints(result.extra["landmarks2d"], result.extra["visibility"], size)


def make_detector(name: str = "heatmap", path: str | os.PathLike | None = None):
    """``"heatmap"`` (the synthetic-world CNN; ``path``: its folder, default the shipped one)
    or ``"mediapipe"`` -> a detector with ``detect(frames) -> Keypoints2D``."""
    if name == "heatmap":
        return load_keypoint_detector(path)
    if name == "mediapipe":
        return MediapipeDetector()
    raise ValueError(f"unknown keypoint detector {name!r}; use heatmap or mediapipe")
