"""Figures as PNG: Figure 2 (frames of each model beside ground truth and skeletons) and the
training curves of the runs (from their ``metrics.jsonl``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportanim.io.files import atomic_file
from sportanim.skeleton import overlay_skeleton

UPSCALE = 2  # tiny-world frames are 64 px: drawn at twice that, nearest neighbour


@dataclass
class FigureClip:
    """One eval clip of Figure 2: the real frames (T, H, W, 3) uint8, its joints (T, 24, 3)
    mm and intrinsics (3, 3) or (T, 3, 3); ``models``: label -> (generated frames, the joints
    the model was driven by, i.e. its tokenizer's reconstruction) in row order."""

    id: str
    frames: np.ndarray
    joints: np.ndarray
    intrinsics: np.ndarray
    models: dict[str, tuple[np.ndarray, np.ndarray]]


def frame_picks(frames: int, count: int) -> np.ndarray:
    """``count`` frame indices spread evenly from the first frame to the last."""
    return np.unique(np.linspace(0, frames - 1, max(1, count)).round().astype(int))


def clip_rows(clip: FigureClip, picks: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """One image (rows x picked frames) and its row labels: ground truth, ground truth with
    its skeleton, then each model's frames with the skeleton that drove it."""
    rows = [("ground truth", clip.frames[picks]),
            ("ground truth + skeleton", overlay_skeleton(clip.frames[picks], clip.joints[picks],
                                                         _pick_camera(clip.intrinsics, picks)))]
    for label, (frames, joints) in clip.models.items():
        shown = overlay_skeleton(frames[picks], joints[picks], _pick_camera(clip.intrinsics, picks))
        rows.append((label, shown))
    image = np.concatenate([np.concatenate(list(r), axis=1) for _, r in rows], axis=0)
    return image.repeat(UPSCALE, 0).repeat(UPSCALE, 1), [label for label, _ in rows]


def _pick_camera(intrinsics: np.ndarray, picks: np.ndarray) -> np.ndarray:
    return intrinsics[picks] if intrinsics.ndim == 3 else intrinsics


def figure2(clips: list[FigureClip], path: Path, frames_per_clip: int = 5) -> Path:
    """Write Figure 2 to ``path`` (PNG): one panel per clip, rows as in ``clip_rows``,
    columns the picked frames (their indices on the x axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not clips:
        raise ValueError("figure 2 needs at least one clip")
    blocks = []
    for clip in clips:
        picks = frame_picks(len(clip.frames), frames_per_clip)
        blocks.append((clip, picks, *clip_rows(clip, picks)))
    h, w = blocks[0][2].shape[:2]
    fig, axes = plt.subplots(len(blocks), 1, figsize=(2.2 + w / 80, len(blocks) * (0.4 + h / 80)), squeeze=False)
    for ax, (clip, picks, image, labels) in zip(axes[:, 0], blocks):
        ax.imshow(image, interpolation="nearest")
        row_h, col_w = image.shape[0] / len(labels), image.shape[1] / len(picks)
        ax.set_yticks((np.arange(len(labels)) + 0.5) * row_h, labels, fontsize=8)
        ax.set_xticks((np.arange(len(picks)) + 0.5) * col_w, [f"frame {p}" for p in picks], fontsize=7)
        ax.set_title(f"eval clip {clip.id}", fontsize=9)
        ax.tick_params(length=0)
    fig.tight_layout()
    return _save(fig, path)


def read_metrics(path: Path) -> list[dict]:
    """The rows of a run's ``metrics.jsonl`` (lines a kill cut short are skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def training_curves(runs: dict[str, dict[str, Path]], path: Path, key: str = "loss") -> Path:
    """One panel per group of ``runs`` ({panel title: {curve label: metrics.jsonl}}): ``key``
    against the optimizer step, log scale when all values are positive."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(1, len(runs)), figsize=(4.2 * max(1, len(runs)), 3.0), squeeze=False)
    for ax, (title, curves) in zip(axes[0], runs.items()):
        positive = True
        for label, jsonl in curves.items():
            rows = [r for r in read_metrics(jsonl) if key in r and math.isfinite(r[key])]
            steps, values = [r["step"] for r in rows], [r[key] for r in rows]
            positive &= all(v > 0 for v in values)
            ax.plot(steps, values, marker=".", label=label)
        if positive:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")  # long row labels stay inside
    plt.close(fig)
    return path
