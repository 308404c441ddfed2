"""The paper's protocol end to end, in one call (``sportanim experiment``; ``sportanim demo``
runs its ``tiny`` preset from the shipped tiny base).

1. data: synthesize the jump domain (or take an FSJD folder), split train/eval by athlete;
2. the base model zero-shot on the eval jumps;
3. the three strategies (tokenizer | diffusion | staged) through ``sportanim.train.train``,
   each from the base weights;
4. generation on the eval clips through ``sportanim.generation.Generator`` (reference = the
   clip's first frame, the clip's joints) and evaluation (``sportanim.eval.evaluate``) of
   every model;
5. Table 3 (motion fidelity and appearance: PCK, AKD, ΔE) of every model of
   ``report.table3_models``, own reference (the clip's first frame; Table 2's videos, the
   missing ones generated) and cross-drive (another eval athlete's first frame animated by
   the clip's joints, as feedback generation does);
6. Table 1 (tokenizer), Table 2 (video), Table 3, Figure 2, training curves and ``report.html``.

Run folder::

    RUN/experiment.yaml       the config (a rerun with another config is refused)
    RUN/data/                 the FSJD folder (synthetic runs only)
    RUN/base/                 stand-in random base weights (base: random only)
    RUN/runs/<strategy>/      the training runs; RUN/cache/ their shared latent cache
    RUN/eval-features/        the eval clips' FID/FVD/FID-VID features, extracted once for all models
    RUN/generated/<model>/    ID.mp4 (generated) + ID.npz (the tokenizer's joints), evaluation.json,
                              fidelity.json (Table 3, own reference)
    RUN/generated-cross/      pairs.json (clip -> the clip of another athlete giving its reference);
                              <model>/ ID.mp4, ID.npz, ID.reference.png (the reference used), fidelity.json;
                              truth/ the real videos beside those references (Table 3's ground-truth
                              rows; own reference: RUN/generated/truth.json)
    RUN/tables.md, table1.csv, table2.csv, table3.csv, tables.json, figure2.png, training_curves.png,
    RUN/videos/ID.mp4         ground truth | each model, per figure clip
    RUN/report.html, RUN/experiment.json (timings, paths)

A cut-off run continues where it stopped: training resumes from its checkpoints, clips
already generated are kept.

Modules: ``config`` (the dataclasses, presets, YAML loading), ``run`` (the steps above),
``outputs`` (tables, figures, report, summary).
"""

from __future__ import annotations

import time
from pathlib import Path

from sportanim.experiment.config import (EXPERIMENT_PRESETS, MODELS, ExperimentConfig, ExperimentData,
                                         ExperimentReport, ExperimentSampling, ExperimentTraining,
                                         load_experiment_config)
from sportanim.experiment.outputs import make_tables, print_summary
from sportanim.experiment.run import ExperimentResult, run_experiment

__all__ = ["EXPERIMENT_PRESETS", "MODELS", "ExperimentConfig", "ExperimentData", "ExperimentReport",
           "ExperimentResult", "ExperimentSampling", "ExperimentTraining", "load_experiment_config",
           "make_tables", "print_summary", "run_demo", "run_experiment"]


def run_demo(out: str | Path | None = None, show_progress: bool = True) -> ExperimentResult:
    """``sportanim demo``: the ``tiny`` experiment into ``out`` (default ``runs/demo-<time>``)."""
    out = Path(out) if out else Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    return run_experiment(load_experiment_config("tiny"), out, show_progress)
