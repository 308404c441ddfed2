"""``sportanim pretrain``: the tiny base model, trained from scratch on synthetic DAILY motion.

MTVCrafter was trained on everyday web video and never saw sport; the tiny base plays that
part in the tiny world, so the paper's fine-tuning experiment has something to fine-tune.
Stages, each skipped when its output already exists in ``out`` (a cut-off run picks up where
it stopped):

1. ``data/``: synthetic daily clips (walk, idle sway, arm wave, squat, dance step, turn), each
   with pictures of its athlete elsewhere in the scene: the DiT's reference images.
   ``data-motion/``: more daily clips (seed + 1: other athletes) for the tokenizer, which
   needs only their joints (rendered at 16 px); its MPJPE is measured on ``data/``'s eval clips.
2. ``vae/``: the tiny ``AutoencoderKLCogVideoX`` (``sportanim.train.vae_training``).
3. ``tokenizer-run/``: the tiny 4DMoT through the ordinary trainer (strategy ``tokenizer``).
4. ``latents-run/``: one epoch of the diffusion loop that fills ``cache/`` with the VAE
   posteriors of the DiT's clips (it needs only the VAE, so it may run beside stage 3).
5. ``dit-run/``: the tiny MV-DiT through the ordinary trainer (strategy ``diffusion``, VAE and
   tokenizer frozen), starting from a pipeline folder whose DiT is freshly initialised.
6. ``weights/``: the pipeline weights folder (``load_pipeline``), plus ``pretrain.json``
   recording the command, seeds, per-stage wall time and metrics.

With ``base`` (``--base FOLDER``) the VAE and the tokenizer of that pipeline folder are carried
over instead of trained (stages 2-3 copy them and record how the base made them), so only the
data, the cache and the DiT are made anew.

``--install`` copies ``weights/`` into the package (``sportanim/weights/tiny``), where
``sportanim.weights.default_weights()`` finds it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from sportanim import fsjd
from sportanim.io.files import atomic_dir, write_text
from sportanim.io.stats import STATS_NAME, read_joint_stats
from sportanim.weights import TINY_BASE


@dataclass
class PretrainConfig:
    """What ``sportanim pretrain --preset tiny`` runs; every number here is recorded."""

    preset: str = "tiny"
    seed: int = 0
    clips: int = 480  # synthetic daily clips (10% eval)
    size: int = 64
    vae_steps: int = 700
    motion_clips: int = 1920  # the tokenizer's clips: 432 overfit (22.7 mm on them, 28.8 held out)
    tokenizer_steps: int = 16000  # 8000 left the loss falling: 26.0 mm held out; 16000: 23.5
    tokenizer_batch: int = 16
    dit_steps: int = 12000
    dit_clips: int = 432  # train clips the DiT sees (each costs 1 + references 49-frame VAE encodes to cache)
    dit_overrides: dict = field(default_factory=dict)  # TrainConfig fields for the DiT stage
    # The DiT's reference image: a picture of the clip's athlete elsewhere in the scene ("athlete",
    # `references` of them per clip), so that the motion says where the body goes. With the
    # clip's own first frame ("first", the paper's protocol) the base learnt to copy it and
    # ignore the motion (benchmarks/tiny_base.py).
    references: int = 2
    reference_frame: str = "athlete"
    # A pipeline folder whose VAE and tokenizer are carried over (their stages copied, with the
    # record of how they were made), e.g. to retrain only the DiT; "" trains everything.
    base: str = ""


def pretrain(out: str | Path, config: PretrainConfig | None = None, install: bool = False,
             show_progress: bool = True, stages: tuple[str, ...] = ("data", "motion", "vae", "tokenizer", "latents", "dit")) -> Path:
    """Run (or finish) the pretraining stages into ``out``; returns the weights folder."""
    c = config or PretrainConfig()
    if c.preset != "tiny":
        raise ValueError(f"pretrain trains the tiny preset only (the full world loads released "
                         f"weights), got {c.preset!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = _read_record(out, c)
    _write_record(out, record)
    steps = {"data": _data_stage, "motion": _motion_stage, "vae": _vae_stage, "tokenizer": _tokenizer_stage, "latents": _latents_stage,
             "dit": _dit_stage}
    if c.base:
        steps.update(motion=_carried_motion, vae=_carried_vae, tokenizer=_carried_tokenizer)
    for name in stages:
        if name in record["stages"]:
            continue
        started = time.perf_counter()
        metrics = steps[name](out, c, show_progress)
        record = _read_record(out, c)  # independent stages may run in parallel processes
        record["stages"][name] = {"seconds": round(time.perf_counter() - started, 1), **metrics}
        _write_record(out, record)
    weights = out / "weights"
    if "dit" in record["stages"]:
        _write_record(weights, record)  # the weights carry how they were made
        if install:
            install_weights(weights)
    return weights


def install_weights(weights: Path, target: Path = TINY_BASE) -> Path:
    """Copy a finished weights folder into the package (replacing what was there)."""
    if not (weights / "pipeline.json").is_file():
        raise FileNotFoundError(f"{weights} is not a pipeline weights folder (no pipeline.json)")
    return _copy_folder(weights, target)


def _copy_folder(source: Path, target: Path) -> Path:
    """Replace ``target`` with a copy of ``source``, atomically (never half a weights folder)."""
    with atomic_dir(target, overwrite=True) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return target


# --------------------------------------------------------------------------- stages


def _data_stage(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    from sportanim.synth.dataset import SynthConfig, synthesize

    records = synthesize(SynthConfig(out=out / "data", domain="daily", clips=c.clips, size=c.size,
                                     seed=c.seed, references=c.references, overwrite=True), show_progress)
    return {"clips": len(records), "eval": sum(r.split == "eval" for r in records)}


def _motion_stage(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    from sportanim.synth.dataset import SynthConfig, synthesize

    records = synthesize(SynthConfig(out=out / "data-motion", domain="daily", clips=c.motion_clips, size=16,
                                     seed=c.seed + 1, eval_fraction=0.0, overwrite=True), show_progress)
    return {"clips": len(records)}


def _vae_stage(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    from sportanim.train.vae_training import VAETrainConfig, train_vae

    vc = VAETrainConfig(steps=c.vae_steps, seed=c.seed)
    result = train_vae(out / "data", vc, show_progress)
    with atomic_dir(out / "vae", overwrite=True) as tmp:
        result.vae.save_pretrained(tmp)
    return {"config": asdict(vc), "final_l1": round(result.loss, 5), "eval_psnr_db": round(result.eval_psnr, 2),
            "latent_std": round(result.latent_std, 4)}


def _tokenizer_stage(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    from sportanim.train.config import load_config
    from sportanim.train.trainer import train

    config = load_config("tiny", {"strategy": "tokenizer", "steps": c.tokenizer_steps, "seed": c.seed,
                                  "batch_size": c.tokenizer_batch, "checkpoint_every": 1000, "log_every": 100})
    run = out / "tokenizer-run"
    result = train(config, out / "data-motion", run, resume=True, show_progress=show_progress)
    mpjpe = tokenizer_mpjpe(result.exports["tokenizer"], out / "data", "eval")
    return {"config": config.to_dict(), "eval_mpjpe_mm": round(mpjpe, 2)}


def _base_stage(c: PretrainConfig, name: str) -> dict:
    """How the carried ``base`` made stage ``name`` (its pretrain.json), under ``carried_from``."""
    base = Path(c.base)
    if not (base / "pipeline.json").is_file():
        raise FileNotFoundError(f"--base {base} is not a pipeline weights folder (no pipeline.json)")
    record = json.loads((base / "pretrain.json").read_text()) if (base / "pretrain.json").is_file() else {}
    return {"carried_from": str(base), "base_command": record.get("command"),
            "base_stage": record.get("stages", {}).get(name)}


def _carried_motion(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    return {**_base_stage(c, "motion"), "note": "the carried tokenizer needs no motion clips"}


def _carried_vae(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    metrics = _base_stage(c, "vae")
    _copy_folder(Path(c.base) / "vae", out / "vae")
    return metrics


def _carried_tokenizer(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    """The base's tokenizer (with the statistics it normalises by) where stage 3 puts its own."""
    metrics = _base_stage(c, "tokenizer")
    target = out / "tokenizer-run" / "final" / "tokenizer"
    with atomic_dir(target, overwrite=True) as tmp:
        shutil.copytree(Path(c.base) / "tokenizer", tmp, dirs_exist_ok=True)
        shutil.copy(Path(c.base) / STATS_NAME, tmp / STATS_NAME)
    return {**metrics, "eval_mpjpe_mm": round(tokenizer_mpjpe(target, out / "data", "eval"), 2)}


