"""``sportanim plan-memory``: flags in, one ``plan_memory`` call, the per-GPU breakdown as a table."""

from __future__ import annotations

from typing import Optional

import typer

from sportanim.cli.errors import run


def plan_memory(
    config: str = typer.Option("mtvcrafter-7b", "--config", help="tiny | mtvcrafter-7b."),
    strategy: str = typer.Option("diffusion", "--strategy", help="tokenizer | diffusion | staged."),
    lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help="LoRA rank on the MV-DiT (default: full fine-tuning)."),
    optimizer: str = typer.Option("adamw", "--optimizer", help="adamw | adamw8bit."),
    gpus: int = typer.Option(1, "--gpus", help="GPUs (data parallel)."),
    zero: int = typer.Option(0, "--zero", help="ZeRO stage 0, 1, 2 or 3 (needs --gpus >= 2)."),
    checkpointing: bool = typer.Option(True, "--checkpointing/--no-checkpointing", help="Gradient checkpointing of the MV-DiT blocks."),
    dtype: str = typer.Option("bfloat16", "--dtype", help="Weights and activations: bfloat16 | float16 | float32."),
    master_weights: Optional[bool] = typer.Option(None, "--master-weights/--no-master-weights", help="fp32 master weights and moments (default: on for 16-bit training)."),
    adam_kernel: str = typer.Option("fused", "--adam-kernel", help="fused | foreach | for-loop (its step temporaries)."),
    mode: str = typer.Option("train", "--mode", help="train | generate."),
    height: Optional[int] = typer.Option(None, "--height", help="Video height (default: the config's, 512 at 7B)."),
    width: Optional[int] = typer.Option(None, "--width", help="Video width (default: the config's)."),
    frames: int = typer.Option(49, "--frames", help="Video frames."),
    batch: int = typer.Option(1, "--batch", help="Clips per GPU (generation doubles it for motion guidance)."),
    cpu_offload: bool = typer.Option(False, "--cpu-offload", help="Generate with one model on the GPU at a time."),
    no_guidance: bool = typer.Option(False, "--no-guidance", help="Generate without motion CFG (batch not doubled)."),
    vae_tiling: bool = typer.Option(False, "--vae-tiling", help="Generate with a tiled VAE decode."),
) -> None:
    """Per-GPU memory of a training step or a generation, from the models' real shapes."""
    from rich.console import Console

    from sportanim.train.memory import plan_memory as count_memory

    console = Console()
    with console.status("counting (the VAE and the 4DMoT are traced)"):
        plan = run(count_memory, config=config, strategy=strategy, lora_rank=lora_rank, optimizer=optimizer,
                   gpus=gpus, zero=zero, gradient_checkpointing=checkpointing, dtype=dtype, mode=mode,
                   height=height, width=width, frames=frames, batch=batch, master_weights=master_weights,
                   adam_kernel=adam_kernel, cpu_offload=cpu_offload, guidance=not no_guidance,
                   vae_tiling=vae_tiling)
    console.print(plan_table(plan))


def plan_table(plan):
    """A rich table of ``plan``: its items, the peak, the other moments' totals."""
    from rich.table import Table

    from sportanim.train.memory import GIB

    s = plan.settings
    what = f"{s['mode']} {s['config']}" + (f" {s['strategy']}" if s["mode"] == "train" else "")
    if s["mode"] == "train":
        what += f", {'LoRA r=' + str(s['lora_rank']) if s['lora_rank'] else 'full'}, {s['optimizer']}"
        what += f", {s['gpus']} GPU(s) ZeRO-{s['zero']}" + (", checkpointing" if s["gradient_checkpointing"] else "")
    else:
        what += ", CPU offload" if s["cpu_offload"] else ", all models on the GPU"
    what += f", {s['dtype']}, {s['batch']} x {s['frames']}x{s['height']}x{s['width']}"
    table = Table(title=f"Memory per GPU: {what}", title_justify="left")
    table.add_column("item")
    table.add_column("GiB", justify="right")
    table.add_column("how it was counted")
    for item in plan.items:
        table.add_row(item.name, f"{item.bytes / GIB:.2f}", item.note)
    table.add_row(f"[bold]peak ({plan.peak_moment})", f"[bold]{plan.peak_gib:.2f}", "")
    for moment, nbytes in plan.other_moments.items():
        table.add_row(f"[dim]at {moment}", f"[dim]{nbytes / GIB:.2f}", "[dim]smaller moment")
    return table
