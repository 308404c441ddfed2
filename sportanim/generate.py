"""``sportanim generate``: a reference image and a motion -> an H.264 video.

``generate_video`` is the library call (usable from Python); ``generate_command`` only parses
flags and calls it, turning user errors into one line and exit code 2. Register it with
``app.command("generate")(generate_command)``; ``generate_app`` is the same command as a
one-command typer app (for tests, or ``python -m``-style use).

``--panel`` also writes ``OUT.panel.mp4``: reference | source video (if the motion has one) |
input skeleton | tokenizer-reconstructed skeleton | generated, each at the output size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console

console = Console(stderr=True)
DEFAULT_FPS = 30.0  # the synthetic world's rate; used when the motion source has none
TILING_ABOVE_PX = 256  # tiled VAE for larger frames (the 7B's 512 px, as upstream); the tiny world runs untiled


@dataclass
class GenerateResult:
    video: Path
    panel: Path | None
    seconds: float
    random_weights: bool
    notes: list[str] = field(default_factory=list)


def _pick_device(device: str, dtype: str):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtypes = {"auto": torch.bfloat16 if device.startswith("cuda") else None, "fp32": None,
              "bf16": torch.bfloat16, "fp16": torch.float16}
    if dtype not in dtypes:
        raise ValueError(f"--dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    return device, dtypes[dtype]


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"reference image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


def _stats_for(pipe, data: Path | None, joints: np.ndarray, note: Callable[[str], None]):
    """The normalisation: the weights' own, else the dataset's stats.json, else the clip's."""
    from sportanim import fsjd
    from sportanim.models.motion_io import motion_stats

    if pipe.config.joint_mean is not None:
        return np.asarray(pipe.config.joint_mean), np.asarray(pipe.config.joint_std)
    if data is not None and (data / fsjd.STATS_NAME).is_file():
        stats = fsjd.read_stats(data)
        note(f"joint statistics from {data / fsjd.STATS_NAME}")
        return np.asarray(stats["mean"]), np.asarray(stats["std"])
    note("joint statistics computed from this motion alone (the weights carry none)")
    return motion_stats(joints)


def _load(weights: Path | None, preset: str, scheduler: str, device: str, dtype, note: Callable[[str], None]):
    from sportanim.models.pipeline import PIPELINE_PRESETS, build_pipeline, load_pipeline

    if weights is not None:
        return load_pipeline(weights, scheduler=scheduler, device=device, torch_dtype=dtype), False
    if preset not in PIPELINE_PRESETS:
        raise ValueError(f"unknown --preset {preset!r}; choose from {sorted(PIPELINE_PRESETS)}")
    if preset != "tiny":
        raise ValueError(f"--preset {preset} needs --weights DIR (random weights at that size are gigabytes of noise)")
    from sportanim.weights import default_weights, has_default_weights

    if has_default_weights():
        note(f"no --weights: the shipped tiny base ({default_weights()})")
        return load_pipeline(default_weights(), scheduler=scheduler, device=device, torch_dtype=dtype), False
    note("NO --weights: RANDOM untrained tiny weights, the video is noise "
         "(train some with `sportanim pretrain --install` / `sportanim train`)")
    return build_pipeline(preset, scheduler=scheduler, device=device, torch_dtype=dtype), True


