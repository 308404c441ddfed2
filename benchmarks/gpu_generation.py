"""7B-world generation speed on one GPU: dtype, compile and step caching side by side.

    python benchmarks/gpu_generation.py [--weights DIR] [--steps 10] [--size 512] [--frames 49]
                                        [--step-cache 0.1] [--out benchmarks/results/gpu_generation.json]

Without ``--weights`` the ``mtvcrafter-7b`` preset is built with random weights (the released
MV-DiT-7B and CogVideoX-5B VAE cannot be downloaded everywhere); speed and memory depend on the
shapes, not the values, so the timings hold for the released weights (the step cache's skip
count does not: it depends on how the trained model's features change, so its rows say so).
Each configuration generates one clip after one warm-up at the same seed:

- ``bf16`` (the default on GPUs) and ``fp32`` for the DiT and the VAE;
- ``bf16 + compile`` (``ModelSpec.compile``; the warm-up pays the compilation, reported apart);
- ``bf16 + step cache`` at ``--step-cache`` (``Sampling.step_cache``), with the skipped steps
  and the PSNR of its frames against the ``bf16`` video.

Attention runs through PyTorch's scaled-dot-product attention (diffusers' CogVideoX processor
and the motion attention), so the fused flash / memory-efficient kernels are used on GPUs.
Peak GPU memory per configuration from ``torch.cuda.max_memory_allocated``. Refuses to run
without a CUDA GPU. ``docs/speed.md`` says what to run and what to look for.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from sportanim.generation import Generator, ModelSpec, Sampling
from sportanim.models.pipeline import build_pipeline

ROOT = Path(__file__).resolve().parent


def _generator(weights: Path | None, dtype: str, compile: bool) -> Generator:
    if weights is not None:
        return Generator.load(ModelSpec(weights=weights, device="cuda", dtype=dtype, compile=compile))
    torch_dtype = {"bf16": torch.bfloat16, "fp32": None}[dtype]
    pipe = build_pipeline("mtvcrafter-7b", seed=0, device="cuda", torch_dtype=torch_dtype)
    pipe.vae.enable_tiling()  # upstream at 512x512x49 on one GPU
    pipe.set_progress_bar_config(disable=True)
    if compile:
        pipe.transformer.compile(dynamic=False)
    rng = np.random.default_rng(0)
    return Generator(pipe, rng.normal(0, 300, (24, 3)), np.full((24, 3), 300.0), random_weights=True)


def _joints(frames: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(0, 5, (frames, 1, 3)), axis=0)
    return (rng.normal(0, 250, (1, 24, 3)) + walk + [0, 0, 3500]).astype(np.float32)


def run(args, dtype: str, compile: bool, step_cache: float) -> tuple[dict, np.ndarray]:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    begun = time.perf_counter()
    generator = _generator(args.weights, dtype, compile)
    load_s = time.perf_counter() - begun
    image = np.full((args.size, args.size, 3), 128, np.uint8)
    joints = _joints(args.frames)
    sampling = Sampling(steps=args.steps, seed=0, step_cache=step_cache)
    kwargs = dict(height=args.size, width=args.size, num_frames=args.frames)
    begun = time.perf_counter()
    generator.generate(image, joints, sampling, **kwargs)  # warm-up (and compilation)
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - begun
    begun = time.perf_counter()
    out = generator.generate(image, joints, sampling, **kwargs)
    torch.cuda.synchronize()
    row = {"dtype": dtype, "compile": compile, "step_cache": step_cache, "load_s": load_s,
           "first_generation_s": warm_s, "s_per_clip": time.perf_counter() - begun,
           "skipped_steps": out.skipped_steps, "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30}
    del generator
    return row, out.frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--step-cache", type=float, default=0.1)
    parser.add_argument("--skip-fp32", action="store_true", help="leave out the fp32 row (memory or time)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gpu_generation.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu_generation.py needs a CUDA GPU")
    rows = []
    exact_row, exact = run(args, "bf16", False, 0.0)
    rows.append(exact_row)
    if not args.skip_fp32:
        rows.append(run(args, "fp32", False, 0.0)[0])
    rows.append(run(args, "bf16", True, 0.0)[0])
    cached_row, cached = run(args, "bf16", False, args.step_cache)
    mse = float(((cached.astype(np.float64) - exact.astype(np.float64)) ** 2).mean())
    cached_row["psnr_vs_bf16_db"] = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    rows.append(cached_row)
    for row in rows:
        row["speedup_vs_bf16"] = exact_row["s_per_clip"] / row["s_per_clip"]
        print(json.dumps(row), flush=True)
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
              "weights": str(args.weights or "mtvcrafter-7b preset, random weights (skip counts not meaningful)"),
              "steps": args.steps, "size": args.size, "frames": args.frames, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
