"""Videos longer than the model's window: overlapping windows generated one after another,
joined across each overlap.

The plan (:func:`plan_windows`) steps by a multiple of the VAE's temporal factor, so every
window's latent frames (after its first, which holds one pixel frame) line up with the long
video's latent frames; the motion is padded at the end by holding its last pose to fill the
last window, and the padding is cut off the video. Joining:

- ``latent``: the windows' final latents are cross-faded over the shared latent frames and the
  whole sequence is decoded at once, so the VAE's temporal layers run across the seams;
- ``frames``: each window is decoded and the pixel frames are cross-faded over the overlap;
- ``cut``: no blending, the earlier window up to the middle of the overlap (a baseline).

The reference image of each window is the photo (``photo``) or the previous window's frame at
the new window's first frame (``carry``). :func:`seam_score` measures how visible the joins are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

REFERENCES = ("photo", "carry")
BLENDS = ("latent", "frames", "cut")


@dataclass(frozen=True)
class WindowPlan:
    """``total`` frames in windows of ``window`` frames starting ``step`` apart."""

    total: int
    window: int
    step: int
    count: int

    @property
    def starts(self) -> list[int]:
        return [k * self.step for k in range(self.count)]

    @property
    def overlap(self) -> int:
        return self.window - self.step if self.count > 1 else 0

    @property
    def padded(self) -> int:
        """Frames generated: the last window is filled by holding the last pose."""
        return self.window + (self.count - 1) * self.step

    def describe(self) -> dict:
        return {"frames": self.total, "window": self.window, "overlap": self.overlap, "step": self.step,
                "windows": [[s, s + self.window - 1] for s in self.starts], "padded_to": self.padded}


def plan_windows(total: int, window: int, overlap: int = 12, temporal: int = 4) -> WindowPlan:
    """Windows covering ``total`` frames, consecutive ones sharing at least ``overlap``
    frames (the step is ``window - overlap`` rounded down to a multiple of ``temporal``)."""
    if total < 1:
        raise ValueError(f"need at least one frame, got {total}")
    if (window - 1) % temporal:
        raise ValueError(f"window {window} is not 1 + a multiple of the temporal factor {temporal}")
    if not 1 <= overlap <= window - 1 - temporal:
        raise ValueError(f"overlap {overlap}: must be in 1..{window - 1 - temporal} for a {window}-frame window")
    step = (window - overlap) // temporal * temporal
    count = 1 if total <= window else 1 + -(-(total - window) // step)
    return WindowPlan(total, window, step, count)


def pad_motion(joints: np.ndarray, frames: int) -> np.ndarray:
    """``joints`` ``(T, 24, 3)`` cut or padded (holding the last pose) to ``frames``."""
    if len(joints) >= frames:
        return joints[:frames]
    hold = np.repeat(joints[-1:], frames - len(joints), axis=0)
    return np.concatenate([joints, hold])


@dataclass
class Windows:
    """What each window gave: latents ``(1, F, C, h, w)``, decoded frames ``(window, H, W, 3)``
    (when decoded),
    the reference used and seconds taken."""

    latents: list = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)


def generate_windows(generator, photo: np.ndarray, joints: np.ndarray, plan: WindowPlan, sampling,
                     reference: str = "photo", decode: bool = True, on_window=None, **size) -> Windows:
    """Generate every window of ``plan`` for ``joints`` (already ``plan.padded`` long) with
    ``generator`` (a ``sportanim.generation.Generator``); window k uses ``sampling.seed + k``.
    ``decode``: also decode each window (needed for pixel joins and ``carry``; a latent join
    of photo-referenced windows decodes once, at the end). ``size``: ``height``, ``width``,
    ``mean``, ``std`` for ``Generator.generate``."""
    from dataclasses import replace

    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    out = Windows()
    image = photo
    for k, start in enumerate(plan.starts):
        begun = time.perf_counter()
        seed = sampling.seed + k
        result = generator.generate(image, joints[start:start + plan.window], replace(sampling, seed=seed),
                                    num_frames=plan.window, latents_only=True, **size)
        out.latents.append(result.frames)
        if decode or reference == "carry":
            out.frames.append(generator.decode(result.frames))
        out.references.append("photo" if image is photo else f"window {k - 1} frame {plan.step}")
        out.seconds.append(time.perf_counter() - begun)
        out.seeds.append(seed)
        if reference == "carry":
            image = out.frames[-1][plan.step]  # the next window's first frame, as this one drew it
        if on_window is not None:
            on_window(k, plan.count)
    return out


def _ramp(n: int) -> np.ndarray:
    """Weights of the later window over ``n`` shared frames: strictly between 0 and 1."""
    return (np.arange(n) + 1.0) / (n + 1.0)


def join_latents(latents: list, plan: WindowPlan, temporal: int = 4):
    """One latent sequence ``(1, 1 + (padded - 1) / temporal, C, h, w)`` from the windows'."""
    import torch

    step, size = plan.step // temporal, latents[0].shape[1]
    joined = latents[0].clone()
    for window in latents[1:]:
        offset = joined.shape[1] - size + step + 1  # where this window's latent 1 sits in the long one
        shared = joined.shape[1] - offset
        w = torch.tensor(_ramp(shared), dtype=window.dtype, device=window.device).view(1, -1, 1, 1, 1)
        blended = (1 - w) * joined[:, offset:] + w * window[:, 1:1 + shared]
        joined = torch.cat([joined[:, :offset], blended, window[:, 1 + shared:]], dim=1)
    return joined


def join_frames(frames: list[np.ndarray], plan: WindowPlan, blend: str = "frames") -> np.ndarray:
    """One video ``(padded, H, W, 3)`` from decoded windows: cross-faded (``frames``) or cut
    in the middle of each overlap (``cut``)."""
    if blend not in ("frames", "cut"):
        raise ValueError(f"pixel joins are 'frames' or 'cut', got {blend!r}")
    joined = frames[0].astype(np.float64)
    for window in frames[1:]:
        shared = plan.window - plan.step
        start = len(joined) - shared
        if blend == "frames":
            w = _ramp(shared)[:, None, None, None]
        else:
            w = (np.arange(shared) >= shared // 2).astype(np.float64)[:, None, None, None]
        blended = (1 - w) * joined[start:] + w * window[:shared]
        joined = np.concatenate([joined[:start], blended, window[shared:]])
    return np.clip(np.rint(joined), 0, 255).astype(np.uint8)


def seam_score(frames: np.ndarray, plan: WindowPlan) -> dict:
    """How visible the joins are: the mean absolute change between consecutive frames over
    the overlaps (from the step into the first shared frame to the step out of the last)
    divided by the mean change everywhere else (1: seamless); ``peak`` is the largest
    single change over the overlaps divided by the median elsewhere. None for one window."""
    if plan.count < 2 or len(frames) < 3:
        return {"seam_ratio": None, "peak_ratio": None}
    f = frames.astype(np.float64)
    change = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))  # change[t]: frame t -> t + 1
    border = np.zeros(len(change), dtype=bool)
    for start in plan.starts[1:]:
        first, last = start - 1, start + plan.overlap - 1  # transitions touching the overlap
        border[max(first, 0):min(last + 1, len(change))] = True
    if not border.any() or border.all():
        return {"seam_ratio": None, "peak_ratio": None}
    inside = change[~border]
    return {"seam_ratio": float(change[border].mean() / max(inside.mean(), 1e-9)),
            "peak_ratio": float(change[border].max() / max(np.median(inside), 1e-9))}
