"""``sportanim train`` (flags -> config -> ``sportanim.train.train``) and ``sportanim pretrain``.

Several processes or machines: ``accelerate launch [--config_file FILE] -m sportanim.train
--config ... --data ... --out ...`` (or the ``sportanim`` script in place of ``-m``); that
entry point is ``main`` here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from sportanim.cli.errors import run, say

SCRATCH = "scratch"  # --init scratch: fresh weights instead of the shipped tiny base


def _parse_inits(values: list[str]) -> str | dict[str, str] | None:
    """``["PATH"]`` -> PATH; ``["tokenizer=A", "dit=B"]`` -> ``{"tokenizer": A, "dit": B}``;
    ``["scratch"]`` -> None (fresh weights)."""
    if values == [SCRATCH]:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    named = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--init {value!r}: give one PATH, or NAME=PATH per model (e.g. tokenizer=RUN/final/tokenizer)")
        named[name] = path
    return named


def _parse_sets(values: list[str]) -> dict:
    import yaml

    out = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {value!r}: expected FIELD=VALUE, e.g. optim.warmup_steps=100")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {value!r}: value is not valid YAML ({err})") from None
    return out


def train(
    data: Path = typer.Option(..., "--data", help="FSJD dataset folder (manifest.jsonl, clips/, stats.json)."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints/, logs/ (TensorBoard), final/ exports."),
    config: str = typer.Option("tiny", "--config", help="tiny | mtvcrafter-7b | a YAML/JSON file (may say 'preset: NAME')."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="tokenizer | diffusion | staged (default: the config's)."),
    init: list[str] = typer.Option([], "--init", help="Weights to start from: PATH for the trained model, or NAME=PATH "
                                   "(repeatable), or 'scratch' (default: the shipped tiny base for tiny-model configs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out (exactly)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimizer steps (config field steps)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="GLOBAL batch over all processes (batch_size)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (optim.lr)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed (seed)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Steps between checkpoints."),
    mixed_precision: Optional[str] = typer.Option(None, "--mixed-precision", help="no | fp16 | bf16."),
    set_: list[str] = typer.Option([], "--set", help="Any config field as FIELD=VALUE, e.g. --set optim.warmup_steps=100."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fine-tune with one of the paper's strategies (tokenizer | diffusion | staged) on accelerate."""
    from sportanim.train.config import load_config
    from sportanim.train.trainer import shipped_init
    from sportanim.train.trainer import train as run_training

    flags = {"strategy": strategy, "steps": steps, "batch_size": batch_size, "optim.lr": lr, "seed": seed,
             "checkpoint_every": checkpoint_every, "mixed_precision": mixed_precision}
    overrides = {**{k: v for k, v in flags.items() if v is not None}, **run(_parse_sets, set_)}
    cfg = run(load_config, config, overrides)
    start = run(_parse_inits, init) if init else shipped_init(cfg)
    if not init and start is not None:
        say(f"[dim]note:[/] no --init: starting from the shipped tiny base ({start}; --init scratch for fresh weights)")
    result = run(run_training, cfg, data, out, init=start, resume=resume, show_progress=not quiet)
    if os.environ.get("RANK", "0") == "0":
        for name, folder in result.exports.items():
            print(f"{name}: {folder}")


def pretrain(
    out: Path = typer.Option(Path("runs/pretrain-tiny"), "--out", help="Run folder; a cut-off run continues where it stopped."),
    preset: str = typer.Option("tiny", "--preset", help="Only tiny: the full world loads released weights."),
    seed: int = typer.Option(0, help="Seed of the data, the initialisations and the sampling order."),
    install: bool = typer.Option(False, "--install", help="Copy the finished weights into the package (sportanim/weights/tiny)."),
    base: Optional[Path] = typer.Option(None, "--base", help="A pipeline weights folder whose VAE and tokenizer are "
                                        "carried over (only the data, the VAE cache and the DiT are made)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train the tiny base model (VAE, 4DMoT, MV-DiT) from scratch on synthetic daily motion."""
    from sportanim.train.pretrain import PretrainConfig
    from sportanim.train.pretrain import pretrain as run_pretrain

    weights = run(run_pretrain, out, PretrainConfig(preset=preset, seed=seed, base=str(base or "")),
                  install=install,
                  show_progress=not quiet)
    say(f"weights: {weights}")


def main() -> None:
    """``python -m sportanim.train`` / ``accelerate launch -m sportanim.train``: the train command alone."""
    from sportanim.threads import apply_thread_policy

    run(apply_thread_policy)
    typer.run(train)
