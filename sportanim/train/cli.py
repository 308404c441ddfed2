"""``sportanim train``: parse flags, make the config, call ``sportanim.train.train``.

Several processes or machines: ``accelerate launch [--config_file FILE] -m sportanim.train
--config ... --data ... --out ...`` (or the ``sportanim`` script in place of ``-m``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer


def _fail(message: str) -> None:
    from rich.console import Console

    if os.environ.get("RANK", "0") == "0":  # one line, not one per process
        Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _parse_inits(values: list[str]) -> str | dict[str, str] | None:
    """``["PATH"]`` -> PATH; ``["tokenizer=A", "dit=B"]`` -> ``{"tokenizer": A, "dit": B}``."""
    if not values:
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
    init: list[str] = typer.Option([], "--init", help="Weights to start from: PATH for the trained model, or NAME=PATH (repeatable)."),
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
    from sportanim.train.trainer import train as run_training

    flags = {"strategy": strategy, "steps": steps, "batch_size": batch_size, "optim.lr": lr, "seed": seed,
             "checkpoint_every": checkpoint_every, "mixed_precision": mixed_precision}
    try:
        overrides = {**{k: v for k, v in flags.items() if v is not None}, **_parse_sets(set_)}
        cfg = load_config(config, overrides)
        result = run_training(cfg, data, out, init=_parse_inits(init), resume=resume, show_progress=not quiet)
    except (ValueError, OSError, NotImplementedError) as err:
        _fail(str(err))
        return
    if os.environ.get("RANK", "0") == "0":
        for name, folder in result.exports.items():
            print(f"{name}: {folder}")
