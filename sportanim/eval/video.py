"""Per-frame and distribution video metrics.

Paired metrics compare a generated video with its real counterpart frame by frame
(same shape) and average over frames: PSNR (dB, 0-255 range), SSIM (Gaussian window 11,
sigma 1.5, K1 0.01, K2 0.03, over the window positions inside the frame, mean over
RGB channels: Wang et al. and scikit-image's ``gaussian_weights=True`` convention;
torchmetrics also averages reflected border positions) and LPIPS (AlexNet v0.1; lpips). Frames with identical content have infinite PSNR; they count as
``PSNR_CAP`` dB so that averages and JSON stay finite.

Distribution metrics are Frechet distances between real and generated feature sets
(``frechet.py``): FID over frames, FVD over 16-frame windows, FID-VID over videos (see
``extractors.py`` for each protocol).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torchmetrics.functional.image import peak_signal_noise_ratio

from sportanim.eval.extractors import Extractor

PSNR_CAP = 100.0  # dB for identical frames (MSE 0)
PAIR_BATCH = 8  # frames per LPIPS call: bounds memory at 512x512
SSIM_SIGMA, SSIM_RADIUS, SSIM_K1, SSIM_K2 = 1.5, 5, 0.01, 0.03  # 11-tap Gaussian window


def _frames(video: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float64 ``(T, 3, H, W)`` 0-255."""
    return torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).double()


def check_pair(real: np.ndarray, generated: np.ndarray, clip_id: str = "") -> None:
    if real.shape != generated.shape:
        where = f"clip {clip_id}: " if clip_id else ""
        raise ValueError(f"{where}generated video has shape {generated.shape}, the real one "
                         f"{real.shape} (frames, height, width, 3); paired metrics (PSNR, "
                         "SSIM, LPIPS) need the same frames and size")


@torch.no_grad()
def psnr_frames(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """PSNR (dB) of every frame, identical frames capped at ``PSNR_CAP``."""
    check_pair(real, generated)
    values = peak_signal_noise_ratio(_frames(generated), _frames(real), data_range=255.0,
                                     reduction="none", dim=(1, 2, 3))
    return np.minimum(np.nan_to_num(values.double().numpy(), posinf=PSNR_CAP), PSNR_CAP)


def _gaussian_taps() -> np.ndarray:
    taps = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    g = np.exp(-(taps**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _blur_valid(x: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means of ``(..., H, W)`` at the window positions inside the
    frame: the separable Gaussian as two dot products over sliding-window views (BLAS;
    float64 convolutions in torch and scipy.ndimage were many times slower here)."""
    g = _gaussian_taps()
    x = sliding_window_view(x, g.size, axis=-1) @ g  # (..., H, W - 10)
    return sliding_window_view(x, g.size, axis=-2) @ g  # (..., H - 10, W - 10)


def _ssim(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM of one float64 image pair ``(H, W, C)``, mean over channels and the valid
    window positions."""
    x, y = np.moveaxis(x, -1, 0), np.moveaxis(y, -1, 0)
    mx, my, xx, yy, xy = _blur_valid(np.stack([x, y, x * x, y * y, x * y]))
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim.mean())


def ssim_frames(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """SSIM of every frame; frames need at least 11x11 pixels."""
    check_pair(real, generated)
    if min(real.shape[1:3]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs frames of at least 11x11 pixels, got {real.shape[1:3]}")
    return np.array([_ssim(g.astype(np.float64), r.astype(np.float64))
                     for r, g in zip(real, generated)])


@torch.no_grad()
def lpips_frames(metric: Extractor, real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """LPIPS distance of every frame (inputs scaled to [-1, 1])."""
    check_pair(real, generated)
    out = []
    for i in range(0, len(real), PAIR_BATCH):
        a = _frames(real[i:i + PAIR_BATCH]).float() / 127.5 - 1
        b = _frames(generated[i:i + PAIR_BATCH]).float() / 127.5 - 1
        out.append(metric.net(b, a).flatten())
    return torch.cat(out).double().numpy()
