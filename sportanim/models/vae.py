"""The video VAE: diffusers' ``AutoencoderKLCogVideoX``, as presets and three small helpers.

    video (B, 3, T, H, W) in [-1, 1] --encode_video--> latents (B, F, C, H/8, W/8) x scaling_factor
    latents (B, F, C, h, w) --decode_latents--> video (B, 3, T, H, W) in about [-1, 1]
    with F = 1 + (T - 1) / 4 (the first frame apart, causal), T = 4k + 1.

Presets (``VAE_PRESETS``), both the same class:
- ``cogvideox-5b``: CogVideoX-5B's VAE (``THUDM/CogVideoX-5b/vae``), which MTVCrafter-7B uses:
  4 blocks (128, 256, 256, 512), 16 latent channels, 8x space, 4x time, scaling factor 0.7.
- ``tiny``: the same topology at CPU size (686k parameters) for 64x64 video: 4 blocks of
  (16, 16, 32, 32) channels with 1 ResNet layer each, 4 latent channels (DIT_PRESETS["tiny"]
  reads 4 noisy + 4 reference = 8). 49 frames at 64x64 -> latents (13, 4, 8, 8).

How the class compresses (diffusers 0.42 ``CogVideoXEncoder3D``): space halves in every block
but the last, so ``2 ** (len(block_out_channels) - 1)`` (4 blocks -> 8x; 3 blocks -> 4x);
time halves in the first ``log2(temporal_compression_ratio)`` of those downsampling blocks, so a
VAE with fewer blocks than that compresses time less than its config says (3 blocks and
ratio 8 give 4x). ``norm_num_groups`` must divide every block width. Valid clip lengths are
``T = 8k + 1`` or ``T = 8k`` for the frame-batched encoder (``num_sample_frames_batch_size`` 8);
MTVCrafter uses 49.

Reference latents (``reference_latents``): MTVCrafter repeats the reference image over all T
frames, VAE-encodes that still video with a posterior *sample* and does NOT multiply by the
scaling factor (upstream ``pipeline_mtvcrafter_7b.py``), unlike CogVideoX's I2V pipeline, which
scales. The released MV-DiT-7B was trained against that convention, so training code must
build its reference latents with the same function.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKLCogVideoX

_DOWN, _UP = "CogVideoXDownBlock3D", "CogVideoXUpBlock3D"

VAE_PRESETS: dict[str, dict[str, Any]] = {
    # THUDM/CogVideoX-5b vae/config.json (what MTVCrafter-7B encodes with).
    "cogvideox-5b": dict(
        in_channels=3, out_channels=3, down_block_types=(_DOWN,) * 4, up_block_types=(_UP,) * 4,
        block_out_channels=(128, 256, 256, 512), latent_channels=16, layers_per_block=3,
        act_fn="silu", norm_eps=1e-6, norm_num_groups=32, temporal_compression_ratio=4,
        sample_height=480, sample_width=720, scaling_factor=0.7, force_upcast=True,
        use_quant_conv=False, use_post_quant_conv=False, invert_scale_latents=False,
    ),
    # CPU-sized, same class and topology (4 blocks: 8x space, 4x time). Widths of 16/32 with
    # 8 GroupNorm groups: 49x64x64 encodes in ~0.4 s and decodes in ~1 s on 2 cores.
    # sample_* = 64 sets the tile size (tiling only splits frames larger than 32 px).
    # scaling_factor 1.0 until a trained tiny VAE measures its latent std (pretrain sets it).
    "tiny": dict(
        in_channels=3, out_channels=3, down_block_types=(_DOWN,) * 4, up_block_types=(_UP,) * 4,
        block_out_channels=(16, 16, 32, 32), latent_channels=4, layers_per_block=1,
        act_fn="silu", norm_eps=1e-6, norm_num_groups=8, temporal_compression_ratio=4,
        sample_height=64, sample_width=64, scaling_factor=1.0, force_upcast=True,
    ),
}


def build_vae(preset: str, **overrides: Any) -> AutoencoderKLCogVideoX:
    """A freshly initialised ``AutoencoderKLCogVideoX`` of ``VAE_PRESETS[preset]``."""
    if preset not in VAE_PRESETS:
        raise ValueError(f"unknown VAE preset {preset!r}; choose from {sorted(VAE_PRESETS)}")
    return AutoencoderKLCogVideoX(**{**VAE_PRESETS[preset], **overrides})


def spatial_factor(vae: AutoencoderKLCogVideoX) -> int:
    """Pixels per latent cell along height and width (8 at both presets)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def temporal_factor(vae: AutoencoderKLCogVideoX) -> int:
    """Frames per latent frame after the first (4 at both presets); see the module notes."""
    levels = min(int(vae.config.temporal_compression_ratio).bit_length() - 1, len(vae.config.block_out_channels) - 1)
    return 2 ** levels


