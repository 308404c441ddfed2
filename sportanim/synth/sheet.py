"""Contact sheets: one row per jump type, frames from entry to exit, for a human to look at.

``python -m sportanim.synth.sheet OUT.png [--size 160] [--seed 0]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sportanim.synth.jumps import JUMP_TYPES
from sportanim.synth.world import make_clip

LABEL_WIDTH = 110


def jump_contact_sheet(seed: int = 0, size: int = 160, columns: int = 8) -> Image.Image:
    """One clip per jump type; ``columns`` frames spread from before take-off to after landing."""
    rows = []
    for k, name in enumerate(JUMP_TYPES):
        clip = make_clip(seed, k, name, (size, size), 49)
        lab = clip.labels
        first = max(0, lab["takeoff_frame"] - 10)
        last = min(48, lab["landing_frame"] + 8)
        picks = np.linspace(first, last, columns).round().astype(int)
        strip = np.concatenate([clip.frames[i] for i in picks], axis=1)
        label = Image.new("RGB", (LABEL_WIDTH, size), "white")
        draw = ImageDraw.Draw(label)
        draw.text((6, size // 2 - 18), f"{name}\n{lab['revolutions']:g} rev\nair {lab['air_time']:.2f} s", fill="black")
        rows.append(np.concatenate([np.asarray(label), strip], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    jump_contact_sheet(args.seed, args.size).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
