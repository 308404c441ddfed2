"""``sportanim experiment``: the paper's protocol end to end, in one call.

1. data: synthesize the jump domain (or take an FSJD folder), split train/eval by athlete;
2. the base model zero-shot on the eval jumps;
3. the three strategies (tokenizer | diffusion | staged) through ``sportanim.train.train``,
   each from the base weights;
4. generation on the eval clips (reference = the clip's first frame, the clip's joints) and
   evaluation (``sportanim.eval.evaluate``) of every model;
5. Table 1 (tokenizer), Table 2 (video), Figure 2, training curves and ``report.html``.

Run folder::

    RUN/experiment.yaml       the config (a rerun with another config is refused)
    RUN/data/                 the FSJD folder (synthetic runs only)
    RUN/base/                 stand-in random base weights (base: random only)
    RUN/runs/<strategy>/      the training runs; RUN/cache/ their shared latent cache
    RUN/eval-features/        the eval clips' FID/FVD/FID-VID features, extracted once for all models
    RUN/generated/<model>/    ID.mp4 (generated) + ID.npz (the tokenizer's joints), evaluation.json
    RUN/tables.md, table1.csv, table2.csv, tables.json, figure2.png, training_curves.png,
    RUN/videos/ID.mp4         ground truth | each model, per figure clip
    RUN/report.html, RUN/experiment.json (timings, paths)

A cut-off run continues where it stopped: training resumes from its checkpoints, clips
already generated are kept.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import typer

from sportanim.train.config import ConfigError, merge

# numpy, the data, the models and the report load on first use: `sportanim --help` stays fast.

STRATEGIES = ("tokenizer", "diffusion", "staged")
MODELS = ("base",) + STRATEGIES
TABLE1_LABELS = {"base": "0 pre-trained base (zero-shot)", "tokenizer": "1 tokenizer only",
                 "diffusion": "2 diffusion only (= base tokenizer)", "staged": "3 staged"}
TABLE2_LABELS = {"base": "before: pre-trained base", "staged": "after: staged (3)",
                 "diffusion": "diffusion only (2)"}
FIGURE_LABELS = {"base": "base (zero-shot)", "tokenizer": "1 tokenizer only", "diffusion": "2 diffusion only",
                 "staged": "3 staged"}


# --------------------------------------------------------------------------- config


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
            (s.guidance >= 1, "sampling.guidance", "must be >= 1 (1: off)", s.guidance),
            (s.scheduler in ("dpm", "ddim"), "sampling.scheduler", "must be dpm or ddim", s.scheduler),
            (r.figure_clips >= 1, "report.figure_clips", "must be >= 1", r.figure_clips),
            (r.figure_frames >= 1, "report.figure_frames", "must be >= 1", r.figure_frames),
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
    "tiny": ExperimentConfig(fid_frames=8),
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


# --------------------------------------------------------------------------- result


@dataclass
class ModelWeights:
    """How to build one compared model: a pipeline folder, optionally with another tokenizer."""

    pipeline: Path
    tokenizer: Path | None = None  # a tokenizer export (config, weights, stats.json) replacing the pipeline's


@dataclass
class ExperimentResult:
    out: Path
    tables: list  # sportanim.eval.tables.Table: Table 1, Table 2
    report: Path
    timings: dict[str, float]
    results: dict[str, dict]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the run


def run_experiment(config: ExperimentConfig, out: str | Path | None = None,
                   show_progress: bool = True) -> ExperimentResult:
    """Run the experiment of ``config`` into ``out`` (default ``runs/experiment-<time>``)."""
    from sportanim import fsjd
    from sportanim.eval.feature_cache import FeatureCache

    config = config.validate()
    out = Path(out) if out else Path("runs") / time.strftime("experiment-%Y%m%d-%H%M%S")
    base = _resolve_base(config)  # fail before any work when the weights are missing
    _claim(out, config)
    timings: dict[str, float] = {}
    notes: list[str] = []
    with _timed(timings, "data"):
        data = _prepare_data(config, out, show_progress)
    if base is None:
        base = _random_base(config, out, data)
        notes.append("STAND-IN base: randomly initialised weights, not the shipped pre-trained base")
    records = [r for r in fsjd.read_manifest(data) if r.split == "eval"]
    figure_ids = _figure_ids(records, config.report.figure_clips)
    video_models = {"base", "staged"} | ({"diffusion"} if config.report.diffusion_row else set())
    results: dict[str, dict] = {}
    real_features = FeatureCache(out / "eval-features")  # every model is scored against the same clips

    def rate(key: str, weights: ModelWeights) -> None:
        """Generate the eval clips with one model, then score them."""
        folder = out / "generated" / key
        with _timed(timings, f"generate {key}"):
            ids = {r.id for r in records} if key in video_models else figure_ids
            _generate(config, weights, data, records, ids, folder, show_progress)
        with _timed(timings, f"evaluate {key}"):
            results[key] = _evaluate(config, key in video_models, data, folder, real_features, show_progress)

    rate("base", ModelWeights(base))  # zero-shot, before any fine-tuning
    runs = {}
    for strategy in STRATEGIES:
        with _timed(timings, f"train {strategy}"):
            runs[strategy] = _train(config, strategy, data, base, out, show_progress)
    rate("tokenizer", ModelWeights(base, runs["tokenizer"]))  # model 1: base DiT, fine-tuned tokenizer
    rate("diffusion", ModelWeights(runs["diffusion"]))
    rate("staged", ModelWeights(runs["staged"]))
    with _timed(timings, "report"):
        tables = make_tables(results, config.report.diffusion_row)
        report = _write_outputs(config, out, data, records, figure_ids, tables, timings, notes)
    return ExperimentResult(out, tables, report, timings, results, notes)


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 1)


def _claim(out: Path, config: ExperimentConfig) -> None:
    """Write ``experiment.yaml``, or check that the folder's one matches (a rerun continues)."""
    import yaml

    from sportanim.eval.files import write_text

    path = out / "experiment.yaml"
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    if path.is_file():
        if yaml.safe_load(path.read_text()) != yaml.safe_load(text):
            raise ValueError(f"{out} holds an experiment with another config ({path}); choose a new --out")
        return
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not an experiment folder; choose a new --out")
    write_text(path, text)


