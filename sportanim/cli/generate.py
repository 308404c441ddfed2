"""``sportanim generate``: a reference image and a motion -> an H.264 video (``generate_video``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import run, say


def generate(
    motion: str = typer.Option(..., "--motion", help="Motion: FILE.npz (array 'joints'; FILE.npz#KEY), FILE.npy, "
                               "FILE.pkl[#N] (MTVCrafter sample N) or an FSJD clip id (with --data)."),
    out: Path = typer.Option(..., "--out", help="Output video (.mp4, H.264)."),
    ref_image: Optional[Path] = typer.Option(None, "--ref-image", help="Reference image of the person "
                                             "(default: the motion's source video, first frame)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights folder: tokenizer/, transformer/, vae/, "
                                           "stats.json (default: the shipped tiny base; random weights if absent)."),
    preset: str = typer.Option("tiny", "--preset", help="tiny | mtvcrafter-7b (used without --weights)."),
    steps: int = typer.Option(50, "--steps", help="Denoising steps."),
    guidance: float = typer.Option(3.0, "--guidance", help="Motion classifier-free guidance scale (1: off)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same video."),
    step_cache: float = typer.Option(0.0, "--step-cache", help="Skip the DiT's later blocks on steps whose first "
                                     "block changed less than this (first-block caching; 0: off, exact)."),
    panel: bool = typer.Option(False, "--panel", help="Also write OUT.panel.mp4: reference | source | skeleton | "
                               "reconstructed skeleton | generated."),
    data: Optional[Path] = typer.Option(None, "--data", help="FSJD folder, for clip ids and its stats.json."),
    scheduler: str = typer.Option("dpm", "--scheduler", help="dpm | ddim."),
    start: int = typer.Option(0, "--start", help="First motion frame used."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Output frame rate (default: the source's, else 30)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16."),
    offload: bool = typer.Option(False, "--offload", help="Model CPU offload (GPU memory for time)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the DiT, meant for GPUs (not measured "
                                 "there yet; the tiny CPU model gains nothing and compiles for ~90 s)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Animate a reference image with a 3D motion (MTVCrafter pipeline)."""
    from sportanim.generation import ModelSpec, Sampling, generate_video

    def show(note: str) -> None:
        style = "bold yellow" if "RANDOM" in note else "dim"
        say(f"[{style}]note:[/] {note}")

    model = ModelSpec(weights=weights, preset=preset, scheduler=scheduler, device=device, dtype=dtype, offload=offload,
                      compile=compile)
    sampling = run(Sampling, steps=steps, guidance=guidance, seed=seed, step_cache=step_cache)
    result = run(generate_video, motion, out, ref_image=ref_image, model=model,
                 sampling=sampling, panel=panel, data=data,
                 start=start, fps=fps, show_progress=not quiet, on_note=show)
    say(f"wrote {result.video}" + (f" and {result.panel}" if result.panel else "") + f" in {result.seconds:.1f} s")
