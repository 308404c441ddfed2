"""``sportanim experiment`` and ``sportanim demo`` (the experiment's tiny preset)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import run


def experiment(
    config: str = typer.Option("tiny", "--config", help="tiny | FILE.yaml (ExperimentConfig fields; "
                               "'preset_config: tiny' to start from the preset)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/experiment-<time>); "
                                       "an existing one with the same config continues."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """The paper's experiment: base zero-shot, the three strategies, Tables 1-3, Figure 2, report.html."""
    from sportanim.experiment import load_experiment_config, print_summary, run_experiment

    result = run(run_experiment, run(load_experiment_config, config), out, show_progress=not quiet)
    print_summary(result)


def demo(
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/demo-<time>)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """The paper's experiment on the embedded synthetic world from the shipped tiny base (= experiment --config tiny)."""
    from sportanim.experiment import print_summary, run_demo

    print_summary(run(run_demo, out, show_progress=not quiet))
