"""Speed of the tiny models: tokenizer clips/s, MV-DiT training-step time and achieved FLOP/s,
seconds per generated tiny clip.

    python benchmarks/models.py [--repeats 5] [--out benchmarks/results/models.json]

- tokenizer: the tiny 4DMoT encoding and decoding 49-frame clips (no gradients), per batch size;
- DiT step: the tiny MV-DiT on random latents and motion tokens, forward + MSE + backward + AdamW,
  float32; FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions,
  attention; forward and backward), divided by the median step time, and compared with the
  FLOP/s of a plain float32 matmul timed in the same run on the same threads;
- generation: ``build_pipeline("tiny")`` with random weights, 64x64x49, motion CFG on (scale 3),
  motion K/V cached, 10 and 25 DPM steps, VAE decode and tokenizer included; also with the VAE's
  batch-1 3D convolutions left on torch's own CPU kernel choice (``torch_conv3d_rule``), the
  baseline of ``sportanim.models.cpu_conv``, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from sportanim.io.files import write_text
from sportanim.models.dit import MVDiT
from sportanim.generation import Generator, Sampling
from sportanim.models.cpu_conv import route_conv3d_to_onednn
from sportanim.models.pipeline import build_pipeline
from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer


SPREAD: list[float] = []  # min / median of every timing: how much the shared machine interfered


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    SPREAD.append(min(times) / statistics.median(times))
    return statistics.median(times)


def machine() -> dict:
    return {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "load_average_1min_at_start": os.getloadavg()[0]}


def finish(result: dict) -> dict:
    """Close a result: load at the end and the worst timing spread (1.0 = steady)."""
    result["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    result["machine"]["worst_min_over_median"] = min(SPREAD) if SPREAD else None
    result["note"] = ("medians on a shared 2-core machine; compare ratios within one run (the matmul peak is "
                      "measured under the same load), not absolute times across runs")
    return result


def write_result(result: dict, out: Path) -> None:
    """Measure the peak again (the machine is shared: say how steady it was), close the
    result, write it atomically as JSON and print it."""
    result["matmul_peak_flop_per_s_after"] = matmul_peak()
    finish(result)
    write_text(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def matmul_peak(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of a plain float32 (n x n) @ (n x n) matmul: the machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats, warmup=3)


def counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn``, as FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def tiny_dit_step(batch: int, seed: int = 0) -> tuple[Callable[[], None], Callable[[], None]]:
    """(full training step, forward + backward only) of the tiny MV-DiT on random inputs."""
    torch.manual_seed(seed)
    model = MVDiT.from_preset("tiny").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    shape = (batch, 13, 4, 8, 8)  # 49x64x64 through the tiny VAE
    noisy, ref, target = torch.randn(shape), torch.randn(shape), torch.randn(shape)
    motion = torch.randn(batch, model.config.num_motion_tokens, model.motion_dim)
    t = torch.randint(0, 1000, (batch,))

    def fwd_bwd() -> None:
        pred = model(noisy, t, motion_tokens=motion, reference_latents=ref).sample
        torch.nn.functional.mse_loss(pred, target).backward()

    def step() -> None:
        fwd_bwd()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, fwd_bwd


def bench_tokenizer(batches: list[int], repeats: int) -> dict:
    tok = MotionTokenizer(TOKENIZER_PRESETS["tiny"]).eval()
    tok.vq.codebook.normal_()
    out = {}
    for b in batches:
        joints = torch.randn(b, 49, 24, 3)

        def run() -> None:
            with torch.no_grad():
                tok.decode(tok.encode(joints)[0])

        out[f"batch_{b}"] = {"s_per_batch": (s := median_seconds(run, repeats)), "clips_per_s": b / s}
    return out


def bench_dit(batches: list[int], repeats: int, peak: float) -> dict:
    out = {}
    for b in batches:
        step, fwd_bwd = tiny_dit_step(b)
        flops = counted_flops(fwd_bwd)
        s = median_seconds(step, repeats)
        out[f"batch_{b}"] = {"s_per_step": s, "flops_per_step": flops, "flop_per_s": flops / s,
                             "ratio_to_matmul_peak": flops / s / peak}
    return out


def bench_generation(steps_list: list[int], repeats: int) -> dict:
    image = np.full((64, 64, 3), 128, np.uint8)
    joints = (np.random.default_rng(0).normal(0, 200, (49, 24, 3)) + [0, 0, 3000]).astype(np.float32)
    mean, std = joints.mean(axis=0), joints.std(axis=0) + 1.0  # speed only: any statistics do
    pipe = build_pipeline("tiny", seed=0)
    pipe.set_progress_bar_config(disable=True)
    generator = Generator(pipe, mean, std)
    routed = [m for m in pipe.vae.modules() if "_conv_forward" in vars(m)]
    out = {}
    for steps in steps_list:
        def run() -> None:
            generator.generate(image, joints, Sampling(steps=steps, guidance=3.0, seed=0))

        fast = median_seconds(run, repeats)
        for m in routed:  # torch's own kernel rule for these batch-1 convolutions
            del m._conv_forward
        slow = median_seconds(run, repeats)
        route_conv3d_to_onednn(pipe.vae)
        out[f"steps_{steps}"] = {"s_per_clip": fast, "s_per_clip_torch_conv3d_rule": slow, "speedup": slow / fast}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "models.json")
    args = parser.parse_args()
    peak = matmul_peak()
    result = {
        "machine": machine(),
        "matmul_peak_flop_per_s": peak,
        "matmul": "float32 1024x1024 @ 1024x1024, median of 10",
        "tokenizer_tiny_encode_decode_49_frames": bench_tokenizer([1, 8, 32], args.repeats),
        "dit_tiny_train_step_float32": bench_dit([1, 8], args.repeats, peak),
        "generation_tiny_64x64x49_cfg": bench_generation([10, 25], max(1, args.repeats // 2)),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
