"""Speed of the synthetic world: tiny clips per second and seconds per 512x512 clip.

    python benchmarks/synth.py [--tiny-clips 40] [--full-clips 4] [--out benchmarks/results/synth.json]

Times the whole `sportanim synth` path (motion, kinematics, camera, render, H.264, npz,
manifest) with one worker and with one per core, and a per-stage breakdown of one clip.
Targets: >= 10 tiny clips/s; <= 5 s per 512x512 clip, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from sportanim.io.video import write_video
from sportanim.synth.dataset import SynthConfig, synthesize
from sportanim.synth.render import render
from sportanim.synth.world import make_clip


def time_synth(clips: int, size: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        synthesize(SynthConfig(out=Path(tmp) / "d", domain="both", clips=clips, size=size, seed=1,
                               workers=workers), show_progress=False)
        return time.perf_counter() - start


def stage_breakdown(size: int, repeats: int) -> dict:
    """Median seconds of each stage for one jump clip."""
    stages = {"clip (motion+camera+render)": [], "render only": [], "h264 encode": []}
    for r in range(repeats):
        t0 = time.perf_counter()
        clip = make_clip(5, r, "lutz", (size, size), 49)
        t1 = time.perf_counter()
        render(clip.world_joints, clip.camera, clip.appearance)
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_video(Path(tmp) / "v.mp4", clip.frames, 30.0)
        t3 = time.perf_counter()
        stages["clip (motion+camera+render)"].append(t1 - t0)
        stages["render only"].append(t2 - t1)
        stages["h264 encode"].append(t3 - t2)
    return {k: float(np.median(v)) for k, v in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny-clips", type=int, default=40)
    parser.add_argument("--full-clips", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synth.json")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    time_synth(2, 64, 1)  # warm up imports and caches
    tiny_1 = time_synth(args.tiny_clips, 64, 1)
    tiny_n = time_synth(args.tiny_clips, 64, cores)
    full_1 = time_synth(args.full_clips, 512, 1)
    full_n = time_synth(args.full_clips, 512, cores)
    result = {
        "machine": {"cores": cores, "python": platform.python_version(), "processor": platform.processor()},
        "tiny_49x64x64": {"clips": args.tiny_clips,
                           "clips_per_s_1_worker": args.tiny_clips / tiny_1,
                           f"clips_per_s_{cores}_workers": args.tiny_clips / tiny_n,
                           "stages_s": stage_breakdown(64, 5)},
        "full_49x512x512": {"clips": args.full_clips,
                             "s_per_clip_1_worker": full_1 / args.full_clips,
                             f"s_per_clip_{cores}_workers": full_n / args.full_clips,
                             "stages_s": stage_breakdown(512, 2)},
        "targets": {"tiny_clips_per_s": 10.0, "full_s_per_clip": 5.0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
