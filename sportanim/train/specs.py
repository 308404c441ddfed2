"""Model specifications: everything model-specific the generic trainer needs.

A spec (finetrainers' word) knows how to build or load one trainable model, how to turn a
batch into a loss (its *objective*, an ``nn.Module`` the trainer wraps for DDP/FSDP), which
state outside ``state_dict`` a checkpoint must carry, and how to export the trained model
in its loadable form. The trainer names no model; a strategy is a list of specs to train and
a set to freeze (``sportanim.train.strategies``).

An objective's ``forward(batch, seed)`` returns ``{"loss": () tensor, "logs": {name: ()
tensor}}``. ``batch`` holds this process's slice of the global batch (``"joints"`` (b, T,
24, 3) normalised, ``"positions"`` (b,) the samples' places in the global sample stream);
``seed`` is the global micro-step's seed, identical on every process and after a resume.
Randomness drawn from ``seed`` (one draw for the whole global batch, as the codebook
re-seeding) or per sample from ``(seed, position)`` (e.g. diffusion noise) keeps a run the
same for any number of processes.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sportanim.io.files import atomic_dir
from sportanim.io.stats import write_stats
from sportanim.models.tokenizer import (
    TOKENIZER_PRESETS,
    UPSTREAM_CHECKPOINT_NAME,
    WEIGHTS_NAME,
    MotionTokenizer,
    TokenizerConfig,
    _load_strict,
    build_checked,
)
from sportanim.train.config import ConfigError, TrainConfig
from sportanim.train.data import JointStats


class InitError(ValueError):
    """Init weights that cannot be loaded into the configured model."""


def cast_model(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """``model`` in ``dtype``, untouched if it already is (diffusers warns on any ``.to(dtype)``)."""
    return model if all(p.dtype == dtype for p in model.parameters()) else model.to(dtype)


# --------------------------------------------------------------------------- inits

# A pipeline weights folder's parts (sportanim.models.pipeline)
PIPELINE_PARTS = ("tokenizer", "transformer", "vae")


def is_pipeline_folder(path: str | Path) -> bool:
    """A pipeline weights folder holds tokenizer/, transformer/ and vae/."""
    path = Path(path)
    return path.is_dir() and all((path / part).is_dir() for part in PIPELINE_PARTS)


def pipeline_inits(folder: Path, names: set[str]) -> dict[str, Path]:
    """The init of each spec in ``names`` taken from pipeline weights folder ``folder``."""
    tokenizer = folder / "tokenizer"
    if (tokenizer / UPSTREAM_CHECKPOINT_NAME).is_file():
        tokenizer = tokenizer / UPSTREAM_CHECKPOINT_NAME
    found = {"tokenizer": tokenizer, "dit": folder, "vae": folder / "vae"}
    return {name: path for name, path in found.items() if name in names}


# --------------------------------------------------------------------------- distributed


def _world() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (n, ...) of every process in rank order -> (W * n, ...); the same
    tensor on every process (each holds the same n). Identity for one process."""
    if _world() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(_world())]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@contextmanager
