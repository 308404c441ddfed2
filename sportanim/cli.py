"""The ``sportanim`` command line: one typer app, one library call per command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Sports video generation from 3D motion (MTVCrafter, fine-tuned for sport).")
console = Console(stderr=True)

from sportanim.data.cli import data_app  # noqa: E402  (a sub-app: `sportanim data ...`)

app.add_typer(data_app, name="data")

from sportanim.train.cli import train as train_command  # noqa: E402

app.command("train")(train_command)

from sportanim.generate import generate_command  # noqa: E402

app.command("generate")(generate_command)

from sportanim.experiment import experiment_command  # noqa: E402

app.command("experiment")(experiment_command)

from sportanim.train.memory_cli import plan_memory_command  # noqa: E402

app.command("plan-memory")(plan_memory_command)

from sportanim.eval.cli import evaluate_command  # noqa: E402

app.command("evaluate")(evaluate_command)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _run(fn, *args, **kwargs):
    """Call the library; user-caused errors become one line and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, OSError) as err:
        _fail(str(err))


@app.command()
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
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Render the synthetic skating world: skaters with exact 3D joints on an ice rink."""
    motion_list = tuple(m.strip() for m in motions.split(",") if m.strip()) if motions else ()
    if programme:
        from sportanim.synth.programme import ProgrammeConfig, write_programmes
        cfg = ProgrammeConfig(out=out, programmes=clips, jumps=jumps, size=size, fps=fps, seed=seed,
                              motions=motion_list, overwrite=overwrite)
        _run(write_programmes, cfg, show_progress=not quiet)
        console.print(f"wrote {clips} programme(s) to {out}")
        return
    from sportanim.synth.dataset import SynthConfig, synthesize
    cfg = SynthConfig(out=out, domain=domain, clips=clips, size=size, frames=frames, fps=fps, seed=seed,
                      motions=motion_list, eval_fraction=eval_fraction, workers=workers, overwrite=overwrite)
    records = _run(synthesize, cfg, show_progress=not quiet)
    console.print(f"wrote {len(records)} clips to {out}")


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/demo-<time>)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """The paper's experiment on the embedded synthetic world from the shipped tiny base (= experiment --config tiny)."""
    from sportanim.demo import run_demo
    _run(run_demo, out, show_progress=not quiet)


@app.command()
def pretrain(
    out: Path = typer.Option(Path("runs/pretrain-tiny"), "--out", help="Run folder; a cut-off run continues where it stopped."),
    preset: str = typer.Option("tiny", "--preset", help="Only tiny: the full world loads released weights."),
    seed: int = typer.Option(0, help="Seed of the data, the initialisations and the sampling order."),
    install: bool = typer.Option(False, "--install", help="Copy the finished weights into the package (sportanim/weights/tiny)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train the tiny base model (VAE, 4DMoT, MV-DiT) from scratch on synthetic daily motion."""
    from sportanim.train.pretrain import PretrainConfig
    from sportanim.train.pretrain import pretrain as run_pretrain
    weights = _run(run_pretrain, out, PretrainConfig(preset=preset, seed=seed), install=install,
                   show_progress=not quiet)
    console.print(f"weights: {weights}")


def main() -> None:  # pragma: no cover - entry point for `python -m sportanim`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