def latent_frames(vae: AutoencoderKLCogVideoX, num_frames: int) -> int:
    """Latent frames for ``num_frames`` pixel frames: ``1 + (T - 1) // 4`` (49 -> 13)."""
    return 1 + (num_frames - 1) // temporal_factor(vae)


def set_memory_savers(vae: AutoencoderKLCogVideoX, tiling: bool = False, slicing: bool = False) -> None:
    """Tiled encode/decode (frames split into overlapping spatial tiles) and batch slicing (one
    video at a time): both trade speed for memory and are for the full-size VAE; the tiny one
    runs faster without. Upstream turns both on for 512x512x49 on one GPU."""
    if tiling:
        vae.enable_tiling()
    else:
        vae.disable_tiling()
    if slicing:
        vae.enable_slicing()
    else:
        vae.disable_slicing()


# --------------------------------------------------------------------------- encode / decode


def _check_video(vae: AutoencoderKLCogVideoX, video: torch.Tensor) -> None:
    if not isinstance(video, torch.Tensor) or video.ndim != 5 or video.shape[1] != vae.config.in_channels:
        raise ValueError(f"video must be a (B, {vae.config.in_channels}, T, H, W) tensor in [-1, 1], "
                         f"got {getattr(video, 'shape', type(video))}")
    h, w, s = video.shape[3], video.shape[4], spatial_factor(vae)
    if h % s or w % s:
        raise ValueError(f"video height and width ({h}, {w}) must be multiples of the VAE's {s}x downsampling")


def encode_video(
    vae: AutoencoderKLCogVideoX,
    video: torch.Tensor,
    generator: torch.Generator | None = None,
    sample: bool = True,
    scale: bool = True,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Video ``(B, 3, T, H, W)`` in [-1, 1] -> latents ``(B, F, C, H/8, W/8)``.

    ``sample``: draw from the posterior with ``generator`` (else its mode/mean);
    ``scale``: multiply by ``vae.config.scaling_factor`` (the diffusion model's latent scale).
    The video is cast to the VAE's dtype and moved to ``device`` (default: the VAE's; pass the
    pipeline's execution device when the VAE is CPU-offloaded)."""
    _check_video(vae, video)
    posterior = vae.encode(video.to(device=device or vae.device, dtype=vae.dtype)).latent_dist
    latents = posterior.sample(generator) if sample else posterior.mode()
    if scale:
        latents = latents * vae.config.scaling_factor
    return latents.permute(0, 2, 1, 3, 4)  # (B, C, F, h, w) -> (B, F, C, h, w)


def decode_latents(vae: AutoencoderKLCogVideoX, latents: torch.Tensor,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Scaled latents ``(B, F, C, h, w)`` -> video ``(B, 3, T, H, W)``, about [-1, 1]
    (not clamped), in the VAE's dtype; ``device`` as for ``encode_video``."""
    if latents.ndim != 5 or latents.shape[2] != vae.config.latent_channels:
        raise ValueError(f"latents must be (B, F, {vae.config.latent_channels}, h, w), got {tuple(latents.shape)}")
    z = latents.permute(0, 2, 1, 3, 4).to(device=device or vae.device, dtype=vae.dtype) / vae.config.scaling_factor
    return vae.decode(z).sample


def reference_latents(
    vae: AutoencoderKLCogVideoX,
    image: torch.Tensor,
    num_frames: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """MTVCrafter's reference latents: the image ``(B, 3, H, W)`` in [-1, 1] repeated over
    ``num_frames``, encoded with a posterior sample, unscaled (see the module notes).
    Returns ``(B, F, C, h, w)``; F = ``latent_frames(vae, num_frames)``."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise ValueError(f"image must be a (B, 3, H, W) tensor in [-1, 1], got {getattr(image, 'shape', type(image))}")
    video = image[:, :, None].expand(-1, -1, num_frames, -1, -1)
    return encode_video(vae, video, generator=generator, sample=True, scale=False, device=device)
