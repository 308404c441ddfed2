"""Training configuration: one dataclass tree, two presets, YAML/JSON files.

``TrainConfig`` holds everything a run needs except the paths (data, init, out), which
the command line gives. A config is named by a preset (``tiny``, ``mtvcrafter-7b``) or
read from a YAML/JSON file; a file may start from a preset with ``preset: NAME`` and
override any field, nested ones as nested mappings::

    preset: tiny
    steps: 500
    optim: {lr: 5.0e-4, warmup_steps: 20}

Unknown keys and values of the wrong type are refused with the dotted key named;
``TrainConfig.validate`` then checks the values together (batch divisibility etc.).
"""

from __future__ import annotations

import copy
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path

STRATEGY_NAMES = ("tokenizer", "diffusion", "staged")
SCHEDULES = ("constant", "cosine", "step")
MIXED_PRECISION = ("no", "fp16", "bf16")
DTYPES = ("float32", "float64")
SPLITS = ("train", "eval", "all")
MAX_BATCH = 1024  # global clips per step; a batch of 100k clips was an OOM kill, not a run
QUALITY = ("passed", "all")
REFERENCE_FRAMES = ("first", "random", "athlete")


class ConfigError(ValueError):
    """A training config that cannot be used: unknown key, wrong type or value."""


# --------------------------------------------------------------------------- the tree


@dataclass
class OptimConfig:
    """AdamW and its learning-rate schedule. Defaults: upstream's 4DMoT training
    (MTVCrafter ``train_vqvae.py``)."""

    lr: float = 2e-4  # peak learning rate (upstream 2e-4)
    betas: tuple[float, float] = (0.9, 0.99)  # upstream AdamW betas
    weight_decay: float = 1e-4  # upstream
    eps: float = 1e-8  # torch's AdamW default
    warmup_steps: int = 5000  # linear warm-up from ~0 to lr (upstream warm_up_iter)
    schedule: str = "step"  # after warm-up: constant | cosine | step (upstream: MultiStepLR)
    milestones: tuple[int, ...] = (300_000,)  # "step": multiply lr by gamma at these steps
    gamma: float = 0.05  # upstream MultiStepLR gamma
    min_lr_ratio: float = 0.0  # "cosine": floor as a share of lr
    max_grad_norm: float = 0.0  # clip the global grad norm to this; 0: no clipping (upstream)


@dataclass
class DataConfig:
    """How FSJD clips become training windows."""

    frames: int = 49  # window length T; must be a length the tokenizer round-trips (8k + 1)
    split: str = "train"  # manifest split to train on: train | eval | all
    quality: str = "passed"  # passed: leave out clips the builder flagged (quality.passed false) | all
    stride: int = 0  # frames between window starts in longer clips; 0: = frames (no overlap)
    stats: str = "auto"  # normalisation: auto (init's stats.json, else data's) | data | init | FILE


@dataclass
class TokenizerTrainConfig:
    """The 4DMoT being trained (strategy tokenizer, first stage of staged)."""

    preset: str = "mtvcrafter-7b"  # sportanim.models.tokenizer.TOKENIZER_PRESETS key
    overrides: dict = field(default_factory=dict)  # TokenizerConfig fields to change, e.g. {ema_decay: 0.95}
    commit_weight: float = 0.5  # loss = L1(recon, x) + commit_weight * commitment (upstream 0.5)


