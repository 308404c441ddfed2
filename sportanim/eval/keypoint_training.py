"""Training of the synthetic-world keypoint detector (:mod:`sportanim.eval.keypoints`).

Data: clips rendered by the synthetic world (``sportanim.synth``, jump and daily motions,
written as FSJD folders and decoded back, so the frames carry the same H.264 artefacts as
any video the metrics read), their joints projected exactly with each clip's intrinsics
(the camera of the video's own size), plus frames of the empty rink of the same cameras
with all-zero targets, so that "no skater" gives low peaks. The held-out clips come from
another seed: other athletes, other motions' instances, other cameras.

Augmentation (on the fly, per sample): zoom 0.75-1.35x, rotation +-15 degrees, shifts of up
to a tenth of the frame, left-right flips (the joint labels swap sides), brightness and
colour gains, blur and noise: generated videos are softer and noisier than renders.

Targets: one Gaussian per joint (``sigma`` cells) on the half-resolution heatmap grid, zero
for joints outside the frame; loss: mean squared error; Adam with a cosine schedule.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sportanim import fsjd
from sportanim.io.files import atomic_dir
from sportanim.progress import progress_bar
from sportanim.skeleton import MIRROR, NUM_JOINTS, project
from sportanim.synth.camera import Camera
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.render import render_rink, to_uint8
from sportanim.eval.keypoints import (RECORD_NAME, WEIGHTS_NAME, HeatmapDetector, KeypointNet,
                                      KeypointNetConfig)


@dataclass(frozen=True)
class KeypointTrainConfig:
    train_clips: int = 320     # rendered clips to learn from (jump and daily motions in turn)
    eval_clips: int = 24       # held-out clips of another seed, scored after training
    frames: int = 49           # per clip, as the synthetic world's clips
    frame_stride: int = 2      # every other frame: neighbours are near-duplicates
    empty_per_clip: int = 2    # empty-rink frames per clip (target: no joint anywhere)
    steps: int = 4000          # ~18 min on one CPU thread at these sizes
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0
    net: KeypointNetConfig = field(default_factory=KeypointNetConfig)

    def validate(self) -> "KeypointTrainConfig":
        for name in ("train_clips", "eval_clips", "steps", "batch", "frame_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.net.input_size % 16:
            raise ValueError(f"net.input_size must be a multiple of 16, got {self.net.input_size}")
        return self


def render_dataset(out: Path, clips: int, seed: int, size: int, frames: int) -> Path:
    """Jump and daily clips of ``seed`` as an FSJD folder at ``out`` (one worker: the
    renderer is cheap at this size and the machine is shared)."""
    synthesize(SynthConfig(out=out, domain="both", clips=clips, size=size, frames=frames,
                           seed=seed, eval_fraction=0.0, workers=1), show_progress=False)
    return out


def clip_camera(arrays: dict, size: tuple[int, int]) -> Camera:
    """The clip's camera from its ``intrinsics`` and ``extrinsics`` (mm) arrays."""
    extrinsics = arrays["extrinsics"].astype(np.float64)
    t = len(extrinsics)
    K = np.broadcast_to(arrays["intrinsics"].astype(np.float64), (t, 3, 3)).copy()
    return Camera(K, extrinsics[:, :, :3].copy(), extrinsics[:, :, 3] / 1000.0, *size)


