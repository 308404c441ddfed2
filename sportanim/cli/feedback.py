"""``sportanim feedback``: a photo of the athlete and a motion -> an edited feedback video
(``sportanim.studio.feedback.make_feedback``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import run, say


def feedback(
    athlete: Path = typer.Option(..., "--athlete", help="Photo of the athlete (the largest person in it)."),
    motion: Optional[str] = typer.Option(None, "--motion", help="Motion: FILE.npz (array 'joints', optional 'extrinsics'), "
                                         "FILE.npy, FILE.pkl[#N] or an FSJD clip id (with --data)."),
    jump: Optional[str] = typer.Option(None, "--jump", help="Instead of --motion: an ISU element (3Lz, 2A, 4T, 3F, 3Lo, "
                                       "3S) sampled by the shipped jump generator (--seed)."),
    out: Path = typer.Option(..., "--out", help="Output video (.mp4); OUT.panel.mp4 and OUT.json beside it."),
    data: Optional[Path] = typer.Option(None, "--data", help="FSJD folder, for clip ids."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights folder (default: the shipped tiny base)."),
    slow: Optional[float] = typer.Option(None, "--slow", help="Slow motion factor (2.0: half speed)."),
    mirror: bool = typer.Option(False, "--mirror", help="Mirror image: left and right, and the turns, swapped."),
    view: Optional[float] = typer.Option(None, "--view", help="Camera moved this many degrees around the skater."),
    camera: str = typer.Option("follow", "--camera", help="follow: a tracking shot keeps the skater where they stand "
                               "in the photo; fixed: the photo's camera stays still and the skater travels."),
    frames: Optional[int] = typer.Option(None, "--frames", help="First N frames of the edited motion (default all)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same video."),
    steps: int = typer.Option(25, "--steps", help="Denoising steps."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Feedback video: the athlete of a photo doing a motion, slowed, mirrored or seen from another view."""
    from sportanim.studio.feedback import make_feedback

    def show(note: str) -> None:
        say(f"[dim]note:[/] {note}")

    result = run(make_feedback, athlete, motion, out, data=data, weights=weights, slow=slow, mirror=mirror,
                 view=view, frames=frames, seed=seed, steps=steps, device=device, jump=jump, camera=camera,
                 show_progress=not quiet, on_note=show)
    say(f"wrote {result.video}, {result.panel} and {result.report} ({result.frames} frames) "
        f"in {result.seconds:.1f} s")