def _resolve_base(config: ExperimentConfig) -> Path | None:
    """The base pipeline folder; None for ``random`` (built once the data's statistics exist)."""
    if config.base == "random":
        return None
    if config.base == "default":
        from sportanim.weights import default_weights

        return default_weights()
    folder = Path(config.base)
    if not (folder / "transformer").is_dir():
        raise FileNotFoundError(f"base weights {folder} are not a pipeline weights folder "
                                "(tokenizer/, transformer/, vae/, stats.json)")
    return folder


def _random_base(config: ExperimentConfig, out: Path, data: Path) -> Path:
    """Stand-in base: freshly initialised weights of the preset, normalised by the data."""
    import numpy as np

    from sportanim import fsjd
    from sportanim.models.pipeline import build_pipeline, save_pipeline

    folder = out / "base"
    if not (folder / "pipeline.json").is_file():
        stats = fsjd.read_stats(data)
        pipe = build_pipeline(config.preset, np.asarray(stats["mean"]), np.asarray(stats["std"]), seed=config.seed,
                              height=config.data.size, width=config.data.size)
        save_pipeline(pipe, folder, preset=config.preset)
    return folder


def _prepare_data(config: ExperimentConfig, out: Path, show_progress: bool) -> Path:
    """The FSJD folder the experiment runs on, with a train/eval split by athlete."""
    from sportanim import fsjd

    d = config.data
    if d.source != "synth":
        root = Path(d.source)
        if not any(r.split == "eval" for r in fsjd.read_manifest(root)):
            raise ValueError(f"{root} has no clips with split=eval; run `sportanim data split {root}` first")
        return root
    root = out / "data"
    if (root / fsjd.MANIFEST_NAME).is_file():
        return root
    from sportanim.data.split import split_dataset
    from sportanim.synth.dataset import SynthConfig, synthesize

    synthesize(SynthConfig(out=root, domain="jump", clips=d.train_clips + d.eval_clips, size=d.size,
                           frames=d.frames, seed=config.seed, motions=d.motions, eval_fraction=0.0),
               show_progress)
    split_dataset(root, n_eval=d.eval_clips, by="athlete", seed=config.seed)
    return root


def _train(config: ExperimentConfig, strategy: str, data: Path, base: Path, out: Path,
           show_progress: bool) -> Path:
    """Run one strategy from the base weights; returns its export (tokenizer folder for
    ``tokenizer``, pipeline folder otherwise). Every run normalises joints as the base does."""
    from sportanim import fsjd
    from sportanim.train.config import load_config
    from sportanim.train.trainer import train

    train_config = load_config(config.preset, copy.deepcopy(config.training.overrides))
    fixed = {"strategy": strategy, "steps": config.training.steps, "seed": config.seed,
             "diffusion": {"cache_dir": str((out / "cache").resolve())}}
    if (base / fsjd.STATS_NAME).is_file():
        fixed["data"] = {"stats": str((base / fsjd.STATS_NAME).resolve())}
    train_config = merge(train_config, fixed, "experiment").validate()
    run = out / "runs" / strategy
    resume = run.is_dir() and any(run.iterdir())  # a cut-off experiment continues its runs
    result = train(train_config, data, run, init=base, resume=resume, show_progress=show_progress)
    export = result.exports.get("tokenizer" if strategy == "tokenizer" else "dit")
    if export is None:
        raise RuntimeError(f"strategy {strategy} exported {sorted(result.exports)}, not the expected model")
    return Path(export)


