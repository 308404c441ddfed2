"""``sportanim data ...``: build from videos, import upstream data, split train/eval, stats."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from sportanim.cli.errors import run, say

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Dataset tools: build from videos, import upstream data, split train/eval, stats.")
stdout = Console()  # results (the stats table)


@app.command("import-mtvcrafter")
def import_mtvcrafter_command(
    file: Path = typer.Argument(..., help="MTVCrafter's sampled_data.pkl (videos resolved from its folder)."),
    out: Path = typer.Option(..., "--out", help="Output folder (FSJD format)."),
    size: Optional[int] = typer.Option(None, help="Resize so the longer side has SIZE pixels (default: keep)."),
    frames: Optional[int] = typer.Option(None, help="Keep only the first FRAMES frames of each clip (default: all)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder the pkl's video paths are resolved in "
                                          "(default: the pkl's folder); paths leading outside it are refused."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Import MTVCrafter's sample pkl (NLF joints) and its videos as an FSJD folder."""
    from sportanim.data.upstream import import_mtvcrafter
    records = run(import_mtvcrafter, file, out, size=size, frames=frames, videos=videos,
                  overwrite=overwrite, show_progress=not quiet)
    _say_written(records, out)


@app.command("import-fsjump3d")
def import_fsjump3d_command(
    root: Path = typer.Argument(..., help="FS-Jump3D folder (npy/<Skater>/<Jump>/<Jump>_N.npy, Human3.6M-17, mm, 60 Hz)."),
    out: Path = typer.Option(..., "--out", help="Output folder (FSJD format): one clip per detected flight."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate of the clips (resampled by time)."),
    frames: int = typer.Option(49, "--frames", help="Frames per clip, a window around the flight."),
    size: int = typer.Option(64, "--size", help="Side of the video rendered from the joints (multiple of 16)."),
    seed: int = typer.Option(0, help="Seed of the virtual broadcast camera and the skaters' looks."),
    split: str = typer.Option("eval", "--split", help="train | eval for every clip (re-split with `data split`)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Import FS-Jump3D real mocap jumps as FSJD clips: SMPL-24 joints in a virtual broadcast camera, rendered video."""
    from sportanim.data.fsjump3d import import_fsjump3d

    records = run(import_fsjump3d, root, out, fps=fps, frames=frames, size=size, seed=seed, split=split,
                  overwrite=overwrite, show_progress=not quiet)
    _say_written(records, out)


@app.command("split")
def split_command(
    folder: Path = typer.Argument(..., help="FSJD dataset folder."),
    eval_count: int = typer.Option(100, "--eval", help="Number of eval clips."),
    by: str = typer.Option("athlete", "--by", help="Keep groups whole: athlete | video | clip."),
    seed: int = typer.Option(0, help="Same seed, same split."),
) -> None:
    """Rewrite the manifest's train/eval split without splitting an athlete or video."""
    from sportanim.data.split import split_dataset
    result = run(split_dataset, folder, n_eval=eval_count, by=by, seed=seed)
    note = "" if result["exact"] else f" (nearest possible to {result['requested']})"
    say(f"{folder}: {result['eval']} eval{note}, {result['train']} train clips; "
        f"{result['eval_groups']} of {result['groups']} groups by {by} in eval")


@app.command("stats")
def stats_command(folder: Path = typer.Argument(..., help="FSJD dataset folder.")) -> None:
    """Recompute and write stats.json, and print it as a table."""
    from sportanim.data.stats import dataset_stats, format_stats_table
    stats = run(dataset_stats, folder)
    stdout.print(format_stats_table(stats))


@app.command("build")
def build_command(
    inputs: list[Path] = typer.Argument(..., help="Video files and/or folders of videos."),
    out: Path = typer.Option(..., "--out", help="Output FSJD folder (an earlier build's folder resumes it)."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="CSV of video,start,end,jump_type (seconds); default: detect jumps."),
    pose_backend: str = typer.Option("mediapipe", "--pose-backend", help="mediapipe (CPU, offline) | nlf (needs --nlf-model)."),
    nlf_model: Optional[Path] = typer.Option(None, "--nlf-model", help="NLF TorchScript file (e.g. nlf_l_multi.torchscript)."),
    size: int = typer.Option(512, "--size", help="Clip side in pixels (square crop following the athlete)."),
    frames: int = typer.Option(49, "--frames", help="Frames per clip (evenly spaced in time)."),
    shard: str = typer.Option("0/1", "--shard", help="Build shard i of n (0 <= i < n) of the sorted inputs."),
    device: Optional[str] = typer.Option(None, "--device", help="Device for nlf: auto | cpu | cuda | cuda:N (default: cuda when present)."),
    workers: int = typer.Option(0, "--workers", help="Videos built side by side on this machine, one thread each "
                                "(0: one per core for mediapipe, 1 for nlf)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Spread the videos over a Ray cluster: auto (RAY_ADDRESS, a "
                                      "'ray start' cluster here, else a new local Ray), local, or the head's HOST:PORT; "
                                      "needs pip install sportanim[cluster] and --out on a shared filesystem."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Cut jump clips with 3D joints out of videos into an FSJD folder (resumable)."""
    from sportanim.data.build import BuildConfig, build_dataset, parse_shard

    config = BuildConfig(out=out, annotations=annotations, pose_backend=pose_backend,
                         nlf_model=nlf_model, device=device, size=size, frames=frames,
                         shard=run(parse_shard, shard), show_progress=not quiet,
                         workers=workers, ray=ray)
    report = run(build_dataset, [str(p) for p in inputs], config)
    _print_build_summary(report)
    if not report.clips:
        raise typer.Exit(1)


def _print_build_summary(report) -> None:
    from rich.table import Table

    failed = sum(1 for r in report.clips if not r.quality.get("passed", True))
    rows = [(s.input, s.reason) for s in report.skipped + report.notes]
    if rows:
        table = Table(title="skipped", title_justify="left", show_lines=False)
        table.add_column("input", overflow="fold")
        table.add_column("reason", overflow="fold")
        for name, reason in rows:
            table.add_row(name, reason)
        say(table)
    reused = len(report.clips) - len(report.new)
    say(f"{report.out}: {len(report.clips)} clips from {report.videos} video(s) "
        f"({len(report.new)} new, {reused} already built; {failed} failing quality "
        f"gates, see manifest); {len(report.skipped)} input(s) skipped"
        + ("" if report.clips else "; nothing could be built"))


def _say_written(records, out: Path) -> None:
    flagged = [record.id for record in records if not record.quality.get("passed", True)]
    say(f"wrote {len(records)} clips to {out}"
        + (f"; quality flags on {', '.join(flagged)} (see manifest)" if flagged else ""))