def load_examples(root: Path, stride: int, empty_per_clip: int, rng: np.random.Generator,
                  context: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every clip of ``root`` as training examples: frames uint8 ``(F, H, W, 3)`` (all frames
    of the clips and of the empty-rink stretches), examples' joints in pixels ``(N, 24, 2)``
    (NaN: behind the camera or, for empty-rink frames, absent) and their frame windows
    ``(N, 2 context + 1)`` (indices into the frames; the clip's ends repeated)."""
    frames, pixels, windows, count = [], [], [], 0
    steps = np.arange(-context, context + 1)

    def add(clip_frames: np.ndarray, centres: np.ndarray) -> None:
        nonlocal count
        frames.append(clip_frames)
        windows.append(count + np.clip(centres[:, None] + steps, 0, len(clip_frames) - 1))
        count += len(clip_frames)

    for record in fsjd.read_manifest(root):
        clip = fsjd.load_clip(root, record)
        keep = np.arange(0, record.frames, stride)
        add(clip["frames"], keep)
        pixels.append(project(clip["joints"], clip["intrinsics"])[keep])
        if empty_per_clip and "extrinsics" in clip:
            camera = clip_camera(clip, tuple(record.size))
            for chosen in np.sort(rng.choice(record.frames, size=empty_per_clip, replace=False)):
                around = np.clip(chosen + steps, 0, record.frames - 1)
                add(to_uint8(render_rink(camera[around])), np.array([context]))
                pixels.append(np.full((1, NUM_JOINTS, 2), np.nan))
    return (np.concatenate(frames), np.concatenate(pixels).astype(np.float32),
            np.concatenate(windows).astype(np.int64))


# -------------------------------------------------------------------------- augmentation


def _random_affine(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample maps from output to input normalised coordinates ``(n, 2, 3)`` and
    whether each one flips left-right ``(n,)``."""
    u = torch.rand(n, 5, generator=gen)
    zoom = torch.exp(math.log(0.75) + u[:, 0] * math.log(1.35 / 0.75))
    angle = (u[:, 1] - 0.5) * math.radians(30.0)
    shift = (u[:, 2:4] - 0.5) * 0.4  # a tenth of the frame either way
    flip = u[:, 4] < 0.5
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    sign = torch.where(flip, -1.0, 1.0)
    theta = torch.stack([torch.stack([cos * sign, -sin, shift[:, 0]], -1),
                         torch.stack([sin * sign, cos, shift[:, 1]], -1)], 1)
    return theta, flip


def augment(images: torch.Tensor, pixels: torch.Tensor, gen: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(B, 3 k, S, S)`` in [-1, 1] (``k`` frames stacked) and joints ``(B, 24, 2)``
    px -> the same, warped, recoloured, blurred and noised alike in all ``k`` frames; joints
    follow the warp (and swap sides on flips)."""
    b, _, s, _ = images.shape
    theta, flip = _random_affine(b, gen)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # input normalised p = A q + c  ->  output q = A^-1 (p - c)
    p = pixels * (2.0 / s) - 1.0
    inv = torch.linalg.inv(theta[:, :, :2])
    q = torch.einsum("bij,bkj->bki", inv, p - theta[:, None, :, 2])
    moved = (q + 1.0) * (s / 2.0)
    moved[flip] = moved[flip][:, list(MIRROR)]
    u = torch.rand(b, 6, generator=gen)
    gain = ((0.8 + 0.4 * u[:, :1]) * (0.92 + 0.16 * u[:, 1:4])).repeat(1, images.shape[1] // 3)
    out = (out + 1.0) * gain[:, :, None, None] - 1.0 + (u[:, 4:5, None, None] - 0.5) * 0.2
    soft = F.avg_pool2d(out, 3, 1, 1, count_include_pad=False)
    mix = (u[:, 5] * (u[:, 5] > 0.4))[:, None, None, None]
    out = out + mix * (soft - out)
    out = out + torch.randn(out.shape, generator=gen) * 0.03 * torch.rand(b, 1, 1, 1, generator=gen)
    return out.clamp(-1, 1), moved


def target_heatmaps(pixels: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Joints ``(B, J, 2)`` px of a ``size`` square input -> Gaussian heatmaps
    ``(B, J, size/2, size/2)``; joints outside the frame (or NaN) get an all-zero map."""
    cells = size // 2
    inside = torch.isfinite(pixels).all(-1) & (pixels >= 0).all(-1) & (pixels < size).all(-1)
    centre = torch.nan_to_num(pixels / 2.0 - 0.5, nan=-100.0)  # cell k's centre is pixel 2k + 1
    grid = torch.arange(cells, dtype=torch.float32)
    gx = torch.exp(-((grid - centre[..., :1]) ** 2) / (2 * sigma**2))  # (B, J, cells)
    gy = torch.exp(-((grid - centre[..., 1:]) ** 2) / (2 * sigma**2))
    return gy[..., :, None] * gx[..., None, :] * inside[..., None, None]


# ------------------------------------------------------------------------------ training


def _fit(net: KeypointNet, images: np.ndarray, pixels: np.ndarray, windows: np.ndarray,
         config: KeypointTrainConfig, show_progress: bool) -> list[float]:
    size = net.config.input_size
    if images.shape[1:3] != (size, size):
        raise ValueError(f"training frames are {images.shape[1:3]}, the net takes {size}x{size}")
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps)
    x_all, p_all, w_all = torch.from_numpy(images), torch.from_numpy(pixels), torch.from_numpy(windows)
    losses = []
    net.train()
    with progress_bar("keypoint detector", config.steps, enabled=show_progress) as advance:
        for _ in range(config.steps):
            pick = torch.randint(len(p_all), (config.batch,), generator=gen)
            x = x_all[w_all[pick]].permute(0, 1, 4, 2, 3).flatten(1, 2).float() / 127.5 - 1.0
            x, p = augment(x, p_all[pick], gen)
            loss = F.mse_loss(net(x), target_heatmaps(p, size, net.config.sigma)) * 100.0
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            advance()
    return losses


def _initial_net(init: str | os.PathLike | None, net_config: KeypointNetConfig
                 ) -> tuple[KeypointNet | None, dict | None]:
    """The network to start from and the record of how it was made (``None, None``: from
    scratch)."""
    from sportanim.eval.weights import sha256_of

    if init is None:
        return None, None
    init = Path(init)
    net = KeypointNet.from_pretrained(init)
    if net.config != net_config:
        raise ValueError(f"{init}: its network config {asdict(net.config)} differs from the one "
                         f"asked for {asdict(net_config)}")
    record_path = init / RECORD_NAME
    earlier = json.loads(record_path.read_text()) if record_path.is_file() else {}
    earlier[WEIGHTS_NAME] = sha256_of(init / WEIGHTS_NAME)
    return net.train(), earlier


def train_keypoint_detector(out: str | os.PathLike, config: KeypointTrainConfig | None = None,
                            data: str | os.PathLike | None = None, show_progress: bool = True,
                            overwrite: bool = False, command: str | None = None,
                            init: str | os.PathLike | None = None) -> dict:
    """Render training and held-out clips, train the heatmap detector, score it on the
    held-out clips and write ``out/`` (``config.json``, ``model.safetensors`` and
    ``training.json``: config, seeds, timings, held-out accuracy, sha256), all or nothing.
    ``data``: where the rendered clips go (default: a temporary folder, deleted after).
    ``init``: a detector folder to start from (a longer run in stages; its network config
    must equal ``config.net``); its record is kept in this one's under ``"init"``.
    ``command``: how this call was made, for the record (default: this process's argv).
    Returns the training record."""
    from sportanim.eval.motion_fidelity import score_clips
    from sportanim.eval.weights import sha256_of

    config = (config or KeypointTrainConfig()).validate()
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not overwrite:  # before minutes of training
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    start_net, start_record = _initial_net(init, config.net)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    times = {}
    with tempfile.TemporaryDirectory(prefix="keypoint-data-") as tmp:
        root = Path(data) if data is not None else Path(tmp)
        start = time.perf_counter()
        train_seed, eval_seed = 1000 + 2 * config.seed, 1001 + 2 * config.seed
        size, frames = config.net.input_size, config.frames
        render_dataset(root / "train", config.train_clips, train_seed, size, frames)
        render_dataset(root / "heldout", config.eval_clips, eval_seed, size, frames)
        images, pixels, windows = load_examples(root / "train", config.frame_stride, config.empty_per_clip, rng,
                                                config.net.context_frames)
        times["render_and_load_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        net = start_net if start_net is not None else KeypointNet(config.net)
        losses = _fit(net, images, pixels, windows, config, show_progress)
        times["train_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        heldout = score_clips(HeatmapDetector(net.eval()), root / "heldout")
        times["heldout_s"] = round(time.perf_counter() - start, 1)
    record = {"config": asdict(config), "train_seed": train_seed, "heldout_seed": eval_seed,
              "examples": int(len(pixels)), "torch_threads": torch.get_num_threads(),
              "final_loss": round(float(np.mean(losses[-100:])), 4), "times": times,
              "heldout": heldout["summary"], "python": platform.python_version(),
              "torch": torch.__version__, "command": command or " ".join(sys.argv)}
    if start_record is not None:
        record["init"] = start_record
    with atomic_dir(out, overwrite=overwrite) as tmp_dir:
        net.save_pretrained(tmp_dir)
        record["sha256"] = {WEIGHTS_NAME: sha256_of(Path(tmp_dir) / WEIGHTS_NAME)}
        (Path(tmp_dir) / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return record
