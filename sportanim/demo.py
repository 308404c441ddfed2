"""``sportanim demo``: the paper's experiment (``sportanim experiment --config tiny``) on the
embedded synthetic world, from the shipped tiny base weights (pre-trained on daily motion).

Synthetic jumps, split by athlete; the base zero-shot; the three fine-tuning strategies;
generation and evaluation; the two tables printed; ``runs/demo-<time>/report.html``.
"""

from __future__ import annotations

import time
from pathlib import Path

from sportanim.experiment import ExperimentResult, load_experiment_config, print_summary, run_experiment


def run_demo(out: Path | None = None, show_progress: bool = True) -> ExperimentResult:
    """Run the tiny experiment into ``out`` (default ``runs/demo-<time>``), print its tables
    and the report's path; returns the result."""
    out = Path(out) if out else Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    result = run_experiment(load_experiment_config("tiny"), out, show_progress)
    print_summary(result)
    return result