def seeded(seed: int, device: torch.device):
    """Run the block with torch's global RNG (of ``device``) seeded by ``seed``, then put the
    previous state back: code that draws from the global RNG becomes a pure function of
    ``seed``, the same on every process and after a resume."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed % (2**63))
        yield


# --------------------------------------------------------------------------- tokenizer


class TokenizerObjective(nn.Module):
    """4DMoT training step: ``L1(recon, x) + commit_weight * commitment`` and the EMA
    codebook update, computed from the GLOBAL batch.

    The tokenizer's own ``forward`` updates the codebook from the local batch only, so
    under DDP each process would drift apart and a 2-process run would differ from a
    1-process one. Here the encoder outputs and their code ids are all-gathered first and
    every process applies the same EMA update (and the same seeded re-seeding of dead
    codes) to its copy: identical codebooks on every process, equal to the one-process
    update on the whole batch.
    """

    def __init__(self, tokenizer: MotionTokenizer, commit_weight: float = 0.5):
        super().__init__()
        self.tokenizer = tokenizer
        self.commit_weight = commit_weight

    def forward(self, batch: dict, seed: int) -> dict:
        joints = batch["joints"]  # (b, T, J, 3)
        tok, vq = self.tokenizer, self.tokenizer.vq
        update = self.training and vq.training
        # 1. Encode: (b, T, J, 3) -> (b * N * J, D)
        z = tok.encode_latents(joints)
        z_all = gather_rows(z.detach()) if update else None
        # 2. First step of a fresh codebook: seed it from the global batch
        if update and not vq.ema_started:
            with seeded(seed, z.device):
                vq.start_ema(z_all)
        # 3. Quantise (straight-through), then the EMA update from the global batch
        q, ids, commit, _, _ = vq(z, update=False)
        ids_all = gather_rows(ids) if update else ids
        counts = torch.bincount(ids_all, minlength=vq.codebook_size).float()
        if update:
            with seeded(seed ^ 0x9E3779B97F4A7C15, z.device):
                vq.ema_update(z_all, ids_all, counts)
        # 4. Decode and score
        recon = tok.decode_latents(q, joints.shape[0])  # (b, T, J, 3)
        dtype = torch.promote_types(recon.dtype, torch.float32)  # half precision: score in float32
        recon_l1 = F.l1_loss(recon.to(dtype), joints.to(dtype))
        loss = recon_l1 + self.commit_weight * commit.to(dtype)
        prob = counts / counts.sum()
        perplexity = torch.exp(-(prob * torch.log(prob + 1e-10)).sum())
        logs = {"recon_l1": recon_l1.detach(), "commit": commit.detach().float(),
                "perplexity": perplexity, "codebook_usage": (counts > 0).float().mean()}
        return {"loss": loss, "logs": logs}


class TokenizerSpec:
    """The 4DMoT motion tokenizer (``sportanim.models.tokenizer``)."""

    name = "tokenizer"

    def model_config(self, config: TrainConfig) -> TokenizerConfig:
        t = config.tokenizer
        if t.preset not in TOKENIZER_PRESETS:
            raise ConfigError(f"config field tokenizer.preset must be one of {sorted(TOKENIZER_PRESETS)}, "
                              f"got {t.preset!r}")
        known = {f.name for f in fields(TokenizerConfig)}
        unknown = sorted(set(t.overrides) - known)
        if unknown:
            raise ConfigError(f"config field tokenizer.overrides has unknown keys {unknown}; known: {sorted(known)}")
        try:
            return TokenizerConfig(**{**asdict(TOKENIZER_PRESETS[t.preset]), **t.overrides})
        except (TypeError, ValueError) as err:
            raise ConfigError(f"config field tokenizer.overrides: {err}") from None

    def build(self, config: TrainConfig, init: Path | None) -> MotionTokenizer:
        """The configured tokenizer (seeded random init), with ``init`` weights loaded
        strictly if given: a ``save_pretrained`` folder (or its ``model.safetensors``),
        a training checkpoint folder, or upstream's ``mp_rank_00_model_states.pt``."""
        cfg = self.model_config(config)
        with torch.device("meta"):  # an override of absurd size is refused before allocating
            build_checked(MotionTokenizer, cfg, "config field tokenizer.overrides")
        model = MotionTokenizer(cfg)
        try:
            model.token_frames(config.data.frames)
        except ValueError as err:
            raise ConfigError(f"config field data.frames={config.data.frames} does not fit the tokenizer: {err}") from None
        if init is not None:
            self._load_init(model, Path(init))
        return model

    def _load_init(self, model: MotionTokenizer, init: Path) -> None:
        if not init.exists():
            raise InitError(f"init weights not found: {init}")
        if init.is_file() and init.suffix in (".pt", ".pth", ".bin"):
            try:
                model.load_mtvcrafter_checkpoint(init)
            except ValueError as err:
                raise InitError(f"init weights do not fit tokenizer config {model.config}: {err}") from None
            return
        # A save_pretrained folder and an accelerate checkpoint folder both name it model.safetensors.
        path = init / WEIGHTS_NAME if init.is_dir() else init
        if not path.is_file():
            raise InitError(f"{init}: no {WEIGHTS_NAME}; give a save_pretrained folder, a checkpoint folder, "
                            "a .safetensors file or upstream's mp_rank_00_model_states.pt")
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # safetensors raises its own error types for broken files
            raise InitError(f"{path}: not a readable safetensors file ({err})") from None
        prefix = f"{self.name}."  # a training checkpoint holds the objective: "tokenizer.encoder..."
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
        try:
            _load_strict(model, state, str(path))
        except ValueError as err:
            raise InitError(f"init weights do not fit the configured tokenizer: {err}") from None

    def objective(self, models: dict[str, nn.Module], config: TrainConfig) -> nn.Module:
        return TokenizerObjective(models[self.name], config.tokenizer.commit_weight)

    # ---- state outside state_dict: the EMA statistics (non-persistent buffers upstream)

    def extra_state(self, model: MotionTokenizer) -> tuple[dict[str, torch.Tensor], dict]:
        vq = model.vq
        if vq.ema_sum is None:
            return {}, {"ema_started": False}
        tensors = {"ema_count": vq.ema_count, "ema_sum": vq.ema_sum, "window_hits": vq.window_hits}
        return ({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                {"ema_started": True, "steps_since_reset": vq.steps_since_reset})

    def load_extra_state(self, model: MotionTokenizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        vq = model.vq
        if not meta.get("ema_started"):
            vq.ema_count = vq.ema_sum = vq.window_hits = None
            vq.steps_since_reset = 0
            return
        device = vq.codebook.device
        vq.ema_count = tensors["ema_count"].to(device)
        vq.ema_sum = tensors["ema_sum"].to(device)
        vq.window_hits = tensors["window_hits"].to(device)
        vq.steps_since_reset = int(meta["steps_since_reset"])

    # ---- export

    def export(self, config: TrainConfig, state: dict[str, torch.Tensor], folder: Path, stats: JointStats,
               info: dict) -> Path:
        """Write the trained ``state`` (this spec's names) to ``folder``: ``config.json`` +
        ``model.safetensors`` (``MotionTokenizer.from_pretrained``), the ``stats.json`` to
        normalise joints with, and ``training.json``; atomically."""
        model = cast_model(MotionTokenizer(self.model_config(config)), state["vq.codebook"].dtype)
        model.load_state_dict(state, strict=True)
        with atomic_dir(folder, overwrite=True) as tmp:
            model.save_pretrained(tmp)
            write_stats(tmp, stats.to_json())
            (tmp / "training.json").write_text(json.dumps(info, indent=2) + "\n")
        return Path(folder)


# Spec name -> class, or "module:Class" imported on first use (the diffusion specs import the
# video models, which the tokenizer strategy does not need).
SPECS: dict[str, type | str] = {
    "tokenizer": TokenizerSpec,
    "dit": "sportanim.train.diffusion:DiTSpec",
    "vae": "sportanim.train.diffusion:VAESpec",
}


def get_spec(name: str):
    """A fresh spec instance by name."""
    if name in SPECS:
        found = SPECS[name]
        if isinstance(found, str):
            from importlib import import_module

            module, cls = found.split(":")
            found = getattr(import_module(module), cls)
        return found()
    raise KeyError(f"unknown model spec {name!r}; known: {sorted(SPECS)}")