@dataclass
class DiffusionTrainConfig:
    """The MV-DiT being trained (strategy diffusion, second stage of staged), with the frozen
    4DMoT and VAE feeding it (their weights come from ``--init``, a pipeline weights folder)."""

    dit_preset: str = "mtvcrafter-7b"  # sportanim.models.dit.DIT_PRESETS key
    dit_overrides: dict = field(default_factory=dict)  # MVDiT config fields to change
    vae_preset: str = "cogvideox-5b"  # sportanim.models.vae.VAE_PRESETS key (config of the init's vae/)
    motion_drop: float = 0.1  # share of samples whose motion tokens become the unconditional ones (CFG)
    # The reference image: "first" or "random" clip frame (the paper's protocol), or "athlete": one
    # of the clip's pictures of its athlete elsewhere in the scene (npz "references", made by
    # `sportanim synth --references K`), so the motion, not the reference, says where the body is.
    reference_frame: str = "first"
    reference_choices: int = 0  # "random" draws from: 0 every frame; k one of k evenly spaced frames
    # (each distinct reference frame is one more VAE encode of a whole window to cache)
    lora_rank: int = 0  # 0: full fine-tuning; r > 0: LoRA (peft) on attention and feed-forward
    lora_alpha: float = 0.0  # LoRA scale numerator; 0: = lora_rank
    gradient_checkpointing: bool = False  # recompute block activations in the backward pass
    ema_decay: float = 0.0  # 0: off; else EMA of the trained weights, which the export then holds
    cache: bool = True  # keep VAE posteriors and motion tokens of frozen models on disk
    cache_dir: str = ""  # "": RUN/cache; share one folder between runs to reuse it


@dataclass
class TrainConfig:
    """One training run. Defaults are the ``mtvcrafter-7b`` preset (upstream's 4DMoT
    hyper-parameters; upstream ran 500k iterations from scratch, fine-tuning needs fewer)."""

    strategy: str = "tokenizer"  # tokenizer | diffusion | staged (see sportanim.train.strategies)
    steps: int = 500_000  # optimizer steps (upstream total_iter)
    batch_size: int = 32  # GLOBAL clips per optimizer step, over all processes and micro-steps
    grad_accum: int = 1  # micro-steps per optimizer step (each process sees batch / (accum * world))
    seed: int = 6666  # model init, sampling order, codebook re-seeding (upstream seed)
    checkpoint_every: int = 20_000  # optimizer steps between checkpoints (upstream save_interval)
    keep: int = 3  # newest checkpoints kept
    log_every: int = 200  # steps between TensorBoard / metrics.jsonl entries (upstream print_iter)
    mixed_precision: str = "no"  # no | fp16 | bf16 (accelerate autocast)
    dtype: str = "float32"  # parameter dtype; float64 makes runs comparable across process counts
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerTrainConfig = field(default_factory=TokenizerTrainConfig)
    diffusion: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)

    def validate(self) -> "TrainConfig":
        """Raise ``ConfigError`` naming the field for values that cannot work together."""
        _check(self.strategy in STRATEGY_NAMES, "strategy", f"must be one of {STRATEGY_NAMES}", self.strategy)
        for name in ("steps", "batch_size", "grad_accum", "checkpoint_every", "keep", "log_every"):
            _check(getattr(self, name) >= 1, name, "must be >= 1", getattr(self, name))
        _check(self.seed >= 0, "seed", "must be >= 0", self.seed)
        _check(self.batch_size <= MAX_BATCH, "batch_size (--batch-size)", f"must be <= {MAX_BATCH} clips per "
               "step (a larger global batch needs more processes or grad_accum, not one bigger load)", self.batch_size)
        _check(self.batch_size % self.grad_accum == 0, "batch_size",
               f"must be a multiple of grad_accum={self.grad_accum}", self.batch_size)
        _check(self.mixed_precision in MIXED_PRECISION, "mixed_precision", f"must be one of {MIXED_PRECISION}",
               self.mixed_precision)
        _check(self.dtype in DTYPES, "dtype", f"must be one of {DTYPES}", self.dtype)
        self._validate_optim()
        d = self.data
        _check(d.frames >= 1, "data.frames", "must be >= 1", d.frames)
        _check(d.stride >= 0, "data.stride", "must be >= 0 (0: = frames)", d.stride)
        _check(d.split in SPLITS, "data.split", f"must be one of {SPLITS}", d.split)
        _check(d.quality in QUALITY, "data.quality", f"must be one of {QUALITY}", d.quality)
        _check(bool(d.stats), "data.stats", "must be auto, data, init or a stats.json path", d.stats)
        _check(self.tokenizer.commit_weight >= 0, "tokenizer.commit_weight", "must be >= 0",
               self.tokenizer.commit_weight)
        f = self.diffusion
        _check(0 <= f.motion_drop <= 1, "diffusion.motion_drop", "must lie in [0, 1]", f.motion_drop)
        _check(f.reference_frame in REFERENCE_FRAMES, "diffusion.reference_frame",
               f"must be one of {REFERENCE_FRAMES}", f.reference_frame)
        _check(0 <= f.reference_choices <= self.data.frames, "diffusion.reference_choices",
               f"must lie in [0, data.frames={self.data.frames}] (0: every frame)", f.reference_choices)
        _check(f.lora_rank >= 0, "diffusion.lora_rank", "must be >= 0 (0: full fine-tuning)", f.lora_rank)
        _check(f.lora_alpha >= 0, "diffusion.lora_alpha", "must be >= 0 (0: = lora_rank)", f.lora_alpha)
        _check(0 <= f.ema_decay < 1, "diffusion.ema_decay", "must lie in [0, 1) (0: off)", f.ema_decay)
        return self

    def _validate_optim(self) -> None:
        o = self.optim
        _check(o.lr > 0 and math.isfinite(o.lr), "optim.lr", "must be a positive number", o.lr)
        _check(all(0 <= b < 1 for b in o.betas), "optim.betas", "must lie in [0, 1)", o.betas)
        _check(o.weight_decay >= 0, "optim.weight_decay", "must be >= 0", o.weight_decay)
        _check(o.eps > 0, "optim.eps", "must be > 0", o.eps)
        _check(o.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0", o.warmup_steps)
        _check(o.schedule in SCHEDULES, "optim.schedule", f"must be one of {SCHEDULES}", o.schedule)
        _check(list(o.milestones) == sorted(o.milestones) and all(m >= 1 for m in o.milestones),
               "optim.milestones", "must be increasing steps >= 1", o.milestones)
        _check(0 < o.gamma <= 1, "optim.gamma", "must lie in (0, 1]", o.gamma)
        _check(0 <= o.min_lr_ratio <= 1, "optim.min_lr_ratio", "must lie in [0, 1]", o.min_lr_ratio)
        _check(o.max_grad_norm >= 0, "optim.max_grad_norm", "must be >= 0 (0: no clipping)", o.max_grad_norm)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"config field {name} {rule}, got {value!r}")


