"""The experiment's run: data, the base zero-shot, the three strategies from the base weights,
generation of the eval clips through ``sportanim.generation.Generator`` and their evaluation."""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

from sportanim.experiment.config import MODELS, ExperimentConfig
from sportanim.experiment.outputs import make_tables, write_outputs
from sportanim.generation import ModelSpec, Sampling
from sportanim.train.config import STRATEGY_NAMES, merge


@dataclass
class ExperimentResult:
    out: Path
    tables: list  # sportanim.eval.tables.Table: Table 1, Table 2, Table 3 (when it rates any model)
    report: Path
    timings: dict[str, float]
    results: dict[str, dict]
    notes: list[str] = field(default_factory=list)
    fidelity: dict[str, dict[str, dict]] = field(default_factory=dict)  # Table 3: setting -> model -> results


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

    def rate(key: str, model: ModelSpec) -> None:
        """Generate the eval clips with one model, then score them."""
        folder = out / "generated" / key
        with _timed(timings, f"generate {key}"):
            ids = {r.id for r in records} if key in video_models else figure_ids
            _generate(config, model, data, records, ids, folder, show_progress)
        with _timed(timings, f"evaluate {key}"):
            results[key] = _evaluate(config, key in video_models, data, folder, real_features, show_progress)

    models = {"base": _model(config, base)}  # zero-shot, before any fine-tuning
    rate("base", models["base"])
    runs = {}
    for strategy in STRATEGY_NAMES:
        with _timed(timings, f"train {strategy}"):
            runs[strategy] = _train(config, strategy, data, base, out, show_progress)
    models["tokenizer"] = _model(config, base, runs["tokenizer"])  # model 1: base DiT, fine-tuned tokenizer
    models["diffusion"] = _model(config, runs["diffusion"])
    models["staged"] = _model(config, runs["staged"])
    for key in STRATEGY_NAMES:
        rate(key, models[key])
    fidelity = _table3(config, models, data, records, out, timings, notes, show_progress)
    with _timed(timings, "report"):
        tables = make_tables(results, config.report.diffusion_row, fidelity)
        report = write_outputs(config, out, data, records, figure_ids, tables, timings, notes)
    return ExperimentResult(out, tables, report, timings, results, notes, fidelity)


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str):
    """Add the block's wall time to ``timings[name]`` (a stage may run in several pieces)."""
    start = time.perf_counter()
    yield
    timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 1)


def _claim(out: Path, config: ExperimentConfig) -> None:
    """Write ``experiment.yaml``, or check that the folder's one matches (a rerun continues)."""
    import yaml

    from sportanim.io.files import write_text

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


def _model(config: ExperimentConfig, pipeline: Path, tokenizer: Path | None = None) -> ModelSpec:
    """One compared model: a pipeline folder, optionally with another tokenizer export."""
    return ModelSpec(weights=pipeline, tokenizer=tokenizer, scheduler=config.sampling.scheduler)


def _generate(config: ExperimentConfig, model: ModelSpec, data: Path, records: list,
              video_ids: set[str], folder: Path, show_progress: bool,
              references: dict | None = None) -> None:
    """``folder/ID.npz`` (joints: the tokenizer's reconstruction, which drives the video) for
    every eval clip and ``folder/ID.mp4`` for ``video_ids``; clips already there are kept.
    Each video's reference is the clip's first frame, or with ``references`` (id -> record)
    the first frame of that other clip, written as ``folder/ID.reference.png`` (the picture
    ``evaluate`` scores appearance against)."""
    import numpy as np

    from sportanim import fsjd
    from sportanim.eval.evaluate import REFERENCE_SUFFIX
    from sportanim.generation import Generator
    from sportanim.progress import progress_bar
    from sportanim.io.video import write_video

    todo = [r for r in records if not (folder / f"{r.id}.npz").is_file()
            or (r.id in video_ids and not (folder / f"{r.id}.mp4").is_file())]
    if not todo:
        return
    folder.mkdir(parents=True, exist_ok=True)
    generator = Generator.load(model)
    sampling = Sampling(steps=config.sampling.steps, guidance=config.sampling.guidance, seed=config.seed)
    with progress_bar(f"generate {folder.name}", len(todo), enabled=show_progress) as advance:
        for record in todo:
            clip = fsjd.load_clip(data, record)
            if record.id in video_ids:
                frames = clip["frames"]
                reference = frames[0]
                if references is not None:
                    reference = _first_frame(data, references[record.id])
                    _write_png(folder / f"{record.id}{REFERENCE_SUFFIX}", reference)  # before the video
                result = generator.generate(reference, clip["joints"], sampling, num_frames=len(clip["joints"]),
                                            height=frames.shape[1], width=frames.shape[2])
                write_video(folder / f"{record.id}.mp4", result.frames, record.fps)
                recon = result.reconstructed_joints
            else:
                recon = generator.reconstruct(clip["joints"])
            fsjd.write_npz(folder / f"{record.id}.npz", {"joints": recon.astype(np.float32)})
            advance()


