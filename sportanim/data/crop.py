"""Crops of decoded frames for the clip builder: each frame cut to its box and resized in
one swscale pass, and the camera intrinsics of the result."""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from sportanim.io.video import AREA_FLAGS


def crop_resize(frames: np.ndarray, boxes: np.ndarray, size: tuple[int, int],
                fill: int = 0) -> np.ndarray:
    """Crop each frame to its box and resize the crop to ``size`` = (width, height).

    ``frames`` uint8 ``(N, H, W, 3)``; ``boxes`` float ``(N, 4)`` or ``(4,)`` as ``x0, y0,
    x1, y1`` pixels (continuous, top-left origin; may reach outside the frame: the outside is
    ``fill``). Uses swscale's area filter through one reused converter. The crop of pixel box
    ``(x0, y0, x1, y1)`` is rounded to whole pixels; camera intrinsics of the result are
    ``K' = S @ T @ K`` with ``T`` the shift by ``(-round(x0), -round(y0))`` and ``S`` the
    scale ``size / (round(x1) - round(x0), round(y1) - round(y0))`` (see
    :func:`crop_intrinsics`). Returns uint8 ``(N, size[1], size[0], 3)``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}")
    boxes = np.broadcast_to(np.asarray(boxes, dtype=np.float64), (len(frames), 4))
    out_w, out_h = int(size[0]), int(size[1])
    out = np.empty((len(frames), out_h, out_w, 3), dtype=np.uint8)
    scaler = VideoReformatter()
    _, h, w, _ = frames.shape
    for n, (frame, box) in enumerate(zip(frames, boxes)):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ValueError(f"crop box {box.tolist()} of frame {n} is empty")
        if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
            crop = frame[y0:y1, x0:x1]
        else:
            crop = np.full((y1 - y0, x1 - x0, 3), fill, dtype=np.uint8)
            sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if sx1 > sx0 and sy1 > sy0:
                crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
        if crop.shape[:2] == (out_h, out_w):
            out[n] = crop
            continue
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format="rgb24")
        out[n] = scaler.reformat(image, width=out_w, height=out_h, format="rgb24",
                                 interpolation=AREA_FLAGS, threads=1).to_ndarray()
    return out


def crop_intrinsics(intrinsics: np.ndarray, box, size: tuple[int, int]) -> np.ndarray:
    """Intrinsics ``(3, 3)`` of the crop made by :func:`crop_resize` from one box."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    K = np.array(intrinsics, dtype=np.float64)
    K[0, 2] -= x0
    K[1, 2] -= y0
    K[0] *= size[0] / (x1 - x0)
    K[1] *= size[1] / (y1 - y0)
    return K