# --------------------------------------------------------------------------- presets

TRAIN_PRESETS: dict[str, TrainConfig] = {
    # Upstream's 4DMoT recipe (MTVCrafter train_vqvae.py defaults) on the released tokenizer.
    "mtvcrafter-7b": TrainConfig(),
    # CPU, seconds to minutes: the tiny tokenizer (or the tiny MV-DiT, with the tiny VAE) on a
    # synthetic FSJD folder. A higher lr and a short warm-up so that a few hundred steps show
    # learning; cosine so the run ends calm. The 7B preset's optim is upstream's 4DMoT recipe:
    # MV-DiT fine-tuning at 7B wants its own lr (a config file or --lr).
    "tiny": TrainConfig(
        steps=200, batch_size=8, seed=0, checkpoint_every=50, keep=2, log_every=10,
        optim=OptimConfig(lr=1e-3, warmup_steps=10, schedule="cosine", max_grad_norm=1.0),
        tokenizer=TokenizerTrainConfig(preset="tiny"),
        diffusion=DiffusionTrainConfig(dit_preset="tiny", vae_preset="tiny"),
    ),
}


def preset(name: str) -> TrainConfig:
    """A fresh copy of preset ``name``."""
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown config preset {name!r}; choose one of {sorted(TRAIN_PRESETS)} or a YAML/JSON file")
    return copy.deepcopy(TRAIN_PRESETS[name])


# --------------------------------------------------------------------------- loading