def _first_frame(data: Path, record):
    from sportanim.io.video import read_video

    return read_video(data / record.video)[0][0]


def _write_png(path: Path, image) -> None:
    """Lossless, so ``evaluate`` sees the very pixels the generator was given."""
    from PIL import Image

    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(image).save(tmp, format="PNG")
    tmp.replace(path)


def _cross_pairs(records: list) -> dict | None:
    """id -> the record whose first frame is the clip's cross-drive reference: the next eval
    clip (cyclically, manifest order) of another athlete; None with a single eval athlete."""
    pairs = {}
    for k, record in enumerate(records):
        others = [records[(k + j) % len(records)] for j in range(1, len(records))]
        other = next((o for o in others if o.labels["athlete"] != record.labels["athlete"]), None)
        if other is None:
            return None
        pairs[record.id] = other
    return pairs


def _table3(config: ExperimentConfig, models: dict[str, ModelSpec], data: Path, records: list, out: Path,
            timings: dict[str, float], notes: list[str], show_progress: bool) -> dict[str, dict[str, dict]]:
    """Table 3's generations and scores: {"own" | "cross": {model or "truth": evaluate
    results}}. Own reference reuses (and completes) ``generated/<model>/``; cross-drive
    writes ``generated-cross/<model>/`` and ``generated-cross/pairs.json``. "truth" scores
    the real eval videos (``generated/truth.json``; ``generated-cross/truth/``)."""
    from sportanim.io.files import write_json

    chosen = [k for k in MODELS if k in config.report.table3_models]
    if not chosen:
        return {}
    pairs = _cross_pairs(records)
    settings = {"own": out / "generated"}
    if pairs is None:
        notes.append("Table 3: every eval clip is of one athlete, so there is no cross-drive setting")
    else:
        settings["cross"] = out / "generated-cross"
        write_json(settings["cross"] / "pairs.json", {
            r.id: {"athlete": r.labels["athlete"], "reference_clip": pairs[r.id].id,
                   "reference_athlete": pairs[r.id].labels["athlete"]} for r in records})
    ids = {r.id for r in records}
    results: dict[str, dict[str, dict]] = {name: {} for name in settings}
    with _timed(timings, "table 3 evaluate"):  # the real videos: what a perfect model would score
        results["own"]["truth"] = _fidelity(config, data, data, show_progress, out / "generated" / "truth.json")
        if pairs is not None:
            folder = _real_with_references(data, records, pairs, settings["cross"] / "truth")
            results["cross"]["truth"] = _fidelity(config, data, folder, show_progress)
    for key in chosen:
        for name, root in settings.items():
            folder = root / key
            with _timed(timings, "table 3 generate"):  # own: only clips Table 2 did not generate
                _generate(config, models[key], data, records, ids, folder, show_progress,
                          pairs if name == "cross" else None)
            with _timed(timings, "table 3 evaluate"):
                results[name][key] = _fidelity(config, data, folder, show_progress)
    return results


def _real_with_references(data: Path, records: list, pairs: dict, folder: Path) -> Path:
    """``folder``: each eval clip's real video beside its cross-drive reference, so the real
    footage is scored as a cross-drive model would be (its colours vs the other athlete's)."""
    import shutil

    from sportanim.eval.evaluate import REFERENCE_SUFFIX

    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        _write_png(folder / f"{record.id}{REFERENCE_SUFFIX}", _first_frame(data, pairs[record.id]))
        shutil.copyfile(data / record.video, folder / f"{record.id}.mp4")
    return folder


def _fidelity(config: ExperimentConfig, data: Path, folder: Path, show_progress: bool,
              out: Path | None = None) -> dict:
    from sportanim.eval.evaluate import MOTION_METRICS, evaluate

    return evaluate(data, folder, metrics=list(MOTION_METRICS), out=out or folder / "fidelity.json",
                    weights=config.extractor_weights or None, split="eval", seed=config.seed,
                    show_progress=show_progress)


def _evaluate(config: ExperimentConfig, with_video: bool, data: Path, folder: Path, cache,
              show_progress: bool) -> dict:
    from sportanim.eval.evaluate import POSE_METRICS, evaluate
    from sportanim.eval.tables import TABLE2_METRICS

    metrics = list(POSE_METRICS) + (list(TABLE2_METRICS) if with_video else [])
    return evaluate(data, folder, metrics=metrics, out=folder / "evaluation.json",
                    weights=config.extractor_weights or None, split="eval", seed=config.seed,
                    fid_frames=config.fid_frames or None, cache=cache, resamples=config.resamples,
                    show_progress=show_progress)
