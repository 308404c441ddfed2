"""Training the tiny video VAE (``AutoencoderKLCogVideoX``, ``VAE_PRESETS["tiny"]``) from scratch.

The full world uses CogVideoX-5B's released VAE and never trains it; the tiny world has no
released VAE, so ``sportanim pretrain`` trains one on synthetic daily clips. The recipe is
the plain part of CogVideoX's: L1 reconstruction plus a very small KL term (no GAN, no
perceptual loss: the synthetic world has no texture worth a discriminator). Windows of
``frames`` (8k + 1) frames are drawn from the clips; the causal encoder sees the first frame
alone, so single images (reference frames) are learnt too.

After training, ``scaling_factor`` is set to 1 / std of the latents over the training clips,
the convention diffusers' CogVideoX pipelines rely on (diffusion latents of unit variance).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKLCogVideoX

from sportanim import fsjd
from sportanim.models.vae import build_vae, encode_video
from sportanim.progress import progress_bar
from sportanim.train.optimizer import make_adamw


@dataclass
class VAETrainConfig:
    preset: str = "tiny"
    steps: int = 1500
    batch_size: int = 4
    frames: int = 9  # window length, 8k + 1
    lr: float = 1e-3
    warmup_steps: int = 50
    kl_weight: float = 1e-6
    seed: int = 0


@dataclass
class VAEResult:
    vae: AutoencoderKLCogVideoX
    loss: float  # mean L1 over the last 10% of steps
    eval_psnr: float  # dB, full 49-frame eval clips, posterior mode
    latent_std: float
    seconds: float


def load_videos(root: str | Path, split: str) -> torch.Tensor:
    """All clips of ``split`` as one uint8 tensor ``(N, T, H, W, 3)``."""
    records = [r for r in fsjd.read_manifest(root) if split == "all" or r.split == split]
    if not records:
        raise ValueError(f"{root}: no clips with split={split!r} to train the VAE on")
    return torch.from_numpy(np.stack([fsjd.load_clip(root, r)["frames"] for r in records]))


def to_model_video(frames_uint8: torch.Tensor) -> torch.Tensor:
    """``(B, T, H, W, 3)`` uint8 -> ``(B, 3, T, H, W)`` float in [-1, 1]."""
    return frames_uint8.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def train_vae(data: str | Path, config: VAETrainConfig | None = None, show_progress: bool = True) -> VAEResult:
    """Train a VAE of ``config.preset`` on the train split of FSJD folder ``data``."""
    c = config or VAETrainConfig()
    if (c.frames - 1) % 8:
        raise ValueError(f"VAE training window must be 8k + 1 frames, got {c.frames}")
    started = time.perf_counter()
    videos = load_videos(data, "train")
    n, t = videos.shape[:2]
    if t < c.frames:
        raise ValueError(f"{data}: clips have {t} frames, fewer than the {c.frames}-frame window")
    torch.manual_seed(c.seed)
    vae = build_vae(c.preset)
    vae.train()
    opt = make_adamw(vae.parameters(), lr=c.lr, betas=(0.9, 0.99), weight_decay=1e-4)
    gen = torch.Generator().manual_seed(c.seed)
    tail: list[float] = []
    with progress_bar("train VAE", c.steps, show_progress) as advance:
        for step in range(c.steps):
            for group in opt.param_groups:
                group["lr"] = c.lr * _lr_factor(step, c.warmup_steps, c.steps)
            clip = torch.randint(0, n, (c.batch_size,), generator=gen)
            start = torch.randint(0, t - c.frames + 1, (c.batch_size,), generator=gen)
            x = to_model_video(torch.stack([videos[i, s:s + c.frames] for i, s in zip(clip, start)]))
            posterior = vae.encode(x).latent_dist
            recon = vae.decode(posterior.sample(gen)).sample
            l1 = (recon - x).abs().mean()
            loss = l1 + c.kl_weight * posterior.kl().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
            if step >= int(c.steps * 0.9):
                tail.append(l1.item())
            advance()
    vae.eval()
    std = latent_std(vae, videos[: min(n, 32)])
    vae.register_to_config(scaling_factor=1.0 / std)
    psnr = reconstruction_psnr(vae, load_videos(data, "eval"))
    return VAEResult(vae, float(np.mean(tail)), psnr, std, time.perf_counter() - started)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@torch.no_grad()
def latent_std(vae: AutoencoderKLCogVideoX, videos: torch.Tensor) -> float:
    """Std of unscaled posterior-mode latents over ``videos`` (uint8 ``(N, T, H, W, 3)``)."""
    z = torch.cat([encode_video(vae, to_model_video(v[None]), sample=False, scale=False) for v in videos])
    return float(z.std())


@torch.no_grad()
def reconstruction_psnr(vae: AutoencoderKLCogVideoX, videos: torch.Tensor) -> float:
    """Mean PSNR (dB, [0, 255] pixels) of encode (mode) -> decode over whole clips."""
    values = []
    for v in videos:
        x = to_model_video(v[None])
        y = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)
        mse = float(((y - x) * 127.5).pow(2).mean())
        values.append(10 * math.log10(255.0**2 / max(mse, 1e-10)))
    return float(np.mean(values))


