"""``sportanim motion ...``: train the jump generator (or classifier), sample ISU elements,
classify jump motions."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from sportanim.cli.errors import run, say

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Jump motion: generate ISU elements (3Lz, 2A, ...) over 4DMoT codes, classify jumps.")


def _command() -> str:
    return "sportanim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@app.command("train")
def train_command(
    data: List[Path] = typer.Option(..., "--data", help="FSJD folder(s) with jump clips (synthetic, FS-Jump3D imports)."),
    out: Path = typer.Option(..., "--out", help="Output folder for the trained weights."),
    model: str = typer.Option("generator", "--model", help="generator | classifier | tokenizer (the 4DMoT fine-tuned "
                              "on the jumps in the generator's canonical camera; give it to --tokenizer)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimiser steps (default: generator 2000, "
                                        "classifier 2000, tokenizer 4000)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Clips per step (generator)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same weights."),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Generator: the frozen tokenizer, a pipeline weights "
                                             "folder or a tokenizer export such as RUN/tokenizer of --model tokenizer "
                                             "(default: the shipped tiny base). Tokenizer: the one to start from."),
    resume: bool = typer.Option(False, "--resume", help="Tokenizer: continue a cut-off run in --out."),
    balanced: bool = typer.Option(False, "--balanced", help="Generator: draw every element (type, revolutions) "
                                  "equally often (quads are rare in the data)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train the jump generator (masked transformer over frozen 4DMoT codes), the jump classifier, or the
    4DMoT tokenizer for jumps."""
    steps = steps if steps is not None else (4000 if model == "tokenizer" else 2000)
    if model == "tokenizer":
        from sportanim.motion.tokenizer_training import train_jump_tokenizer

        record = run(train_jump_tokenizer, data, out, steps=steps, seed=seed, init=tokenizer, resume=resume,
                     overwrite=overwrite, show_progress=not quiet, command=_command())
        say(f"wrote the jump tokenizer to {out / 'tokenizer'}: {record['clips']} clips, {record['seconds']} s; "
            f"next: sportanim motion train --tokenizer {out / 'tokenizer'} ...")
    elif model == "generator":
        from sportanim.motion.training import train_motion_generator

        record = run(train_motion_generator, data, out, seed=seed, steps=steps, batch_size=batch_size,
                     tokenizer=tokenizer, overwrite=overwrite, show_progress=not quiet, command=_command(),
                     balanced=balanced)
        say(f"wrote the jump generator to {out}: {record['clips']} clips, {record['seconds']} s, "
            f"loss {record['loss_first_50']} -> {record['loss_last_50']}")
    elif model == "classifier":
        from sportanim.motion.classify import train_classifier

        record = run(train_classifier, data, out, seed=seed, steps=steps, overwrite=overwrite,
                     show_progress=not quiet, command=_command())
        say(f"wrote the jump classifier to {out}: {record['clips']} clips, {record['seconds']} s")
    else:
        run(_refuse, f"--model must be generator, classifier or tokenizer, got {model!r}")


def _refuse(message: str) -> None:
    raise ValueError(message)


@app.command("sample")
def sample_command(
    out: Path = typer.Option(..., "--out", help="Motion file m.npz (with --count N: m_0.npz ... m_{N-1}.npz)."),
    jump: Optional[str] = typer.Option(None, "--jump", help="ISU element code: 3Lz, 2A, 4T, 3F, 3Lo, 3S, ..."),
    jump_type: Optional[str] = typer.Option(None, "--type", help="Jump type instead of --jump: axel, toe_loop, salchow, loop, flip, lutz."),
    revs: Optional[float] = typer.Option(None, "--revs", help="Revolutions with --type (an Axel's include the half turn: 2.5)."),
    direction: str = typer.Option("ccw", "--direction", help="ccw | cw rotation, seen from above."),
    height: Optional[float] = typer.Option(None, "--height", help="Athlete height in metres (1.2-2.1); default: any."),
    count: int = typer.Option(1, "--count", help="How many motions."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same motions."),
    guidance: float = typer.Option(1.0, "--guidance", help="Classifier-free guidance scale (1: conditional only; 1 scored best of 1, 3, 5 in benchmarks/motion_generator.py)."),
    size: int = typer.Option(512, "--size", help="Square image size the camera intrinsics are for."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Generator folder (default: the shipped one)."),
    real_flight: bool = typer.Option(True, "--real-flight/--as-sampled", help="Fly again a flight no skater could fly "
                                     "(too long or short for its turns, or not ballistic; default), or keep the generator's."),
) -> None:
    """Sample jump motions of an ISU element: npz with joints (mm, camera), intrinsics, size, take-off/landing."""
    from sportanim.motion.elements import resolve
    from sportanim.motion.sampling import check_count, sample_jump

    element = run(resolve, jump, jump_type, revs)
    targets = _targets(out, run(check_count, count))
    motions = run(sample_jump, element, direction=direction, height=height, count=count, seed=seed,
                  weights=weights, guidance=guidance, size=size, real_flight=real_flight)
    for motion, target in zip(motions, targets):
        run(motion.save, target)
    guarded = sum(m.sampled_flight is not None for m in motions)
    note = f" ({guarded} flight(s) flown again to be real: air time, gravity)" if guarded else ""
    say(f"wrote {len(targets)} {element.code} motion(s){note}: {', '.join(map(str, targets))}")


def _targets(out: Path, count: int) -> list[Path]:
    """The files to write, checked before any sampling."""
    if out.suffix != ".npz":
        run(_refuse, f"--out {out}: give a .npz file name (e.g. m.npz)")
    if not out.parent.is_dir():
        run(_refuse, f"--out {out}: folder {out.parent} does not exist; create it first")
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i}.npz") for i in range(count)]


@app.command("classify")
def classify_command(
    path: Path = typer.Argument(..., help="A motion .npz, a folder of them, or an FSJD folder."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Classifier folder (default: the shipped one)."),
) -> None:
    """Read jumps: type, revolutions, direction, take-off/landing frames (with confidences) and the rule-based count."""
    from sportanim.motion.classify import classify_path

    for name, reading in run(classify_path, path, weights):
        typer.echo(json.dumps({"motion": name, **reading.summary()}))
