"""The experiment's config: what data, how long each strategy trains, how clips are sampled,
what the report shows; presets and loading from YAML/JSON."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sportanim.train.config import STRATEGY_NAMES, ConfigError, merge

MODELS = ("base",) + STRATEGY_NAMES  # the compared models: the base zero-shot, then each strategy


@dataclass
class ExperimentData:
    source: str = "synth"  # synth: render the jump domain here; else an FSJD folder with an eval split
    train_clips: int = 24  # synthetic jumps for training
    eval_clips: int = 8  # synthetic jumps held out, whole athletes at a time (each costs ~4 extractor passes)
    size: int = 64  # frame side in pixels (the base's training size)
    frames: int = 49  # frames per clip: one MTVCrafter window
    motions: tuple[str, ...] = ()  # jump types (empty: all)


@dataclass
class ExperimentTraining:
    steps: int = 100  # optimizer steps of each strategy's run (staged: of each of its stages)
    overrides: dict = field(default_factory=dict)  # TrainConfig fields for every run, e.g. {batch_size: 4}


@dataclass
class ExperimentSampling:
    steps: int = 10  # denoising steps per generated clip
    guidance: float = 3.0  # motion classifier-free guidance (upstream 3.0)
    scheduler: str = "dpm"  # dpm | ddim


@dataclass
class ExperimentReport:
    figure_clips: int = 3  # eval clips in Figure 2 and the report's videos (every model generates them)
    figure_frames: int = 5  # frames per clip in Figure 2
    diffusion_row: bool = False  # Table 2 also rates the diffusion-only model (one more generation and evaluation pass)
    # Table 3 (motion fidelity and appearance) rates these models, own reference and cross-drive:
    # up to two generation passes per model (() leaves Table 3 out)
    table3_models: tuple[str, ...] = MODELS


@dataclass
class ExperimentConfig:
    """One experiment. ``preset`` names both the training preset and the pipeline preset."""

    preset: str = "tiny"
    base: str = "default"  # default: the shipped base weights; random: a stand-in (tests); or a folder
    seed: int = 0  # data, training, sampling and random extractors
    data: ExperimentData = field(default_factory=ExperimentData)
    training: ExperimentTraining = field(default_factory=ExperimentTraining)
    sampling: ExperimentSampling = field(default_factory=ExperimentSampling)
    report: ExperimentReport = field(default_factory=ExperimentReport)
    extractor_weights: dict = field(default_factory=dict)  # inception / i3d / r3d50 / alexnet -> file
    fid_frames: int = 0  # FID on this many frames per video, evenly spread (0: every frame, the standard)
    resamples: int = 0  # bootstrap resamples of the eval clips: FID/FVD/FID-VID/motion FID print value ± std (0: none)

    def validate(self) -> "ExperimentConfig":
        from sportanim.models.pipeline import PIPELINE_PRESETS
        from sportanim.train.config import TRAIN_PRESETS

        d, s, r = self.data, self.sampling, self.report
        rules = [
            (self.preset in TRAIN_PRESETS and self.preset in PIPELINE_PRESETS, "preset",
             f"must be one of {sorted(set(TRAIN_PRESETS) & set(PIPELINE_PRESETS))}", self.preset),
            (bool(self.base), "base", "must be default, random or a weights folder", self.base),
            (self.seed >= 0, "seed", "must be >= 0", self.seed),
            (d.train_clips >= 1, "data.train_clips", "must be >= 1", d.train_clips),
            (d.eval_clips >= 4, "data.eval_clips", "must be >= 4 (Frechet distances need several clips)",
             d.eval_clips),
            (d.frames >= 9 and (d.frames - 1) % 8 == 0, "data.frames", "must be 8k + 1 (the tokenizer's "
             "lengths), e.g. 49", d.frames),
            (self.training.steps >= 1, "training.steps", "must be >= 1", self.training.steps),
            (s.steps >= 1, "sampling.steps", "must be >= 1", s.steps),
            (self.fid_frames >= 0, "fid_frames", "must be >= 0 (0: every frame)", self.fid_frames),
            (self.resamples >= 0, "resamples", "must be >= 0 (0: no spread)", self.resamples),
            (s.guidance >= 1, "sampling.guidance", "must be >= 1 (1: off)", s.guidance),
            (s.scheduler in ("dpm", "ddim"), "sampling.scheduler", "must be dpm or ddim", s.scheduler),
            (r.figure_clips >= 1, "report.figure_clips", "must be >= 1", r.figure_clips),
            (r.figure_frames >= 1, "report.figure_frames", "must be >= 1", r.figure_frames),
            (set(r.table3_models) <= set(MODELS) and len(set(r.table3_models)) == len(r.table3_models),
             "report.table3_models", f"must be distinct names of {list(MODELS)}", r.table3_models),
        ]
        for ok, name, rule, value in rules:
            if not ok:
                raise ConfigError(f"experiment config field {name} {rule}, got {value!r}")
        return self

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


EXPERIMENT_PRESETS = {
    # CPU minutes on the embedded synthetic world, from the shipped tiny base (`sportanim demo`).
    # FID on 8 frames per clip: an InceptionV3 pass per frame is the CPU's largest evaluation cost.
    # 100 bootstrap resamples: a difference between two rows is only believable beside the
    # spread of each (value ± std in the tables). 12 eval clips (8 before): with 8, FID's
    # before/after spreads overlapped (32.6 ± 3.3 vs 30.9 ± 2.9); generation got ~3x faster
    # (sportanim.models.cpu_conv), which pays for the larger eval set within the 5 minutes.
    "tiny": ExperimentConfig(fid_frames=8, resamples=100, data=ExperimentData(eval_clips=12)),
}


def load_experiment_config(spec: str | Path) -> ExperimentConfig:
    """A preset name or a YAML/JSON file (which may start from ``preset_config: NAME``);
    unknown keys and wrong types raise ``ConfigError`` naming the key."""
    text = str(spec)
    if text in EXPERIMENT_PRESETS:
        return copy.deepcopy(EXPERIMENT_PRESETS[text]).validate()
    from sportanim.train.config import _read_file

    data = _read_file(Path(text))
    base = data.pop("preset_config", "tiny")
    if base not in EXPERIMENT_PRESETS:
        raise ConfigError(f"{text}: preset_config must be one of {sorted(EXPERIMENT_PRESETS)}, got {base!r}")
    return merge(copy.deepcopy(EXPERIMENT_PRESETS[base]), data, text).validate()
