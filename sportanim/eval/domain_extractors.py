"""In-domain feature extractors: small CNNs trained on the synthetic skating world.

The published FVD / FID-VID / FID networks (I3D, 3D ResNet-50, InceptionV3) are trained on
Kinetics and ImageNet; without their weight files those metrics would run on random
networks. These two networks are trained on the world's own clips (``domain_training``) to
tell its 12 motions apart, count revolutions and name costume colours, so their features
respond to what a generated skating clip gets wrong. Their distances are comparable between
runs of this project, never with published numbers.

- ``clip3d``: a 3D CNN on 16-frame 64x64 windows. FVD-style features: one per consecutive
  16-frame window (``floor(T / 16)`` per video, like the I3D protocol); FID-VID-style: the
  mean over a video's 16-frame segments, the last one padded by repeating the last frame
  (like DisCo's), one per video.
- ``frame2d``: a 2D CNN on single 64x64 frames. FID-style features: one per frame.

Features are the global average of the last convolution's ReLU outputs (like Inception's
pool3). Inputs are uint8 RGB videos ``(T, H, W, 3)``; every frame is resized to 64x64
(bilinear, antialiased) and scaled to [-1, 1].

On disk (``sportanim/weights/extractors``): ``clip3d.safetensors``, ``frame2d.safetensors``
and ``extractors.json`` holding each network's config, its file's sha256 and the training
record (call, seed, held-out accuracy). A file whose sha256 or tensor shapes disagree with
the record is a ``WeightsError``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from sportanim.eval.weights import WeightsError, sha256_of
from sportanim.weights import EXTRACTORS as SHIPPED

RECORD_NAME = "extractors.json"
FORMAT = "sportanim-domain-extractors/1"
ENV = "SPORTANIM_DOMAIN_EXTRACTORS"  # a folder of retrained extractors instead of the shipped one
WINDOW = 16
SIZE = 64


# ------------------------------------------------------------------------------ networks


class FeatureNet(nn.Module):
    """Conv-BN-ReLU trunk, global average pool (the features), and the training heads:
    motion logits, revolutions (jumps; / 4) and costume colours (top, bottom, skin RGB)."""

    conv, norm = nn.Conv2d, nn.BatchNorm2d

    def __init__(self, channels: list[int], strides: list, motions: int, colours: int = 9,
                 dropout: float = 0.2):
        super().__init__()
        layers, previous = [], 3
        for width, stride in zip(channels, strides, strict=True):
            layers += [self.conv(previous, width, 3, stride, 1, bias=False), self.norm(width),
                       nn.ReLU(inplace=True)]
            previous = width
        self.trunk = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.motion = nn.Linear(previous, motions)
        self.revolutions = nn.Linear(previous, 1)
        self.colour = nn.Linear(previous, colours)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, [T,] H, W)`` in [-1, 1] -> ``(N, channels[-1])``."""
        return self.trunk(x).flatten(2).mean(dim=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.dropout(self.features(x))
        return self.motion(h), self.revolutions(h).squeeze(-1), self.colour(h)


class Clip3DNet(FeatureNet):
    """Windows ``(N, 3, 16, 64, 64)``."""

    conv, norm = nn.Conv3d, nn.BatchNorm3d


class Frame2DNet(FeatureNet):
    """Frames ``(N, 3, 64, 64)``."""


NETWORKS = {"clip3d": Clip3DNet, "frame2d": Frame2DNet}
# Widths and strides: 64x64 -> 4x4 (and 16 -> 4 frames) in five layers, ~1M weights each,
# about 0.01 s per window / 0.002 s per frame on one CPU thread.
DEFAULT_CONFIGS = {
    "clip3d": {"channels": [16, 32, 64, 128, 256],
               "strides": [[1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2], [1, 1, 1]]},
    "frame2d": {"channels": [32, 64, 128, 256, 256], "strides": [2, 2, 2, 2, 1]},
}
NAMES = {"clip3d": "sportanim synthetic 3D-CNN", "frame2d": "sportanim synthetic 2D-CNN"}


def build_network(kind: str, config: dict) -> FeatureNet:
    """An untrained network from its config (``channels``, ``strides``, ``motions``)."""
    return NETWORKS[kind](list(config["channels"]), [tuple(s) if isinstance(s, list) else s
                                                    for s in config["strides"]],
                          len(config["motions"]))


# ------------------------------------------------------------------------------ loading


def folder_of(folder: str | os.PathLike | None = None) -> Path:
    """``folder``, else ``$SPORTANIM_DOMAIN_EXTRACTORS``, else the shipped one."""
    return Path(folder or os.environ.get(ENV) or SHIPPED).expanduser()


def read_record(folder: str | os.PathLike | None = None) -> dict:
    """The folder's ``extractors.json``; ``WeightsError`` if absent or not ours."""
    path = folder_of(folder) / RECORD_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: cannot read the in-domain extractor record ({error}); "
                           "restore sportanim/weights/extractors or retrain with "
                           "sportanim.eval.domain_training.train_domain_extractors") from None
    if record.get("format") != FORMAT:
        raise WeightsError(f"{path}: format {record.get('format')!r} is not {FORMAT!r}")
    return record