def _figure_ids(records: list, count: int) -> set[str]:
    import numpy as np

    picks = np.unique(np.linspace(0, len(records) - 1, min(count, len(records))).round().astype(int))
    return {records[i].id for i in picks}


# --------------------------------------------------------------------------- generation


def load_model(weights: ModelWeights, scheduler: str = "dpm"):
    """The pipeline of ``weights`` and its joint normalisation (mean, std)."""
    import numpy as np

    from sportanim import fsjd
    from sportanim.models.pipeline import load_pipeline
    from sportanim.models.tokenizer import MotionTokenizer

    pipe = load_pipeline(weights.pipeline, scheduler=scheduler)
    mean, std = np.asarray(pipe.config.joint_mean), np.asarray(pipe.config.joint_std)
    if weights.tokenizer is not None:
        pipe.tokenizer = MotionTokenizer.from_pretrained(weights.tokenizer).eval()
        stats = json.loads((weights.tokenizer / fsjd.STATS_NAME).read_text())
        mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    return pipe, mean, std


def _generate(config: ExperimentConfig, weights: ModelWeights, data: Path, records: list,
              video_ids: set[str], folder: Path, show_progress: bool) -> None:
    """``folder/ID.npz`` (joints: the tokenizer's reconstruction, which drives the video) for
    every eval clip and ``folder/ID.mp4`` for ``video_ids``; clips already there are kept."""
    import numpy as np
    import torch

    from sportanim import fsjd
    from sportanim.progress import progress_bar
    from sportanim.video_io import write_video

    todo = [r for r in records if not (folder / f"{r.id}.npz").is_file()
            or (r.id in video_ids and not (folder / f"{r.id}.mp4").is_file())]
    if not todo:
        return
    folder.mkdir(parents=True, exist_ok=True)
    pipe, mean, std = load_model(weights, config.sampling.scheduler)
    pipe.set_progress_bar_config(disable=True)
    with progress_bar(f"generate {folder.name}", len(todo), enabled=show_progress) as advance, torch.no_grad():
        for record in todo:
            clip = fsjd.load_clip(data, record)
            if record.id in video_ids:
                generator = torch.Generator("cpu").manual_seed(config.seed)
                result = pipe(clip["frames"][0], clip["joints"], mean, std, generator=generator,
                              num_inference_steps=config.sampling.steps, guidance_scale=config.sampling.guidance,
                              num_frames=len(clip["joints"]), height=clip["frames"].shape[1],
                              width=clip["frames"].shape[2])
                write_video(folder / f"{record.id}.mp4", result.frames, record.fps)
                recon = result.reconstructed_joints
            else:
                recon = pipe.encode_motion(clip["joints"], mean, std)[2]
            fsjd.write_npz(folder / f"{record.id}.npz", {"joints": recon.astype(np.float32)})
            advance()


def _evaluate(config: ExperimentConfig, with_video: bool, data: Path, folder: Path, cache,
              show_progress: bool) -> dict:
    from sportanim.eval.evaluate import POSE_METRICS, evaluate
    from sportanim.eval.tables import TABLE2_METRICS

    metrics = list(POSE_METRICS) + (list(TABLE2_METRICS) if with_video else [])
    return evaluate(data, folder, metrics=metrics, out=folder / "evaluation.json",
                    weights=config.extractor_weights or None, split="eval", seed=config.seed,
                    fid_frames=config.fid_frames or None, cache=cache, show_progress=show_progress)


# --------------------------------------------------------------------------- outputs


def make_tables(results: dict[str, dict], diffusion_row: bool = True) -> list:
    """Table 1 (tokenizer) and Table 2 (video) from each model's evaluation results; the
    tables add the motion-FID feature and the video protocols to their notes themselves."""
    from sportanim.eval.tables import table1, table2

    t1 = table1({TABLE1_LABELS[k]: results[k] for k in MODELS},
                ["MPJPE: camera space, no alignment, mm (the paper's tokenizer MPJPE), "
                 "tokenizer encode -> decode of the eval clips' joints"],
                title="Table 1: motion tokenizer on the eval jumps")
    rows = ["base", "staged"] + (["diffusion"] if diffusion_row else [])
    t2 = table2({TABLE2_LABELS[k]: results[k] for k in rows},
                title="Table 2: video quality on the eval jumps, before vs after fine-tuning")
    return [t1, t2]