def load_config(spec: str | Path, overrides: dict | None = None) -> TrainConfig:
    """``spec``: a preset name or a YAML/JSON file (which may name a base ``preset``).
    ``overrides``: a nested dict (or dotted keys: ``{"optim.lr": 1e-4}``) applied last.
    Returns a validated ``TrainConfig``; ``ConfigError`` names the bad key or value."""
    text = str(spec)
    if text in TRAIN_PRESETS:
        base, data, where = preset(text), {}, f"preset {text}"
    else:
        data, where = _read_file(Path(text)), str(text)
        name = data.pop("preset", "mtvcrafter-7b")
        base = preset(name) if isinstance(name, str) else _fail(where, "preset", "must be a preset name", name)
    config = merge(base, data, where)
    if overrides:
        config = merge(config, _undot(overrides), "overrides")
    return config.validate()


def _read_file(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config {str(path)!r} is neither a preset ({', '.join(sorted(TRAIN_PRESETS))}) "
                          "nor an existing YAML/JSON file")
    raw = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            import yaml

            data = yaml.safe_load(raw)
    except Exception as err:  # yaml.YAMLError / json.JSONDecodeError: both parse errors
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields at the top, got {type(data).__name__}")
    return data


def _undot(flat: dict) -> dict:
    """``{"optim.lr": 1}`` -> ``{"optim": {"lr": 1}}`` (nested dicts pass through)."""
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, last = str(key).split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def merge(config, data: dict, where: str, prefix: str = ""):
    """A copy of dataclass ``config`` with the values of ``data`` (nested dicts for
    nested dataclasses), each coerced to the field's type; ``ConfigError`` otherwise."""
    if not isinstance(data, dict):
        _fail(where, prefix.rstrip(".") or "<top>", "must be a mapping", data)
    known = {f.name: f for f in fields(config)}
    hints = typing.get_type_hints(type(config))
    changes = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in known:
            _fail(where, name, f"is not a config field (known here: {', '.join(sorted(known))})", value)
        current = getattr(config, key)
        if is_dataclass(current):
            changes[key] = merge(current, value, where, f"{name}.")
        else:
            changes[key] = _coerce(value, hints[key], where, name)
    return replace(config, **changes)


def _coerce(value, hint, where: str, name: str):
    """``value`` as type ``hint`` (int, float, str, bool, dict, tuple[X, ...], tuple[X, Y])."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads "2e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(v, args[0], where, f"{name}[{i}]") for i, v in enumerate(value))
            if len(value) == len(args):
                return tuple(_coerce(v, a, where, f"{name}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    _fail(where, name, f"must be {_type_name(hint)}", value)


def _type_name(hint) -> str:
    if isinstance(hint, type):
        return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                "dict": "a mapping"}.get(hint.__name__, hint.__name__)
    if isinstance(hint, types.GenericAlias) and typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}s"
        return f"a list of {len(args)} values"
    return str(hint)


def _fail(where: str, name: str, rule: str, value: object) -> typing.NoReturn:
    raise ConfigError(f"{where}: config field {name} {rule}, got {value!r}")


def diff(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Dotted names of the fields whose values differ between ``a`` and ``b``."""
    out: list[str] = []

    def walk(x: dict, y: dict, prefix: str) -> None:
        for key in sorted(set(x) | set(y)):
            vx, vy = x.get(key), y.get(key)
            if isinstance(vx, dict) and isinstance(vy, dict) and key != "overrides":
                walk(vx, vy, f"{prefix}{key}.")
            elif vx != vy:
                out.append(f"{prefix}{key}")

    walk(a.to_dict(), b.to_dict(), "")
    return out


def to_yaml(config: TrainConfig) -> str:
    """The config as YAML that ``load_config`` reads back to an equal config (e.g. to
    write ``configs/tiny.yaml`` from the preset)."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def from_dict(data: dict) -> TrainConfig:
    """Rebuild a config saved with ``to_dict`` (e.g. a run's ``config.json``)."""
    return merge(TrainConfig(), data, "saved config").validate()
