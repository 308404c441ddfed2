"""Training speed on the tiny preset: steps/s and samples/s of the 4DMoT and the MV-DiT, and the
DiT step's achieved FLOP/s as a share of a plain matmul's, measured in the same run.

    python benchmarks/train.py [--steps 10] [--batch 8] [--out benchmarks/results/train.json]

Each step is what ``sportanim train`` runs per optimizer step, minus data loading and logging:
the strategy's objective (``TokenizerObjective``: encode, EMA codebook update, decode, L1 +
commitment; ``DiffusionObjective``: v-prediction on CogVideoX's training schedule with motion
dropout, the frozen VAE's cached posteriors and tokens given as random tensors of their
shapes), backward, AdamW, zero_grad. float32, batch = the tiny preset's global batch (8).
AdamW is the trainer's (``make_adamw``: torch's fused kernel); each step is also timed with torch's
default kernel (on the CPU a Python loop over the parameters) in the same run, as a baseline.
FLOPs of the DiT step: ``FlopCounterMode`` over forward + backward (matmuls, convolutions,
attention). Full fine-tuning and LoRA (rank 8) are both timed.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from sportanim.models.dit import MVDiT
from sportanim.models.pipeline import make_scheduler
from sportanim.models.tokenizer import TOKENIZER_PRESETS, MotionTokenizer
from sportanim.train.diffusion import LORA_TARGETS, DiffusionObjective
from sportanim.train.optimizer import make_adamw
from sportanim.train.specs import TokenizerObjective


def _sibling(name: str):
    """benchmarks/<name>.py as a module (its timing helpers), however this script is run."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _sibling("models")


KERNELS = ("fused", "default")  # the trainer's AdamW, and torch's default kernel as the baseline


def adamw(params, lr: float, kernel: str) -> torch.optim.Optimizer:
    return make_adamw(params, lr=lr, allow_fused=kernel == "fused")


def tokenizer_step(batch: int, kernel: str = "fused"):
    torch.manual_seed(0)
    objective = TokenizerObjective(MotionTokenizer(TOKENIZER_PRESETS["tiny"])).train()
    opt = adamw(objective.parameters(), 1e-3, kernel)
    data = {"joints": torch.randn(batch, 49, 24, 3), "positions": torch.arange(batch)}
    seed = iter(range(10**9))

    def step() -> None:
        objective(data, next(seed))["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def dit_step(batch: int, lora_rank: int = 0, kernel: str = "fused"):
    """(training step, forward + backward only) of the diffusion objective on the tiny DiT."""
    torch.manual_seed(0)
    dit = MVDiT.from_preset("tiny")
    if lora_rank:
        from peft import LoraConfig

        dit.add_adapter(LoraConfig(r=lora_rank, lora_alpha=lora_rank, target_modules=LORA_TARGETS))
        for name, p in dit.named_parameters():
            p.requires_grad_("lora_" in name)
    objective = DiffusionObjective(dit, make_scheduler("ddim"), motion_drop=0.1, scaling_factor=1.0).train()
    opt = adamw([p for p in dit.parameters() if p.requires_grad], 1e-4, kernel)
    shape = (batch, 13, 4, 8, 8)  # 49x64x64 clips through the tiny VAE
    data = {"latent_mean": torch.randn(shape), "latent_std": torch.rand(shape), "ref_mean": torch.randn(shape),
            "ref_std": torch.rand(shape), "motion": torch.randn(batch, dit.config.num_motion_tokens, dit.motion_dim),
            "positions": torch.arange(batch)}
    seed = iter(range(10**9))

    def fwd_bwd() -> None:
        objective(data, next(seed))["loss"].backward()

    def step() -> None:
        fwd_bwd()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, fwd_bwd


def rates(seconds: float, batch: int) -> dict:
    return {"s_per_step": seconds, "steps_per_s": 1 / seconds, "samples_per_s": batch / seconds}


def baseline(seconds: dict[str, float]) -> dict:
    """The step with torch's default AdamW kernel, and the fused one's speed-up over it."""
    return {"s_per_step_default_adamw": seconds["default"], "fused_adamw_speedup": seconds["default"] / seconds["fused"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model (median)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train.json")
    args = parser.parse_args()
    peak = bench.matmul_peak()
    result = {
        "machine": bench.machine(),
        "objective": "real: sportanim.train TokenizerObjective / DiffusionObjective (cached inputs as random tensors)",
        "batch": args.batch,
        "matmul_peak_flop_per_s": peak,
    }
    seconds = {k: bench.median_seconds(tokenizer_step(args.batch, k), args.steps) for k in KERNELS}
    result["tokenizer_tiny"] = {**rates(seconds["fused"], args.batch), **baseline(seconds)}
    for name, rank in (("dit_tiny_full", 0), ("dit_tiny_lora8", 8)):
        steps = {k: dit_step(args.batch, rank, k) for k in KERNELS}
        flops = bench.counted_flops(steps["fused"][1])
        seconds = {k: bench.median_seconds(steps[k][0], args.steps) for k in KERNELS}
        s = seconds["fused"]
        result[name] = {**rates(s, args.batch), "flops_per_step": flops, "flop_per_s": flops / s,
                        "ratio_to_matmul_peak": flops / s / peak, **baseline(seconds)}
    bench.write_result(result, args.out)


if __name__ == "__main__":
    main()