def _write_outputs(config: ExperimentConfig, out: Path, data: Path, records: list,
                   figure_ids: set[str], tables: list, timings: dict[str, float],
                   notes: list[str]) -> Path:
    import yaml

    from sportanim import fsjd
    from sportanim.eval.files import write_json
    from sportanim.eval.tables import write_tables
    from sportanim.report import figures
    from sportanim.report.html import Report, write_report

    write_tables(tables, out)
    clips = _figure_clips(data, [r for r in records if r.id in figure_ids], out / "generated")
    figure = figures.figure2(clips, out / "figure2.png", config.report.figure_frames)
    curves = figures.training_curves(_curve_files(out / "runs"), out / "training_curves.png")
    videos = [(f"eval clip {c.id}: " + " | ".join(["ground truth", *c.models]), _panel_video(c, out / "videos"))
              for c in clips]
    summary = [f"{len(records)} eval clips, {sum(r.split == 'train' for r in fsjd.read_manifest(data))} "
               f"training clips ({data}); each strategy trained {config.training.steps} steps from the base "
               f"weights ({config.base}); {config.sampling.steps} sampling steps, guidance "
               f"{config.sampling.guidance}.", *notes]
    report = Report("sportanim experiment: fine-tuning MTVCrafter for figure-skating jumps", summary, tables,
                    [("Figure 2: eval clips, ground truth and each model; skeletons: the joints that "
                      "drove each row (ground truth; each model's tokenizer reconstruction)", figure),
                     ("Training curves (loss per logged step)", curves)], videos,
                    yaml.safe_dump(config.to_dict(), sort_keys=False), timings)
    path = write_report(report, out / "report.html")
    record = {"config": config.to_dict(), "timings_s": timings, "total_s": round(sum(timings.values()), 1),
              "notes": notes, "tables": {t.key: t.to_dict() for t in tables}, "report": str(path)}
    write_json(record, out / "experiment.json")
    return path


def _figure_clips(data: Path, records: list, generated: Path):
    import numpy as np

    from sportanim import fsjd
    from sportanim.report.figures import FigureClip
    from sportanim.video_io import read_video

    clips = []
    for record in records:
        clip = fsjd.load_clip(data, record)
        models = {}
        for key in MODELS:
            frames = read_video(generated / key / f"{record.id}.mp4")[0]
            with np.load(generated / key / f"{record.id}.npz") as archive:
                models[FIGURE_LABELS[key]] = (frames, archive["joints"])
        clips.append(FigureClip(record.id, clip["frames"], clip["joints"], clip["intrinsics"], models))
    return clips


def _panel_video(clip, folder: Path) -> Path:
    """ground truth | each model, side by side."""
    import numpy as np

    from sportanim.video_io import write_video

    folder.mkdir(parents=True, exist_ok=True)
    columns = [clip.frames] + [frames for frames, _ in clip.models.values()]
    path = folder / f"{clip.id}.mp4"
    write_video(path, np.concatenate(columns, axis=2), 30.0)
    return path


def _curve_files(runs: Path) -> dict[str, dict[str, Path]]:
    """{panel: {curve: metrics.jsonl}}: tokenizer training and diffusion training."""
    found = {"tokenizer": runs / "tokenizer", "staged, stage 1": runs / "staged" / "stage1-tokenizer",
             "diffusion": runs / "diffusion", "staged, stage 2": runs / "staged" / "stage2-diffusion"}
    panels = {"4DMoT fine-tuning": ("tokenizer", "staged, stage 1"),
              "MV-DiT fine-tuning": ("diffusion", "staged, stage 2")}
    return {title: {name: found[name] / "metrics.jsonl" for name in names
                    if (found[name] / "metrics.jsonl").is_file()}
            for title, names in panels.items()}


def print_summary(result: ExperimentResult, console=None) -> None:
    """The two tables, the wall time and where the report is."""
    from rich.console import Console

    console = console or Console(soft_wrap=True)
    for table in result.tables:
        console.print(table.to_markdown(), highlight=False, markup=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(f"wall time {sum(result.timings.values()):.0f} s "
                  f"({', '.join(f'{k} {v:.0f} s' for k, v in result.timings.items())})", highlight=False,
                  markup=False)
    console.print(f"report: {result.report}", highlight=False, markup=False)


# --------------------------------------------------------------------------- CLI


def experiment_command(
    config: str = typer.Option("tiny", "--config", help="tiny | FILE.yaml (ExperimentConfig fields; "
                               "'preset_config: tiny' to start from the preset)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/experiment-<time>); "
                                       "an existing one with the same config continues."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """The paper's experiment: base zero-shot, the three strategies, Tables 1-2, Figure 2, report.html."""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        result = run_experiment(load_experiment_config(config), out, show_progress=not quiet)
    except (ValueError, OSError) as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    print_summary(result)