def available(folder: str | os.PathLike | None = None) -> bool:
    return (folder_of(folder) / RECORD_NAME).is_file()


def load_network(kind: str, folder: str | os.PathLike | None = None) -> tuple[FeatureNet, Path, str]:
    """The trained ``kind`` network (eval mode, float32), its file and the file's sha256,
    checked against the record: a wrong checksum or tensor shape is a ``WeightsError``."""
    record = read_record(folder)
    entry = record["networks"].get(kind)
    if entry is None:
        raise WeightsError(f"{folder_of(folder) / RECORD_NAME} has no {kind!r} network")
    path = folder_of(folder) / entry["file"]
    if not path.is_file():
        raise WeightsError(f"in-domain extractor file missing: {path}; restore it or retrain")
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise WeightsError(f"{path}: sha256 {digest} does not match {entry['sha256']} recorded "
                           f"in {RECORD_NAME}; restore the file or retrain the extractors")
    net = build_network(kind, entry["config"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    own = net.state_dict()
    for name, tensor in own.items():
        if name not in state or tuple(state[name].shape) != tuple(tensor.shape):
            got = tuple(state[name].shape) if name in state else "missing"
            raise WeightsError(f"{path}: tensor {name} is {got}, the {kind} config in "
                               f"{RECORD_NAME} needs {tuple(tensor.shape)}")
    extra = sorted(set(state) - set(own))
    if extra:
        raise WeightsError(f"{path}: unexpected tensor {extra[0]} for the {kind} config")
    net.load_state_dict(state)
    return net.eval(), path, digest


# ------------------------------------------------------------------------------ features


def frames_input(video: np.ndarray, size: int = SIZE) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float ``(T, 3, size, size)`` in [-1, 1]."""
    frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    if frames.shape[-2:] != (size, size):
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=True)
    return frames / 127.5 - 1


def _clip_features(net: FeatureNet, frames: torch.Tensor, length: int, batch: int) -> torch.Tensor:
    """``(K * length, 3, S, S)`` -> ``(K, D)``, one row per consecutive ``length`` frames."""
    clips = frames.reshape(-1, length, *frames.shape[1:]).transpose(1, 2)  # (K, 3, length, S, S)
    return torch.cat([net.features(clips[i:i + batch]) for i in range(0, len(clips), batch)])


@torch.no_grad()
def window_features(net: FeatureNet, video: np.ndarray, window: int = WINDOW, batch: int = 8) -> np.ndarray:
    """FVD-style: ``(floor(T / window), D)``, one row per consecutive window."""
    count = len(video) // window
    if count == 0:
        raise ValueError(f"FVD needs videos of at least {window} frames, got {len(video)}")
    return _clip_features(net, frames_input(video[:count * window]), window, batch).double().numpy()


@torch.no_grad()
def video_features(net: FeatureNet, video: np.ndarray, segment: int = WINDOW, batch: int = 8) -> np.ndarray:
    """FID-VID-style: ``(D,)``, the mean over the video's segments (last one padded)."""
    frames = frames_input(video)
    pad = -len(frames) % segment
    if pad:
        frames = torch.cat([frames, frames[-1:].expand(pad, *frames.shape[1:])])
    return _clip_features(net, frames, segment, batch).mean(dim=0).double().numpy()


@torch.no_grad()
def frame_features(net: FeatureNet, video: np.ndarray, indices: np.ndarray | None = None,
                   batch: int = 64) -> np.ndarray:
    """FID-style: ``(T, D)``, one row per frame (or per frame of ``indices``)."""
    frames = frames_input(video if indices is None else video[indices])
    return torch.cat([net.features(frames[i:i + batch])
                      for i in range(0, len(frames), batch)]).double().numpy()