def generate_video(
    motion: str,
    out: Path,
    ref_image: Path | None = None,
    weights: Path | None = None,
    preset: str = "tiny",
    steps: int = 50,
    guidance: float = 3.0,
    seed: int = 0,
    panel: bool = False,
    data: Path | None = None,
    scheduler: str = "dpm",
    start: int = 0,
    fps: float | None = None,
    device: str = "auto",
    dtype: str = "auto",
    offload: bool = False,
    show_progress: bool = True,
    on_note: Callable[[str], None] | None = None,
) -> GenerateResult:
    """Generate ``out`` (H.264 mp4) of the reference image doing ``motion``; see the CLI help
    for each argument. Without ``ref_image`` the source video's first frame is the reference
    (upstream's fallback). ``on_note`` hears each note (random weights, resampling, ...) as it
    arises; all of them are also in the result."""
    import torch

    from sportanim.models.motion_io import fit_motion, load_motion
    from sportanim.models.pipeline import resize_cover
    from sportanim.models.vae import set_memory_savers
    from sportanim.video_io import write_video

    begun, notes = time.perf_counter(), []

    def note(text: str) -> None:
        notes.append(text)
        if on_note is not None:
            on_note(text)

    device, torch_dtype = _pick_device(device, dtype)
    source = load_motion(motion, data, read_video=False)  # fail fast, before loading weights
    image = _read_image(ref_image) if ref_image is not None else None
    pipe, random_weights = _load(weights, preset, scheduler, device, torch_dtype, note)
    pipe.set_progress_bar_config(disable=not show_progress, desc="generate")
    if offload:
        if not device.startswith("cuda"):
            raise ValueError(f"--offload moves models between the CPU and a GPU; the device here is {device}")
        pipe.enable_model_cpu_offload(device=device)
    num_frames = pipe.default_num_frames
    height, width = pipe.default_size()
    set_memory_savers(pipe.vae, tiling=max(height, width) > TILING_ABOVE_PX)

    joints, index = fit_motion(source.joints, num_frames, start)
    if len(source.joints) < num_frames:
        note(f"motion has {len(source.joints)} frames: resampled to {num_frames}")
    if panel or image is None:
        source = load_motion(motion, data, max_frames=int(index.max()) + 1)
    if image is None:
        image = _reference_from_video(source, index, note)
    mean, std = _stats_for(pipe, data, source.joints, note)

    generator = torch.Generator("cpu").manual_seed(seed)
    result = pipe(image, joints, mean, std, num_inference_steps=steps, guidance_scale=guidance,
                  generator=generator, height=height, width=width, num_frames=num_frames)
    rate = fps or source.fps or DEFAULT_FPS
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, result.frames, rate)
    panel_path = out.with_name(out.stem + ".panel.mp4") if panel else None
    if panel_path is not None:
        columns = _panel_columns(resize_cover(image, width, height), source, index, joints,
                                 result.reconstructed_joints, result.frames)
        write_video(panel_path, np.concatenate(columns, axis=2), rate)
    return GenerateResult(out, panel_path, time.perf_counter() - begun, random_weights, notes)


def _reference_from_video(source, index: np.ndarray, note: Callable[[str], None]) -> np.ndarray:
    if source.source_video is None:
        raise ValueError("--ref-image is needed: this motion has no source video to take a reference from")
    note("no --ref-image: the source video's first frame is the reference")
    return source.source_video[min(int(index[0]), len(source.source_video) - 1)]


def _panel_columns(reference, source, index, joints, recon, generated) -> list[np.ndarray]:
    """reference | source video (if any) | input skeleton | reconstructed skeleton | generated."""
    from sportanim.models.motion_io import camera_for_output, draw_skeleton
    from sportanim.models.pipeline import resize_cover
    from sportanim.skeleton import nlf_intrinsics

    frames, height, width = len(generated), generated.shape[1], generated.shape[2]
    columns = [np.broadcast_to(reference, (frames, height, width, 3))]
    if source.source_video is not None:
        video = source.source_video
        columns.append(np.stack([resize_cover(video[min(i, len(video) - 1)], width, height) for i in index]))
    if source.intrinsics is not None and source.image_size is not None:
        camera = camera_for_output(source.intrinsics, source.image_size, width, height)
        camera = camera[index] if camera.ndim == 3 else camera
    else:
        camera = nlf_intrinsics(width, height)
    columns += [draw_skeleton(joints, camera, width, height), draw_skeleton(recon, camera, width, height), generated]
    return columns


# --------------------------------------------------------------------------- CLI


def generate_command(
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
    panel: bool = typer.Option(False, "--panel", help="Also write OUT.panel.mp4: reference | source | skeleton | "
                               "reconstructed skeleton | generated."),
    data: Optional[Path] = typer.Option(None, "--data", help="FSJD folder, for clip ids and its stats.json."),
    scheduler: str = typer.Option("dpm", "--scheduler", help="dpm | ddim."),
    start: int = typer.Option(0, "--start", help="First motion frame used."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Output frame rate (default: the source's, else 30)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16."),
    offload: bool = typer.Option(False, "--offload", help="Model CPU offload (GPU memory for time)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Animate a reference image with a 3D motion (MTVCrafter pipeline)."""
    def show(note: str) -> None:
        style = "bold yellow" if "RANDOM" in note else "dim"
        console.print(f"[{style}]note:[/] {note}", highlight=False, soft_wrap=True)

    try:
        result = generate_video(motion, out, ref_image, weights, preset, steps, guidance, seed, panel, data,
                                scheduler, start, fps, device, dtype, offload, show_progress=not quiet, on_note=show)
    except (ValueError, OSError) as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"wrote {result.video}" + (f" and {result.panel}" if result.panel else "")
                  + f" in {result.seconds:.1f} s", highlight=False, soft_wrap=True)


generate_app = typer.Typer(add_completion=False, help="Generate a video from a reference image and a motion.")
generate_app.command("generate")(generate_command)
