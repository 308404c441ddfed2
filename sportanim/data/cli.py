"""``sportanim data ...``: a typer sub-app, one library call per command.

Wired into the main app with ``app.add_typer(data_app, name="data")``. This module does
not import ``sportanim.cli`` (which imports it), so it has its own small error helper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

data_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Dataset tools: import upstream data, split train/eval, stats.")
console = Console(stderr=True)  # messages and errors
stdout = Console()  # results (the stats table)


def _run(fn, *args, **kwargs):
    """Call the library; user-caused errors (ValueError, OSError) become one line on
    stderr and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, OSError) as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@data_app.command("import-mtvcrafter")
def import_mtvcrafter_command(
    file: Path = typer.Argument(..., help="MTVCrafter's sampled_data.pkl (videos resolved from its folder)."),
    out: Path = typer.Option(..., "--out", help="Output folder (FSJD format)."),
    size: Optional[int] = typer.Option(None, help="Resize so the longer side has SIZE pixels (default: keep)."),
    frames: Optional[int] = typer.Option(None, help="Keep only the first FRAMES frames of each clip (default: all)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Import MTVCrafter's sample pkl (NLF joints) and its videos as an FSJD folder."""
    from sportanim.data.upstream import import_mtvcrafter
    records = _run(import_mtvcrafter, file, out, size=size, frames=frames,
                   overwrite=overwrite, show_progress=not quiet)
    flagged = [record.id for record in records if not record.quality.get("passed", True)]
    console.print(f"wrote {len(records)} clips to {out}"
                  + (f"; quality flags on {', '.join(flagged)} (see manifest)" if flagged else ""),
                  highlight=False, soft_wrap=True)


@data_app.command("split")
def split_command(
    folder: Path = typer.Argument(..., help="FSJD dataset folder."),
    eval_count: int = typer.Option(100, "--eval", help="Number of eval clips."),
    by: str = typer.Option("athlete", "--by", help="Keep groups whole: athlete | video | clip."),
    seed: int = typer.Option(0, help="Same seed, same split."),
) -> None:
    """Rewrite the manifest's train/eval split without splitting an athlete or video."""
    from sportanim.data.split import split_dataset
    result = _run(split_dataset, folder, n_eval=eval_count, by=by, seed=seed)
    note = "" if result["exact"] else f" (nearest possible to {result['requested']})"
    console.print(f"{folder}: {result['eval']} eval{note}, {result['train']} train clips; "
                  f"{result['eval_groups']} of {result['groups']} groups by {by} in eval",
                  highlight=False, soft_wrap=True)


@data_app.command("stats")
def stats_command(folder: Path = typer.Argument(..., help="FSJD dataset folder.")) -> None:
    """Recompute and write stats.json, and print it as a table."""
    from sportanim.data.stats import dataset_stats, format_stats_table
    stats = _run(dataset_stats, folder)
    stdout.print(format_stats_table(stats))