def _reference_overrides(c: PretrainConfig) -> dict:
    return {"diffusion.reference_frame": c.reference_frame}


def _latents_stage(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    """Fill the DiT's VAE cache (clip and reference posteriors) while the tokenizer may still
    be training: one epoch of the diffusion loop over the DiT clips with a random stand-in
    tokenizer, whose tokens are cached under its own hash and never used again."""
    from sportanim.train.config import load_config
    from sportanim.train.trainer import train

    data = _subset(out / "data", out / "data-dit", c.dit_clips)
    start = _init_folder(out, c, out / "latents-init", stats=data / STATS_NAME)
    windows = len(fsjd.read_manifest(data))
    config = load_config("tiny", {"strategy": "diffusion", "seed": c.seed, "log_every": 1,
                                  "steps": -(-windows // 8), "batch_size": 8, **_reference_overrides(c),
                                  "checkpoint_every": 10_000, "diffusion.cache_dir": str(out / "cache")})
    train(config, data, out / "latents-run", init=start, resume=True, show_progress=show_progress)
    return {"windows": windows}


def _dit_stage(out: Path, c: PretrainConfig, show_progress: bool) -> dict:
    from sportanim.models.pipeline import load_pipeline
    from sportanim.train.config import load_config
    from sportanim.train.trainer import train

    tok_dir = out / "tokenizer-run" / "final" / "tokenizer"
    start = _init_folder(out, c, out / "dit-init", stats=tok_dir / STATS_NAME, tokenizer=tok_dir)
    overrides = {"strategy": "diffusion", "steps": c.dit_steps, "seed": c.seed, "checkpoint_every": 500,
                 "log_every": 50, "diffusion.cache_dir": str(out / "cache"), **_reference_overrides(c),
                 **c.dit_overrides}
    config = load_config("tiny", overrides)
    data = _subset(out / "data", out / "data-dit", c.dit_clips)
    result = train(config, data, out / "dit-run", init=start, resume=True, show_progress=show_progress)
    weights = out / "weights"
    _copy_folder(result.exports["dit"], weights)  # RUN/final/pipeline: a complete weights folder
    load_pipeline(weights)  # the folder must load as it is shipped
    return {"config": config.to_dict(), "final_loss": result.logs.get("loss")}


def _init_folder(out: Path, c: PretrainConfig, folder: Path, stats: Path, tokenizer: Path | None = None) -> Path:
    """A pipeline weights folder to start the DiT from: the trained VAE, the trained tokenizer
    (or, without one, a random stand-in), a freshly initialised DiT (seed ``c.seed``)."""
    if not folder.exists():
        from diffusers import AutoencoderKLCogVideoX

        from sportanim.models.pipeline import build_pipeline, save_pipeline
        from sportanim.models.tokenizer import MotionTokenizer

        mean, std = read_joint_stats(stats)
        pipe = build_pipeline(c.preset, mean=mean, std=std, seed=c.seed)
        pipe.vae = AutoencoderKLCogVideoX.from_pretrained(out / "vae")
        if tokenizer is not None:
            pipe.tokenizer = MotionTokenizer.from_pretrained(tokenizer)
        save_pipeline(pipe, folder, preset=c.preset)
    return folder


def _subset(data: Path, folder: Path, clips: int) -> Path:
    """An FSJD folder of the first ``clips`` train clips of ``data``: their files hard-linked
    (copied across file systems), since readers refuse symlinks leading out of a dataset."""
    if not folder.exists():
        records = [r for r in fsjd.read_manifest(data) if r.split == "train"][:clips]
        with atomic_dir(folder) as tmp:
            for record in records:
                for relative in (record.video, record.joints):
                    (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(data / relative, tmp / relative)
                    except OSError:
                        shutil.copy2(data / relative, tmp / relative)
            fsjd.write_manifest(tmp, records)
            shutil.copy(data / STATS_NAME, tmp / STATS_NAME)
    return folder


# --------------------------------------------------------------------------- measuring


@torch.no_grad()
def tokenizer_reconstructions(tokenizer_dir: str | Path, data: str | Path, split: str = "eval"):
    """Yield ``(record, joints, reconstruction)`` (mm, camera space) of tokenizer encode ->
    decode for each clip of ``split``, normalised with the stats saved with the tokenizer
    (its folder, or the pipeline folder holding it)."""
    from sportanim.models.tokenizer import MotionTokenizer

    tokenizer = MotionTokenizer.from_pretrained(tokenizer_dir).eval()
    stats_file = Path(tokenizer_dir) / STATS_NAME
    if not stats_file.is_file():  # a pipeline weights folder keeps its stats beside tokenizer/
        stats_file = Path(tokenizer_dir).parent / STATS_NAME
    mean, std = (torch.tensor(v, dtype=torch.float32) for v in read_joint_stats(stats_file))
    for record in fsjd.read_manifest(data):
        if split != "all" and record.split != split:
            continue
        joints = torch.from_numpy(fsjd.load_clip(data, record)["joints"]).float()
        recon = tokenizer((joints[None] - mean) / std).recon[0] * std + mean  # no grad: the decorator
        yield record, joints, recon


def tokenizer_mpjpe(tokenizer_dir: str | Path, data: str | Path, split: str = "eval") -> float:
    """Mean per-joint position error (mm, camera space, no alignment) of tokenizer encode ->
    decode over the clips of ``split`` (see ``tokenizer_reconstructions``)."""
    errors = [(recon - joints).norm(dim=-1).mean().item()
              for _, joints, recon in tokenizer_reconstructions(tokenizer_dir, data, split)]
    if not errors:
        raise ValueError(f"{data}: no clips with split={split!r}")
    return sum(errors) / len(errors)


def _read_record(out: Path, c: PretrainConfig) -> dict:
    path = out / "pretrain.json"
    if path.is_file():
        record = json.loads(path.read_text())
        known = {**asdict(PretrainConfig()), **record["config"]}  # fields added since: their defaults
        if json.loads(json.dumps(known)) != json.loads(json.dumps(asdict(c))):
            raise ValueError(f"{out} holds a pretraining run with another config; use a new --out")
        return record
    return {"command": " ".join(["sportanim", *sys.argv[1:]]) if sys.argv else "", "config": asdict(c),
            "torch": torch.__version__, "python": platform.python_version(), "cpus": torch.get_num_threads(),
            "stages": {}}


def _write_record(folder: Path, record: dict) -> None:
    write_text(folder / "pretrain.json", json.dumps(record, indent=2) + "\n")
