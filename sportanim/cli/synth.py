"""``sportanim synth``: render the synthetic skating world into an FSJD folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import run, say


def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (FSJD format)."),
    domain: str = typer.Option("both", help="jump | daily | both."),
    clips: int = typer.Option(16, help="Number of clips (or programmes with --programme)."),
    size: int = typer.Option(64, help="Frame width and height in pixels (multiple of 16)."),
    frames: int = typer.Option(49, help="Frames per clip (>= 9)."),
    fps: float = typer.Option(30.0, help="Frames per second."),
    seed: int = typer.Option(0, help="Same seed, same bytes."),
    motions: Optional[str] = typer.Option(None, help="Comma-separated motions, e.g. lutz,axel,walk."),
    programme: bool = typer.Option(False, "--programme", help="Long competition-style videos with several jumps, cuts and jump-window labels."),
    jumps: int = typer.Option(5, help="Jumps per programme (--programme only)."),
    eval_fraction: float = typer.Option(0.1, help="Share of clips marked split=eval."),
    workers: int = typer.Option(0, help="Worker processes (0: one per core)."),
    references: int = typer.Option(0, help="Pictures of each clip's athlete elsewhere in its scene, stored in "
                                          "the npz (references, reference_joints): references for training a "
                                          "model that must follow the motion."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Render the synthetic skating world: skaters with exact 3D joints on an ice rink."""
    motion_list = tuple(m.strip() for m in motions.split(",") if m.strip()) if motions else ()
    if programme:
        from sportanim.synth.programme import ProgrammeConfig, write_programmes

        cfg = ProgrammeConfig(out=out, programmes=clips, jumps=jumps, size=size, fps=fps, seed=seed,
                              motions=motion_list, overwrite=overwrite)
        run(write_programmes, cfg, show_progress=not quiet)
        say(f"wrote {clips} programme(s) to {out}")
        return
    from sportanim.synth.dataset import SynthConfig, synthesize

    cfg = SynthConfig(out=out, domain=domain, clips=clips, size=size, frames=frames, fps=fps, seed=seed,
                      motions=motion_list, eval_fraction=eval_fraction, workers=workers, references=references,
                      overwrite=overwrite)
    records = run(synthesize, cfg, show_progress=not quiet)
    say(f"wrote {len(records)} clips to {out}")
