"""Video corruptions of graded strength, for checking that a video distance grows with them
(the validation of Unterthiner et al., "Towards Accurate Generative Models of Video").

Each corruption maps a uint8 video ``(T, H, W, 3)`` and a strength >= 0 to a uint8 video of
the same shape; strength 0 returns the input unchanged. Random ones take a
``numpy.random.Generator``. ``LEVELS`` holds increasing strengths for 64 px clips, from
barely visible to obvious.

- ``blur``: Gaussian blur of every frame, sigma = strength pixels.
- ``noise``: additive Gaussian noise, std = strength (0-255 units).
- ``shuffle``: in every 16-frame window a fraction ``strength`` of the frames trade places
  (a random permutation of the chosen positions); the set of frames stays the same.
- ``freeze``: every frame held for ``1 + strength`` frames (frame t shows frame
  ``t - t mod (1 + strength)``), a stutter; strength is an integer.
- ``colour``: red raised and blue lowered by strength (0-255 units), clipped.
- ``salt_pepper``: a fraction ``strength`` of the pixels set to black or white.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

SHUFFLE_WINDOW = 16


def _check(video: np.ndarray, strength: float) -> None:
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected a uint8 video (T, H, W, 3), got {video.dtype} {video.shape}")
    if strength < 0:
        raise ValueError(f"corruption strength must be >= 0, got {strength}")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def blur(video: np.ndarray, strength: float, rng=None) -> np.ndarray:
    _check(video, strength)
    if strength == 0:
        return video.copy()
    return _to_uint8(gaussian_filter(video.astype(np.float32), sigma=(0, strength, strength, 0),
                                     mode="nearest"))


def noise(video: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    _check(video, strength)
    if strength == 0:
        return video.copy()
    return _to_uint8(video + rng.normal(0.0, strength, video.shape).astype(np.float32))


def shuffle(video: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    _check(video, strength)
    if strength > 1:
        raise ValueError(f"shuffle strength is a fraction of frames in [0, 1], got {strength}")
    order = np.arange(len(video))
    for start in range(0, len(video), SHUFFLE_WINDOW):
        window = order[start:start + SHUFFLE_WINDOW]
        chosen = rng.choice(len(window), size=int(round(strength * len(window))), replace=False)
        if len(chosen) > 1:  # a derangement of the chosen ones: every chosen frame moves
            window[chosen] = window[np.roll(chosen, 1 + int(rng.integers(len(chosen) - 1)))]
    return video[order]


def freeze(video: np.ndarray, strength: float, rng=None) -> np.ndarray:
    _check(video, strength)
    if strength != int(strength):
        raise ValueError(f"freeze strength is a whole number of held frames, got {strength}")
    hold = 1 + int(strength)
    return video[np.arange(len(video)) // hold * hold]


def colour(video: np.ndarray, strength: float, rng=None) -> np.ndarray:
    _check(video, strength)
    if strength == 0:
        return video.copy()
    return _to_uint8(video + np.array([strength, 0.0, -strength], dtype=np.float32))


def salt_pepper(video: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    _check(video, strength)
    if strength > 1:
        raise ValueError(f"salt-and-pepper strength is a fraction of pixels in [0, 1], got {strength}")
    out = video.copy()
    hit = rng.random(video.shape[:3]) < strength
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)[:, None].astype(np.uint8)
    return out


CORRUPTIONS = {"blur": blur, "noise": noise, "shuffle": shuffle, "freeze": freeze,
               "colour": colour, "salt_pepper": salt_pepper}
LEVELS = {"blur": (0.0, 0.5, 1.0, 1.5, 2.0), "noise": (0.0, 4.0, 8.0, 16.0, 32.0),
          "shuffle": (0.0, 0.25, 0.5, 0.75, 1.0), "freeze": (0, 1, 2, 4, 8),
          "colour": (0.0, 4.0, 8.0, 16.0, 32.0), "salt_pepper": (0.0, 0.005, 0.01, 0.02, 0.05)}


def corrupt(video: np.ndarray, name: str, strength: float,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """``CORRUPTIONS[name](video, strength, rng)``; ``rng`` defaults to a seed-0 generator."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name](video, strength, rng if rng is not None else np.random.default_rng(0))
