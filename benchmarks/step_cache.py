"""First-block step caching: how much faster, and what it costs.

    python benchmarks/step_cache.py [--weights DIR] [--clips 6] [--steps 25] [--thresholds 0,0.1,0.2,0.3,0.5]

For ``--clips`` synthetic daily clips (seed 11, never trained on), each generated from its
own first frame and joints by the tiny base (or ``--weights``) at every threshold
(``Sampling.step_cache``; 0 = off, the exact baseline), in the same run: seconds per clip
(generation with VAE decode), denoising steps whose later DiT blocks were skipped, PSNR of
the frames against the uncached video of the same seed, and motion PCK@0.1 of the video
against its driving joints (``sportanim.eval.motion_fidelity``, the shipped detector).
Writes benchmarks/results/step_cache.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from sportanim.eval.keypoints import load_keypoint_detector
from sportanim.eval.motion_fidelity import motion_scores
from sportanim.generation import Generator, ModelSpec, Sampling
from sportanim.io.files import write_text
from sportanim.synth.world import DOMAINS, make_clip

ROOT = Path(__file__).resolve().parent


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--thresholds", default="0,0.1,0.2,0.3,0.5")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "step_cache.json")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    if thresholds[0] != 0.0:
        thresholds.insert(0, 0.0)
    generator = Generator.load(ModelSpec(weights=args.weights))
    detector = load_keypoint_detector()
    motions = DOMAINS["daily"]
    clips = [make_clip(11, i, motions[i % len(motions)], size=(64, 64), frames=generator.num_frames)
             for i in range(args.clips)]
    rows = {t: {"seconds": [], "skipped": [], "psnr": [], "pck": []} for t in thresholds}
    for clip in clips:
        exact = None
        for t in thresholds:
            begun = time.perf_counter()
            out = generator.generate(clip.frames[0], clip.joints, Sampling(steps=args.steps, seed=0, step_cache=t))
            rows[t]["seconds"].append(time.perf_counter() - begun)
            exact = out.frames if exact is None else exact
            rows[t]["skipped"].append(out.skipped_steps)
            rows[t]["psnr"].append(psnr(out.frames, exact))
            rows[t]["pck"].append(motion_scores(detector.detect(out.frames), clip.joints, clip.camera.intrinsics).pck)
        print(clip.id, {t: (rows[t]["skipped"][-1], round(rows[t]["psnr"][-1], 1)) for t in thresholds}, flush=True)
    base = np.median(rows[0.0]["seconds"])
    summary = [{"threshold": t, "s_per_clip_median": float(np.median(r["seconds"])),
                "speedup": float(base / np.median(r["seconds"])),
                "skipped_steps_mean": float(np.mean(r["skipped"])),
                "psnr_vs_exact_db_min": float(np.min(r["psnr"])) if t else None,
                "psnr_vs_exact_db_mean": float(np.mean(r["psnr"])) if t else None,
                "motion_pck_mean": float(np.mean(r["pck"]))} for t, r in rows.items()]
    result = {"weights": str(args.weights or "shipped tiny base"), "clips": [c.id for c in clips],
              "steps": args.steps, "torch_threads": torch.get_num_threads(),
              "load_average_1min": os.getloadavg()[0], "rows": summary}
    write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
